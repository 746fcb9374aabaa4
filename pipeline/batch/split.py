"""Long files in parts: frame ranges, exact positioning, lossless parts, one final encode.

A split file goes through three kinds of task::

    probe (one decode pass: frame count, fps, fingerprints at every part boundary)
      ├─► part 0: frames [0, N)    ─┐   each: seek, verify, run the chain,
      ├─► part 1: frames [N, 2N)    ├─► write PNGs (lossless) to a hidden parts folder
      └─► part k: frames [kN, end) ─┘
                                     join: read every PNG in order into ONE video sink

The join writes the same frames, in the same order, through the same
:class:`~pipeline.io.sinks.VideoSink` settings as an unsplit run, so the final file
decodes to exactly the frames of the unsplit output (a lossy codec is deterministic for
identical input; concatenating separately encoded parts would not be).

**Seeking.**  ``CAP_PROP_POS_FRAMES`` is not exact for every codec and container (open
GOPs, variable frame rates, missing timestamps).  With ``seek: verify`` a part seeks,
then compares the fingerprint of its first decoded frame, and at the end of its last,
with the probe's fingerprints of those frame numbers (taken while decoding from the
start, so they are the truth).  On any mismatch the part is redone the exact way:
decode from the start and skip (``grab()``, no colour conversion) to its first frame.
``seek: exact`` always does that; it costs ``O(parts²)`` decoding but needs no trust.
"""

from __future__ import annotations

import hashlib
import os
import shutil

import cv2
import numpy as np

from pipeline.io.sources.capture import plausible_fps
from pipeline.io.sources.file import FileSource

#: Parts of a file are written here, below the output folder, then removed by the join.
PARTS_FOLDER = ".edgepipe-parts"
#: Name of each lossless frame in a part's folder (the engine numbers frames from 0).
PART_FRAME_PATTERN = "frame_{index:08d}.png"


def frame_ranges(total: int, frames: int) -> list[tuple[int, int]]:
    """``[start, stop)`` ranges of at most ``frames`` frames covering ``range(total)``.

    A short last part is merged into the one before when it would be under half a
    part, so no part is a sliver.

    Examples
    --------
    >>> frame_ranges(10, 4)
    [(0, 4), (4, 10)]
    >>> frame_ranges(12, 4)
    [(0, 4), (4, 8), (8, 12)]
    """
    if frames < 1:
        raise ValueError(f"frames must be >= 1; got {frames}")
    if total <= 0:
        return []
    starts = list(range(0, total, frames))
    if len(starts) > 1 and total - starts[-1] < frames / 2:
        starts.pop()
    return [(start, stop) for start, stop in zip(starts, starts[1:] + [total])]


class BoundarySet:
    """Frame numbers at part boundaries for parts of ``frames`` frames (``k*N``, ``k*N-1``).

    Membership is arithmetic, so the probe need not know the length in advance; ranges
    that merge a short last part still start and end on these numbers or at the end.
    """

    def __init__(self, frames: int):
        self.frames = frames

    def __contains__(self, index: int) -> bool:
        return index % self.frames in (0, self.frames - 1)


def fingerprint(image: np.ndarray) -> str:
    """A short hash of a decoded frame's pixels and shape."""
    digest = hashlib.blake2b(digest_size=16)
    digest.update(str(image.shape).encode())
    digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()


def probe(path: str, frames: int) -> dict:
    """Decode ``path`` once from the start: frame count, fps, boundary fingerprints.

    Returns
    -------
    dict
        ``frames`` (decodable frames, as a file source reads them), ``fps`` (as a file
        source reports it, None if implausible) and ``fingerprints`` (frame number as
        a string -> hash, for each boundary frame).
    """
    source = FileSource(path)
    source.open()  # SourceError naming the file when it does not decode
    fps = source.fps
    capture = source._capture
    wanted = BoundarySet(frames)
    prints = {}
    try:
        first = source.read()  # frame 0, decoded at open
        prints["0"] = fingerprint(first)
        count = 1
        while capture.grab():
            if count in wanted:
                ok, image = capture.retrieve()
                if ok:
                    prints[str(count)] = fingerprint(image)
            count += 1
    finally:
        source.close()
    return {"frames": count, "fps": fps, "fingerprints": prints}


