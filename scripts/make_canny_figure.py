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

import cv2
import numpy as np
from figuretools import label, read_photo, write_figure

from pipeline import ops
from pipeline.optim import make_optimizer, tune_pair
from pipeline.histograms import canny_rule_of_thumb, magnitude_histogram


def zoom(image, box, width):
    x, y, w, h = box
    crop = image[y:y + h, x:x + w]
    return cv2.resize(crop, (width, round(h * width / w)), interpolation=cv2.INTER_NEAREST)


def main():
    args, frame = read_photo(__doc__.splitlines()[0], "canny-vs-sobel.jpg", 400)
    height = frame.shape[0]

    sobel, sobel_hist = ops.edges(frame, "sobel", hist=True)
    level = ops.otsu_threshold(sobel_hist)
    thick = ops.threshold(sobel, level)

    hist = magnitude_histogram(frame)
    rule = canny_rule_of_thumb(hist)
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
    print(f"{write_figure(args.out, figure)}: Otsu {level:.0f}, "
          f"rule of thumb {rule[0]:.1f}/{rule[1]:.1f}, tuned {tuned[0]:.1f}/{tuned[1]:.1f}")


if __name__ == "__main__":
    main()
