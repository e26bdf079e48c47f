"""Numerical checks of gradients: is what backward computes really the derivative?

gradcheck(f, inputs) compares, for every element of every input, the analytic gradient that
backward gives with the central difference

    dL/dx_i  ~  (L(x + h e_i) - L(x - h e_i)) / (2h),      L = sum(f(x) * v)

where v is a fixed random weighting of the outputs (so one backward checks a whole row of the
Jacobian-vector product). Inputs must be float64: in float32 the rounding error of the
difference quotient is as large as the tolerance.

gradgradcheck(f, inputs) does the same for the gradient itself, computed with
create_graph=True: it checks the second derivatives that gradient penalties use.
"""
import numpy

from tinygen.autograd import Tensor, grad


def _outputs(f, inputs):
    out = f(*inputs)
    return [out] if isinstance(out, Tensor) else [o for o in out if o is not None]


def _weighted_sum(outputs, weights):
    total = 0.0
    for out, w in zip(outputs, weights):
        total = total + float((numpy.asarray(out.numpy(), dtype=numpy.float64) * w).sum())
    return total


def _check_inputs(inputs):
    for x in inputs:
        if not isinstance(x, Tensor) or x.dtype != numpy.float64 or not x.requires_grad:
            raise TypeError("gradcheck: inputs must be float64 tensors with requires_grad=True")
        x.data = numpy.ascontiguousarray(x.data)  # so that a flat view of it can be nudged


def numerical_gradients(f, inputs, weights, eps=1e-6):
    """Central differences of sum(f(inputs) * weights) for every element of every input."""
    grads = []
    for x in inputs:
        g = numpy.zeros(x.shape)
        flat = x.data.reshape(-1)  # a view: changing it changes x
        for i in range(flat.size):
            original = flat[i].item()
            flat[i] = original + eps
            plus = _weighted_sum(_outputs(f, inputs), weights)
            flat[i] = original - eps
            minus = _weighted_sum(_outputs(f, inputs), weights)
            flat[i] = original
            g.reshape(-1)[i] = (plus - minus) / (2 * eps)
        grads.append(g)
    return grads


def gradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=0):
    """Raise AssertionError unless backward agrees with central differences for every element.

    f: a function of the tensors `inputs` returning a tensor (or a tuple of tensors).
    Returns True, so it can be used in an assert.
    """
    inputs = list(inputs)
    _check_inputs(inputs)
    outputs = _outputs(f, inputs)
    rng = numpy.random.default_rng(seed)
    weights = [rng.standard_normal(out.shape) for out in outputs]
    differentiable = [(o, w) for o, w in zip(outputs, weights) if o.requires_grad]
    if differentiable:
        analytic = grad(
            [o for o, _ in differentiable],
            inputs,
            grad_outputs=[Tensor(w) for _, w in differentiable],
            allow_unused=True,
        )
    else:
        analytic = [None] * len(inputs)
    numeric = numerical_gradients(f, inputs, weights, eps)
    for k, (x, a, n) in enumerate(zip(inputs, analytic, numeric)):
        a = numpy.zeros(x.shape) if a is None else a.numpy()
        if not numpy.allclose(a, n, atol=atol, rtol=rtol):
            worst = numpy.unravel_index(numpy.argmax(numpy.abs(a - n)), x.shape)
            raise AssertionError(
                f"gradcheck: input {k} (shape {x.shape}): analytic and numerical gradients differ; "
                f"worst at {worst}: analytic {a[worst]:.8g}, numerical {n[worst]:.8g}"
            )
    return True


def gradgradcheck(f, inputs, eps=1e-6, atol=1e-5, rtol=1e-4, seed=1):
    """gradcheck of the first gradient, x -> d sum(f(x) * v)/dx, computed with create_graph=True."""
    inputs = list(inputs)
    _check_inputs(inputs)
    rng = numpy.random.default_rng(seed)
    v = [Tensor(rng.standard_normal(out.shape)) for out in _outputs(f, inputs)]

    def first_gradient(*xs):
        return grad(_outputs(f, xs), list(xs), grad_outputs=v, create_graph=True, allow_unused=True)

    return gradcheck(first_gradient, inputs, eps=eps, atol=atol, rtol=rtol, seed=seed + 1)
