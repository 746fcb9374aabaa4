"""Write a sample clip for benchmarks and manual checks.

Frames come from the synthetic test pattern (default) or from a video file, scaled to
the chosen size and looped to the chosen length; they are written with the ``video``
sink (PyAV: the codec by extension unless ``--codec`` says, write-then-rename).

Examples
--------
::

    python scripts/make_sample_clip.py out/sample_1080p.mp4 --width 1920 --height 1080 --frames 300
    python scripts/make_sample_clip.py out/tree_720p.mkv --from samples/tree.avi \\
        --width 1280 --height 720 --frames 200 --codec ffv1

Exit status: 0 written, 1 the input or output failed (one line saying why), 2 bad
arguments.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import cv2  # noqa: E402

from pipeline.frame import Frame  # noqa: E402
from pipeline.io.base import SinkError, SourceError  # noqa: E402
from pipeline.io.sinks.video import VideoSink  # noqa: E402
from pipeline.io.sources.file import FileSource  # noqa: E402
from pipeline.io.sources.synthetic import SyntheticSource  # noqa: E402
from pipeline.config.registry import ParamError  # noqa: E402


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("output", help="clip to write; the extension picks the container (.mp4, .mkv, .avi)")
    parser.add_argument("--from", dest="source", default="synthetic",
                        help="'synthetic' (default) or a video file to scale and loop")
    parser.add_argument("--width", type=int, default=1280, help="frame width (default 1280)")
    parser.add_argument("--height", type=int, default=720, help="frame height (default 720)")
    parser.add_argument("--frames", type=int, default=150, help="number of frames (default 150)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frame rate (default: 30 for synthetic, the file's own rate otherwise)")
    parser.add_argument("--codec", default=None,
                        help="h264, hevc, vp9, av1, ffv1, mpeg4 or mjpeg (default: by extension)")
    parser.add_argument("--fourcc", default=None, help="old name of --codec: mp4v, MJPG, FFV1, ...")
    parser.add_argument("--grey", action="store_true", help="write grey frames instead of colour")
    args = parser.parse_args(argv)
    for name in ("width", "height", "frames"):
        if getattr(args, name) < 1:
            parser.error(f"--{name} must be at least 1; got {getattr(args, name)}")
    if args.fps is not None and not args.fps > 0:
        parser.error(f"--fps must be > 0; got {args.fps}")
    return args


def open_source(args: argparse.Namespace):
    """The frame source and its rate: the pattern at the target size, or a looping file."""
    if args.source == "synthetic":
        source = SyntheticSource(width=args.width, height=args.height, fps=args.fps or 30.0, length=args.frames)
    else:
        source = FileSource(args.source, loop=True)
    source.open()
    return source, args.fps or source.fps or 30.0


def make_clip(args: argparse.Namespace) -> tuple[VideoSink, float]:
    """Write the clip; return the finished sink and the seconds it took."""
    start = time.perf_counter()
    VideoSink(args.output, codec=args.codec, fourcc=args.fourcc).check()  # before reading anything
    source, fps = open_source(args)
    sink = VideoSink(args.output, codec=args.codec, fourcc=args.fourcc, fps=fps)
    try:
        for index in range(args.frames):
            image = source.read()
            if image is None:
                raise SourceError(f"{args.source!r} delivered no frame (index {index})")
            if image.shape[:2] != (args.height, args.width):
                image = cv2.resize(image, (args.width, args.height), interpolation=cv2.INTER_AREA)
            if args.grey:
                image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
            frame = Frame(index, time.perf_counter(), image, image)
            if index == 0:
                sink.open(frame, fps, None)
            sink.write(frame)
    except BaseException:
        sink.abort()
        raise
    finally:
        source.close()
    sink.close()
    return sink, time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        sink, seconds = make_clip(args)
    except (SourceError, SinkError, ParamError) as error:
        print(f"make_sample_clip: {error}", file=sys.stderr)
        return 1
    print(
        f"wrote {args.output}: {sink.frames_written} frames of {args.width}x{args.height} "
        f"at {sink.fps:g} fps, codec {sink.codec_used}, in {seconds:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
