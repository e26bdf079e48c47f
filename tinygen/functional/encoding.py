"""Integer labels as numbers a network can take: one_hot (the conditional models' class input)."""
from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.backend import get_array_module
from tinygen.functional.checks import check_int, not_a_tensor


def one_hot(labels, num_classes):
    """y[i, c] = 1 if labels[i] == c else 0:  integer labels (N,) -> float32 (N, num_classes).

    PyTorch's torch.nn.functional.one_hot, with two differences: the result is float32, not
    int64, so that it can be joined (cat) to images and codes and go into a Linear layer; and
    num_classes must be given (PyTorch's default, the largest label + 1, would make a batch
    without a 9 one column short). Row i is row labels[i] of the identity matrix, picked by one
    fancy index on the labels' device. Labels are a Tensor or an array of integers, 1-D, in
    [0, num_classes); others are refused as PyTorch refuses them (RuntimeError), naming one_hot.
    The result needs no gradient: labels are not differentiable.
    """
    num_classes = check_int("one_hot", "num_classes", num_classes, minimum=1)
    array = labels.data if isinstance(labels, Tensor) else labels
    if not backend.is_array(array):
        raise not_a_tensor("one_hot", "labels", labels)
    if array.dtype.kind not in "iu":  # bool labels too: True is no class
        raise RuntimeError(f"one_hot: labels must be integers, got dtype {array.dtype}")
    if array.ndim != 1:
        raise ValueError(f"one_hot: expected labels of shape (N,), got shape {array.shape}")
    if array.size and (array.min() < 0 or array.max() >= num_classes):  # N labels: a scan of N ints, no more
        raise RuntimeError(f"one_hot: labels must be in [0, {num_classes}) for num_classes={num_classes}, "
                           f"got range [{array.min()}, {array.max()}]")
    xp = get_array_module(array)
    return Tensor(xp.eye(num_classes, dtype=xp.float32)[array])
