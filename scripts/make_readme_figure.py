#!/usr/bin/env python
"""Make docs/edges.jpg: a photo from samples/ and what edgepipe's maps make of it.

    python scripts/make_readme_figure.py [--image samples/building.jpg]
"""

import argparse
import os

import cv2
import numpy as np

from pipeline import ops


def label(image, text):
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(here, "..", "samples", "building.jpg"))
    parser.add_argument("--out", default=os.path.join(here, "..", "docs", "edges.jpg"))
    parser.add_argument("--width", type=int, default=320)
    args = parser.parse_args()
    frame = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"cannot read {args.image}")
    height = round(frame.shape[0] * args.width / frame.shape[1])
    frame = cv2.resize(frame, (args.width, height), interpolation=cv2.INTER_AREA)
    gray = ops.grayscale(frame)
    panels = [
        label(frame, "input"),
        label(ops.map_shift(ops.derivative(gray, "central", "x")), "central x, shift"),
        label(ops.edges(frame, "sobel"), "sobel l2, abs"),
        label(ops.threshold(ops.edges(frame, "sobel"), 60), "threshold 60"),
    ]
    figure = np.vstack([np.hstack(panels[:2]), np.hstack(panels[2:])])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    cv2.imwrite(args.out, figure, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KiB)")


if __name__ == "__main__":
    main()
