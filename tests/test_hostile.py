"""Hostile learners against the SQ contract (one per bypass class; see tests/hostile_learners.py).

For every class: the learner must fail in-process (an sqsim error, or ``success`` False with an honest
``queries`` equal to the oracle's ledger total) -- except the interpreter-level classes 6-9, whose
in-process outcome is only recorded -- and under ``isolation="process"``, and ``check_learner`` must
flag it (some named check raises AssertionError). Averaging (class 12) is also measured: the error of
the mean of 2000 perturbed re-askings must stay at least half the error of one answer.

A test that fails here names a bypass that works.
"""

from __future__ import annotations

import numpy as np
import pytest

from sqsim import ExampleOracle, SQOracle
from sqsim._errors import SQSimError
from sqsim.concepts import Parity
from sqsim.lift import CompressedLift
from sqsim.oracles import LiftedOracle
from sqsim.oracles._handle import OracleHandle
from sqsim.testing import check_learner

from . import hostile_learners as hl

IN_PROCESS = ["1-private-state", "2-internals", "3-mutation", "4-copying", "5-ledger-truths",
              "11-cross-row", "12-averaging", "13-rescaling"]
# 10: for real-valued labels on a Monte Carlo domain the in-process oracle must hand the query (z, f(z))
# rows; a query that keeps them in module state smuggles them out (interpreter-level state, closed by
# isolation="process"; Boolean targets are evaluated one label value at a time and leak nothing in-process)
INTERPRETER = ["6-frames", "7-gc", "8-globals", "9-table-write", "10-batch-store"]
ALL = list(hl.HOSTILE)


def make(name, isolated=False):
    """The hostile learner (averaging with fewer re-askings where every query is its own evaluator process)."""
    cls = hl.HOSTILE[name]
    if name == "12-averaging":
        return cls(K=40 if isolated else 2000)
    return cls()


def run(learner, oracle, isolation=None):
    try:
        r = learner.learn(oracle, isolation=isolation)
    except SQSimError as exc:
        return None, f"raised {type(exc).__name__}: {str(exc)[:200]}"
    return r, (f"success={r.success} queries={r.queries} ledger_total={oracle.ledger.total} "
               f"route={r.details.get('route')!r}")


def assert_fails(learner, oracle, isolation=None):
    r, text = run(learner, oracle, isolation)
    print(f"{type(learner).__name__} isolation={isolation}: {text}")
    if r is None:
        return
    assert not r.success, f"bypass works ({'isolated' if isolation else 'in-process'}): {text}"
    assert r.queries == oracle.ledger.total, f"dishonest query count: {text}"


# ----------------------------------------------------------------------------- the per-class contract
@pytest.mark.parametrize("name", IN_PROCESS)
def test_fails_in_process(name):
    assert_fails(make(name), hl.HOSTILE[name].factory(1, None, None))


@pytest.mark.parametrize("name", INTERPRETER)
def test_interpreter_level_in_process_outcome_is_recorded(name):
    """Classes 6-9 may succeed in-process (interpreter-level routes are closed by isolation only)."""
    o = hl.HOSTILE[name].factory(1, None, None)
    r, text = run(make(name), o)
    print(f"{name} in-process (allowed to succeed): {text}")
    assert r is None or r.queries == o.ledger.total, text


@pytest.mark.parametrize("name", ALL)
def test_fails_under_process_isolation(name):
    assert_fails(make(name, isolated=True), hl.HOSTILE[name].factory(1, None, None), isolation="process")


@pytest.mark.parametrize("name", ALL)
def test_check_learner_flags(name):
    learner = make(name, isolated=True)
    flagged, other = {}, {}
    for check_name, check in check_learner(learner, hl.HOSTILE[name].factory):
        try:
            check()
        except AssertionError as exc:
            flagged[check_name] = str(exc)[:160]
        except Exception as exc:  # noqa: BLE001 - a check that errors is not a flag
            other[check_name] = f"{type(exc).__name__}: {str(exc)[:160]}"
    print(f"{name}: flagged by {sorted(flagged)}; errored {other}")
    for k, v in flagged.items():
        print(f"   {k}: {v}")
    assert flagged, f"check_learner flags nothing for {name} (errors: {other})"


# ----------------------------------------------------------------------------- class 1 on a LiftedOracle handle
def test_private_state_of_a_lifted_oracle_handle_fails_in_process():
    """The inner Boolean oracle of a LiftedOracle is private state too (h._fact('boolean'), h._oracle)."""
    lift = CompressedLift(3, q=2, delta=0.1)
    o = LiftedOracle(SQOracle(hl.BooleanCube(3), Parity(3, [0, 2]), 0.1, answers="noisy", seed=1), lift)
    assert_fails(hl.PrivateStateLearner(d=3), o)


