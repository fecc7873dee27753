"""The query ledger: one record per query, counts by kind, budgets, CSV/JSON export.

Only an oracle's ``ask``/``ask_batch`` (or ``draw`` for example oracles) appends records;
strategies, learners and wrappers never count by hand. Wrappers that forward or save queries
record that in the record's own fields (``forwarded``, ``cached``), so inner and outer counts
are never added twice.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ._errors import InvalidParameterError, QueryBudgetExceeded
from ._export import export
from ._validation import Interval, NoneOk, check_param

#: fields left out of ledger fingerprints (timing differs between identical runs)
TIMING_FIELDS = ("seconds",)


@export
@dataclass
class QueryRecord:
    """One answered query.

    Attributes
    ----------
    index : int
        Position in the ledger (0-based).
    name, kind : str
        The query's name and ledger kind (sq, csq, label, gradient, example).
    tolerance : float or None
        The band half-width promised for this answer (tau; for VSTAT the band at this query).
    answer : float
    truth : float or None
        The true expectation (exact on enumerable domains) or its Monte Carlo estimate.
    truth_error : float
        Bound on |truth - true expectation| (0 when exact), already subtracted from the band
        the strategy could use.
    failure_probability : float
        Probability that the promise |answer - expectation| <= tolerance fails (Monte Carlo
        truths and the sampled strategy declare one; 0 otherwise).
    strategy : str
    in_band : bool
        Whether the answer lies in the band (always True except for strategies that declare a
        failure probability, e.g. "sampled").
    seconds : float
        Wall time spent answering (excluded from fingerprints).
    key : str
        The query key (hash of its values, DESIGN.md section 3): equal keys get equal answers.
    cached : bool
        True when the answer was repeated from an earlier identical query.
    extra : dict
        Strategy- or wrapper-specific fields (survivor counts, forwarded queries, ...).
    """

    index: int
    name: str
    kind: str
    tolerance: float | None
    answer: float
    truth: float | None
    truth_error: float
    failure_probability: float
    strategy: str
    in_band: bool
    seconds: float
    key: str
    cached: bool = False
    extra: dict = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@export
class Ledger:
    """Records of every query an oracle answered.

    Parameters
    ----------
    budget : int, optional
        The largest number of records; asking beyond it raises :class:`QueryBudgetExceeded`
        before the query is answered.
    """

    def __init__(self, budget=None):
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], "Ledger")
        self.budget = None if budget is None else int(budget)
        self.records: list[QueryRecord] = []
        self._total = 0

    def __len__(self) -> int:
        return len(self.records)

    def __iter__(self):
        return iter(self.records)

    def __getitem__(self, i):
        return self.records[i]

    @property
    def total(self) -> int:
        """Number of queries recorded (a record with ``extra["count"]`` = n, e.g. n examples or labels, counts n)."""
        return self._total

    def counts(self) -> dict[str, int]:
        """Number of records per kind."""
        return dict(Counter(r.kind for r in self.records))

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else self.budget - self.total

    def check_budget(self, n: int, what: str = "query") -> None:
        """Raise :class:`QueryBudgetExceeded` if ``n`` more would exceed the budget."""
        if self.budget is not None and self.total + n > self.budget:
            noun = what if n == 1 else ("queries" if what == "query" else what + "s")
            raise QueryBudgetExceeded(
                f"Asking {n} more {noun} would exceed the budget of {self.budget} "
                f"({self.total} already recorded); nothing was asked."
            )

    def append(self, **kw) -> QueryRecord:
        rec = QueryRecord(index=len(self.records), **kw)
        self.records.append(rec)
        self._total += int(rec.extra.get("count", 1))
        return rec

    # ---------------------------------------------------------------- export
    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self.records]

    def to_json(self, path=None) -> str:
        """The records as a JSON array (written to ``path`` if given); returns the text."""
        text = json.dumps(self.to_dicts(), sort_keys=True, allow_nan=True)
        if path is not None:
            _write_atomic(Path(path), text)
        return text

    def to_csv(self, path) -> None:
        """Write the records as CSV (``extra`` as a JSON string column)."""
        names = [f.name for f in fields(QueryRecord)]
        path = Path(path)
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "w", newline="") as fh:
            w = csv.DictWriter(fh, fieldnames=names)
            w.writeheader()
            for r in self.records:
                row = r.to_dict()
                row["extra"] = json.dumps(row["extra"], sort_keys=True)
                w.writerow(row)
        tmp.replace(path)

    @classmethod
    def from_json(cls, text: str) -> Ledger:
        """Rebuild a ledger from :meth:`to_json` output."""
        try:
            items = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidParameterError(f"The 'text' parameter of Ledger.from_json must be JSON. {exc}") from exc
        led = cls()
        names = {f.name for f in fields(QueryRecord)}
        for i, it in enumerate(items if isinstance(items, list) else [None]):
            if not isinstance(it, dict) or not names - {"cached", "extra"} <= set(it) or not set(it) <= names:
                raise InvalidParameterError(
                    f"The 'text' parameter of Ledger.from_json must hold a list of ledger records with the fields "
                    f"{sorted(names)}. Got record {i}: {str(it)[:80]} instead."
                )
            it = dict(it)
            it.pop("index", None)
            led.append(**it)
        return led

    def fingerprint(self) -> str:
        """SHA-256 of the records without timing fields: equal for identical runs."""
        rows = []
        for r in self.records:
            d = r.to_dict()
            for k in TIMING_FIELDS:
                d.pop(k, None)
            rows.append(d)
        return hashlib.sha256(json.dumps(rows, sort_keys=True, default=repr).encode()).hexdigest()

    def __repr__(self):
        return f"Ledger(records={len(self)}, counts={self.counts()}, budget={self.budget})"


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
