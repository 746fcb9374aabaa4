"""Random and mutated configs against the loader: a pipeline or a ConfigError, nothing else.

Each example either loads and builds (``Config.from_yaml``/``from_dict`` then ``build()``,
which opens nothing) or raises :class:`ConfigError` naming the file (and, where the
document has one, the line and key).  Any other exception is a crash inside the loader,
a registry or a stage constructor, and fails the test; hypothesis deadlines bound each
example, so a hang fails too.  Example counts are kept small: the whole file runs in
about a minute on two cores.

Aliases, merge keys, exponent numbers and stage orders (issue 15) are checked against
models: aliased YAML loads like the expanded data, expansion is refused exactly past the
budget, merges follow YAML's precedence, exponents read as Python's ``float`` reads them,
and a stage order is either refused at a stage that cannot take its input or runs.
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

from pipeline.config.document import ConfigError  # noqa: E402
from pipeline.config.run import Config, TOP_LEVEL_KEYS, load_plugins  # noqa: E402
from pipeline.config.registry import REGISTRIES  # noqa: E402

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

# No deadline: a first call compiles or loads numba kernels, and the machine may be busy;
# these tests check what is refused, not how fast.
FUZZ = settings(max_examples=120, deadline=None, derandomize=True,
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


# --- aliases, merge keys, exponents, stage orders (issue 15: 4, 10, 11, 12) --------------------
def outcome(load):
    """``("ok", to_dict())`` or ``("error", message)``: what a load comes to."""
    try:
        return "ok", load().to_dict()
    except ConfigError as error:
        return "error", error.message


@FUZZ
@given(name=st.sampled_from(sorted(SHIPPED_DATA)), choice=st.data())
def test_aliased_yaml_loads_like_the_expanded_data(tmp_path_factory, name, choice):
    # Two places sharing one object are written with an anchor and an alias by safe_dump.
    doc = copy.deepcopy(SHIPPED_DATA[name])
    spots = [p for p, v in places(doc) if p and isinstance(v, (dict, list))]
    source = choice.draw(st.sampled_from(spots))
    target = choice.draw(st.sampled_from([p for p, _ in places(doc) if p and p[:len(source)] != source
                                          and source[:len(p)] != p] or [source]))
    if target == source:
        return
    value = doc
    for part in source:
        value = value[part]
    parent = doc
    for part in target[:-1]:
        parent = parent[part]
    parent[target[-1]] = value
    text = yaml.safe_dump(doc, sort_keys=False)
    assert "&id" in text and "*id" in text
    file = tmp_path_factory.mktemp("fuzz") / name
    file.write_text(text, encoding="utf-8")
    assert outcome(lambda: Config.from_yaml(file)) == outcome(lambda: Config.from_dict(doc))


@settings(FUZZ, max_examples=30)  # a refusal walks the whole budget: a quarter second each
@given(levels=st.integers(1, 12), width=st.integers(1, 12), as_mapping=st.booleans())
def test_alias_expansion_is_refused_exactly_past_the_budget(levels, width, as_mapping):
    from pipeline.config.document import MAX_VALUES, Document

    lines = ["a0: &a0 [" + ", ".join(["x"] * width) + "]"]
    size = 1 + width  # values in a0: the list and its items
    total = 1 + 1 + size  # the root mapping, the key a0, a0
    for level in range(1, levels + 1):
        if as_mapping:
            items = ", ".join(f"k{i}: *a{level - 1}" for i in range(width))
            lines.append(f"a{level}: &a{level} {{{items}}}")
            size = 1 + width * (1 + size)  # each item is a key and the aliased value
        else:
            lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * width)}]")
            size = 1 + width * size
        total += 1 + size
    text = "\n".join(lines) + "\n"
    if total <= MAX_VALUES:
        assert len(Document.parse(text, "x").data) == levels + 1
    else:
        with pytest.raises(ConfigError, match="aliases expand"):
            Document.parse(text, "x")


merge_keys = st.sampled_from(["kind", "norm", "border", "ksize", "sigma", "x", "y"])
merge_maps = st.dictionaries(merge_keys, st.integers(0, 9), max_size=5)


@FUZZ
@given(sources=st.lists(merge_maps, min_size=1, max_size=3), own=merge_maps)
def test_merge_keys_follow_yaml_earlier_sources_then_own_keys_win(sources, own):
    from pipeline.config.document import Document

    anchors = "".join(f"m{i}: &m{i} {yaml.safe_dump(s, default_flow_style=True).strip()}\n"
                      for i, s in enumerate(sources))
    body = ", ".join([f"<<: [{', '.join(f'*m{i}' for i in range(len(sources)))}]"]
                     + [f"{k}: {v}" for k, v in own.items()])
    data = Document.parse(anchors + f"target: {{{body}}}\n", "m.yaml").data
    expected = {}
    for source in reversed(sources):
        expected.update(source)
    expected.update(own)
    assert data["target"] == expected


def exponent_texts():
    mantissa = st.one_of(st.integers(0, 999).map(str),
                         st.tuples(st.integers(0, 99), st.integers(0, 999)).map(lambda t: f"{t[0]}.{t[1]}"))
    return st.tuples(st.sampled_from(["", "-", "+"]), mantissa, st.sampled_from("eE"),
                     st.sampled_from(["", "-", "+"]), st.integers(0, 30).map(str)).map("".join)


@FUZZ
@given(text=exponent_texts(), where=st.sampled_from(["yaml", "set"]))
def test_exponent_numbers_read_as_python_reads_them(text, where):
    from pipeline.config.document import Document
    from pipeline.config.overrides import parse_override

    value = (Document.parse(f"x: {text}\n", "n.yaml").data["x"] if where == "yaml"
             else parse_override(f"x={text}")[1])
    assert isinstance(value, float) and value == float(text)


@FUZZ
@given(fps=st.floats(0.1, 1000), form=st.sampled_from(["{:e}", "{:E}", "{:.3e}", "{:.0e}"]))
def test_exponent_numbers_pass_a_float_setting(fps, form):
    text = form.format(fps)
    expected = float(text)
    if not 0.1 <= expected <= 1000:
        return
    config = Config.from_dict({"version": 1, "source": "synthetic"}, [f"runtime.fps={text}"])
    assert config.runtime["fps"] == expected


STAGE_SETTINGS = {"resize": {"scale": 0.5}}


@FUZZ
@given(names=st.lists(st.sampled_from(sorted(REGISTRIES["stage"])), min_size=1, max_size=7),
       sink=st.sampled_from(["discard", "video", "stats"]))
def test_random_stage_orders_are_refused_at_a_stage_or_run(names, sink):
    import numpy as np

    from pipeline.frame import Frame
    from pipeline.stages import Chain

    stages = [{name: STAGE_SETTINGS.get(name, {})} for name in names]
    sinks = [{sink: {"path": "o.mp4"}} if sink == "video" else
             {sink: {"path": "o.jsonl"}} if sink == "stats" else sink]
    try:
        config = Config.from_dict({"version": 1, "source": {"type": "synthetic", "width": 40,
                                                             "height": 30, "length": 1},
                                   "stages": stages, "sinks": sinks})
    except ConfigError as error:
        index = int(error.key.split(".")[1])
        section = error.key.split(".")[0]
        assert section in ("stages", "sinks"), error
        if section == "stages":
            assert error.message.startswith(f"{names[index]} needs "), error
        return
    image = np.random.default_rng(len(names)).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    _, built, _ = config.build()
    out = Chain(built)(Frame(0, 0.0, image, image.copy()))
    if sink == "video":
        assert out.image.dtype == np.uint8
