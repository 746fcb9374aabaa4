"""``edgepipe run INPUT [OUTPUT ...]``: a whole pipeline on one line, as FFmpeg users type it.

The command line is turned into the config it stands for (:func:`config_data`), which
is then checked and run like any YAML config; ``--print-config`` shows that config as
YAML with comments (:func:`to_yaml`), and running the printed file gives the same
output.  Everything here is decided from the words and the file system, before any
camera, file or socket is opened; a mistake raises :class:`~pipeline.config.ConfigError`
(exit 2).

INPUT: a video file, a quoted image glob (``'shots/*.png'``) or a picture, a stream URL
(``rtsp://``, ``http://``, ``udp://``, ``tcp://`` ...), a camera index or device (``0``,
``/dev/video2``), ``synthetic``, or ``-`` (standard input).  OUTPUT: a video path (the
extension picks the container and codec), a picture name or pattern with ``{index}``
and/or ``{stem}``, a ``.jsonl`` stats file, an HLS ``.m3u8``, ``srt://``/``rtmp://``/``udp://``/``rtp://``
(sent there), ``window``, ``http://HOST:PORT``, ``-``
(standard output: y4m, or ``--format``), or ``null`` (discard).

The flags FFmpeg users reach for map onto config keys (:func:`config_data`): trimming
(``--start``, ``--duration``, ``--to``) onto the file source's ``start``/``duration``,
encoder flags (``--codec``, ``--crf``, ``--bitrate``, ``--preset``, ``--no-audio``) onto
every video output's keys, ``--format`` onto the standard output's container,
``--fast-gray`` onto the first stage (``grayscale: {from: luma}``).
"""

from __future__ import annotations

import copy
import glob
import os
import stat
import sys
import urllib.parse

import yaml

from pipeline.cli.helptext import plain_text
from pipeline.cli.oneliner_flags import Flags, apply_encoder, apply_fast_gray, apply_trim, without_overlay
from pipeline.config.document import ConfigError
from pipeline.io import formats
from pipeline.redact import redact_url
from pipeline.config.registry import REGISTRIES

#: Video files written (the video sink picks container and codec by extension) and read.
VIDEO_EXTENSIONS = tuple(formats.VIDEO_CONTAINERS)
VIDEO_INPUTS = formats.FILE_INPUTS
#: Pictures: read by the images source; written by the images sink (a pattern with {index}).
IMAGE_EXTENSIONS = formats.PICTURE_EXTENSIONS
#: The stats sink's JSON Lines files.
STATS_EXTENSIONS = (".jsonl",)
CONFIG_EXTENSIONS = (".yaml", ".yml")
URL_SCHEMES = ("rtsp", "rtsps", "rtmp", "http", "https", "udp", "tcp", "srt")
GLOB_CHARACTERS = "*?["
LIVE_VIEWS = ("window", "http")
#: Outputs sent by URL (the network sink); a .m3u8 OUTPUT is HLS.
NETWORK_SCHEMES = ("srt", "rtmp", "rtmps", "udp", "rtp")
#: The word for standard input (as INPUT) and standard output (as OUTPUT), as in ffmpeg.
PIPE = "-"
#: The word for no output (ffmpeg -f null).
NULL = "null"

#: The chain for files: edges only, as configs/video.yaml.
PLAIN_EDGES = ["grayscale", {"gradient": {"kind": "sobel", "norm": "l2"}},
               {"map": {"mode": "abs", "scale": 1.0}}]
#: --tuner on file outputs: the plain edges, thresholded where the tuner says.
TUNED_EDGES = PLAIN_EDGES + [{"threshold": {"value": "auto"}}]
#: The chain for a window or a browser: configs/demo.yaml's.
DEMO_CHAIN = TUNED_EDGES + [{"overlay": {"color": [0, 255, 0], "alpha": 1.0}},
                            {"hud": {"corner": "top-right"}}]
#: --tuner: the shipped tuner (configs/tuner-demo.yaml).
TUNER = {"objective": "otsu", "optimizer": {"name": "adam", "lr": 2.0}, "every": 5,
         "iterations": 20, "smoothing": 0.5, "bounds": [0, 255]}

STAGES_EXAMPLE = "'[grayscale, {gradient: {kind: scharr}}, map, {threshold: {value: auto}}, overlay]'"


def is_config(argument: str) -> bool:
    """Whether ``run``'s first argument is a YAML config (by extension, or a pipe: ``<(...)``)."""
    if os.path.splitext(argument)[1].lower() in CONFIG_EXTENSIONS:
        return True
    try:
        return stat.S_ISFIFO(os.stat(argument).st_mode)
    except (OSError, ValueError):
        return False


