"""The documentation site: it builds with warnings as errors, its code examples run, and the code
cites only pages and sections that exist in docs/.

Three tests, each run in a fresh subprocess or a temporary directory (nothing is cached between runs):

- ``test_docs_build``: ``sphinx-build -W --keep-going -b html`` (serial) on a copy of ``docs/`` in a
  temporary directory, so the build writes nothing into the checkout (autosummary's generated API
  pages included);
- ``test_docs_examples``: every fenced ```` ```python ```` block of every page under ``docs/`` runs,
  page by page in order, each page in its own namespace, in a temporary working directory (a small
  runner: myst-nb is not a dependency). A block preceded by ``<!-- docs-test: module -->`` runs with
  ``__name__ != "__main__"`` (scripts whose work sits under the ``__main__`` guard: their module level
  runs, the guarded part does not); a block preceded by ``<!-- docs-test: skip -->`` is only compiled;
- ``test_citations``: no file cites the design documents that are not in the repository, and every
  citation of a docs page or section resolves (the forms are described at ``PAGE_CITATION``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

pytest.importorskip("sphinx")
pytest.importorskip("numpydoc")
pytest.importorskip("myst_parser")
pytest.importorskip("pydata_sphinx_theme")


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["MPLBACKEND"] = "Agg"
    env.pop("SPHINXOPTS", None)
    return env


# ------------------------------------------------------------------------------------------ build
def test_docs_build(tmp_path):
    src = tmp_path / "docs"
    shutil.copytree(DOCS, src, ignore=shutil.ignore_patterns("_build", "generated", "__pycache__"))
    cmd = [sys.executable, "-m", "sphinx", "-W", "--keep-going", "-b", "html", "-q",
           "-d", str(tmp_path / "doctrees"), str(src), str(tmp_path / "html")]
    proc = subprocess.run(cmd, cwd=tmp_path, env=_env(), capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"sphinx-build failed ({proc.returncode}):\n{proc.stderr[-6000:]}"
    html = tmp_path / "html"
    for page in ["index.html", "getting-started.html", "tutorials/dask.html", "theory/lift.html",
                 "api/generated/sqsim.html", "api/generated/sqsim.lift.html", "api/generated/learners.html"]:
        assert (html / page).is_file(), f"{page} was not built"
    # the API reference describes the public names of the contract (DESIGN section 3 of the project)
    api = (html / "api/generated/sqsim.html").read_text(encoding="utf-8")
    for name in ["SQOracle", "Query", "BooleanCube", "Gaussian", "Ledger", "LearnResult", "QueryBudgetExceeded"]:
        assert f'id="sqsim.{name}"' in api, f"sqsim.{name} is not documented"
    lift = (html / "api/generated/sqsim.lift.html").read_text(encoding="utf-8")
    assert 'id="sqsim.lift.CompressedLift"' in lift
    assert 'id="lift-n3"' in (html / "theory/lift.html").read_text(encoding="utf-8")


# --------------------------------------------------------------------------------------- examples
#: a fenced Python block, optionally preceded by a docs-test marker comment on the line before it
FENCE = re.compile(r"^(?:<!-- docs-test: (?P<mode>skip|module|script) -->\n)?```python[ \t]*\n(?P<code>.*?)^```[ \t]*$",
                   re.M | re.S)

RUNNER = textwrap.dedent(r'''
    import os, re, subprocess, sys, tempfile, time, traceback
    from pathlib import Path
    FENCE = re.compile(sys.argv[1], re.M | re.S)
    docs = Path(sys.argv[2])
    failures = 0
    for page in sys.argv[3:]:
        text = (docs / page).read_text(encoding="utf-8")
        os.chdir(tempfile.mkdtemp(prefix="sqsim-docs-"))
        namespace = {"__name__": "__main__"}
        t0 = time.perf_counter()
        for m in FENCE.finditer(text):
            line = text.count("\n", 0, m.start("code"))
            code = compile("\n" * line + m["code"], f"docs/{page}", "exec")
            if m["mode"] == "skip":
                continue
            try:
                if m["mode"] == "script":  # run as `python script.py`: its __main__ guard and spawned workers
                    Path("script.py").write_text(m["code"], encoding="utf-8")
                    subprocess.run([sys.executable, "script.py"], check=True, timeout=600)
                    continue
                exec(code, {"__name__": "docs_example"} if m["mode"] == "module" else namespace)
            except Exception:
                failures += 1
                print(f"FAILED docs/{page}, block at line {line}:", file=sys.stderr)
                traceback.print_exc()
                break
        print(f"docs/{page}: {time.perf_counter() - t0:.1f} s")
    sys.exit(1 if failures else 0)
''')


def _pages_with_examples() -> list[str]:
    pages = sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")
                   if "_build" not in p.parts and FENCE.search(p.read_text(encoding="utf-8")))
    return pages


def test_docs_examples():
    pages = _pages_with_examples()
    assert "getting-started.md" in pages and sum(p.startswith("tutorials/") for p in pages) >= 5, pages
    proc = subprocess.run([sys.executable, "-c", RUNNER, FENCE.pattern, str(DOCS), *pages], env=_env(),
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, f"a documentation example failed:\n{proc.stdout}\n{proc.stderr[-6000:]}"
    for page in pages:
        assert f"docs/{page}:" in proc.stdout, f"docs/{page} did not run"


def test_example_runner_sees_markers():
    text = ("<!-- docs-test: skip -->\n```python\nraise SystemExit\n```\n\n```python\nx = 1\n```\n"
            "<!-- docs-test: module -->\n```python\ny = 2\n```\n"
            "<!-- docs-test: script -->\n```python\nz = 3\n```\n")
    assert [(m["mode"], m["code"]) for m in FENCE.finditer(text)] == [
        ("skip", "raise SystemExit\n"), (None, "x = 1\n"), ("module", "y = 2\n"), ("script", "z = 3\n")]


# -------------------------------------------------------------------------------------- citations
#: the design documents kept outside the repository; nothing in the repository may cite them
FORBIDDEN = re.compile(r"\b(?:MATH|DESIGN|STYLE)\.md\b")

#: A citation of a docs page: ``docs/<path>.md``, optionally followed by ``, section <label>`` or
#: ``, sections <label>, <label> and <label>``; the page must exist and define each label as a MyST
#: target ``(label)=`` (compared case-insensitively, as Sphinx does). Labels after the first must
#: contain a hyphen (``lift-n2``), so that ordinary prose after a comma is not read as a label.
PAGE_CITATION = re.compile(
    r"docs/(?P<page>(?:[\w-]+/)*[\w-]+\.md)"
    r"(?:,\s+sections?\s+(?P<labels>[a-z0-9][a-z0-9-]*(?:(?:,\s*|\s+and\s+)[a-z0-9]+(?:-[a-z0-9]+)+)*))?")
#: A bare section reference, ``section <label>`` with a hyphenated label (``section lift-n3``): the
#: label must be defined on some docs page (Sphinx labels are global). "Section 4.1" of a paper does
#: not match (labels start with a letter and contain a hyphen).
SECTION_CITATION = re.compile(
    r"(?<![\w/.-])sections?\s+(?P<labels>[a-z][a-z0-9]*(?:-[a-z0-9]+)+"
    r"(?:(?:,\s*|\s+and\s+)[a-z][a-z0-9]*(?:-[a-z0-9]+)+)*)")
#: A Sphinx cross-reference in a docstring, :ref:`label` or :ref:`text <label>`
REF = re.compile(r":ref:`(?:[^`<]*<)?(?P<label>[\w-]+)>?`")
LABEL = re.compile(r"^\((?P<label>[A-Za-z0-9_-]+)\)=\s*$", re.M)
SEPARATOR = re.compile(r"(?:,\s*|\s+and\s+)")

SCANNED = ("sqsim", "learners", "benchmarks", "tests")
TEXT_SUFFIXES = {".py", ".toml", ".md", ".txt", ".cfg", ".ini", ".json", ".rst"}


def _labels() -> dict[str, set[str]]:
    return {p.relative_to(ROOT).as_posix(): {m["label"].lower() for m in LABEL.finditer(p.read_text(encoding="utf-8"))}
            for p in DOCS.rglob("*.md") if "_build" not in p.parts}


def _scanned_files():
    for top in SCANNED:
        for p in sorted((ROOT / top).rglob("*")):
            if p.suffix in TEXT_SUFFIXES and p.is_file() and "__pycache__" not in p.parts:
                yield p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8", errors="replace")
    yield "README.md", (ROOT / "README.md").read_text(encoding="utf-8")
    for p in sorted(DOCS.rglob("*.md")):
        if "_build" not in p.parts:
            yield p.relative_to(ROOT).as_posix(), p.read_text(encoding="utf-8")


def citation_problems(name: str, text: str, labels: dict[str, set[str]]) -> list[str]:
    """Every unresolvable citation in ``text`` (the file ``name``), as readable messages."""
    problems = []
    every = set().union(*labels.values())

    def line(pos):
        return text.count("\n", 0, pos) + 1

    problems += [f"{name}:{line(m.start())}: cites {m[0]}, which is not in the repository"
                 for m in FORBIDDEN.finditer(text)]
    spans = []
    for m in PAGE_CITATION.finditer(text):
        spans.append(m.span())
        page = f"docs/{m['page']}"
        if page not in labels:
            problems.append(f"{name}:{line(m.start())}: cites {page}, which does not exist")
            continue
        for label in SEPARATOR.split(m["labels"]) if m["labels"] else []:
            if label.lower() not in labels[page]:
                problems.append(f"{name}:{line(m.start())}: cites {page}, section {label}: no such label")
    for m in SECTION_CITATION.finditer(text):
        if any(a <= m.start() < b for a, b in spans):
            continue  # the section of a page citation, checked against that page above
        for label in SEPARATOR.split(m["labels"]):
            if label.lower() not in every:
                problems.append(f"{name}:{line(m.start())}: cites section {label}: no docs page defines it")
    for m in REF.finditer(text):
        if m["label"].lower() not in every:
            problems.append(f"{name}:{line(m.start())}: :ref:`{m['label']}` has no target")
    return problems


def test_citations():
    labels = _labels()
    problems = [p for name, text in _scanned_files() if name != "tests/test_docs.py"  # its examples are wrong on purpose
                for p in citation_problems(name, text, labels)]
    assert not problems, "\n".join(problems)


def test_citation_parser():
    labels = {"docs/theory/lift.md": {"lift-n1", "lift-n2", "lift-n3"}, "docs/theory/strategies.md": {"pointwise"}}
    good = ("(docs/theory/lift.md, sections lift-n1, lift-n2) and N3 (section lift-n3), exact for |t| <= D;\n"
            "see docs/theory/strategies.md, section pointwise, and docs/theory/lift.md, section\n    lift-n3.")
    assert citation_problems("x.py", good, labels) == []
    bad = ("(docs/theory/lift.md, section lift-n4) docs/theory/nope.md section lift-n9 :ref:`lift-n7` "
           + "MATH" + ".md section 3")
    found = citation_problems("x.py", bad, labels)
    assert len(found) == 5, found
    for piece in ["lift-n4", "nope.md", "lift-n9", "lift-n7", "not in the repository"]:
        assert any(piece in p for p in found), (piece, found)
    # a paper's section numbers and prose after a comma are not labels
    assert citation_problems("x.py", "Sha18 Section 4.1; docs/theory/lift.md, section lift-n1, exact", labels) == []
