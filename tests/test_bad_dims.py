"""Dimensions out of range raise IndexError naming the op and the range (as PyTorch), never wrap round.

For any shape and any dim outside [-ndim, ndim - 1] (outside [-(ndim + 1), ndim] for ops that make
a new axis), each op refuses with PyTorch's words; for any dim inside, it gives NumPy's answer.
"""
import re
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygen
import tinygen.nn.functional as F
from strategies import cheap, shapes
from tinygen import nn

esc = re.escape


def out_of_range(ndim, extra=0):
    """A dim outside the valid range of a tensor of `ndim` dims (extra=1: ops adding an axis)."""
    size = max(ndim + extra, 1)
    return st.one_of(st.integers(size, size + 10), st.integers(-size - 10, -size - 1))


def range_message(op, ndim, dim, extra=0):
    size = max(ndim + extra, 1)
    return esc(f"{op}: Dimension out of range (expected to be in range of [{-size}, {size - 1}], but got {dim})")


# op name in the message -> how to call it with one dim
ONE_DIM_OPS = {
    "sum": lambda x, d: x.sum(dim=d),
    "mean": lambda x, d: x.mean(dim=d),
    "var": lambda x, d: x.var(dim=d),
    "max": lambda x, d: x.max(dim=d),
    "argmax": lambda x, d: x.argmax(dim=d),
    "logsumexp": lambda x, d: F.logsumexp(x, d),
    "softmax": lambda x, d: F.softmax(x, dim=d),
    "log_softmax": lambda x, d: F.log_softmax(x, dim=d),
    "cat": lambda x, d: tinygen.cat([x, x], dim=d),
    "flatten": lambda x, d: x.flatten(d),
    "transpose": lambda x, d: x.transpose(0, d),
    "permute": lambda x, d: x.permute(*([d] + list(range(1, x.ndim)))),
    "size": lambda x, d: x.size(d),
}


@cheap
@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), op=st.sampled_from(sorted(ONE_DIM_OPS)))
def test_dim_out_of_range_is_an_index_error(shape, data, op):
    dim = data.draw(out_of_range(len(shape)))
    x = tinygen.zeros(shape)
    with pytest.raises(IndexError, match=range_message(op, len(shape), dim)):
        ONE_DIM_OPS[op](x, dim)


@cheap
@given(shape=shapes(min_dims=0, max_dims=4), data=st.data(), op=st.sampled_from(["unsqueeze", "stack"]))
def test_new_axis_dim_out_of_range_is_an_index_error(shape, data, op):
    dim = data.draw(out_of_range(len(shape), extra=1))
    x = tinygen.zeros(shape)
    call = (lambda: x.unsqueeze(dim)) if op == "unsqueeze" else (lambda: tinygen.stack([x, x], dim=dim))
    with pytest.raises(IndexError, match=range_message(op, len(shape), dim, extra=1)):
        call()


NUMPY_REDUCTIONS = {
    "sum": (lambda x, d: x.sum(dim=d), lambda a, d: a.sum(axis=d)),
    "mean": (lambda x, d: x.mean(dim=d), lambda a, d: a.mean(axis=d)),
    "var": (lambda x, d: x.var(dim=d, unbiased=False), lambda a, d: a.var(axis=d)),
    "max": (lambda x, d: x.max(dim=d).values, lambda a, d: a.max(axis=d)),
    "argmax": (lambda x, d: x.argmax(dim=d), lambda a, d: a.argmax(axis=d)),
    "logsumexp": (lambda x, d: F.logsumexp(x, d), lambda a, d: np.log(np.exp(a).sum(axis=d))),
    "softmax": (lambda x, d: F.softmax(x, dim=d), lambda a, d: np.exp(a) / np.exp(a).sum(axis=d, keepdims=True)),
    "unsqueeze": (lambda x, d: x.unsqueeze(d), lambda a, d: np.expand_dims(a, d)),
    "cat": (lambda x, d: tinygen.cat([x, x * 2], dim=d), lambda a, d: np.concatenate([a, a * 2], axis=d)),
    "transpose": (lambda x, d: x.transpose(d, -1), lambda a, d: np.swapaxes(a, d, -1)),
    "size": (lambda x, d: x.size(d), lambda a, d: a.shape[d]),
}


