"""Files written whole: a results file, a cache entry.

:func:`replace_lines` writes a temporary file in the same folder, flushes and fsyncs it, and renames it
over the target (``os.replace``), so a reader or a kill at any moment sees the old file or the new one,
never a part; the temporary file is removed if anything fails before the rename.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

__all__ = ["replace_lines"]


def replace_lines(path, lines: Iterable[str]) -> Path:
    """Atomically replace the file ``path`` by ``lines`` (each written followed by a newline); return the path."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            for line in lines:
                fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)  # a kill before this line leaves the old file whole, after it the new one
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    return path
