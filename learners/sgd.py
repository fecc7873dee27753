"""``sgd-mlp``: a ReLU network trained by SGD on examples drawn through an example oracle (JAX, the nn extra).

Not an SQ algorithm: it learns from labelled examples, like ``gf2-elimination``, and every example it
sees (training batches, the fixed training set, the held-out points of its stopping rule) is drawn
through the sealed handle, so the ledger counts them all. The theory (what SGD is known to do on sparse
parities, the hidden-progress measure, the losses, what is counted) is in ``docs/theory/sgd.md``.

This module imports no JAX: the first training run does (through :mod:`sqsim.nn`), and without the extra
raises :class:`sqsim.nn.MissingExtraError` saying ``pip install 'sqsim[nn]'``.
"""

from __future__ import annotations

import functools

import numpy as np

from sqsim import InvalidParameterError
from sqsim._learning import Learner, vet_batch_hook
from sqsim._random import derived_rng, derived_seed, root_entropy
from sqsim._validation import Interval, NoneOk, Options, check_param
from sqsim.nn._models import LOSSES, MLP, to_pm1

from ._base import register

__all__ = ["SGDMLP", "MLPHypothesis"]

TASKS = ("classification", "regression")
INPUTS = ("pm1", "raw")
#: rows per call when a hypothesis is evaluated (bounds the memory of grading on 2^20 points)
EVAL_CHUNK = 1 << 16


@functools.lru_cache(maxsize=16)
def _program(in_dim, widths, bias, init, loss, optimizer, lr, momentum, weight_decay):
    """One compiled training program per configuration (shared by every run of a process)."""
    from sqsim.nn._train import SGDProgram

    return SGDProgram(MLP(in_dim, widths, bias=bias, init=init), loss, optimizer, lr, momentum, weight_decay)


def _inputs(X, inputs: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    return 1.0 - 2.0 * X if inputs == "pm1" else X


class MLPHypothesis:
    """A trained network as a predictor on numpy batches, in the target's label format.

    ``h(X)`` gives labels in {0, 1} for a classification target (the network's output is the +-1 label
    1 - 2y: ``h = 1[score < 0]``) and the network's output itself for a real-valued target;
    :meth:`scores` gives the raw outputs. ``params`` holds numpy copies, evaluated by
    :meth:`MLP.apply_numpy <sqsim.nn.MLP.apply_numpy>`: a hypothesis needs no JAX (it pickles, and runs in
    the sandboxed evaluator of ``isolation="process"``).
    """

    def __init__(self, model: MLP, params, *, inputs: str, task: str):
        self.model = model
        self.params = [(np.asarray(W), np.asarray(b)) for W, b in params]
        self.inputs = inputs
        self.task = task
        self.d = model.in_dim

    def scores(self, X) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.d:
            raise InvalidParameterError(f"The 'X' parameter of MLPHypothesis must be an array of shape (n, {self.d}). "
                                        f"Got shape {X.shape} instead.")
        out = [self.model.apply_numpy(self.params, _inputs(X[i:i + EVAL_CHUNK], self.inputs))
               for i in range(0, X.shape[0], EVAL_CHUNK)]
        return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)

    def __call__(self, X) -> np.ndarray:
        s = self.scores(X)
        return (s < 0).astype(np.int64) if self.task == "classification" else s.astype(np.float64)

    def __repr__(self):
        return f"MLPHypothesis({self.model!r}, task={self.task!r}, inputs={self.inputs!r})"


class _Member:
    """One network's run inside a batched training program: its handle, data stream and curve."""

    def __init__(self, handle, entropy: int):
        self.handle = handle
        self.entropy = entropy
        self.active = True
        self.stop = "steps"
        self.steps = 0
        self.steps_to_target = None
        self.curve = {"step": [], "loss": [], "heldout": [], "distance": []}
        self.train = None
        self.order = None

    def affordable(self, n: int) -> bool:
        left = self.handle.budget_left
        return left is None or left >= n


