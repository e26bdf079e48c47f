"""Bad input to ops and layers: dtypes, non-tensors, loss targets, layer arguments.

Each refusal names the op or layer, what it expected and what it got (PyTorch's exception type
where PyTorch has one); each promotion matches PyTorch's result dtype.
"""
import re

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
import tinygen.nn.functional as F
from strategies import cheap
from tinygen import nn

esc = re.escape
INT_DTYPES = ["int8", "int16", "int32", "int64", "uint8", "bool"]


# ---------------------------------------------------------------------------------------------
# Functions of real numbers promote integer input to float32, as PyTorch


@cheap
@given(dtype=st.sampled_from(INT_DTYPES), op=st.sampled_from(["sigmoid", "tanh", "exp", "log", "sqrt"]),
       values=st.lists(st.integers(0, 100), min_size=1, max_size=5))
def test_float_functions_promote_integers_to_float32(dtype, op, values):
    a = np.array(values).astype(dtype)
    with np.errstate(divide="ignore", over="ignore"):  # log(0) = -inf and exp(100) = inf in float32, as NumPy's
        y = getattr(F, op)(tinygen.tensor(a))
        expected = {"sigmoid": lambda v: 1 / (1 + np.exp(-v)), "tanh": np.tanh, "exp": np.exp, "log": np.log,
                    "sqrt": np.sqrt}[op](a.astype(np.float32))
    assert y.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), expected, rtol=1e-6)
    if op == "sigmoid":
        assert np.all(y.numpy() >= 0.5)  # not the zeros of an integer sigmoid


def test_sigmoid_of_an_integer_tensor_is_not_zero():
    np.testing.assert_allclose(F.sigmoid(tinygen.tensor([1, 2, 3])).numpy(), [0.7310586, 0.8807971, 0.95257413],
                               rtol=1e-6)


@pytest.mark.parametrize("op", ["leaky_relu", "softmax", "log_softmax"])
def test_functions_without_an_integer_form_refuse_integers(op):
    with pytest.raises(TypeError, match=f"{op}: expected a floating-point tensor, got dtype int64; convert it with "
                                        f"x.float()"):
        getattr(F, op)(tinygen.tensor([1, -2, 3]))


def test_relu_keeps_integers_and_refuses_bool():
    y = F.relu(tinygen.tensor([1, -2, 3]))
    assert y.dtype == np.int64 and y.tolist() == [1, 0, 3]
    with pytest.raises(TypeError, match="relu: boolean tensors are not supported"):
        F.relu(tinygen.tensor([True, False]))


@pytest.mark.parametrize("slope", ["0.2", None, [0.2], True])
def test_leaky_relu_slope_must_be_a_real_number(slope):
    kind = type(slope).__name__
    with pytest.raises(TypeError, match=f"leaky_relu: negative_slope must be a real number, got {kind}"):
        F.leaky_relu(tinygen.ones(2), slope)
    with pytest.raises(TypeError, match=f"LeakyReLU: negative_slope must be a real number, got {kind}"):
        nn.LeakyReLU(slope)


def test_leaky_relu_slope_is_never_truncated():
    np.testing.assert_allclose(F.leaky_relu(tinygen.tensor([-1.0, 2.0]), 1).numpy(), [-1.0, 2.0])  # int slope 1
    np.testing.assert_allclose(F.leaky_relu(tinygen.tensor([-1.0, 2.0]), np.float64(0.25)).numpy(), [-0.25, 2.0])


def test_integer_arithmetic_with_floats_is_float32_as_pytorch():
    i = tinygen.tensor([1, 2, 3])
    image = tinygen.tensor(np.array([0, 128, 255], dtype=np.uint8))
    assert (i * 0.5).dtype == np.float32 and (i * 0.5).tolist() == [0.5, 1.0, 1.5]
    assert (image / 255).dtype == np.float32 and (image / 255.0).dtype == np.float32
    assert (i / i).dtype == np.float32
    assert (i ** 0.5).dtype == np.float32
    assert (i * 2).dtype == np.int64 and (i ** 2).dtype == np.int64  # ints with ints stay ints


# ---------------------------------------------------------------------------------------------
# Mixed dtypes in products and layers are refused, as PyTorch


FLOAT_OR_INT = st.sampled_from(["float64", "float16", "int64", "int32", "uint8", "bool"])


@cheap
@given(dtype=FLOAT_OR_INT)
def test_layers_refuse_an_input_of_another_dtype(dtype):
    fix = ("scale uint8 images to [0, 1] float32 first, e.g. x.float() / 255" if dtype == "uint8"
           else "convert the input with x.float()")
    cases = [
        (nn.Linear(4, 2), (3, 4), "Linear(in_features=4, out_features=2, bias=True)"),
        (nn.Conv2d(1, 2, 3), (1, 1, 5, 5), "Conv2d(1, 2, kernel_size=(3, 3), stride=1, padding=0)"),
        (nn.ConvTranspose2d(1, 2, 3), (1, 1, 5, 5),
         "ConvTranspose2d(1, 2, kernel_size=(3, 3), stride=1, padding=0, output_padding=0)"),
        (nn.BatchNorm1d(4), (3, 4), "BatchNorm1d(4, eps=1e-05, momentum=0.1)"),
        (nn.BatchNorm2d(1), (3, 1, 2, 2), "BatchNorm2d(1, eps=1e-05, momentum=0.1)"),
    ]
    for layer, shape, name in cases:
        x = tinygen.tensor(np.ones(shape, dtype=dtype))
        with pytest.raises(RuntimeError, match=esc(f"{name}: input dtype {dtype} does not match the weight dtype "
                                                   f"float32; {fix}")):
            layer(x)


@cheap
@given(dtype=FLOAT_OR_INT)
def test_functional_products_refuse_mixed_dtypes(dtype):
    x = tinygen.tensor(np.ones((1, 1, 4, 4), dtype=dtype))
    w = tinygen.ones(1, 1, 3, 3)
    for op, call in [("conv2d", lambda: F.conv2d(x, w)), ("conv_transpose2d", lambda: F.conv_transpose2d(x, w)),
                     ("linear", lambda: F.linear(x, tinygen.ones(2, 4)))]:
        with pytest.raises(RuntimeError, match=esc(f"{op}: input dtype {dtype} does not match the weight dtype "
                                                   f"float32")):
            call()
    a = tinygen.tensor(np.ones((2, 2), dtype=dtype))
    for op, call in [("matmul", lambda: a @ tinygen.ones(2, 2)), ("tensordot", lambda: F.tensordot(a, w, 0))]:
        with pytest.raises(RuntimeError, match=esc(f"{op}: operands have different dtypes, {dtype} and float32")):
            call()
    with pytest.raises(RuntimeError, match=esc(f"batch_norm: input dtype {dtype} does not match the running_mean "
                                               f"dtype float32")):
        F.batch_norm(tinygen.tensor(np.ones((3, 2), dtype=dtype)), tinygen.zeros(2), tinygen.ones(2), training=True)


