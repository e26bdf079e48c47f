"""Bad input gets a clear error: it names the layer or op, and what was expected and what came."""
import re

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import nn

esc = re.escape


# ---------------------------------------------------------------------------------------------
# Layers given the wrong shape


def test_conv2d_wrong_channels():
    layer = nn.Conv2d(3, 8, 3)
    with pytest.raises(ValueError, match=r"Conv2d\(3, 8.*expected input of shape \(N, 3, H, W\), got \(2, 1, 28, 28\)"):
        layer(tinygen.zeros(2, 1, 28, 28))


def test_conv2d_wrong_ndim():
    with pytest.raises(ValueError, match=r"Conv2d.*\(N, 3, H, W\).*got \(3, 28, 28\)"):
        nn.Conv2d(3, 8, 3)(tinygen.zeros(3, 28, 28))


def test_conv2d_functional_wrong_channels():
    with pytest.raises(ValueError, match=r"conv2d: input has 2 channels \(shape \(1, 2, 5, 5\)\).*\(4, 3, 3, 3\) expects 3"):
        F.conv2d(tinygen.zeros(1, 2, 5, 5), tinygen.zeros(4, 3, 3, 3))


def test_conv2d_input_smaller_than_kernel():
    with pytest.raises(ValueError, match=r"conv2d: input \(1, 1, 2, 2\) with padding 0 is smaller than the kernel \(3, 3\)"):
        F.conv2d(tinygen.zeros(1, 1, 2, 2), tinygen.zeros(1, 1, 3, 3))


def test_conv_transpose2d_wrong_channels():
    layer = nn.ConvTranspose2d(16, 8, 4, stride=2, padding=1)
    with pytest.raises(ValueError, match=r"ConvTranspose2d\(16, 8.*\(N, 16, H, W\), got \(4, 8, 7, 7\)"):
        layer(tinygen.zeros(4, 8, 7, 7))
    with pytest.raises(ValueError, match=r"conv_transpose2d: input has 8 channels.*expects 16"):
        F.conv_transpose2d(tinygen.zeros(4, 8, 7, 7), layer.weight)


@pytest.mark.parametrize("stride,output_padding", [(1, 1), (2, 2), (2, 3), (1, -1)])
def test_conv_transpose2d_output_padding_must_be_below_stride(stride, output_padding):
    x, w = tinygen.zeros(1, 2, 3, 3), tinygen.zeros(2, 1, 3, 3)
    with pytest.raises(ValueError, match=esc(f"output_padding must be in [0, stride={stride}), got {output_padding}")):
        F.conv_transpose2d(x, w, stride=stride, output_padding=output_padding)
    with pytest.raises(ValueError, match=esc(f"ConvTranspose2d(2, 1, kernel_size=3, stride={stride}, padding=0, "
                                             f"output_padding={output_padding}): output_padding must be in "
                                             f"[0, stride={stride}), got {output_padding}")):
        nn.ConvTranspose2d(2, 1, 3, stride=stride, output_padding=output_padding)


def test_conv_transpose2d_empty_output():
    with pytest.raises(ValueError, match="conv_transpose2d: .*empty output"):
        F.conv_transpose2d(tinygen.zeros(1, 1, 1, 1), tinygen.zeros(1, 1, 1, 1), padding=1)


def test_linear_wrong_features():
    layer = nn.Linear(784, 128)
    with pytest.raises(ValueError, match=esc("Linear(in_features=784, out_features=128, bias=True): expected input "
                                             "of shape (..., 784), got (64, 28, 28)")):
        layer(tinygen.zeros(64, 28, 28))
    with pytest.raises(ValueError, match=esc("linear: input has 10 features (shape (2, 10)) but the weight (128, 784) "
                                             "expects 784")):
        F.linear(tinygen.zeros(2, 10), layer.weight)


@pytest.mark.parametrize("cls,shape,bad", [(nn.BatchNorm1d, "(N, C)", (8, 5)), (nn.BatchNorm1d, "(N, C)", (8, 4, 3)),
                                           (nn.BatchNorm2d, "(N, C, H, W)", (8, 5, 2, 2)),
                                           (nn.BatchNorm2d, "(N, C, H, W)", (8, 4))])
def test_batchnorm_wrong_channels(cls, shape, bad):
    with pytest.raises(ValueError, match=esc(f"{cls.__name__}(4, eps=1e-05, momentum=0.1): expected input {shape} "
                                             f"with C = 4, got {bad}")):
        cls(4)(tinygen.zeros(*bad))


def test_batch_norm_functional_names_the_statistic():
    with pytest.raises(ValueError, match=esc("batch_norm: input has 3 channels (shape (2, 3)) but running_mean has "
                                             "shape (4,)")):
        F.batch_norm(tinygen.zeros(2, 3), tinygen.zeros(4), tinygen.ones(4), training=True)


