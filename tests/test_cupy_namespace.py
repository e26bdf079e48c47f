"""Every name the library calls on an array module exists in CuPy, so the GPU path cannot fail for a
missing function. CuPy imports without a GPU (tinygen's backend then stays on NumPy), so this runs
on any machine with `pip install cupy-cuda12x`; it skips where CuPy is not installed.

Collected with `ast` from every file of the library:
  - `xp.name` and `xp.module.name` for `xp` (or any name) assigned from `get_array_module(...)` or
    `module_for(...)`, and the same written straight on the call: `get_array_module(x).exp(x)`;
  - `cupy.<...>` in backend.py;
  - the methods called on a device's random generator, `backend.generator(device).<method>`,
    against `cupy.random.Generator`, with the keyword arguments they pass.
"""
import ast
import inspect
import pathlib

import pytest

import tinygen

LIBRARY = pathlib.Path(tinygen.__file__).parent
MODULE_GETTERS = {"get_array_module", "module_for"}


def called_name(call):
    """'get_array_module' for get_array_module(...) or backend.get_array_module(...), else None."""
    func = call.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def attribute_chain(node):
    """For xp.random.default_rng: (the innermost value node, ['random', 'default_rng'])."""
    names = []
    while isinstance(node, ast.Attribute):
        names.append(node.attr)
        node = node.value
    return node, names[::-1]


def outermost_attributes(tree):
    """The Attribute nodes that are not themselves the value of another Attribute (whole chains only)."""
    inner = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    return [node for node in ast.walk(tree) if isinstance(node, ast.Attribute) and id(node) not in inner]


def names_assigned_from(tree, getters):
    """Names bound by `name = getter(...)` anywhere in the file (e.g. xp = get_array_module(x))."""
    return {target.id for node in ast.walk(tree) if isinstance(node, ast.Assign) and isinstance(node.value, ast.Call)
            and called_name(node.value) in getters for target in node.targets if isinstance(target, ast.Name)}


def array_module_uses(path):
    """(dotted name, 'file:line') for every name looked up on an array module in this file."""
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = names_assigned_from(tree, MODULE_GETTERS) | {"xp"}
    if path.name == "backend.py":
        modules.add("cupy")
    for node in outermost_attributes(tree):
        base, names = attribute_chain(node)
        on_a_module = isinstance(base, ast.Name) and base.id in modules
        on_a_getter = isinstance(base, ast.Call) and called_name(base) in MODULE_GETTERS
        if on_a_module or on_a_getter:
            yield ".".join(names), f"{path.name}:{node.lineno}"


def generator_method_calls(path):
    """(method, keyword names, 'file:line') for calls on a device's random generator, except the CPU's own."""
    tree = ast.parse(path.read_text(), filename=str(path))
    generators = names_assigned_from(tree, {"generator"})
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        owner = node.func.value
        from_a_name = isinstance(owner, ast.Name) and owner.id in generators
        from_a_call = isinstance(owner, ast.Call) and called_name(owner) == "generator" and not (
            owner.args and isinstance(owner.args[0], ast.Constant) and owner.args[0].value == "cpu")
        if from_a_name or from_a_call:
            yield node.func.attr, [k.arg for k in node.keywords], f"{path.name}:{node.lineno}"


def library_files():
    return sorted(LIBRARY.rglob("*.py"))


def lookup(module, dotted):
    value = module
    for name in dotted.split("."):
        value = getattr(value, name)
    return value


def missing_in(module, uses):
    missing = []
    for dotted, where in uses:
        try:
            lookup(module, dotted)
        except AttributeError:
            missing.append(f"{where}: {module.__name__}.{dotted} does not exist")
    return missing


# --- the collector finds what it must (these run without CuPy) ---------------------------------------


def test_the_collector_sees_every_way_of_naming_the_array_module(tmp_path):
    source = tmp_path / "op.py"
    source.write_text(
        "from tinygen import backend\n"
        "def f(x, device):\n"
        "    xp = backend.get_array_module(x)\n"
        "    m = backend.module_for(device)\n"
        "    xp.add.at(x, 0, 1)\n"
        "    y = xp.random.default_rng(0).standard_normal(3)\n"
        "    z = backend.get_array_module(x).exp(x).sum()\n"
        "    rng = backend.generator(device)\n"
        "    w = rng.standard_normal((2, 3), dtype=x.dtype) + backend.generator(device).integers(0, 5, size=3)\n"
        "    backend.generator('cpu').bit_generator.state\n"
        "    return m.zeros(3), x.reshape(3), xp.float32\n"
    )
    assert sorted(name for name, _ in array_module_uses(source)) == [
        "add.at", "exp", "float32", "random.default_rng", "zeros"]
    assert sorted((m, k) for m, k, _ in generator_method_calls(source)) == [
        ("integers", ["size"]), ("standard_normal", ["dtype"])]


def test_the_library_is_seen_whole():
    uses = {name for path in library_files() for name, _ in array_module_uses(path)}
    assert {"exp", "tensordot", "random.default_rng", "cuda.runtime.getDeviceCount", "asnumpy"} <= uses
    methods = {m for path in library_files() for m, _, _ in generator_method_calls(path)}
    assert {"standard_normal", "random", "integers"} <= methods


def test_a_missing_name_is_reported():
    import numpy

    assert missing_in(numpy, [("exp", "a.py:1"), ("no_such_function", "b.py:2"), ("linalg.nope", "c.py:3")]) == [
        "b.py:2: numpy.no_such_function does not exist", "c.py:3: numpy.linalg.nope does not exist"]


# --- against CuPy ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cupy():
    return pytest.importorskip("cupy", reason="CuPy is not installed: `pip install cupy-cuda12x` (no GPU needed) "
                                              "to check the names the library calls on it")


def test_every_array_module_name_the_library_calls_exists_in_cupy(cupy):
    uses = sorted({use for path in library_files() for use in array_module_uses(path)})
    missing = missing_in(cupy, uses)
    assert not missing, "\n".join(missing)


def test_every_random_generator_method_exists_in_cupy_with_its_keywords(cupy):
    problems = []
    for path in library_files():
        for method, keywords, where in generator_method_calls(path):
            function = getattr(cupy.random.Generator, method, None)
            if function is None:
                problems.append(f"{where}: cupy.random.Generator has no {method}")
                continue
            try:
                accepted = inspect.signature(function).parameters
            except (TypeError, ValueError):  # a compiled method without a signature: check its docstring
                accepted = (function.__doc__ or "").split("\n")[0]
            problems += [f"{where}: cupy.random.Generator.{method} takes no {k}=" for k in keywords if k not in accepted]
    assert not problems, "\n".join(problems)
