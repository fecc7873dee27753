"""A query module whose top-level code, in an evaluator, unpicks the sandbox it is about to enter."""
import multiprocessing as mp
import os
import resource
import sys

import numpy as np

LEAK = "/tmp/sqsim-evil-import-patch"

if mp.current_process().name != "MainProcess" and "sqsim.oracles._sandbox" in sys.modules:
    import sqsim.oracles._sandbox as S

    S._sandbox = lambda conn: conn
    S._make_guard = lambda: (lambda: None, lambda conn: conn, lambda: None, lambda conn, code: None)
    resource.setrlimit = lambda *a, **k: None
    os.chroot = os.setuid = os.setgid = os.setgroups = lambda *a, **k: None
    os.closerange = lambda *a, **k: None
    os.close = lambda *a, **k: None


def store_batch(X, y):
    os.makedirs(LEAK, exist_ok=True)
    np.save(f"{LEAK}/{os.getpid()}.npy", np.column_stack([np.asarray(X, np.float64), np.asarray(y, np.float64)]))
    return np.zeros(np.shape(X)[0])