def test_a_float64_input_gives_no_float64_gradients_to_float32_weights():
    model = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 1))
    x = tinygen.tensor(np.ones((4, 3)))  # float64: refused, not silently mixed in
    with pytest.raises(RuntimeError, match="convert the input with x.float()"):
        model(x)
    model(x.float()).sum().backward()
    assert all(p.grad.dtype == np.float32 for p in model.parameters())


def test_a_float64_model_asks_for_double():
    with pytest.raises(RuntimeError, match=esc("linear: input dtype float32 does not match the weight dtype float64; "
                                               "convert the input with x.double()")):
        F.linear(tinygen.ones(2, 3), tinygen.ones(2, 3, dtype="float64"))


def test_bias_of_another_dtype():
    with pytest.raises(RuntimeError, match=esc("linear: bias dtype float64 does not match the weight dtype float32")):
        F.linear(tinygen.ones(2, 3), tinygen.ones(2, 3), tinygen.zeros(2, dtype="float64"))


def test_float32_and_float64_arithmetic_promotes_as_pytorch():
    assert (tinygen.ones(2) + tinygen.ones(2, dtype="float64")).dtype == np.float64


# ---------------------------------------------------------------------------------------------
# Only numbers make tensors


@pytest.mark.parametrize("data,message", [
    (np.array([1, "a"], dtype=object), "an array of dtype object (None, strings or other objects among the values?)"),
    (np.array(["a", "b"]), "an array of dtype <U1"),
    (["a", "b"], "a list (read as dtype <U1)"),
    (b"ab", "a bytes (read as dtype |S2)"),
    ([1, None], "a list (read as dtype object) (None, strings or other objects among the values?)"),
    (None, "a NoneType (read as dtype object)"),
    ([1 + 2j], "a list (read as dtype complex128)"),
    (np.array([1 + 2j]), "an array of dtype complex128"),
])
def test_only_numbers_make_tensors(data, message):
    with pytest.raises(TypeError, match=esc(f"tensor: cannot make a tensor of {message}") + ".*" +
                       esc("tinygen tensors hold numbers: float, int or bool")):
        tinygen.tensor(data)
    with pytest.raises(TypeError, match=esc(f"tensor: cannot make a tensor of {message}")):
        tinygen.Tensor(data)  # the constructor checks too (op results take another path: Tensor._of_op)


def test_arrays_entering_an_op_are_checked():
    with pytest.raises(TypeError, match=esc("tensor: cannot make a tensor of an array of dtype object")):
        tinygen.ones(2) + np.array([1, None], dtype=object)


def test_ragged_lists_are_refused():
    with pytest.raises(ValueError, match="tensor: cannot make a tensor of this list: .*inhomogeneous"):
        tinygen.tensor([[1.0, 2.0], [3.0]])


def test_numbers_bools_and_uint8_still_make_tensors():
    assert tinygen.tensor([True, False]).dtype == np.bool_
    assert tinygen.tensor(np.zeros(2, np.uint8)).dtype == np.uint8
    assert tinygen.tensor([1.5, 2]).dtype == np.float32
    assert tinygen.tensor(np.float16(1)).dtype == np.float16


# ---------------------------------------------------------------------------------------------
# Lists and other non-tensors where a tensor goes: TypeError naming the op and the argument


NOT_TENSORS = [[[1.0, 2.0]], ((1.0, 2.0),), "ab", None]


@pytest.mark.parametrize("value", NOT_TENSORS, ids=lambda v: type(v).__name__)
def test_functional_ops_refuse_non_tensors(value):
    kind = type(value).__name__
    w = tinygen.ones(3, 2)
    calls = {
        "linear(): argument 'input'": lambda: F.linear(value, w),
        "linear(): argument 'weight'": lambda: F.linear(tinygen.ones(1, 2), value),
        "matmul(): argument 'other'": lambda: F.matmul(tinygen.ones(1, 2), value),
        "conv2d(): argument 'input'": lambda: F.conv2d(value, tinygen.ones(1, 1, 1, 1)),
        "sigmoid(): argument 'input'": lambda: F.sigmoid(value),
        "relu(): argument 'input'": lambda: F.relu(value),
        "softmax(): argument 'input'": lambda: F.softmax(value),
        "sum(): argument 'input'": lambda: F.sum(value),
        "mean(): argument 'input'": lambda: F.mean(value),
        "flatten(): argument 'input'": lambda: F.flatten(value),
        "dropout(): argument 'input'": lambda: F.dropout(value),
        "batch_norm(): argument 'input'": lambda: F.batch_norm(value, None, None, training=True),
        "mse_loss(): argument 'input'": lambda: F.mse_loss(value, tinygen.ones(2)),
        "mse_loss(): argument 'target'": lambda: F.mse_loss(tinygen.ones(2), value),
        "binary_cross_entropy(): argument 'target'": lambda: F.binary_cross_entropy(tinygen.ones(2), value),
        "cross_entropy(): argument 'target'": lambda: F.cross_entropy(tinygen.ones(1, 2), value),
        "gaussian_kl(): argument 'mu'": lambda: F.gaussian_kl(value, tinygen.ones(1, 2)),
    }
    for start, call in calls.items():
        with pytest.raises(TypeError, match=esc(f"{start} must be Tensor, not {kind}")):
            call()


@pytest.mark.parametrize("layer,name", [
    (nn.Linear(2, 3), "Linear(in_features=2, out_features=3, bias=True)"),
    (nn.Conv2d(1, 1, 1), "Conv2d(1, 1, kernel_size=(1, 1), stride=1, padding=0)"),
    (nn.BatchNorm1d(2), "BatchNorm1d(2, eps=1e-05, momentum=0.1)"),
])
def test_layers_refuse_a_list(layer, name):
    with pytest.raises(TypeError, match=esc(f"{name}: expected a Tensor input, got list; make one with "
                                            f"tinygen.tensor(...)")):
        layer([[1.0, 2.0]])