def test_batchnorm_training_needs_more_than_one_value():
    with pytest.raises(ValueError, match=r"batch_norm: training needs more than one value per channel, got input \(1, 4\)"):
        nn.BatchNorm1d(4)(tinygen.zeros(1, 4))
    nn.BatchNorm1d(4).eval()(tinygen.zeros(1, 4))  # evaluation uses the running statistics: fine


def test_unflatten_wrong_size():
    with pytest.raises(ValueError, match=esc("Unflatten: dimension 1 of (2, 780) has size 780, not 784 = prod(1, 28, 28)")):
        nn.Unflatten(1, (1, 28, 28))(tinygen.zeros(2, 780))


# ---------------------------------------------------------------------------------------------
# Ops


def test_matmul_mismatch():
    with pytest.raises(ValueError, match=esc("matmul: shapes (2, 3) and (4, 5) do not fit (3 != 4)")):
        tinygen.zeros(2, 3) @ tinygen.zeros(4, 5)
    with pytest.raises(ValueError, match=esc("matmul: both operands need at least 2 dimensions, got shapes (3,) and (3, 2)")):
        F.matmul(tinygen.zeros(3), tinygen.zeros(3, 2))


def test_tensordot_mismatch():
    with pytest.raises(ValueError, match=r"tensordot: axis 1 of \(2, 3\) does not match axis 0 of \(4, 5\)"):
        F.tensordot(tinygen.zeros(2, 3), tinygen.zeros(4, 5), 1)


def test_cat_mismatched_ndim():
    with pytest.raises(ValueError, match=esc("cat: all tensors need 2 dimensions, got shapes [(2, 3), (2, 3, 1)]")):
        tinygen.cat([tinygen.zeros(2, 3), tinygen.zeros(2, 3, 1)], dim=1)


def test_stack_mismatched_shapes():
    with pytest.raises(ValueError, match=esc("stack: all tensors need the same shape, got [(2, 3), (3, 2)]")):
        tinygen.stack([tinygen.zeros(2, 3), tinygen.zeros(3, 2)])


def test_pow_with_a_tensor_exponent():
    x = tinygen.ones(3, requires_grad=True)
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number, got Tensor"):
        x ** tinygen.ones(3)
    with pytest.raises(TypeError, match="pow: the exponent must be a Python number, got ndarray"):
        F.pow(x, np.ones(3))


def test_clip_without_bounds():
    with pytest.raises(ValueError, match="clip: give min, max or both"):
        tinygen.ones(2).clip()


def test_operands_on_different_devices_are_refused():
    if not tinygen.gpu_available():
        pytest.skip("needs a GPU to have two devices")
    with pytest.raises(RuntimeError, match="Add: inputs are on different devices"):
        tinygen.ones(2) + tinygen.ones(2, device="cuda")


# ---------------------------------------------------------------------------------------------
# Losses


@pytest.mark.parametrize("labels,message", [
    (np.array([0, 3, 10]), r"cross_entropy: labels must be in \[0, 10\), got range \[0, 10\]"),
    (np.array([-1, 3, 2]), r"cross_entropy: labels must be in \[0, 10\), got range \[-1, 3\]"),
    (np.array([0.0, 1.0, 2.0]), "cross_entropy: labels must be integers, got dtype float64"),
    (np.array([[0], [1], [2]]), esc("cross_entropy: expected logits (N, C) and labels (N,), got (3, 10) and (3, 1)")),
])
def test_cross_entropy_bad_labels(labels, message):
    with pytest.raises(ValueError, match=message):
        F.cross_entropy(tinygen.zeros(3, 10), tinygen.Tensor(labels))


@pytest.mark.parametrize("bad", [1.5, -0.25])  # NaN: test_bad_input.py::test_bce_of_nan_is_a_floating_point_error
def test_binary_cross_entropy_outside_zero_one(bad):
    p = tinygen.Tensor(np.array([0.2, bad, 0.7]))
    with pytest.raises(ValueError, match=rf"binary_cross_entropy: input must be probabilities in \[0, 1\], found 1 "
                                         rf"values outside \(e.g. {esc(str(bad))}\); for raw scores use "
                                         rf"binary_cross_entropy_with_logits"):
        F.binary_cross_entropy(p, np.ones(3))


@pytest.mark.parametrize("op", ["mse_loss", "l1_loss", "binary_cross_entropy", "binary_cross_entropy_with_logits"])
def test_loss_shape_mismatch(op):
    with pytest.raises(ValueError, match=esc(f"{op}: input shape (4, 1) and target shape (4,) differ")):
        getattr(F, op)(tinygen.full((4, 1), 0.5), tinygen.full((4,), 0.5))


def test_unknown_reduction():
    with pytest.raises(ValueError, match="mse_loss: reduction must be 'mean', 'sum' or 'none', got 'avg'"):
        F.mse_loss(tinygen.zeros(2), tinygen.zeros(2), reduction="avg")