# ----------------------------------------------------------------------------- detection of stealthy routes
@pytest.mark.parametrize("name", ["6-frames", "7-gc"])
def test_interpreter_level_check_sees_stealthy_routes(name):
    """Frames through traceback.walk_stack and gc through functools.singledispatch are still the learner's."""
    checks = dict(check_learner(make(name), hl.HOSTILE[name].factory))
    with pytest.raises(AssertionError, match="interpreter-level"):
        checks["interpreter-level"]()


# ----------------------------------------------------------------------------- averaging, measured
def _gaussian_population_truth(n=4_000_000):
    Z = np.random.default_rng(12345).standard_normal((n, 3))
    return float(np.mean(0.5 * np.tanh(Z[:, 0]) * np.tanh(Z @ hl.W)))


@pytest.mark.parametrize("domain", ["cube", "gaussian"])
@pytest.mark.parametrize("mode", ["scale", "shift"])
def test_averaging_perturbed_reaskings_does_not_beat_the_tolerance(domain, mode):
    L = hl.AveragingLearner(K=2000, mode=mode)
    if domain == "cube":
        o, fn, truth = hl.cube_oracle("noisy", seed=1), hl.coded_query, float(hl.CODED_TRUTHS[5])
    else:
        o, fn, truth = hl.gaussian_oracle("noisy", seed=1), hl.gaussian_base_query, _gaussian_population_truth()
    qs, pars = L.perturbed(fn)
    est = L.undo(o.ask_batch(qs), pars)
    single, mean = abs(est[0] - truth), abs(float(est.mean()) - truth)
    print(f"averaging {domain}/{mode}: tolerance {o.tolerance}, single error {single:.3e}, "
          f"error of the mean of {len(qs)} {mean:.3e} (ratio {mean / single if single else float('nan'):.3f})")
    assert mean >= 0.5 * single, f"averaging beat the noise: single {single:.3e}, mean {mean:.3e}"


def test_noisy_is_benign_against_far_apart_mixtures_but_the_adversary_is_not():
    """The documented limit of "noisy" (docs/theory/strategies.md, section strategies-noisy): each re-asking adds a different, exactly mean-zero
    function of x, so the truth is unchanged (halved) while the probe vector, and so the noise, changes; the
    mean of 2001 answers beats one answer. Against the adversarial strategy the same scheme gains nothing:
    its answers are a fixed function of the (null and true) expectations, which the mixtures do not move."""
    import functools

    from sqsim import Query

    truth = float(hl.CODED_TRUTHS[5])
    queries = [Query(functools.partial(hl.mixed_coded_query, k), name=f"mix-{k}") for k in range(2001)]
    o = hl.cube_oracle("noisy", seed=1)
    a = 2.0 * o.ask_batch(queries)
    single, mean = abs(a[0] - truth), abs(float(a.mean()) - truth)
    print(f"averaging cube/zero-mean mixtures (noisy): single error {single:.3e}, error of the mean of {a.size} "
          f"{mean:.3e} (ratio {mean / single:.3f})")
    assert mean < 0.5 * single  # benign, as documented: a determined learner can average "noisy"
    adv = hl.cube_oracle("adversarial", seed=1)
    b = 2.0 * adv.ask_batch(queries)
    assert abs(float(b.mean()) - truth) >= 0.99 * abs(b[0] - truth)


