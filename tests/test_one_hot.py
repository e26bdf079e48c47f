"""F.one_hot: integer labels (N,) -> float32 (N, num_classes), PyTorch's one_hot as float32.

Compared with torch.nn.functional.one_hot on drawn labels; the mistakes (labels out of range, not
integers, not 1-D; num_classes not a whole number >= 1) are refused with messages naming one_hot,
with PyTorch's exception types where PyTorch refuses the same case.
"""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen
import tinygen.nn.functional as F
from strategies import cheap


@st.composite
def labels_and_classes(draw):
    """Labels (N,) of some integer dtype, N from 0 to 20, and a num_classes above the largest."""
    num_classes = draw(st.integers(1, 12))
    dtype = draw(st.sampled_from([np.int64, np.int32, np.uint8]))
    labels = draw(hnp.arrays(dtype, st.integers(0, 20), elements=st.integers(0, num_classes - 1)))
    return labels, num_classes


@cheap
@given(labels_and_classes())
def test_one_hot_is_torchs_one_hot_as_float32(case):
    labels, num_classes = case
    result = F.one_hot(tinygen.tensor(labels), num_classes)
    torch = pytest.importorskip("torch")
    expected = torch.nn.functional.one_hot(torch.tensor(labels.astype(np.int64)), num_classes).numpy()
    assert result.dtype == np.float32 and result.shape == (len(labels), num_classes)
    np.testing.assert_array_equal(result.numpy(), expected.astype(np.float32))
    assert not result.requires_grad


def test_one_hot_rows_pick_the_class_and_sum_to_one():
    result = F.one_hot(np.array([3, 0, 9, 3]), 10).numpy()  # a NumPy array of labels is taken too
    assert result.shape == (4, 10)
    np.testing.assert_array_equal(result.argmax(axis=1), [3, 0, 9, 3])
    np.testing.assert_array_equal(result.sum(axis=1), 1)


def test_one_hot_stays_on_the_labels_device(device):
    labels = tinygen.tensor(np.array([1, 0, 2]), device=device)
    result = F.one_hot(labels, 3)
    assert result.device == labels.device == device.split(":")[0]
    np.testing.assert_array_equal(result.numpy(), np.eye(3, dtype=np.float32)[[1, 0, 2]])


def test_one_hot_joins_images_in_a_graph():
    """Joined to images by cat, a gradient flows into the images, and none into the labels."""
    x = tinygen.randn(2, 3, requires_grad=True)
    joined = F.cat([x, F.one_hot(np.array([0, 1]), 2)], dim=1)
    (joined * joined).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * x.numpy())


@pytest.mark.parametrize("labels,num_classes,error,message", [
    (np.array([0, 3, 10]), 10, RuntimeError, r"one_hot: labels must be in \[0, 10\) for num_classes=10, got range \[0, 10\]"),
    (np.array([-1, 2]), 10, RuntimeError, r"one_hot: labels must be in \[0, 10\) for num_classes=10, got range \[-1, 2\]"),
    (np.array([1.0, 2.0]), 10, RuntimeError, r"one_hot: labels must be integers, got dtype float64"),
    (np.array([True, False]), 10, RuntimeError, r"one_hot: labels must be integers, got dtype bool"),
    (np.array([[1, 2]]), 10, ValueError, r"one_hot: expected labels of shape \(N,\), got shape \(1, 2\)"),
    (np.array(3), 10, ValueError, r"one_hot: expected labels of shape \(N,\), got shape \(\)"),
    ([1, 2], 10, TypeError, r"one_hot\(\): argument 'labels' must be Tensor, not list; make one with tinygen.tensor"),
    (np.array([1, 2]), 2.5, TypeError, r"one_hot: num_classes must be an int, got float 2.5"),
    (np.array([0]), 0, ValueError, r"one_hot: num_classes must be >= 1, got 0"),
])
def test_one_hot_refuses_bad_labels_naming_itself(labels, num_classes, error, message):
    with pytest.raises(error, match=message):
        F.one_hot(tinygen.tensor(labels) if isinstance(labels, np.ndarray) else labels, num_classes)


@pytest.mark.parametrize("labels,num_classes", [([0, 3, 10], 10), ([-1, 2], 10), ([1.0, 2.0], 10), ([True], 10)])
def test_one_hot_refuses_what_torch_refuses_with_torchs_exception(labels, num_classes):
    torch = pytest.importorskip("torch")
    with pytest.raises(RuntimeError):
        torch.nn.functional.one_hot(torch.tensor(labels), num_classes)
    with pytest.raises(RuntimeError, match="one_hot: labels must be"):
        F.one_hot(tinygen.tensor(np.array(labels)), num_classes)


def test_an_empty_batch_of_labels_gives_no_rows():
    assert F.one_hot(np.zeros(0, dtype=np.int64), 10).shape == (0, 10)
