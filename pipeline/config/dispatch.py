"""Config-kind dispatch for ``edgepipe validate``: which schema a file is, and one line on it.

A file of any kind (run, batch or experiment) is told apart by :func:`config_kind` and
checked by its own schema (:mod:`pipeline.config.run`, :mod:`pipeline.config.batch`,
:mod:`pipeline.config.experiment`); only the command line imports this module.
"""

from __future__ import annotations

import os
from typing import Any

from pipeline.config.batch import BatchConfig
from pipeline.config.checks import CONFIG_KINDS, declared_kind
from pipeline.config.document import Document, load_document
from pipeline.config.experiment import experiment_from_document
from pipeline.config.run import Config

#: Top-level keys only a batch config has.
_BATCH_KEYS = ("inputs", "output", "executor", "split")

__all__ = ["CONFIG_KINDS", "config_kind", "describe_config", "load_any"]


def config_kind(doc: Document) -> str:
    """``"run"``, ``"batch"`` or ``"experiment"``: what kind of config ``doc`` is.

    An explicit top-level ``kind:`` wins (and is then removed from the data, since no
    schema has it).  Otherwise the keys tell: ``optimizers`` is an experiment's,
    ``inputs``/``output``/``executor``/``split`` a batch config's, anything else a run
    config's (whose checks then name what is wrong).
    """
    data = doc.data
    if not isinstance(data, dict):
        return "run"
    kind = declared_kind(doc)
    if kind is not None:
        return kind
    if "optimizers" in data or "dataset" in data:  # dataset: a quality experiment
        return "experiment"
    if any(key in data for key in _BATCH_KEYS):
        return "batch"
    return "run"


def describe_config(kind: str, checked: Any) -> str:
    """One line on what a checked config of ``kind`` (from :func:`load_any`) will do."""
    if kind == "batch":
        inputs = next(f"{key} {value!r}" for key, value in checked.inputs.items() if value is not None)
        stages = " -> ".join(next(iter(entry)) for entry in checked.stages)
        return (f"batch: {inputs} -> {stages} -> {checked.output['dir']}; "
                f"{checked.workers} {checked.executor['type']} worker(s)")
    if kind == "experiment" and hasattr(checked, "methods"):
        return (f"quality experiment {checked.name}: {len(checked.images)} image(s) x "
                f"{len(checked.methods)} method(s), {len(checked.tuned)} tuned")
    if kind == "experiment":
        return (f"experiment {checked.name}: {len(checked.inputs)} input(s) x "
                f"{len(checked.optimizers)} optimizer(s), {checked.iterations} iterations")
    stages = " -> ".join(c.name for c in checked.stages) or "(no stages)"
    sinks = ", ".join(c.name for c in checked.sinks) or "no sinks"
    return f"{checked.source.name} -> {stages} -> {sinks}; mode {checked.runtime['mode']}"


def load_any(path: str | os.PathLike, overrides: list[str] | tuple = ()) -> tuple[str, Any]:
    """Load and check a run, batch or experiment config, each against its own schema.

    Parameters
    ----------
    path : path-like
        The YAML file.
    overrides : list of str
        ``--set KEY=VALUE`` strings, applied before the checks.

    Returns
    -------
    (str, object)
        ``("run", Config)``, ``("batch", BatchConfig)`` or ``("experiment", Experiment)``
        (a ``QualityExperiment`` for a quality experiment).

    Raises
    ------
    ConfigError
        As the kind's own loader raises it.
    """
    doc = load_document(path, "config", "configs/demo.yaml")
    kind = config_kind(doc)
    if kind == "batch":
        return kind, BatchConfig.from_document(doc, overrides)
    if kind == "experiment":
        return kind, experiment_from_document(doc, overrides)
    return kind, Config.from_document(doc, overrides)
