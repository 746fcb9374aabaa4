"""FFmpeg's libraries through PyAV: the glue between edgepipe's sources and sinks and FFmpeg.

* :mod:`pipeline.io.media.reader`: demux and decode one video stream (files and
  streams), with pts in seconds and OpenCV's exact BGR bytes; a frame's time by
  FFmpeg's best-effort rule in :mod:`~pipeline.io.media.best_effort`, and frames
  counted by decoding in :mod:`~pipeline.io.media.counting`; the decoder's luma plane
  as a grey picture instead of BGR (``grayscale: {from: luma}``) in
  :mod:`~pipeline.io.media.luma`.
* :mod:`pipeline.io.media.logs`: FFmpeg's log messages counted per kind, one summary
  line each, never printed line by line.
* :mod:`pipeline.io.media.plan`: a video sink's settings checked and turned into what
  FFmpeg encodes with.
* :mod:`pipeline.io.media.writer`: encoding and muxing, with the sound (video sink).
"""
