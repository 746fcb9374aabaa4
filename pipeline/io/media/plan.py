"""How a video is encoded: a sink's settings checked and turned into a :class:`VideoPlan`.

:func:`plan_video` turns a ``video`` (or ``stdout``, ``network``) sink's settings into
what FFmpeg needs (encoder, pixel format, options, time base), refusing what the codec
or container cannot do with a :class:`MediaError` naming the setting;
:class:`~pipeline.io.media.writer.MediaWriter` writes one file with the plan.

Decisions
---------
Documented in the ``video`` sink too; how frames are fed and timed is in
:mod:`pipeline.io.media.writer`.

* Codec by extension: h264 for .mp4/.m4v/.mov/.mkv, vp9 for .webm, mjpeg for .avi (every
  frame a key frame: exact seeking, fast, what OpenCV's writer made there before).  ffv1
  (lossless) only when asked.
* Browser defaults: H.264 capped at the High profile, 4:2:0, ``movflags +faststart`` (the
  moov atom first), so the file plays in Chromium, Firefox and QuickTime while it is still
  downloading.
* Range: lossy codecs get studio (limited, 16..235) range Y, as ``ffmpeg -vf format=gray
  -pix_fmt yuv420p`` and GStreamer's ``videoconvert`` write it and as every player
  expects; the edge values are mapped onto it on the way in (one pass, no other copy).
  Full range is what JPEG is (mjpeg) and what keeps lossless output exact (ffv1, h264 at
  crf 0): there the edge values go in as they are, tagged full range.  Full-range H.264
  (``full_range=True`` in :func:`plan_video`) plays in Chromium too, but costs about 10%
  more bits at the same crf and some players ignore the tag; MPEG-4 Part 2 cannot tag
  its range at all.
* Odd sizes with 4:2:0 (or 4:2:2) are padded by repeating the last row and/or column up to
  the next even size, and the sink says so in the summary; ffv1 keeps the exact size.
"""

from __future__ import annotations

import dataclasses
import fractions
import functools
import io
import os

import av
import av.error

from pipeline.errors import EdgepipeError
from pipeline.io import formats
from pipeline.io.media.writer import ENCODERS, PRESETS

#: ``fourcc`` values (the OpenCV writer's key) and the codec each now means.
FOURCC_CODECS = {
    "avc1": "h264", "h264": "h264", "x264": "h264", "hev1": "hevc", "hvc1": "hevc",
    "hevc": "hevc", "vp90": "vp9", "vp09": "vp9", "av01": "av1", "ffv1": "ffv1",
    "mp4v": "mpeg4", "xvid": "mpeg4", "divx": "mpeg4", "fmp4": "mpeg4", "dx50": "mpeg4",
    "mjpg": "mjpeg",
}

#: Codecs whose rate control has a constant-quality (crf) mode, and its range.
CRF_RANGE = {"h264": (0, 51), "hevc": (0, 51), "vp9": (0, 63), "av1": (0, 63)}

#: Quality when neither crf nor bitrate is given (FFmpeg's own defaults where they are
#: sensible; its 200 kb/s for mpeg4 and mjpeg is not, so those get qscale 3).
DEFAULT_CRF = {"h264": 23, "hevc": 28, "vp9": 32, "av1": 35}
DEFAULT_QSCALE = 3

#: vp9's and av1's speed numbers for the x264-style preset names (:data:`PRESETS`).
VP9_SPEED = dict(zip(PRESETS, (8, 7, 6, 5, 4, 3, 2, 1, 0)))
AV1_SPEED = dict(zip(PRESETS, (12, 11, 10, 9, 8, 6, 4, 2, 1)))

#: Presets used when none is given: the encoder's default, except libvpx-vp9's, which
#: runs at a few frames per second at 1080p.
DEFAULT_PRESET = {"h264": "medium", "hevc": "medium", "vp9": "veryfast", "av1": "veryfast"}

#: The largest side each codec takes: libx264 and SVT-AV1 16384 (x264 says so only when
#: the first frame is encoded: "Generic error in an external library"), HEVC's level
#: 6.2 16888, VP9's 16-bit size fields 65536, FFmpeg's JPEG encoder 65500, MPEG-4 Part
#: 2's 13-bit fields 8191.  x264's and MPEG-4's were measured with this FFmpeg;
#: any other refusal is found by opening the encoder (:func:`encoder_refuses`).
MAX_SIDE = {"h264": 16384, "av1": 16384, "hevc": 16888, "vp9": 65536, "mjpeg": 65500, "mpeg4": 8191}

