"""Sample quality for MNIST-like images, measured with a small classifier trained by tinygen itself.

For generated images x (N, 28, 28) in [0, 1], with the classifier's p(y|x) and features f(x):

  classifier score  exp( E_x KL(p(y|x) || p(y)) ),  p(y) = E_x p(y|x)
                    The Inception-score analogue: high (up to 10) when every image is clearly one
                    digit and all ten digits appear; 1 when all images look alike or like nothing.
  Frechet distance  |m_g - m_r|^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))  between Gaussians fitted to
                    the features of generated and real images (the FID analogue): 0 when they match.
  class coverage    the histogram of predicted digits, and how many digits get at least 1%.

The classifier (two strided convolutions and two linear layers) is trained on first use and its
weights cached next to the MNIST files it was trained on, so later calls load it.

Command line:  python -m tinygen.metrics samples.npy [--data-dir DIR]  prints the metrics as JSON.
"""
import argparse
import json

import numpy as np

import tinygen
from tinygen import data, nn, optim
import tinygen.nn.functional as F

CLASSIFIER_FILE = "mnist_classifier.npz"
HELD_OUT = 2000  # when only the test split is at hand, its last 2000 images are kept for validation


class MnistClassifier(nn.Module):
    """28x28 -> conv 4x4/2 (16) -> conv 4x4/2 (32) -> 128 features -> 10 logits."""

    def __init__(self):
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.LeakyReLU(0.1),  # 28 -> 14
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.1),  # 14 -> 7
            nn.Flatten(), nn.Linear(32 * 7 * 7, 128), nn.LeakyReLU(0.1),
        )
        self.head = nn.Linear(128, 10)

    def features(self, images):
        return self.body(images.reshape(images.shape[0], 1, 28, 28))

    def forward(self, images):
        return self.head(self.features(images))


def _batches(n, size):
    return [(start, min(start + size, n)) for start in range(0, n, size)]


def train_classifier(images, labels, epochs=4, batch_size=128, seed=0, verbose=True):
    """Train the classifier on images (N, 28, 28) in [0, 1] and integer labels; returns it."""
    tinygen.manual_seed(seed)
    model = MnistClassifier()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    rng = np.random.default_rng(seed)
    for epoch in range(epochs):
        order = rng.permutation(len(images))
        for start, stop in _batches(len(images), batch_size):
            index = order[start:stop]
            loss = F.cross_entropy(model(tinygen.Tensor(images[index])), labels[index])
            opt.zero_grad()
            loss.backward()
            opt.step()
        if verbose:
            print(f"metrics classifier: epoch {epoch + 1}/{epochs}, last batch loss {loss.item():.3f}")
    return model.eval()


def predict(model, images, batch_size=500):
    """Class probabilities (N, 10) and features (N, 128) of images (N, 28, 28) in [0, 1]."""
    images = np.asarray(images, dtype=np.float32)
    probabilities, features = [], []
    with tinygen.no_grad():
        for start, stop in _batches(len(images), batch_size):
            f = model.features(tinygen.Tensor(images[start:stop]))
            probabilities.append(F.softmax(model.head(f), dim=1).numpy())
            features.append(f.numpy())
    return np.concatenate(probabilities), np.concatenate(features).astype(np.float64)


def classifier_score(probabilities, eps=1e-12):
    """exp( mean over images of KL(p(y|x) || p(y)) )."""
    marginal = probabilities.mean(axis=0, keepdims=True)
    kl = (probabilities * (np.log(probabilities + eps) - np.log(marginal + eps))).sum(axis=1)
    return float(np.exp(kl.mean()))


