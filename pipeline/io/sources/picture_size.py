"""A picture's width and height from its header, read before anything is decoded.

Decoding a picture allocates width x height pixels whatever the file's size: a 68-byte
PNG can claim 40000 x 40000.  :func:`header_size` reads only the first bytes of the file
(at most :data:`HEADER_BYTES`) and understands PNG, JPEG, BMP, GIF, WebP, TIFF and the
PNM family; :func:`check_picture` applies the pixel limit and the file-size bound that
follows from it, so a picture over either is refused before a byte of it is decoded.
"""

from __future__ import annotations

import os
import struct

#: How much of a file the header readers look at (JPEG's SOF may follow EXIF/ICC data).
HEADER_BYTES = 1 << 20
#: Bytes a decoded pixel can take at most in a file (16-bit RGBA, uncompressed).
MAX_BYTES_PER_PIXEL = 8
#: Room for headers, metadata and compression overhead on top of the pixels.
FILE_SLACK = 16 << 20


def _png(head: bytes):
    if head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR":
        return struct.unpack(">II", head[16:24])
    return None


def _jpeg(head: bytes):
    if head[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            at += 1
            continue
        marker = head[at + 1]
        if marker == 0xFF or marker in (0x01, *range(0xD0, 0xD9)):  # fill, TEM, RSTn, SOI/EOI
            at += 1 if marker == 0xFF else 2
            continue
        length = struct.unpack(">H", head[at + 2:at + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF):
            height, width = struct.unpack(">HH", head[at + 5:at + 9])
            return width, height
        at += 2 + length
    return None


def _bmp(head: bytes):
    if head[:2] == b"BM" and len(head) >= 26:
        if struct.unpack("<I", head[14:18])[0] == 12:  # OS/2 core header
            return struct.unpack("<HH", head[18:22])
        width, height = struct.unpack("<ii", head[18:26])
        return abs(width), abs(height)
    return None


def _gif(head: bytes):
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return struct.unpack("<HH", head[6:10])
    return None


def _webp(head: bytes):
    if head[:4] != b"RIFF" or head[8:12] != b"WEBP":
        return None
    chunk = head[12:16]
    if chunk == b"VP8X":
        width = 1 + int.from_bytes(head[24:27], "little")
        height = 1 + int.from_bytes(head[27:30], "little")
        return width, height
    if chunk == b"VP8L":
        bits = int.from_bytes(head[21:25], "little")
        return 1 + (bits & 0x3FFF), 1 + ((bits >> 14) & 0x3FFF)
    if chunk == b"VP8 ":
        width, height = struct.unpack("<HH", head[26:30])
        return width & 0x3FFF, height & 0x3FFF
    return None


def _tiff(head: bytes):
    order = {b"II": "<", b"MM": ">"}.get(head[:2])
    if order is None or struct.unpack(order + "H", head[2:4])[0] != 42:
        return None
    at = struct.unpack(order + "I", head[4:8])[0]
    if at + 2 > len(head):
        return None
    count = struct.unpack(order + "H", head[at:at + 2])[0]
    found = {}
    for entry in range(count):
        start = at + 2 + 12 * entry
        if start + 12 > len(head):
            break
        tag, kind = struct.unpack(order + "HH", head[start:start + 4])
        if tag in (256, 257):
            fmt = order + ("H" if kind == 3 else "I")
            found[tag] = struct.unpack(fmt, head[start + 8:start + 8 + struct.calcsize(fmt)])[0]
    return (found[256], found[257]) if len(found) == 2 else None


def _pnm(head: bytes):
    if len(head) < 3 or head[0:1] != b"P" or head[1:2] not in b"123456" or not head[2:3].isspace():
        return None
    words, at = [], 2
    while len(words) < 2 and at < len(head):
        if head[at:at + 1] == b"#":
            at = head.find(b"\n", at)
            if at < 0:
                return None
            continue
        if head[at:at + 1].isspace():
            at += 1
            continue
        end = at
        while end < len(head) and head[end:end + 1].isdigit():
            end += 1
        if end == at:
            return None
        words.append(int(head[at:end]))
        at = end
    return tuple(words) if len(words) == 2 else None


READERS = (_png, _jpeg, _bmp, _gif, _webp, _tiff, _pnm)


def header_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) stated by the header in ``head``, or None for an unknown format."""
    for reader in READERS:
        try:
            size = reader(head)
        except (struct.error, ValueError, IndexError):
            size = None
        if size is not None:
            return int(size[0]), int(size[1])
    return None


def read_picture(path: str, max_pixels: int) -> tuple[bytes | None, str]:
    """The bytes of the picture at ``path`` if it is within the bounds, else None and why.

    A file larger than ``max_pixels`` pixels could take uncompressed is refused without
    being read; a header stating more than ``max_pixels`` pixels is refused before the
    rest is read.  A format whose header is not understood here is read and left to
    OpenCV's own limit.
    """
    limit = max_pixels * MAX_BYTES_PER_PIXEL + FILE_SLACK
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                return None, (f"is {size} bytes, more than a picture of max_pixels {max_pixels} "
                              f"can take ({limit} bytes); not read")
            head = handle.read(min(size, HEADER_BYTES))
            stated = header_size(head)
            if stated is not None and stated[0] * stated[1] > max_pixels:
                return None, (f"is {stated[0]}x{stated[1]} = {stated[0] * stated[1]} pixels, over "
                              f"max_pixels {max_pixels}; not decoded (raise max_pixels to read it)")
            rest = handle.read(limit - len(head) + 1)
    except OSError as error:
        return None, f"cannot be read ({error.strerror})"
    return head + rest, ""