class FrameRangeSource(FileSource):
    """A video file read from frame ``start`` for ``count`` frames, positioned exactly.

    Parameters
    ----------
    path : str
        The video file.
    start, count : int
        First frame (0-based) and how many frames to deliver.
    fingerprints : dict
        Frame number (as a string) -> :func:`fingerprint` of that frame decoded from the
        start, from :func:`probe`.
    seek : {"verify", "exact"}
        How to reach ``start`` (see the module's notes).

    Attributes
    ----------
    positioned_by : str
        ``"seek"`` or ``"decode"`` once open.
    last_fingerprint : str or None
        Fingerprint of the last frame delivered.
    ended_right : bool or None
        Set at :meth:`close`: whether the frames delivered were exactly the range.
    """

    def __init__(self, path: str, start: int, count: int, fingerprints: dict,
                 seek: str = "verify", total: int | None = None):
        super().__init__(path)
        self.start, self.count = int(start), int(count)
        self.total = total
        self.fingerprints = fingerprints
        self.seek = seek
        self.positioned_by: str | None = None
        self.last_fingerprint: str | None = None
        self.ended_right: bool | None = None
        self._delivered = 0

    def open(self) -> None:
        super().open()  # decodes frame 0 into self._first
        self._delivered = 0
        if self.start == 0:
            self.positioned_by = "start"
            return
        truth = self.fingerprints.get(str(self.start))
        if self.seek == "verify" and truth is not None:
            self._capture.set(cv2.CAP_PROP_POS_FRAMES, self.start)
            ok, frame = self._capture.read()
            if ok and fingerprint(frame) == truth:
                self._first = frame
                self.positioned_by = "seek"
                return
        self._capture.release()
        self._capture = self._open_capture()
        for _ in range(self.start):
            if not self._capture.grab():
                raise_short(self.path, self.start)
        ok, frame = self._capture.read()
        if not ok:
            raise_short(self.path, self.start)
        self._first = frame
        self.positioned_by = "decode"

    def read(self) -> np.ndarray | None:
        if self._delivered >= self.count:
            return None
        frame = super().read()
        if frame is not None:
            self._delivered += 1
            if self._delivered == self.count:
                self.last_fingerprint = fingerprint(frame)
        return frame

    @property
    def delivered(self) -> int:
        return self._delivered

    def _ended_where_expected(self) -> bool:
        """Whether the frames delivered were really ``[start, start + count)``.

        The last frame's fingerprint is compared with the probe's where the probe kept
        one; a part that ends the file must also find no frame after its last.
        """
        if self._delivered != self.count:
            return False
        stop = self.start + self.count
        truth = self.fingerprints.get(str(stop - 1))
        if truth is not None and truth != self.last_fingerprint:
            return False
        if self.total is not None and stop == self.total and self._capture is not None:
            return not self._capture.grab()
        return True

    def close(self) -> None:
        """Check where the part ended (:attr:`ended_right`), then release the capture."""
        if self._capture is not None and self.ended_right is None:
            self.ended_right = self._ended_where_expected()
        super().close()

    def count_frames(self) -> int | None:
        return self.count


def raise_short(path: str, start: int) -> None:
    from pipeline.io.base import SourceError

    raise SourceError(f"video file {path!r} ends before frame {start}, which the probe decoded; "
                      "was the file changed while the job ran?")


def parts_folder(output_dir: str, output: str) -> str:
    """The hidden folder holding the lossless parts of ``output`` while it is made."""
    relative = os.path.relpath(output, output_dir)
    return os.path.join(output_dir, PARTS_FOLDER, relative)


def part_folder(output_dir: str, output: str, index: int) -> str:
    return os.path.join(parts_folder(output_dir, output), f"part-{index:05d}")


def read_part_frames(folder: str, expected: int):
    """Yield the ``expected`` lossless frames of a part, in order; ValueError if not all there."""
    for index in range(expected):
        path = os.path.join(folder, PART_FRAME_PATTERN.format(index=index))
        data = np.fromfile(path, dtype=np.uint8) if os.path.exists(path) else None
        image = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data is not None and data.size else None
        if image is None:
            raise ValueError(f"part frame {path!r} is missing or does not decode")
        yield image


def remove_parts(output_dir: str, output: str) -> None:
    """Remove the parts folder of ``output`` (and the shared parts folder once empty)."""
    shutil.rmtree(parts_folder(output_dir, output), ignore_errors=True)
    top = os.path.join(output_dir, PARTS_FOLDER)
    # empty parents up to the top folder go too
    for folder, _, _ in sorted(os.walk(top), key=lambda entry: -len(entry[0])):
        try:
            os.rmdir(folder)
        except OSError:
            pass


__all__ = ["frame_ranges", "probe", "FrameRangeSource", "fingerprint", "parts_folder",
           "part_folder", "read_part_frames", "remove_parts", "plausible_fps"]
