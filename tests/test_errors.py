"""Every error a user can meet derives from ``pipeline.EdgepipeError``.

The test imports every module of the package and looks at every exception class defined
there, so a new one must either derive from the base or be named below as a signal that
never leaves the package, with the reason.
"""

import importlib
import inspect
import pkgutil

import pytest

import pipeline
from pipeline import EdgepipeError
from pipeline.errors import EdgepipeError as from_errors

# Control flow inside the package, caught where it is raised or one call up, never a
# user's to catch (each with the place that catches it).
SIGNALS = {
    "pipeline.stages.tiers.CacheMiss": "tiers' loader thread: numba would compile there",
    "pipeline.io.media.reader.DamagedPacket": "the file and url sources skip and count it",
    "pipeline.io.media.reader.DemuxError": "the file and url sources skip and count it",
    "pipeline.io.sources.live.CaptureTimeout": "live sources: becomes a SourceError or a retry",
    "pipeline.batch.runner.Terminated": "run_job: SIGTERM, ends the job like Ctrl+C",
    "pipeline.io.sinks.http.websocket.ProtocolError": "the view's connection: closes it with the code",
    "pipeline.cli.guard.Terminated": "the guard: SIGTERM ends any command, 'edgepipe: terminated', 143",
    "pipeline.io.sources.trim.PastTheEnd": "the file source: becomes a SourceError naming the file",
}


def exception_classes():
    """Every exception class defined in a module of the package, by qualified name."""
    found = {}
    for info in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
        if info.name.rpartition(".")[2] == "__main__":  # runs the command when imported
            continue
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if (inspect.isclass(value) and issubclass(value, BaseException)
                    and value.__module__ == info.name):
                found[f"{info.name}.{value.__qualname__}"] = value
    return found


CLASSES = exception_classes()


def test_the_walk_finds_the_errors_it_must():
    assert CLASSES["pipeline.config.document.ConfigError"] is importlib.import_module(
        "pipeline.config.document").ConfigError
    assert len(CLASSES) >= 20
    assert set(SIGNALS) <= set(CLASSES), "a signal listed here no longer exists"


@pytest.mark.parametrize("name", sorted(set(CLASSES) - set(SIGNALS)))
def test_every_error_derives_from_the_base(name):
    assert issubclass(CLASSES[name], EdgepipeError), f"{name} does not derive from EdgepipeError"


@pytest.mark.parametrize("name", sorted(SIGNALS))
def test_signals_stay_out_of_the_family(name):
    assert not issubclass(CLASSES[name], EdgepipeError)


def test_other_bases_are_kept():
    # Code that catches these as ValueError goes on catching them.
    for name in ("pipeline.config.registry.ParamError", "pipeline.io.sinks.http.control.ControlError",
                 "pipeline.quality.groundtruth.GroundTruthError"):
        assert issubclass(CLASSES[name], ValueError), name
    assert issubclass(CLASSES["pipeline.io.sinks.stdout.ReaderGone"],
                      CLASSES["pipeline.io.base.SinkError"])


def test_the_base_is_exported_at_the_top_and_caught_by_one_except():
    assert EdgepipeError is from_errors and "EdgepipeError" in dir(pipeline)
    from pipeline import stages  # noqa: F401  (registers the stages)
    from pipeline.config.registry import lookup

    with pytest.raises(EdgepipeError, match="did you mean 'canny'"):
        lookup("stage", "cany")
