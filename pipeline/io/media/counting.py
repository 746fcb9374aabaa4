"""Counting the frames of a video that decode, by decoding it: container counts lie.

The file source's frame count (``count_frames``, for the progress bar) and the batch
split's probe both count here, so they agree frame for frame.
"""

from __future__ import annotations

from pipeline.io.media.reader import DamagedPacket, DemuxError, MediaReader


def decode_each(reader: MediaReader, max_consecutive_errors: int = 30, visit=None) -> int:
    """Decode an open reader's frames to the end as the file source does; how many decoded.

    Damaged packets are passed over; ``max_consecutive_errors`` failures in a row end
    the pass.  ``visit(number, frame)``, if given, sees each decoded frame (numbered
    from 0, damaged ones not counted) before the next is decoded.  The frame counter
    and the batch split's probe both count this way, so they agree frame for frame.
    """
    count = failures = 0
    while failures < max_consecutive_errors:
        try:
            frame = reader.next_frame()
        except (DamagedPacket, DemuxError):
            failures += 1
            continue
        if frame is None:
            break
        if visit is not None:
            visit(count, frame)
        count += 1
        failures = 0
    return count


def count_decodable_frames(path: str, max_consecutive_errors: int = 30,
                           threads: int | None = None) -> int:
    """Frames of ``path`` that decode, counted by decoding it (no colour conversion).

    Container metadata can be far off (``samples/tree.avi`` states 444 frames and decodes
    68), so this is one decode pass (:func:`decode_each`).  ``threads``: the decoder's
    threads (default :func:`~pipeline.io.media.reader.default_threads`; 1 decodes on the
    calling thread, which :func:`pipeline.io.media.logs.muted` needs).
    """
    reader = MediaReader(path, threads=threads).open()
    try:
        return decode_each(reader, max_consecutive_errors)
    finally:
        reader.close()
