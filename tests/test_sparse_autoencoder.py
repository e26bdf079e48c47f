"""The sparse autoencoder: its penalties' formulas and errors, and on real digits (slow tier) the
property that defines it, a sparse code (mean activation near rho with KL; most activations near
zero with L1) from an overcomplete network that, unpenalised, keeps a dense one."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinygen
from tinygen.gradcheck import gradcheck
from tinygen.models.sparse_autoencoder import SparseAutoencoder, kl_sparsity_penalty, l1_penalty

from autoencoder_training import digits, mse, outputs, train_with_step
from sparse_autoencoder_mnist import sparse_step
from strategies import cheap

RHO, BETA = 0.1, 3.0  # Ng's notes
L1_WEIGHT = 1.0
STEPS = 400  # batches of 32
CODE = 1000  # overcomplete: more units than the 784 pixels

codes = hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=st.floats(0.01, 0.99))


@cheap
@given(codes, st.floats(0.01, 0.99))
def test_kl_penalty_is_the_sum_of_bernoulli_kls(code, rho):
    q = code.mean(axis=0)
    expected = np.sum(rho * np.log(rho / q) + (1 - rho) * np.log((1 - rho) / (1 - q)))
    np.testing.assert_allclose(kl_sparsity_penalty(tinygen.tensor(code), rho).item(), expected, rtol=1e-10, atol=1e-12)


@cheap
@given(codes)
def test_l1_penalty_is_the_mean_l1_norm_of_the_codes(code):
    expected = np.abs(code).sum(axis=1).mean()
    np.testing.assert_allclose(l1_penalty(tinygen.tensor(code)).item(), expected, rtol=1e-10)


def test_l1_penalty_counts_negative_activations_by_their_size():
    """|h|, not h: a code of any sign (the function takes any code, not only sigmoid ones)."""
    code = np.array([[-1.0, 2.0], [3.0, -4.0]])  # row norms 3 and 7
    assert l1_penalty(tinygen.tensor(code)).item() == 5.0


def test_kl_penalty_is_zero_at_rho_and_positive_elsewhere():
    at_rho = tinygen.full((4, 3), 0.1, dtype="float64")
    assert kl_sparsity_penalty(at_rho, 0.1).item() == pytest.approx(0, abs=1e-12)
    assert kl_sparsity_penalty(at_rho, 0.2).item() > 0


@cheap
@given(codes, st.floats(0.05, 0.95))
def test_penalty_gradients(code, rho):
    x = tinygen.tensor(code, requires_grad=True)
    assert gradcheck(lambda c: kl_sparsity_penalty(c, rho), [x])
    assert gradcheck(l1_penalty, [x])


def test_kl_penalty_refuses_rho_outside_0_1():
    code = tinygen.rand(4, 3)
    for rho in (0, 1, 1.5, -0.1):
        with pytest.raises(ValueError, match=rf"kl_sparsity_penalty: rho must be in \(0, 1\), got {rho}"):
            kl_sparsity_penalty(code, rho)
    with pytest.raises(TypeError, match="kl_sparsity_penalty: rho must be a real number, got str '0.1'"):
        kl_sparsity_penalty(code, "0.1")


def test_kl_penalty_refuses_activations_that_are_no_firing_rates():
    relu_code = tinygen.tensor([[0.5, 3.0], [0.1, 2.0]])  # a ReLU unit's mean can pass 1: no rate
    with pytest.raises(ValueError, match=r"kl_sparsity_penalty: mean activations must be in \[0, 1\] "
                                         r"\(sigmoid units\), got values in \[0.3, 2.5\]"):
        kl_sparsity_penalty(relu_code, 0.1)


def test_penalties_want_codes_of_shape_n_units():
    for penalty in (l1_penalty, lambda c: kl_sparsity_penalty(c, 0.1)):
        with pytest.raises(ValueError, match=r"penalty: expected codes of shape \(N, units\), got \(2, 3, 4\)"):
            penalty(tinygen.rand(2, 3, 4))


# --- on real digits (slow tier: python -m pytest -m slow): three trainings of 400 steps, 11 s on one
# core. The default tier pins the step itself (tests/test_autoencoder_steps.py).


def trained_sparse(images, penalty, beta, seed=0):
    """The example's step (sparse_step): BCE summed over pixels, averaged over images, + beta * penalty(code)."""
    tinygen.manual_seed(seed)
    model = SparseAutoencoder(CODE)
    return train_with_step(model, images, STEPS, lambda m, opt, x: sparse_step(m, opt, x, penalty, beta, RHO))


@pytest.fixture(scope="module")
def trained(mnist_dir):
    train_images, held_out, _, _ = digits(mnist_dir)
    models = {
        "plain": trained_sparse(train_images, "kl", 0.0),  # beta 0: the reconstruction alone
        "kl": trained_sparse(train_images, "kl", BETA),
        "l1": trained_sparse(train_images, "l1", L1_WEIGHT),
    }
    return held_out, {name: (outputs(model, held_out), outputs(model.encoder, held_out)) for name, model in models.items()}


@pytest.mark.slow
def test_kl_sparse_code_has_mean_activation_near_rho(trained):
    held_out, results = trained
    _, kl_code = results["kl"]
    _, plain_code = results["plain"]
    print(f"\nmean held-out activation: KL {kl_code.mean():.4f} (rho {RHO}), unpenalised {plain_code.mean():.4f}")
    assert abs(kl_code.mean() - RHO) < 0.03
    assert plain_code.mean() > 3 * RHO  # without the penalty the same network keeps a dense code


@pytest.mark.slow
def test_l1_sparse_code_is_mostly_near_zero(trained):
    held_out, results = trained
    near_zero = {name: float(np.mean(results[name][1] < 0.05)) for name in ("l1", "plain")}
    print(f"\nactivations below 0.05: L1 {near_zero['l1']:.3f}, unpenalised {near_zero['plain']:.3f}")
    assert near_zero["l1"] > 0.8
    assert near_zero["plain"] < 0.3


@pytest.mark.slow
def test_sparse_reconstructions_are_still_good(trained):
    """Sparse, not useless: each reconstructs held-out digits much better than their mean image does."""
    held_out, results = trained
    mean_image_mse = mse(held_out.mean(axis=0), held_out)
    errors = {name: mse(results[name][0], held_out) for name in results}
    print(f"\nheld-out MSE: {errors}, mean image {mean_image_mse:.4f}")
    for name in ("kl", "l1"):
        assert errors[name] < 0.8 * mean_image_mse, name
