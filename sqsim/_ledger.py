"""The query ledger: one record per query, counts by kind, budgets, CSV/JSON export.

Only an oracle's ``ask``/``ask_batch`` (or ``draw`` for example oracles) appends records;
strategies, learners and wrappers never count by hand. Wrappers that forward or save queries
record that in the record's own fields (``forwarded``, ``cached``), so inner and outer counts
are never added twice.
"""

from __future__ import annotations

import copy
import csv
import hashlib
import json
import operator
from collections import Counter
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from ._errors import InvalidParameterError, OptionalDependencyError, QueryBudgetExceeded
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
        The query key (hash of its values, docs/theory/contracts.md, section contracts-query-identity): equal keys get equal answers.
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


#: the stored columns, in QueryRecord field order (index is the position)
COLUMNS = ("name", "kind", "tolerance", "answer", "truth", "truth_error", "failure_probability", "strategy",
           "in_band", "seconds", "key", "cached", "extra")
#: how many distinct one-entry ``extra`` dicts one ledger shares between records (e.g. {"null": 0.0})
_INTERN_MAX = 4096
#: the fingerprint's encoding (json.dumps(rows, sort_keys=True, default=repr)), its slice of rows, and the
#: row template in sorted key order (without the timing field)
_ENCODER = json.JSONEncoder(sort_keys=True, default=repr)
_ENCODE_STR = json.encoder.encode_basestring_ascii
_SLICE = 4096
_SCALARS = {float, int, bool, type(None)}
_SCALAR_COLUMNS = ("answer", "cached", "failure_probability", "in_band", "tolerance", "truth", "truth_error")
_STRING_COLUMNS = ("key", "kind", "name", "strategy")
_ROW = ('{"answer": %s, "cached": %s, "extra": %s, "failure_probability": %s, "in_band": %s, "index": %d, '
        '"key": %s, "kind": %s, "name": %s, "strategy": %s, "tolerance": %s, "truth": %s, "truth_error": %s}')


