"""The tour in docs/ cannot drift from the library.

* Every ```pycon block (an interactive session: '>>> ' lines and the output they print) runs as a
  doctest; the blocks of one page share one namespace, in the order they appear.
* Every relative link in docs/*.md and README.md names a file that exists (and a heading that the
  page it names has, for page.md#heading), and a link to a line,
  [`name`](../tinygen/file.py#L42), lands on the line where `name` is defined (def, class or
  assignment), so a change that moves the code fails here until the link follows it.
  (`python tests/test_docs_tour.py` prints each stale link with the line it should point at now;
  with --fix it moves each to the nearest definition of its name.)
* Every script in docs/figures/ runs and writes its picture.
(The ```python blocks, quoted source, are checked line by line in tests/test_docs.py.)"""
import doctest
import pathlib
import re
import shlex
import sys

import pytest

from script_runs import run_python

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted(ROOT.glob("docs/*.md"))]
SESSION = re.compile(r"```pycon\n(.*?)```", re.S)
LINK = re.compile(r"\[((?:[^\[\]]|\[[^\]]*\])*)\]\(([^)\s]+)\)")
LINE_ANCHOR = re.compile(r"#L(\d+)(?:-L?\d+)?$")
FIGURE_SCRIPTS = sorted(p for p in ROOT.glob("docs/figures/*.py") if not p.name.startswith("_"))  # _figure.py: shared


def page_id(page):
    return str(page.relative_to(ROOT)) if page.is_relative_to(ROOT) else page.name


def defines(line, name):
    """Whether this source line defines `name`: `def name(`, `class name`, or `name = ...`."""
    return re.search(rf"^\s*(?:async\s+)?(?:def|class)\s+{re.escape(name)}\b|^\s*(?:self\.)?{re.escape(name)}\s*(?::[^=]*)?=[^=]", line) is not None


def named_in(text):
    """The name a line link points at: the last `backticked` word of the link text, and of a dotted
    name (`Conv2d.forward`) its last part."""
    names = re.findall(r"`([A-Za-z_][\w.]*)`", text)
    return names[-1].split(".")[-1] if names else None


def links(page):
    """(link text, target) for each relative link of the page, outside code blocks."""
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    for text, target in LINK.findall(prose):
        if not re.match(r"[a-z]+:|#|mailto:", target):
            yield text, target


