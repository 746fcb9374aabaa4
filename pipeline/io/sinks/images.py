"""The ``images`` sink: numbered PNG or JPEG pictures, each written atomically."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import string
from pathlib import Path

import cv2

from pipeline.io.base import Sink, SinkError, check_uint8
from pipeline.io.formats import PICTURE_OUTPUTS
from pipeline.io.outputs.commit import write_atomically
from pipeline.io.outputs.folders import check_writable_folder, make_folder
from pipeline.io.outputs.locks import OutputLock
from pipeline.config.registry import Param, ParamError, register

log = logging.getLogger(__name__)




#: The fields a picture name may hold: the frame's number, the input picture's name.
NAME_FIELDS = ("index", "stem")
#: Widest a field of a picture name may ask to be (width or precision, in characters):
#: a file name holds 255 bytes at most.
MAX_FIELD_WIDTH = 64


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be formatted safely as a picture name, or None if it can.

    Checked without formatting anything: every field is ``{index}`` or ``{stem}`` itself
    (no attribute, item or nested field), and no number in a format spec exceeds
    :data:`MAX_FIELD_WIDTH` (``{index:1000000000}`` would build a gigabyte name).  A name
    without a field is one picture (``photo.jpg -> edges.png``); a second frame for it is
    an error when it comes (:meth:`ImagesSink.write`).
    """
    example = "e.g. 'frames/frame_{index:06d}.png' or 'edges/{stem}.png'"
    try:
        fields = [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(pattern)
                  if name is not None]
    except ValueError as error:
        return f"path {pattern!r} is not a valid pattern ({error}); {example}"
    if any(name not in NAME_FIELDS for name, _ in fields):
        return (f"path may contain {{index}} (the frame's number) and {{stem}} (the input "
                f"picture's name) and no other field (nor .attribute or [item]), {example}; "
                f"got {pattern!r}")
    for _, spec in fields:
        if "{" in spec:
            return f"path {pattern!r} has a nested field in a format spec; {example}"
        numbers = [int(run) for run in re.findall(r"\d+", spec)]
        if numbers and max(numbers) > MAX_FIELD_WIDTH:
            return (f"path {pattern!r} asks for a field {max(numbers)} characters wide; at most "
                    f"{MAX_FIELD_WIDTH} (a file name holds 255 bytes), {example}")
    return None


def index_field_check(pattern: str) -> None:
    """ParamError unless ``pattern`` is a picture name, with ``{index}``, ``{stem}`` or no field."""
    problem = pattern_problem(pattern)
    if problem is not None:
        raise ParamError("path", problem)
    try:
        first = pattern.format(index=0, stem="a")
        pattern.format(index=1, stem="b")
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as error:
        raise ParamError("path", f"path {pattern!r} does not format with an index and a stem: {error}") from error
    if Path(first).suffix.lower() not in PICTURE_OUTPUTS:
        raise ParamError(
            "path", f"path must end in {', '.join(PICTURE_OUTPUTS)}; got {pattern!r}"
        )


def has_field(pattern: str, name: str) -> bool:
    """Whether ``pattern`` holds the field ``name`` (``{index}``, ``{stem}``)."""
    return any(field is not None and field.split(".")[0].split("[")[0] == name
               for _, field, _, _ in string.Formatter().parse(pattern))


@register("sink", "images")
class ImagesSink(Sink):
    """One picture per frame, PNG or JPEG by extension, each written atomically.

    ``{index}`` is the frame's index in the source (a live run that drops frames leaves
    gaps in the numbering, which shows where frames were dropped); ``{stem}`` is the name
    of the input picture the frame came from, without its extension (an ``images``
    source; other sources have no picture names).  A name with neither is one picture.
    """

    params = (
        Param("path", str, "frames/frame_{index:06d}.png",
              help="file name pattern with {index} and/or {stem} (the input picture's name); "
                   ".png, .jpg or .jpeg"),
        Param("jpeg_quality", int, 95, min=0, max=100, help="JPEG quality (for .jpg/.jpeg)"),
        Param("png_compression", int, 1, min=0, max=9, help="PNG zlib level (for .png): 0 fastest, 9 smallest"),
    )

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self.extension = Path(self._name(0, "a")).suffix.lower()
        self.frames_written = 0
        self.written: list[str] = []  # every picture this run wrote, in order
        self._seen: set[str] = set()
        self._names: list | None = None
        self._made_folders: set[Path] = set()
        self._lock: OutputLock | None = None

    def _name(self, index: int, stem: str) -> str:
        return self.path.format(index=index, stem=stem)

    def set_input(self, media) -> None:
        """The pictures the frames come from, for ``{stem}``."""
        self._names = getattr(media, "names", None)

    def name_for(self, frame) -> str:
        """The file name of ``frame``: the pattern with its index and its input picture's stem."""
        stem = ""
        if has_field(self.path, "stem"):
            if self._names is None or frame.index >= len(self._names):
                raise SinkError(f"images sink: {self.path!r} names pictures by {{stem}}, the input "
                                "picture's name, but the source is not pictures; use {index}")
            stem = Path(self._names[frame.index]).stem
        return self._name(frame.index, stem)

    def validate(self) -> None:
        """The pattern formats with ``{index}`` into distinct picture names."""
        index_field_check(self.path)

    def encode_options(self) -> list[int]:
        """The ``cv2.imencode`` parameters for this sink's format."""
        if self.extension == ".png":
            return [cv2.IMWRITE_PNG_COMPRESSION, self.png_compression]
        return [cv2.IMWRITE_JPEG_QUALITY, self.jpeg_quality]

    def check(self) -> None:
        """The folder of the first picture exists or can be created, and is writable."""
        check_writable_folder(self._name(0, "a"), "images sink")
        self.output_lock().check_free()

    def output_lock(self) -> OutputLock:
        """The lock of this pattern: beside its first picture, named after the whole pattern."""
        first = Path(self._name(0, "a"))
        digest = hashlib.sha1(os.path.abspath(self.path).encode("utf-8")).hexdigest()[:12]
        return OutputLock(first.with_name(f".edgepipe-images-{digest}.lock"), self.path, "images sink")

    def open(self, first, fps, controls=None) -> None:
        """Take the pattern's lock (another run writing the same pictures is an error)."""
        self.frames_written = 0
        self.written = []
        self._seen: set[str] = set()
        make_folder(Path(self._name(0, "a")), "images sink")
        self._lock = self.output_lock()
        self._lock.acquire()

    def write(self, frame) -> None:
        """Encode ``frame.image`` and write it under the pattern's name for its index."""
        image = check_uint8(frame, "images sink")
        path = Path(self.name_for(frame))
        if str(path) in self._seen:
            raise SinkError(f"images sink: frame {frame.index} would write over {str(path)!r}, "
                            f"written this run already: {self.path!r} names one picture for several "
                            "frames; put {index} in the name (or {stem} for inputs of distinct names)")
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
        self.written.append(str(path))
        self._seen.add(str(path))

    def close(self) -> None:
        """Release the lock: every picture was complete when it got its name."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None