def known_outputs() -> str:
    """The list of outputs, for messages."""
    return (f"a video {' '.join(VIDEO_EXTENSIONS)}; pictures (a pattern with {{index}} or "
            f"{{stem}}, or one name for one picture): {' '.join(IMAGE_EXTENSIONS)}; stats "
            f"{' '.join(STATS_EXTENSIONS)}; HLS .m3u8; srt:// rtmp:// udp:// rtp:// (sent); or window, "
            "http://HOST:PORT, - (standard output), "
            "null (discard)")


def _fail(message: str) -> ConfigError:
    return ConfigError(message, "command line")


# ---------------------------------------------------------------------- inputs
def parse_input(text: str) -> tuple[dict, str]:
    """The source settings for INPUT and its kind (camera, url, synthetic, images, file)."""
    if text == "synthetic":
        return {"type": "synthetic"}, "synthetic"
    if text == PIPE:
        return {"type": "stdin"}, "stdin"
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if "://" in text:
        if scheme not in URL_SCHEMES:
            raise _fail(f"input {text!r}: a stream URL starts with "
                        f"{', '.join(s + '://' for s in URL_SCHEMES)}")
        return {"type": "url", "url": text}, "url"
    if text.isdigit() or text.startswith("/dev/video"):
        return {"type": "camera", "device": int(text) if text.isdigit() else text}, _camera(text)
    if any(c in text for c in GLOB_CHARACTERS):
        return {"type": "images", "glob": text}, _pictures(text)
    return _file(text)


def _camera(text: str) -> str:
    device = f"/dev/video{text}" if text.isdigit() else text
    if not sys.platform.startswith("linux"):
        return "camera"  # no device files to look at: the camera source says at open
    try:
        if stat.S_ISCHR(os.stat(device).st_mode):
            return "camera"
        problem = "is not a device"
    except OSError:
        problem = "does not exist"
    found = sorted(glob.glob("/dev/video*"), key=lambda p: (len(p), p))
    here = f"cameras here: {', '.join(found)}" if found else "no camera is connected"
    raise _fail(f"input {text!r}: camera {device} {problem} ({here}); "
                "no camera at hand: try `edgepipe run synthetic`")


def _pictures(pattern: str) -> str:
    matches = [p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p)]
    if not matches:
        raise _fail(f"input {pattern!r} matches no file (looked in "
                    f"{os.path.abspath(os.path.dirname(pattern) or '.')}); check the folder "
                    "and the extension, and quote the glob so the shell leaves it alone")
    videos = [p for p in matches if os.path.splitext(p)[1].lower() in VIDEO_INPUTS]
    if videos:
        raise _fail(f"input {pattern!r} matches video files (first: {videos[0]!r}); one video: "
                    "edgepipe run FILE; many videos: edgepipe batch configs/batch.yaml")
    return "images"


def _file(path: str) -> tuple[dict, str]:
    extension = os.path.splitext(path)[1].lower()
    if not os.path.exists(path):
        raise _fail(f"input {path!r} does not exist (looked in "
                    f"{os.path.abspath(os.path.dirname(path) or '.')}); give a video file, a "
                    "quoted image glob, a stream URL, a camera index such as 0, synthetic, "
                    "or a .yaml config")
    if os.path.isdir(path):
        raise _fail(f"input {path!r} is a folder; for its pictures give a quoted glob such "
                    f"as {os.path.join(path, '*.png')!r}")
    if extension in VIDEO_INPUTS:
        return {"type": "file", "path": path}, "file"
    if extension in IMAGE_EXTENSIONS:
        return {"type": "images", "glob": glob.escape(path)}, "images"
    raise _fail(f"input {path!r}: unknown extension {extension or '(none)'!r}; known: video "
                f"{' '.join(formats.VIDEO_INPUTS)}, pictures {' '.join(IMAGE_EXTENSIONS)}, "
                f"configs {' '.join(CONFIG_EXTENSIONS)}")


# ---------------------------------------------------------------------- outputs
def default_outputs(text: str, kind: str, source: dict) -> list[str]:
    """Where a one-liner without OUTPUT writes: a window for live sources, else beside the input.

    A video file: ``STEM_edges.mp4``; standard input: standard output; pictures: one PNG
    per picture, named after it, in the visible folder ``FOLDER_edges`` beside the
    pictures' folder (``photos/*.jpg`` -> ``photos_edges/NAME.png``; pictures in the
    current folder go to ``./CURRENT_edges/``).
    """
    if kind in ("camera", "url", "synthetic"):
        return ["window"]
    if kind == "stdin":
        return [PIPE]
    if kind == "file":
        stem, _ = os.path.splitext(text)
        return [f"{stem}_edges.mp4"]
    return [os.path.join(picture_folder(source["glob"]), "{stem}.png")]