@cheap
@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), op=st.sampled_from(sorted(NUMPY_REDUCTIONS)))
def test_dims_in_range_give_numpys_answer(shape, data, op):
    ndim = len(shape) + (op == "unsqueeze")
    dim = data.draw(st.integers(-ndim, ndim - 1))
    a = np.random.default_rng(len(shape)).standard_normal(shape)  # float64: exact comparisons
    ours, numpys = NUMPY_REDUCTIONS[op]
    result = ours(tinygen.Tensor(a), dim)
    np.testing.assert_allclose(np.asarray(result.numpy() if hasattr(result, "numpy") else result), numpys(a, dim),
                               rtol=1e-12, atol=1e-12)


@cheap
@given(shape=shapes(min_dims=2, max_dims=4), data=st.data())
def test_stack_and_flatten_in_range_give_numpys_answer(shape, data):
    a = np.random.default_rng(0).standard_normal(shape)
    ndim = len(shape)
    dim = data.draw(st.integers(-ndim - 1, ndim))
    np.testing.assert_array_equal(tinygen.stack([tinygen.Tensor(a), tinygen.Tensor(-a)], dim).numpy(),
                                  np.stack([a, -a], dim))
    start = data.draw(st.integers(-ndim, ndim - 1))
    end = data.draw(st.integers(start % ndim, ndim - 1))
    s, e = start % ndim, end
    expected = a.reshape(shape[:s] + (-1,) + shape[e + 1 :])
    np.testing.assert_array_equal(tinygen.Tensor(a).flatten(start, end).numpy(), expected)


@cheap
@given(shape=shapes(min_dims=1, max_dims=4), data=st.data())
def test_permute_any_permutation_with_negative_dims(shape, data):
    ndim = len(shape)
    perm = data.draw(st.permutations(range(ndim)))
    given_dims = [p - ndim if data.draw(st.booleans()) else p for p in perm]  # some written negative
    a = np.random.default_rng(0).standard_normal(shape)
    np.testing.assert_array_equal(tinygen.Tensor(a).permute(*given_dims).numpy(), a.transpose(perm))


@cheap
@given(shape=shapes(min_dims=1, max_dims=4), data=st.data(), op=st.sampled_from(["sum", "mean", "var", "max"]))
def test_repeated_dims_in_a_reduction_are_refused(shape, data, op):
    ndim = len(shape)
    d = data.draw(st.integers(0, ndim - 1))
    dims = (d, d - ndim)  # the same axis, once as positive and once as negative
    reduce = tinygen.functional.max if op == "max" else getattr(tinygen.Tensor, op)  # t.max(dim) takes one dim
    with pytest.raises(RuntimeError, match=esc(f"{op}: dim {d} appears multiple times in the list of dims {dims}")):
        reduce(tinygen.zeros(shape), dim=dims)


def test_examples_from_the_issue():
    x = tinygen.zeros(2, 3)
    with pytest.raises(IndexError, match=esc("sum: Dimension out of range (expected to be in range of [-2, 1], "
                                             "but got 5)")):
        x.sum(dim=5)
    with pytest.raises(IndexError, match=esc("[-3, 2], but got 3")):
        x.unsqueeze(3)
    with pytest.raises(IndexError, match=esc("transpose: Dimension out of range (expected to be in range of [-2, 1], "
                                             "but got 2)")):
        x.transpose(0, 2)
    with pytest.raises(IndexError, match=esc("swapaxes") + "|" + esc("transpose")):
        F.swapaxes(x, 2, 0)


def test_permute_needs_a_permutation():
    x = tinygen.zeros(2, 3, 4)
    with pytest.raises(RuntimeError, match=esc("permute: dim 0 appears multiple times in the list of dims (0, 0, 1)")):
        x.permute(0, 0, 1)
    with pytest.raises(RuntimeError, match=esc("permute: the tensor has 3 dimensions (shape (2, 3, 4)) but 2 dims "
                                               "were given: (1, 0)")):
        x.permute(1, 0)
    with pytest.raises(IndexError, match=esc("permute: Dimension out of range (expected to be in range of [-3, 2], "
                                             "but got 3)")):
        F.transpose(x, (0, 1, 3))


