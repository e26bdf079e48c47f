"""An exponential moving average of a model's weights (Karras et al. 2018's G_ema; PyTorch's
torch.optim.swa_utils.AveragedModel with an EMA update):

    average_p <- decay * average_p + (1 - decay) * p       for every parameter p
    average_b <- b                                          for every buffer (BatchNorm statistics)

The average is a second copy of the model (make it with copy.deepcopy(G)), so it is a Module with
the same state_dict keys and goes into checkpoints like any other. It changes in place, without
recording a graph. Starting from a copy, after k updates with a model that stays at p the
average is p + decay^k (average_0 - p): it has closed 1 - decay^k of the gap.
"""
from tinygen import nn
from tinygen.autograd import no_grad
from tinygen.functional.checks import check_real


def update_average_(average, model, decay):
    """Move every parameter of `average` towards `model`'s by (1 - decay); copy the buffers."""
    for name, value in (("average", average), ("model", model)):
        if not isinstance(value, nn.Module):
            raise TypeError(f"update_average_: {name} must be an nn.Module, got {type(value).__name__}")
    decay = check_real("update_average_", "decay", decay)
    if not 0 <= decay <= 1:
        raise ValueError(f"update_average_: decay must be in [0, 1], got {decay}")
    averaged, current = average.state_dict(), model.state_dict()
    for (a_name, a), (m_name, m) in zip(averaged.items(), current.items()):  # first mismatch first
        if a_name != m_name or a.shape != m.shape:
            raise ValueError(f"update_average_: the average and the model differ at '{a_name}' {a.shape} "
                             f"against '{m_name}' {m.shape}; the average must be a copy of the model")
    if len(averaged) != len(current):
        raise ValueError(f"update_average_: the average has {len(averaged)} tensors and the model {len(current)}; "
                         f"the average must be a copy of the model")
    with no_grad():
        for (_, a), (_, p) in zip(average.named_parameters(), model.named_parameters()):
            a.data[...] = decay * a.data + (1 - decay) * p.data
            a._bump_version()
        for (_, a), (_, b) in zip(average.named_buffers(), model.named_buffers()):
            a.data[...] = b.data
            a._bump_version()
    return average
