"""What the figure scripts share: their options, the photo they read and the panel labels.

Imported by ``make_readme_figure.py`` and ``make_canny_figure.py``, which run as
``python scripts/X.py`` (so this folder is on ``sys.path``).
"""

import argparse
import os

import cv2
import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))


def read_photo(description: str, out_name: str, width: int) -> tuple[argparse.Namespace, np.ndarray]:
    """Parse ``--image``, ``--out`` and ``--width``; return them and the photo scaled to the width.

    Parameters
    ----------
    description : str
        The script's one-line description, for ``--help``.
    out_name : str
        The figure's file name under docs/, the default of ``--out``.
    width : int
        Default panel width in pixels; the height keeps the photo's aspect.

    Returns
    -------
    args : argparse.Namespace
        The parsed options.
    frame : numpy.ndarray
        The photo, uint8 BGR, resized with INTER_AREA to ``args.width`` wide.
    """
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--image", default=os.path.join(HERE, "..", "samples", "building.jpg"))
    parser.add_argument("--out", default=os.path.join(HERE, "..", "docs", out_name))
    parser.add_argument("--width", type=int, default=width)
    args = parser.parse_args()
    frame = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"cannot read {args.image}")
    height = round(frame.shape[0] * args.width / frame.shape[1])
    return args, cv2.resize(frame, (args.width, height), interpolation=cv2.INTER_AREA)


def label(image: np.ndarray, text: str) -> np.ndarray:
    """A BGR copy of ``image`` (grey or BGR) with ``text`` on a black band along the top."""
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def write_figure(path: str, figure: np.ndarray) -> str:
    """Write ``figure`` as a JPEG (quality 85) at ``path``; return "wrote PATH (N KiB)"."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, figure, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return f"wrote {path} ({os.path.getsize(path) // 1024} KiB)"