def test_flatten_start_after_end():
    with pytest.raises(RuntimeError, match=esc("flatten: start_dim cannot come after end_dim, got start_dim=2 and "
                                               "end_dim=1 for shape (2, 3, 4)")):
        tinygen.zeros(2, 3, 4).flatten(2, 1)


def test_dim_must_be_an_int():
    x = tinygen.zeros(2, 3)
    with pytest.raises(TypeError, match="sum: dim must be an int, got float 1.0"):
        x.sum(dim=1.0)
    with pytest.raises(TypeError, match="softmax: dim must be an int, got bool True"):
        F.softmax(x, dim=True)
    assert x.sum(dim=np.int64(1)).shape == (2,)  # NumPy integers are ints


def test_zero_dimensional_tensors_take_dim_0_and_minus_1():
    x = tinygen.tensor(2.0)
    assert x.sum(dim=0).item() == 2.0 and x.sum(dim=-1).item() == 2.0
    assert F.softmax(x, dim=0).item() == 1.0
    assert x.unsqueeze(0).shape == (1,) and x.unsqueeze(-1).shape == (1,)
    assert x.flatten().shape == (1,)
    with pytest.raises(IndexError, match=esc("sum: Dimension out of range (expected to be in range of [-1, 0], "
                                             "but got 1)")):
        x.sum(dim=1)
    with pytest.raises(ValueError, match="cat: zero-dimensional tensors cannot be concatenated; use stack"):
        tinygen.cat([x, x])
    assert tinygen.stack([x, x]).shape == (2,)


def test_empty_dim_tuple_reduces_everything_as_pytorch():
    x = tinygen.ones(2, 3)
    assert x.sum(dim=()).item() == 6.0 and x.mean(dim=[]).item() == 1.0


def test_layers_with_a_dim():
    x = tinygen.zeros(2, 6)
    with pytest.raises(IndexError, match=range_message("flatten", 2, 5)):
        nn.Flatten(5)(x)
    with pytest.raises(IndexError, match=range_message("Unflatten", 2, 5)):
        nn.Unflatten(5, (2, 3))(x)
    assert nn.Unflatten(-1, (2, 3))(x).shape == (2, 2, 3)


def test_cat_and_stack_take_a_list_of_tensors():
    x = tinygen.zeros(2, 3)
    with pytest.raises(TypeError, match="cat: expected a list or tuple of tensors, got Tensor"):
        tinygen.cat(x)  # would otherwise join the rows of x
    with pytest.raises(TypeError, match="stack: expected a list of tensors, got list at position 1"):
        tinygen.stack([x, [[0.0] * 3] * 2])
    with pytest.raises(ValueError, match="cat: expected a non-empty list of tensors"):
        tinygen.cat([])
    with pytest.raises(ValueError, match=esc("cat: tensors must have the same shape except in dim 1, got shapes "
                                             "[(2, 3), (3, 3)]")):
        tinygen.cat([x, tinygen.zeros(3, 3)], dim=1)


def test_mean_and_var_of_nothing_are_nan_with_a_warning():
    with pytest.warns(RuntimeWarning, match=esc("mean: mean of 0 elements (shape (0,), dims (0,)); the result is nan")):
        assert np.isnan(tinygen.zeros(0).mean().item())
    with pytest.warns(RuntimeWarning, match=esc("var: variance of 1 element(s) (shape (1,), dims (0,)) divides by 0")):
        assert np.isnan(tinygen.zeros(1).var().item())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert tinygen.zeros(0).sum().item() == 0.0  # the sum of nothing is 0, no warning
        assert tinygen.zeros(0, 3).mean(dim=1).shape == (0,)  # three values per row: nothing is nan
        assert tinygen.zeros(1).var(unbiased=False).item() == 0.0