def test_embedding_refuses_a_list_of_indices():
    with pytest.raises(TypeError, match=esc("Embedding(10, 4): indices must be a Tensor of integers, got list")):
        nn.Embedding(10, 4)([1, 2])


@pytest.mark.parametrize("value", [[1.0, 2.0], "a", None])
def test_arithmetic_refuses_lists_strings_and_none(value):
    with pytest.raises(TypeError, match=f"Add: expected Tensors or numbers, got {type(value).__name__}"):
        tinygen.ones(2) + value
    with pytest.raises(TypeError, match=f"Mul: expected Tensors or numbers, got {type(value).__name__}"):
        value * tinygen.ones(2) if value is not None else tinygen.ones(2) * value


def test_numbers_and_arrays_still_combine_with_tensors():
    x = tinygen.ones(2)
    assert (x + 1).dtype == np.float32 and (2.0 * x).dtype == np.float32
    assert (x + np.ones(2, np.float32)).tolist() == [2.0, 2.0]
    assert F.mse_loss(x, np.ones(2)).item() == 0.0


# ---------------------------------------------------------------------------------------------
# Losses


@cheap
@given(bad=st.one_of(st.floats(1.001, 1e6), st.floats(-1e6, -0.001)))
def test_bce_target_outside_zero_one(bad):
    p = tinygen.full((3,), 0.5)
    with pytest.raises(ValueError, match=esc("binary_cross_entropy: target must be probabilities in [0, 1], found 1 "
                                             "values outside (e.g. ") + ".*" + esc(")")):
        F.binary_cross_entropy(p, np.array([0.0, bad, 1.0], dtype=np.float32))


@pytest.mark.parametrize("where", ["input", "target"])
def test_bce_of_nan_is_a_floating_point_error(where):
    """NaN is arithmetic gone wrong upstream (a diverged training), not a probability out of range."""
    values = {"input": tinygen.full((3,), 0.5), "target": tinygen.full((3,), 1.0)}
    values[where] = tinygen.tensor([0.5, float("nan"), float("nan")])
    with pytest.raises(FloatingPointError, match=esc(f"binary_cross_entropy: the {where} holds 2 NaN values")):
        F.binary_cross_entropy(values["input"], values["target"])


def test_bce_with_logits_takes_any_target_as_pytorch():
    assert np.isfinite(F.binary_cross_entropy_with_logits(tinygen.zeros(2), tinygen.tensor([2.0, -1.0])).item())


def test_a_float64_target_makes_no_float64_gradient():
    x = tinygen.zeros(3, requires_grad=True)
    for loss in (F.mse_loss, F.l1_loss, F.binary_cross_entropy_with_logits):
        x.grad = None
        out = loss(x, tinygen.tensor(np.array([0.1, 0.5, 0.9])))
        assert out.dtype == np.float32
        out.backward()
        assert x.grad.dtype == np.float32


def test_a_target_in_the_graph_of_another_dtype_is_refused():
    y = tinygen.zeros(3, dtype="float64", requires_grad=True)
    with pytest.raises(RuntimeError, match=esc("mse_loss: target dtype float64 does not match the input dtype float32 "
                                               "(a target that requires grad is not converted)")):
        F.mse_loss(tinygen.zeros(3), y)


def test_losses_refuse_integer_input():
    with pytest.raises(TypeError, match="mse_loss: expected a floating-point tensor, got dtype int64"):
        F.mse_loss(tinygen.tensor([1, 2]), tinygen.tensor([1, 2]))
    with pytest.raises(TypeError, match="cross_entropy: expected a floating-point tensor, got dtype int64"):
        F.cross_entropy(tinygen.tensor([[1, 2]]), np.array([0]))


def test_mean_reduction_of_an_empty_batch_is_nan():
    with pytest.warns(RuntimeWarning, match="mean of 0 elements"):
        assert np.isnan(F.mse_loss(tinygen.zeros(0), tinygen.zeros(0)).item())


# ---------------------------------------------------------------------------------------------
# Layer and functional arguments


@cheap
@given(stride=st.integers(-5, 0))
def test_stride_must_be_at_least_one(stride):
    with pytest.raises(ValueError, match=esc(f"Conv2d(3, 8, kernel_size=3, stride={stride}, padding=0): stride must "
                                             f"be >= 1, got {stride}")):
        nn.Conv2d(3, 8, 3, stride=stride)
    with pytest.raises(ValueError, match=esc(f"ConvTranspose2d(3, 8, kernel_size=3, stride={stride}, padding=0, "
                                             f"output_padding=0): stride must be >= 1, got {stride}")):
        nn.ConvTranspose2d(3, 8, 3, stride=stride)
    x, w = tinygen.zeros(1, 1, 5, 5), tinygen.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match=esc(f"conv2d: stride must be >= 1, got {stride}")):
        F.conv2d(x, w, stride=stride)
    with pytest.raises(ValueError, match=esc(f"conv_transpose2d: stride must be >= 1, got {stride}")):
        F.conv_transpose2d(x, w, stride=stride)


@cheap
@given(padding=st.integers(-5, -1))
def test_padding_must_not_be_negative(padding):
    with pytest.raises(ValueError, match=esc(f"Conv2d(3, 8, kernel_size=3, stride=1, padding={padding}): padding must "
                                             f"be >= 0, got {padding}")):
        nn.Conv2d(3, 8, 3, padding=padding)
    x, w = tinygen.zeros(1, 1, 5, 5), tinygen.zeros(1, 1, 3, 3)
    with pytest.raises(ValueError, match=esc(f"conv2d: padding must be >= 0, got {padding}")):
        F.conv2d(x, w, padding=padding)
    with pytest.raises(ValueError, match=esc(f"conv_transpose2d: padding must be >= 0, got {padding}")):
        F.conv_transpose2d(x, w, padding=padding)


@pytest.mark.parametrize("args,message", [
    ((3, 8, 0), "kernel_size must be >= 1, got 0"),
    ((3, 8, (3, -1)), "kernel_size must be >= 1, got -1"),
    ((3, 8, (3, 3, 3)), "kernel_size must be an int or a pair of ints, got (3, 3, 3)"),
    ((0, 8, 3), "in_channels must be >= 1, got 0"),
    ((3, -8, 3), "out_channels must be >= 1, got -8"),
])
def test_conv_sizes(args, message):
    with pytest.raises(ValueError, match=esc(message)):
        nn.Conv2d(*args)
    with pytest.raises(ValueError, match=esc(message)):
        nn.ConvTranspose2d(*args)


