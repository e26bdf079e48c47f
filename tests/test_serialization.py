"""tinygen.save / tinygen.load: nested dicts of named arrays in .npz, no pickle, atomic writes,
and checkpoints that resume training exactly."""
import os
import pathlib

import numpy as np
import pytest

import tinygen
import tinygen.nn.functional as F
from tinygen import nn, optim, serialization

DTYPES = ["float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool"]


def leftovers(folder):
    return [name for name in os.listdir(folder) if name.endswith(".part")]


def test_round_trip_of_nested_dicts(tmp_path):
    rng = np.random.default_rng(0)
    weight = tinygen.Tensor(rng.standard_normal((3, 4)).astype(np.float32))
    obj = {
        "G": {"0.weight": weight, "0.bias": rng.standard_normal(4), "deeper": {"codes": np.arange(6).reshape(2, 3)}},
        "step": 1200,
        "lr": 2e-4,
        "name": "dcgan-größe",
        "empty_string": "",
        "flag": True,
    }
    path = tmp_path / "ckpt.npz"
    tinygen.save(obj, path)
    back = tinygen.load(path)
    assert set(back) == set(obj)
    assert set(back["G"]) == {"0.weight", "0.bias", "deeper"}
    assert isinstance(back["G"]["0.weight"], tinygen.Tensor) and back["G"]["0.weight"].device == "cpu"
    np.testing.assert_array_equal(back["G"]["0.weight"].numpy(), weight.numpy())
    assert back["G"]["0.weight"].dtype == np.float32
    np.testing.assert_array_equal(back["G"]["0.bias"].numpy(), obj["G"]["0.bias"])
    assert back["G"]["0.bias"].dtype == np.float64
    np.testing.assert_array_equal(back["G"]["deeper"]["codes"].numpy(), np.arange(6).reshape(2, 3))
    assert back["step"].item() == 1200 and isinstance(back["step"].item(), int)
    assert back["lr"].item() == 2e-4 and back["lr"].dtype == np.float64  # a Python float is kept exactly
    assert back["name"] == "dcgan-größe" and isinstance(back["name"], str)
    assert back["empty_string"] == ""
    assert back["flag"].item() is True


@pytest.mark.parametrize("dtype", DTYPES)
def test_dtypes_preserved(tmp_path, dtype):
    values = (np.arange(-3, 9) % 7).reshape(3, 4).astype(dtype)
    tinygen.save({"x": values, "t": tinygen.Tensor(values), "scalar": values[0, 1]}, tmp_path / "a.npz")
    back = tinygen.load(tmp_path / "a.npz")
    for key in ("x", "t"):
        assert back[key].dtype == np.dtype(dtype), key
        np.testing.assert_array_equal(back[key].numpy(), values)
    assert back["scalar"].dtype == np.dtype(dtype) and back["scalar"].shape == ()


def test_path_as_string_and_new_folder(tmp_path):
    path = str(tmp_path / "new" / "folder" / "m.npz")
    tinygen.save({"a": np.ones(2)}, path)
    np.testing.assert_array_equal(tinygen.load(path)["a"].numpy(), [1.0, 1.0])
    assert leftovers(tmp_path / "new" / "folder") == []


