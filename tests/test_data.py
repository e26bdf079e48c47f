"""tinygen.data: IDX files, checksums, downloads (simulated: no network), datasets and DataLoader."""
import gzip
import hashlib
import io
import os

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
from tinygen import data
from tinygen.data import MNIST, CorruptFileError, DataLoader, FashionMNIST, read_idx, write_idx

TEST_FILES = ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def random_images(n, rows=28, cols=28, seed=0):
    return np.random.default_rng(seed).integers(0, 256, size=(n, rows, cols), dtype=np.uint8)


def random_labels(n, seed=0):
    return np.random.default_rng(seed).integers(0, 10, size=n, dtype=np.uint8)


def md5_of_bytes(data_bytes):
    return hashlib.md5(data_bytes).hexdigest()


def write_split(folder, images, labels, gzipped=True):
    """Write a fake test split (images and labels as IDX files) into folder; returns the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    names = TEST_FILES if gzipped else tuple(data.unzipped_name(name) for name in TEST_FILES)
    write_idx(folder / names[0], images)
    write_idx(folder / names[1], labels)
    return folder / names[0], folder / names[1]


def fake_dataset_class(mirror_folders, served_folder):
    """An MNIST whose mirrors are file:// folders and whose checksums are those of the files served."""

    class FakeMNIST(MNIST):
        mirrors = [folder.as_uri() + "/" for folder in mirror_folders]
        md5 = {name: md5_of_bytes((served_folder / name).read_bytes()) for name in TEST_FILES}

    return FakeMNIST


@pytest.fixture
def served(tmp_path):
    """A folder with a small fake test split (gzipped), to serve as a download mirror."""
    folder = tmp_path / "mirror"
    images, labels = random_images(7), random_labels(7)
    write_split(folder, images, labels)
    return folder, images, labels


