"""The ``video`` sink: a video file, written under a temporary name and renamed when complete."""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path

import cv2
import numpy as np

from pipeline.io.base import Sink, SinkError
from pipeline.io.outputs import (
    OutputLock,
    WriteWatch,
    check_writable_folder,
    lock_path,
    make_folder,
    remove_quietly,
    sync_file,
    temporary_path,
)
from pipeline.registry import Param, ParamError, register

log = logging.getLogger(__name__)
from pipeline.io.base import check_uint8

#: The codec a ``video`` sink uses when ``fourcc`` is not given, by file extension.
#: mp4v (MPEG-4 Part 2) is in every FFmpeg build OpenCV ships; H.264 often is not.
#: FFV1 is lossless (exact edge maps, large files); MJPG is fast and seekable.
DEFAULT_FOURCC = {
    ".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v",
    ".mkv": "FFV1", ".avi": "MJPG",
}

#: Codecs tried, in order, after the requested one fails to open.
FALLBACK_FOURCCS = ("mp4v", "MJPG", "FFV1", "XVID")



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
