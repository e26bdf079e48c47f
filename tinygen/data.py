"""MNIST and Fashion-MNIST from their IDX files, and a DataLoader that serves them in batches.

    train = MNIST(split="train")                  # finds the files, or downloads them once
    images, labels = train.arrays(scale="unit")   # float32 (N, 1, 28, 28) in [0, 1], int64 (N,)
    loader = DataLoader((images, labels), batch_size=128, shuffle=True, seed=0, device="cuda")
    for x, y in loader:                           # tinygen Tensors on the device
        ...

Where the files live. `root` is a folder that holds the four files itself (like a folder you
unpacked them into) or in a subfolder named after the dataset (`mnist/`, `fashion-mnist/`).
Without `root` it is the cache `$TINYGEN_DATA`, or `~/.cache/tinygen` when that is not set.
Downloads go into `<root>/<name>/`. A file may be gzipped (`*.gz`, as published) or unpacked.

Trust. A downloaded file is written to a temporary file beside its final name, checked against
its published MD5, and only then renamed into place, so an interrupted or wrong download never
leaves a file under the real name. A `.gz` already on disk is checked against the same MD5 the
first time this process reads it (the result is remembered by path, size and modification time).
Unpacked files have no published checksum; the IDX reader checks their header and length.

This is host-side file handling, so it uses NumPy directly; DataLoader moves batches to the device.
"""
import gzip
import hashlib
import http.client
import math
import os
import pathlib
import struct
import sys
import urllib.request
import zlib

import numpy
from tqdm.auto import tqdm

from tinygen import backend
from tinygen.autograd import Tensor
from tinygen.files import atomic_write

CHUNK_BYTES = 1 << 16
DOWNLOAD_TIMEOUT_SECONDS = 30


class CorruptFileError(ValueError):
    """A data file that is damaged or is not the file it claims to be."""


# ---------------------------------------------------------------------------------------------
# Reading IDX files
#
# An IDX file is a header and then the values, row-major:
#   4 bytes magic: 0x00, 0x00, a type code (0x08 = unsigned byte), the number of dimensions n
#   n big-endian uint32: the size of each dimension
#   the values: prod(sizes) bytes for unsigned bytes
# So images (N, 28, 28) have magic 0x00000803 and labels (N,) have magic 0x00000801.

UNSIGNED_BYTE = 0x08


def read_idx(path, ndim):
    """The uint8 array stored in the IDX file `path` (gzipped or not), which must have `ndim` dims."""
    path = pathlib.Path(path)
    data = read_file_bytes(path)
    expected_magic = (UNSIGNED_BYTE << 8) | ndim
    if len(data) < 4:
        raise CorruptFileError(f"{path}: {len(data)} bytes is too short for an IDX header")
    (magic,) = struct.unpack(">I", data[:4])
    if magic != expected_magic:
        raise CorruptFileError(f"{path}: magic number 0x{magic:08X}, expected 0x{expected_magic:08X} "
                               f"(an IDX file of unsigned bytes with {ndim} dimensions)")
    header_bytes = 4 + 4 * ndim
    if len(data) < header_bytes:
        raise CorruptFileError(f"{path}: the file ends inside its header ({len(data)} of {header_bytes} bytes)")
    shape = struct.unpack(f">{ndim}I", data[4:header_bytes])
    expected_bytes = math.prod(shape)
    payload_bytes = len(data) - header_bytes
    if payload_bytes != expected_bytes:
        what = "truncated" if payload_bytes < expected_bytes else "has extra bytes"
        raise CorruptFileError(f"{path}: {what}: the header says shape {shape} = {expected_bytes} values, "
                               f"but {payload_bytes} bytes follow it")
    return numpy.frombuffer(data, dtype=numpy.uint8, offset=header_bytes).reshape(shape).copy()


