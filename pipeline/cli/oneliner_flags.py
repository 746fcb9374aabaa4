"""The one-liner's FFmpeg-like flags, as config keys (see :mod:`pipeline.cli.oneliner`).

==========================  ===================  ========================================
ffmpeg                      edgepipe run         config key
==========================  ===================  ========================================
``-ss S`` (before ``-i``)   ``--start S``        ``source.start`` (file, stdin)
``-t D``                    ``--duration D``     ``source.duration``
``-to T``                   ``--to T``           ``source.duration`` = T - S
``-c:v CODEC``              ``--codec CODEC``    ``sinks.N.video.codec`` (every video output)
``-crf N``                  ``--crf N``          ``sinks.N.video.crf``
``-b:v RATE``               ``--bitrate RATE``   ``sinks.N.video.bitrate``
``-preset P``               ``--preset P``       ``sinks.N.video.preset``
``-an``                     ``--no-audio``       ``sinks.N.video.audio: none``
``-f FORMAT -``             ``--format FORMAT``  ``sinks.N.stdout.format``
``-pix_fmt gray``           ``--fast-gray``      ``stages.0.grayscale.from: luma``
==========================  ===================  ========================================

``--fast-gray`` takes the decoder's luma plane as the grey picture (no colour
conversion; :mod:`pipeline.io.media.luma`): FFmpeg's own grey, a level or two off the
exact ``cvtColor`` one.  Without ``--stages`` the default chain for a window or a
browser then leaves out ``overlay`` (it paints onto the colour picture, which a luma
run does not have).

:func:`flags_of` reads them from ``edgepipe run``'s parsed arguments, times parsed by
:func:`pipeline.timecode.parse_time`.
"""

from __future__ import annotations

import dataclasses

from pipeline.config.document import ConfigError
from pipeline.timecode import parse_time

#: Containers ``-`` writes (the stdout sink's ``format``).
PIPE_FORMATS = ("y4m", "nut", "mpegts", "matroska")
#: Sinks that encode video (the encoder flags apply to them).
ENCODING_SINKS = ("video", "stdout", "network", "hls")


def _fail(message: str) -> ConfigError:
    return ConfigError(message, "command line")


@dataclasses.dataclass
class Flags:
    """The one-liner's FFmpeg-like flags (None or False: not given)."""

    start: float | None = None      # --start (-ss): seconds
    duration: float | None = None   # --duration (-t)
    to: float | None = None         # --to (-to): a position, not a length
    codec: str | None = None        # --codec (-c:v)
    crf: int | None = None          # --crf
    bitrate: str | None = None      # --bitrate (-b:v)
    preset: str | None = None       # --preset
    no_audio: bool = False          # --no-audio (-an)
    format: str | None = None       # --format (-f), for - as OUTPUT
    fast_gray: bool = False         # --fast-gray: grey from the decoder's luma plane

    def encoder(self) -> dict:
        """The video sink keys the encoder flags set."""
        keys = {"codec": self.codec, "crf": self.crf, "bitrate": self.bitrate, "preset": self.preset}
        return {key: value for key, value in keys.items() if value is not None}


def flags_of(args) -> Flags:
    """The flags in ``edgepipe run``'s parsed ``args``, times parsed (ConfigError naming the flag)."""
    times = {}
    for flag in ("start", "duration", "to"):
        text = getattr(args, flag)
        if text is not None:
            try:
                times[flag] = parse_time(text, f"--{flag}")
            except ValueError as exc:
                raise _fail(str(exc)) from None
    return Flags(codec=args.codec, crf=args.crf, bitrate=args.bitrate, preset=args.preset,
                 no_audio=args.no_audio, format=args.format,
                 fast_gray=bool(getattr(args, "fast_gray", False)), **times)


#: Inputs whose source decodes through FFmpeg's libraries, so has a luma plane to give.
LUMA_INPUTS = ("file", "url", "stdin")