@export
class Ledger:
    """Records of every query an oracle answered.

    Records are stored column by column (one list per field) and built as :class:`QueryRecord` objects on
    demand (``ledger[i]``, iteration, ``records``), so a run of a million queries holds no million record
    objects; the public API and the exports are those of a list of records. A record built on demand is a
    snapshot: changing it does not change the ledger.

    Parameters
    ----------
    budget : int, optional
        The largest number of records; asking beyond it raises :class:`QueryBudgetExceeded`
        before the query is answered.
    """

    def __init__(self, budget=None):
        check_param("budget", budget, [Interval(int, 0, None), NoneOk], "Ledger")
        self.budget = None if budget is None else int(budget)
        for c in COLUMNS:
            setattr(self, "_" + c, [])
        self._total = 0
        self._intern: dict = {}

    def __len__(self) -> int:
        return len(self._name)

    def __iter__(self):
        return (self._record(i) for i in range(len(self._name)))

    def __getitem__(self, i):
        n = len(self._name)
        if isinstance(i, slice):
            return [self._record(j) for j in range(*i.indices(n))]
        j = operator.index(i)
        j = j + n if j < 0 else j
        if not 0 <= j < n:
            raise IndexError(f"ledger index {i} out of range ({n} records)")
        return self._record(j)

    @property
    def records(self) -> list[QueryRecord]:
        """Every record, as a list of :class:`QueryRecord` (built on demand)."""
        return [self._record(i) for i in range(len(self._name))]

    @property
    def total(self) -> int:
        """Number of queries recorded (a record with ``extra["count"]`` = n, e.g. n examples or labels, counts n)."""
        return self._total

    def counts(self) -> dict[str, int]:
        """Number of records per kind."""
        return dict(Counter(self._kind))

    @property
    def remaining(self) -> int | None:
        return None if self.budget is None else self.budget - self.total

    def check_budget(self, n: int, what: str = "query") -> None:
        """Raise :class:`QueryBudgetExceeded` if ``n`` more would exceed the budget."""
        if self.budget is not None and self._total + n > self.budget:
            noun = what if n == 1 else ("queries" if what == "query" else what + "s")
            raise QueryBudgetExceeded(
                f"Asking {n} more {noun} would exceed the budget of {self.budget} "
                f"({self.total} already recorded); nothing was asked."
            )

    def append(self, **kw) -> QueryRecord:
        """Append one record (the fields of :class:`QueryRecord` but ``index``); returns it."""
        rec = QueryRecord(index=len(self._name), **kw)
        self._add(rec.name, rec.kind, rec.tolerance, rec.answer, rec.truth, rec.truth_error, rec.failure_probability,
                  rec.strategy, rec.in_band, rec.seconds, rec.key, rec.cached, rec.extra)
        return self._record(rec.index)

    # ---------------------------------------------------------------- columns
    def _add(self, name, kind, tolerance, answer, truth, truth_error, failure_probability, strategy, in_band,
             seconds, key, cached, extra) -> int:
        """Append one record's fields (the oracles' path: no record object); returns its index."""
        i = len(self._name)
        count = 1
        if extra:
            if len(extra) == 1:
                extra = self._shared(extra)
            count = int(extra.get("count", 1))
        else:
            extra = None
        self._name.append(name)
        self._kind.append(kind)
        self._tolerance.append(tolerance)
        self._answer.append(answer)
        self._truth.append(truth)
        self._truth_error.append(truth_error)
        self._failure_probability.append(failure_probability)
        self._strategy.append(strategy)
        self._in_band.append(in_band)
        self._seconds.append(seconds)
        self._key.append(key)
        self._cached.append(cached)
        self._extra.append(extra)
        self._total += count
        return i

    def _shared(self, extra: dict) -> dict:
        """One stored dict for equal one-entry extras of a scalar (no dict per record; records copy it)."""
        ((k, v),) = extra.items()
        t = type(v)
        if t is float:
            tag = (k, v.hex())  # 0.0 and -0.0 (and NaNs) stay apart
        elif t in (int, bool, str) or v is None:
            tag = (k, t, v)
        else:
            return dict(extra)
        shared = self._intern.get(tag)
        if shared is None:
            shared = dict(extra)
            if len(self._intern) < _INTERN_MAX:
                self._intern[tag] = shared
        return shared

    def _record(self, i: int) -> QueryRecord:
        e = self._extra[i]
        return QueryRecord(i, self._name[i], self._kind[i], self._tolerance[i], self._answer[i], self._truth[i],
                           self._truth_error[i], self._failure_probability[i], self._strategy[i], self._in_band[i],
                           self._seconds[i], self._key[i], self._cached[i], {} if e is None else copy.deepcopy(e))

    def _view_row(self, i: int) -> tuple:
        """(name, kind, answer, count) of record i: what a learner's ledger view shows."""
        e = self._extra[i]
        return self._name[i], self._kind[i], self._answer[i], 1 if e is None else int(e.get("count", 1))

    def _row(self, i: int, *, timing: bool = True) -> dict:
        """Record i as the dict :meth:`QueryRecord.to_dict` gives, without copying ``extra`` (for export)."""
        e = self._extra[i]
        row = {"index": i, "name": self._name[i], "kind": self._kind[i], "tolerance": self._tolerance[i],
               "answer": self._answer[i], "truth": self._truth[i], "truth_error": self._truth_error[i],
               "failure_probability": self._failure_probability[i], "strategy": self._strategy[i],
               "in_band": self._in_band[i], "seconds": self._seconds[i], "key": self._key[i],
               "cached": self._cached[i], "extra": {} if e is None else e}
        if not timing:
            for k in TIMING_FIELDS:
                del row[k]
        return row

    # ---------------------------------------------------------------- export
    def to_dicts(self) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self]

    def to_json(self, path=None) -> str:
        """The records as a JSON array (written to ``path`` if given); returns the text."""
        text = json.dumps([self._row(i) for i in range(len(self))], sort_keys=True, allow_nan=True)
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
            for i in range(len(self)):
                row = self._row(i)
                row["extra"] = json.dumps(row["extra"], sort_keys=True)
                w.writerow(row)
        tmp.replace(path)

    @classmethod
    def from_csv(cls, path) -> Ledger:
        """Rebuild a ledger from :meth:`to_csv` output: the same records, hence the same fingerprint.

        Numbers are read back as the type they were written as (``repr`` of a float or an int), empty
        cells of the nullable columns (``tolerance``, ``truth``) as None, booleans from ``True``/``False``
        and ``extra`` from its JSON text. Nothing is evaluated.
        """
        path = Path(path)
        names = [f.name for f in fields(QueryRecord)]
        try:
            fh = open(path, newline="")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise InvalidParameterError(f"The 'path' parameter of Ledger.from_csv must be a readable CSV file. "
                                        f"Got {str(path)!r} ({exc}) instead.") from exc
        led = cls()
        with fh:
            reader = csv.DictReader(fh)
            if reader.fieldnames != names:
                raise InvalidParameterError(
                    f"The 'path' parameter of Ledger.from_csv must be a ledger CSV written by Ledger.to_csv, with the "
                    f"columns {names}. Got {str(path)!r} with the columns {reader.fieldnames} instead.")
            for n, row in enumerate(reader, start=2):
                try:
                    rec = _parse_csv_row(row)
                except (ValueError, TypeError) as exc:
                    raise InvalidParameterError(
                        f"The 'path' parameter of Ledger.from_csv must be a ledger CSV written by Ledger.to_csv. Got "
                        f"{str(path)!r} whose line {n} cannot be read ({exc}) instead.") from exc
                if rec.pop("index") != len(led):
                    raise InvalidParameterError(
                        f"The 'path' parameter of Ledger.from_csv must hold the records in index order. Got "
                        f"{str(path)!r} whose line {n} has index {row['index']!r} instead.")
                led.append(**rec)
        return led

    def to_pandas(self):
        """The records as a :class:`pandas.DataFrame`, one row per record, the columns of :class:`QueryRecord`.

        pandas is not a dependency of sqsim: without it this raises :class:`~sqsim.OptionalDependencyError`
        (an ``ImportError``) saying how to install it; :meth:`to_csv` and :meth:`to_dicts` need nothing.
        """
        try:
            import pandas as pd
        except ImportError as exc:
            raise OptionalDependencyError(
                "Ledger.to_pandas needs pandas, which sqsim does not depend on: pip install pandas (or use "
                "Ledger.to_csv / Ledger.to_dicts, which need nothing)."
            ) from exc
        columns = [f.name for f in fields(QueryRecord)]
        return pd.DataFrame([self._row(i) for i in range(len(self))], columns=columns)

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
        """SHA-256 of the records without timing fields: equal for identical runs.

        The text hashed is ``json.dumps(rows, sort_keys=True, default=repr)`` of the record dicts (without
        ``seconds``); it is built in slices of rows, column by column (:meth:`_json_rows`), and hashed as it
        goes: the same bytes as one ``dumps`` of the whole list.
        """
        h = hashlib.sha256(b"[")
        n = len(self)
        for start in range(0, n, _SLICE):
            if start:
                h.update(b", ")
            h.update(", ".join(self._json_rows(start, min(n, start + _SLICE))).encode())
        h.update(b"]")
        return h.hexdigest()

    def _json_rows(self, start: int, stop: int) -> list[str]:
        """``json.dumps(row, sort_keys=True, default=repr)`` of rows start..stop-1 without timing fields.

        Columns whose values are all of JSON's scalar types are encoded in bulk (one C-encoder call per
        column, split at the item separator, which no such scalar contains) and strings one by one with
        the encoder's own escaping; shared ``extra`` dicts are encoded once. A slice holding any other type
        falls back to encoding its row dicts.
        """
        enc = _ENCODER.encode
        cols = []
        for c in _SCALAR_COLUMNS:
            vals = getattr(self, "_" + c)[start:stop]
            if not set(map(type, vals)) <= _SCALARS:
                return [enc(self._row(i, timing=False)) for i in range(start, stop)]
            cols.append(enc(vals)[1:-1].split(", ") if vals else [])
        for c in _STRING_COLUMNS:
            vals = getattr(self, "_" + c)[start:stop]
            if not set(map(type, vals)) <= {str}:
                return [enc(self._row(i, timing=False)) for i in range(start, stop)]
            cols.append(list(map(_ENCODE_STR, vals)))
        seen: dict[int, str] = {}
        extras = []
        for e in self._extra[start:stop]:
            if e is None:
                extras.append("{}")
            else:
                t = seen.get(id(e))
                if t is None:
                    t = seen[id(e)] = enc(e)
                extras.append(t)
        answer, cached, fp, in_band, tol, truth, terr, key, kind, name, strategy = cols
        return [_ROW % r for r in zip(answer, cached, extras, fp, in_band, range(start, stop), key, kind, name,
                                      strategy, tol, truth, terr)]

    def __repr__(self):
        return f"Ledger(records={len(self)}, counts={self.counts()}, budget={self.budget})"


_BOOLS = {"True": True, "False": False}


def _number(text: str, nullable: bool):
    """A number as ``str`` wrote it (int or float repr, nan, inf); '' is None in the nullable columns."""
    if text == "" and nullable:
        return None
    try:
        return int(text)
    except ValueError:
        return float(text)


def _parse_csv_row(row: dict) -> dict:
    """One :meth:`Ledger.to_csv` row as the keyword arguments of :class:`QueryRecord`."""
    out = dict(row)
    out["index"] = int(row["index"])
    for c in ("tolerance", "truth"):
        out[c] = _number(row[c], True)
    for c in ("answer", "truth_error", "failure_probability", "seconds"):
        out[c] = _number(row[c], False)
    for c in ("in_band", "cached"):
        if row[c] not in _BOOLS:
            raise ValueError(f"{c} = {row[c]!r} is not True or False")
        out[c] = _BOOLS[row[c]]
    extra = json.loads(row["extra"]) if row["extra"] else {}
    if not isinstance(extra, dict):
        raise TypeError(f"extra = {row['extra'][:80]!r} is not a JSON object")
    out["extra"] = extra
    return out


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