def files_in(folder):
    return sorted(p.name for p in folder.rglob("*") if p.is_file()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------
# IDX parsing


@pytest.mark.parametrize("suffix", [".gz", ""])
@settings(deadline=None, max_examples=20)
@given(shape=st.lists(st.integers(0, 6), min_size=1, max_size=4), seed=st.integers(0, 2**16))
def test_idx_round_trip(tmp_path_factory, suffix, shape, seed):
    array = np.random.default_rng(seed).integers(0, 256, size=shape, dtype=np.uint8)
    path = tmp_path_factory.mktemp("idx") / ("array.idx" + suffix)
    write_idx(path, array)
    back = read_idx(path, ndim=len(shape))
    assert back.dtype == np.uint8 and back.shape == tuple(shape)
    np.testing.assert_array_equal(back, array)


def test_idx_header_is_the_published_layout(tmp_path):
    path = tmp_path / "images.idx"
    write_idx(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    raw = path.read_bytes()
    assert raw[:4] == bytes([0, 0, 0x08, 3])  # magic 0x00000803
    assert raw[4:16] == bytes([0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4])  # big-endian sizes
    assert raw[16:] == bytes(range(24))


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_wrong_magic_is_refused(tmp_path, suffix):
    path = tmp_path / ("labels-idx1-ubyte" + suffix)
    write_idx(path, random_labels(10))
    with pytest.raises(CorruptFileError, match=r"magic number 0x00000801, expected 0x00000803") as error:
        read_idx(path, ndim=3)  # a label file where images are expected
    assert str(path) in str(error.value)


def test_wrong_type_code_is_refused(tmp_path):
    path = tmp_path / "floats.idx"
    path.write_bytes(bytes([0, 0, 0x0D, 1]) + (3).to_bytes(4, "big") + bytes(12))  # 0x0D: float32
    with pytest.raises(CorruptFileError, match="magic number 0x00000D01"):
        read_idx(path, ndim=1)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_truncated_payload_is_refused(tmp_path, suffix):
    whole = tmp_path / "whole.idx"
    write_idx(whole, random_images(3))
    path = tmp_path / ("cut.idx" + suffix)
    cut = whole.read_bytes()[:-5]
    path.write_bytes(gzip.compress(cut) if suffix else cut)
    with pytest.raises(CorruptFileError, match=r"truncated.*\(3, 28, 28\) = 2352 values, but 2347 bytes") as error:
        read_idx(path, ndim=3)
    assert str(path) in str(error.value)


@pytest.mark.parametrize("suffix", [".gz", ""])
def test_extra_bytes_are_refused(tmp_path, suffix):
    whole = tmp_path / "whole.idx"
    write_idx(whole, random_labels(4))
    path = tmp_path / ("long.idx" + suffix)
    longer = whole.read_bytes() + b"\x00"
    path.write_bytes(gzip.compress(longer) if suffix else longer)
    with pytest.raises(CorruptFileError, match="extra bytes"):
        read_idx(path, ndim=1)


@pytest.mark.parametrize("length", [0, 3, 9])
def test_file_shorter_than_its_header_is_refused(tmp_path, length):
    path = tmp_path / "short.idx"
    path.write_bytes((bytes([0, 0, 8, 3]) + bytes(12))[:length])
    with pytest.raises(CorruptFileError, match=str(path)):
        read_idx(path, ndim=3)


def test_corrupt_gzip_is_refused(tmp_path):
    path = tmp_path / "garbage.gz"
    path.write_bytes(b"this is not gzip at all")
    with pytest.raises(CorruptFileError, match=r"garbage.gz: cannot decompress"):
        read_idx(path, ndim=1)


def test_cut_off_gzip_is_refused(tmp_path):
    path = tmp_path / "cut.gz"
    write_idx(path, random_images(5))
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CorruptFileError, match=r"cut.gz: cannot decompress"):
        read_idx(path, ndim=3)


def test_damaged_gzip_is_refused(tmp_path):
    path = tmp_path / "damaged.gz"
    write_idx(path, random_images(5))
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF  # one flipped byte in the compressed stream
    path.write_bytes(bytes(damaged))
    with pytest.raises(CorruptFileError, match=r"damaged.gz: cannot decompress"):
        read_idx(path, ndim=3)


# ---------------------------------------------------------------------------------------------
# Datasets from local folders (download=False, raw files: no checksum involved)


@pytest.mark.parametrize("subfolder", ["", "mnist"])
def test_local_raw_files_load_from_root_or_its_dataset_folder(tmp_path, subfolder):
    images, labels = random_images(6), random_labels(6)
    write_split(tmp_path / subfolder, images, labels, gzipped=False)
    dataset = MNIST(tmp_path, split="test", download=False)
    assert len(dataset) == 6
    assert dataset.images.dtype == np.uint8 and dataset.images.shape == (6, 28, 28)
    assert dataset.labels.dtype == np.int64 and dataset.labels.shape == (6,)
    np.testing.assert_array_equal(dataset.images, images)
    np.testing.assert_array_equal(dataset.labels, labels)
    image, label = dataset[2]
    np.testing.assert_array_equal(image, images[2])
    assert label == labels[2]


def test_count_mismatch_between_images_and_labels_is_refused(tmp_path):
    write_split(tmp_path, random_images(5), random_labels(4), gzipped=False)
    with pytest.raises(CorruptFileError, match="holds 5 images but .*t10k-labels-idx1-ubyte holds 4 labels"):
        MNIST(tmp_path, split="test", download=False)


def test_wrong_image_size_is_refused(tmp_path):
    write_split(tmp_path, random_images(3, rows=27), random_labels(3), gzipped=False)
    with pytest.raises(CorruptFileError, match=r"images of size \(27, 28\), expected \(28, 28\)"):
        MNIST(tmp_path, split="test", download=False)


def test_label_out_of_range_is_refused(tmp_path):
    write_split(tmp_path, random_images(3), np.array([1, 10, 2], dtype=np.uint8), gzipped=False)
    with pytest.raises(CorruptFileError, match="label 10 found, expected 0..9"):
        MNIST(tmp_path, split="test", download=False)


def test_unknown_split_is_refused(tmp_path):
    with pytest.raises(ValueError, match="split must be one of"):
        MNIST(tmp_path, split="validation")


def test_gz_on_disk_with_wrong_checksum_is_refused(tmp_path):
    write_split(tmp_path, random_images(3), random_labels(3))  # not the published files
    with pytest.raises(CorruptFileError, match="MD5 is .*, expected 9fb629c4189551a2d022fa330f9573f3"):
        MNIST(tmp_path, split="test", download=False)


def test_checksum_of_a_file_on_disk_is_computed_once(served, monkeypatch):
    folder, _, _ = served
    dataset_class = fake_dataset_class([], folder)
    computed = []
    original_md5_of = data.md5_of
    monkeypatch.setattr(data, "md5_of", lambda path: computed.append(path) or original_md5_of(path))
    dataset_class(folder, split="test", download=False)
    dataset_class(folder, split="test", download=False)
    assert len(computed) == 2  # two files, each checked once
    os.utime(folder / TEST_FILES[0], ns=(1, 1))  # a changed file is checked again
    dataset_class(folder, split="test", download=False)
    assert len(computed) == 3


def test_offline_without_files_says_what_to_put_where(tmp_path):
    empty_mirror = tmp_path / "empty-mirror"
    empty_mirror.mkdir()

    class OfflineMNIST(MNIST):
        mirrors = [empty_mirror.as_uri() + "/"]  # answers "no such file", as an unreachable host would

    root = tmp_path / "root"
    with pytest.raises(FileNotFoundError) as error:
        OfflineMNIST(root, split="test")
    message = str(error.value)
    assert "t10k-images-idx3-ubyte.gz" in message and "t10k-labels-idx1-ubyte.gz" in message
    assert str(root / "mnist") in message and "TINYGEN_DATA" in message and "root=" in message
    assert "Download failed" in message and empty_mirror.as_uri() in message
    assert files_in(root) == []


def test_download_false_names_the_missing_file(tmp_path):
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", random_labels(3))  # only the labels are there
    with pytest.raises(FileNotFoundError, match=r"missing t10k-images-idx3-ubyte.gz\.\nPut it") as error:
        MNIST(tmp_path, split="test", download=False)
    assert "download=False" in str(error.value)


def test_default_root_is_tinygen_data(tmp_path, monkeypatch):
    images, labels = random_images(4), random_labels(4)
    write_split(tmp_path / "mnist", images, labels, gzipped=False)
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path))
    assert data.default_root() == tmp_path
    dataset = MNIST(split="test", download=False)
    assert dataset.root == tmp_path
    np.testing.assert_array_equal(dataset.labels, labels)
    assert MNIST.find_root("test") == tmp_path
    monkeypatch.delenv("TINYGEN_DATA")
    assert data.default_root() == data.pathlib.Path("~/.cache/tinygen").expanduser()


