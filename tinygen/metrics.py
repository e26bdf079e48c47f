"""Sample quality for MNIST-like images, measured with a small classifier trained by tinygen itself.

For generated images x (N, 28, 28) in [0, 1], with the classifier's p(y|x) and features f(x):

  classifier score  exp( E_x KL(p(y|x) || p(y)) ),  p(y) = E_x p(y|x)
                    The Inception-score analogue: high (up to 10) when every image is clearly one
                    digit and all ten digits appear; 1 when all images look alike or like nothing.
  Frechet distance  |m_g - m_r|^2 + Tr(S_g + S_r - 2 (S_g S_r)^(1/2))  between Gaussians fitted to
                    the features of generated and real images (the FID analogue): 0 when they match.
  class coverage    the histogram of predicted digits, and how many digits get at least 1%.
  class accuracy    for a conditional model: how often images asked for digit k are read as k.
  code purity       for an unsupervised code (InfoGAN's): how well the codes pick digits, after
                    matching codes to digits (many-to-one purity, one-to-one matched accuracy).

The classifier (two strided convolutions and two linear layers) is `train_classifier`'s: 4 epochs
of Adam on the 60,000 training digits, seed 0. Its weights ship with tinygen
(tinygen/weights/mnist_classifier.npz, 0.8 MB, made by that function on the development machine),
so that every machine with the training split measures with the same classifier (a cached one
with other weights is replaced) and none need train it; the reference digits' predictions are
computed on first use and cached with the weights in the library's cache folder ($TINYGEN_DATA,
else ~/.cache/tinygen). Where only the test split is at hand, the classifier is trained on its
first 8,000 digits on first use and cached the same way.

What they accept: grey 28x28 images, (N, 28, 28), (N, 1, 28, 28) or (N, 784), with values in
[0, 1], as the examples write them, and at least MIN_SAMPLES of them (see `check_samples`).

Command line:  python -m tinygen.metrics samples.npy [--data-dir DIR]  prints the metrics as JSON.
"""
import json
import os
import pathlib
from typing import NamedTuple

import numpy as np

import tinygen
from tinygen import backend, data, nn, optim
from tinygen.cli import ArgumentParser, UsageError, check_data_dir, data_error, run
from tinygen.serialization import CheckpointError
import tinygen.nn.functional as F

CLASSIFIER_FILE = "mnist_classifier.npz"
# The weights train_classifier gave on the training split, shipped with the library (no reference in it).
SHIPPED_CLASSIFIER = pathlib.Path(__file__).resolve().parent / "weights" / CLASSIFIER_FILE
HELD_OUT = 2000  # when only the test split is at hand, its last 2000 images are kept for validation
FEATURES = 128  # the classifier's feature size, in which the Frechet distance is measured
# The Frechet distance fits a FEATURES x FEATURES covariance to the samples' features; with fewer
# than FEATURES + 1 images it is singular (rank N - 1), and one image has none at all (N - 1 = 0).
MIN_SAMPLES = FEATURES + 1
IMAGE_SHAPES = {(28, 28): "(N, 28, 28)", (1, 28, 28): "(N, 1, 28, 28)", (784,): "(N, 784)"}  # after N


