"""Long files in parts: frame ranges, exact positioning by pts, lossless parts, one final encode.

A split file goes through three kinds of task::

    probe (one decode pass: frame count, fps, the pts at every part boundary)
      ├─► part 0: frames [0, N)    ─┐   each: seek by pts, run the chain,
      ├─► part 1: frames [N, 2N)    ├─► write PNGs (lossless) and their pts to a hidden parts folder
      └─► part k: frames [kN, end) ─┘
                                     join: read every PNG in order into ONE video sink,
                                           each at its pts, with the input's sound

The join writes the same frames, at the same times, in the same order, through the same
:class:`~pipeline.io.sinks.video.VideoSink` settings as an unsplit run, so the final file
decodes to exactly the frames of the unsplit output with a lossless codec (FFV1: tested
frame for frame).  With a lossy one the encoder sees exactly the same frames at the same
times, but x264's bytes are not a fixed function of them: the same pictures encoded
twice came out different after another encode in the same process, and with several
threads (seen in the tests; not pinned down in x264), so a lossy split output matches
the unsplit one in frames, timing and quality, not bit for bit.  Concatenating
separately encoded parts would not even do that.  The input file
is handed to the sink as :class:`~pipeline.io.base.MediaInput`, so the sound is copied
as in an unsplit run.

**Seeking.**  The probe notes the pts (in the stream's time base, an exact integer) of
the first and last frame of every part, while decoding from the start, so they are the
truth.  With ``seek: verify`` a part seeks to the keyframe at or before its first pts
(``av_seek_frame`` with ``AVSEEK_FLAG_BACKWARD``), decodes on, drops frames before that
pts and checks that the first one kept has exactly it, and that its last frame has the
probe's last pts.  A decoder that cannot show a frame without the references before its
keyframe (open GOPs) does not output it at all, so a frame of the wrong pts, or none,
means the seek did not land: the part is redone the exact way, decoding from the start
and skipping (no colour conversion) to its first frame.  ``seek: exact`` always does
that; it costs ``O(parts²)`` decoding but needs no trust.  No pixel fingerprints are
needed: a pts names a frame exactly.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from pipeline.io.base import SourceError
from pipeline.io.media.counting import decode_each
from pipeline.io.media.reader import MediaReader
from pipeline.io.outputs.commit import write_atomically
from pipeline.io.sources.file import DEFAULT_FILE_FPS, DEFAULT_MAX_CONSECUTIVE_ERRORS, FileSource

#: Parts of a file are written here, below the output folder, then removed by the join.
PARTS_FOLDER = ".edgepipe-parts"
#: Name of each lossless frame in a part's folder (the engine numbers frames from 0).
PART_FRAME_PATTERN = "frame_{index:08d}.png"
#: The pts (seconds, one per line, ``repr`` precision) of a part's frames, in order.
PART_PTS_NAME = "pts.txt"


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


def probe(path: str, frames: int) -> dict:
    """Decode ``path`` once from the start: frame count, fps, boundary pts.

    Frames are counted as a :class:`FileSource` reads them (damaged packets passed over,
    :data:`DEFAULT_MAX_CONSECUTIVE_ERRORS` failures in a row end the file).

    Returns
    -------
    dict
        ``frames`` (decodable frames), ``fps`` (as a file source reports it) and
        ``boundaries`` (frame number as a string -> that frame's pts in the stream's
        time base, or None if it has none, for each boundary frame).
    """
    try:
        reader = MediaReader(path).open()
    except Exception as error:  # noqa: BLE001  (named the way the file source names it)
        raise SourceError(f"cannot decode video file {path!r}: {error}") from None
    wanted = BoundarySet(frames)
    boundaries: dict[str, int | None] = {}

    def keep_boundary(number: int, frame) -> None:
        if number in wanted:
            boundaries[str(number)] = frame.pts

    try:
        fps = reader.fps or DEFAULT_FILE_FPS
        count = decode_each(reader, DEFAULT_MAX_CONSECUTIVE_ERRORS, keep_boundary)
    finally:
        reader.close()
    if count == 0:
        raise SourceError(f"video file {path!r} opened but no frame decodes")
    return {"frames": count, "fps": fps, "boundaries": boundaries}


class FrameRangeSource(FileSource):
    """A video file read from frame ``start`` for ``count`` frames, positioned exactly by pts.

    Parameters
    ----------
    path : str
        The video file.
    start, count : int
        First frame (0-based; kept as ``first_frame``, since ``start`` is the file source's
        trim in seconds) and how many frames to deliver.
    boundaries : dict
        Frame number (as a string) -> pts of that frame decoded from the start (stream
        time base), from :func:`probe`.
    seek : {"verify", "exact"}
        How to reach ``start`` (see the module's notes).
    total : int, optional
        Frames in the whole file; a part that ends the file must find none after it.

    Attributes
    ----------
    positioned_by : str
        ``"start"``, ``"seek"`` or ``"decode"`` once open.
    delivered_pts : list of float
        The pts, in seconds, of each frame delivered.
    ended_right : bool or None
        Set at :meth:`close`: whether the frames delivered were exactly the range.
    """

    def __init__(self, path: str, start: int, count: int, boundaries: dict,
                 seek: str = "verify", total: int | None = None):
        super().__init__(path)
        self.first_frame, self.count = int(start), int(count)
        self.total = total
        self.boundaries = boundaries
        self.seek = seek
        self.positioned_by: str | None = None
        self.delivered_pts: list[float] = []
        self.ended_right: bool | None = None
        self._delivered = 0
        self._last_delivered_raw: int | None = None  # pts (time base) of the range's last frame

    def open(self) -> None:
        super().open()  # decodes frame 0 into self._first
        self._delivered = 0
        self.delivered_pts = []
        if self.first_frame == 0:
            self.positioned_by = "start"
            return
        target = self.boundaries.get(str(self.first_frame))
        if self.seek == "verify" and target is not None and self._seek_to(target):
            self.positioned_by = "seek"
            return
        self._decode_to_start()
        self.positioned_by = "decode"

    def _seek_to(self, target: int) -> bool:
        """Seek to ``target`` pts and keep the frame that has it; False if none does."""
        self._reader.seek(target)
        self._position = self.first_frame  # frame numbers in notes count from the range's start
        while True:
            frame = self._next_frame(at_open=True)
            if frame is None or frame.pts is None or frame.pts > target:
                return False
            if frame.pts == target:
                self._first = self._item(frame)
                return True

    def _decode_to_start(self) -> None:
        """Reopen and decode from the start, skipping ``start`` frames (no conversion)."""
        self._reader.close()
        self._reader = self._open_reader()
        self._position = 0
        for _ in range(self.first_frame):
            if self._next_frame(at_open=True) is None:
                raise_short(self.path, self.first_frame)
        frame = self._next_frame(at_open=True)
        if frame is None:
            raise_short(self.path, self.first_frame)
        self._first = self._item(frame)

    def _item(self, frame) -> tuple[np.ndarray, float]:
        pts = self._reader.seconds(frame)
        self._last_pts, self._last_raw_pts = pts, frame.pts
        return self._pictures(frame), pts

    def read_timed(self):
        if self._delivered >= self.count:
            return None
        item = super().read_timed()
        if item is not None:
            self._delivered += 1
            self.delivered_pts.append(item[1])
            if self._delivered == self.count:
                self._last_delivered_raw = self._last_raw_pts
        return item

    @property
    def delivered(self) -> int:
        return self._delivered

    def _ended_where_expected(self) -> bool:
        """Whether the frames delivered were really ``[start, start + count)``.

        The last frame's pts is compared with the probe's; a part that ends the file
        must also find no frame after its last.
        """
        if self._delivered != self.count:
            return False
        stop = self.first_frame + self.count
        truth = self.boundaries.get(str(stop - 1))
        if truth is not None and truth != self._last_delivered_raw:
            return False
        if self.total is not None and stop == self.total and self._reader is not None:
            return self._next_frame(at_open=True) is None
        return True

    def close(self) -> None:
        """Check where the part ended (:attr:`ended_right`), then close the file."""
        if self._reader is not None and self.ended_right is None:
            self.ended_right = self._ended_where_expected()
        super().close()

    def count_frames(self) -> int | None:
        return self.count


def raise_short(path: str, start: int) -> None:
    raise SourceError(f"video file {path!r} ends before frame {start}, which the probe decoded; "
                      "was the file changed while the job ran?")


def write_part_pts(folder: str, pts: list[float]) -> None:
    """Keep the pts of a part's frames next to them (the PNGs cannot hold them)."""
    text = "".join(f"{value!r}\n" for value in pts)
    write_atomically(Path(folder) / PART_PTS_NAME, text.encode())


def read_part_pts(folder: str, expected: int) -> list[float]:
    """The ``expected`` pts a part wrote; ValueError if they are not all there."""
    path = os.path.join(folder, PART_PTS_NAME)
    try:
        with open(path, encoding="ascii") as handle:
            values = [float(line) for line in handle if line.strip()]
    except (OSError, ValueError) as error:
        raise ValueError(f"part pts file {path!r} is missing or unreadable ({error})") from None
    if len(values) != expected:
        raise ValueError(f"part pts file {path!r} holds {len(values)} pts, not {expected}")
    return values


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


__all__ = ["frame_ranges", "probe", "FrameRangeSource", "parts_folder", "part_folder",
           "read_part_frames", "read_part_pts", "write_part_pts", "remove_parts"]
