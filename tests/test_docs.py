"""The code quoted in docs/ is the code that runs: every line of every ```python block in docs/*.md
appears in tinygen/ or examples/ (compared without indentation and trailing comments), so a change
to the code that the docs quote fails here until the docs follow it."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def code_line(line):
    """A line without its indentation and without a trailing comment ('#' outside quotes is enough here)."""
    line = line.strip()
    if line.startswith("#"):
        return ""
    quoted = re.sub(r"\"[^\"]*\"|'[^']*'", lambda m: "x" * len(m.group()), line)  # hide '#' inside strings
    cut = quoted.find("  #")
    return (line[:cut] if cut >= 0 else line).rstrip()


def source_lines():
    lines = set()
    for path in [*ROOT.glob("tinygen/**/*.py"), *ROOT.glob("examples/*.py")]:
        lines.update(code_line(line) for line in path.read_text().splitlines())
    return lines


def quoted_lines():
    for page in sorted(ROOT.glob("docs/*.md")):
        for block in BLOCK.findall(page.read_text()):
            for line in block.splitlines():
                if code_line(line):
                    yield page.name, code_line(line)


def test_every_quoted_line_is_in_the_source():
    source = source_lines()
    missing = [f"{page}: {line}" for page, line in quoted_lines() if line not in source]
    assert not missing, "docs quote code that is not in tinygen/ or examples/:\n" + "\n".join(missing)


def test_the_check_sees_the_blocks():
    """It reads the pages: the GAN page quotes the gradient penalty's double backward."""
    assert ("gans.md", "(g,) = grad(scores.sum(), x_hat, create_graph=True)") in set(quoted_lines())
    assert "(g,) = grad(scores.sum(), x_hat, create_graph=True)" in source_lines()