class MnistClassifier(nn.Module):
    """28x28 -> conv 4x4/2 (16) -> conv 4x4/2 (32) -> 128 features -> 10 logits."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 16, 4, stride=2, padding=1), nn.LeakyReLU(0.1),  # 28 -> 14
            nn.Conv2d(16, 32, 4, stride=2, padding=1), nn.LeakyReLU(0.1),  # 14 -> 7
            nn.Flatten(), nn.Linear(32 * 7 * 7, FEATURES), nn.LeakyReLU(0.1),
        )
        self.head = nn.Linear(FEATURES, 10)

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


class ReferenceData(NamedTuple):
    """The digits the classifier trains on, and the real digits that samples are compared with."""
    train_images: np.ndarray
    train_labels: np.ndarray
    images: np.ndarray  # the reference: never seen by the classifier
    labels: np.ndarray
    description: str


def reference_data(data_dir=None, training=True):
    """The classifier's training digits and the held-out reference digits, from the MNIST at hand.

    With the training split the classifier trains on it and the whole test split is the reference;
    with only the test split (as on machines without the 60,000 training images) it trains on
    the first 8,000 test images and the last 2,000, never trained on, are the reference.
    training=False leaves the training digits out (None): a classifier read from the cache does
    not need them, and scaling 60,000 images to floats costs a quarter of a second.
    """
    try:
        train = data.MNIST(root=data_dir, split="train", download=data_dir is None)
        test = data.MNIST(root=data_dir, split="test", download=data_dir is None)
        train_images, train_labels = scaled(train) if training else (None, None)
        return ReferenceData(train_images, train_labels, *scaled(test), "MNIST train split; reference: test split")
    except FileNotFoundError:
        test = data.MNIST(root=data_dir, split="test", download=data_dir is None)
        images, labels = scaled(test)
        train_images, train_labels = (images[:-HELD_OUT], labels[:-HELD_OUT]) if training else (None, None)
        return ReferenceData(train_images, train_labels, images[-HELD_OUT:], labels[-HELD_OUT:],
                             f"MNIST test split without its last {HELD_OUT}; reference: those {HELD_OUT}")


def scaled(dataset):
    """Images in [0, 1] as (N, 28, 28) float32, and labels."""
    return data.scale_images(dataset.images, "unit"), dataset.labels


def load_classifier(data_dir=None, verbose=True):
    """The classifier and the real reference images: read from the library's cache folder
    ($TINYGEN_DATA, else ~/.cache/tinygen), else from the weights shipped with tinygen (trained on
    the training split), else trained now (only the test split at hand), and cached.

    The cache notes what the weights were trained on; a cache trained on other data is not used.
    Building (and training) the classifier draws from tinygen's random generator; its state is put
    back after, so that measuring during a training run does not change the run.
    """
    return _load_and_keep_the_generator(data_dir, verbose)[:3]


# A process reads the classifier and its reference once, and keeps them here for its later calls
# (a training run measures at every epoch's end): {the cache's identity: what _load_classifier gave}.
_loaded = {}


def _cache_identity(data_dir):
    """The data folder asked for and the cache file as it is on disk (None while there is none):
    a cache trained or written again since is read again."""
    cache = data.default_root() / CLASSIFIER_FILE
    try:
        found = cache.stat()
    except OSError:
        return None
    return str(data_dir), str(cache), found.st_size, found.st_mtime_ns


def _load_and_keep_the_generator(data_dir, verbose):
    identity = _cache_identity(data_dir)
    if identity in _loaded:
        return _loaded[identity]
    state = backend.get_rng_state()
    try:
        loaded = _load_classifier(data_dir, verbose)
    finally:
        backend.set_rng_state(state)
    for kept in (loaded[1], *loaded[3]):  # shared by every later call: nobody may write to them
        kept.flags.writeable = False
    identity = _cache_identity(data_dir)
    if identity is not None:
        _loaded[identity] = loaded
    return loaded


def _load_classifier(data_dir, verbose):
    """(model, reference images, description, the reference's (probabilities, features)).

    The reference's probabilities and features are the same for every evaluation (one model, one
    reference): they are computed once, with the classifier, and cached with it."""
    _, _, reference, _, description = reference_data(data_dir, training=False)
    model = MnistClassifier()
    cache = data.default_root() / CLASSIFIER_FILE
    shipped = tinygen.load(SHIPPED_CLASSIFIER) if SHIPPED_CLASSIFIER.is_file() else {}
    fits = shipped.get("trained_on") == description  # the weights that ship with tinygen fit this data
    if cache.exists():
        try:
            saved = tinygen.load(cache)
            if saved.get("trained_on") == description and (not fits or _same_weights(saved["model"], shipped["model"])):
                model.load_state_dict(saved["model"])
                model.eval()
                if "reference" in saved and len(saved["reference"]["features"]) == len(reference):
                    found = saved["reference"]
                    return model, reference, description, (found["probabilities"].numpy(),  # float32, as predict's
                                                           found["features"].numpy().astype(np.float64))
                return model, reference, description, _cache(cache, model, description, reference)
        except (CheckpointError, KeyError, TypeError, ValueError) as error:  # a damaged cache: made again
            if verbose:
                print(f"metrics: the cached classifier cannot be used ({error})")
    if fits:  # no cache, or one with other weights (trained here before the weights shipped): the shipped ones
        model.load_state_dict(shipped["model"])
        model.eval()
        return model, reference, description, _cache(cache, model, description, reference)
    if verbose:
        print(f"metrics: training the MNIST classifier once ({description}); it is cached in {cache}")
    train_images, train_labels = reference_data(data_dir)[:2]  # only now: the cache could not be used
    model = train_classifier(train_images, train_labels, verbose=verbose)
    return model, reference, description, _cache(cache, model, description, reference)


def _same_weights(one, other):
    """Two state dicts (name -> Tensor) with the same names and the same values to the bit."""
    return sorted(one) == sorted(other) and all(np.array_equal(one[name].numpy(), other[name].numpy()) for name in one)


def _cache(path, model, description, reference):
    """Save the classifier with the reference's predictions; returns those predictions."""
    probabilities, features = predict(model, reference)
    try:
        tinygen.save({"model": model.state_dict(), "trained_on": description,
                      "reference": {"probabilities": probabilities,  # float32 both, as the classifier made them
                                    "features": features.astype(np.float32)}}, path)
    except OSError as error:  # a cache that cannot be written: the classifier is still good, for this call
        print(f"metrics: could not cache the classifier in {path} ({error.strerror}); it is used now and "
              f"trained again next time (set TINYGEN_DATA to a writable folder to keep it)")
    return probabilities, features