def _mixture_solve(d, seed, tau=0.1, S=(0, 2), R=(1,), ratios=(0.25, 0.5, 0.75)):
    """(truth, one answer, solved truth) of the mixture-solve attack of the hostile review: chi_R is label-free
    with known mean 0, so its answer exposes a = Phi^-1(u_R); the answers to the characters' correlation and
    to the mixtures c (1 - 2y) chi_S + alpha chi_R (c = 1 - alpha) are then a known function of two unknowns,
    the truth T and the norm ratio sigma, solved by least squares."""
    import math

    from scipy.optimize import least_squares
    from scipy.special import ndtr, ndtri

    from sqsim import BooleanCube, Character, Query

    table = np.random.default_rng(seed).integers(0, 2, 2**d)
    weights = 1 << np.arange(d)
    chi = lambda X, T: 1.0 - 2.0 * (np.asarray(X)[:, list(T)].sum(axis=1) % 2)  # noqa: E731
    o = SQOracle(BooleanCube(d), lambda X: table[np.asarray(X).astype(np.int64) @ weights].astype(float), tau,
                 answers="noisy", seed=seed)
    A0 = o.ask(Character(d, list(S)))
    a = ndtri(o.ask(Query(lambda X, y: chi(X, R), name="known")) / (2 * tau) + 0.5)
    mixtures = [(1 - al, al, o.ask(Query(lambda X, y, c=1 - al, al=al: c * (1 - 2 * y) * chi(X, S) + al * chi(X, R),
                                         name=f"mix-{al}"))) for al in ratios]

    def residuals(p):
        T, sg = p
        b = ndtri(np.clip((A0 - T) / (2 * tau) + 0.5, 1e-300, 1 - 1e-16))
        return [c * T + (2 * ndtr((c * b + al * sg * a) / math.sqrt(c * c + al * al * sg * sg)) - 1) * tau - A
                for c, al, A in mixtures]

    fits = [least_squares(residuals, [T0, 1.0], bounds=([A0 - tau, 0.5], [A0 + tau, 1.0]), xtol=1e-15, ftol=1e-15,
                          gtol=1e-15) for T0 in np.linspace(A0 - 0.99 * tau, A0 + 0.99 * tau, 21)]
    best = min(fits, key=lambda r: r.cost)
    assert o.ledger.total == 2 + len(ratios)
    return o.ledger[0].truth, A0, float(best.x[0])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_noisy_mixtures_with_a_known_query_solve_for_the_truth(seed):
    """The documented limit of "noisy" (docs/theory/strategies.md, section smooth-noise): the noise is a smooth, deterministic
    function of the query, so along a family of mixtures it is a known curve with few unknowns. Five answers
    (a character, a label-free character of known mean, three mixtures) solve for the truth to ~1e-13, where
    one answer is off by up to the tolerance (0.1)."""
    truth, single, solved = _mixture_solve(10, seed)
    print(f"mixture solve seed={seed}: truth {truth:+.6f}, one answer off by {abs(single - truth):.2e}, "
          f"solved off by {abs(solved - truth):.2e}")
    assert abs(solved - truth) < 1e-10 < 1e-3 < abs(single - truth)


def test_noisy_queries_the_probes_do_not_see_share_their_noise():
    """The documented limit of "noisy" (docs/theory/strategies.md, section smooth-noise): two queries supported on a set
    none of the probe points falls in are both constant on the probes, so they get the same fixed noise and the
    difference of their answers is the exact difference of their truths; with a second query of known truth (0)
    the learner reads a correlation of 2^-10, twenty times below the tolerance, exactly. The adversarial
    strategy answers both with the null expectation (0), which tells nothing."""
    from sqsim import BooleanCube, Query

    d = 12
    in_A = lambda X: np.all(X[:, :10] == 1, axis=1).astype(float)  # noqa: E731 - 4 of the 4096 points
    pair = [Query(lambda X, y: (1 - 2 * y) * in_A(X), name="rare-correlation"),
            Query(lambda X, y: in_A(X) * (1 - 2 * X[:, 10]), name="rare-known-zero")]
    o = SQOracle(BooleanCube(d), Parity(d, [1, 3]), 0.05, answers="noisy", seed=3)
    assert in_A(o._engine.probes.X).sum() == 0  # the probes miss A
    a = o.ask_batch(pair)
    truth = o.ledger[0].truth
    assert truth == 2.0**-10 and o.ledger[1].truth == 0.0
    assert abs(a[0] - truth) > 10 * truth  # one answer: the correlation is lost in the noise
    assert a[0] - a[1] == truth  # two answers: exact
    adv = SQOracle(BooleanCube(d), Parity(d, [1, 3]), 0.05, answers="adversarial", seed=3)
    b = adv.ask_batch(pair)
    assert b[0] - b[1] == 0.0


def test_rounded_answers_of_shifted_copies_locate_the_truth_finer_than_a_cell():
    """The documented limit of "rounded" (docs/theory/strategies.md, section strategies-rounded): one answer
    locates the truth to its grid cell (width tau), but the answers to phi + b_k, b_k = k tau / K, k < K,
    each cut the set of consistent truths to one cell shifted by b_k, and together to an interval of width
    at most tau / K."""
    import functools

    from sqsim import Query

    K, tau = 20, 0.1
    o = hl.cube_oracle("rounded", seed=1)
    assert o.tolerance == tau
    lo, hi = -np.inf, np.inf
    for k in range(K):
        b = k * tau / K
        a = o.ask(Query(functools.partial(hl.coded_query, 0.5, b), name=f"shift-{k}"))
        lo, hi = max(lo, a - b - tau / 2), min(hi, a - b + tau / 2)
    first, truth = o.ledger[0].answer, o.ledger[0].truth
    assert lo - 1e-12 <= truth <= hi + 1e-12 and hi - lo <= tau / K + 1e-12
    assert abs(first - truth) > 4 * (hi - lo)  # one answer is off by several of the final interval's widths


