"""Noticing, while a file is written, that it vanished, its disk filled up, or it hit a size limit."""

from __future__ import annotations

import errno
import os
import resource
import time
from pathlib import Path

#: Seconds between two looks, while a file is written, at whether it is still there and
#: its disk still has room (a stat and a statvfs: microseconds).
WATCH_EVERY = 0.5


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Bytes this process may still write in ``folder``'s filesystem (None: unknown).

    Root may use the blocks a filesystem reserves for it, so root counts them.
    """
    try:
        vfs = os.statvfs(folder)
    except OSError:
        return None
    blocks = vfs.f_bfree if os.geteuid() == 0 else vfs.f_bavail
    return blocks * vfs.f_frsize


class WriteWatch:
    """Notices that a file being written vanished, its disk is full, or it hit a size limit.

    For failures a writer reports late or not at all: the folder removed (writes go on
    into an unlinked file), a full disk while the muxer buffers.
    :meth:`problem` is cheap (a stat and a statvfs); :meth:`due` spaces the looks by
    :data:`WATCH_EVERY` seconds.

    Parameters
    ----------
    path : Path
        The temporary file being written; it must exist when the watch is made.
    every : float, optional
        Seconds between looks; default :data:`WATCH_EVERY`.
    """

    def __init__(self, path: Path, every: float | None = None):
        self.path = Path(path)
        self.every = WATCH_EVERY if every is None else every
        info = os.stat(self.path)
        self._identity = (info.st_dev, info.st_ino)
        self._next = time.monotonic() + self.every

    def due(self) -> bool:
        """True at most once per ``every`` seconds."""
        now = time.monotonic()
        if now < self._next:
            return False
        self._next = now + self.every
        return True

    def problem(self) -> str | None:
        """Why the file cannot be complete, in a few words, or None when all looks well."""
        try:
            info = os.stat(self.path)
        except FileNotFoundError:
            return (f"the file being written, {self.path.name}, disappeared: was its folder "
                    f"{str(self.path.parent)!r} removed?")
        except OSError as error:
            return f"{error.strerror} on {str(self.path)!r}"
        if (info.st_dev, info.st_ino) != self._identity:
            return f"the file being written, {self.path.name}, was replaced by another file"
        if free_bytes(self.path.parent) == 0:
            return os.strerror(errno.ENOSPC)
        limit = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
        if limit != resource.RLIM_INFINITY and info.st_size >= limit:
            return f"{os.strerror(errno.EFBIG)}: the file size limit (ulimit -f) is {limit} bytes"
        return None