#: FFmpeg's lambda per quantiser step (FF_QP2LAMBDA), for ``global_quality``.
QP2LAMBDA = 118


class MediaError(EdgepipeError):
    """Settings FFmpeg cannot write: ``key`` names the setting; the sink adds the path."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


@functools.lru_cache(maxsize=None)
def container_codecs(extension: str) -> frozenset[str]:
    """Codec names (FFmpeg's) the container of ``extension`` holds, asked of libavformat."""
    with av.open(io.BytesIO(), "w", format=formats.VIDEO_CONTAINERS[extension]) as probe:
        return frozenset(probe.supported_codecs)


def codec_for(extension: str, codec: str | None, fourcc: str | None) -> str:
    """The codec to write: ``codec``, or the one ``fourcc`` names, or by extension."""
    if fourcc is not None:
        named = FOURCC_CODECS.get(fourcc.lower())
        if named is None:
            raise MediaError(
                "fourcc", f"fourcc {fourcc!r} names no codec this sink writes; fourcc was replaced by "
                f"codec: one of {', '.join(ENCODERS)} (mp4v is mpeg4, MJPG is mjpeg, FFV1 is ffv1)")
        if codec is not None and codec != named:
            raise MediaError("fourcc", f"fourcc {fourcc!r} means codec {named!r}, but codec is {codec!r}; "
                             "give codec only (fourcc is its old name)")
        codec = named
    return codec or formats.DEFAULT_CODEC[extension]


@dataclasses.dataclass
class VideoPlan:
    """How one video stream is encoded (see :func:`plan_video`)."""

    codec: str
    encoder: str
    pix_fmt: str
    options: dict
    time_base: fractions.Fraction
    full_range: bool
    studio_lut: bool
    width: int
    height: int
    padded: tuple[int, int]  # encoded (width, height) after padding
    grey: bool


def plan_video(extension: str, codec: str, *, grey: bool, width: int, height: int,
               crf: int | None = None, bitrate: int | None = None, preset: str | None = None,
               pix_fmt: str | None = None, full_range: bool | None = None) -> VideoPlan:
    """Check the settings against the codec and container; the plan to encode with.

    ``full_range`` None picks by codec (module notes): full for ffv1, mjpeg and
    lossless h264 (crf 0), studio for every other lossy codec.

    Raises
    ------
    MediaError
        A codec the container cannot hold, crf for a codec without it, a pixel format
        the encoder refuses: naming the setting and what would work.
    """
    encoder = ENCODERS[codec]
    if encoder not in container_codecs(extension):
        fits = [ext for ext in formats.VIDEO_CONTAINERS if encoder in container_codecs(ext)]
        raise MediaError("codec", f"a {extension} file cannot hold {codec}; write {codec} to {' or '.join(fits)}, "
                         f"or give a codec {extension} holds (its default is {formats.DEFAULT_CODEC[extension]})")
    if crf is not None and bitrate is not None:
        raise MediaError("crf", "give crf (constant quality) or bitrate, not both")
    if crf is not None:
        if codec not in CRF_RANGE:
            raise MediaError("crf", f"crf applies to {', '.join(CRF_RANGE)}; {codec} takes bitrate "
                             "(or neither: a fixed good quality)" if codec != "ffv1"
                             else "crf does not apply to ffv1, which is lossless")
        low, high = CRF_RANGE[codec]
        if not low <= crf <= high:
            raise MediaError("crf", f"crf for {codec} must be in [{low}, {high}]; got {crf}")
    if bitrate is not None and codec == "ffv1":
        raise MediaError("bitrate", "bitrate does not apply to ffv1, which is lossless")
    if preset is not None and codec not in DEFAULT_PRESET:
        raise MediaError("preset", f"preset applies to {', '.join(DEFAULT_PRESET)}; {codec} has none")
    takes = [f.name for f in av.Codec(encoder, "w").video_formats or ()]
    if pix_fmt is None:
        if codec == "ffv1":
            pix_fmt = "gray" if grey else "bgr0"  # lossless both ways: exact edge maps
        else:
            pix_fmt = "yuv420p"
    elif pix_fmt not in takes:
        raise MediaError("pix_fmt", f"pix_fmt {pix_fmt!r} is not one {encoder} encodes; it takes {', '.join(takes[:12])}")
    fmt = av.VideoFormat(pix_fmt)
    chroma = av.VideoFormat(pix_fmt, 2, 2).components
    sub_w = 2 if not fmt.is_rgb and len(chroma) > 1 and chroma[1].width == 1 else 1
    sub_h = 2 if not fmt.is_rgb and len(chroma) > 1 and chroma[1].height == 1 else 1
    padded = check_size(codec, encoder, (width + width % sub_w, height + height % sub_h), pix_fmt, (width, height))
    options: dict = {}
    quality = crf if crf is not None else (None if bitrate is not None else DEFAULT_CRF.get(codec))
    speed = preset or DEFAULT_PRESET.get(codec)
    if codec in ("h264", "hevc"):
        options["preset"] = speed
        if quality is not None:
            options["crf"] = str(quality)
        if codec == "hevc":
            options["x265-params"] = "log-level=error"  # x265 prints to stderr, not via FFmpeg
        if codec == "h264" and pix_fmt in ("yuv420p", "yuvj420p", "nv12") and quality != 0:
            # A ceiling (ultrafast stays baseline-compatible); crf 0 is lossless, which
            # needs the High 4:4:4 Predictive profile (and few players decode it).
            options["profile"] = "high"
    elif codec == "vp9":
        options.update({"deadline": "good", "cpu-used": str(VP9_SPEED[speed]), "row-mt": "1"})
        if quality is not None:
            options.update({"crf": str(quality), "b": "0"})
    elif codec == "av1":
        options["preset"] = str(AV1_SPEED[speed])
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner to stderr otherwise
        if quality is not None:
            options["crf"] = str(quality)
    elif codec in ("mpeg4", "mjpeg") and bitrate is None:
        options.update({"flags": "+qscale", "global_quality": str(DEFAULT_QSCALE * QP2LAMBDA)})
    if bitrate is not None:
        options["b"] = str(bitrate)
    yuv = not fmt.is_rgb and pix_fmt != "gray"
    if full_range is None:
        full_range = codec in ("ffv1", "mjpeg") or (codec == "h264" and quality == 0)
    elif full_range and codec == "mpeg4":
        raise MediaError("range", "MPEG-4 Part 2 cannot tag full range; use h264 for full-range Y")
    return VideoPlan(codec=codec, encoder=encoder, pix_fmt=pix_fmt, options=options,
                     time_base=fractions.Fraction(1, 90000), full_range=full_range and yuv,
                     studio_lut=yuv and not full_range, width=width, height=height, padded=padded, grey=grey)


@functools.lru_cache(maxsize=None)
def encoder_refuses(encoder: str, width: int, height: int, pix_fmt: str) -> str | None:
    """FFmpeg's reason when ``encoder`` will not open at this size, else None."""
    context = av.CodecContext.create(encoder, "w")
    context.width, context.height, context.pix_fmt = width, height, pix_fmt
    context.time_base = fractions.Fraction(1, 25)
    try:
        context.open()
    except (av.error.FFmpegError, ValueError) as error:
        return getattr(error, "strerror", None) or str(error)
    return None


def check_size(codec: str, encoder: str, padded: tuple[int, int], pix_fmt: str,
               size: tuple[int, int]) -> tuple[int, int]:
    """``padded``, or MediaError naming the limit when ``codec`` cannot encode frames that size."""
    width, height = padded
    what = f"{size[0]}x{size[1]}" + ("" if size == padded else f" (padded to {width}x{height})")
    limit = MAX_SIDE.get(codec)
    if limit is not None:
        if max(width, height) > limit:
            raise MediaError("size", f"frames of {what} are beyond {codec}'s limit of {limit} pixels a side; "
                             "scale the input down, or write codec: ffv1 to .mkv (no such limit)")
        if codec in ("h264", "av1", "hevc"):
            return padded  # their libraries print a banner when opened; the table is their limit
    if max(width, height) <= 4096:
        return padded  # every encoder here takes 4096 a side; only the limits are asked about
    refused = encoder_refuses(encoder, width, height, pix_fmt)
    if refused is not None:
        raise MediaError("size", f"{encoder} refuses frames of {what} ({refused}); its limit is below that "
                         "size: scale the input down, or write codec: ffv1 to .mkv")
    return padded
