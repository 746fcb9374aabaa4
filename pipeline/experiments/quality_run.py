"""Running a quality experiment: every method on every image, scored by the benchmark.

Per image: the photo and every annotator's boundaries are read once; each method's soft
map is counted at the experiment's thresholds (:func:`pipeline.quality.image_counts`,
the thresholds in parallel), each tuned method's binary map at one threshold.  Then
:func:`pipeline.quality.score` turns the counts into ODS, OIS, AP and R50, and the tuned
methods' summed counts into ``f_tuned`` (the F-measure of the set, as ODS is, but at the
threshold the tuner chose on each image without ground truth).

Files, in the output folder: ``summary.json``, ``per_image.csv`` (per method and image:
the image's best threshold and its R, P, F; for tuned methods the tuned value and its
R, P, F), ``counts.npz`` (every image's counts ``cntR, sumR, cntP, sumP`` per method
and threshold, arrays named ``method:NAME`` and ``tuned:NAME``, for any later analysis)
and ``pr.png`` (the benchmark's precision-recall plot with iso-F curves);
``save_maps`` writes ``DIR/METHOD/NAME.png``, each method's soft maps.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path

import cv2
import numpy as np

from pipeline.experiments.output import summary_text, write_output
from pipeline.experiments.quality_maps import read_image, soft_map, tuned_map
from pipeline.experiments.quality_plot import write_pr_plot
from pipeline.io.base import SourceError
from pipeline.quality import image_counts, read_boundaries, score, thresholds
from pipeline.quality.groundtruth import GroundTruthError
from pipeline.quality.scores import fmeasure, per_image_best, recall_precision

PER_IMAGE_COLUMNS = ("method", "image", "threshold", "recall", "precision", "f", "tuned")


def _png(image: np.ndarray) -> bytes:
    ok, data = cv2.imencode(".png", image)
    if not ok:  # pragma: no cover - imencode fails only on unsupported arrays
        raise SourceError("cannot encode a map as PNG")
    return data.tobytes()


def _folder_name(label: str) -> str:
    return re.sub(r"[^\w.,=-]+", "_", label)


def _one_image(experiment, entry, levels, save_maps) -> tuple[dict, dict, dict]:
    """One image's counts per method (T, 4) and per tuned method (1, 4), tuned values."""
    name, image_path, truth_path = entry
    image = read_image(image_path)
    try:
        truth = read_boundaries(truth_path)
    except GroundTruthError as exc:
        raise SourceError(str(exc)) from None
    if truth.shape[1:] != image.shape[:2]:
        raise SourceError(f"{truth_path}: ground truth of shape {truth.shape[1:]} for an image "
                          f"of shape {image.shape[:2]} ({image_path})")
    counts, tuned_counts, tuned_values, softs = {}, {}, {}, {}
    for method in experiment.methods.values():
        softs[method.name] = soft = soft_map(method, name, image, levels)
        counts[method.name] = image_counts(soft, truth, levels, experiment.max_dist)
        if save_maps is not None:
            folder = Path(save_maps) / _folder_name(method.name)
            folder.mkdir(parents=True, exist_ok=True)
            write_output(folder / f"{name}.png", _png(soft))
    for tuned in experiment.tuned:
        method = experiment.methods[tuned.method]
        binary, values = tuned_map(tuned, method, image, softs[method.name])
        tuned_counts[tuned.name] = image_counts(binary, truth, np.array([0.5]), experiment.max_dist)
        tuned_values[tuned.name] = values
    return counts, tuned_counts, tuned_values


def _per_image_rows(experiment, levels, names, counts, tuned_counts, tuned_values) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(PER_IMAGE_COLUMNS)
    for method in experiment.methods:
        for name, image_counts_ in zip(names, counts[method]):
            t, r, p, f = per_image_best(levels, image_counts_)
            writer.writerow((method, name, repr(t), repr(r), repr(p), repr(f), ""))
    for tuned in experiment.tuned:
        for name, c, values in zip(names, tuned_counts[tuned.name], tuned_values[tuned.name]):
            r, p = (float(v[0]) for v in recall_precision(c))
            value = " ".join(f"{k}={v!r}" for k, v in values.items())
            writer.writerow((tuned.name, name, "", repr(r), repr(p), repr(float(fmeasure(r, p))), value))
    return out.getvalue()