def test_find_root_looks_in_the_given_folders_first(tmp_path, monkeypatch):
    monkeypatch.setenv("TINYGEN_DATA", str(tmp_path / "empty-cache"))
    write_split(tmp_path / "here", random_images(2), random_labels(2))
    assert MNIST.find_root("test", folders=[tmp_path / "nothing", tmp_path / "here"]) == tmp_path / "here"
    assert MNIST.find_root("train", folders=[tmp_path / "here"]) is None
    assert FashionMNIST.find_root("test", folders=[tmp_path / "nothing"]) is None


# ---------------------------------------------------------------------------------------------
# Downloads, simulated with file:// mirrors and a fake URL opener


def test_download_from_a_mirror(served, tmp_path, capsys):
    folder, images, labels = served
    dataset_class = fake_dataset_class([folder], folder)
    root = tmp_path / "root"
    dataset = dataset_class(root, split="test")
    np.testing.assert_array_equal(dataset.images, images)
    np.testing.assert_array_equal(dataset.labels, labels)
    assert files_in(root) == sorted(TEST_FILES)  # in root/mnist, and no temporary files left
    assert (root / "mnist" / TEST_FILES[0]).read_bytes() == (folder / TEST_FILES[0]).read_bytes()
    assert "downloading t10k-images-idx3-ubyte.gz" in capsys.readouterr().err  # the progress bar


def test_first_mirror_failing_falls_back_to_the_next(served, tmp_path):
    folder, images, _ = served
    dataset_class = fake_dataset_class([tmp_path / "no-such-mirror", folder], folder)
    dataset = dataset_class(tmp_path / "root", split="test")
    np.testing.assert_array_equal(dataset.images, images)


def test_checksum_mismatch_is_refused_and_nothing_kept(served, tmp_path):
    folder, _, _ = served
    dataset_class = fake_dataset_class([folder], folder)
    dataset_class.md5 = dict(dataset_class.md5, **{TEST_FILES[0]: "0" * 32})
    root = tmp_path / "root"
    with pytest.raises(CorruptFileError, match=r"refused: its MD5 is [0-9a-f]{32}, expected 0{32}"):
        dataset_class(root, split="test")
    assert files_in(root) == []


def test_a_mirror_with_wrong_bytes_is_not_skipped(served, tmp_path):
    """Wrong bytes need a person to look: the loader stops instead of trying the next mirror."""
    folder, _, _ = served
    bad = tmp_path / "bad-mirror"
    write_split(bad, random_images(7, seed=1), random_labels(7, seed=1))
    dataset_class = fake_dataset_class([bad, folder], folder)
    with pytest.raises(CorruptFileError, match="refused"):
        dataset_class(tmp_path / "root", split="test")
    assert files_in(tmp_path / "root") == []


class FailingResponse(io.BytesIO):
    """An HTTP response that sends `good_bytes` bytes and then fails with `error`."""

    def __init__(self, payload, good_bytes, error):
        super().__init__(payload)
        self.headers = {"Content-Length": str(len(payload))}
        self.good_bytes, self.error = good_bytes, error

    def read(self, size=-1):
        if self.tell() >= self.good_bytes:
            raise self.error
        return super().read(min(size, self.good_bytes - self.tell()))


