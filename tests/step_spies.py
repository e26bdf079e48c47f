"""Helpers for the tests that pin a two-phase GAN step on tiny networks (test_progan_step.py,
test_stylegan_step.py): an SGD that lets a test look at the networks right after each phase's
update, and a copy of a model's weights."""
import numpy as np

from tinygen import optim


class RecordingSGD(optim.SGD):
    """SGD that calls `after_step()` once it has stepped (to look at both networks between the phases)."""

    def __init__(self, params, after_step=lambda: None, **kwargs):
        super().__init__(params, **kwargs)
        self.after_step = after_step

    def step(self, closure=None):
        out = super().step(closure)
        self.after_step()
        return out


def weights(model):
    """Copies of the model's parameters as NumPy arrays, in order."""
    return [p.numpy().copy() for p in model.parameters()]


def check_each_phase_leaves_the_other_network(run_step, fresh_G, fresh_D):
    """run_step(after_d_step, after_g_step) plays one step, calling after_d_step(G, D, G_ema) right
    after D's SGD step and after_g_step(G, D, G_ema) right after G's, and returns (G, D, G_ema);
    fresh_G, fresh_D: the networks as they start. Right after D's step G and G_ema hold their
    starting weights, bit for bit; right after G's step D holds what D's step gave it; G_ema moves
    only after both; and D, G and G_ema have all moved by the end."""
    seen = {}

    def after_d_step(G, D, G_ema):
        seen["G"], seen["G_ema"], seen["D"] = weights(G), weights(G_ema), weights(D)

    def after_g_step(G, D, G_ema):
        seen["D then"], seen["G_ema then"] = weights(D), weights(G_ema)

    G, D, G_ema = run_step(after_d_step, after_g_step)
    for a, b in zip(seen["G"] + seen["G_ema"] + seen["G_ema then"], weights(fresh_G) * 3):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(seen["D then"], seen["D"]):
        np.testing.assert_array_equal(a, b)
    assert all(any((a != b).any() for a, b in zip(weights(m), weights(fresh)))
               for m, fresh in ((D, fresh_D), (G, fresh_G), (G_ema, fresh_G)))


def check_d_holds_its_own_phase_gradient(G, D, d_grad):
    """After the step D's .grad is the gradient of D's loss alone, d_grad {"U", "v", "b"} (D of a
    hidden layer U and an output layer v, b: it was frozen through G's phase), and every parameter
    of D and G takes gradients again."""
    np.testing.assert_allclose(D.hidden.weight.grad.numpy(), d_grad["U"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(D.out.weight.grad.numpy()[0], d_grad["v"], rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(D.out.bias.grad.numpy()[0], d_grad["b"], rtol=1e-9, atol=1e-12)
    assert all(p.requires_grad for p in D.parameters()) and all(p.requires_grad for p in G.parameters())
