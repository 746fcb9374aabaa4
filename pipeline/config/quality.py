"""The ``quality`` experiment's config: a BSDS-layout dataset, methods, tuned methods.

::

    version: 1
    name: bsds-val
    dataset: {images: data/images/val, ground_truth: data/groundTruth/val}
    thresholds: 99                 # the benchmark's; max_dist: 0.0075 of the diagonal
    methods:                       # each gives a soft 0-255 boundary map per image
      sobel: [grayscale, {blur: {ksize: 13, sigma: 2}}, {gradient: {kind: sobel}}, map]
      canny: {canny: {sigma: 2, ratio: 0.4, high_max: 400}}   # its pair swept
      learned: {maps: results/hed}                            # NAME.png per image
    tuned:                         # the tuner per image, no ground truth
      - {method: sobel, objective: [otsu, density], optimizer: {name: adam, lr: 2}}
      - {method: canny, objective: multiotsu, optimizer: [{name: sign, step: 1}]}

An experiment config with a ``dataset:`` key is of this kind (:mod:`pipeline.config.experiment`
hands it here); ``edgepipe experiment`` runs it with
:func:`pipeline.experiments.quality_run.run_quality`.
"""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path

from pipeline.config.checks import EXPERIMENT_HEAD, ExperimentHead, check_experiment_head, check_section
from pipeline.config.registry import REQUIRED, Param, ParamError
from pipeline.config.run import build_component, check_chain, entries
from pipeline.tuned import CANNY_TARGET, THRESHOLD_TARGET
from pipeline.runtime.tuner import TARGET_OBJECTIVES, TUNER_PARAMS, check_tuner_settings
from pipeline.stages import kinds

#: Kinds of image a chain method may end with: uint8 maps the benchmark can threshold.
MAP_KINDS = (kinds.EDGE_MAP, kinds.GREY, kinds.BINARY)


class _Section:
    registry_name = "quality experiment"
    params = (
        *EXPERIMENT_HEAD,
        Param("dataset", dict, REQUIRED, help="{images: DIR, ground_truth: DIR, limit: N}"),
        Param("thresholds", int, 99, min=1, max=254, help="thresholds of the PR curve"),
        Param("max_dist", float, 0.0075, min=0.0, max=1.0,
              help="match tolerance as a fraction of the image diagonal"),
        Param("methods", dict, REQUIRED, help="name: a chain of stages, {canny: {...}} or {maps: DIR}"),
        Param("tuned", list, [], help="methods scored at the value the tuner settles on"),
    )


class _Dataset:
    registry_name = "dataset"
    params = (
        Param("images", str, REQUIRED, help="folder of NAME.jpg"),
        Param("ground_truth", str, REQUIRED, help="folder of NAME.mat (BSDS groundTruth)"),
        Param("limit", (int, type(None)), None, min=1, help="use the first N images (sorted)"),
    )


class _CannySweep:
    registry_name = "canny method"
    params = (
        Param("sigma", float, 2.0, min=0.0, max=20.0, help="Gaussian blur before; 0: none"),
        Param("ratio", float, 0.4, min=0.0, max=1.0, help="low = ratio * high"),
        Param("high_max", float, 400.0, min=1.0, max=4000.0,
              help="high at threshold t is t * high_max (t in (0, 1))"),
        Param("l2", bool, False, help="Euclidean gradient magnitude"),
    )


class _Tuned:
    registry_name = "tuned method"
    params = (
        Param("method", str, REQUIRED, help="the method whose map (or canny pair) is tuned"),
        Param("label", (str, type(None)), None, help="name; null: method/objective/optimizer"),
        Param("objective", (str, list), "otsu", help="tuner objective(s); a list is a grid axis"),
        Param("optimizer", (dict, list), {"name": "adam", "lr": 2.0},
              help="optimizer spec(s); a list is a grid axis"),
        Param("updates", int, 10, min=1, max=10000, help="tuner updates on each image"),
        Param("histogram", str, "all", choices=("all", "nms"),
              help="canny methods: the tuner reads the magnitude histogram of all pixels "
                   "(as the canny stage leaves it) or of the NMS survivors only"),
        Param("ratio", float, 0.4, min=0.0, max=1.0,
              help="canny methods tuned on one threshold (otsu, density): low = ratio * high"),
        *(p for p in TUNER_PARAMS if p.name in ("iterations", "smoothing", "tau", "target")),
    )


@dataclasses.dataclass
class Method:
    """One scored method: ``kind`` is chain, canny or maps; ``spec`` what builds its maps."""

    name: str
    kind: str
    spec: object  # list of Stage (chain), dict (canny settings), Path (maps)


@dataclasses.dataclass
class TunedMethod:
    """A method scored at the tuner's settled threshold or pair (``settings``: the tuner's)."""

    name: str
    method: str
    settings: dict
    updates: int
    histogram: str = "all"  # canny: the magnitudes of all pixels, or of the NMS survivors
    ratio: float = 0.4  # canny tuned on one threshold: low = ratio * high


@dataclasses.dataclass
class QualityExperiment(ExperimentHead):
    """A checked quality experiment (see the module docstring)."""

    images: list  # (name, image path, ground-truth path), sorted by name
    thresholds: int
    max_dist: float
    methods: dict  # name -> Method
    tuned: list  # TunedMethod