@cheap
@given(value=st.one_of(st.floats(allow_nan=False).filter(lambda v: v != int(v) if np.isfinite(v) else True),
                       st.text(max_size=2), st.none(), st.booleans()))
def test_sizes_must_be_ints(value):
    kind = type(value).__name__
    for make, name in [(lambda: nn.Linear(value, 2), "in_features"), (lambda: nn.Linear(2, value), "out_features"),
                       (lambda: nn.Conv2d(value, 2, 3), "in_channels"), (lambda: nn.Conv2d(1, 2, value), "kernel_size"),
                       (lambda: nn.Conv2d(1, 2, 3, stride=value), "stride"),
                       (lambda: nn.Conv2d(1, 2, 3, padding=value), "padding"),
                       (lambda: nn.BatchNorm1d(value), "num_features"),
                       (lambda: nn.Embedding(value, 2), "num_embeddings")]:
        with pytest.raises(TypeError, match=esc(f"{name} must be an int, got {kind}")):
            make()


def test_sizes_that_pytorch_allows():
    assert nn.Linear(0, 3)(tinygen.zeros(2, 0)).shape == (2, 3)  # zero features, as PyTorch allows
    assert nn.Linear(np.int64(2), 3).in_features == 2
    assert nn.Conv2d(1, 2, (3, 3), stride=(2, 2), padding=(1, 1)).stride == 2  # equal pairs are one int
    with pytest.raises(ValueError, match=esc("stride must be one int for both axes, got (1, 2)")):
        nn.Conv2d(1, 2, 3, stride=(1, 2))
    with pytest.raises(ValueError, match=esc("Linear(in_features=-1, out_features=3): in_features must be >= 0, "
                                             "got -1")):
        nn.Linear(-1, 3)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(eps=0), ValueError, "eps must be > 0, got 0"),
    (dict(eps=-1e-5), ValueError, "eps must be > 0, got -1e-05"),
    (dict(eps="1e-5"), TypeError, "eps must be a real number, got str"),
    (dict(momentum=1.5), ValueError, "momentum must be in [0, 1] (or None for a cumulative average), got 1.5"),
    (dict(momentum=-0.1), ValueError, "momentum must be in [0, 1]"),
])
def test_batchnorm_arguments(kwargs, error, message):
    with pytest.raises(error, match=esc(message)):
        nn.BatchNorm2d(4, **kwargs)


def test_batchnorm_num_features():
    with pytest.raises(ValueError, match=esc("BatchNorm1d(0, eps=1e-05, momentum=0.1): num_features must be >= 1, "
                                             "got 0")):
        nn.BatchNorm1d(0)


def test_batchnorm_momentum_none_is_a_cumulative_average():
    torch = pytest.importorskip("torch")
    ours, theirs = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    rng = np.random.default_rng(0)
    for _ in range(4):
        batch = rng.standard_normal((5, 3)).astype(np.float32) * 3 + 1
        ours(tinygen.tensor(batch)), theirs(torch.tensor(batch))
    np.testing.assert_allclose(ours.running_mean.numpy(), theirs.running_mean.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.running_var.numpy(), theirs.running_var.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("p", ["0.5", None])
def test_dropout_p_must_be_a_number(p):
    with pytest.raises(TypeError, match=f"Dropout: p must be a real number, got {type(p).__name__}"):
        nn.Dropout(p)
    with pytest.raises(TypeError, match=f"dropout: p must be a real number, got {type(p).__name__}"):
        F.dropout(tinygen.ones(2), p)


def test_conv_weight_with_an_empty_kernel():
    with pytest.raises(ValueError, match=esc("conv2d: the kernel must be at least 1 x 1, got a weight of shape "
                                             "(1, 1, 0, 3)")):
        F.conv2d(tinygen.zeros(1, 1, 4, 4), tinygen.zeros(1, 1, 0, 3))


def test_tensordot_axes_out_of_range():
    with pytest.raises(IndexError, match=esc("tensordot: Dimension out of range (expected to be in range of [-2, 1], "
                                             "but got 2)")):
        F.tensordot(tinygen.zeros(2, 3), tinygen.zeros(3, 2), ([2], [0]))
    with pytest.raises(ValueError, match=esc("tensordot: cannot pair 3 axes of shapes (2, 3) and (3, 2)")):
        F.tensordot(tinygen.zeros(2, 3), tinygen.zeros(3, 2), 3)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(eps=0.0), ValueError, "batch_norm: eps must be > 0, got 0.0"),
    (dict(momentum=None), TypeError, "batch_norm: momentum must be a real number, got NoneType"),
    (dict(momentum=2.0), ValueError, "batch_norm: momentum must be in [0, 1], got 2.0"),
])
def test_batch_norm_functional_arguments(kwargs, error, message):
    with pytest.raises(error, match=esc(message)):
        F.batch_norm(tinygen.randn(4, 2), tinygen.zeros(2), tinygen.ones(2), training=True, **kwargs)


def test_linear_weight_must_be_a_matrix():
    with pytest.raises(ValueError, match=esc("linear: expected an input of shape (..., in_features) and a weight "
                                             "(out_features, in_features), got (2, 3) and (3,)")):
        F.linear(tinygen.zeros(2, 3), tinygen.zeros(3))


def test_only_strides_and_paddings_take_pairs():
    with pytest.raises(TypeError, match=esc("Linear(in_features=(3, 3), out_features=2): in_features must be an int, "
                                            "got tuple (3, 3)")):
        nn.Linear((3, 3), 2)
    with pytest.raises(TypeError, match=esc("in_channels must be an int, got tuple (3, 3)")):
        nn.Conv2d((3, 3), 2, 3)
    assert F.conv2d(tinygen.zeros(1, 1, 4, 4), tinygen.zeros(1, 1, 3, 3), stride=(1, 1), padding=[1, 1]).shape == \
        (1, 1, 4, 4)


@cheap
@given(int_dtype=st.sampled_from(INT_DTYPES), float_dtype=st.sampled_from(["float16", "float32", "float64"]),
       op=st.sampled_from(["add", "sub", "mul", "div"]), int_first=st.booleans())
