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
from pipeline.io.outputs import (
    OutputLock,
    check_writable_folder,
    make_folder,
    write_atomically,
)
from pipeline.registry import Param, ParamError, register

log = logging.getLogger(__name__)

#: Picture formats the ``images`` sink writes, by extension.
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")



#: Widest a field of a picture name may ask to be (width or precision, in characters):
#: a file name holds 255 bytes at most.
MAX_FIELD_WIDTH = 64


def pattern_problem(pattern: str) -> str | None:
    """Why ``pattern`` cannot be formatted safely with an index, or None if it can.

    Checked without formatting anything: every field is ``{index}`` itself (no
    attribute, item or nested field), and no number in a format spec exceeds
    :data:`MAX_FIELD_WIDTH` (``{index:1000000000}`` would build a gigabyte name).
    """
    example = "e.g. 'frames/frame_{index:06d}.png'"
    try:
        fields = [(name, spec or "") for _, name, spec, _ in string.Formatter().parse(pattern)
                  if name is not None]
    except ValueError as error:
        return f"path {pattern!r} is not a valid pattern ({error}); {example}"
    if not fields or any(name != "index" for name, _ in fields):
        return f"path must contain {{index}} and no other field (nor .attribute or [item]), {example}; got {pattern!r}"
    for _, spec in fields:
        if "{" in spec:
            return f"path {pattern!r} has a nested field in a format spec; {example}"
        numbers = [int(run) for run in re.findall(r"\d+", spec)]
        if numbers and max(numbers) > MAX_FIELD_WIDTH:
            return (f"path {pattern!r} asks for a field {max(numbers)} characters wide; at most "
                    f"{MAX_FIELD_WIDTH} (a file name holds 255 bytes), {example}")
    return None


def index_field_check(pattern: str) -> None:
    """ParamError unless ``pattern`` formats with ``index`` and nothing else."""
    problem = pattern_problem(pattern)
    if problem is not None:
        raise ParamError("path", problem)
    try:
        first, second = pattern.format(index=0), pattern.format(index=1)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError) as error:
        raise ParamError("path", f"path {pattern!r} does not format with an index: {error}") from error
    if first == second:
        raise ParamError("path", f"path {pattern!r} names the same file for every frame")
    if Path(first).suffix.lower() not in IMAGE_EXTENSIONS:
        raise ParamError(
            "path", f"path must end in {', '.join(IMAGE_EXTENSIONS)}; got {pattern!r}"
        )




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

    def __init__(self, *args, **settings):
        super().__init__(*args, **settings)
        self.extension = Path(self.path.format(index=0)).suffix.lower()
        self.frames_written = 0
        self._made_folders: set[Path] = set()
        self._lock: OutputLock | None = None

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
