"""Where each frame goes on the output's clock when the input's times are not in order.

Inputs give frames whose times repeat (duplicate timestamps), step back a little (a
packed DivX B-frame, a rounding container) or jump back (two recordings joined with
``cat``, a looping input).  :class:`FramePlacer` decides, as ffmpeg's rate conversion
(``do_video_out`` in ``fftools/ffmpeg.c`` 5.1) and its timestamp-discontinuity handling
(``ts_discontinuity_process``) do, without ever shifting the whole rest of the video for
one bad time:

* a time later than the last one placed is kept as it is;
* a time that repeats, or steps back by up to two nominal frames, waits for the next
  later time, and the waiting frames are spread evenly between the frame before and
  that time (duplicate pairs at 0, 0, 0.08, 0.08 become 0, 0.04, 0.08, 0.12, as ffmpeg
  writes them at 25 fps); at the end they follow one nominal frame apart;
* a jump back by more than two nominal frames is a new stretch of recording: it and
  every later frame are moved to go on one nominal frame after the last (counted in
  ``jumps``), as ffmpeg shifts a file whose clock restarted.
"""

from __future__ import annotations

from pipeline.io.formats import FILLED_START_CONTAINERS, VIDEO_CONTAINERS

#: How many frames may wait for a later time before they are placed a frame apart.
MAX_WAITING = 64


class FramePlacer:
    """Output times for frames handed in with their input times (seconds).

    Parameters
    ----------
    frame_seconds : float
        One nominal frame: the step between frames placed at the end and after a jump.
    """

    def __init__(self, frame_seconds: float):
        self.step = float(frame_seconds)
        self.offset = 0.0  # added to input times after jumps back
        self.last = None  # the last time placed (output seconds)
        self.last_input = None  # the last input time seen, offset applied
        self._waiting: list = []
        self.moved = 0  # frames whose time repeated or stepped back
        self.jumps = 0  # jumps back by more than two frames

    def add(self, item, seconds: float) -> list[tuple[object, float]]:
        """Hand in ``item`` shown at ``seconds``; the items now placed, with their times."""
        seconds = float(seconds) + self.offset
        if self.last_input is not None and seconds < self.last_input - 2 * self.step:
            self.jumps += 1
            self.offset += (self.last_input + self.step) - seconds
            seconds = self.last_input + self.step
        if self.last is not None and seconds <= max(self.last, self.last_input):
            self.moved += 1
            self.last_input = max(self.last_input, seconds)
            self._waiting.append(item)
            if len(self._waiting) < MAX_WAITING:
                return []
            return self._release_apart()
        self.last_input = seconds
        placed = self._spread(seconds)
        placed.append((item, seconds))
        self.last = seconds
        return placed

    def _spread(self, until: float) -> list[tuple[object, float]]:
        """The waiting items, evenly between the last time placed and ``until``."""
        waiting, self._waiting = self._waiting, []
        if not waiting:
            return []
        gap = (until - self.last) / (len(waiting) + 1)
        return [(item, self.last + gap * (number + 1)) for number, item in enumerate(waiting)]

    def _release_apart(self) -> list[tuple[object, float]]:
        waiting, self._waiting = self._waiting, []
        placed = []
        for item in waiting:
            self.last += self.step
            placed.append((item, self.last))
        self.last_input = max(self.last_input, self.last)
        return placed

    def finish(self) -> list[tuple[object, float]]:
        """The items still waiting, one nominal frame apart after the last."""
        return self._release_apart() if self._waiting else []


#: AVFMT_TS_DISCONT: formats whose clock may restart (MPEG-TS, MPEG-PS).
DISCONTINUOUS = 0x0200

#: ffmpeg's thresholds (``ts_discontinuity_process``): a jump back by more than 0.1 s,
#: or by more than ``dts_delta_threshold`` (10 s) either way, starts a new stretch.
BACK_THRESHOLD = 0.1
JUMP_THRESHOLD = 10.0


class ClockJoin:
    """Packets of a file whose clock restarted, shifted to go on as ffmpeg shifts them.

    Two MPEG-TS recordings joined with ``cat`` start their timestamps again.  ffmpeg
    keeps one offset for the whole file and, when a packet's dts falls more than 0.1 s
    behind where its stream was due (or 10 s off either way), moves the offset so that
    the packet lands where it was due; every later packet of every stream carries it.
    The video reader and the sound track both shift their packets with this, so the
    picture and the sound of the second recording follow the first's together.
    """

    def __init__(self):
        self.offset = 0.0  # seconds added to every packet's timestamps
        self.jumps = 0
        self._due: dict[int, float] = {}  # per stream: where its next packet is due

    @staticmethod
    def applies(container) -> bool:
        """Whether ``container``'s format may restart its clock."""
        return bool(container.format.flags & DISCONTINUOUS)

    def shift(self, packet) -> None:
        """Add the running offset to ``packet``'s pts and dts, after checking it for a jump."""
        stamp = packet.dts if packet.dts is not None else packet.pts
        if stamp is None:
            return
        base = packet.time_base
        seconds = float(stamp * base) + self.offset
        # Only picture and sound move the clock (a sparse data or subtitle stream's gap of
        # more than 10 s is no restart); every stream carries the offset.
        due = self._due.get(packet.stream.index) if packet.stream.type in ("video", "audio") else None
        if due is not None and (seconds < due - BACK_THRESHOLD or abs(seconds - due) > JUMP_THRESHOLD):
            self.offset += due - seconds
            self.jumps += 1
            seconds = due
        shift = round(self.offset / base)
        if shift:
            packet.pts = None if packet.pts is None else packet.pts + shift
            packet.dts = None if packet.dts is None else packet.dts + shift
        self._due[packet.stream.index] = seconds + float((packet.duration or 0) * base)


def output_seconds(frame, origin: float, first_index: int, rate: float) -> float:
    """Where ``frame`` goes on an output's clock: its pts from the input's ``origin``, or,
    for a frame without pts, its place among the frames at the nominal ``rate``."""
    if frame.pts is not None:
        return frame.pts - origin
    return (frame.index - first_index) / rate


#: ffmpeg repeats the first frame from the input's start only when the picture starts
#: more than this many frames after it (``nb0_frames`` in ``do_video_out``); a smaller lead
#: (AAC's 21 ms priming) is absorbed by the constant rate.
LEAD_FRAMES = 1.1


def output_origin(media, extension: str, first_pts: float | None,
                  frame_seconds: float) -> tuple[float, bool]:
    """The input time an output's 0 stands for, and whether the first frame is moved to 0.

    ffmpeg starts every output at the input file's start (its earliest stream) and, in a
    constant-rate container (.mp4, .mov), repeats the first frame from there when the
    picture starts later than the sound (``nb0_frames`` in ``do_video_out``); an .avi,
    which has no start offset, shows its first frame from 0 too.  Matroska and WebM
    start the picture at its first frame.  ``media`` is the source's
    :class:`~pipeline.io.base.MediaInput` (or None), ``first_pts`` the first frame's pts,
    ``frame_seconds`` one nominal frame.  A lead of at most :data:`LEAD_FRAMES` frames is
    no lead: the output starts at the first frame.
    """
    if media is None:
        return (first_pts or 0.0), False
    lead_in = media.file_start
    if (lead_in is not None and media.start - lead_in > LEAD_FRAMES * frame_seconds
            and VIDEO_CONTAINERS.get(extension) in FILLED_START_CONTAINERS):
        return lead_in, True
    return media.start, False
