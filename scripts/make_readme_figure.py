#!/usr/bin/env python
"""Make docs/edges.jpg: a photo from samples/ and what edgepipe's maps make of it.

    python scripts/make_readme_figure.py [--image samples/building.jpg]
"""

import numpy as np
from figuretools import label, read_photo, write_figure

from pipeline import ops


def main():
    args, frame = read_photo(__doc__.splitlines()[0], "edges.jpg", 320)
    gray = ops.grayscale(frame)
    panels = [
        label(frame, "input"),
        label(ops.map_shift(ops.derivative(gray, "central", "x")), "central x, shift"),
        label(ops.edges(frame, "sobel"), "sobel l2, abs"),
        label(ops.threshold(ops.edges(frame, "sobel"), 60), "threshold 60"),
    ]
    figure = np.vstack([np.hstack(panels[:2]), np.hstack(panels[2:])])
    print(write_figure(args.out, figure))


if __name__ == "__main__":
    main()