def test_max_of_nothing_is_an_error():
    with pytest.raises(RuntimeError, match=esc("max: the tensor is empty (shape (0, 3)); give a dim to reduce over")):
        tinygen.zeros(0, 3).max()
    with pytest.raises(IndexError, match=esc("max: cannot reduce over dim 0 of size 0 (shape (0, 3))")):
        tinygen.functional.max(tinygen.zeros(0, 3), dim=0)
    with pytest.raises(IndexError, match=esc("max(): Expected reduction dim 0 to have non-zero size (shape (0, 3))")):
        tinygen.zeros(0, 3).max(dim=0)  # PyTorch's message for its (values, indices) form
    assert tinygen.zeros(0, 3).max(dim=1).values.shape == (0,)
    assert tinygen.functional.max(tinygen.zeros(0, 3), dim=1).shape == (0,)
    with pytest.raises(RuntimeError, match=esc("argmax: the tensor is empty (shape (0,))")):
        tinygen.zeros(0).argmax()


def test_logsumexp_and_softmax_over_an_empty_dim():
    assert np.all(F.logsumexp(tinygen.zeros(0, 3), 0).numpy() == -np.inf)  # the log of an empty sum, as PyTorch
    assert F.softmax(tinygen.zeros(0, 3), dim=0).shape == (0, 3)


def test_reshape_to_another_size_names_both_shapes():
    with pytest.raises(RuntimeError, match=esc("reshape: cannot reshape a tensor of shape (2, 3) (6 elements) into "
                                               "(4,)")):
        tinygen.zeros(2, 3).reshape(4)
    with pytest.raises(TypeError, match=esc("reshape(): argument 'input' must be Tensor, not list")):
        F.reshape([1.0, 2.0], (2, 1))


def test_unflatten_sizes():
    assert nn.Unflatten(1, (2, -1))(tinygen.zeros(3, 6)).shape == (3, 2, 3)  # one -1, as PyTorch
    with pytest.raises(ValueError, match=esc("Unflatten: dimension 1 of (3, 6) has size 6, which cannot be split into "
                                             "(4, -1)")):
        nn.Unflatten(1, (4, -1))(tinygen.zeros(3, 6))
    with pytest.raises(ValueError, match=esc("Unflatten(1, (-1, -1)): only one size can be -1")):
        nn.Unflatten(1, (-1, -1))
    with pytest.raises(TypeError, match=esc("Unflatten(1, (2.5, 2)): each size must be an int, got float 2.5")):
        nn.Unflatten(1, (2.5, 2))
    with pytest.raises(TypeError, match=esc("Unflatten(1, 6): unflattened_size must be a tuple of ints, got int")):
        nn.Unflatten(1, 6)


# ---------------------------------------------------------------------------------------------
# Models given a wrong shape name themselves, the expected and the actual shape (not a reshape inside)

from tinygen.models import aae, autoencoder, conv_autoencoder, cvae, dcgan, recurrent_autoencoder  # noqa: E402
from tinygen.models import sparse_autoencoder, stacked_autoencoder, vae, vanilla_gan  # noqa: E402

