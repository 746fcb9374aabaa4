"""Sinks that write files: ``video``, ``images``, ``stats``; and ``discard`` for benchmarks.

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
with the process), so a stale ``.lock`` file never blocks anything.

The window sink is in :mod:`pipeline.io.window`.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import math
import os
import resource
import secrets
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from pipeline.io.base import Sink, SinkError
from pipeline.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: The codec a ``video`` sink uses when ``fourcc`` is not given, by file extension.
#: mp4v (MPEG-4 Part 2) is in every FFmpeg build OpenCV ships; H.264 often is not.
#: FFV1 is lossless (exact edge maps, large files); MJPG is fast and seekable.
DEFAULT_FOURCC = {
    ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v",
    ".mkv": "FFV1", ".avi": "MJPG",
}

#: Codecs tried, in order, after the requested one fails to open.
FALLBACK_FOURCCS = ("mp4v", "MJPG", "FFV1", "XVID")

#: Picture formats the ``images`` sink writes, by extension.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

#: Seconds between two looks, while a file is written, at whether it is still there and
#: its disk still has room (a stat and a statvfs: microseconds).
WATCH_EVERY = 0.5

#: Random part of this process's temporary names: with the pid, unique across processes
#: and machines sharing a folder; within a process the output lock keeps writers apart.
PROCESS_TOKEN = secrets.token_hex(3)


def temporary_path(final: str | os.PathLike) -> Path:
    """Where to write ``final`` until it is complete: same folder, hidden, extension last.

    The name holds the pid and a random token drawn once per process, so two processes
    never share a temporary file, and the same call in one process names the same file.

    Examples
    --------
    >>> temporary_path("out/edges.mp4").name  # doctest: +ELLIPSIS
    '.edges.mp4.part-...mp4'
    """
    final = Path(final)
    return final.with_name(f".{final.name}.part-{os.getpid()}-{PROCESS_TOKEN}{final.suffix}")


def lock_path(final: str | os.PathLike) -> Path:
    """The advisory lock file of output ``final``: ``.NAME.lock`` in the same folder.

    Examples
    --------
    >>> lock_path("out/edges.mp4").name
    '.edges.mp4.lock'
    """
    final = Path(final)
    return final.with_name(f".{final.name}.lock")


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

    def __repr__(self) -> str:
        return f"OutputLock({str(self.path)!r}, held={self._fd is not None})"

    def busy_message(self, holder: str) -> str:
        """The one-line error for an output another run (or sink) is writing."""
        if holder == str(os.getpid()):
            return (f"{self.what}: another sink of this run is writing {self.target!r}; "
                    "give each sink its own output path")
        return (f"{self.what}: another edgepipe run is writing {self.target!r} (pid {holder}); "
                "wait for it to finish or choose another output path")

    def holder(self, fd: int) -> str:
        """The pid written in the lock file, or ``"unknown"``."""
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
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SinkError(self.busy_message(self.holder(fd))) from None
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
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
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
                os.close(fd)  # the holder before us removed it after we opened it: again
                continue
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"{os.getpid()}\n".encode("ascii"), 0)
            except OSError:
                pass  # a full disk: the lock holds without the pid in it
            self._fd = fd

    def release(self) -> None:
        """Remove the lock file and drop the lock; safe to call twice."""
        if self._fd is None:
            return
        remove_quietly(self.path)
        os.close(self._fd)
        self._fd = None


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


def container_frame_count(path: str | os.PathLike) -> int | None:
    """The frame count a video's container states (read from its header; nothing decoded).

    None when the file does not open or states no usable count: a video whose trailer
    was never written (an MP4 without its ``moov`` atom) or whose header still holds the
    placeholders written at the start (AVI, Matroska).
    """
    capture = cv2.VideoCapture(str(path), cv2.CAP_FFMPEG)
    try:
        if not capture.isOpened():
            return None
        count = capture.get(cv2.CAP_PROP_FRAME_COUNT)
    finally:
        capture.release()
    if not math.isfinite(count) or count < 0 or count > 2**40:
        return None
    return int(round(count))


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
        raise SinkError(
            f"{what}: cannot write to {place} {str(existing)!r} ({error.strerror}); "
            "choose a writable output path"
        ) from error


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


def check_uint8(frame, what: str) -> np.ndarray:
    """``frame.image`` if it is a uint8 grey or BGR picture, else SinkError naming the frame."""
    image = frame.image
    if not isinstance(image, np.ndarray) or image.dtype != np.uint8 or not (
        image.ndim == 2 or (image.ndim == 3 and image.shape[2] in (1, 3))
    ):
        desc = f"{image.dtype} array of shape {image.shape}" if isinstance(image, np.ndarray) else type(image).__name__
        raise SinkError(
            f"{what}: frame {frame.index} is a {desc}; sinks write uint8 grey (H, W) or BGR (H, W, 3) "
            "images (end the chain with a stage that maps to uint8)"
        )
    return image


@register("sink", "video")
class VideoSink(Sink):
    """A video file written with ``cv2.VideoWriter`` (FFmpeg backend).

    The codec is ``fourcc``, or by extension: mp4v for .mp4/.m4v/.mov, FFV1 (lossless)
    for .mkv, MJPG for .avi.  If it cannot be opened, mp4v, MJPG, FFV1 and XVID are tried
    in turn and the one used is logged as a warning; if none opens, the error lists what
    was tried.  Grey frames are written as grey (``isColor=False``).
    """

    params = (
        Param("path", str, help="output file, e.g. out/edges.mp4 (the extension picks the container)"),
        Param("fourcc", (str, type(None)), None, help="codec, e.g. mp4v, MJPG, FFV1, XVID (null: by extension)"),
        Param("fps", (float, type(None)), None, min=0.1, max=1000, help="frame rate written (null: the source's)"),
    )

    def __init__(self, path, fourcc=None, fps=None):
        if fourcc is not None and (len(fourcc) != 4 or not fourcc.isascii()):
            raise ParamError("fourcc", f"fourcc must be 4 ASCII characters such as mp4v, MJPG or FFV1; got {fourcc!r}")
        self.path = path
        self.fourcc = fourcc
        self.fps = fps
        self._writer: cv2.VideoWriter | None = None
        self._temp: Path | None = None
        self._shape: tuple | None = None
        self._lock: OutputLock | None = None
        self._watch: WriteWatch | None = None
        self.fourcc_used: str | None = None
        self.frames_written = 0

    def __repr__(self) -> str:
        return f"VideoSink(path={self.path!r}, fourcc={self.fourcc!r}, fps={self.fps})"

    def candidate_fourccs(self) -> list[str]:
        """Codecs to try, in order: requested (or by extension), then the fallbacks."""
        first = self.fourcc or DEFAULT_FOURCC.get(Path(self.path).suffix.lower(), "mp4v")
        return list(dict.fromkeys([first, *FALLBACK_FOURCCS]))

    def check(self) -> None:
        """The output folder exists or can be created, and is writable."""
        if not Path(self.path).suffix:
            raise SinkError(
                f"video sink: {self.path!r} has no extension, so no container can be chosen; "
                "use e.g. .mp4, .mkv or .avi"
            )
        if os.path.isdir(self.path):
            raise SinkError(f"video sink: {self.path!r} is a folder; give a file name such as {os.path.join(self.path, 'edges.mp4')!r}")
        check_writable_folder(self.path, "video sink")
        OutputLock(lock_path(self.path), self.path, "video sink").check_free()

    def open(self, first, fps, controls=None) -> None:
        """Open a writer for frames shaped like ``first`` under the temporary name."""
        image = check_uint8(first, "video sink")
        rate = self.fps if self.fps is not None else fps
        if rate is None or not rate > 0 or not math.isfinite(rate):
            raise SinkError(f"video sink {self.path!r}: the source has no frame rate; set fps in the sink")
        final = Path(self.path)
        make_folder(final, "video sink")
        self._lock = OutputLock(lock_path(final), self.path, "video sink")
        self._lock.acquire()
        try:
            self._open_writer(final, image, rate)
        except BaseException:
            self._lock.release()
            raise

    def _open_writer(self, final: Path, image: np.ndarray, rate: float) -> None:
        self._temp = temporary_path(final)
        height, width = image.shape[:2]
        colour = image.ndim == 3 and image.shape[2] == 3
        tried = []
        for code in self.candidate_fourccs():
            writer = cv2.VideoWriter(
                str(self._temp), cv2.CAP_FFMPEG, cv2.VideoWriter_fourcc(*code), float(rate), (width, height), colour
            )
            if writer.isOpened():
                self._writer = writer
                self.fourcc_used = code
                break
            writer.release()
            remove_quietly(self._temp)
            tried.append(code)
        if self._writer is None:
            raise SinkError(
                f"video sink: no codec could write {self.path!r} (tried {', '.join(tried)}); "
                "try another extension (.avi with MJPG works in most builds)"
            )
        if tried:
            log.warning(
                "video sink %s: codec %s is not available; wrote with %s instead", self.path, tried[0], self.fourcc_used
            )
        self._shape = image.shape
        self.frames_written = 0
        try:
            self._watch = WriteWatch(self._temp)
        except OSError as error:
            self.abort()
            raise SinkError(f"video sink: cannot write {self.path!r} ({error.strerror})") from error

    def failure(self, problem: str) -> SinkError:
        """The error for a video that cannot be completed, naming the output and ``problem``."""
        return SinkError(f"video sink: cannot write {self.path!r}: {problem}; nothing was saved under that name")

    def write(self, frame) -> None:
        """Append ``frame.image``; it must keep the first frame's size and channels."""
        if self._writer is None:
            raise SinkError(f"video sink {self.path!r} is not open")
        image = check_uint8(frame, "video sink")
        if image.shape != self._shape:
            raise SinkError(
                f"video sink {self.path!r}: frame {frame.index} is {image.shape}, but the video was "
                f"opened for {self._shape}; a video keeps one size (resize earlier in the chain)"
            )
        self._writer.write(image)  # reports nothing: the watch and close() check instead
        self.frames_written += 1
        if self._watch.due():
            problem = self._watch.problem()
            if problem is not None:
                raise self.failure(problem)

    def incomplete(self) -> str | None:
        """Why the released temporary file is not the whole video, or None when it is."""
        problem = self._watch.problem()
        if problem is not None:
            return problem
        counted = container_frame_count(self._temp)
        if counted == self.frames_written:
            return None
        held = "cannot be read back" if counted is None else f"holds {counted} of {self.frames_written} frames"
        return (f"the finished file {held}, so a write failed (a disk full for a while, "
                "a file size limit or an I/O error)")

    def close(self) -> None:
        """Release the writer, check the video is whole, and move it onto its final name.

        Raises
        ------
        SinkError
            When the file vanished, the disk filled up, or the container does not state
            every frame written; the temporary file is removed and the final name untouched.
        """
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            if self.frames_written == 0:
                log.warning("video sink %s: no frame was written, so no file was made", self.path)
                return
            problem = self.incomplete()
            if problem is not None:
                raise self.failure(problem)
            try:
                sync_file(self._temp)
                os.replace(self._temp, self.path)
            except OSError as error:
                raise SinkError(f"video sink: cannot move the finished video onto {self.path!r} "
                                f"({error.strerror}); nothing was saved under that name") from error
            self._temp = None
        finally:
            remove_quietly(self._temp)
            self._temp = None
            self._lock.release()

    def abort(self) -> None:
        """Release the writer and remove the temporary file; the final name is untouched."""
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        remove_quietly(self._temp)
        self._temp = None
        if self._lock is not None:
            self._lock.release()


