"""The sample-quality metrics tell real digits from noise and from a single repeated digit; the
matching of an unsupervised code to the digits is the best one-to-one map."""
import itertools
import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tinygen import metrics
from strategies import medium
from script_runs import run_python


@pytest.fixture(scope="module")
def classifier(mnist_dir):
    model, reference, description = metrics.load_classifier(mnist_dir, verbose=False)
    return model, reference


def test_held_out_real_digits_score_high(classifier, mnist_dir):
    model, reference = classifier
    real = reference[:1000]
    probabilities, features = metrics.predict(model, real)
    labels = metrics.reference_data(mnist_dir).labels[:1000]
    assert (probabilities.argmax(1) == labels).mean() > 0.9  # the classifier itself is good
    assert metrics.classifier_score(probabilities) > 7.5
    _, covered = metrics.class_coverage(probabilities)
    assert covered == 10
    other_half = metrics.predict(model, reference[1000:])[1]
    noise = np.random.default_rng(0).random((1000, 28, 28), dtype=np.float32)
    real_to_real = metrics.frechet_distance(features, other_half)  # > 0 only by sampling error
    noise_to_real = metrics.frechet_distance(metrics.predict(model, noise)[1], other_half)
    assert real_to_real < noise_to_real / 10


def test_noise_scores_low_and_far(classifier):
    model, reference = classifier
    noise = np.random.default_rng(0).random((1000, 28, 28), dtype=np.float32)
    probabilities, features = metrics.predict(model, noise)
    assert metrics.classifier_score(probabilities) < 2.5
    assert metrics.frechet_distance(features, metrics.predict(model, reference)[1]) > 200


def test_a_single_repeated_digit_has_coverage_one(classifier):
    model, reference = classifier
    same = np.repeat(reference[:1], 500, axis=0)
    probabilities, _ = metrics.predict(model, same)
    histogram, covered = metrics.class_coverage(probabilities)
    assert covered == 1 and max(histogram) == 500
    assert metrics.classifier_score(probabilities) == pytest.approx(1.0, abs=1e-3)


def test_frechet_distance_of_known_gaussians():
    """For Gaussians the distance has a closed form: N(0, I) vs N(m, 4I) in d dims gives |m|^2 + d."""
    rng = np.random.default_rng(0)
    d, n = 4, 200_000
    a = rng.standard_normal((n, d))
    b = 2 * rng.standard_normal((n, d)) + np.array([1.0, 0, 0, 0])
    # Tr(I + 4I - 2 (4I)^(1/2)) = d (1 + 4 - 4) = d
    assert metrics.frechet_distance(a, b) == pytest.approx(1.0 + d, rel=0.02)


def test_command_line_prints_json(classifier, mnist_dir, tmp_path):
    model, reference = classifier
    path = tmp_path / "samples.npy"
    np.save(path, reference[:300])
    status, stdout, stderr = run_python("tinygen.metrics", path, "--data-dir", mnist_dir, module=True, timeout=300)
    assert status == 0, stderr
    result = json.loads(stdout.strip().splitlines()[-1])
    assert result["samples"] == 300 and result["classes_covered"] == 10


def test_samples_outside_unit_range_are_refused(mnist_dir):
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        metrics.evaluate(np.full((200, 28, 28), 2.0), mnist_dir, verbose=False)


