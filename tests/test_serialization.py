"""tinygen.save / tinygen.load: nested dicts of named arrays in .npz, no pickle, atomic writes,
and checkpoints that resume training exactly."""
import os
import pathlib

import re
import stat
import tempfile
import zipfile

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygen
import tinygen.nn.functional as F
from tinygen import nn, optim, serialization
from tinygen.serialization import CheckpointError

esc = re.escape

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
    with pytest.raises(CheckpointError, match=esc(f"load: {path} holds 'bad', an array of Python objects that only "
                                                  "pickle can read; tinygen never unpickles (allow_pickle=False)")):
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


# ---------------------------------------------------------------------------------------------
# Files that are not checkpoints, or no longer whole, get an error that names the path and says what
# the file is; never a raw BadZipFile, EOFError or KeyError, and never "pickled data" for a text file.


def a_checkpoint(folder):
    path = folder / "real.npz"
    model = make_model(0)
    tinygen.save({"model": model.state_dict(), "optim": optim.Adam(model.parameters()).state_dict(), "step": 7,
                  "rng": "{}"}, path)
    return path


def test_missing_file_is_file_not_found_naming_it(tmp_path):
    with pytest.raises(FileNotFoundError, match=esc(str(tmp_path / "nope.npz"))):
        tinygen.load(tmp_path / "nope.npz")


def test_a_folder_is_not_a_checkpoint(tmp_path):
    with pytest.raises(IsADirectoryError, match=esc(str(tmp_path))):
        tinygen.load(tmp_path)


@pytest.mark.parametrize("content,what", [
    (b"step = 1200\nlr = 2e-4\n", "it begins with b'step = 1200\\nlr ='"),
    (b"", "it is empty"),
    (b"\x80\x04\x95 pickled", "it begins with b'\\x80\\x04\\x95 pickled'"),
], ids=["text", "empty", "pickle"])
def test_a_file_that_is_not_a_zip(tmp_path, content, what):
    path = tmp_path / "notes.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=esc(f"load: {path} is not a tinygen checkpoint: not an .npz (zip) "
                                                  f"file ({what})")) as caught:
        tinygen.load(path)
    assert "pickled data" not in str(caught.value)


def test_a_single_npy_array_is_named_as_such(tmp_path):
    path = tmp_path / "samples.npy"
    np.save(path, np.zeros((2, 3)))
    with pytest.raises(CheckpointError, match=esc("it is a single .npy array (np.save); tinygen.save writes .npz")):
        tinygen.load(path)


def test_a_zip_of_other_things(tmp_path):
    path = tmp_path / "torch_style.pt"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    with pytest.raises(CheckpointError, match=esc(f"load: {path} is a zip file but not a tinygen checkpoint: "
                                                  "'archive/data.pkl' in it is not an .npy array")):
        tinygen.load(path)


def test_names_that_are_both_an_array_and_a_folder(tmp_path):
    path = tmp_path / "clash.npz"
    np.savez(path, **{"a": np.ones(1), "a/b": np.ones(1)})
    with pytest.raises(CheckpointError, match="'a' is both an array and a folder of names"):
        tinygen.load(path)


def test_truncated_checkpoint_names_the_path(tmp_path):
    path = a_checkpoint(tmp_path)
    path.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(CheckpointError, match=esc(f"load: {path} is truncated or damaged")):
        tinygen.load(path)


@settings(deadline=None, max_examples=200)
@given(cut=st.floats(0, 1, exclude_max=True))
def test_a_checkpoint_cut_anywhere_gives_the_clear_error(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("cut")
    whole = a_checkpoint(folder).read_bytes()
    path = folder / "cut.npz"
    path.write_bytes(whole[: int(cut * len(whole))])
    with pytest.raises(CheckpointError, match=esc(f"load: {path} is ")):
        tinygen.load(path)


@settings(deadline=None, max_examples=200)
@given(content=st.binary(max_size=600) | st.binary(max_size=300).map(lambda b: b"PK\x03\x04" + b))
def test_random_bytes_give_the_clear_error(tmp_path_factory, content):
    path = tmp_path_factory.mktemp("random") / "random.npz"
    path.write_bytes(content)
    with pytest.raises(CheckpointError, match=esc(f"load: {path} is ")):
        tinygen.load(path)


@settings(deadline=None, max_examples=200)
@given(data=st.data())
def test_a_damaged_byte_loads_or_gives_the_clear_error(tmp_path_factory, data):
    folder = tmp_path_factory.mktemp("flip")
    damaged = bytearray(a_checkpoint(folder).read_bytes())
    where = data.draw(st.integers(0, len(damaged) - 1))
    damaged[where] ^= data.draw(st.integers(1, 255))
    path = folder / "damaged.npz"
    path.write_bytes(bytes(damaged))
    try:
        tinygen.load(path)  # a flip in a name, or in a field zipfile does not check, may still load
    except CheckpointError as error:
        assert str(error).startswith(f"load: {path} ")


# ---------------------------------------------------------------------------------------------
# Writing: never over a read-only file or a folder; clear errors where the folder cannot be made


def test_save_refuses_to_replace_a_read_only_file(tmp_path):
    path = tmp_path / "keep.npz"
    tinygen.save({"step": 1}, path)
    before = path.read_bytes()
    path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)  # chmod a-w
    with pytest.raises(PermissionError, match=esc(f"the file is read-only; not replacing it: '{path}'")):
        tinygen.save({"step": 2}, path)
    assert path.read_bytes() == before and leftovers(tmp_path) == []


