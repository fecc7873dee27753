"""Sphinx configuration of the sqsim documentation site.

Build it with ``sphinx-build docs docs/_build`` (``tests/test_docs.py`` builds it with warnings as
errors). Pages are MyST Markdown; the API reference is generated from the docstrings
(numpydoc format) by autosummary: ``docs/api/index.md`` lists the documented modules, one line each.
"""

from __future__ import annotations

import importlib
import os
import re
import sys

# the checkout itself, so that the site documents the sources next to it (not an installed copy);
# a copy of docs/ elsewhere (tests/test_docs.py builds one) finds sqsim through PYTHONPATH
_ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
if os.path.isdir(os.path.join(_ROOT, "sqsim")):
    sys.path.insert(0, _ROOT)

import sqsim  # noqa: E402

project = "sqsim"
author = "the sqsim developers"
copyright = "the sqsim developers"  # noqa: A001 - Sphinx's name
release = version = sqsim.__version__

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "numpydoc",
]

source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store"]
templates_path = ["_templates"]

# MyST: `(label)=` targets before headings, $...$ maths, ::: fences
myst_enable_extensions = ["dollarmath", "colon_fence", "deflist"]
myst_heading_anchors = 3

# API reference: one generated page per module (docs/api/generated/, rebuilt on every build)
autosummary_generate = True
autosummary_imported_members = False
autosummary_ignore_module_all = False
autodoc_typehints = "none"
autodoc_member_order = "bysource"
add_module_names = False

numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_validation_checks: set = set()

html_theme = "pydata_sphinx_theme"
html_title = f"sqsim {release}"
html_static_path: list = []
html_theme_options = {
    "navigation_with_keys": False,
    "show_prev_next": True,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"**": ["sidebar-nav-bs"]}


# ---------------------------------------------------------------- docstrings as plain-text maths
# sqsim's docstrings write maths in plain text: |S| is the size of S, |a - b| an absolute value.
# reStructuredText would read |S| as a substitution; escape every bar outside literals, code
# blocks and doctest lines before numpydoc and docutils see the docstring.
_LITERAL = re.compile(r"(``.+?``|`[^`]+`_?|:[a-z:]+:`[^`]+`)")


def _escape_bars(line: str) -> str:
    parts = _LITERAL.split(line)
    return "".join(p if i % 2 else p.replace("|", r"\|") for i, p in enumerate(parts))


def escape_plain_maths(app, what, name, obj, options, lines):
    """``autodoc-process-docstring`` hook: escape ``|`` outside literals (in place)."""
    in_block, block_indent = False, 0
    for i, line in enumerate(lines):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if in_block:
            if stripped and indent <= block_indent:
                in_block = False
            else:
                continue
        if stripped.startswith((">>>", "... ")) or stripped == "...":
            continue
        if "|" in line:
            lines[i] = _escape_bars(line)
        if line.rstrip().endswith("::"):
            in_block, block_indent = True, indent


# ---------------------------------------------------------------- one home page per object
# A name re-exported by several documented modules (sqsim.OracleHandle and
# sqsim.oracles.OracleHandle) is described once, on the page of the documented module that
# defines it, and linked from the others.
_API_INDEX = os.path.join(os.path.dirname(__file__), "api", "index.md")


def api_modules() -> list[str]:
    """The documented modules: the entries of the autosummary list in docs/api/index.md."""
    text = open(_API_INDEX, encoding="utf-8").read()
    block = text.split(":toctree: generated", 1)[1].split("```", 1)[0]
    return [line.strip() for line in block.splitlines() if line.strip()]


def home_module(module: str, name: str) -> str:
    """The documented module whose page describes ``module.name`` in full."""
    obj = getattr(importlib.import_module(module), name)
    defined = getattr(obj, "__module__", None) or module
    documented = api_modules()
    public = ".".join(part for part in defined.split(".") if not part.startswith("_")) or module
    while public and public not in documented:
        public = public.rpartition(".")[0]
    return public or module


def api_homes() -> dict[str, str]:
    """``"module.name"`` -> the documented module that describes it, for every documented name."""
    homes = {}
    for module in api_modules():
        mod = importlib.import_module(module)
        names = getattr(mod, "__all__", None) or [n for n in vars(mod) if not n.startswith("_")]
        for name in names:
            if hasattr(mod, name):
                homes[f"{module}.{name}"] = home_module(module, name)
    return homes


autosummary_context = {"homes": api_homes()}


def setup(app):
    app.connect("autodoc-process-docstring", escape_plain_maths)
