"""A module with no imports of its own beyond sqsim (preloaded): a clean process for the evaluator guard."""

import os


def guard_probe(kind, conn):
    """Run the evaluator guard's check in a clean (forkserver) process after a setup chosen by name."""
    import mmap
    import threading
    import time

    from sqsim.oracles import _sandbox

    check, _sandbox_fn, reap, _refuse = _sandbox._make_guard()
    keep = None
    if kind == "thread":
        keep = threading.Event()
        threading.Thread(target=keep.wait, daemon=True).start()
    elif kind == "child":
        pid = os.fork()
        if pid == 0:
            time.sleep(30)
            os._exit(0)
        keep = pid
    elif kind == "shared":
        keep = mmap.mmap(-1, 4096)
    elif kind == "shared-readonly":
        keep = mmap.mmap(-1, 4096, prot=mmap.PROT_READ)
    elif kind == "private":
        keep = mmap.mmap(-1, 4096, flags=mmap.MAP_PRIVATE)
    conn.send(check())
    reap()
    del keep
    os._exit(0)