def heading_anchors(page):
    """The anchors GitHub gives a Markdown page's headings: lower case, punctuation dropped, spaces
    as hyphens ("## Gradients of `grad`" -> #gradients-of-grad)."""
    prose = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    titles = re.findall(r"^#{1,6} +(.+?) *$", prose, flags=re.M)
    return {re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-") for title in titles}


def link_problems(page):
    problems = []
    for text, target in links(page):
        path_part = target.split("#")[0]
        file = (page.parent / path_part).resolve()
        if not file.exists():
            problems.append(f"{page_id(page)}: [{text}]({target}): no file {path_part}")
            continue
        if file.suffix == ".md" and "#" in target:
            heading = target.split("#", 1)[1]
            if heading not in heading_anchors(file):
                problems.append(f"{page_id(page)}: [{text}]({target}): no heading #{heading} in {path_part}")
            continue
        anchor = LINE_ANCHOR.search(target)
        if not anchor:
            continue
        name = named_in(text)
        lines = file.read_text().splitlines()
        number = int(anchor.group(1))
        if name is None:
            problems.append(f"{page_id(page)}: [{text}]({target}): a line link must name what it points at in `backticks`")
        elif not (1 <= number <= len(lines) and defines(lines[number - 1], name)):
            now = [i + 1 for i, line in enumerate(lines) if defines(line, name)]
            problems.append(f"{page_id(page)}: [{text}]({target}): line {number} does not define {name}"
                            f" (defined at line {now if now else 'none'})")
    return problems


@pytest.mark.parametrize("page", PAGES, ids=page_id)
def test_links_resolve_and_line_links_land_on_the_named_definition(page):
    problems = link_problems(page)
    assert not problems, "\n".join(problems)


def run_examples(page):
    """Run the page's ```pycon blocks as one doctest (one namespace, in order); return (failed, tried).
    The report of each failure is printed. Run it in a scratch folder: examples may write files."""
    source = "\n".join(SESSION.findall(page.read_text()))
    test = doctest.DocTestParser().get_doctest(source, {"__name__": "__docs__"}, page_id(page), str(page), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    # Collect the reports and print them after the run: during it sys.stdout is doctest's capture of
    # the examples' output, so a report printed then would become the next example's "Got".
    reports = []
    runner.run(test, out=reports.append)
    print("".join(reports), end="")
    return runner.failures, runner.tries


@pytest.mark.parametrize("page", [p for p in PAGES if SESSION.search(p.read_text())], ids=page_id)
def test_interactive_examples_run(page, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)          # examples that save files write into a scratch folder
    failed, tried = run_examples(page)
    assert failed == 0, f"{failed} of {tried} examples in {page_id(page)} failed (printed above)"


def test_the_example_check_catches_a_wrong_output(tmp_path, monkeypatch, capsys):
    """It can fail: of four examples in two blocks, the one whose expected output is wrong is
    reported, and only that one (the blocks share one namespace: the second uses the first's t)."""
    monkeypatch.chdir(tmp_path)
    page = tmp_path / "page.md"
    page.write_text("```pycon\n>>> import tinygen as tg\n>>> t = tg.tensor([1.0, 2.0])\n```\n"
                    "Prose between the blocks.\n"
                    "```pycon\n>>> t.shape\n(3,)\n>>> t.tolist()\n[1.0, 2.0]\n```\n")
    assert run_examples(page) == (1, 4)
    report = capsys.readouterr().out
    assert "t.shape" in report and "Expected:\n    (3,)\nGot:\n    (2,)" in report


@pytest.mark.parametrize("script", FIGURE_SCRIPTS, ids=lambda p: p.name)
def test_figure_scripts_draw_their_pictures(script, tmp_path):
    status, _, stderr = run_python(script, "--out", tmp_path, timeout=120)
    assert status == 0, stderr
    assert list(tmp_path.glob("*.png")), f"{script.name} wrote no picture"


SHELL = re.compile(r"```bash\n(.*?)```", re.S)


def shell_commands(page):
    """Each command line of the page's ```bash blocks, split as the shell would, comments dropped."""
    for block in SHELL.findall(page.read_text()):
        for line in block.splitlines():
            words = shlex.split(line, comments=True)
            if words:
                yield words


def command_problems(words, help_text):
    """What is wrong with one documented command: a script or test file that does not exist, or an
    option that the script's --help does not list. help_text(script) returns that help."""
    command = " ".join(words)
    while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=\S*", words[0]):  # VAR=value before a command sets its environment
        words = words[1:]
    if words[:3] == ["python", "-m", "pytest"]:
        files = [w.split("::")[0] for w in words[3:] if not w.startswith("-") and w.endswith(".py")]
        return [f"{command}: no file {f}" for f in files if not (ROOT / f).exists()]
    if words[0] in ("python", "bash") and len(words) > 1 and words[1].endswith((".py", ".sh")):
        script = ROOT / words[1]
        if not script.exists():
            return [f"{command}: no file {words[1]}"]
        if words[0] == "python":
            listed = set(re.findall(r"--[\w-]+", help_text(words[1])))
            return [f"{command}: {words[1]} has no option {w.split('=')[0]}"
                    for w in words[2:] if w.startswith("--") and w.split("=")[0] not in listed]
        return []
    if words[:2] == ["pip", "install"]:
        return []
    return [f"{command}: not a command this check knows (python SCRIPT, bash SCRIPT, python -m pytest, pip install)"]


def script_help(script, cache={}):
    if script not in cache:
        cache[script] = run_python(ROOT / script, "--help", timeout=60, cwd=ROOT)[1]
    return cache[script]


@pytest.mark.parametrize("page", [p for p in PAGES if SHELL.search(p.read_text())], ids=page_id)
def test_shell_commands_name_real_scripts_and_options(page):
    """A ```bash block is not run (it trains for minutes), but what it names must exist: the script,
    the test files, and every --option in the script's --help."""
    problems = [problem for words in shell_commands(page) for problem in command_problems(words, script_help)]
    assert not problems, "\n".join(problems)


def test_the_command_check_catches_a_missing_option_or_file():
    listed = lambda script: "usage: x [--epochs EPOCHS]"
    assert command_problems(["python", "examples/vanilla_gan_mnist.py", "--epochs", "3"], listed) == []
    assert "has no option --epoch" in command_problems(["python", "examples/vanilla_gan_mnist.py", "--epoch", "3"], listed)[0]
    assert "no file examples/nothing.py" in command_problems(["python", "examples/nothing.py"], listed)[0]
    assert "no file tests/test_nothing.py" in command_problems(["python", "-m", "pytest", "tests/test_nothing.py"], listed)[0]


def test_the_readme_set_up_commands_are_the_ones_ci_runs():
    """The README's two set-up lines, and CI's .ci/run running them (pip quietly)."""
    readme = [words for words in shell_commands(ROOT / "README.md")]
    assert readme[0] == ["pip", "install", "-e", ".[dev]"] and readme[1] == ["python", "-m", "pytest"]
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q -e ".[dev]"' in ci and "\npython -m pytest || status=$?" in ci


def test_the_link_check_catches_a_stale_line(tmp_path):
    """It can fail: a link one line off, and a link that names nothing, are both reported."""
    source = ROOT / "tinygen" / "autograd.py"
    line = next(i + 1 for i, text in enumerate(source.read_text().splitlines()) if defines(text, "backward"))
    page = tmp_path / "docs" / "page.md"
    page.parent.mkdir()
    rel = "../tinygen/autograd.py"
    page.write_text(f"[`backward`]({rel}#L{line}) [`backward`]({rel}#L{line + 1}) [here]({rel}#L{line})\n")
    (tmp_path / "tinygen").symlink_to(ROOT / "tinygen")
    problems = link_problems(page)
    assert len(problems) == 2 and "does not define backward" in problems[0] and "must name" in problems[1]


def test_the_link_check_catches_a_missing_heading(tmp_path):
    """A link to a page's heading must name one the page has, as GitHub spells its anchor."""
    (tmp_path / "other.md").write_text("# Title\n\n## Gradients of `grad`: the models\n")
    page = tmp_path / "page.md"
    page.write_text("[ok](other.md#gradients-of-grad-the-models) [stale](other.md#gradients-of-grad)\n")
    problems = link_problems(page)
    assert len(problems) == 1 and "no heading #gradients-of-grad in other.md" in problems[0]


def fix_line_links(page):
    """Point each stale line link of the page at the definition of its name nearest the old line;
    returns how many links moved. (What names nothing, or nothing any more, is left to a person.)"""
    text, moved = page.read_text(), 0
    for link_text, target in set(links(page)):
        anchor, name = LINE_ANCHOR.search(target), named_in(link_text)
        file = (page.parent / target.split("#")[0]).resolve()
        if not (anchor and name and file.exists()):
            continue
        lines, number = file.read_text().splitlines(), int(anchor.group(1))
        if 1 <= number <= len(lines) and defines(lines[number - 1], name):
            continue
        now = [i + 1 for i, line in enumerate(lines) if defines(line, name)]
        if now:
            nearest = min(now, key=lambda n: abs(n - number))
            fixed = target.split("#")[0] + f"#L{nearest}"
            text, count = text.replace(f"]({target})", f"]({fixed})"), text.count(f"]({target})")
            moved += count
    page.write_text(text)
    return moved


def test_fix_moves_a_stale_line_link_to_the_nearest_definition(tmp_path):
    (tmp_path / "code.py").write_text("x = 1\n\n\ndef f():\n    pass\n\n\ndef f():\n    pass\n")
    page = tmp_path / "page.md"
    page.write_text("[`f`](code.py#L3) and [`f`](code.py#L9) and [`x`](code.py#L1)\n")
    assert fix_line_links(page) == 2
    assert page.read_text() == "[`f`](code.py#L4) and [`f`](code.py#L8) and [`x`](code.py#L1)\n"
    assert link_problems(page) == []


if __name__ == "__main__":
    # python tests/test_docs_tour.py          lists the stale links
    # python tests/test_docs_tour.py --fix    moves each to the nearest definition of its name (check the diff)
    for page in PAGES:
        if "--fix" in sys.argv and fix_line_links(page):
            print(f"{page_id(page)}: line links moved")
        for problem in link_problems(page):
            print(problem)


def test_the_performance_picture_draws_the_chapters_own_figures():
    """docs/figures/tour_performance.py measures nothing: each step-time ratio and profile figure it
    draws must be one that docs/8-performance.md states, so the picture cannot drift from the tables."""
    figure = {}
    exec(compile((ROOT / "docs/figures/tour_performance.py").read_text(), "tour_performance.py", "exec"), figure)
    chapter = (ROOT / "docs" / "8-performance.md").read_text()
    for case, runs in figure["RATIOS"].items():
        assert ", ".join(f"{r:.2f}" for r in runs) in chapter, case
    for step, parts in figure["PROFILE"].items():
        assert re.search(r"\((\d+\.\d) ms\)", step).group(1) in chapter, step
        for part, ms in parts.items():
            if part != "im2col, col2im":  # drawn as the sum of the chapter's two rows
                assert f"{ms:.1f}" in chapter, (step, part)