def _images(doc, dataset: dict) -> list:
    folders = {}
    for key in ("images", "ground_truth"):
        folder = Path(dataset[key])
        if not folder.is_dir():
            raise doc.error(("dataset", key), f"{key}: no folder {str(folder)!r}")
        folders[key] = folder
    names = sorted(p.stem for p in folders["images"].glob("*.jpg"))
    if not names:
        raise doc.error(("dataset", "images"), f"no NAME.jpg in {str(folders['images'])!r}")
    names = names[:dataset["limit"]] if dataset["limit"] else names
    missing = [n for n in names if not (folders["ground_truth"] / f"{n}.mat").is_file()]
    if missing:
        raise doc.error(("dataset", "ground_truth"),
                        f"{len(missing)} image(s) have no ground truth, e.g. "
                        f"{str(folders['ground_truth'] / (missing[0] + '.mat'))!r}")
    return [(n, folders["images"] / f"{n}.jpg", folders["ground_truth"] / f"{n}.mat") for n in names]


def _chain(doc, path, items) -> list:
    components = entries(doc, path, "stage", items)
    stages = [build_component(doc, component) for component in components]
    last = check_chain(doc, components, stages)
    if last not in MAP_KINDS:
        raise doc.error(path, f"a method's chain must end with a uint8 map (map or threshold); "
                              f"it gives {kinds.a(kinds.describe(last))}")
    return stages


def _method(doc, name, spec) -> Method:
    path = ("methods", name)
    if isinstance(spec, list) and spec:
        return Method(name, "chain", _chain(doc, path, spec))
    if isinstance(spec, dict) and set(spec) == {"maps"}:
        folder = Path(str(spec["maps"]))
        if not folder.is_dir():
            raise doc.error(path + ("maps",), f"maps: no folder {str(folder)!r} (NAME.png per image)")
        return Method(name, "maps", folder)
    if isinstance(spec, dict) and set(spec) == {"canny"}:
        return Method(name, "canny", check_section(doc, path + ("canny",), _CannySweep, spec["canny"] or {}))
    raise doc.error(path, f"a method is a list of stages, {{canny: {{sigma, ratio, high_max}}}} "
                          f"or {{maps: DIR}}; got {spec!r}")


def _tuned(doc, index, entry, methods) -> list:
    path = ("tuned", index)
    settings = check_section(doc, path, _Tuned, entry, optional=False)
    base = methods.get(settings["method"])
    if base is None:
        raise doc.error(path + ("method",), f"no method {settings['method']!r}; methods: "
                                            f"{', '.join(methods)}")
    objectives = settings["objective"] if isinstance(settings["objective"], list) else [settings["objective"]]
    for key in ("histogram", "ratio"):
        if key in entry and base.kind != "canny":
            raise doc.error(path + (key,), f"{key} applies to canny methods; {base.name} is a {base.kind}")
    optimizers = settings["optimizer"] if isinstance(settings["optimizer"], list) else [settings["optimizer"]]
    found = []
    for objective, optimizer in itertools.product(objectives, optimizers):
        # a canny method takes a pair objective (the pair) or a one-threshold one (high)
        target = CANNY_TARGET if objective in TARGET_OBJECTIVES[CANNY_TARGET] else THRESHOLD_TARGET
        allowed = TARGET_OBJECTIVES[THRESHOLD_TARGET] + (
            TARGET_OBJECTIVES[CANNY_TARGET] if base.kind == "canny" else ())
        if objective not in allowed:
            raise doc.error(path + ("objective",), f"method {base.name} ({base.kind}) is tuned with "
                                                   f"{', '.join(allowed)}; got {objective!r}")
        tuner = {"objective": objective, "optimizer": optimizer, "targets": target,
                 **{k: settings[k] for k in ("iterations", "smoothing", "tau")}}
        if objective == "density":
            tuner["target"] = settings["target"]
        try:
            tuner = check_tuner_settings(tuner)
        except ParamError as exc:
            raise doc.error(path + ("optimizer",), exc.message) from None
        spec = optimizer if isinstance(optimizer, dict) else tuner["optimizer"]
        short = spec["name"] + "".join(f",{k}={v:g}" for k, v in spec.items() if k != "name")
        label = settings["label"] or f"{base.name}/{objective}/{short}"
        if settings["label"] and len(objectives) * len(optimizers) > 1:
            label = f"{settings['label']}/{objective}/{short}"
        if base.kind == "canny" and settings["histogram"] == "nms" and not settings["label"]:
            label = label.replace(f"{base.name}/", f"{base.name}/nms-", 1)
        found.append(TunedMethod(label, base.name, tuner, settings["updates"],
                                 settings["histogram"], settings["ratio"]))
    return found


def check_quality(doc, output: str | None) -> QualityExperiment:
    """Check a quality experiment config; raise :class:`~pipeline.config.document.ConfigError`."""
    top, name, folder = check_experiment_head(doc, _Section, output)
    images = _images(doc, check_section(doc, ("dataset",), _Dataset, top["dataset"]))
    if not top["methods"]:
        raise doc.error(("methods",), "methods must name at least one method")
    methods = {str(k): _method(doc, str(k), v) for k, v in top["methods"].items()}
    tuned = [t for i, e in enumerate(top["tuned"]) for t in _tuned(doc, i, e, methods)]
    labels = [t.name for t in tuned] + list(methods)
    if len(set(labels)) != len(labels):
        twice = next(n for n in labels if labels.count(n) > 1)
        raise doc.error(("tuned",), f"two methods are named {twice!r}; give one a label:")
    return QualityExperiment(name, top["description"], doc.file, folder, images, top["thresholds"],
                             top["max_dist"], methods, tuned)


__all__ = ["Method", "QualityExperiment", "TunedMethod", "check_quality"]