def test_every_atomic_writer_refuses_a_read_only_file(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_text("mine")
    path.chmod(0o444)
    with pytest.raises(PermissionError, match="read-only"):
        with serialization.atomic_write(path) as f:
            f.write(b"theirs")
    assert path.read_text() == "mine"


def test_save_over_a_folder(tmp_path):
    (tmp_path / "ckpt.npz").mkdir()
    with pytest.raises(IsADirectoryError, match=esc(f"cannot write a file over a folder: '{tmp_path / 'ckpt.npz'}'")):
        tinygen.save({"step": 1}, tmp_path / "ckpt.npz")


def test_save_where_a_file_blocks_the_folder(tmp_path):
    (tmp_path / "runs").write_text("a file, not a folder")
    with pytest.raises(NotADirectoryError, match=esc(f"cannot create the folder: a file stands on its path: "
                                                     f"'{tmp_path / 'runs' / 'deeper'}'")):
        tinygen.save({"step": 1}, tmp_path / "runs" / "deeper" / "c.npz")
    assert (tmp_path / "runs").read_text() == "a file, not a folder"


# ---------------------------------------------------------------------------------------------
# Module.load_state_dict checks every value before it copies any: no half-loaded model


def snapshot(model):
    return {name: t.numpy().copy() for name, t in model.state_dict().items()}


def assert_unchanged(model, before):
    for name, array in model.state_dict().items():
        np.testing.assert_array_equal(array.numpy(), before[name], err_msg=name)


@pytest.mark.parametrize("argument", [[("0.weight", np.zeros((3, 1, 3, 3)))], "checkpoint.npz", None, 3],
                         ids=["list", "str", "None", "int"])
def test_load_state_dict_wants_a_dict(argument):
    with pytest.raises(TypeError, match=esc("load_state_dict for Sequential: expected a dict of tensors "
                                            f"(model.state_dict(), or a part of tinygen.load's result), got {type(argument)}")):
        make_model(0).load_state_dict(argument)


not_arrays = st.one_of(st.lists(st.floats(-1, 1), max_size=3), st.floats(allow_nan=False), st.integers(), st.none(),
                       st.text(max_size=5), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2))


@settings(deadline=None, max_examples=50)
@given(bad=not_arrays, which=st.integers(0, 6))
def test_load_state_dict_refuses_values_that_are_not_arrays(bad, which):
    model = make_model(0)
    before = snapshot(model)
    state = make_model(1).state_dict()
    name = sorted(state)[which]
    state[name] = bad
    with pytest.raises(TypeError, match=esc(f"load_state_dict for Sequential: while copying {name!r}, expected a "
                                            f"Tensor or an array from the checkpoint but received {type(bad)}")):
        model.load_state_dict(state)
    assert_unchanged(model, before)


def test_load_state_dict_refuses_strings_from_a_checkpoint(tmp_path):
    model = make_model(0)
    state = {**make_model(1).state_dict(), "4.bias": np.array(["0.5"])}
    with pytest.raises(TypeError, match=esc("'4.bias' holds values of dtype <U3, expected numbers (for the model's float32)")):
        model.load_state_dict(state)


def test_load_state_dict_refuses_before_copying_anything():
    """The first entries fit, the last has the wrong shape: nothing may have been copied."""
    model = make_model(0)
    before = snapshot(model)
    state = make_model(1).state_dict()
    last = list(state)[-1]
    state[last] = np.zeros((2, 2), dtype=np.float32)
    with pytest.raises(ValueError, match=esc(f"'{last}' has shape (2, 2) in the state dict but (1,) in the model")):
        model.load_state_dict(state)
    assert_unchanged(model, before)


def test_save_into_a_folder_without_write_permission_names_the_folder(tmp_path, monkeypatch):
    """(Run as root, a folder is always writable, so the refusal is simulated where it happens.)"""
    def refused(**kwargs):
        raise PermissionError(13, "Permission denied", os.path.join(kwargs["dir"], ".c.npz.x.part"))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    with pytest.raises(PermissionError, match=esc(f"cannot write in this folder: permission denied: '{tmp_path}'")):
        tinygen.save({"step": 1}, tmp_path / "c.npz")