def picture_folder(pattern: str) -> str:
    """The default folder for the pictures a glob matches: ``FOLDER_edges``, never hidden."""
    root = os.path.dirname(pattern.split("*")[0].split("?")[0].split("[")[0]) or "."
    name = os.path.basename(os.path.abspath(root)) or "pictures"
    parent = "." if os.path.normpath(root) == "." else os.path.dirname(os.path.normpath(root))
    return os.path.normpath(os.path.join(parent, f"{name.lstrip('.') or 'pictures'}_edges"))


def parse_output(text: str, single_picture: bool = False) -> dict:
    """The sink entry for one OUTPUT word (``single_picture``: the input is one picture)."""
    if text == PIPE:
        return {"stdout": {}}
    if text == NULL:
        return {"discard": {}}
    if text == "window":
        return {"window": {}}
    if "://" in text:
        scheme = text.split("://", 1)[0].lower()
        return {"network": {"url": text}} if scheme in NETWORK_SCHEMES else _http(text)
    extension = os.path.splitext(text)[1].lower()
    if extension == ".m3u8":
        return {"hls": {"path": text}}
    if "{index" in text or "{stem" in text:
        if extension not in IMAGE_EXTENSIONS:
            raise _fail(f"output {text!r}: a picture pattern ends in {' '.join(IMAGE_EXTENSIONS)}")
        return {"images": {"path": text}}
    if extension in VIDEO_EXTENSIONS:
        return {"video": {"path": text}}
    if extension in STATS_EXTENSIONS:
        return {"stats": {"path": text}}
    if extension in IMAGE_EXTENSIONS:
        if single_picture:
            return {"images": {"path": text}}
        stem = os.path.splitext(text)[0]
        raise _fail(f"output {text!r}: one picture name is for one input picture; for many "
                    f"frames put {{index}} or {{stem}} in the name, e.g. "
                    f"{stem + '_{index:06d}' + extension!r} or "
                    f"{os.path.join(os.path.dirname(text), '{stem}' + extension)!r}")
    raise _fail(f"output {text!r}: no sink knows the extension {extension or '(none)'!r}; "
                f"known: {known_outputs()}")


def _http(text: str) -> dict:
    parts = urllib.parse.urlsplit(text)
    if parts.scheme != "http" or parts.path not in ("", "/") or not parts.hostname:
        raise _fail(f"output {text!r}: the browser view is http://HOST:PORT, e.g. "
                    "http://127.0.0.1:8080; other URLs are inputs only (sent by URL: srt://, rtmp://, udp://, rtp://)")
    try:
        port = parts.port
    except ValueError:
        raise _fail(f"output {text!r}: the port must be a number 0..65535") from None
    settings = {"host": parts.hostname, "port": 8080 if port is None else port}
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True)
    if set(query) - {"token"} or len(query.get("token", ())) > 1:
        raise _fail(f"output {redact_url(text)!r}: the browser view takes only ?token=TOKEN")
    if "token" in query:  # checked with the sink's settings, like a configured one
        settings["token"] = query["token"][0]
    return {"http": settings}


# ---------------------------------------------------------------------- the config
def parse_stages(text: str) -> list:
    """``--stages``: a YAML flow list of stages."""
    try:
        stages = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(f"not a YAML list ({problem}); e.g. --stages {STAGES_EXAMPLE}",
                          "--stages") from None
    if not isinstance(stages, list):
        raise ConfigError(f"expected a YAML flow list, e.g. --stages {STAGES_EXAMPLE}; "
                          f"got {text!r}", "--stages")
    return stages


