"""What ``ffprobe`` sees in a video file, and whether two files agree: edgepipe's against ffmpeg's.

The proof that edgepipe reads and writes media as FFmpeg does is a comparison of its
output with ``ffmpeg -i IN -vf format=gray,sobel OUT`` (the same edges, FFmpeg's own
timing).  Both ``scripts/media_parity.py`` and the tests (``tests/io/media/mediacheck.py``)
make that comparison with this module, so there is one definition of "matches":

* **frames**: as many frames as ffmpeg wrote; when its rate conversion duplicated or
  dropped frames (``dup=``/``drop=``: ffmpeg writes .mp4 and .mov at a constant
  rate, so a variable-rate input gets duplicates there, while edgepipe keeps each frame
  once at its own time), as many as ffmpeg decodes from the input (``ffprobe
  -count_frames``), less the frames edgepipe's note says a one-frame-per-tick output
  dropped;
* **times**: each frame within one frame interval (ffmpeg's median) of ffmpeg's time for
  it (in order when the counts are equal, else of ffmpeg's nearest frame), times taken
  from each file's first frame;
* **video end**: the last frame's end within one frame interval of ffmpeg's;
* **sound**: present in both or in neither, and ending within one frame interval and
  one sound packet (a codec frame: 21 ms of AAC, 24 ms of MP3; the encoders pad their
  last one differently) of ffmpeg's sound, from each file's first video frame;
* **clean**: ffprobe and ffmpeg print no error line while reading and decoding
  edgepipe's file (:func:`decode_errors`).
"""

from __future__ import annotations

import dataclasses
import json
import re
import statistics
import subprocess

#: The edges ffmpeg makes of a file, the reference edgepipe's output is held against.
REFERENCE_FILTER = "format=gray,sobel"


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number


def ffprobe(path: str, *arguments: str) -> dict:
    """``ffprobe -of json`` of ``path`` with ``arguments``; CalledProcessError if it fails."""
    done = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *arguments, str(path)],
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout or "{}")


@dataclasses.dataclass
class MediaFacts:
    """One file as ffprobe reads it.

    Attributes
    ----------
    times : list of float
        Each video frame's best-effort time in seconds, in presentation order.
    durations : list of float or None
        Each frame's duration where the container states one.
    sound : bool
        The file has an audio stream with packets.
    sound_end : float or None
        Where the last sound packet ends (seconds), None without sound.
    errors : list of str
        What ``ffmpeg -v error`` printed while decoding the whole file.
    """

    times: list
    durations: list
    sound: bool
    sound_end: float | None
    errors: list
    sound_packet: float = 0.0  # the median sound packet's duration (a codec frame)

    @property
    def start(self) -> float:
        return self.times[0] if self.times else 0.0

    def interval(self) -> float:
        """The median time between frames (1/25 s when there are fewer than two)."""
        steps = [b - a for a, b in zip(self.times, self.times[1:]) if b > a]
        return statistics.median(steps) if steps else 1 / 25

    def video_end(self) -> float:
        """Where the last frame ends: its time plus its duration (else one interval)."""
        if not self.times:
            return 0.0
        last = self.durations[-1] if self.durations and self.durations[-1] else self.interval()
        return max(self.times) + last


def decode_errors(path: str) -> list[str]:
    """The error lines ffprobe and ffmpeg print while reading and decoding all of ``path``.

    ffprobe reads every packet and decodes every frame; ffmpeg decodes every stream and
    writes it uncompressed to Matroska (in ``/dev/null``).  Not ``-f null``: ffmpeg 5.1
    times that muxer's frames on the input's nominal rate, so two frames closer than one
    nominal frame (a variable-rate file) make it print "non monotonically increasing
    dts" about its own output, while any real conversion of the same file is silent.
    """
    lines = []
    for command in (["ffprobe", "-v", "error", "-show_frames", "-show_packets", "-of", "csv", str(path)],
                    ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", "0", "-c:v", "rawvideo",
                     "-c:a", "pcm_s16le", "-f", "matroska", "-y", "/dev/null"]):
        done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        lines += [line for line in done.stderr.splitlines() if line.strip()]
    return lines


def media_facts(path: str, check_decoding: bool = True) -> MediaFacts:
    """Frame times, sound and decoding errors of ``path`` (ffprobe and ffmpeg)."""
    frames = ffprobe(path, "-select_streams", "v:0", "-show_entries",
                     "frame=best_effort_timestamp_time,pkt_duration_time,duration_time").get("frames", [])
    times, durations = [], []
    for frame in frames:
        time = _number(frame.get("best_effort_timestamp_time"))
        if time is None:
            continue
        times.append(time)
        durations.append(_number(frame.get("duration_time", frame.get("pkt_duration_time"))))
    packets = ffprobe(path, "-select_streams", "a:0", "-show_entries",
                      "packet=pts_time,dts_time,duration_time").get("packets", [])
    ends, lengths = [], []
    for packet in packets:
        start = _number(packet.get("pts_time"))
        start = _number(packet.get("dts_time")) if start is None else start
        length = _number(packet.get("duration_time")) or 0.0
        if start is not None:
            ends.append(start + length)
            lengths.append(length)
    return MediaFacts(times=times, durations=durations, sound=bool(ends), sound_end=max(ends) if ends else None,
                      errors=decode_errors(path) if check_decoding else [],
                      sound_packet=statistics.median(lengths) if lengths else 0.0)