def check_samples(samples):
    """Generated images as float32 (N, 28, 28), once they are what the metrics measure.

    ValueError, saying what is wrong and what is accepted, for: other shapes (colour, channels
    last, other sizes, a single image without N), fewer than MIN_SAMPLES images, values that are
    not numbers, NaN or infinite, or outside [0, 1] (with a hint for [0, 255] and [-1, 1]).
    """
    samples = samples.numpy() if isinstance(samples, tinygen.Tensor) else np.asarray(samples)
    if samples.dtype.kind not in "biuf":
        raise ValueError(f"metrics: samples must be numbers, got an array of dtype {samples.dtype}")
    if samples.shape[1:] not in IMAGE_SHAPES:
        *others, last = IMAGE_SHAPES.values()
        raise ValueError(f"metrics: samples of shape {samples.shape}; expected grey 28x28 images of shape "
                         f"{', '.join(others)} or {last}")
    if len(samples) < MIN_SAMPLES:
        raise ValueError(f"metrics: too few images ({len(samples)}); the Frechet distance fits a {FEATURES}x{FEATURES} "
                         f"covariance to their features, which needs at least {MIN_SAMPLES} images (1000 give "
                         f"stable numbers)")
    samples = samples.astype(np.float32).reshape(len(samples), 28, 28)
    bad = int(np.count_nonzero(~np.isfinite(samples)))
    if bad:
        raise ValueError(f"metrics: {bad} of the samples' values are NaN or infinite")
    low, high = float(samples.min()), float(samples.max())
    if low < 0 or high > 1:
        hint = ("; pixels of 0..255? divide them by 255" if low >= 0 else
                "; tanh output in [-1, 1]? map it to [0, 1] with (x + 1) / 2" if low >= -1 and high <= 1 else "")
        raise ValueError(f"metrics: samples must be in [0, 1], got values in [{low:g}, {high:g}]{hint}")
    return samples


