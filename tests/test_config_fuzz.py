"""Random and mutated configs against the loader: a pipeline or a ConfigError, nothing else.

Each example either loads and builds (``Config.from_yaml``/``from_dict`` then ``build()``,
which opens nothing) or raises :class:`ConfigError` naming the file (and, where the
document has one, the line and key).  Any other exception is a crash inside the loader,
a registry or a stage constructor, and fails the test; hypothesis deadlines bound each
example, so a hang fails too.  Example counts are kept small: the whole file runs in
well under a minute on two cores.
"""

from __future__ import annotations

import copy
import glob
import math
import os

import pytest
import yaml

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

from pipeline.config import Config, ConfigError, TOP_LEVEL_KEYS, load_plugins  # noqa: E402
from pipeline.registry import REGISTRIES  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHIPPED = sorted(glob.glob(os.path.join(ROOT, "configs", "*.yaml"))
                 + glob.glob(os.path.join(ROOT, "configs", "seed", "*.yaml")))
SHIPPED_DATA = {}
for _path in SHIPPED:
    with open(_path, encoding="utf-8") as _handle:
        _data = yaml.safe_load(_handle)
    try:  # run configs only, not batch manifests or experiment grids
        Config.from_yaml(_path)
    except ConfigError:
        continue
    SHIPPED_DATA[os.path.basename(_path)] = _data

FUZZ = settings(max_examples=120, deadline=2000, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.function_scoped_fixture])

load_plugins()
NAMES = sorted({name for table in REGISTRIES.values() for name in table})
PARAM_NAMES = sorted({p.name for table in REGISTRIES.values() for cls in table.values()
                      for p in getattr(cls, "params", ())})
WORDS = NAMES + PARAM_NAMES + list(TOP_LEVEL_KEYS) + ["type", "path", "auto", "live", "batch"]

scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 1, 10**12, 1e308, -0.0, math.nan, math.inf, "", "0", "nan"]),
    st.sampled_from(WORDS),
    st.text(max_size=12),
)
keys = st.one_of(st.sampled_from(WORDS), st.text(max_size=8), st.integers(-3, 3))
data = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=4)), max_leaves=20)


def check(load):
    """``load()`` must give a buildable Config or raise ConfigError naming the file."""
    try:
        config = load()
    except ConfigError as error:
        assert error.file, error
        assert str(error) and "Traceback" not in str(error)
        return None
    config.build()
    return config


# --- random documents ------------------------------------------------------------------------
@FUZZ
@given(text=st.text(max_size=200))
def test_random_text(tmp_path_factory, text):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    check(lambda: Config.from_yaml(path))


@FUZZ
@given(doc=data)
def test_random_yaml_documents(tmp_path_factory, doc):
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    path.write_text(text, encoding="utf-8")
    check(lambda: Config.from_yaml(path))


@FUZZ
@given(doc=st.dictionaries(st.sampled_from(list(TOP_LEVEL_KEYS) + ["extra"]), data, max_size=6))
def test_random_dicts(doc):
    doc.setdefault("version", 1)
    check(lambda: Config.from_dict(doc))


# --- mutations of the shipped configs -----------------------------------------------------------
def places(node, path=()):
    """Every (path, value) in a nested document."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from places(value, path + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from places(value, path + (index,))


def mutate(doc, path, how, value):
    """``doc`` with the node at ``path`` deleted, replaced, nested or given an extra key."""
    doc = copy.deepcopy(doc)
    if not path:
        return value if how == "replace" else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if how == "delete":
        del parent[last]
    elif how == "replace":
        parent[last] = value
    elif how == "nest":
        inner = parent[last]
        for _ in range(30):
            inner = {"x": [inner]}
        parent[last] = inner
    elif how == "extra" and isinstance(parent[last], dict):
        parent[last]["unknown_key_\u00e9\u4e2d"] = value
    elif how == "wrap":
        parent[last] = [parent[last]]
    return doc


@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED_DATA)), choice=st.data(),
       how=st.sampled_from(["delete", "replace", "replace", "nest", "extra", "wrap"]),
       value=data, as_yaml=st.booleans())
def test_mutated_shipped_configs(tmp_path_factory, name, choice, how, value, as_yaml):
    doc = SHIPPED_DATA[name]
    path, _ = choice.draw(st.sampled_from(list(places(doc))))
    mutated = mutate(doc, path, how, value)
    if not as_yaml:
        check(lambda: Config.from_dict(mutated))
        return
    try:
        text = yaml.safe_dump(mutated, allow_unicode=True, sort_keys=False)
    except (yaml.YAMLError, RecursionError):
        return
    file = tmp_path_factory.mktemp("fuzz") / name
    file.write_text(text, encoding="utf-8")
    if check(lambda: Config.from_yaml(file)) is None:
        with pytest.raises(ConfigError) as caught:
            Config.from_yaml(file)
        assert caught.value.line is not None or caught.value.key is not None, caught.value


@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED_DATA)), choice=st.data(), value=st.one_of(scalars, data))
def test_overrides_with_random_values(name, choice, value):
    doc = SHIPPED_DATA[name]
    path = choice.draw(st.sampled_from([p for p, _ in places(doc) if p]))
    try:
        text = yaml.safe_dump(value, default_flow_style=True).strip().replace("\n", " ")
    except yaml.YAMLError:
        return
    if text.endswith("..."):
        text = text[:-3].strip()
    override = ".".join(map(str, path)) + "=" + text
    check(lambda: Config.from_dict(doc, [override]))


def test_shipped_configs_are_the_fuzz_seeds():
    assert len(SHIPPED_DATA) >= 6  # the test mutates what ships, not nothing


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path):
    path = tmp_path / "deep.yaml"
    path.write_text("version: 1\nsource: " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError):
        Config.from_yaml(path)


@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED_DATA)), choice=st.data(),
       number=st.sampled_from([math.nan, -math.nan]))
def test_nan_is_never_accepted_as_a_number(name, choice, number):
    doc = SHIPPED_DATA[name]
    numeric = [p for p, v in places(doc) if isinstance(v, float) and not isinstance(v, bool)]
    if not numeric:
        return
    mutated = mutate(doc, choice.draw(st.sampled_from(numeric)), "replace", number)
    with pytest.raises(ConfigError, match="nan"):
        Config.from_dict(mutated)


def test_nan_in_a_range_checked_setting_names_the_key(tmp_path):
    path = tmp_path / "nan.yaml"
    path.write_text("version: 1\nsource: synthetic\nruntime:\n  fps: .nan\n")
    with pytest.raises(ConfigError) as caught:
        Config.from_yaml(path)
    assert (caught.value.line, caught.value.key) == (4, "runtime.fps")