@dataclasses.dataclass
class Reference:
    """ffmpeg's own transcode of an input: its file and the frames its rate conversion changed."""

    path: str
    duplicated: int
    dropped: int
    error: str | None = None
    decoded: int | None = None  # the input's frames as ffmpeg decodes them (when dup/drop)


def ffmpeg_reference(source: str, output: str) -> Reference:
    """Run ``ffmpeg -i SOURCE -vf format=gray,sobel OUTPUT``; its dup/drop counts (0 if unsaid)."""
    done = subprocess.run(["ffmpeg", "-nostdin", "-y", "-i", str(source), "-vf", REFERENCE_FILTER, str(output)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        return Reference(output, 0, 0, error=lines[-1] if lines else f"exit {done.returncode}")
    dup = re.findall(r"dup=\s*(\d+)", done.stderr)
    drop = re.findall(r"drop=\s*(\d+)", done.stderr)
    reference = Reference(output, int(dup[-1]) if dup else 0, int(drop[-1]) if drop else 0)
    if reference.duplicated or reference.dropped:
        counted = ffprobe(source, "-count_frames", "-select_streams", "v:0", "-show_entries",
                          "stream=nb_read_frames").get("streams", [{}])
        reference.decoded = int(counted[0].get("nb_read_frames", 0)) if counted else None
    return reference


@dataclasses.dataclass
class Parity:
    """How edgepipe's file compares with ffmpeg's (see the module notes)."""

    frames: tuple[int, int]          # ours, ffmpeg's (less its duplicates, plus its drops)
    video_end: tuple[float, float]   # from each file's first frame
    sound: tuple[bool, bool]
    sound_end: tuple[float | None, float | None]
    interval: float
    problems: list

    @property
    def matches(self) -> bool:
        return not self.problems


def _relative(value: float | None, start: float) -> float | None:
    return None if value is None else value - start


def compare(ours: MediaFacts, theirs: MediaFacts, reference: Reference | None = None,
            our_drops: int = 0) -> Parity:
    """Hold ``ours`` against ffmpeg's ``theirs``; every difference beyond the rules is a problem.

    ``reference`` is ffmpeg's run (its dup/drop counts), ``our_drops`` the frames
    edgepipe said it dropped on a taken tick.
    """
    interval = theirs.interval()
    slack = interval + 1e-3  # container time bases round by up to a millisecond
    problems = []
    duplicated = reference.duplicated if reference is not None else 0
    resampled = reference is not None and reference.decoded is not None
    expected = (reference.decoded - our_drops) if resampled else len(theirs.times)
    if len(ours.times) != expected:
        extra = (f" (it decodes {reference.decoded} from the input, writes {len(theirs.times)} with "
                 f"{duplicated} duplicated, {reference.dropped} dropped)") if resampled else ""
        problems.append(f"frames: {len(ours.times)}, ffmpeg {expected}{extra}")
    mine = [t - ours.start for t in ours.times]
    reference = sorted(t - theirs.start for t in theirs.times)
    if mine and reference:
        if len(mine) == len(reference) and not duplicated:
            pairs = zip(mine, reference)
        else:
            pairs = ((t, min(reference, key=lambda r, t=t: abs(r - t))) for t in mine)
        off = [(index, t, r) for index, (t, r) in enumerate(pairs) if abs(t - r) > slack]
        if off:
            index, t, r = off[0]
            problems.append(f"times: {len(off)} frame(s) more than one interval ({interval:.3f} s) from "
                            f"ffmpeg's, first frame {index} at {t:.3f} s, ffmpeg {r:.3f} s")
    end = (ours.video_end() - ours.start, theirs.video_end() - theirs.start)
    if abs(end[0] - end[1]) > slack:
        problems.append(f"video end: {end[0]:.3f} s, ffmpeg {end[1]:.3f} s")
    sound_end = (_relative(ours.sound_end, ours.start), _relative(theirs.sound_end, theirs.start))
    if ours.sound != theirs.sound:
        problems.append(f"sound: {'present' if ours.sound else 'missing'}, ffmpeg's "
                        f"{'present' if theirs.sound else 'missing'}")
    elif ours.sound and abs(sound_end[0] - sound_end[1]) > slack + max(ours.sound_packet, theirs.sound_packet):
        problems.append(f"sound end: {sound_end[0]:.3f} s, ffmpeg {sound_end[1]:.3f} s")
    if ours.errors:
        problems.append(f"decoding it, ffmpeg printed {len(ours.errors)} error line(s), first: {ours.errors[0]}")
    return Parity(frames=(len(ours.times), expected), video_end=end, sound=(ours.sound, theirs.sound),
                  sound_end=sound_end, interval=interval, problems=problems)


def dropped_in_notes(printed: str) -> int:
    """The frames ``edgepipe run``'s summary says a one-frame-per-tick output dropped."""
    return sum(int(n) for n in re.findall(r"(\d+) frame\(s\) of .* dropped, as ffmpeg drops them", printed))