def evaluate(samples, data_dir=None, verbose=True):
    """All metrics of generated images (N, 28, 28), (N, 1, 28, 28) or (N, 784) in [0, 1], as a dict."""
    samples = check_samples(samples)
    model, _, description, (p_real, f_real) = _load_and_keep_the_generator(data_dir, verbose)
    p_fake, f_fake = predict(model, samples)
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


def read_rows(samples, where, name, expected, rows_fit, data_dir=None):
    """The digit the classifier reads in each image of `samples` (rows, n, 28, 28) in [0, 1], as
    int (rows, n); a ValueError naming `where` and `name` if the shape (rows_fit(rows) and n >= 1)
    or the values are not that."""
    samples = np.asarray(samples)
    if samples.ndim != 4 or not rows_fit(samples.shape[0]) or samples.shape[1] < 1 or samples.shape[2:] != (28, 28):
        raise ValueError(f"{where}: {name} of shape {samples.shape}; expected {expected}")
    if not (samples.min() >= 0 and samples.max() <= 1):  # NaN fails both
        raise ValueError(f"{where}: {name} must be in [0, 1], got values in [{samples.min():g}, {samples.max():g}]")
    classifier, _, _ = load_classifier(data_dir)
    probabilities, _ = predict(classifier, samples.reshape(-1, 28, 28))
    return probabilities.argmax(axis=1).reshape(samples.shape[:2])


def class_accuracy(samples_by_class, data_dir=None):
    """How often the classifier reads the images of row k of samples_by_class (10, n, 28, 28), in
    [0, 1], as digit k: overall and per digit (a conditional model's images, row k asked for digit
    k). Chance is 0.1, and so is the most a model that ignores the label can score: it gives one
    image per code, read as one digit, right in one row of ten at most."""
    read_as = read_rows(samples_by_class, "class_accuracy", "samples_by_class",
                        "(10, n, 28, 28), row k the images generated for digit k", lambda rows: rows == 10, data_dir)
    correct = read_as == np.arange(10)[:, None]
    return {"class_accuracy": float(correct.mean()), "class_accuracy_per_digit": correct.mean(axis=1).tolist()}


def code_purity(samples_by_code, data_dir=None):
    """How well an unsupervised code (InfoGAN's categorical c) picks the digit, read by the classifier.

    samples_by_code: (K, n, 28, 28) in [0, 1], K <= 10, row k the images generated with code k.
    The code's numbering is arbitrary (code 3 may draw sevens), so the counts are compared with
    the digits only after matching codes to digits (see `match_codes`). Returns a dict with the
    confusion counts code x digit, code_purity (many-to-one), code_matched_accuracy (one-to-one)
    and code_to_digit (the one-to-one matching: code k -> digit).
    """
    read_as = read_rows(samples_by_code, "code_purity", "samples_by_code",
                        "(K, n, 28, 28) with 1 <= K <= 10, row k the images generated with code k",
                        lambda rows: 1 <= rows <= 10, data_dir)
    confusion = (read_as[:, :, None] == np.arange(10)).sum(axis=1)  # (K, 10): images of code k read as digit d
    return {"code_confusion": confusion.tolist(), **match_codes(confusion)}


