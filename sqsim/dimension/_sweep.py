"""The certified SDA lower bound of a sweep's family, computed once per (family, d, tau) and cached as JSON.

Used by the sweep plots (``sqsim.experiments.plot``) to draw, beside the measured counts, the number of
queries FGRVX17 Theorem 3.7 guarantees for the swept class at the sweep's tolerance
(docs/theory/dimension-lifted.md, section "sweep-bounds").
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

from .._errors import InvalidParameterError
from .._files import replace_lines
from .._validation import Options, check_param, show

#: version of the cache files (a file with another version is recomputed)
CACHE_SCHEMA = 1
#: families sweep_bound computes by correlation matrices up to this class size; beyond, by the closed form
MATRIX_MAX_N = 2**16 - 1
#: the sweep oracle plans (results rows' "oracle") and the theorem's oracle they map to
ORACLE_OF_PLAN = {"sq": "stat", "lifted": "stat", "vstat": "vstat", "stat": "stat"}
#: the fields every cached (and returned) bound holds
FIELDS = ("schema", "key", "family", "family_params", "d", "tolerance", "oracle", "lower", "upper", "gamma",
          "theorem", "sda_lower", "sda_upper", "N", "kind", "abs_error", "method", "vstat_t")


def _family_of(family_spec):
    """(name, params) from a sweep family entry: "name", {"name": ..., **params}, or a results row."""
    if isinstance(family_spec, dict) and "family" in family_spec and isinstance(family_spec["family"], str):
        return family_spec["family"], dict(family_spec.get("family_params") or {})
    from ..experiments._families import spec_name_params

    return spec_name_params(family_spec, "family_spec", "sweep_bound")


def _key(name, params, d, tolerance, oracle) -> str:
    text = json.dumps({"family": name, "family_params": params, "d": int(d), "tolerance": float(tolerance),
                       "oracle": oracle, "schema": CACHE_SCHEMA}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def sweep_bound(family_spec, d, tolerance, cache_dir, *, oracle="stat") -> dict | None:
    """The certified query lower bound (FGRVX17 Theorem 3.7 via SDA) for a sweep's family, cached.

    Contract (for the plot code):

    - ``family_spec``: the family entry of a sweep config (``"parity"``, ``{"name": "sparse-parity", "k": 2}``,
      ``{"name": "lifted-parity", "delta": 0.1}``) or a results row (its ``"family"`` and ``"family_params"``
      are used). ``d``: the row's d. ``tolerance``: the row's ``tau`` (the Gaussian tau for lifted families).
    - ``oracle``: the row's oracle plan or the theorem's oracle: ``"sq"``, ``"lifted"`` or ``"stat"`` give the
      STAT bound at tau; ``"vstat"`` the VSTAT bound at t = 1/tau^2 (what the sweep runner builds);
      ``"example"`` returns None (no SQ bound on example counts).
    - Returns None for families it cannot bound (unknown names); otherwise a dict with ``lower`` (certified:
      every SQ algorithm that decides the class against its null with probability 1 needs at least this many
      queries; identification needs ``lower - 1``, docs/theory/dimension.md), ``upper`` (the most this theorem
      gives for the class, from an explicit witness subset; not an upper bound on the complexity), ``gamma``,
      ``oracle`` ("stat" or "vstat"), ``theorem`` (the statement used), ``sda_lower``/``sda_upper`` (the SDA
      interval), ``N`` (class size: the 2^d - 1 nonempty parities, the C(d, k) k-sparse ones, or their lifts),
      ``kind`` ("sq"), ``abs_error`` (certified error of the correlations: 0 Boolean, the law of V's for lifted),
      ``method`` ("matrix" for N <= 65535, "closed form" beyond: the classes are orthonormal, scaled by
      c = P[phi_D(V) != 0] for lifted ones, docs/theory/dimension-lifted.md), ``vstat_t`` (VSTAT only), the key
      fields and ``schema``. ``lower``/``upper`` are ints, or None when infinite.
    - ``cache_dir``: a folder (created if needed; None disables caching). One JSON file per (family, params, d,
      tau, oracle), ``sda-bound-<family>-d<d>-<hash>.json``, written atomically (temporary file, fsync,
      rename); a file that does not parse, has another schema, or whose key fields differ is recomputed and
      replaced. Nothing is pickled.
    """
    check_param("oracle", oracle, Options(tuple(ORACLE_OF_PLAN) + ("example",)), "sweep_bound")
    if oracle == "example":
        return None
    name, params = _family_of(family_spec)
    if name not in ("parity", "sparse-parity", "lifted-parity"):
        return None
    if isinstance(d, bool) or not isinstance(d, int) or d < 1:
        raise InvalidParameterError(f"The 'd' parameter of sweep_bound must be an int >= 1. Got {show(d)} instead.")
    if isinstance(tolerance, bool) or not isinstance(tolerance, (int, float)) or not 0 < float(tolerance) <= 1:
        raise InvalidParameterError(f"The 'tolerance' parameter of sweep_bound must be a float in (0, 1]. "
                                    f"Got {show(tolerance)} instead.")
    theorem_oracle = ORACLE_OF_PLAN[oracle]
    tolerance = float(tolerance)
    key = _key(name, params, d, tolerance, theorem_oracle)
    path = None
    if cache_dir is not None:
        folder = Path(cache_dir)
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"sda-bound-{name}-d{d}-{key}.json"
        cached = _read(path, key, name, params, d, tolerance, theorem_oracle)
        if cached is not None:
            return cached
    out = _compute(name, params, d, tolerance, theorem_oracle)
    out.update({"schema": CACHE_SCHEMA, "key": key, "family": name, "family_params": params, "d": d,
                "tolerance": tolerance, "oracle": theorem_oracle})
    if path is not None:
        _write(path, out)
    return out


def _read(path: Path, key, name, params, d, tolerance, oracle):
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or any(k not in data for k in FIELDS):
        return None
    expect = {"schema": CACHE_SCHEMA, "key": key, "family": name, "family_params": params, "d": d,
              "tolerance": tolerance, "oracle": oracle}
    if any(data[k] != v for k, v in expect.items()):
        return None
    for k in ("lower", "upper", "sda_lower", "sda_upper"):
        v = data[k]
        if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 0):
            return None
    if data["lower"] is not None and data["upper"] is not None and data["lower"] > data["upper"]:
        return None
    for k in ("gamma", "abs_error"):
        if isinstance(data[k], bool) or not isinstance(data[k], (int, float)) or not data[k] >= 0:
            return None
    return data


def _write(path: Path, data: dict) -> None:
    replace_lines(path, [json.dumps(data, sort_keys=True, allow_nan=False)])


def _int_or_none(v):
    return None if math.isinf(v) else int(v)


def _compute(name, params, d, tolerance, oracle) -> dict:
    from ..experiments._families import make_family
    from ._sda import sq_lower_bound, stat_gamma

    fam = make_family({"name": name, **params}, "sweep_bound")
    fam.check_d(d, "sweep_bound")
    k = params.get("k")
    N = fam.n_candidates(d)  # 2^d - 1 nonempty parities or C(d, k)
    level = tolerance if oracle == "stat" else 1.0 / tolerance**2  # the runner's VSTAT(1 / tau^2)
    gamma = stat_gamma(tolerance) if oracle == "stat" else min(1.0, 1.0 / (3.0 * level))
    if N <= MATRIX_MAX_N:
        matrix = _matrix(fam, name, d, k)
        b = sq_lower_bound(matrix, tolerance=level, oracle=oracle)
        s = b.sda
        return {"lower": _int_or_none(b.lower), "upper": _int_or_none(b.upper), "gamma": b.gamma,
                "theorem": b.theorem, "sda_lower": _int_or_none(s.lower), "sda_upper": _int_or_none(s.upper),
                "N": N, "kind": matrix.kind, "abs_error": matrix.abs_error, "method": "matrix",
                "vstat_t": level if oracle == "vstat" else None}
    return _closed_form(fam, name, d, N, gamma, level, oracle)


def _matrix(fam, name, d, k):
    from ..concepts import Parities, SparseParities
    from ._correlations import pairwise_correlations

    N = fam.n_candidates(d)
    streaming = N > 2048  # the streamed character path is faster than a dense 4095 x 4095 block
    if name == "lifted-parity":
        from ..concepts import Parity
        from ._lifted import lifted_correlations

        boolean = Parities(d) if k is None else SparseParities(d, int(k))
        codes = boolean.codes()[1:] if k is None else boolean.codes()
        concepts = [Parity(d, [j for j in range(d) if (int(c) >> j) & 1]) for c in codes]
        return lifted_correlations(fam.make_lift(d), concepts, kind="sq", streaming=streaming, where="sweep_bound")
    if k is None:
        return pairwise_correlations(Parities(d), members=range(1, 2**d), streaming=streaming)
    return pairwise_correlations(SparseParities(d, int(k)), streaming=streaming)


def _closed_form(fam, name, d, N, gamma, level, oracle) -> dict:
    """Orthonormal classes (nonempty or k-sparse parities, p0 = 1/2): chi = c delta, so rho(W) = c / |W| and
    SDA(gamma) = ceil(N / (ceil(c / gamma) - 1)) - 1 (c = 1 Boolean, c = P[phi_D(V) != 0] lifted; the lower
    bound uses the certified upper end of c, the upper bound its lower end)."""
    from ._sda import STAT_ROUTE, VSTAT_THEOREM

    if name == "lifted-parity":
        lo_c, hi_c = fam.make_lift(d).phi_nonzero_interval()
        err = (hi_c - lo_c) / 2
    else:
        lo_c = hi_c = 1.0
        err = 0.0

    def sda_at(c):
        m = math.ceil(c / gamma)
        return math.inf if m <= 1 else math.ceil(N / (m - 1)) - 1

    lower, upper = sda_at(hi_c), sda_at(lo_c)
    theorem = VSTAT_THEOREM + (STAT_ROUTE if oracle == "stat" else "")
    return {"lower": _int_or_none(lower), "upper": _int_or_none(upper), "gamma": gamma, "theorem": theorem,
            "sda_lower": _int_or_none(lower), "sda_upper": _int_or_none(upper), "N": N, "kind": "sq",
            "abs_error": err, "method": "closed form", "vstat_t": level if oracle == "vstat" else None}


__all__ = ["sweep_bound"]