def frechet_distance(features_a, features_b):
    """|m_a - m_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) of the Gaussians fitted to two feature sets.

    Tr (S_a S_b)^(1/2) is computed as the sum of the square roots of the eigenvalues of the
    symmetric matrix S_a^(1/2) S_b S_a^(1/2), which has the same eigenvalues as S_a S_b.
    """
    mean_a, mean_b = features_a.mean(axis=0), features_b.mean(axis=0)
    cov_a, cov_b = np.cov(features_a, rowvar=False), np.cov(features_b, rowvar=False)
    eigenvalues, eigenvectors = np.linalg.eigh(cov_a)
    sqrt_a = (eigenvectors * np.sqrt(np.clip(eigenvalues, 0, None))) @ eigenvectors.T
    cross = np.linalg.eigvalsh(sqrt_a @ cov_b @ sqrt_a)
    trace_sqrt = np.sqrt(np.clip(cross, 0, None)).sum()
    return float(((mean_a - mean_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_sqrt)


def class_coverage(probabilities, threshold=0.01):
    """Histogram of predicted digits and the number of digits predicted for >= threshold of images."""
    counts = np.bincount(probabilities.argmax(axis=1), minlength=10)
    return counts.tolist(), int((counts >= threshold * len(probabilities)).sum())


# ---------------------------------------------------------------------------------------------
# The classifier on disk, the real reference images, and the metrics together


def _reference_data(data_dir):
    """(train images, train labels, held-out real images, description) from the MNIST at hand.

    With the training split the classifier trains on it and the test split is the reference;
    with only the test split (as on machines without the 60,000 training images) it trains on
    the first 8,000 test images and the last 2,000, never trained on, are the reference.
    """
    try:
        train = data.MNIST(root=data_dir, split="train", download=data_dir is None)
        test = data.MNIST(root=data_dir, split="test", download=data_dir is None)
        return *scaled(train), scaled(test)[0], "MNIST train split; reference: test split"
    except FileNotFoundError:
        test = data.MNIST(root=data_dir, split="test", download=data_dir is None)
        images, labels = scaled(test)
        return (images[:-HELD_OUT], labels[:-HELD_OUT], images[-HELD_OUT:],
                f"MNIST test split without its last {HELD_OUT}; reference: those {HELD_OUT}")


def scaled(dataset):
    """Images in [0, 1] as (N, 28, 28) float32, and labels."""
    return dataset.images.astype(np.float32) / 255, dataset.labels


def load_classifier(data_dir=None, verbose=True):
    """The classifier and the real reference images; trained on first use and cached.

    The weights are cached in the library's cache folder ($TINYGEN_DATA, else ~/.cache/tinygen)
    with a note of what they were trained on; a cache trained on other data is not used.
    """
    train_images, train_labels, reference, description = _reference_data(data_dir)
    model = MnistClassifier()
    cache = data.default_root() / CLASSIFIER_FILE
    if cache.exists():
        saved = tinygen.load(cache)
        if saved.get("trained_on") == description:
            model.load_state_dict(saved["model"])
            return model.eval(), reference, description
    if verbose:
        print(f"metrics: training the MNIST classifier once ({description}); it is cached in {cache}")
    model = train_classifier(train_images, train_labels, verbose=verbose)
    tinygen.save({"model": model.state_dict(), "trained_on": description}, cache)
    return model, reference, description


def evaluate(samples, data_dir=None, verbose=True):
    """All metrics of generated images (N, 28, 28) or (N, 784) in [0, 1], as a dict."""
    samples = np.asarray(samples, dtype=np.float32).reshape(-1, 28, 28)
    if samples.min() < 0 or samples.max() > 1 or not np.isfinite(samples).all():
        raise ValueError(f"metrics: samples must be finite and in [0, 1], got range [{samples.min()}, {samples.max()}]")
    model, reference, description = load_classifier(data_dir, verbose)
    p_fake, f_fake = predict(model, samples)
    p_real, f_real = predict(model, reference)
    histogram, covered = class_coverage(p_fake)
    return {
        "samples": len(samples),
        "classifier_score": round(classifier_score(p_fake), 3),
        "classifier_score_real": round(classifier_score(p_real), 3),
        "frechet_distance": round(frechet_distance(f_fake, f_real), 3),
        "classes_covered": covered,
        "class_histogram": histogram,
        "classifier": description,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Sample quality of generated MNIST-like images.")
    parser.add_argument("samples", help=".npy file of images (N, 28, 28) in [0, 1]")
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST files")
    args = parser.parse_args(argv)
    result = evaluate(np.load(args.samples, allow_pickle=False), args.data_dir, verbose=False)
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