def test_an_integer_tensor_meeting_a_float_tensor_gives_the_floats_dtype(int_dtype, float_dtype, op, int_first):
    i = tinygen.tensor(np.array([1, 2, 3]).astype(int_dtype))  # no zeros: they may divide
    f = tinygen.tensor(np.array([0.5, 1.5, 2.0]).astype(float_dtype), requires_grad=True)
    a, b = (i, f) if int_first else (f, i)
    y = getattr(F, op)(a, b)
    assert y.dtype == float_dtype  # PyTorch's rule: NumPy would give float64 for int64 with float32
    y.sum().backward()
    assert f.grad.dtype == float_dtype  # so no float64 gradient reaches a float32 tensor


def test_pytorch_agrees_on_integer_with_float_dtypes():
    torch = pytest.importorskip("torch")
    for int_dtype in ["int32", "int64", "uint8"]:
        expected = (torch.ones(2, dtype=getattr(torch, int_dtype)) * torch.ones(2)).dtype
        ours = (tinygen.tensor(np.ones(2, int_dtype)) * tinygen.ones(2)).dtype
        assert str(expected) == f"torch.{ours}"


# ---------------------------------------------------------------------------------------------
# Sizes given to the creation functions


CREATORS = {"zeros": tinygen.zeros, "ones": tinygen.ones, "randn": tinygen.randn, "rand": tinygen.rand,
            "full": lambda *size: tinygen.full(size, 1.0), "randint": lambda *size: tinygen.randint(0, 5, size)}


@cheap
@given(name=st.sampled_from(sorted(CREATORS)), good=st.lists(st.integers(0, 3), max_size=3),
       bad=st.integers(-10**6, -1))
def test_a_negative_size_is_refused(name, good, bad):
    assert CREATORS[name](*good).shape == tuple(good)
    with pytest.raises(ValueError, match=esc(f"{name}: size must be >= 0, got {bad}")):
        CREATORS[name](*good, bad)


@pytest.mark.parametrize("name", sorted(CREATORS))
@pytest.mark.parametrize("bad,shown", [(2.5, "float 2.5"), ("3", "str '3'"), (None, "NoneType None"),
                                       (True, "bool True")])
def test_a_size_that_is_not_an_int_is_refused(name, bad, shown):
    with pytest.raises(TypeError, match=esc(f"{name}: size must be an int, got {shown}")):
        CREATORS[name](2, bad)


# ---------------------------------------------------------------------------------------------
# Modules: PyTorch's habits register what PyTorch registers, or are refused naming the fix


@pytest.mark.parametrize("value, shown", [(tinygen.zeros(3, 2), "Tensor"), (np.zeros((3, 2), np.float32), "ndarray"),
                                          (nn.ReLU(), "ReLU")])
def test_a_parameter_takes_only_a_parameter(value, shown):
    lin = nn.Linear(2, 3)
    with pytest.raises(TypeError, match=esc(f"Linear: cannot assign {shown} as parameter 'weight' (nn.Parameter or "
                                            f"None expected); assign nn.Parameter(tinygen.tensor(values))")):
        lin.weight = value
    assert len(lin.parameters()) == 2 and "weight" in lin.state_dict()


def test_an_assigned_parameter_is_registered_and_none_removes_it():
    lin = nn.Linear(2, 3)
    new = nn.Parameter(tinygen.ones(3, 2))
    lin.weight = new
    assert lin.parameters()[0] is new and lin.state_dict()["weight"] is new
    lin.bias = None
    assert [name for name, _ in lin.named_parameters()] == ["weight"]


def test_a_child_module_takes_only_a_module():
    seq = nn.Sequential(nn.Linear(2, 3))
    model = nn.Module()
    model.body = seq
    with pytest.raises(TypeError, match=esc("Module: cannot assign int as child module 'body' (nn.Module or None "
                                            "expected)")):
        model.body = 3
    assert model.children() == [seq]


def test_a_tensor_assigned_to_a_buffer_stays_a_buffer():
    norm = nn.BatchNorm1d(3)
    norm.running_mean = tinygen.ones(3)
    assert isinstance(norm.running_mean, nn.Buffer) and norm.state_dict()["running_mean"].tolist() == [1, 1, 1]
    with pytest.raises(TypeError, match=esc("BatchNorm1d: cannot assign list as buffer 'running_var' (nn.Buffer, "
                                            "Tensor or None expected)")):
        norm.running_var = [1.0, 1.0, 1.0]


@pytest.mark.parametrize("entry, shown", [
    (lambda x: x, "entry 1 (a function) is not a Module subclass instance; wrap it in a Module subclass"),
    (nn.ReLU, "entry 1 (the class ReLU) is not a Module subclass instance; call it to make a layer, e.g. ReLU(...)"),
    ([nn.ReLU()], "entry 1 (a list) is not a Module subclass instance; pass its modules themselves"),
    (None, "entry 1 (NoneType None) is not a Module subclass instance"),
])
@pytest.mark.parametrize("container", ["Sequential", "ModuleList"])
def test_containers_refuse_what_is_not_a_module(container, entry, shown):
    entries = [nn.Linear(2, 2), entry]
    with pytest.raises(TypeError, match=esc(f"{container}: {shown}")):
        nn.Sequential(*entries) if container == "Sequential" else nn.ModuleList(entries)
    with pytest.raises(TypeError, match=esc(f"{container}: {shown}")):
        (nn.Sequential(nn.Linear(2, 2)) if container == "Sequential" else nn.ModuleList([nn.Linear(2, 2)])).append(entry)


def test_module_list_of_a_single_module():
    with pytest.raises(TypeError, match=esc("ModuleList: expected an iterable of modules, got a single Linear; "
                                            "pass [module]")):
        nn.ModuleList(nn.Linear(2, 2))


@pytest.mark.parametrize("mode", ["False", 1, 0, None])
def test_train_mode_must_be_a_bool(mode):
    model = nn.Sequential(nn.Dropout(0.5))
    with pytest.raises(ValueError, match="training mode is expected to be boolean"):
        model.train(mode)
    assert model.training and model[0].training


def test_requires_grad_takes_a_bool():
    with pytest.raises(TypeError, match="requires_grad_\\(\\): argument 'requires_grad' must be bool, not str"):
        nn.Linear(2, 2).requires_grad_("False")


