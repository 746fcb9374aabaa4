"""The ``images`` source: a sorted glob of pictures decoded with ``cv2.imdecode``."""


from __future__ import annotations

import glob
import logging
import os

import cv2
import numpy as np

from pipeline.io.base import MediaInput, Source, SourceError
from pipeline.io.formats import MULTI_FRAME_PICTURES, natural_sort_key
from pipeline.io.sources.file import FILE_ON_ERROR
from pipeline.io.sources.picture_size import read_picture
from pipeline.config.registry import Param, register

log = logging.getLogger(__name__)

#: Decoded pixels a picture may have by default (10000 x 10000; 300 MB as BGR).
MAX_PIXELS = 100_000_000


def _decode(path: str, max_pixels: int = MAX_PIXELS) -> tuple[np.ndarray | None, str]:
    """The picture at ``path`` as BGR uint8, or None and what went wrong.

    The size is checked from the header before decoding, and the file's length before
    reading (:func:`~pipeline.io.sources.picture_size.read_picture`).
    """
    # imdecode over bytes rather than imread: same decoders, but works for any path.
    data, problem = read_picture(path, max_pixels)
    if data is None:
        return None, problem
    try:
        image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_COLOR) if data else None
    except cv2.error as error:  # OpenCV's own limits (CV_IO_MAX_IMAGE_PIXELS), a broken codec
        message = (error.err or str(error)).strip()
        return None, f"does not decode as an image ({message})"
    if image is not None and image.shape[0] * image.shape[1] > max_pixels:
        return None, (f"decodes to {image.shape[1]}x{image.shape[0]} pixels, over max_pixels "
                      f"{max_pixels} (raise max_pixels to read it)")
    return image, "" if image is not None else "does not decode as an image"


@register("source", "images")
class ImagesSource(Source):
    """Still pictures matching a glob, in natural order (``img2`` before ``img10``).

    Each picture is read as BGR uint8 (``cv2.IMREAD_COLOR``).  ``**`` matches folders
    recursively.  A picture that cannot be read or does not decode is skipped, counted
    (``report.skipped``) and named in the summary with ``on_error: skip`` (the default),
    so one damaged file keeps none of the good frames from being written, as the file
    source does for damaged video; with ``on_error: stop`` it ends the input there with
    an error (the frames before it are kept).  A glob none of whose pictures decode is a
    :class:`SourceError`.

    ``max_pixels`` bounds what one picture may decode to: the size its header states is
    checked before it is decoded, and a file larger than such a picture could be is not
    read at all; a picture over the bound is a bad picture like a damaged one.
    """

    params = (
        Param("glob", str, help="pictures to read, e.g. 'photos/*.jpg' or 'shots/**/*.png'"),
        Param("fps", float, 25.0, min=0.1, max=1000, help="frame rate reported to writers (video sink)"),
        Param("on_error", str, "skip", choices=FILE_ON_ERROR,
              help="a picture that does not decode: skip it (counted and named) or stop there"),
        Param("max_pixels", int, MAX_PIXELS, min=1, max=1 << 40,
              help="largest picture to decode, in pixels (checked from its header first)"),
    )

    def __init__(self, *values, **settings):
        super().__init__(*values, **settings)
        self.rate = self.settings["fps"]
        self._paths: list[str] | None = None
        self._names: list[str] = []  # the file of each frame delivered, by frame index
        self._next = 0
        self._delivered = 0
        self._last_problem = ""

    @property
    def paths(self) -> list[str]:
        """The matched files, in reading order (after :meth:`open`)."""
        if self._paths is None:
            raise SourceError(f"images source {self.glob!r} is not open; call open() first")
        return list(self._paths)

    def open(self) -> None:
        """Expand the glob; SourceError if it matches no file."""
        pattern = os.path.expanduser(self.glob)
        paths = [p for p in glob.glob(pattern, recursive=True) if os.path.isfile(p)]
        if not paths:
            folder = os.path.dirname(os.path.abspath(pattern))
            raise SourceError(
                f"images glob {self.glob!r} matches no file (looked in {folder}); "
                "check the folder and the extension, e.g. 'frames/*.png'"
            )
        self._paths = sorted(paths, key=natural_sort_key)
        self._next = 0
        self._delivered = 0
        self._names.clear()

    def read(self) -> np.ndarray | None:
        """The next picture that decodes, as BGR uint8 (applying ``on_error``); None after the last."""
        paths = self.paths if self._paths is None else self._paths
        while self._next < len(paths):
            path = paths[self._next]
            self._next += 1
            image, problem = _decode(path, self.max_pixels)
            if image is not None:
                self._delivered += 1
                self._names.append(path)
                self._note_more_frames(path)
                return image
            message = f"picture {path!r} {problem}"
            self._last_problem = message
            self.report.read_errors += 1
            if self.on_error == "stop":
                self.report.failure = (f"{message}; the input stopped there (on_error: stop); set "
                                       f"on_error: skip to read past it, or narrow the glob {self.glob!r}")
                return None
            self.report.skipped += 1
            self.report.note(f"{message}: skipped")
        if not self._delivered:
            raise SourceError(f"no picture matched by {self.glob!r} decodes as an image (the last: "
                              f"{self._last_problem}); check the files and the glob")
        return None

    def _note_more_frames(self, path: str) -> None:
        """A note when the picture holds more frames than the first, which is all it gives."""
        if not path.lower().endswith(MULTI_FRAME_PICTURES):
            return
        try:
            frames = cv2.imcount(path)
        except cv2.error:
            return
        if frames > 1:
            self.report.note(f"picture {path!r} holds {frames} frames; the images source reads "
                             f"the first only (give it as a video file to read all of them at "
                             f"their own times: edgepipe run {path} OUT.mp4)")

    @property
    def media(self) -> MediaInput:
        """The glob, and the picture each frame came from (the images sink's ``{stem}``)."""
        return MediaInput(self.glob, start=0.0, seekable=False, names=self._names)

    @property
    def fps(self) -> float:
        """The declared rate (pictures have none of their own)."""
        return self.rate

    def count_frames(self) -> int | None:
        """How many files the glob matched."""
        return None if self._paths is None else len(self._paths)

    def close(self) -> None:
        """Forget the file list."""
        self._paths = None
