"""Giving a complete file its final name: sync and rename, a sink's staged output, atomic writes.

See the package's notes (:mod:`pipeline.io.outputs`, "Nothing half-written").
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from pathlib import Path

from pipeline.io.base import SinkError
from pipeline.io.outputs.folders import make_folder, remove_quietly
from pipeline.io.outputs.locks import OutputLock
from pipeline.io.outputs.watch import WriteWatch
from pipeline.io.temporaries import lock_path, temporary_path


def sync_file(path: Path) -> None:
    """Flush ``path`` to disk (before it gets its final name); OSError on failure.

    Filesystems that allocate late (ext4, XFS, NFS) may only report a full disk here.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(temp: str | os.PathLike, final: str | os.PathLike, what: str | None = None) -> None:
    """Give the complete file ``temp`` its final name: fsync, ``os.replace``, fsync the folder.

    After a crash the folder holds either the old ``final`` or the whole new one.  On
    failure ``temp`` is left for the caller to remove and ``final`` is untouched.

    Parameters
    ----------
    temp : path-like
        The complete temporary file (closed, or flushed by its writer).
    final : path-like
        The output's final name.
    what : str, optional
        The writer, for messages (``"video sink"``).  Given, a failure raises
        :class:`SinkError` naming ``final`` and the cause (a disk that fills up only when
        the file is synced, which filesystems that allocate late report there; a rename
        refused); without it, the OSError itself.
    """
    try:
        sync_file(Path(temp))
    except OSError as error:
        if what is None:
            raise
        raise SinkError(f"{what}: cannot write {str(final)!r}: {error.strerror}; "
                        "nothing was saved under that name") from error
    try:
        os.replace(temp, final)
    except OSError as error:
        if what is None:
            raise
        raise SinkError(f"{what}: cannot move the finished file onto {str(final)!r} "
                        f"({error.strerror}); nothing was saved under that name") from error
    try:  # the rename itself survives a power cut only once its folder is synced
        fd = os.open(os.path.dirname(os.path.abspath(final)), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems cannot sync a folder; the file itself is synced
    finally:
        os.close(fd)


class StagedOutput:
    """One output file of a sink: its lock, its temporary file and watch, and the commit.

    An output that is a device or a pipe already (``/dev/null``, a FIFO a reader holds) is
    written in place, as ffmpeg does: no lock, no temporary file, nothing renamed (a
    rename would replace the device with a regular file).

    The steps every file sink takes, in one place: :meth:`begin` creates the folder,
    takes the output's :class:`OutputLock`, creates the empty temporary file and starts
    a :class:`WriteWatch` on it; the sink writes :attr:`temp`; :meth:`commit` gives the
    whole file its final name (:func:`commit`) or :meth:`discard` throws it away, and
    either releases the lock.

    Parameters
    ----------
    path : str
        The output as the user wrote it.
    what : str
        The sink, for messages (``"video sink"``).
    """

    def __init__(self, path: str, what: str):
        self.path = str(path)
        self.what = what
        self.lock = OutputLock(lock_path(self.path), self.path, what)
        self.temp: Path | None = None
        self.watch: WriteWatch | None = None
        self.direct = is_device(self.path)  # written in place: see the class's notes
        self._probe: int | None = None  # a pipe's write end held open by _check_reader

    def __repr__(self) -> str:
        return f"StagedOutput({self.path!r}, temp={None if self.temp is None else self.temp.name!r})"

    def failure(self, cause: str) -> SinkError:
        """The error for an output that cannot be completed, naming it and ``cause``."""
        return SinkError(f"{self.what}: cannot write {self.path!r}: {cause}; nothing was saved under that name")

    def begin(self) -> Path:
        """Create the folder, take the lock, create the temporary file and watch it; its path.

        SinkError naming the output when any step fails (nothing is left behind then).
        A device or pipe is its own "temporary": the path itself.
        """
        if self.direct:
            self._check_reader()
            return Path(self.path)
        make_folder(Path(self.path), self.what)
        self.lock.acquire()
        self.temp = temporary_path(self.path)
        try:
            # Created here, so the watch sees the file from the start: a writer that opens
            # it later (FFmpeg, when it writes the header) truncates it, keeping the inode.
            self.temp.open("wb").close()
            self.watch = WriteWatch(self.temp)
        except OSError as error:
            self.discard()
            raise self.failure(error.strerror) from error
        return self.temp

    def _check_reader(self) -> None:
        """A pipe with no reader would block the sink's open forever: refuse it instead.

        The probe's write end stays open until :meth:`commit` or :meth:`discard`: closed
        at once, it left the pipe without a writer until the sink opened it, and a reader
        that was already waiting (``cat``) read the end of its input and left, so the
        sink's own open then blocked for ever.
        """
        if not stat.S_ISFIFO(os.stat(self.path).st_mode):
            return
        try:
            probe = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as error:
            if error.errno != errno.ENXIO:
                raise self.failure(error.strerror) from error
            raise SinkError(f"{self.what}: {self.path!r} is a pipe (FIFO) that no process reads; "
                            f"start its reader first (e.g. cat {self.path}), or give a file name") from None
        self._close_probe()
        self._probe = probe

    def _close_probe(self) -> None:
        probe, self._probe = self._probe, None
        if probe is not None:
            os.close(probe)

    def due(self) -> bool:
        """Whether the watch asks to be looked at now (never for a device or pipe)."""
        return self.watch is not None and self.watch.due()

    def problem(self) -> str | None:
        """Why the file being written cannot be complete (see :meth:`WriteWatch.problem`)."""
        return None if self.watch is None else self.watch.problem()

    def commit(self) -> None:
        """Move the whole, closed temporary file onto the output and release the lock.

        SinkError naming the output when the file vanished or the sync or rename fails;
        the temporary file is removed then and the final name untouched.
        """
        if self.direct:
            self._close_probe()
            return
        try:
            problem = self.problem()  # a removed folder: writes and close succeeded
            if problem is not None:
                raise self.failure(problem)
            commit(self.temp, self.path, self.what)
            self.temp = None
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary file (if any) and release the lock; safe to call twice."""
        if self.direct:
            self._close_probe()
            return
        remove_quietly(self.temp)
        self.temp = None
        self.watch = None
        self.lock.release()


def is_device(path: str | os.PathLike) -> bool:
    """Whether ``path`` exists as a character device or a pipe (``/dev/null``, a FIFO)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return stat.S_ISCHR(mode) or stat.S_ISFIFO(mode)


#: Numbers each write_atomically call's temporary, so threads of one process never share one.
_WRITES = itertools.count()


def write_atomically(path: str | os.PathLike, data: bytes, sync: bool = False) -> None:
    """Write ``data`` to ``path`` through a temporary file of its own, then rename it.

    Each call has its own temporary name (pid, process token and a call number), so two
    processes or threads writing the same path at once never share one, and the last to
    finish wins with a whole file.  On any failure the temporary file is removed and
    ``path`` is untouched.

    Parameters
    ----------
    path : path-like
        The final name.
    data : bytes
        The whole content.
    sync : bool, optional
        fsync before the rename (see :func:`commit`); off for per-frame pictures.
    """
    path = Path(path)
    temp = temporary_path(path, f"w{next(_WRITES)}")
    try:
        with open(temp, "xb") as handle:
            handle.write(data)
        if sync:
            commit(temp, path)
        else:
            os.replace(temp, path)
    except BaseException:
        remove_quietly(temp)
        raise
