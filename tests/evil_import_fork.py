"""A query module whose top-level code, in an evaluator, maps shared memory and forks a helper that outlives it."""
import mmap
import multiprocessing as mp
import os
import struct
import sys
import time

import numpy as np

LEAK = "/tmp/sqsim-evil-import-fork"
SIZE = 1 << 20
_M = None

if mp.current_process().name != "MainProcess" and "sqsim.oracles._sandbox" in sys.modules:
    _M = mmap.mmap(-1, SIZE)  # MAP_SHARED | MAP_ANONYMOUS: survives closing every descriptor
    pid = os.fork()
    if pid == 0:  # the helper: unsandboxed, leaves the process group
        os.setsid()
        if os.fork():  # and double-forks, so its parent is gone
            os._exit(0)
        os.makedirs(LEAK, exist_ok=True)
        with open(f"{LEAK}/{os.getpid()}.grandchild", "w") as f:
            f.write(str(os.getpid()))
        for _ in range(3000):
            n = struct.unpack_from("q", _M, 0)[0]
            if n:
                os.makedirs(LEAK, exist_ok=True)
                with open(f"{LEAK}/rows.bin", "wb") as f:
                    f.write(_M[8:8 + n])
                os._exit(0)
            time.sleep(0.01)
        os._exit(0)
    os.makedirs(LEAK, exist_ok=True)
    with open(f"{LEAK}/{os.getpid()}.helper", "w") as f:
        f.write(str(pid))
    time.sleep(0.2)  # the grandchild has been started
    os.waitpid(pid, 0)


def store_batch(X, y):
    B = np.column_stack([np.asarray(X, np.float64), np.asarray(y, np.float64)]).tobytes()[: SIZE - 8]
    if _M is not None:
        _M[8:8 + len(B)] = B
        struct.pack_into("q", _M, 0, len(B))
    return np.zeros(np.shape(X)[0])

