"""The README's quickstart runs as written, and its comments' numbers hold."""

import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def test_quickstart_runs(tmp_path, monkeypatch):
    text = README.read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, re.S)
    assert len(blocks) >= 2
    monkeypatch.chdir(tmp_path)
    ns: dict = {}
    for i, block in enumerate(blocks):  # our own README, run in order, not a user file
        exec(compile(block, f"README-block-{i}", "exec"), ns)
    oracle = ns["oracle"]
    assert (tmp_path / "ledger.csv").exists()
    assert ns["result"].success
    assert abs([r.answer for r in oracle.ledger][1] - 0.95) < 1e-12  # the comment "0.95 here"
    assert oracle.ledger.counts()["csq"] >= 57
    assert ns["vs"].survivors >= 1 and ns["vs"].ledger[-1].extra["eliminated"] <= 101
    assert ns["g16"].ledger[0].extra["inner_bound"] == "exact-law" and ns["g16"].ledger[0].extra["eps_inner"] < 1e-4
    assert ns["big"].ledger[-1].extra["truth_path"] == "junta" and ns["big"].ledger[-1].truth_error < 1e-12
    assert ns["low2"].success and ns["low2"].queries == 529


def test_readme_opens_with_the_two_commands():
    text = README.read_text()
    blocks = re.findall(r"```\n(.*?)\n```", text, re.S)
    assert blocks[0].endswith("sqsim demo") and "pytest" in blocks[1]
    assert text.index(blocks[0]) < text.index("## Quickstart")