def match_codes(confusion):
    """Match codes to digits given confusion (K, D) (K <= D): the images of code k read as digit d.

      purity            sum_k max_d confusion[k, d] / N: each code mapped to its most frequent digit,
                        several codes may map to one digit (a code that merges 4 and 9 loses little)
      matched accuracy  max over one-to-one maps m (distinct digits) of sum_k confusion[k, m(k)] / N:
                        two codes drawing the same digit can be right for only one of them

    The best one-to-one map is found exactly by dynamic programming over the subsets of digits:
    best[S] is the most images codes 0..|S|-1 can match using exactly the digits in S (a bit mask),
    and best[S + {d}] = max(best[S] + confusion[|S|, d]) over the digits d not in S: 2^D x D
    steps (10,240 for ten digits), not the 10! = 3.6 million orders of trying every map.
    Returns {"code_purity", "code_matched_accuracy", "code_to_digit": [m(0), ..., m(K-1)]}.
    """
    confusion = np.asarray(confusion)
    if confusion.ndim != 2 or not 1 <= confusion.shape[0] <= confusion.shape[1]:
        raise ValueError(f"match_codes: expected confusion counts (K codes, D digits) with 1 <= K <= D, "
                         f"got shape {confusion.shape}")
    if confusion.dtype.kind not in "iu" or confusion.min() < 0 or confusion.sum() == 0:
        raise ValueError(f"match_codes: confusion must hold counts (integers >= 0, not all 0), got dtype "
                         f"{confusion.dtype} in [{confusion.min():g}, {confusion.max():g}]")
    n_codes, n_digits = confusion.shape
    best = {0: (0, [])}  # digits used (bit mask) -> (images matched, digits given to codes 0..k-1)
    for code in range(n_codes):
        grown = {}
        for used, (matched, digits) in best.items():
            for digit in range(n_digits):
                if not used >> digit & 1:
                    candidate = matched + int(confusion[code, digit])
                    if candidate > grown.get(used | 1 << digit, (-1,))[0]:
                        grown[used | 1 << digit] = (candidate, digits + [digit])
        best = grown
    matched, code_to_digit = max(best.values(), key=lambda found: found[0])
    total = int(confusion.sum())
    return {"code_purity": float(confusion.max(axis=1).sum() / total), "code_matched_accuracy": matched / total,
            "code_to_digit": code_to_digit}


# ---------------------------------------------------------------------------------------------
# The command line: a mistake in what it is given is one line on stderr and exit status 2

PROG = "python -m tinygen.metrics"
NPY_MAGIC = b"\x93NUMPY"  # the first bytes of every .npy file


def read_samples(path):
    """The array in the .npy file `path`, or a UsageError saying what the file is instead."""
    if os.path.isdir(path):
        inside = os.path.join(path, "samples.npy")
        hint = f"; did you mean {inside}?" if os.path.isfile(inside) else "; give the .npy file of samples"
        raise UsageError(f"{path} is a folder{hint}")
    if not os.path.isfile(path):
        raise UsageError(f"{path}: no such file; give the samples.npy that an example wrote (in its --out folder)")
    try:
        with open(path, "rb") as file:
            start = file.read(len(NPY_MAGIC))
    except OSError as error:  # e.g. no permission to read it
        raise UsageError(f"{path} cannot be read ({error.strerror})") from None
    if start != NPY_MAGIC:
        what = "it is an .npz archive of several arrays" if start.startswith(b"PK") else f"it begins with {start!r}"
        raise UsageError(f"{path} is not an .npy file ({what}); give a file written by np.save, such as samples.npy")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, EOFError, OSError) as error:
        raise UsageError(f"{path} cannot be read as an array of numbers ({error})") from None


def main(argv=None):
    parser = ArgumentParser(prog=PROG, description="Sample quality of generated MNIST-like images: the classifier "
                            "score (10 at best), the Frechet distance to held-out real digits (0 at best) and how "
                            "many of the ten digits appear, printed as one line of JSON.")
    parser.add_argument("samples", help=f".npy file of at least {MIN_SAMPLES} grey 28x28 images, shape (N, 28, 28), "
                        "(N, 1, 28, 28) or (N, 784), values in [0, 1] (the examples write samples.npy)")
    parser.add_argument("--data-dir", default=None, help="folder with the MNIST files (default: $TINYGEN_DATA or "
                        "~/.cache/tinygen, downloading them if missing)")
    args = parser.parse_args(argv)
    try:
        samples = check_samples(read_samples(args.samples))
    except ValueError as error:
        raise UsageError(f"{args.samples}: {str(error).removeprefix('metrics: ')}") from None
    check_data_dir(args.data_dir, "test", suggest_split=False)
    try:
        result = evaluate(samples, args.data_dir, verbose=False)
    except (FileNotFoundError, data.CorruptFileError) as error:  # MNIST missing, or a damaged copy
        raise data_error(error) from None
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    run(main, PROG)