def apply_fast_gray(chain: list, kinds: list[str], flags: Flags) -> list:
    """--fast-gray: the chain with its first stage ``grayscale: {from: luma}``.

    Parameters
    ----------
    chain : list
        The stages as config data (``--stages``, or the default chain).
    kinds : list of str
        Each input's kind (``file``, ``url``, ``camera``...).
    flags : Flags

    Returns
    -------
    list
        ``chain`` itself without the flag, else a new list.

    Raises
    ------
    ConfigError
        An input without a luma plane (camera, pictures, synthetic), a chain that does not
        start with grayscale, or one with ``overlay`` (see :func:`without_overlay`).
    """
    if not flags.fast_gray:
        return chain
    for kind in kinds:
        if kind not in LUMA_INPUTS:
            raise _fail(f"--fast-gray takes the luma plane FFmpeg decodes a video file or stream "
                        f"to, and a {kind} input has none; leave --fast-gray out")
    first = chain[0] if chain else None
    name = _name(first)
    if name != "grayscale":
        raise _fail(f"--fast-gray makes the first stage grayscale: {{from: luma}}, and the chain "
                    f"starts with {name!r}; start --stages with grayscale")
    if any(_name(entry) == "overlay" for entry in chain[1:]):
        raise _fail("--fast-gray hands the chain a grey picture, and overlay paints the edges "
                    "onto the colour one; leave overlay out of --stages, or --fast-gray out")
    settings = first["grayscale"] if isinstance(first, dict) else None
    if settings is not None and not isinstance(settings, dict):
        return chain  # the config check names what is wrong with these settings
    return [{"grayscale": {**(settings or {}), "from": "luma"}}] + list(chain[1:])


def without_overlay(chain: list, flags: Flags) -> list:
    """The default chain for --fast-gray: ``overlay`` left out (it paints the edges onto
    the colour picture, which a luma run does not have); ``chain`` without the flag."""
    if not flags.fast_gray:
        return chain
    return [entry for entry in chain if _name(entry) != "overlay"]


def _name(entry) -> str | None:
    """A chain entry's stage name: ``"map"`` or ``{"map": {...}}``."""
    if isinstance(entry, dict) and len(entry) == 1:
        return next(iter(entry))
    return entry if isinstance(entry, str) else None


def apply_trim(source: dict, kind: str, flags: Flags) -> None:
    """--start, --duration, --to onto the file (or standard input) source."""
    given = [name for name, value in (("--start", flags.start), ("--duration", flags.duration),
                                      ("--to", flags.to)) if value is not None]
    if not given:
        return
    if kind not in ("file", "stdin"):
        raise _fail(f"{given[0]} trims a video file or standard input (-); for {kind} input "
                    "bound the run with --max-frames N")
    if flags.duration is not None and flags.to is not None:
        raise _fail("give --duration (a length) or --to (a position), not both")
    start = flags.start or 0.0
    if flags.to is not None and flags.to <= start:
        raise _fail(f"--to {flags.to:g} s is not after --start {start:g} s; --to is a position "
                    "in the input (ffmpeg's -to), --duration a length")
    if flags.start is not None:
        source["start"] = start
    if flags.duration is not None:
        source["duration"] = flags.duration
    elif flags.to is not None:
        source["duration"] = flags.to - start


def apply_encoder(sinks: list, flags: Flags) -> None:
    """Encoder flags onto every video output, --format onto standard output."""
    keys = flags.encoder()
    named = [name for name, on in (("--codec", flags.codec), ("--crf", flags.crf is not None),
                                   ("--bitrate", flags.bitrate), ("--preset", flags.preset),
                                   ("--no-audio", flags.no_audio)) if on]
    pipes = [sink["stdout"] for sink in sinks if "stdout" in sink]
    if flags.format is not None:
        if not pipes:
            raise _fail(f"--format {flags.format} is for standard output (- as OUTPUT); a file's "
                        "extension picks its container")
        for settings in pipes:
            settings["format"] = flags.format
    if named and not any(next(iter(sink)) in ENCODING_SINKS for sink in sinks):
        raise _fail(f"{named[0]} applies to a video output (a .mp4, .mkv ... file, or -); "
                    "none is given")
    for sink in sinks:
        (name, settings), = sink.items()
        if name in ("video", "network", "hls"):
            settings.update(keys)
            if flags.no_audio:
                settings["audio"] = "none"
        elif name == "stdout" and keys:
            if settings.get("format", "y4m") not in ("mpegts", "matroska"):
                raise _fail(f"{named[0]} sets an encoder, and - writes raw {settings.get('format', 'y4m')}"
                            "; add --format mpegts or --format matroska")
            settings.update(keys)