# ----------------------------------------------------------------------------- gradient oracles (hostile review)
@pytest.mark.parametrize("factory", [hl.gradient_cube_oracle, hl.gradient_gaussian_oracle])
def test_patching_the_handle_model_does_not_reach_the_truths(factory):
    """A2: vars(handle.model) writes, the compiled-function cache and setattr never reach the oracle's truths."""
    o = factory()
    assert_fails(hl.ModelPatchLearner(), o)
    assert o._model is not o.model  # the truths' model is a private copy


def test_patching_the_handle_model_cannot_shift_the_truth():
    """A2: a shifted 'truth' in vars(handle.model) would let the band check pass an answer 10 from the gradient."""
    o = hl.gradient_cube_oracle("exact")
    r = hl.BandBreakLearner().learn(o)
    ref = hl.gradient_cube_oracle("exact").gradient(r.details["v"])
    assert np.linalg.norm(r.details["answer"] - ref) <= o.epsilon


def test_model_setattr_is_a_recorded_violation():
    """A2: the model a learner sees is read-only; check_learner sees the attempt."""
    from sqsim.oracles._violations import recording

    m = hl.gradient_cube_oracle().model
    with recording() as seen, pytest.raises(SQSimError):
        m.expectation = None
    assert seen and "read-only" in seen[0]


def test_label_dependent_gradient_refusal_is_counted_and_ends_the_run():
    """A7: a non-finite truth (here iff y(e_j) = 0) is refused, counted, and closes the handle: one bit per run."""
    o = hl.spike_oracle()
    assert_fails(hl.RefusalBitsLearner(), o)
    refused = [r for r in o.ledger.records if r.extra.get("refused")]
    assert len(refused) == 1 and o.ledger.total >= 1
    # a refusal of the learner's input alone stays uncounted and harmless: the run goes on
    o2 = hl.gradient_cube_oracle()
    h = OracleHandle(o2)
    with pytest.raises(SQSimError, match="'v' parameter"):
        h.gradient(np.zeros(3))
    assert o2.ledger.total == 0
    h.gradient(o2.model.init(np.random.default_rng(0)))
    assert o2.ledger.total == 1


def test_float32_model_truths_are_float64():
    """A5: a float32 JaxModel's 'exact' answer equals the float64 gradient at large |v| (truth_error 0)."""
    from sqsim import ApproxGradientOracle, BooleanCube
    from sqsim.nn import MLP, JaxModel

    d, net = 14, MLP(14, (64,))
    f = Parity(d, [0, 3, 5])
    o32, o64 = (ApproxGradientOracle(BooleanCube(d), f, JaxModel(net, dtype=t, inputs="pm1"), 0.05, seed=0)
                for t in ("float32", "float64"))
    v = o64.model.init(np.random.default_rng(0)) * 30.0  # |v| ~ 337, |g| ~ 1e5
    a32, a64 = o32.gradient(v), o64.gradient(v)
    assert np.linalg.norm(a64) > 1e4
    assert np.linalg.norm(a32 - a64) <= 1e-9 * np.linalg.norm(a64)
    assert o32.ledger.records[-1].truth_error == 0.0


def test_averaging_perturbed_gradient_reasks_does_not_beat_epsilon():
    """A3: the mean of 400 re-asks at v + 1e-13 N(0, I) (answers="noisy") is as far from the truth as one answer."""
    o = hl.gradient_cube_oracle("noisy")
    r = hl.GradientAveragingLearner(K=400).learn(o)
    g = hl.gradient_cube_oracle("exact").gradient(r.details["v"])
    single, mean = np.linalg.norm(r.details["one"] - g), np.linalg.norm(r.details["mean"] - g)
    print(f"gradient averaging: epsilon {o.epsilon}, single error {single:.4g}, mean of 400 {mean:.4g} "
          f"(ratio {mean / single:.4f})")
    assert single > 0.5 * o.epsilon and mean >= 0.9 * single


@pytest.mark.parametrize("factory", [hl.gradient_cube_oracle, lambda: hl.cube_oracle("noisy"),
                                     lambda: ExampleOracle(hl.BooleanCube(5), Parity(5, [0, 2]), seed=0)])
def test_refusal_tracebacks_carry_no_oracle_frame(factory):
    """A10: a refusal caught by the learner (gradient, ask, ask_batch, draw, label) has no frame holding the
    oracle, its ledger or its target anywhere in its traceback chain."""
    o = factory()
    r = hl.TracebackLearner().learn(o)
    assert r.details["route"] == [], r.details["route"]