@pytest.mark.parametrize("error, expected", [
    (ConnectionResetError("connection reset"), FileNotFoundError),  # the network: a failed download
    (KeyboardInterrupt(), KeyboardInterrupt),                          # Ctrl-C: passed on
])
def test_interrupted_download_leaves_no_file(served, tmp_path, monkeypatch, error, expected):
    folder, _, _ = served
    payload = (folder / TEST_FILES[0]).read_bytes()
    opened = []

    def fake_urlopen(url, timeout=None):
        opened.append(url)
        return FailingResponse(payload, good_bytes=len(payload) // 2, error=error)

    monkeypatch.setattr(data.urllib.request, "urlopen", fake_urlopen)
    dataset_class = fake_dataset_class([folder], folder)
    root = tmp_path / "root"
    with pytest.raises(expected):
        dataset_class(root, split="test")
    assert opened  # the fake opener was used
    assert files_in(root) == []  # neither a half file nor a temporary one


def test_download_function_is_atomic_on_checksum_error(served, tmp_path):
    folder, _, _ = served
    target = tmp_path / "out" / TEST_FILES[1]
    with pytest.raises(CorruptFileError):
        data.download((folder / TEST_FILES[1]).as_uri(), target, "f" * 32)
    assert files_in(tmp_path / "out") == []
    data.download((folder / TEST_FILES[1]).as_uri(), target, md5_of_bytes((folder / TEST_FILES[1]).read_bytes()))
    assert files_in(tmp_path / "out") == [TEST_FILES[1]]


def test_published_names_checksums_and_mirrors():
    for dataset_class in (MNIST, FashionMNIST):
        assert set(dataset_class.md5) == {name for pair in dataset_class.files.values() for name in pair}
        assert len(dataset_class.mirrors) >= 2 and all(m.endswith("/") for m in dataset_class.mirrors)
        assert len(dataset_class.classes) == 10
    assert MNIST.md5["train-images-idx3-ubyte.gz"] == "f68b3c2dcbeaaa9fbdd348bbdeb94873"
    assert FashionMNIST.md5["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert FashionMNIST.name != MNIST.name  # their files share names, so they need their own folders


# ---------------------------------------------------------------------------------------------
# Transforms


def test_arrays_scale_and_shape(tmp_path):
    images = np.array([[[0, 255] * 14] * 28] * 3, dtype=np.uint8)
    write_split(tmp_path, images, random_labels(3), gzipped=False)
    dataset = MNIST(tmp_path, split="test", download=False)
    unit, labels = dataset.arrays(scale="unit")
    assert unit.dtype == np.float32 and unit.shape == (3, 1, 28, 28)
    assert unit.min() == 0.0 and unit.max() == 1.0
    assert labels.dtype == np.int64
    symmetric, _ = dataset.arrays(scale="symmetric", flatten=True)
    assert symmetric.dtype == np.float32 and symmetric.shape == (3, 784)
    assert symmetric.min() == -1.0 and symmetric.max() == 1.0
    np.testing.assert_allclose(symmetric.reshape(3, 1, 28, 28), 2 * unit - 1, atol=1e-6)
    with pytest.raises(ValueError, match="scale must be"):
        dataset.arrays(scale="standard")
    x, y = dataset.tensors(flatten=True)
    assert isinstance(x, tinygen.Tensor) and x.shape == (3, 784) and x.dtype == np.float32
    assert y.dtype == np.int64


# ---------------------------------------------------------------------------------------------
# DataLoader


def epoch_indices(loader):
    """The items of one epoch, when the loader serves (arange(n), 2 * arange(n))."""
    batches = list(loader)
    for x, y in batches:
        np.testing.assert_array_equal(y.numpy(), 2 * x.numpy())  # labels stay with their items
    return [x.numpy() for x, _ in batches]


@settings(deadline=None, max_examples=60)
@given(n=st.integers(1, 50), batch_size=st.integers(1, 60), shuffle=st.booleans(), drop_last=st.booleans(),
       seed=st.integers(0, 100))
def test_loader_visits_every_item_once_per_epoch(n, batch_size, shuffle, drop_last, seed):
    loader = DataLoader((np.arange(n), 2 * np.arange(n)), batch_size=batch_size, shuffle=shuffle, seed=seed,
                        drop_last=drop_last)
    batches = epoch_indices(loader)
    assert len(batches) == len(loader) == (n // batch_size if drop_last else -(-n // batch_size))
    assert all(len(b) == batch_size for b in batches[:-1])
    seen = np.concatenate(batches) if batches else np.array([], dtype=int)
    if drop_last:
        assert len(seen) == (n // batch_size) * batch_size and len(set(seen)) == len(seen)
    else:
        assert sorted(seen) == list(range(n))
        assert len(batches[-1]) == n - (len(batches) - 1) * batch_size
    if not shuffle:
        np.testing.assert_array_equal(seen, np.arange(len(seen)))


def test_loader_with_seed_is_repeatable_and_epochs_differ():
    arrays = (np.arange(100), 2 * np.arange(100))
    first = DataLoader(arrays, batch_size=10, shuffle=True, seed=7)
    second = DataLoader(arrays, batch_size=10, shuffle=True, seed=7)
    epochs_first = [np.concatenate(epoch_indices(first)) for _ in range(3)]
    epochs_second = [np.concatenate(epoch_indices(second)) for _ in range(3)]
    for a, b in zip(epochs_first, epochs_second):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(epochs_first[0], epochs_first[1])
    assert not np.array_equal(epochs_first[1], epochs_first[2])
    assert not np.array_equal(epochs_first[0], np.arange(100))
    other_seed = np.concatenate(epoch_indices(DataLoader(arrays, batch_size=10, shuffle=True, seed=8)))
    assert not np.array_equal(other_seed, epochs_first[0])
    resumed = DataLoader(arrays, batch_size=10, shuffle=True, seed=7)
    resumed.set_epoch(2)
    np.testing.assert_array_equal(np.concatenate(epoch_indices(resumed)), epochs_first[2])


def test_loader_without_seed_follows_manual_seed():
    arrays = (np.arange(50), 2 * np.arange(50))
    tinygen.manual_seed(3)
    a = np.concatenate(epoch_indices(DataLoader(arrays, batch_size=7, shuffle=True)))
    tinygen.manual_seed(3)
    b = np.concatenate(epoch_indices(DataLoader(arrays, batch_size=7, shuffle=True)))
    np.testing.assert_array_equal(a, b)


def test_loader_batches_are_tensors_on_the_device(device):
    images = np.random.default_rng(0).random((10, 1, 28, 28), dtype=np.float32)
    labels = np.arange(10)
    loader = DataLoader((tinygen.tensor(images), labels), batch_size=4, device=device)
    x, y = next(iter(loader))
    assert isinstance(x, tinygen.Tensor) and isinstance(y, tinygen.Tensor)
    assert x.device == device and y.device == device
    assert x.shape == (4, 1, 28, 28) and x.dtype == np.float32 and y.dtype == labels.dtype
    np.testing.assert_array_equal(x.numpy(), images[:4])
    assert not x.requires_grad


def test_loader_of_one_array_gives_single_tensors():
    batches = list(DataLoader(np.arange(5), batch_size=2))
    assert all(isinstance(b, tinygen.Tensor) for b in batches)
    assert [b.tolist() for b in batches] == [[0, 1], [2, 3], [4]]


def test_loader_of_a_dataset_uses_its_arrays(tmp_path):
    images, labels = random_images(5), random_labels(5)
    write_split(tmp_path, images, labels, gzipped=False)
    loader = DataLoader(MNIST(tmp_path, split="test", download=False), batch_size=5)
    x, y = next(iter(loader))
    assert x.shape == (5, 1, 28, 28) and x.dtype == np.float32
    np.testing.assert_allclose(x.numpy()[:, 0], images / 255, atol=1e-7)
    np.testing.assert_array_equal(y.numpy(), labels)


def test_loader_refuses_bad_arguments():
    with pytest.raises(ValueError, match="same length"):
        DataLoader((np.arange(5), np.arange(4)), batch_size=2)
    with pytest.raises(ValueError, match="batch_size"):
        DataLoader(np.arange(5), batch_size=0)


# ---------------------------------------------------------------------------------------------
# The real MNIST test split


def test_real_mnist_test_split(mnist_dir):
    dataset = MNIST(mnist_dir, split="test", download=False)
    assert len(dataset) == 10_000
    assert dataset.images.shape == (10_000, 28, 28) and dataset.images.dtype == np.uint8
    assert dataset.labels.shape == (10_000,) and dataset.labels.dtype == np.int64
    assert set(np.unique(dataset.labels)) == set(range(10))
    assert dataset.images.min() == 0 and dataset.images.max() == 255
    assert dataset.labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test digits
    # Every class is common (about 1,000 each), and the images are digits: dark background, bright strokes.
    assert np.bincount(dataset.labels).min() > 800
    assert 0.10 < dataset.images.mean() / 255 < 0.15
