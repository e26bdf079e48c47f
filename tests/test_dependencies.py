"""Every third-party package that the library, its tests, examples or benchmarks import is declared in
setup.py, so that the README's `pip install -e ".[dev]"` on a fresh machine is enough to run them.

Read with `ast`, nothing is imported: every `import x` / `from x import y` anywhere in a file (also
inside functions), and `pytest.importorskip("x")`. A name is fine when it is Python's own
(`sys.stdlib_module_names`), the project's (tinygen, or a module beside the file), or a package that
setup.py declares in install_requires or an extra. A package that is in no extra the dev install
brings (PyTorch, CuPy) is optional: where a file imports it at its top, the import must be guarded
(try/except ImportError, or pytest.importorskip), so that the tests still collect without it.
"""
import ast
import pathlib
import re
import sys

import pytest

REPO = pathlib.Path(__file__).resolve().parents[1]
FOLDERS = ["tinygen", "tests", "examples", "benchmarks"]

# Import names whose distribution on PyPI is called otherwise.
DISTRIBUTION_OF = {"cupy": "cupy-cuda12x", "cupyx": "cupy-cuda12x", "PIL": "pillow", "yaml": "pyyaml",
                   "sklearn": "scikit-learn", "mpl_toolkits": "matplotlib"}


def distribution_name(requirement):
    """'numpy>=1.24' -> 'numpy' (PyPI's normalised form: lower case, '-' for '_' and '.')."""
    name = re.match(r"[A-Za-z0-9._-]+", requirement).group()
    return re.sub(r"[-_.]+", "-", name).lower()


def declared_requirements(setup_py):
    """{'install_requires': [...], 'dev': [...], 'gpu': [...], ...} as distribution names, read from setup()."""
    for node in ast.walk(ast.parse(setup_py.read_text())):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "setup":
            keywords = {k.arg: ast.literal_eval(k.value) for k in node.keywords
                        if k.arg in ("install_requires", "extras_require")}
            groups = {"install_requires": keywords.get("install_requires", [])}
            groups.update(keywords.get("extras_require", {}))
            return {group: {distribution_name(r) for r in requirements} for group, requirements in groups.items()}
    raise AssertionError(f"{setup_py}: no setup(...) call found")


def imports(tree):
    """(top-level name, line, guarded, at the top of the file) for each import in a module's syntax tree."""
    found = []

    def visit(node, guarded, top):
        if isinstance(node, ast.Import):
            found.extend((alias.name.split(".")[0], node.lineno, guarded, top) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:  # relative imports are the project's own
            found.append((node.module.split(".")[0], node.lineno, guarded, top))
        elif (isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "importorskip"
              and node.args and isinstance(node.args[0], ast.Constant)):
            found.append((node.args[0].value.split(".")[0], node.lineno, True, top))
        if isinstance(node, ast.Try):
            catches_import_error = any(_names_import_error(handler.type) for handler in node.handlers)
            for child in node.body:
                visit(child, guarded or catches_import_error, top)
            for child in node.handlers + node.orelse + node.finalbody:
                visit(child, guarded, top)
            return
        inside_function = isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, guarded, top and not inside_function)

    visit(tree, guarded=False, top=True)
    return found


def _names_import_error(handler_type):
    if handler_type is None:  # a bare except
        return True
    names = handler_type.elts if isinstance(handler_type, ast.Tuple) else [handler_type]
    return any(getattr(n, "id", None) in ("ImportError", "ModuleNotFoundError", "Exception") for n in names)


def local_names(path):
    """The project's own importable names: tinygen, the modules and packages beside `path`, and the
    modules of examples/ and benchmarks/ (tests import them, e.g. examples/common.py)."""
    folders = [path.parent] + [REPO / folder for folder in FOLDERS]
    return {"tinygen"} | {p.stem if p.suffix == ".py" else p.name for folder in folders for p in folder.iterdir()
                          if p.suffix == ".py" or p.is_dir()}