@pytest.mark.parametrize("name, error, message", [
    (3, TypeError, "module name should be a string, got int"),
    ("", KeyError, "module name must not be empty or contain a dot"),
    ("a.b", KeyError, "module name must not be empty or contain a dot"),
    ("forward", KeyError, "attribute 'forward' already exists"),
    ("training", KeyError, "attribute 'training' already exists"),
])
def test_add_module_names(name, error, message):
    with pytest.raises(error, match=esc(message)):
        nn.Sequential().add_module(name, nn.ReLU())


def test_register_parameter_and_buffer():
    m = nn.Module()
    m.register_parameter("w", nn.Parameter(tinygen.ones(2)))
    m.register_buffer("count", tinygen.zeros(()))
    assert list(m.state_dict()) == ["w", "count"] and len(m.parameters()) == 1 and isinstance(m.count, nn.Buffer)
    with pytest.raises(TypeError, match=esc("Module: cannot assign Tensor object to parameter 'v' (nn.Parameter or "
                                            "None required)")):
        m.register_parameter("v", tinygen.ones(2))
    with pytest.raises(TypeError, match=esc("Module: cannot assign ndarray object to buffer 'b' (Tensor or None "
                                            "required)")):
        m.register_buffer("b", np.ones(2))
    with pytest.raises(KeyError, match=esc("attribute 'w' already exists")):
        m.register_buffer("w", tinygen.ones(2))


def test_apply_refuses_what_cannot_be_called():
    with pytest.raises(TypeError, match="Sequential.apply: expected a function of a module, got int"):
        nn.Sequential(nn.ReLU()).apply(3)


@pytest.mark.parametrize("dtype,what", [("float16", "dtype float16 is not supported"),
                                        ("int64", "dtype int64 is not supported"),
                                        ("gpu", "unknown device 'gpu'"), (None, "unknown device None")])
def test_module_to_refuses_other_dtypes(dtype, what):
    with pytest.raises(ValueError, match=esc(f"Linear.to: {what}: expected one of 'cpu', 'cuda', 'cuda:0' (devices), "
                                             f"or a floating dtype ('float32', 'float64')")):
        nn.Linear(2, 2).to(dtype)


def test_load_state_dict_strict_must_be_a_bool():
    lin = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="strict must be True or False, got 'no'"):
        lin.load_state_dict(lin.state_dict(), strict="no")


def test_zero_grad_set_to_none_must_be_a_bool():
    with pytest.raises(TypeError, match="zero_grad: set_to_none must be True or False, got 'False'"):
        nn.Linear(2, 2).zero_grad(set_to_none="False")


# ---------------------------------------------------------------------------------------------
# Optimisers: a parameter given twice, parameter groups, hyperparameters without a meaning


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop"])
def test_an_optimiser_refuses_a_parameter_given_twice(name):
    lin = nn.Linear(2, 3)
    with pytest.raises(ValueError, match=esc(f"{name}: parameter 2 (shape (3, 2)) is the same tensor as parameter 0; "
                                             f"give each parameter once, or it is stepped twice")):
        getattr(tinygen.optim, name)(lin.parameters() + [lin.weight])


def test_parameter_groups_are_refused_naming_the_alternative():
    model = nn.Sequential(nn.Linear(2, 3), nn.Linear(3, 1))
    groups = [{"params": model[0].parameters()}, {"params": model[1].parameters(), "lr": 1e-4}]
    with pytest.raises(TypeError, match=esc("Adam: parameter groups (dicts with their own options) are not supported; "
                                            "make one optimiser per group, e.g. Adam(model.encoder.parameters(), "
                                            "lr=1e-3) and Adam(model.decoder.parameters(), lr=1e-4), and step each")):
        tinygen.optim.Adam(groups, lr=1e-3)


@pytest.mark.parametrize("params", [set, frozenset])
def test_an_unordered_set_of_parameters_is_refused(params):
    with pytest.raises(TypeError, match=f"SGD: params must be an ordered iterable of tensors such as a list or "
                                        f"model.parameters\\(\\), got a {params.__name__}"):
        tinygen.optim.SGD(params(nn.Linear(2, 2).parameters()))


def test_a_parameter_that_is_not_a_tensor_is_named():
    with pytest.raises(TypeError, match=esc("SGD: every parameter must be a tensor that requires grad, parameter 1 is "
                                            "ndarray")):
        tinygen.optim.SGD([nn.Parameter(tinygen.ones(2)), np.ones(2)])


@pytest.mark.parametrize("dampening", [float("nan"), -0.1, 1.5, float("inf")])
def test_sgd_dampening_must_be_in_zero_one(dampening):
    with pytest.raises(ValueError, match=esc(f"SGD: dampening must be in [0, 1], got {dampening}")):
        tinygen.optim.SGD(nn.Linear(2, 2).parameters(), momentum=0.9, dampening=dampening)


def test_a_gradient_of_another_shape_is_refused_at_step():
    """Assigning such a .grad is refused (Tensor.grad's setter); one changed behind the setter's back,
    through its array, is caught by the step, which would broadcast it into every element."""
    p = nn.Parameter(tinygen.ones(3))
    p.grad = tinygen.zeros(3)
    p.grad.data = np.ones(1, np.float32)
    opt = tinygen.optim.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match=esc("SGD.step: parameter 0 has shape (3,) but its .grad has shape (1,)")):
        opt.step()
    assert p.tolist() == [1, 1, 1]


def test_optimiser_zero_grad_set_to_none_must_be_a_bool():
    with pytest.raises(TypeError, match="zero_grad: set_to_none must be True or False, got 0"):
        tinygen.optim.Adam(nn.Linear(2, 2).parameters()).zero_grad(0)


# ---------------------------------------------------------------------------------------------
# Layers and models that would degenerate quietly


def test_instance_norm_of_one_pixel_maps_is_refused():
    x = tinygen.randn(2, 3, 1, 1)
    with pytest.raises(ValueError, match=esc("InstanceNorm2d(3, eps=1e-05): Expected more than 1 spatial element "
                                             "(each map is normalised over its own H x W pixels), got input size "
                                             "(2, 3, 1, 1)")):
        nn.InstanceNorm2d(3)(x)
    assert nn.InstanceNorm2d(3)(tinygen.randn(2, 3, 1, 2)).shape == (2, 3, 1, 2)  # two pixels are enough


