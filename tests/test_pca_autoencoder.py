"""End to end: a linear autoencoder trained with tinygen learns PCA, on real MNIST digits.

Theory (Baldi & Hornik, 1989): for centred data X, the autoencoder x -> D E x with E: R^784 -> R^k
and D: R^k -> R^784 and squared error has one global minimum up to an invertible k x k mix
(D, E) -> (D A, A^-1 E), and there D spans exactly the top-k principal subspace; every other
critical point is a saddle. Its error is the PCA optimum (Eckart-Young): the variance left out,
    min MSE = (lambda_{k+1} + ... + lambda_784) / 784,
with lambda_i the eigenvalues of the covariance X^T X / N (the mean is over the N * 784 values).

So after training, the principal angles between D's column space and the top-k right singular
vectors of X must be near 0, and the MSE near that optimum. A wrong gradient anywhere in
linear -> mse_loss -> backward -> Adam leaves D's columns at random directions: principal angles
near 90 degrees in 784 dimensions.

How near depends on the eigen-gap: turning D by an angle theta from v_k towards v_{k+1} costs only
about (lambda_k - lambda_{k+1}) sin^2(theta) / 784 of error, so a small gap makes that direction
slow to learn. We take k = 6, where MNIST's spectrum has a large gap (lambda_6 / lambda_7 ~ 1.22 on
these images; at k = 8 it is ~ 1.08 and needs many more steps).
"""
import time

import numpy as np
import scipy.linalg

import tinygen
from tinygen import optim
from tinygen.data import MNIST
from tinygen.models.autoencoder import Autoencoder
from tinygen.nn import functional as F

K = 6
NUM_IMAGES = 2000  # a subset keeps the test fast; PCA is computed on the same subset
STEPS = 300  # largest principal angle 0.14 degrees after 300 (6.3 after 200, 0.014 after 500)
LEARNING_RATE = 0.02  # lowered tenfold for the last fifth of the steps, to settle Adam's jitter
MAX_ANGLE_DEGREES = 5.0
MAX_EXCESS_MSE = 0.01  # within 1% of the PCA optimum


def centred_images(mnist_dir):
    images, _ = MNIST(mnist_dir, split="test", download=False).arrays(scale="unit", flatten=True)
    images = images[:NUM_IMAGES]
    return images - images.mean(axis=0)


def principal_components(x, k):
    """The top-k principal directions (784, k) and all eigenvalues of the covariance, by SVD."""
    _, singular_values, vt = np.linalg.svd(x.astype(np.float64), full_matrices=False)
    eigenvalues = singular_values**2 / len(x)
    return vt[:k].T, eigenvalues


def train_linear_autoencoder(x, k):
    tinygen.manual_seed(0)
    model = Autoencoder(k, linear=True)  # the example's --linear: 784 -> k -> 784, no nonlinearity
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATE)
    batch = tinygen.tensor(x.reshape(-1, 1, 28, 28))  # full batch
    for step in range(STEPS):
        if step == int(0.8 * STEPS):
            optimizer.lr = LEARNING_RATE / 10
        loss = F.mse_loss(model(batch), batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with tinygen.no_grad():
        final_mse = F.mse_loss(model(batch), batch).item()
    return model, final_mse


def test_linear_autoencoder_spans_the_principal_subspace(mnist_dir):
    x = centred_images(mnist_dir)
    components, eigenvalues = principal_components(x, K)
    assert eigenvalues[K - 1] > 1.15 * eigenvalues[K], "the eigen-gap this test relies on is missing"
    pca_mse = eigenvalues[K:].sum() / 784

    start = time.perf_counter()
    model, mse = train_linear_autoencoder(x, K)
    seconds = time.perf_counter() - start

    decoder_columns = model.decoder.net[0].weight.numpy().astype(np.float64)  # (784, k): the decoder's column space
    angles = np.degrees(scipy.linalg.subspace_angles(decoder_columns, components))
    print(f"\nprincipal angles (degrees): {np.round(np.sort(angles)[::-1], 3)}")
    print(f"MSE {mse:.6f}, PCA optimum {pca_mse:.6f}, ratio {mse / pca_mse:.5f}; {STEPS} steps in {seconds:.1f}s")

    assert angles.max() < MAX_ANGLE_DEGREES
    assert mse < (1 + MAX_EXCESS_MSE) * pca_mse
    assert mse > (1 - 1e-3) * pca_mse  # nothing linear of rank k can beat PCA (only float32 rounding)
