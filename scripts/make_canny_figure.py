#!/usr/bin/env python
"""Make docs/canny-vs-sobel.jpg: a thresholded Sobel magnitude against Canny on a photo.

    python scripts/make_canny_figure.py [--image samples/building.jpg]

Panels: the photo; the Sobel magnitude thresholded at its Otsu level (what
``gradient, map, threshold: auto`` draws); Canny at the canny stage's rule of thumb
(high = that Otsu level on the Canny magnitude, low = high / 2); Canny at the pair the
2D tuner settles on (multi-Otsu, sign descent from the rule of thumb); and the same
corner of the Sobel and the tuned Canny pictures enlarged, where the edge widths show.
Every number on the picture is computed here, none typed in.
"""

import argparse
import os

import cv2
import numpy as np

from pipeline import ops
from pipeline.optim import make_optimizer, tune_pair
from pipeline.stages.canny import magnitude_histogram, rule_of_thumb


def label(image, text):
    out = cv2.cvtColor(image, cv2.COLOR_GRAY2BGR) if image.ndim == 2 else image.copy()
    cv2.rectangle(out, (0, 0), (out.shape[1], 22), (0, 0, 0), -1)
    cv2.putText(out, text, (6, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
    return out


def zoom(image, box, width):
    x, y, w, h = box
    crop = image[y:y + h, x:x + w]
    return cv2.resize(crop, (width, round(h * width / w)), interpolation=cv2.INTER_NEAREST)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", default=os.path.join(here, "..", "samples", "building.jpg"))
    parser.add_argument("--out", default=os.path.join(here, "..", "docs", "canny-vs-sobel.jpg"))
    parser.add_argument("--width", type=int, default=400)
    args = parser.parse_args()
    frame = cv2.imread(args.image, cv2.IMREAD_COLOR)
    if frame is None:
        raise SystemExit(f"cannot read {args.image}")
    height = round(frame.shape[0] * args.width / frame.shape[1])
    frame = cv2.resize(frame, (args.width, height), interpolation=cv2.INTER_AREA)

    sobel, sobel_hist = ops.edges(frame, "sobel", hist=True)
    level = ops.otsu_threshold(sobel_hist)
    thick = ops.threshold(sobel, level)

    hist = magnitude_histogram(frame)
    rule = rule_of_thumb(hist)
    path = tune_pair(hist, rule, make_optimizer({"name": "sign", "step": 1}), 200)
    tuned = tuple(float(v) for v in path.points[int(np.argmin(path.values))])
    thin_rule = ops.canny(frame, *rule)
    thin = ops.canny(frame, *tuned)
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert np.array_equal(thin, cv2.Canny(grey, *tuned))  # the kernel's promise, on this photo

    box = (args.width // 2, height // 3, args.width // 4, height // 4)
    panels = [
        label(frame, "input"),
        label(thick, f"Sobel l2 > {level:.0f} (Otsu)"),
        label(thin_rule, f"Canny {rule[0]:.0f}, {rule[1]:.0f} (rule of thumb)"),
        label(thin, f"Canny {tuned[0]:.0f}, {tuned[1]:.0f} (2D tuner, multi-Otsu)"),
        label(zoom(thick, box, args.width), "Sobel threshold, enlarged"),
        label(zoom(thin, box, args.width), "Canny, enlarged"),
    ]
    x, y, w, h = box
    cv2.rectangle(panels[0], (x, y), (x + w, y + h), (0, 0, 255), 1)
    figure = np.vstack([np.hstack(panels[0:2]), np.hstack(panels[2:4]), np.hstack(panels[4:6])])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    cv2.imwrite(args.out, figure, [cv2.IMWRITE_JPEG_QUALITY, 85])
    print(f"wrote {args.out} ({os.path.getsize(args.out) // 1024} KiB): Otsu {level:.0f}, "
          f"rule of thumb {rule[0]:.1f}/{rule[1]:.1f}, tuned {tuned[0]:.1f}/{tuned[1]:.1f}")


if __name__ == "__main__":
    main()