def test_the_file_is_a_plain_npz(tmp_path):
    tinygen.save({"model": {"w": np.eye(2)}, "step": 3}, tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz", allow_pickle=False) as archive:
        assert sorted(archive.files) == ["model/w", "step"]


def test_object_arrays_cannot_be_saved(tmp_path):
    path = tmp_path / "obj.npz"
    with pytest.raises(TypeError, match="'bad'.*pickle"):
        tinygen.save({"bad": np.array([{"code": 1}, None], dtype=object)}, path)
    assert not path.exists() and leftovers(tmp_path) == []


@pytest.mark.parametrize("value", [[1, 2, 3], None, {1, 2}, object()], ids=["list", "None", "set", "object"])
def test_other_python_values_cannot_be_saved(tmp_path, value):
    with pytest.raises(TypeError, match="'x'"):
        tinygen.save({"x": value}, tmp_path / "o.npz")
    assert leftovers(tmp_path) == []


def test_a_pickled_object_array_is_refused_on_load(tmp_path):
    path = tmp_path / "evil.npz"
    np.savez(path, fine=np.ones(2), bad=np.array([{"code": 1}], dtype=object))  # numpy pickles this
    with pytest.raises(ValueError, match="allow_pickle"):
        tinygen.load(path)


def test_bad_keys_and_objects(tmp_path):
    with pytest.raises(TypeError, match="expected a dict"):
        tinygen.save([np.ones(2)], tmp_path / "l.npz")
    with pytest.raises(ValueError, match="'a/b'"):
        tinygen.save({"a/b": np.ones(2)}, tmp_path / "k.npz")
    assert os.listdir(tmp_path) == []


def test_atomic_write_keeps_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "ckpt.npz"
    tinygen.save({"step": 1, "w": np.arange(4.0)}, path)
    old_bytes = path.read_bytes()

    def broken_savez(file, **arrays):
        file.write(b"PK\x03\x04 half a zip file")  # some bytes reach the temporary file, then...
        raise OSError("disk full")

    monkeypatch.setattr(serialization.np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        tinygen.save({"step": 2, "w": np.zeros(4)}, path)
    monkeypatch.undo()

    assert path.read_bytes() == old_bytes
    back = tinygen.load(path)
    assert back["step"].item() == 1
    np.testing.assert_array_equal(back["w"].numpy(), np.arange(4.0))
    assert leftovers(tmp_path) == [], "the temporary file was left behind"
    assert sorted(os.listdir(tmp_path)) == ["ckpt.npz"]


def test_interrupted_first_write_leaves_nothing(tmp_path, monkeypatch):
    def interrupted(file, **arrays):
        file.write(b"partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(serialization.np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        tinygen.save({"w": np.ones(3)}, tmp_path / "first.npz")
    assert os.listdir(tmp_path) == []


def test_save_overwrites(tmp_path):
    path = tmp_path / "c.npz"
    tinygen.save({"step": 1}, path)
    tinygen.save({"step": 2, "extra": "yes"}, path)
    back = tinygen.load(path)
    assert back["step"].item() == 2 and back["extra"] == "yes"


def make_model(seed):
    tinygen.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.BatchNorm2d(3), nn.LeakyReLU(0.2), nn.Flatten(),
                         nn.Linear(3 * 5 * 5, 1))


def train_step(model, opt, step):
    rng = np.random.default_rng(step)
    x = tinygen.Tensor(rng.standard_normal((4, 1, 5, 5)).astype(np.float32))
    y = tinygen.Tensor(rng.integers(0, 2, (4, 1)).astype(np.float32))
    opt.zero_grad()
    loss = F.binary_cross_entropy_with_logits(model(x), y)
    loss.backward()
    opt.step()
    return loss.item()


@pytest.mark.parametrize("name,options", [("Adam", dict(lr=1e-2, betas=(0.5, 0.999))),
                                          ("SGD", dict(lr=0.1, momentum=0.9)),
                                          ("RMSprop", dict(lr=1e-3, centered=True, momentum=0.5))])
def test_checkpoint_resumes_exactly(tmp_path, name, options):
    model = make_model(0)
    opt = getattr(optim, name)(model.parameters(), **options)
    for step in range(3):
        train_step(model, opt, step)
    path = pathlib.Path(tmp_path) / "run" / "ckpt.npz"
    tinygen.save({"model": model.state_dict(), "optim": opt.state_dict(), "step": 3}, path)

    expected_losses = [train_step(model, opt, step) for step in (3, 4)]

    restored = make_model(1)  # different initial weights: everything must come from the file
    restored_opt = getattr(optim, name)(restored.parameters())
    checkpoint = tinygen.load(path)
    restored.load_state_dict(checkpoint["model"])
    restored_opt.load_state_dict(checkpoint["optim"])
    assert checkpoint["step"].item() == 3
    assert restored[1].num_batches_tracked.item() == 3
    losses = [train_step(restored, restored_opt, step) for step in (3, 4)]

    assert losses == expected_losses
    for (key, a), (_, b) in zip(model.state_dict().items(), restored.state_dict().items()):
        assert a.dtype == b.dtype, key
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=key)  # bitwise identical


def test_saved_files_follow_the_umask_not_the_private_temporary_mode(tmp_path):
    """mkstemp makes private (0600) files; what we publish gets the usual permissions."""
    old = os.umask(0o022)
    try:
        tinygen.save({"w": np.ones(2)}, tmp_path / "m.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "m.npz").stat().st_mode & 0o777 == 0o644
