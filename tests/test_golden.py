"""Ledger fingerprints of a fixed set of runs stay as recorded (tests/golden_runs.py).

Runs listed under ``changed_by_design`` moved deliberately (the reason is recorded with the new
fingerprint); every other run must reproduce the fingerprint recorded before the oracle redesign.
"""

import json
from pathlib import Path

import pytest

from tests.golden_runs import RUNS

GOLDEN = json.loads((Path(__file__).parent / "data" / "golden_fingerprints.json").read_text())


@pytest.mark.parametrize("name", sorted(RUNS))
def test_golden_fingerprint(name):
    changed = GOLDEN["changed_by_design"].get(name)
    expected = changed["fingerprint"] if changed else GOLDEN["fingerprints"][name]
    assert RUNS[name]().fingerprint() == expected, (name, changed and changed["reason"])


def test_every_run_is_recorded():
    assert set(RUNS) == set(GOLDEN["fingerprints"])
    assert set(GOLDEN["changed_by_design"]) <= set(RUNS)
    for entry in GOLDEN["changed_by_design"].values():
        assert entry["reason"] and entry["fingerprint"]