def config_data(words: list[str], stages: str | None = None, tuner: bool = False,
                mode: str | None = None, flags: Flags | None = None) -> dict:
    """The config (plain data, not yet checked) that ``run INPUT [OUTPUT ...]`` stands for.

    Parameters
    ----------
    words : list of str
        INPUT, then the OUTPUTs (none: the default for the input).
    stages : str, optional
        ``--stages``, a YAML flow list; by default plain edges for files (thresholded
        where the tuner says with ``--tuner``), the demo's chain for a window or browser.
    tuner : bool
        ``--tuner``: add the shipped tuner section.
    mode : {"live", "batch"}, optional
        ``--live`` / ``--batch``; by default live for cameras and streams, batch else.
    flags : Flags, optional
        Trimming, encoder, ``--format`` and ``--fast-gray`` flags.

    Raises
    ------
    ConfigError
        An input that does not exist, an unknown extension, a camera that is not there,
        a flag the input or outputs cannot take.
    """
    flags = flags or Flags()
    source, kind = parse_input(words[0])
    outputs = words[1:] or default_outputs(words[0], kind, source)
    sinks = [parse_output(word, _one_picture(source, kind)) for word in outputs]
    for word, sink in zip(outputs, sinks):
        if kind != "images" and "{stem" in sink.get("images", {}).get("path", ""):
            raise _fail(f"output {word!r}: {{stem}} is the input picture's name, and {words[0]!r} "
                        f"is not pictures; number the frames instead, e.g. "
                        f"{word.replace('{stem}', 'frame_{index:06d}')!r}")
    if outputs.count(PIPE) > 1:
        raise _fail("standard output (-) can be given once; for several outputs name files")
    view = any(next(iter(sink)) in LIVE_VIEWS for sink in sinks)
    if stages is not None:
        chain = parse_stages(stages)
    else:
        chain = copy.deepcopy(DEMO_CHAIN if view else TUNED_EDGES if tuner else PLAIN_EDGES)
        chain = without_overlay(chain, flags)
    chain = apply_fast_gray(chain, [kind], flags)
    if kind == "synthetic" and (mode == "live" or (view and mode is None)):
        source["live"] = True  # paced like a camera, for eyes
    if kind == "synthetic" and view:
        source["length"] = 0  # a demo runs until q, Ctrl+C or the page's stop
    apply_trim(source, kind, flags)
    apply_encoder(sinks, flags)
    data = {"version": 1, "source": source, "stages": chain, "sinks": sinks}
    if mode is not None:
        data["runtime"] = {"mode": mode}
    if tuner:
        data["tuner"] = copy.deepcopy(TUNER)
    return data


def _one_picture(source: dict, kind: str) -> bool:
    if kind != "images":
        return False
    matches = glob.glob(os.path.expanduser(source["glob"]), recursive=True)
    return len([p for p in matches if os.path.isfile(p)]) == 1


# ---------------------------------------------------------------------- --print-config
SECTION_NOTES = {
    "source": "types: camera, file, images, stdin, synthetic, url",
    "sources": "one stream each, named ({source} in a sink's path is the name)",
    "stages": "in order; `edgepipe stages` lists each stage with its settings",
    "sinks": "one or more outputs; `edgepipe stages sinks` lists them",
    "runtime": "mode: live drops frames to bound latency, batch keeps every frame",
    "tuner": "moves threshold: auto online (objective, optimizer and steps)",
}


def _flow(value) -> str:
    return yaml.safe_dump(value, default_flow_style=True, sort_keys=False, width=10_000).strip()


def _entry(entry) -> str:
    if isinstance(entry, dict) and len(entry) == 1:
        (name, settings), = entry.items()
        return f"{name}: {_flow(settings)}" if settings else str(name)
    text = _flow(entry)
    return text[:-4] if text.endswith("\n...") else text


def _note(kind: str, entry) -> str:
    if isinstance(entry, dict) and kind == "source":
        name = entry.get("type")
    elif isinstance(entry, dict) and len(entry) == 1:
        name = next(iter(entry))
    else:
        name = entry
    cls = REGISTRIES.get(kind, {}).get(name) if isinstance(name, str) else None
    doc = plain_text((cls.__doc__ or "").strip().splitlines()[0]) if cls is not None and cls.__doc__ else ""
    return f"  # {doc}" if doc else ""


TOP_KEYS = ("source", "sources", "stages", "sinks", "runtime", "tuner")


def to_yaml(data: dict, command: str) -> str:
    """``data`` as a YAML config with a comment on each line a user may edit."""
    lines = [f"# {command}",
             "# The config this one-liner stands for.  Edit it, then run it with",
             "#   edgepipe run THIS.yaml      (paths are relative to the folder you run it in)",
             f"version: {data.get('version', 1)}"]
    for key in TOP_KEYS:
        if key not in data:
            continue
        value = data[key]
        if key == "sources" and isinstance(value, list):
            lines.append(f"sources:  # {SECTION_NOTES[key]}")
            lines += [f"  - {_flow(item)}" for item in value]
            continue
        if key in ("stages", "sinks") and isinstance(value, list) and value:
            lines.append(f"{key}:  # {SECTION_NOTES[key]}")
            kind = key[:-1]
            lines += [f"  - {_entry(entry)}{_note(kind, entry)}" for entry in value]
            continue
        note = _note("source", value) if key == "source" else f"  # {SECTION_NOTES[key]}"
        lines.append(f"{key}: {_flow(value) if value not in (None, '') else 'null'}{note}")
    for key, value in data.items():  # anything a --set added at the top
        if key != "version" and key not in TOP_KEYS:
            lines.append(f"{key}: {_flow(value)}")
    return "\n".join(lines) + "\n"