@vet_batch_hook
@register("sgd-mlp")
class SGDMLP(Learner):
    """A ReLU network trained by SGD (or Adam) on labelled examples (Barak et al. 2022; docs/theory/sgd.md).

    Every example comes from the oracle's ``draw``: online SGD draws ``batch`` fresh examples for each
    step (in one draw per ``eval_every`` steps); with ``train_size`` the learner draws a fixed training
    set once and passes over it in epochs, reshuffled each time. Before training it draws ``holdout``
    held-out points, and every ``eval_every`` steps it measures the network on them: it stops as soon as
    the held-out accuracy reaches ``target_accuracy`` (classification) or the held-out relative square
    error E[(h - f)^2] / E[f^2] falls to ``target_relative_error`` (real-valued targets), or after
    ``steps`` steps, or when the oracle's budget cannot pay for the next draw. The held-out points are
    counted like the rest. Success is the framework's grade, not the stopping rule.

    Parameters
    ----------
    width : int, default 256
        Units per hidden layer.
    depth : int, default 1
        Hidden layers (2 for the student of a lifted parity, the target's own architecture).
    bias : bool, default True
    init : {"he", "lecun", "normal"}, default "he"
        See :class:`sqsim.nn.MLP`.
    loss : {"hinge", "logistic", "square"} or None
        None: hinge for classification, square for real-valued targets (docs/theory/sgd.md, "losses").
    optimizer : {"sgd", "adam"}, default "sgd"
    lr : float, default 0.1
    momentum : float, default 0.0
        Heavy-ball momentum of SGD (ignored by Adam).
    weight_decay : float, default 0.0
        L2 penalty added to the gradient (SGD) or AdamW's decoupled decay (Adam).
    batch : int, default 32
    steps : int, default 20000
        Largest number of SGD steps.
    train_size : int or None, default None
        None: online SGD (fresh examples every step); an int: a fixed training set of that size.
    holdout : int, default 1000
        Held-out points of the stopping rule (drawn once, counted).
    eval_every : int, default 100
        Steps between held-out evaluations (also the steps per draw and per compiled scan).
    target_accuracy : float, default 1.0
        Stop when the held-out accuracy reaches it (classification).
    target_relative_error : float, default 0.1
        Stop when the held-out relative square error falls to it (real-valued targets).
    inputs : {"pm1", "raw"} or None
        How cube points enter the network: ``"pm1"`` maps x in {0,1}^d to 1 - 2x in {-1,+1}^d (Barak et
        al.'s inputs), ``"raw"`` keeps them. None: pm1 on the cube, raw on Gaussian inputs.
    task : {"classification", "regression"} or None
        None: classification iff every held-out label is 0 or 1.
    seed : int, numpy Generator or None
        Determines the initialisation and the shuffling of a fixed training set (the data come from the
        oracle's seed): the same seeds give the same ledgers and the same network.

    Notes
    -----
    :meth:`~sqsim.Learner.learn_many` trains one network per oracle in one compiled program (``jax.lax.map``
    over members): member i's result is bit-identical to ``learn(oracles[i])`` with its seed (same ledger,
    same network), whatever the batch; members are not isolated from each other, which is why only this
    exact class is batched by the sweep runner (docs/theory/sgd.md, section sgd-batched).
    """

    oracle_kinds = ("example",)
    domains = ("boolean", "gaussian")

    def __init__(self, *, width=256, depth=1, bias=True, init="he", loss=None, optimizer="sgd", lr=0.1, momentum=0.0,
                 weight_decay=0.0, batch=32, steps=20000, train_size=None, holdout=1000, eval_every=100,
                 target_accuracy=1.0, target_relative_error=0.1, inputs=None, task=None, seed=None):
        c = "SGDMLP"
        check_param("width", width, Interval(int, 1, None), c)
        check_param("depth", depth, Interval(int, 1, None), c)
        check_param("bias", bias, Options((True, False)), c)
        check_param("init", init, Options(("he", "lecun", "normal")), c)
        check_param("loss", loss, [Options(tuple(LOSSES)), NoneOk], c)
        check_param("optimizer", optimizer, Options(("sgd", "adam")), c)
        check_param("lr", lr, Interval(float, 0, None, closed="neither"), c)
        check_param("momentum", momentum, Interval(float, 0, 1, closed="left"), c)
        check_param("weight_decay", weight_decay, Interval(float, 0, None), c)
        check_param("batch", batch, Interval(int, 1, None), c)
        check_param("steps", steps, Interval(int, 1, None), c)
        check_param("train_size", train_size, [Interval(int, 1, None), NoneOk], c)
        check_param("holdout", holdout, Interval(int, 1, None), c)
        check_param("eval_every", eval_every, Interval(int, 1, None), c)
        check_param("target_accuracy", target_accuracy, Interval(float, 0, 1), c)
        check_param("target_relative_error", target_relative_error, Interval(float, 0, None), c)
        check_param("inputs", inputs, [Options(INPUTS), NoneOk], c)
        check_param("task", task, [Options(TASKS), NoneOk], c)
        if task == "regression" and loss in ("hinge", "logistic"):
            raise InvalidParameterError(f"The 'loss' parameter of {c} must be 'square' (or None) for task='regression'. "
                                        f"Got {loss!r} instead.")
        self.width, self.depth, self.bias, self.init = int(width), int(depth), bool(bias), init
        self.loss, self.optimizer, self.lr, self.momentum = loss, optimizer, float(lr), float(momentum)
        self.weight_decay, self.batch, self.steps = float(weight_decay), int(batch), int(steps)
        self.train_size = None if train_size is None else int(train_size)
        self.holdout, self.eval_every = int(holdout), int(eval_every)
        self.target_accuracy, self.target_relative_error = float(target_accuracy), float(target_relative_error)
        self.inputs, self.task, self.seed = inputs, task, seed
        self._entropy = root_entropy(seed, c)

    # ------------------------------------------------------------------ the protocol
    def _learn(self, handle):
        return self._train([_Member(handle, self._entropy)])[0]

    def _learn_many(self, handles, seeds):
        """The batch hook of :meth:`~sqsim.Learner.learn_many`: one network per handle, in one compiled program.

        Member i draws only through ``handles[i]`` and its network sees only those examples (docs/theory/sgd.md,
        section sgd-batched); ``seeds`` (one per handle) replaces the learner's seed member by member.
        """
        caller = f"{type(self).__name__}.learn_many"
        doms = {(h.domain.kind, h.domain.d) for h in handles}
        if len(doms) != 1:
            raise InvalidParameterError(f"The 'oracles' parameter of {caller} must share one domain kind and dimension "
                                        f"(one network shape). Got {sorted(doms)} instead.")
        if seeds is None:
            entropies = [self._entropy] * len(handles)
        else:
            entropies = [root_entropy(s, caller, "seeds") for s in seeds]
        return self._train([_Member(h, e) for h, e in zip(handles, entropies)])

    # ------------------------------------------------------------------ training
    def _task(self, y: np.ndarray) -> str:
        if self.task is not None:
            return self.task
        return "classification" if np.all((y == 0) | (y == 1)) else "regression"

    def _train(self, members: list) -> list:
        from sqsim.nn._jax import require_jax

        jax = require_jax("the sgd-mlp learner")
        dom = members[0].handle.domain
        d = dom.d
        inputs = self.inputs or ("pm1" if dom.kind == "boolean" else "raw")
        if dom.kind == "gaussian" and inputs == "pm1":
            raise InvalidParameterError(f"The 'inputs' parameter of SGDMLP must be 'raw' or None on Gaussian inputs. "
                                        f"Got {inputs!r} instead.")
        M, B = len(members), self.batch
        # held-out points first (counted), then the task and the loss they imply
        held = []
        for m in members:
            Xh, yh = m.handle.draw(self.holdout)
            held.append((_inputs(Xh, inputs), np.asarray(yh, dtype=np.float64)))
        tasks = {self._task(yh) for _, yh in held}
        if len(tasks) != 1:
            raise InvalidParameterError(f"The 'oracles' parameter of SGDMLP.learn_many must hold targets of one label "
                                        f"type (one loss for the batch). Got {sorted(tasks)} instead.")
        task = tasks.pop()
        loss = self.loss or ("hinge" if task == "classification" else "square")
        if task == "regression" and loss != "square":
            raise InvalidParameterError(f"The 'loss' parameter of SGDMLP must be 'square' (or None) on a real-valued "
                                        f"target. Got {loss!r} instead.")
        target_of = (lambda y: to_pm1(y)) if task == "classification" else (lambda y: y)
        widths = (self.width,) * self.depth
        prog = _program(d, widths, self.bias, self.init, loss, self.optimizer, self.lr, self.momentum,
                        self.weight_decay)
        keys = jax.numpy.stack([jax.random.PRNGKey(derived_seed(m.entropy, "sgd-mlp", "init") % 2**32)
                                for m in members])
        state = prog.init(keys)
        Xh_all = np.stack([x for x, _ in held])
        if self.train_size is not None:
            for m in members:
                if not m.affordable(self.train_size):
                    m.active, m.stop = False, "budget"
                    continue
                X, y = m.handle.draw(self.train_size)
                m.train = (_inputs(X, inputs), target_of(np.asarray(y, dtype=np.float32)).astype(np.float32))
                m.order = _Epochs(self.train_size, derived_rng(m.entropy, "sgd-mlp", "shuffle"))
        step = 0
        while step < self.steps and any(m.active for m in members):
            S = min(self.eval_every, self.steps - step)
            X = np.zeros((M, S, B, d), dtype=np.float32)
            Y = np.zeros((M, S, B), dtype=np.float32)
            for i, m in enumerate(members):
                if not m.active:
                    continue
                if m.train is None:
                    if not m.affordable(S * B):
                        m.active, m.stop = False, "budget"
                        continue
                    Xd, yd = m.handle.draw(S * B)
                    X[i] = _inputs(Xd, inputs).reshape(S, B, d)
                    Y[i] = target_of(np.asarray(yd, dtype=np.float32)).reshape(S, B)
                else:
                    idx = m.order.take(S * B)
                    X[i] = m.train[0][idx].reshape(S, B, d)
                    Y[i] = m.train[1][idx].reshape(S, B)
            active = np.array([m.active for m in members])
            if not active.any():
                break
            state, losses = prog.run(state, X, Y, active)
            step += S
            scores = np.asarray(prog.predict(state, Xh_all))
            dist = np.asarray(prog.distance(state))
            losses = np.asarray(losses)
            for i, m in enumerate(members):
                if not active[i]:
                    continue
                m.steps = step
                metric = self._heldout(scores[i], held[i][1], task)
                m.curve["step"].append(step)
                m.curve["loss"].append(float(losses[i].mean()))
                m.curve["heldout"].append(metric)
                m.curve["distance"].append(float(dist[i]))
                reached = metric >= self.target_accuracy if task == "classification" else \
                    metric <= self.target_relative_error
                if reached:
                    m.active, m.stop, m.steps_to_target = False, "target", step
        final = jax.tree_util.tree_map(np.asarray, state[0])
        model = MLP(d, widths, bias=self.bias, init=self.init)
        out = []
        for i, m in enumerate(members):
            params = [(W[i], b[i]) for W, b in final]
            hyp = MLPHypothesis(model, params, inputs=inputs, task=task)
            metric_name = "heldout_accuracy" if task == "classification" else "heldout_relative_error"
            details = {
                "task": task, "loss": loss, "optimizer": self.optimizer, "inputs": inputs, "n_params": model.n_params,
                "steps": m.steps, "stop": m.stop, "steps_to_target": m.steps_to_target,
                "examples": m.handle.queries, "training": "online" if self.train_size is None else "fixed",
                metric_name: m.curve["heldout"][-1] if m.curve["heldout"] else None,
                "distance_from_init": m.curve["distance"][-1] if m.curve["distance"] else 0.0,
                "curve_step": m.curve["step"], "curve_loss": m.curve["loss"],
                "curve_heldout": m.curve["heldout"], "curve_distance": m.curve["distance"],
            }
            out.append((hyp, details))
        return out

    @staticmethod
    def _heldout(scores: np.ndarray, y: np.ndarray, task: str) -> float:
        """Held-out accuracy (classification) or relative square error E[(h - f)^2] / E[f^2] (regression)."""
        if task == "classification":
            return float(np.mean((scores < 0).astype(np.float64) == y))
        energy = float(np.mean(y**2))
        return float(np.mean((scores - y) ** 2) / max(energy, 1e-300))


class _Epochs:
    """Indices into a fixed training set: passes in a fresh random order each, consumed in any chunk size."""

    def __init__(self, size: int, rng: np.random.Generator):
        self.size, self.rng = size, rng
        self.buffer = np.zeros(0, dtype=np.int64)

    def take(self, n: int) -> np.ndarray:
        while self.buffer.size < n:
            self.buffer = np.concatenate([self.buffer, self.rng.permutation(self.size)])
        out, self.buffer = self.buffer[:n], self.buffer[n:]
        return out
