"""The README's quickstart runs as written, and its comments' numbers hold."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(tmp_path, monkeypatch):
    text = README.read_text()
    block = re.search(r"## Quickstart\s+```python\n(.*?)```", text, re.S).group(1)
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    exec(compile(block, "README-quickstart", "exec"), ns)  # our own README, not a user file
    oracle = ns["oracle"]
    assert (tmp_path / "ledger.csv").exists()
    assert ns["result"].success
    assert abs([r.answer for r in oracle.ledger][1] - 0.95) < 1e-12  # the comment "0.95 here"
    assert oracle.ledger.counts()["csq"] >= 57


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    blocks = re.findall(r"```\n(.*?)\n```", text, re.S)
    assert blocks[0].endswith("sqsim demo") and "pytest" in blocks[1]
    assert text.index(blocks[0]) < text.index("## Quickstart")