def test_gaussian_kl_shapes():
    with pytest.raises(ValueError, match=esc("gaussian_kl: expected mu and logvar of the same shape (N, D), got (4, 2) and (4, 3)")):
        F.gaussian_kl(tinygen.zeros(4, 2), tinygen.zeros(4, 3))


# ---------------------------------------------------------------------------------------------
# load_state_dict


def test_load_state_dict_missing_and_unexpected_keys():
    model = nn.Sequential(nn.Linear(2, 3), nn.BatchNorm1d(3))
    state = {k: v.numpy() for k, v in model.state_dict().items()}
    del state["1.running_var"]
    state["2.weight"] = np.zeros(3)
    with pytest.raises(KeyError, match=esc("load_state_dict for Sequential: missing keys ['1.running_var'], "
                                           "unexpected keys ['2.weight']")):
        model.load_state_dict(state)


def test_load_state_dict_wrong_shape_names_key_and_both_shapes():
    model = nn.Sequential(nn.Linear(2, 3))
    state = {"0.weight": np.zeros((3, 4)), "0.bias": np.zeros(3)}
    before = model[0].weight.numpy()
    with pytest.raises(ValueError, match=esc("load_state_dict for Sequential: '0.weight' has shape (3, 4) in the state "
                                             "dict but (3, 2) in the model")):
        model.load_state_dict(state)
    np.testing.assert_array_equal(model[0].weight.numpy(), before)


# ---------------------------------------------------------------------------------------------
# Autograd


def test_backward_of_a_non_scalar_needs_a_gradient():
    y = tinygen.ones(2, 3, requires_grad=True) * 2
    with pytest.raises(RuntimeError, match=esc("backward(): the output has shape (2, 3), not one element; "
                                               "pass a gradient of that shape (gradient=...)")):
        y.backward()
    with pytest.raises(ValueError, match=esc("backward(): gradient of shape (3,) given for an output of shape (2, 3)")):
        y.backward(np.ones(3, np.float32))


def test_backward_without_a_graph():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tinygen.ones(2).sum().backward()


def test_integer_tensors_cannot_require_grad():
    with pytest.raises(TypeError, match="only floating-point tensors can require gradients, got dtype int64"):
        tinygen.Tensor(np.arange(3), requires_grad=True)


def test_grad_of_an_unused_input():
    x, unused = tinygen.ones(2, requires_grad=True), tinygen.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=esc("grad(): an input of shape (2,) was not used")):
        tinygen.grad((x * 2).sum(), [x, unused])


def test_item_of_many_elements():
    with pytest.raises(ValueError, match=esc("item() needs a tensor with one element, got shape (2,)")):
        tinygen.ones(2).item()


# ---------------------------------------------------------------------------------------------
# Embedding, Dropout, devices


@pytest.mark.parametrize("indices,message", [
    (np.array([0, 5, 10]), r"Embedding\(10, 4\): indices must be in \[0, 10\), got range \[0, 10\]"),
    (np.array([[-1, 2]]), r"Embedding\(10, 4\): indices must be in \[0, 10\), got range \[-1, 2\]"),
    (np.array([1.0, 2.0]), r"Embedding\(10, 4\): indices must be integers, got dtype float64"),
])
def test_embedding_bad_indices(indices, message):
    with pytest.raises(ValueError, match=message):
        nn.Embedding(10, 4)(tinygen.Tensor(indices))


@pytest.mark.parametrize("p", [-0.1, 1.5])
def test_dropout_p_outside_zero_one(p):
    with pytest.raises(ValueError, match=esc(f"Dropout: p must be in [0, 1], got {p}")):
        nn.Dropout(p)
    with pytest.raises(ValueError, match=esc(f"dropout: p must be in [0, 1], got {p}")):
        F.dropout(tinygen.ones(3), p)


@pytest.mark.parametrize("device", ["gpu", "mps", "CPU", ""])  # 'cuda:0' is 'cuda': tests/test_devices.py
def test_unknown_device_names(device):
    message = esc(f"unknown device {device!r}: expected one of 'cpu', 'cuda', 'cuda:0'")
    with pytest.raises(ValueError, match=message):
        tinygen.zeros(2, device=device)
    with pytest.raises(ValueError, match=message):
        tinygen.tensor([1.0, 2.0], device=device)
    with pytest.raises(ValueError, match=message):
        tinygen.Tensor(np.ones(2), device=device)
    with pytest.raises(ValueError, match=message):
        tinygen.ones(2).to(device)
    with pytest.raises(ValueError, match=message):
        nn.Linear(2, 2).to(device)


def test_cuda_without_a_gpu():
    if tinygen.gpu_available():
        pytest.skip("a GPU is here")
    with pytest.raises(RuntimeError, match="device 'cuda' asked for, but CuPy with a CUDA GPU is not available"):
        tinygen.zeros(2, device="cuda")