@pytest.mark.parametrize("psi", [float("nan"), float("inf"), -float("inf")])
def test_stylegan_refuses_a_psi_that_is_not_finite(psi):
    from tinygen.models.stylegan import StyleGenerator
    G = StyleGenerator(latent_dim=4, style_dim=4, channels=2, mapping_layers=1).eval()
    with pytest.raises(ValueError, match=esc(f"StyleGenerator: psi (the truncation) must be a finite number, usually "
                                             f"in [0, 1], got {psi}")):
        G(tinygen.randn(2, 4), psi=psi)


CODE_SIZES = [  # a model with a code of size 0, and its message
    ("tinygen.models.autoencoder", "Autoencoder", "code_size"), ("tinygen.models.autoencoder", "Encoder", "code_size"),
    ("tinygen.models.autoencoder", "Decoder", "code_size"), ("tinygen.models.vae", "VAE", "latent_dim"),
    ("tinygen.models.vae", "ConvVAE", "latent_dim"), ("tinygen.models.cvae", "CVAE", "latent_dim"),
    ("tinygen.models.sparse_autoencoder", "SparseAutoencoder", "code_size"),
    ("tinygen.models.conv_autoencoder", "ConvAutoencoder", "code_size"), ("tinygen.models.aae", "Encoder", "latent_dim"),
    ("tinygen.models.aae", "Decoder", "latent_dim"),
    ("tinygen.models.recurrent_autoencoder", "RecurrentAutoencoder", "code_size"),
]


@pytest.mark.parametrize("module, model, option", CODE_SIZES, ids=[f"{m.split('.')[-1]}.{c}" for m, c, _ in CODE_SIZES])
def test_a_code_of_size_zero_is_refused_naming_the_model(module, model, option):
    import importlib
    with pytest.raises(ValueError, match=esc(f"{model}: {option} must be >= 1, got 0")):
        getattr(importlib.import_module(module), model)(0)


def test_a_stacked_autoencoder_refuses_a_size_of_zero_and_a_depth_it_does_not_have():
    from tinygen.models.stacked_autoencoder import StackedAutoencoder
    with pytest.raises(ValueError, match=esc("StackedAutoencoder: every size must be >= 1, got 0")):
        StackedAutoencoder((784, 8, 0))
    model = StackedAutoencoder((784, 8, 4))
    x = tinygen.rand(2, 1, 28, 28)
    for depth, width in [(0, 784), (1, 8), (2, 4), (None, 4)]:
        assert model.encode(x, depth=depth).shape == (2, width)
    for depth in [3, 5, -1]:
        with pytest.raises(ValueError, match=esc(f"StackedAutoencoder.encode: depth must be in [0, 2] (the number of "
                                                 f"encoders), or None for all, got {depth}")):
            model.encode(x, depth=depth)
    with pytest.raises(TypeError, match=esc("StackedAutoencoder.encode: depth must be an int, got float 1.0")):
        model.encode(x, depth=1.0)


# Python's protocols on Tensor: what PyTorch refuses is refused, with the problem and the fix


@pytest.mark.parametrize("values,how_many", [([0.5, 2.0], "more than one value"), ([], "no values")])
def test_the_truth_of_many_elements_is_ambiguous(values, how_many):
    """`if loss < best:` with a loss of many elements is refused, never silently always taken."""
    with pytest.raises(RuntimeError, match=esc(f"Boolean value of Tensor with {how_many} is ambiguous") + ".*"
                                           + esc(".any() or .all()")):
        bool(tinygen.tensor(values) < 0.7)


@pytest.mark.parametrize("convert", [float, int])
def test_a_python_number_needs_one_element(convert):
    with pytest.raises(ValueError, match=esc("only one element tensors can be converted to Python scalars, "
                                             "got shape (2,)")):
        convert(tinygen.tensor([1.0, 2.0]))


@pytest.mark.parametrize("t,shown", [(tinygen.tensor(3.0), "dtype float32 and shape ()"),
                                     (tinygen.tensor([1, 2]), "dtype int64 and shape (2,)")])
def test_an_index_needs_one_integer_element(t, shown):
    with pytest.raises(TypeError, match=esc("only integer tensors of a single element can be converted to an "
                                            f"index, got {shown}")):
        range(t)
    with pytest.raises(TypeError, match="only integer tensors"):
        [1, 2, 3][t]


def test_a_0d_tensor_has_no_length_and_no_rows():
    with pytest.raises(TypeError, match=esc("len() of a 0-d tensor")):
        len(tinygen.tensor(1.0))
    with pytest.raises(TypeError, match=esc("iteration over a 0-d tensor")):
        iter(tinygen.tensor(1.0))


@pytest.mark.parametrize("element", ["a", [1.0], None])
def test_in_takes_a_tensor_or_a_number(element):
    with pytest.raises(RuntimeError, match=esc("Tensor.__contains__ only supports Tensor or scalar, but you passed "
                                               f"in a {type(element).__name__}")):
        element in tinygen.tensor([1.0, 2.0])  # noqa: B015


def test_numpy_refuses_a_tensor_in_the_graph():
    """np.asarray on a tensor that requires grad would leave the graph unnoticed (PyTorch refuses it
    too); a NumPy function applied to a tensor is refused rather than made an array of objects."""
    with pytest.raises(RuntimeError, match=esc("can't convert a Tensor that requires grad to a NumPy array (as "
                                               "PyTorch). Use tensor.detach().numpy() instead.")):
        np.asarray(tinygen.ones(2, requires_grad=True))
    with pytest.raises(TypeError, match="does not support ufuncs"):
        np.exp(tinygen.ones(2))
    assert np.asarray(tinygen.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]


def _write(t, how):
    """One in-place write by each of the operators that PyTorch makes in-place."""
    if how == "setitem":
        t[0] = 5.0
    elif how == "+=":
        t += 1.0
    elif how == "-=":
        t -= 1.0
    elif how == "*=":
        t *= 2.0
    elif how == "/=":
        t /= 2.0
    else:
        t **= 2
    return t


IN_PLACE = ["setitem", "+=", "-=", "*=", "/=", "**="]


