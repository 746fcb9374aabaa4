"""Times on the command line, spelled as FFmpeg spells them (``--start``, ``--duration``, ``--to``).

FFmpeg's duration syntax (``ffmpeg-utils(1)``, "Time duration"): ``[-][HH:]MM:SS[.m...]``
or ``[-]S+[.m...][s|ms|us]``.  ``90``, ``1.5``, ``01:30``, ``00:01:30.250``, ``500ms``.
"""

from __future__ import annotations

import math
import re

_CLOCK = re.compile(r"(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)")
_SECONDS = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(s|ms|us)?")
_UNITS = {None: 1.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}

EXAMPLES = "seconds (90, 1.5, 500ms) or [HH:]MM:SS[.ms] (01:30, 00:01:30.250)"


def parse_time(text: str, flag: str) -> float:
    """``text`` in seconds; ValueError naming ``flag`` and the spellings that work.

    Examples
    --------
    >>> parse_time("00:01:02.5", "--start"), parse_time("1.5", "-t"), parse_time("250ms", "-t")
    (62.5, 1.5, 0.25)
    """
    value = str(text).strip()
    clock = _CLOCK.fullmatch(value)
    if clock:
        hours, minutes, seconds = clock.groups()
        if float(seconds) >= 60 or (hours is not None and int(minutes) >= 60):
            raise ValueError(f"{flag} {text!r}: minutes and seconds go up to 59 in HH:MM:SS; "
                             f"give {EXAMPLES}")
        total = int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)
    else:
        plain = _SECONDS.fullmatch(value)
        if plain is None:
            raise ValueError(f"{flag} {text!r} is not a time; give {EXAMPLES}")
        total = float(plain.group(1)) * _UNITS[plain.group(2)]
    if not math.isfinite(total) or total > 1e9:
        raise ValueError(f"{flag} {text!r} is too large; give {EXAMPLES}")
    return total