def index_field_check(pattern: str) -> None:
    """ParamError unless ``pattern`` formats with ``index`` and nothing else."""
    fields = [name for _, name, _, _ in string.Formatter().parse(pattern) if name is not None]
    if not fields or any(name.split(".")[0].split("[")[0] != "index" for name in fields):
        raise ParamError(
            "path", f"path must contain {{index}} and no other field, e.g. 'frames/frame_{{index:06d}}.png'; got {pattern!r}"
        )
    try:
        first, second = pattern.format(index=0), pattern.format(index=1)
    except (ValueError, IndexError, KeyError, AttributeError) as error:
        raise ParamError("path", f"path {pattern!r} does not format with an index: {error}") from error
    if first == second:
        raise ParamError("path", f"path {pattern!r} names the same file for every frame")
    if Path(first).suffix.lower() not in IMAGE_EXTENSIONS:
        raise ParamError(
            "path", f"path must end in {', '.join(IMAGE_EXTENSIONS)}; got {pattern!r}"
        )


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` via a temporary file in the same folder and os.replace."""
    temp = temporary_path(path)
    try:
        with open(temp, "wb") as handle:
            handle.write(data)
        os.replace(temp, path)
    except OSError:
        remove_quietly(temp)
        raise


@register("sink", "images")
class ImagesSink(Sink):
    """One numbered picture per frame, PNG or JPEG by extension, each written atomically.

    ``{index}`` is the frame's index in the source (a live run that drops frames leaves
    gaps in the numbering, which shows where frames were dropped).
    """

    params = (
        Param("path", str, "frames/frame_{index:06d}.png", help="file name pattern with {index}; .png, .jpg or .jpeg"),
        Param("jpeg_quality", int, 95, min=0, max=100, help="JPEG quality (for .jpg/.jpeg)"),
        Param("png_compression", int, 1, min=0, max=9, help="PNG zlib level (for .png): 0 fastest, 9 smallest"),
    )

    def __init__(self, path="frames/frame_{index:06d}.png", jpeg_quality=95, png_compression=1):
        index_field_check(path)
        self.path = path
        self.jpeg_quality = jpeg_quality
        self.png_compression = png_compression
        self.extension = Path(path.format(index=0)).suffix.lower()
        self.frames_written = 0
        self._made_folders: set[Path] = set()
        self._lock: OutputLock | None = None

    def __repr__(self) -> str:
        return (
            f"ImagesSink(path={self.path!r}, jpeg_quality={self.jpeg_quality}, "
            f"png_compression={self.png_compression})"
        )

    def encode_options(self) -> list[int]:
        """The ``cv2.imencode`` parameters for this sink's format."""
        if self.extension == ".png":
            return [cv2.IMWRITE_PNG_COMPRESSION, self.png_compression]
        return [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]

    def check(self) -> None:
        """The folder of the first picture exists or can be created, and is writable."""
        check_writable_folder(self.path.format(index=0), "images sink")
        self.output_lock().check_free()

    def output_lock(self) -> OutputLock:
        """The lock of this pattern: beside its first picture, named after the whole pattern."""
        first = Path(self.path.format(index=0))
        digest = hashlib.sha1(os.path.abspath(self.path).encode("utf-8")).hexdigest()[:12]
        return OutputLock(first.with_name(f".edgepipe-images-{digest}.lock"), self.path, "images sink")

    def open(self, first, fps, controls=None) -> None:
        """Take the pattern's lock (another run writing the same pictures is an error)."""
        self.frames_written = 0
        make_folder(Path(self.path.format(index=0)), "images sink")
        self._lock = self.output_lock()
        self._lock.acquire()

    def write(self, frame) -> None:
        """Encode ``frame.image`` and write it under the pattern's name for its index."""
        image = check_uint8(frame, "images sink")
        path = Path(self.path.format(index=frame.index))
        if path.parent not in self._made_folders:
            make_folder(path, "images sink")
            self._made_folders.add(path.parent)
        ok, data = cv2.imencode(self.extension, image, self.encode_options())
        if not ok:
            raise SinkError(f"images sink: cannot encode frame {frame.index} as {self.extension}")
        try:
            write_atomically(path, data.tobytes())
        except OSError as error:
            raise SinkError(f"images sink: cannot write {str(path)!r} ({error.strerror})") from error
        self.frames_written += 1

    def close(self) -> None:
        """Release the lock: every picture was complete when it got its name."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None


#: Returned by :func:`jsonable` for values a JSON line leaves out (arrays, objects).
NOT_JSON = object()


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types, or :data:`NOT_JSON` for arrays and other objects.

    numpy scalars become numbers; non-finite floats become None (JSON has no NaN);
    tuples become lists; mappings and lists keep only their JSON-able members.
    """
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        out = {str(k): jsonable(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not NOT_JSON}
    if isinstance(value, (list, tuple)):
        items = [jsonable(v) for v in value]
        return [v for v in items if v is not NOT_JSON]
    if hasattr(value, "__dataclass_fields__"):
        return jsonable({name: getattr(value, name) for name in value.__dataclass_fields__})
    return NOT_JSON



@register("sink", "stats")
class StatsSink(Sink):
    """One JSON object per frame, one per line (JSON Lines), for plots and regressions.

    Fields: ``index``; ``captured_at`` (Unix time of capture); ``latency_ms`` (capture
    to this sink); ``threshold`` and ``drops`` (from ``frame.side``, else the run's live
    stats); then every other JSON-able value in ``frame.side`` (the tuner's, the
    stages'), by name.  Arrays such as the histogram are left out.  ``path: "-"`` writes
    to standard output; a file is written under a temporary name and renamed on close.
    """

    params = (
        Param("path", str, help="JSON Lines file, e.g. out/stats.jsonl, or - for standard output"),
    )

    def __init__(self, path):
        self.path = path
        self._handle = None
        self._temp: Path | None = None
        self._controls = None
        self._lock: OutputLock | None = None
        self._watch: WriteWatch | None = None
        self.frames_written = 0

    def __repr__(self) -> str:
        return f"StatsSink(path={self.path!r})"

    @property
    def to_stdout(self) -> bool:
        """True when ``path`` is ``-``."""
        return self.path == "-"

    def check(self) -> None:
        """The output folder exists or can be created, and is writable."""
        if not self.to_stdout:
            if os.path.isdir(self.path):
                raise SinkError(f"stats sink: {self.path!r} is a folder; give a file name such as {os.path.join(self.path, 'stats.jsonl')!r}")
            check_writable_folder(self.path, "stats sink")
            OutputLock(lock_path(self.path), self.path, "stats sink").check_free()

    def failure(self, cause: str) -> SinkError:
        """The error for a stats file that cannot be completed, naming the output and ``cause``."""
        return SinkError(f"stats sink: cannot write {self.path!r}: {cause}; nothing was saved under that name")

    def open(self, first, fps, controls=None) -> None:
        """Open the temporary file (or take standard output)."""
        self._controls = controls
        self.frames_written = 0
        if self.to_stdout:
            self._handle = sys.stdout
            return
        final = Path(self.path)
        make_folder(final, "stats sink")
        self._lock = OutputLock(lock_path(final), self.path, "stats sink")
        self._lock.acquire()
        self._temp = temporary_path(final)
        try:
            self._handle = open(self._temp, "w", encoding="utf-8")
            self._watch = WriteWatch(self._temp)
        except OSError as error:
            self.abort()
            raise self.failure(error.strerror) from error

    def record(self, frame) -> dict:
        """The JSON object written for ``frame``."""
        now = time.perf_counter()
        latency = now - frame.timestamp
        live = self._controls.snapshot() if self._controls is not None else None
        side = frame.side
        threshold = side.get("threshold", live.threshold if live is not None else None)
        drops = side.get("drops", live.dropped if live is not None else None)
        row = {
            "index": int(frame.index),
            "captured_at": round(time.time() - latency, 6),
            "latency_ms": round(latency * 1000.0, 3),
            "threshold": jsonable(threshold),
            "drops": jsonable(drops),
        }
        for key, value in side.items():
            if key in row:
                continue
            value = jsonable(value)
            if value is not NOT_JSON:
                row[key] = value
        return row

    def write(self, frame) -> None:
        """Append one line for ``frame``."""
        if self._handle is None:
            raise SinkError(f"stats sink {self.path!r} is not open")
        line = json.dumps(self.record(frame), separators=(",", ":")) + "\n"
        try:
            self._handle.write(line)
        except OSError as error:
            raise self.failure(error.strerror) from error
        self.frames_written += 1
        if self._watch is not None and self._watch.due():
            problem = self._watch.problem()
            if problem is not None:
                raise self.failure(problem)

    def close(self) -> None:
        """Flush, and move the finished file onto its final name."""
        if self._handle is None:
            return
        if self.to_stdout:
            self._handle.flush()
            self._handle = None
            return
        handle, self._handle = self._handle, None
        try:
            problem = self._watch.problem()  # a removed folder: writes and close succeed
            if problem is not None:
                handle.close()
                raise self.failure(problem)
            try:
                handle.flush()
                os.fsync(handle.fileno())
                handle.close()
            except OSError as error:
                raise self.failure(error.strerror) from error
            try:
                os.replace(self._temp, self.path)
            except OSError as error:
                raise SinkError(f"stats sink: cannot move the finished file onto {self.path!r} "
                                f"({error.strerror}); nothing was saved under that name") from error
            self._temp = None
        finally:
            close_quietly(handle)
            remove_quietly(self._temp)
            self._temp = None
            self._lock.release()

    def abort(self) -> None:
        """Close and remove the temporary file."""
        if self._handle is not None and not self.to_stdout:
            close_quietly(self._handle)
        self._handle = None
        remove_quietly(self._temp)
        self._temp = None
        if self._lock is not None:
            self._lock.release()


@register("sink", "discard")
class DiscardSink(Sink):
    """Drops every frame (counting them): measures the chain without any output cost."""

    params = ()

    def __init__(self):
        self.frames_written = 0

    def __repr__(self) -> str:
        return "DiscardSink()"

    def open(self, first, fps, controls=None) -> None:
        """Reset the count."""
        self.frames_written = 0

    def write(self, frame) -> None:
        """Count the frame and let it go."""
        self.frames_written += 1
