"""One writer per output: :class:`OutputLock` (an output's) and :class:`FolderLock` (a job's folder).

See the package's notes (:mod:`pipeline.io.outputs`, "One writer per output").
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
from pathlib import Path

from pipeline.io.base import SinkError
from pipeline.io.outputs.folders import make_folder, remove_quietly
from pipeline.io.temporaries import held_here, hold, lock_path, sweep_dead_writers, sweep_temporaries

log = logging.getLogger(__name__)

#: Held while this process tries a lock and records it as its own (see OutputLock.acquire).
_LOCKING = threading.Lock()


class OutputLock:
    """One writer per output: an exclusive ``fcntl.flock`` on a lock file next to it.

    :meth:`acquire` never waits: when another process (or another sink of this one) holds
    the lock it raises :class:`SinkError` naming the output and the holder's pid, read
    from the lock file.  :meth:`release` removes the lock file while still holding the
    lock, and :meth:`acquire` checks that the file it locked is still the one under the
    name, so a writer that opened the file just before it was removed tries again on a
    fresh one instead of sharing the lock.  Where the filesystem has no locks (ENOLCK,
    EOPNOTSUPP) the output is written unlocked, with a warning: the atomic rename still
    keeps whole files whole, and the last run to finish wins.

    Parameters
    ----------
    path : path-like
        The lock file (:func:`lock_path` of the output).
    target : str
        The output as the user wrote it, for messages.
    what : str
        The sink, for messages (``"video sink"``).
    """

    def __init__(self, path: str | os.PathLike, target: str, what: str):
        self.path = Path(path)
        self.target = target
        self.what = what
        self._fd: int | None = None
        self.swept: list[Path] = []

    def __repr__(self) -> str:
        return f"OutputLock({str(self.path)!r}, held={self._fd is not None})"

    def __enter__(self) -> "OutputLock":
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._fd is not None

    def busy_message(self, holder: str) -> str:
        """The one-line error for an output another run (or sink) is writing."""
        if holder == str(os.getpid()):
            return (f"{self.what}: another sink of this run is writing {self.target!r}; "
                    "give each sink its own output path")
        return (f"{self.what}: another edgepipe run is writing {self.target!r} (pid {holder}); "
                "wait for it to finish or choose another output path")

    def holder(self, fd: int) -> str:
        """The pid written in the lock file, or ``"unknown"``; this process's when it holds it.

        A lock this process holds is known here whatever the file says (its pid may be
        missing: a full disk, or a file truncated by hand).
        """
        if held_here(fd):
            return str(os.getpid())
        try:
            text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        except OSError:
            return "unknown"
        return text if text.isdigit() else "unknown"

    def check_free(self) -> None:
        """Raise :class:`SinkError` if another writer holds the lock now (creates nothing)."""
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return  # no lock file: nobody writes there (open() decides for good)
        try:
            with _LOCKING:  # see acquire(): a lock this process takes is known at once
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            with _LOCKING:
                holder = self.holder(fd)
            raise SinkError(self.busy_message(holder)) from None
        except OSError:
            pass
        finally:
            os.close(fd)  # closing drops a lock taken here

    def acquire(self) -> None:
        """Take the lock, or raise :class:`SinkError` if another writer holds it."""
        while self._fd is None:
            try:
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except OSError as error:
                raise SinkError(f"{self.what}: cannot write {self.target!r}: cannot create the lock file "
                                f"{str(self.path)!r} ({error.strerror})") from error
            try:
                # Taking the lock and recording it as this process's are one step, so that
                # another sink of this run that finds it taken always knows it is this run
                # (the pid in the file is written only after).
                with _LOCKING:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    hold(fd, True)
            except BlockingIOError:
                with _LOCKING:
                    holder = self.holder(fd)
                os.close(fd)
                raise SinkError(self.busy_message(holder)) from None
            except OSError as error:
                os.close(fd)
                if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    log.warning("%s: the filesystem of %s has no locks; writing it unlocked", self.what, self.target)
                    return
                raise SinkError(f"{self.what}: cannot lock {str(self.path)!r} ({error.strerror})") from error
            try:
                named = os.stat(self.path)
            except FileNotFoundError:
                named = None
            mine = os.fstat(fd)
            if named is None or (named.st_dev, named.st_ino) != (mine.st_dev, mine.st_ino):
                hold(fd, False)
                os.close(fd)  # the holder before us removed it after we opened it: again
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            except OSError:
                pass  # a full disk: the lock holds without the pid in it
            self._fd = fd
            self.swept = self.sweep()

    def sweep(self) -> list[Path]:
        """Remove what killed writers of this lock's output left (see :func:`sweep_temporaries`).

        Called by :meth:`acquire` with the lock held.  A pattern's lock
        (``.edgepipe-images-DIGEST.lock``, the images sink's) removes the tagged temporaries of
        dead writers in its folder (:func:`sweep_dead_writers`); a folder's lock nothing.
        """
        name = self.path.name
        final = self.path.with_name(name[1:-len(".lock")]) if name.endswith(".lock") else None
        if final is None or lock_path(final) != self.path:
            return []
        if final.name.startswith("edgepipe-images-"):  # a pattern's lock: no one output
            return sweep_dead_writers(self.path.parent, self.what)
        return sweep_temporaries(final, self.what)

    def release(self) -> None:
        """Remove the lock file and drop the lock; safe to call twice."""
        if self._fd is None:
            return
        remove_quietly(self.path)
        hold(self._fd, False)
        os.close(self._fd)
        self._fd = None


class FolderLock(OutputLock):
    """One job per folder: an :class:`OutputLock` on a named lock file inside it.

    Parameters
    ----------
    folder : path-like
        The folder (created if missing when the lock is taken).
    what : str
        The kind of job, for messages (``"batch job"``).
    name : str
        The lock file's name in ``folder``.

    Examples
    --------
    >>> FolderLock("out", "batch job", ".edgepipe-batch.lock").path.name
    '.edgepipe-batch.lock'
    """

    def __init__(self, folder: str | os.PathLike, what: str, name: str):
        super().__init__(Path(folder) / name, str(folder), what)

    def busy_message(self, holder: str) -> str:
        """The one-line error for a folder another job (or this process) is writing."""
        who = "this process" if holder == str(os.getpid()) else f"pid {holder}"
        return (f"another {self.what} ({who}) is writing to {self.target!r}; "
                "wait for it, or choose another output dir")

    def acquire(self) -> None:
        """Create the folder if needed, then take the lock (SinkError if another holds it)."""
        make_folder(self.path, self.what)
        super().acquire()

    def sweep(self) -> list[Path]:
        """A folder's lock removes nothing by itself (the job sweeps its own outputs)."""
        return []