def _tuned_summary(tuned, counts: list, values: list) -> dict:
    total = np.sum(counts, axis=0)[0]
    r, p = (float(v) for v in recall_precision(total))
    per_image_f = [float(fmeasure(*recall_precision(c[0]))) for c in counts]
    means = {k: float(np.mean([v[k] for v in values])) for k in values[0]}
    return {"method": tuned.method, "tuner": tuned.settings, "updates": tuned.updates,
            "f_tuned": float(fmeasure(r, p)), "recall": r, "precision": p,
            "mean_image_f": float(np.mean(per_image_f)), "mean_values": means}


def _progress(total: int, quiet: bool):
    from tqdm import tqdm  # lazy: tqdm costs 20-70 ms; loaded when the experiment runs

    return tqdm(total=total, unit="image", disable=quiet, desc="quality", leave=False)


def run_quality(experiment, plots: bool = True, log=None, save_maps=None) -> dict:
    """Score every method on every image; write the files; return the summary.

    Raises
    ------
    SourceError
        An image, ground-truth file or precomputed map cannot be read (named), or
        matplotlib is missing for the plot.
    """
    levels = thresholds(experiment.thresholds)
    names = [entry[0] for entry in experiment.images]
    counts = {m: [] for m in experiment.methods}
    tuned_counts = {t.name: [] for t in experiment.tuned}
    tuned_values = {t.name: [] for t in experiment.tuned}
    began = time.perf_counter()
    with _progress(len(names), log is None) as bar:
        for entry in experiment.images:
            image_counts_, image_tuned, image_values = _one_image(experiment, entry, levels, save_maps)
            for key, value in image_counts_.items():
                counts[key].append(value)
            for key, value in image_tuned.items():
                tuned_counts[key].append(value)
                tuned_values[key].append(image_values[key])
            bar.update(1)
    seconds = time.perf_counter() - began
    scores = {m: score(levels, counts[m]) for m in experiment.methods}
    experiment.output.mkdir(parents=True, exist_ok=True)
    files = {"summary": str(experiment.output / "summary.json"),
             "per_image": str(experiment.output / "per_image.csv"), "plot": None}
    write_output(experiment.output / "per_image.csv",
                 _per_image_rows(experiment, levels, names, counts, tuned_counts,
                                 tuned_values).encode())
    buffer = io.BytesIO()
    np.savez_compressed(buffer, names=np.array(names), thresholds=levels,
                        **{f"method:{m}": np.array(counts[m]) for m in experiment.methods},
                        **{f"tuned:{t}": np.array(tuned_counts[t]) for t in tuned_counts})
    write_output(experiment.output / "counts.npz", buffer.getvalue())
    files["counts"] = str(experiment.output / "counts.npz")
    tuned = {t.name: _tuned_summary(t, tuned_counts[t.name], tuned_values[t.name])
             for t in experiment.tuned}
    if plots:
        files["plot"] = str(experiment.output / "pr.png")
        write_pr_plot(experiment.output / "pr.png", scores, tuned, experiment.name)
    summary = {
        "name": experiment.name, "description": experiment.description, "config": experiment.file,
        "kind": "quality", "images": len(names), "thresholds": experiment.thresholds,
        "max_dist": experiment.max_dist, "seconds": seconds, "files": files,
        "methods": {m: {"kind": experiment.methods[m].kind, **s.summary(),
                        "ods_level": 255.0 * s.ods_threshold,
                        "curve": {"threshold": levels.tolist(), "recall": s.recall.tolist(),
                                  "precision": s.precision.tolist()}}
                    for m, s in scores.items()},
        "tuned": tuned,
    }
    if save_maps is not None:
        files["maps"] = str(save_maps)
    write_output(experiment.output / "summary.json", summary_text(summary).encode())
    return summary
