"""The code quoted in docs/ is the code that runs, in the file the docs say it is in.

Every ```python block in docs/*.md belongs to one source file: the one its first line names in a
comment (`# examples/vanilla_gan_mnist.py`), or else the last file under tinygen/ or examples/ that the
page names before the block. Every line of the block must appear in that file (compared without
indentation and trailing comments), so a change to the code that the docs quote fails here until the
docs follow it, and a line quoted from one file cannot pass as another's."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = sorted(ROOT.glob("docs/*.md"))
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
SOURCE_FILE = re.compile(r"(?<![\w/.])(?:\.\./)?((?:tinygen|examples)/[\w/]+\.py)")


def code_line(line):
    """A line without its indentation and without a trailing comment ('#' outside quotes is enough here)."""
    line = line.strip()
    if line.startswith("#"):
        return ""
    quoted = re.sub(r"\"[^\"]*\"|'[^']*'", lambda m: "x" * len(m.group()), line)  # hide '#' inside strings
    cut = quoted.find("  #")
    return (line[:cut] if cut >= 0 else line).rstrip()


def blocks(text):
    """(line number, the file the block quotes or None, its code lines) for each ```python block."""
    for match in BLOCK.finditer(text):
        first = match.group(1).split("\n", 1)[0].strip()
        named_first = SOURCE_FILE.findall(first) if first.startswith("#") else []
        named_before = SOURCE_FILE.findall(BLOCK.sub("", text[:match.start()]))
        source = (named_first or named_before or [None])[-1]
        lines = [code_line(line) for line in match.group(1).splitlines() if code_line(line)]
        yield text[:match.start()].count("\n") + 1, source, lines


def problems(page_name, text):
    found = []
    for line_number, source, lines in blocks(text):
        where = f"{page_name}:{line_number}"
        if source is None:
            found.append(f"{where}: the block names no file (start it with a comment such as '# examples/x.py')")
        elif not (ROOT / source).is_file():
            found.append(f"{where}: {source} does not exist")
        else:
            in_file = {code_line(line) for line in (ROOT / source).read_text().splitlines()}
            found += [f"{where}: not in {source}: {line}" for line in lines if line not in in_file]
    return found


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_quoted_line_is_in_the_file_the_page_names(page):
    found = problems(page.name, page.read_text())
    assert not found, "docs quote code that is not in the file they name:\n" + "\n".join(found)


def test_the_check_sees_the_blocks():
    """It reads the pages: the GAN page quotes the gradient penalty's double backward from wgan.py."""
    page = (ROOT / "docs/gans.md").read_text()
    quoted = [(source, line) for _, source, lines in blocks(page) for line in lines]
    assert ("tinygen/models/wgan.py", "(g,) = grad(scores.sum(), x_hat, create_graph=True)") in quoted


def test_a_line_from_another_file_or_altered_fails():
    """The mismatch this check was made for: D(fake.detach()) quoted as the vanilla GAN's step, whose
    code reads D(shown); a real line of that file passes, and a real line of another file does not."""
    step = "d_real, d_fake = D(real), D(shown)"
    assert not problems("page", f"In `examples/vanilla_gan_mnist.py`:\n```python\n{step}\n```\n")
    altered = "In `examples/vanilla_gan_mnist.py`:\n```python\nd_real, d_fake = D(real), D(fake.detach())\n```\n"
    assert problems("page", altered)
    elsewhere = f"```python\n# tinygen/models/wgan.py\n{step}\n```\n"
    assert problems("page", elsewhere)
    assert problems("page", f"```python\n{step}\n```\n")  # no file named at all