IMAGES = "(N, 1, 28, 28) or (N, 28, 28) or (N, 784)"
WRONG_IMAGES = tinygen.zeros(2, 1, 32, 32)
MODEL_ENTRIES = [  # (name, call with a wrong input, the message)
    ("VAE.encode", lambda: vae.VAE(4, 8).encode(WRONG_IMAGES), f"VAE.encode: expected images of shape {IMAGES}"),
    ("VAE.forward", lambda: vae.VAE(4, 8)(WRONG_IMAGES), f"VAE.encode: expected images of shape {IMAGES}"),
    ("VAE.decode", lambda: vae.VAE(4, 8).decode(tinygen.zeros(2, 5)), "VAE.decode: expected z of shape (N, 4)"),
    ("ConvVAE.encode", lambda: vae.ConvVAE(4, (2, 2)).encode(WRONG_IMAGES),
     f"ConvVAE.encode: expected images of shape {IMAGES}"),
    ("ConvVAE.decode", lambda: vae.ConvVAE(4, (2, 2)).decode(tinygen.zeros(2, 1, 4)),
     "ConvVAE.decode: expected z of shape (N, 4)"),
    ("CVAE.encode", lambda: cvae.CVAE(4, 8)(WRONG_IMAGES, tinygen.tensor([1, 2])),
     f"CVAE.encode: expected images of shape {IMAGES}"),
    ("CVAE.decode", lambda: cvae.CVAE(4, 8).decode(tinygen.zeros(2, 3), tinygen.tensor([1, 2])),
     "CVAE.decode: expected z of shape (N, 4)"),
    ("Autoencoder", lambda: autoencoder.Autoencoder(4)(WRONG_IMAGES), f"Autoencoder: expected images of shape {IMAGES}"),
    ("Decoder", lambda: autoencoder.Decoder(4)(tinygen.zeros(2, 3)), "Decoder: expected codes of shape (N, 4)"),
    ("SparseAutoencoder", lambda: sparse_autoencoder.SparseAutoencoder(4)(WRONG_IMAGES),
     f"SparseAutoencoder: expected images of shape {IMAGES}"),
    ("StackedAutoencoder.encode", lambda: stacked_autoencoder.StackedAutoencoder((784, 8, 4))(WRONG_IMAGES),
     f"StackedAutoencoder.encode: expected images of shape {IMAGES}"),
    ("StackedAutoencoder.decode", lambda: stacked_autoencoder.StackedAutoencoder((784, 8, 4)).decode(
        tinygen.zeros(2, 8)), "StackedAutoencoder.decode: expected codes of shape (N, 4)"),
    ("ConvAutoencoder", lambda: conv_autoencoder.ConvAutoencoder(4)(tinygen.zeros(2, 784)),
     "ConvAutoencoder: expected images of shape (N, 1, 28, 28)"),
    ("ConvDecoder", lambda: conv_autoencoder.ConvDecoder(4)(tinygen.zeros(2, 5)),
     "ConvDecoder: expected codes of shape (N, 4)"),
    ("aae.Encoder", lambda: aae.Encoder(4, 8)(WRONG_IMAGES), f"Encoder: expected images of shape {IMAGES}"),
    ("aae.Decoder", lambda: aae.Decoder(4, 8)(tinygen.zeros(2, 5)), "Decoder: expected codes of shape (N, 4)"),
    ("RecurrentAutoencoder", lambda: recurrent_autoencoder.RecurrentAutoencoder(4, 8)(WRONG_IMAGES),
     f"RecurrentAutoencoder: expected images of shape {IMAGES}"),
    ("recurrent Decoder", lambda: recurrent_autoencoder.Decoder(4, 8)(tinygen.zeros(2, 5)),
     "Decoder: expected codes of shape (N, 4)"),
    ("Generator", lambda: vanilla_gan.Generator(4)(tinygen.zeros(2, 5)), "Generator: expected z of shape (N, 4)"),
    ("Discriminator", lambda: vanilla_gan.Discriminator()(WRONG_IMAGES),
     f"Discriminator: expected images of shape {IMAGES}"),
    ("DCGANGenerator", lambda: dcgan.DCGANGenerator(4)(tinygen.zeros(2, 5)),
     "DCGANGenerator: expected z of shape (N, 4) or (N, 4, 1, 1)"),
    ("DCGANDiscriminator", lambda: dcgan.DCGANDiscriminator()(WRONG_IMAGES),
     f"DCGANDiscriminator: expected images of shape {IMAGES}"),
]


@pytest.mark.parametrize("call, message", [c[1:] for c in MODEL_ENTRIES], ids=[c[0] for c in MODEL_ENTRIES])
def test_models_name_a_wrong_input_shape(call, message):
    with pytest.raises(ValueError, match=esc(message) + r", got \("):
        call()


def test_a_model_given_a_list_asks_for_a_tensor():
    with pytest.raises(TypeError, match=esc("VAE.encode(): argument 'images' must be Tensor, not list; make one with "
                                            "tinygen.tensor(...)")):
        vae.VAE(4, 8).encode([[0.0] * 784])


def test_models_still_take_every_image_layout():
    model = vae.VAE(4, 8)
    for shape in [(2, 1, 28, 28), (2, 28, 28), (2, 784)]:
        assert model(tinygen.zeros(*shape))[1].shape == (2, 4)