def write_idx(path, array):
    """Write a uint8 array as an IDX file (gzipped when the name ends in .gz). The tests use it."""
    array = numpy.asarray(array, dtype=numpy.uint8)
    header = struct.pack(">I", (UNSIGNED_BYTE << 8) | array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if str(path).endswith(".gz"):
        data = gzip.compress(data)
    pathlib.Path(path).write_bytes(data)


def read_file_bytes(path):
    """The bytes of a file, decompressed when its name ends in .gz."""
    data = path.read_bytes()
    if path.suffix != ".gz":
        return data
    try:
        return gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as error:  # not gzip, truncated, or damaged
        raise CorruptFileError(f"{path}: cannot decompress this gzip file ({error})") from error


# ---------------------------------------------------------------------------------------------
# Progress bars

LOG_INTERVAL_SECONDS = 10


def progress_bar(iterable=None, **options):
    """tqdm's bar (`tqdm.auto`: a line redrawn in place on a terminal, a widget in a Jupyter notebook).

    Where the bar's stream (stderr by default) is a log file (a CI log, `python train.py 2> log`),
    tqdm would append a new state ten times a second; there it writes one every
    LOG_INTERVAL_SECONDS, and the last one at the end.
    (A Jupyter kernel's stderr is no terminal either, but there tqdm.auto draws a widget.)
    The options are tqdm's: desc, total, unit, unit_scale, mininterval, file, disable, ...
    """
    if not _is_terminal(options.get("file") or sys.stderr) and "ipykernel" not in sys.modules:
        options.setdefault("mininterval", LOG_INTERVAL_SECONDS)
    return tqdm(iterable, **options)


def _is_terminal(stream):
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


# ---------------------------------------------------------------------------------------------
# Checksums and downloads


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


_verified = set()  # (path, size, modification time) of files whose MD5 was right


def verify_md5(path, expected_md5):
    """Raise CorruptFileError unless the file's MD5 is `expected_md5` (checked once per file version)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return
    actual = md5_of(path)
    if actual != expected_md5:
        raise CorruptFileError(f"{path}: MD5 is {actual}, expected {expected_md5}. The file is damaged, or not "
                               f"this dataset's (MNIST and Fashion-MNIST share file names: keep each in its own "
                               f"subfolder, mnist/ and fashion-mnist/). Replace it, or delete it to download it again.")
    _verified.add(key)


def download(url, path, expected_md5):
    """Download `url` to `path`, atomically: nothing appears at `path` unless the MD5 is right.

    The bytes go to a temporary file in the same folder, which is renamed to `path` (an atomic
    os.replace) only after the checksum matched. On any error the temporary file is removed.
    """
    with atomic_write(path) as temporary, urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response:
        size = response.headers.get("Content-Length")
        digest = hashlib.md5()
        with progress_bar(desc=f"downloading {path.name}", total=int(size) if size else None, unit="B",
                          unit_scale=True) as bar:
            for chunk in iter(lambda: response.read(CHUNK_BYTES), b""):
                temporary.write(chunk)
                digest.update(chunk)
                bar.update(len(chunk))
        if digest.hexdigest() != expected_md5:
            raise CorruptFileError(f"download of {url} refused: its MD5 is {digest.hexdigest()}, expected "
                                   f"{expected_md5} (the file was not kept)")
    _verified.add((str(path.resolve()), path.stat().st_size, path.stat().st_mtime_ns))


def download_from_mirrors(filename, folder, mirrors, expected_md5):
    """Download `filename` from the first mirror that answers; returns the path, or raises OSError.

    A mirror that cannot be reached is skipped. A mirror that sends the wrong bytes is an error
    (CorruptFileError), not a reason to try the next one: that needs a person to look.
    """
    failures = []
    for mirror in mirrors:
        url = mirror + filename
        try:
            download(url, folder / filename, expected_md5)
            return folder / filename
        except (OSError, http.client.HTTPException) as error:  # unreachable, HTTP errors, timeouts, cut off
            failures.append(f"  {url}: {error}")
    raise OSError(f"could not download {filename}:\n" + "\n".join(failures))


# ---------------------------------------------------------------------------------------------
# The datasets


def default_root():
    """The data cache: $TINYGEN_DATA if set, else ~/.cache/tinygen."""
    return pathlib.Path(os.environ.get("TINYGEN_DATA") or "~/.cache/tinygen").expanduser()


def unzipped_name(filename):
    return filename[: -len(".gz")] if filename.endswith(".gz") else filename


class MNIST:
    """The MNIST handwritten digits: 60,000 training and 10,000 test images, 28 x 28, labels 0-9.

    MNIST(root=None, split="train", download=True)
      .images  uint8 (N, 28, 28), pixels 0..255 (0 is the background)
      .labels  int64 (N,), the digit in each image
    dataset[i] is (images[i], labels[i]); i may also be a slice or an array of indices.
    """

    name = "mnist"
    mirrors = [
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        "https://storage.googleapis.com/cvdf-datasets/mnist/",
        "http://yann.lecun.com/exdb/mnist/",
    ]
    files = {  # split -> (images, labels)
        "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
        "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
    }
    md5 = {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    }
    classes = ["0", "1", "2", "3", "4", "5", "6", "7", "8", "9"]
    image_size = (28, 28)

    def __init__(self, root=None, split="train", download=True):
        if split not in self.files:
            raise ValueError(f"{type(self).__name__}: split must be one of {list(self.files)}, got {split!r}")
        self.root = default_root() if root is None else pathlib.Path(root).expanduser()
        self.split = split
        image_path, label_path = self.fetch(self.files[split], download)
        self.images = read_idx(image_path, ndim=3)
        self.labels = read_idx(label_path, ndim=1).astype(numpy.int64)
        self.check(image_path, label_path)

    # --- finding and fetching the files ---------------------------------------------------------
    @classmethod
    def folders(cls, root):
        """Where the files may be, in order: <root>/<name>/ (where downloads go), then root itself."""
        return [root / cls.name, root]

    @classmethod
    def find_file(cls, filename, root):
        """The path of `filename` (gzipped or unpacked) in one of the folders, or None."""
        for folder in cls.folders(root):
            for name in (filename, unzipped_name(filename)):
                if (folder / name).is_file():
                    return folder / name
        return None

    @classmethod
    def find_root(cls, split="test", folders=()):
        """The first of `folders`, then the cache, that holds the files of `split`; None if none does.

        Examples and tests use it to find a copy already on disk (pass the result as root=...).
        """
        for root in [pathlib.Path(f).expanduser() for f in folders] + [default_root()]:
            if all(cls.find_file(filename, root) for filename in cls.files[split]):
                return root
        return None

    def fetch(self, filenames, download):
        """The paths of these files: found on disk (MD5-checked when gzipped), or downloaded."""
        paths, missing, failures = [], [], []
        for filename in filenames:
            path = self.find_file(filename, self.root)
            if path is None and download:
                try:
                    path = download_from_mirrors(filename, self.root / self.name, self.mirrors, self.md5[filename])
                except OSError as error:
                    failures.append(str(error))
            if path is None:
                missing.append(filename)
            elif path.suffix == ".gz":
                verify_md5(path, self.md5[filename])
            paths.append(path)
        if missing:
            raise FileNotFoundError(self.missing_files_message(missing, download, failures))
        return paths

    def missing_files_message(self, missing, download, failures):
        folder = self.root / self.name
        lines = [
            f"{type(self).__name__} ({self.split} split): missing {', '.join(missing)}.",
            f"Put {'it' if len(missing) == 1 else 'these files'} (gzipped as published, or unpacked) in {folder}",
            f"or directly in {self.root}. To use another folder pass root=... or set the environment "
            f"variable TINYGEN_DATA to it.",
        ]
        if not download:
            lines.append("(download=False, so nothing was downloaded.)")
        else:
            lines.append("Download failed (are you offline?):")
            lines.extend(failures)
        return "\n".join(lines)

    def check(self, image_path, label_path):
        """Shapes and values that the rest of the library relies on."""
        if self.images.shape[1:] != self.image_size:
            raise CorruptFileError(f"{image_path}: images of size {self.images.shape[1:]}, expected {self.image_size}")
        if len(self.images) != len(self.labels):
            raise CorruptFileError(f"{image_path} holds {len(self.images)} images but {label_path} holds "
                                   f"{len(self.labels)} labels")
        if len(self.labels) and self.labels.max() >= len(self.classes):
            raise CorruptFileError(f"{label_path}: label {self.labels.max()} found, "
                                   f"expected 0..{len(self.classes) - 1}")

    # --- the data ----------------------------------------------------------------------------
    def __len__(self):
        return len(self.images)

    def __getitem__(self, index):
        return self.images[index], self.labels[index]

    def __repr__(self):
        return f"{type(self).__name__}(split={self.split!r}, {len(self)} images, root='{self.root}')"

    def arrays(self, scale="unit", flatten=False):
        """Images as float32 NumPy arrays ready for a model, and the labels (int64).

        scale: 'unit' -> [0, 1] (x / 255), for autoencoders with a sigmoid output;
               'symmetric' -> [-1, 1] (x / 127.5 - 1), for GANs with a tanh output.
        flatten: False -> (N, 1, 28, 28) for convolutions (NCHW); True -> (N, 784) for Linear layers.
        """
        images = scale_images(self.images, scale)
        if flatten:
            images = images.reshape(len(images), -1)
        else:
            images = images.reshape(len(images), 1, *self.image_size)
        return images, self.labels

    def tensors(self, scale="unit", flatten=False, device="cpu"):
        """The same as `arrays`, as tinygen Tensors on `device`."""
        images, labels = self.arrays(scale, flatten)
        return Tensor(images, device=device), Tensor(labels, device=device)


class FashionMNIST(MNIST):
    """Zalando's Fashion-MNIST: clothing in MNIST's format (60,000 + 10,000 images, 28 x 28, 10 classes)."""

    name = "fashion-mnist"
    mirrors = [
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
    ]
    md5 = {  # as published in zalandoresearch/fashion-mnist's README and torchvision
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    }
    classes = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
               "Ankle boot"]


def scale_images(images, scale="unit"):
    """uint8 pixels 0..255 as float32: 'unit' -> [0, 1], 'symmetric' -> [-1, 1].

    The one float32 copy is scaled in place: 60,000 digits are 188 MB, and a second copy would
    cost as much again in fresh memory."""
    if scale not in ("unit", "symmetric"):
        raise ValueError(f"scale must be 'unit' ([0, 1]) or 'symmetric' ([-1, 1]), got {scale!r}")
    images = images.astype(numpy.float32)
    if scale == "unit":
        images /= 255
    else:
        images /= 127.5
        images -= 1
    return images


# ---------------------------------------------------------------------------------------------
# Batches


class DataLoader:
    """Batches of tinygen Tensors from arrays that share their first dimension.

    DataLoader(data, batch_size, shuffle=False, seed=None, drop_last=False, device="cpu")
      data: a tuple of arrays or Tensors, e.g. (images, labels), giving batches (x, y); or one
            array, giving batches x; or a dataset such as MNIST, taken as its `arrays()`
            (float32 images (N, 1, 28, 28) in [0, 1], int64 labels).
      shuffle: a new random order each epoch. With a `seed` the orders are repeatable: epoch e
            uses the permutation drawn from (seed, e). Without one they come from the generator
            that tinygen.manual_seed seeds.
      drop_last: leave out the last batch when it would be smaller than batch_size.

    The arrays are moved to `device` once; each batch is one fancy-indexing per array (no loop
    over items).
    """

    def __init__(self, data, batch_size=64, shuffle=False, seed=None, drop_last=False, device="cpu"):
        if hasattr(data, "arrays"):
            data = data.arrays()
        self.single = not isinstance(data, (tuple, list))
        arrays = [data] if self.single else list(data)
        arrays = [a.data if isinstance(a, Tensor) else a for a in arrays]
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"DataLoader: the arrays must have the same length, "
                             f"got lengths {[len(a) for a in arrays]}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be at least 1, got {batch_size}")
        self.arrays = [backend.to_device(a, device) for a in arrays]
        self.size = lengths.pop()
        self.batch_size, self.shuffle, self.seed = batch_size, shuffle, seed
        self.drop_last, self.device = drop_last, device
        self.epoch = 0  # the number of epochs started; set_epoch(e) to resume at epoch e

    def __len__(self):
        """The number of batches in one epoch."""
        if self.drop_last:
            return self.size // self.batch_size
        return math.ceil(self.size / self.batch_size)

    def set_epoch(self, epoch):
        self.epoch = epoch

    def order(self, epoch):
        """The indices of the items in the order this epoch visits them."""
        if not self.shuffle:
            return numpy.arange(self.size)
        if self.seed is None:
            return backend.generator("cpu").permutation(self.size)
        return numpy.random.default_rng([self.seed, epoch]).permutation(self.size)

    def __iter__(self):
        order = backend.to_device(self.order(self.epoch), self.device)
        self.epoch += 1
        for b in range(len(self)):
            index = order[b * self.batch_size : (b + 1) * self.batch_size]
            batch = tuple(Tensor(a[index]) for a in self.arrays)
            yield batch[0] if self.single else batch
