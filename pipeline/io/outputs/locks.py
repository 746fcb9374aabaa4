"""How outputs are written: temporary names, one writer per output, the sync-and-rename commit, folder checks.


Nothing half-written ever carries a final name.  Each output is written under a
temporary name in the same folder (``.edges.mp4.part-<pid>-<token>.mp4``: hidden, marked
as partial, unique to the process, the real extension last because OpenCV picks the
container from it), synced to disk (video and stats), and moved onto its final name
with ``os.replace`` (atomic within a filesystem) only when it is complete.  ``abort()``
removes the temporary file, so a failed run leaves nothing that looks finished.

Failed writes.  Python's own writes (``stats``, ``images``) raise OSError, which becomes
a :class:`SinkError` naming the path and the cause (``No space left on device``).
``cv2.VideoWriter.write`` reports nothing (FFmpeg logs a warning and writes nothing more
after the first failure), and a write into a file whose folder was removed succeeds, so
a :class:`WriteWatch` looks, twice a second, whether the temporary file is still there
and its disk still has room, and ``close()`` reads the finished video's frame count
back from its container: a video that does not hold every frame written is removed,
never renamed.

One writer per output.  A sink holds an advisory lock (``fcntl.flock``) on
``.NAME.lock`` next to its output from ``open()`` to ``close()``/``abort()``; a second
run (or a second sink) writing the same output fails at once with "another edgepipe run
is writing OUT (pid N)" rather than replace the first run's file when it finishes.
The lock file is removed on release; a crashed run's lock is free (the kernel drops it
with the process), so a stale ``.lock`` file never blocks anything.  A lock also knows
when this process holds it, so two sinks of one run on one output are told so, whatever
the lock file holds.

What a killed run left.  ``kill -9`` leaves the temporary file (and its ``.lock``) next
to the output.  The writer that takes an output's lock next removes the temporaries of
that output whose writer is provably gone, and says so in one line: a plain temporary is
only ever written under the output's lock, so holding the lock proves its writer gone;
a tagged one (:func:`write_atomically`'s, a batch job's staging name) or one nested in
another temporary is written without that lock, so it goes only when the pid in its name
is no live process here.  The naming scheme and that rule live in
:mod:`pipeline.io.temporaries`; everything is imported from here.
"""

from __future__ import annotations

import errno
import fcntl
import itertools
import logging
import os
import resource
import tempfile
import threading
import time
from pathlib import Path

from pipeline.io.base import SinkError
from pipeline.io.temporaries import (  # noqa: F401  (re-exported: import names from here)
    PROCESS_TOKEN,
    TEMP_MARK,
    TemporaryName,
    held_here,
    hold,
    is_temporary,
    lock_path,
    parse_temporary,
    pid_alive,
    sweep_dead_writers,
    sweep_temporaries,
    temporaries_of,
    temporary_path,
)

log = logging.getLogger(__name__)


#: Seconds between two looks, while a file is written, at whether it is still there and
#: its disk still has room (a stat and a statvfs: microseconds).
WATCH_EVERY = 0.5

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

    For writers that do not report failed writes (``cv2.VideoWriter``) and for the one
    failure no write reports (the folder removed: writes go on into an unlinked file).
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


def sync_file(path: Path) -> None:
    """Flush ``path`` to disk (before it gets its final name); OSError on failure.

    Filesystems that allocate late (ext4, XFS, NFS) may only report a full disk here.
    """
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)




def check_writable_folder(path: str | os.PathLike, what: str) -> None:
    """Raise :class:`SinkError` unless the folder of ``path`` exists or can be created.

    Nothing is created: the nearest existing ancestor must be a folder in which a file
    can really be made (a probe file is created and removed, which catches read-only
    filesystems that ``os.access`` misses, e.g. when running as root).

    Parameters
    ----------
    path : path-like
        The output file.
    what : str
        How to name the output in the message, e.g. ``"video sink"``.
    """
    folder = Path(path).parent if str(Path(path).parent) else Path(".")
    folder = Path(os.path.abspath(folder))
    existing = folder
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise SinkError(
            f"{what}: cannot create folder {str(folder)!r} for {str(path)!r}: "
            f"{str(existing)!r} is a file, not a folder; choose another output path"
        )
    try:
        with tempfile.TemporaryFile(dir=existing, prefix=".edgepipe-probe-"):
            pass
    except OSError as error:
        place = "folder" if existing == folder else f"folder {str(folder)!r}: its parent"
        kind = virtual_filesystem(existing)
        cause = (f"it is on the kernel's {kind} filesystem, which holds no files"
                 if kind is not None else error.strerror)
        raise SinkError(
            f"{what}: cannot write to {place} {str(existing)!r} ({cause}); "
            "choose a writable output path"
        ) from error


#: Filesystems the kernel makes up (no file can be created on them).
VIRTUAL_FILESYSTEMS = {"proc", "sysfs", "cgroup", "cgroup2", "debugfs", "tracefs", "securityfs",
                       "pstore", "bpf", "configfs", "efivarfs", "fusectl", "binfmt_misc"}


def virtual_filesystem(path: str | os.PathLike) -> str | None:
    """The type of the kernel filesystem ``path`` lies on (``"proc"``, ``"sysfs"``...), or None.

    Read from ``/proc/self/mounts`` (the longest mount point that holds ``path``); None
    where that file does not exist (not Linux) or the filesystem holds real files.
    """
    try:
        with open("/proc/self/mounts", encoding="utf-8", errors="replace") as handle:
            mounts = [line.split()[1:3] for line in handle if len(line.split()) >= 3]
    except OSError:
        return None
    target = os.path.realpath(path)
    best, kind = "", None
    for point, fstype in mounts:
        point = point.replace("\\040", " ")
        if (target == point or target.startswith(point.rstrip("/") + "/")) and len(point) > len(best):
            best, kind = point, fstype
    return kind if kind in VIRTUAL_FILESYSTEMS else None


def make_folder(path: Path, what: str) -> None:
    """Create the folder of ``path`` (and parents); SinkError naming it on failure."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise SinkError(f"{what}: cannot create folder {str(path.parent)!r} ({error.strerror})") from error


def remove_quietly(path: Path | None) -> None:
    """Remove ``path`` if it exists (cleanup after an error must not raise again)."""
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:  # pragma: no cover - cleanup best effort
            log.warning("could not remove temporary file %s: %s", path, error)


def close_quietly(handle) -> None:
    """Close a file whose data is being thrown away (a failed flush must not raise again)."""
    try:
        handle.close()
    except (OSError, ValueError):
        pass



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

    def __repr__(self) -> str:
        return f"StagedOutput({self.path!r}, temp={None if self.temp is None else self.temp.name!r})"

    def failure(self, cause: str) -> SinkError:
        """The error for an output that cannot be completed, naming it and ``cause``."""
        return SinkError(f"{self.what}: cannot write {self.path!r}: {cause}; nothing was saved under that name")

    def begin(self) -> Path:
        """Create the folder, take the lock, create the temporary file and watch it; its path.

        SinkError naming the output when any step fails (nothing is left behind then).
        """
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

    def problem(self) -> str | None:
        """Why the file being written cannot be complete (see :meth:`WriteWatch.problem`)."""
        return None if self.watch is None else self.watch.problem()

    def commit(self) -> None:
        """Move the whole, closed temporary file onto the output and release the lock.

        SinkError naming the output when the file vanished or the sync or rename fails;
        the temporary file is removed then and the final name untouched.
        """
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
        remove_quietly(self.temp)
        self.temp = None
        self.watch = None
        self.lock.release()


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