def test_a_damaged_classifier_cache_is_made_again_from_the_shipped_weights(mnist_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    (tmp_path / metrics.CLASSIFIER_FILE).write_bytes(b"PK\x03\x04 cut short")
    monkeypatch.setattr(metrics, "train_classifier", lambda *a, **k: pytest.fail("trained, though weights ship"))
    model, _, _ = metrics.load_classifier(mnist_dir, verbose=False)
    shipped = metrics.tinygen.load(metrics.SHIPPED_CLASSIFIER)["model"]
    for name, value in model.state_dict().items():
        np.testing.assert_array_equal(value.numpy(), shipped[name].numpy(), err_msg=name)
    cached = metrics.tinygen.load(tmp_path / metrics.CLASSIFIER_FILE)
    assert cached["trained_on"] == "MNIST train split; reference: test split" and "reference" in cached


def test_a_cached_classifier_with_other_weights_gives_way_to_the_shipped_one(mnist_dir, tmp_path, monkeypatch):
    """A classifier trained here before the weights shipped (the same data, other weights): every
    machine measures with the shipped weights, so the cache is made again from them."""
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    other = metrics.MnistClassifier()  # untrained: other weights
    metrics.tinygen.save({"model": other.state_dict(), "trained_on": "MNIST train split; reference: test split"},
                         tmp_path / metrics.CLASSIFIER_FILE)
    model, _, _ = metrics.load_classifier(mnist_dir, verbose=False)
    shipped = metrics.tinygen.load(metrics.SHIPPED_CLASSIFIER)["model"]
    assert metrics._same_weights(model.state_dict(), shipped)
    assert metrics._same_weights(metrics.tinygen.load(tmp_path / metrics.CLASSIFIER_FILE)["model"], shipped)


def test_without_weights_that_fit_the_data_the_classifier_is_trained_and_cached(mnist_dir, tmp_path, monkeypatch):
    """Where the shipped weights do not fit (here: missing; on a machine with only the test split:
    trained on other digits), the classifier is trained on first use, and cached."""
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    monkeypatch.setattr(metrics, "SHIPPED_CLASSIFIER", tmp_path / "none.npz")
    trained = []
    monkeypatch.setattr(metrics, "train_classifier", lambda *a, **k: trained.append(1) or metrics.MnistClassifier().eval())
    model, _, _ = metrics.load_classifier(mnist_dir, verbose=False)
    assert trained == [1] and isinstance(model, metrics.MnistClassifier)
    assert metrics.tinygen.load(tmp_path / metrics.CLASSIFIER_FILE)["trained_on"].startswith("MNIST")


def test_the_shipped_weights_say_what_they_were_trained_on():
    shipped = metrics.tinygen.load(metrics.SHIPPED_CLASSIFIER)
    assert shipped["trained_on"] == "MNIST train split; reference: test split"
    assert sorted(shipped["model"]) == sorted(metrics.MnistClassifier().state_dict())
    assert metrics.SHIPPED_CLASSIFIER.stat().st_size < 1_000_000  # the weights alone, no reference


@pytest.mark.slow
def test_the_shipped_classifier_is_what_train_classifier_makes(mnist_dir):
    """train_classifier on the training split, as on first use before the weights shipped: here
    (the machine that made them) the same weights to the bit; on another machine, whose BLAS may
    round otherwise, a classifier that reads the test digits alike (99% the same digit, accuracy
    within 0.3 points)."""
    train_images, train_labels, reference, labels, _ = metrics.reference_data(mnist_dir)
    fresh = metrics.train_classifier(train_images, train_labels, verbose=False)
    shipped = metrics.MnistClassifier()
    shipped.load_state_dict(metrics.tinygen.load(metrics.SHIPPED_CLASSIFIER)["model"])
    same_bits = all(np.array_equal(value.numpy(), shipped.state_dict()[name].numpy())
                    for name, value in fresh.state_dict().items())
    read = {name: metrics.predict(model.eval(), reference)[0].argmax(axis=1) for name, model in
            [("fresh", fresh), ("shipped", shipped)]}
    accuracy = {name: float(np.mean(digits == labels)) for name, digits in read.items()}
    agreement = float(np.mean(read["fresh"] == read["shipped"]))
    print(f"\nthe same bits: {same_bits}; the same digit on {agreement:.4f} of the test digits; accuracy {accuracy}")
    assert agreement >= 0.99 and abs(accuracy["fresh"] - accuracy["shipped"]) <= 0.003
    assert accuracy["shipped"] > 0.98


def test_the_cached_reference_predictions_are_the_classifiers_own(mnist_dir, tmp_path, monkeypatch):
    """evaluate() reads the reference digits' probabilities and features from the cache, where the
    classifier was saved with them: they equal predicting them afresh, and a cache from before they
    were kept (the weights alone) is completed on first use."""
    model, reference, description = metrics.load_classifier(mnist_dir, verbose=False)
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    metrics.tinygen.save({"model": model.state_dict(), "trained_on": description}, tmp_path / metrics.CLASSIFIER_FILE)
    fresh = metrics.predict(model, reference)
    for _ in range(2):  # the old cache, then the completed one
        *_, (probabilities, features) = metrics._load_and_keep_the_generator(mnist_dir, verbose=False)
        np.testing.assert_array_equal(probabilities, fresh[0])
        np.testing.assert_array_equal(features, fresh[1])
        assert probabilities.dtype == fresh[0].dtype and features.dtype == fresh[1].dtype
        assert "reference" in metrics.tinygen.load(tmp_path / metrics.CLASSIFIER_FILE)
    samples = np.random.default_rng(0).random((300, 28, 28), dtype=np.float32)
    p_fake, f_fake = metrics.predict(model, samples)
    found = metrics.evaluate(samples, mnist_dir, verbose=False)
    assert found["frechet_distance"] == round(metrics.frechet_distance(f_fake, fresh[1]), 3)
    assert found["classifier_score_real"] == round(metrics.classifier_score(fresh[0]), 3)


@pytest.mark.parametrize("cached", [True, False])
def test_loading_the_classifier_leaves_the_random_generator_as_it_was(mnist_dir, tmp_path, monkeypatch, cached):
    """A training run that measures at an epoch's end must draw the same numbers after it as a run
    that does not (--no-metrics): building or training the classifier draws from the generator."""
    if not cached:  # an empty cache: the classifier is built and trained (its training stubbed here)
        monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
        def train_classifier(*args, **kwargs):
            metrics.tinygen.randn(10)  # as training does: shuffles, initial weights
            return metrics.MnistClassifier().eval()
        monkeypatch.setattr(metrics, "train_classifier", train_classifier)
    metrics.tinygen.manual_seed(3)
    expected = metrics.tinygen.randn(5).numpy()
    metrics.tinygen.manual_seed(3)
    metrics.load_classifier(mnist_dir, verbose=False)
    np.testing.assert_array_equal(metrics.tinygen.randn(5).numpy(), expected)

# ---------------------------------------------------------------------------------------------
# Code purity: an unsupervised code (InfoGAN's) against the digits, after matching codes to digits


def brute_force_matching(confusion):
    """The most images a one-to-one map of codes to digits matches, trying every map."""
    n_codes, n_digits = confusion.shape
    return max(sum(confusion[k, d] for k, d in enumerate(digits))
               for digits in itertools.permutations(range(n_digits), n_codes))


@medium
@given(order=st.permutations(range(10)), n=st.integers(1, 100))
def test_a_permuted_perfect_code_is_matched_fully(order, n):
    """Code k draws only digit order[k]: the numbering differs, the code is perfect."""
    confusion = n * np.eye(10, dtype=np.int64)[order]
    found = metrics.match_codes(confusion)
    assert found == {"code_purity": 1.0, "code_matched_accuracy": 1.0, "code_to_digit": list(order)}


def test_two_codes_drawing_the_same_digit_are_pure_but_only_one_is_matched():
    confusion = 100 * np.eye(10, dtype=np.int64)
    confusion[3] = 0
    confusion[3, 8] = 100  # codes 3 and 8 both draw eights; nobody draws a three
    found = metrics.match_codes(confusion)
    assert found["code_purity"] == 1.0 and found["code_matched_accuracy"] == 0.9
    assert sorted(found["code_to_digit"]) == list(range(10))  # one-to-one: distinct digits
    assert {found["code_to_digit"][3], found["code_to_digit"][8]} == {3, 8}


@medium
@given(data=st.data(), n_codes=st.integers(1, 6), extra_digits=st.integers(0, 2))
def test_the_matching_is_the_best_one_to_one_map(data, n_codes, extra_digits):
    n_digits = n_codes + extra_digits
    confusion = np.array(data.draw(st.lists(st.lists(st.integers(0, 20), min_size=n_digits, max_size=n_digits),
                                            min_size=n_codes, max_size=n_codes)), dtype=np.int64)
    confusion[0, 0] += 1  # not all zero
    found = metrics.match_codes(confusion)
    digits, total = found["code_to_digit"], confusion.sum()
    assert len(set(digits)) == n_codes and all(0 <= d < n_digits for d in digits)
    assert found["code_matched_accuracy"] == confusion[np.arange(n_codes), digits].sum() / total  # the map it gives
    assert found["code_matched_accuracy"] == brute_force_matching(confusion) / total  # is the best
    assert found["code_purity"] == confusion.max(axis=1).sum() / total >= found["code_matched_accuracy"]


def test_the_matching_of_ten_codes_equals_scipys_assignment():
    optimize = pytest.importorskip("scipy.optimize")
    rng = np.random.default_rng(0)
    for _ in range(20):
        confusion = rng.integers(0, 100, (10, 10))
        codes, digits = optimize.linear_sum_assignment(confusion, maximize=True)
        found = metrics.match_codes(confusion)
        assert found["code_matched_accuracy"] == pytest.approx(confusion[codes, digits].sum() / confusion.sum(), abs=1e-15)


@pytest.mark.parametrize("confusion,message", [
    (np.ones((11, 10), np.int64), r"match_codes: expected confusion counts \(K codes, D digits\) with 1 <= K <= D, "
                                  r"got shape \(11, 10\)"),
    (np.ones(10, np.int64), r"got shape \(10,\)"),
    (np.full((10, 10), 0.5), r"match_codes: confusion must hold counts \(integers >= 0, not all 0\), got dtype "
                             r"float64 in \[0.5, 0.5\]"),
    (-np.ones((3, 10), np.int64), r"got dtype int64 in \[-1, -1\]"),
    (np.zeros((10, 10), np.int64), r"got dtype int64 in \[0, 0\]"),
])
def test_bad_confusion_counts_are_refused(confusion, message):
    with pytest.raises(ValueError, match=message):
        metrics.match_codes(confusion)


@pytest.mark.parametrize("shape,value,message", [
    ((11, 5, 28, 28), 0.5, r"code_purity: samples_by_code of shape \(11, 5, 28, 28\); expected \(K, n, 28, 28\) "
                           r"with 1 <= K <= 10, row k the images generated with code k"),
    ((10, 0, 28, 28), 0.5, r"code_purity: samples_by_code of shape \(10, 0, 28, 28\)"),
    ((1000, 28, 28), 0.5, r"code_purity: samples_by_code of shape \(1000, 28, 28\)"),
    ((10, 5, 28, 28), 255.0, r"code_purity: samples_by_code must be in \[0, 1\], got values in \[255, 255\]"),
])
def test_bad_samples_by_code_are_refused(shape, value, message):
    with pytest.raises(ValueError, match=message):
        metrics.code_purity(np.full(shape, value, np.float32))


def test_code_purity_of_real_digits_under_permuted_codes(classifier, mnist_dir):
    """Row k holds 50 held-out real images of digit order[k]: the classifier reads the code as
    that digit, so the matching recovers `order` and both scores are near 1."""
    _, reference = classifier
    labels = metrics.reference_data(mnist_dir).labels
    order = [3, 1, 4, 0, 5, 9, 2, 6, 8, 7]
    by_code = np.stack([reference[labels == digit][:50] for digit in order])
    found = metrics.code_purity(by_code, mnist_dir)
    assert found["code_to_digit"] == order
    assert found["code_matched_accuracy"] > 0.9 and found["code_purity"] >= found["code_matched_accuracy"]
    confusion = np.array(found["code_confusion"])
    assert confusion.shape == (10, 10) and confusion.sum() == 500 and (confusion.sum(axis=1) == 50).all()