@pytest.mark.parametrize("how", IN_PLACE)
def test_an_in_place_write_into_a_leaf_that_requires_grad_needs_no_grad(how):
    w = tinygen.full(3, 3.0, requires_grad=True)
    with pytest.raises(RuntimeError, match=esc("a leaf Variable that requires grad is being used in an in-place "
                                               "operation (shape (3,))") + ".*" + esc("tinygen.no_grad()")):
        _write(w, how)
    assert w._version == 0 and w.tolist() == [3.0, 3.0, 3.0]  # refused before any change
    y = w * 2
    with pytest.raises(RuntimeError, match=esc("a tensor computed in the graph that requires grad")):
        _write(y, how)
    with tinygen.no_grad():
        assert _write(w, how) is w
    assert w._version == 1 and w.tolist() != [3.0, 3.0, 3.0]


@pytest.mark.parametrize("how", ["setitem", "+="])
def test_a_value_that_requires_grad_cannot_be_written_in_place(how):
    """Its gradient would be lost: tinygen's graph records no in-place write (PyTorch's does)."""
    x, w = tinygen.zeros(3), tinygen.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match=esc("the value written in place requires grad") + ".*"
                                           + esc("or write value.detach()")):
        if how == "setitem":
            x[0] = w[0]
        else:
            x += w
    assert x._version == 0 and x.tolist() == [0.0, 0.0, 0.0]


@pytest.mark.parametrize("how", IN_PLACE)
def test_an_in_place_write_into_a_saved_tensor_makes_backward_refuse(how):
    """As add_: the write is counted, and a graph that read the old values refuses its backward."""
    w, x = tinygen.ones(3, requires_grad=True), tinygen.tensor([1.0, 2.0, 3.0])
    loss = (w * x).sum()
    _write(x, how)
    with pytest.raises(RuntimeError, match=esc("Mul.backward: input 1 (shape (3,)), a value this backward needs, "
                                               "was changed in place after the forward (it is now at version 1)")):
        loss.backward()


@pytest.mark.parametrize("t,how,message", [
    (tinygen.ones(3, dtype="int64"), "+=", "+=: result type float32 can't be cast to the desired output type int64"),
    (tinygen.ones(3, dtype="int64"), "/=", "/=: result type float32 can't be cast to the desired output type int64"),
    (tinygen.ones(3, dtype="bool"), "+=", "+=: result type int64 can't be cast to the desired output type bool"),
])
def test_an_in_place_operator_keeps_the_dtype_kind(t, how, message):
    with pytest.raises(RuntimeError, match=esc(message) + ".*" + esc("t = t.float()")):
        if how == "+=":
            t += 1.5 if t.dtype == np.int64 else 1
        else:
            t /= 2
    assert t._version == 0


def test_an_in_place_operator_keeps_the_shape():
    x = tinygen.ones(3)
    with pytest.raises(RuntimeError, match=esc("+=: output with shape (3,) doesn't match the broadcast shape (2, 3)")):
        x += tinygen.ones(2, 3)
    assert x.shape == (3,) and x._version == 0


def test_a_gradient_set_by_hand_must_fit():
    """An optimiser would broadcast a (2,) gradient over a (3, 2) weight without a word."""
    w = tinygen.ones(3, 2, requires_grad=True)
    with pytest.raises(RuntimeError, match=esc("attempting to assign a gradient of shape (2,) to a tensor of shape "
                                               "(3, 2)")):
        w.grad = tinygen.ones(2)
    with pytest.raises(TypeError, match=esc("assigned grad expected to be a Tensor or None but got grad of type "
                                            "ndarray; wrap it with tinygen.tensor(...)")):
        w.grad = np.ones((3, 2))
    assert w.grad is None
    w.grad = tinygen.ones(3, 2)
    w.grad = None


def test_a_backward_gradient_of_another_shape_names_both():
    y = tinygen.ones(2, requires_grad=True) * 2
    with pytest.raises(ValueError, match=esc("backward(): gradient of shape (3,) given for an output of shape (2,)")):
        y.backward(gradient=tinygen.ones(3))


@pytest.mark.parametrize("seed,error,message", [
    ("abc", TypeError, "manual_seed: the seed must be an integer, got str 'abc'"),
    (1.5, TypeError, "manual_seed: the seed must be an integer, got float 1.5"),
    (True, TypeError, "manual_seed: the seed must be an integer, got bool True"),
    (2**64, ValueError, f"manual_seed: the seed must be in [-2**63, 2**64 - 1], got {2**64}"),
    (-(2**63) - 1, ValueError, f"manual_seed: the seed must be in [-2**63, 2**64 - 1], got {-(2**63) - 1}"),
])
def test_manual_seed_takes_an_integer(seed, error, message):
    with pytest.raises(error, match=esc(message)):
        tinygen.manual_seed(seed)


@pytest.mark.parametrize("args,error,message", [
    ((0, 5, 0), RuntimeError, "arange: step must be nonzero"),
    ((0, 5, -1), RuntimeError, "arange: upper bound and lower bound inconsistent with step sign"),
    ((0, float("inf")), RuntimeError, "arange: unsupported range: 0 -> inf"),
    ((0, float("nan")), RuntimeError, "arange: unsupported range: 0 -> nan"),
    (("5",), TypeError, "arange: end must be a number, got str '5'"),
    ((), TypeError, "arange: expected end, (start, end) or (start, end, step), got 0 arguments"),
])
def test_arange_arguments(args, error, message):
    with pytest.raises(error, match=esc(message)):
        tinygen.arange(*args)


def test_operators_without_a_meaning_here():
    with pytest.raises(TypeError, match=esc("~ (operator.invert) is only implemented on integer and Boolean-type "
                                            "tensors, got dtype float32")):
        ~tinygen.ones(2)
    with pytest.raises(ValueError, match=esc("-2.0 ** t: no gradient for t with a base that is negative or NaN")):
        (-2.0) ** tinygen.ones(2, requires_grad=True)
    with pytest.raises(TypeError, match=esc("pow: the exponent must be a Python number, got Tensor; for a tensor "
                                            "exponent write number ** t")):
        tinygen.ones(2) ** tinygen.ones(2)
    with pytest.raises(TypeError, match=esc("max: dim must be an int, got a Tensor; tinygen has no elementwise max")):
        tinygen.ones(2).max(tinygen.ones(2))
    with pytest.raises(IndexError, match=esc("min(): Expected reduction dim 1 to have non-zero size (shape (2, 0))")):
        tinygen.ones(2, 0).min(dim=1)
    with pytest.raises(TypeError, match=esc("from_numpy: expected a NumPy array, got list")):
        tinygen.from_numpy([1.0])