def problems(paths, requirements):
    """One line for each import of an undeclared package, or an unguarded top-level one of an optional package."""
    declared = set().union(*requirements.values())
    installed_by_dev = requirements["install_requires"] | requirements.get("dev", set())
    found = []
    for path in paths:
        for name, line, guarded, top in imports(ast.parse(path.read_text(), filename=str(path))):
            if name in sys.stdlib_module_names or name == "__future__" or name in local_names(path):
                continue
            distribution = distribution_name(DISTRIBUTION_OF.get(name, name))
            where = f"{path.relative_to(REPO) if path.is_relative_to(REPO) else path}:{line}"
            if distribution not in declared:
                found.append(f"{where} imports {name!r}, but setup.py does not declare {distribution!r}")
            elif distribution not in installed_by_dev and top and not guarded:
                found.append(f"{where} imports the optional {name!r} unguarded: the tests must collect without it "
                             f"(use pytest.importorskip or try/except ImportError)")
    return found


def project_files():
    return sorted(p for folder in FOLDERS for p in (REPO / folder).rglob("*.py"))


def test_every_imported_package_is_declared_in_setup_py():
    files = project_files()
    assert len(files) > 40 and any(p.name == "test_parity_torch.py" for p in files)
    found = problems(files, declared_requirements(REPO / "setup.py"))
    assert not found, "\n".join(found)


def test_the_dev_install_brings_what_the_readme_promises():
    requirements = declared_requirements(REPO / "setup.py")
    assert {"numpy", "tqdm"} <= requirements["install_requires"]
    assert {"pytest", "hypothesis", "matplotlib", "scipy"} <= requirements["dev"]
    assert "torch" not in requirements["install_requires"] | requirements["dev"]  # the oracle: never in the dev install


# --- the checker itself catches what it must: planted files -----------------------------------------

REQUIREMENTS = {"install_requires": {"numpy", "tqdm"}, "dev": {"pytest", "scipy"}, "torch": {"torch"},
                "gpu": {"cupy-cuda12x"}}


def check_source(tmp_path, source):
    planted = tmp_path / "planted.py"
    planted.write_text(source)
    return problems([planted], REQUIREMENTS)


@pytest.mark.parametrize("source", ["import requests\n", "from pandas import DataFrame\n",
                                    "def f():\n    import sklearn.linear_model\n",
                                    "import pytest\nnp = pytest.importorskip('jax')\n"])
def test_an_undeclared_package_is_caught(tmp_path, source):
    (message,) = check_source(tmp_path, source)
    assert re.search(r"planted\.py:\d+ imports '\w+', but setup.py does not declare '[\w-]+'", message)


@pytest.mark.parametrize("source", ["import torch\n", "import cupy as cp\n", "from torch import nn\n"])
def test_an_unguarded_optional_package_at_the_top_is_caught(tmp_path, source):
    (message,) = check_source(tmp_path, source)
    assert "imports the optional" in message and "unguarded" in message


@pytest.mark.parametrize("source", [
    "import os, sys, json\nimport numpy as np\nfrom tqdm.auto import tqdm\nimport scipy.special\n",
    "import pytest\ntorch = pytest.importorskip('torch')\n",
    "try:\n    import torch\nexcept ImportError:\n    torch = None\n",
    "def step():\n    import torch\n    return torch\n",
    "import tinygen\nfrom tinygen import nn\nimport planted\nfrom . import something\n",
])
def test_declared_stdlib_local_and_guarded_imports_pass(tmp_path, source):
    assert check_source(tmp_path, source) == []


def test_setup_py_is_read_without_running_it(tmp_path):
    setup_py = tmp_path / "setup.py"
    setup_py.write_text('from setuptools import setup\nsetup(name="x", install_requires=["NumPy>=1", "tqdm"],\n'
                        '      extras_require={"dev": ["pytest>=7", "Typing_Extensions"]})\n')
    assert declared_requirements(setup_py) == {"install_requires": {"numpy", "tqdm"},
                                               "dev": {"pytest", "typing-extensions"}}


def test_the_scripts_the_tests_start_import_this_checkout(tmp_path):
    """conftest.py puts this checkout first on PYTHONPATH: an example run by a test tests this code."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", "import tinygen; print(tinygen.__file__)"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert pathlib.Path(done.stdout.strip()) == REPO / "tinygen" / "__init__.py", done.stderr
