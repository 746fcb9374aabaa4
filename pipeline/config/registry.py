"""Explicit registries for everything a config can name.

A config names stages, sources, sinks, objectives and optimizers by string.  Each class
declares its parameters once, as a tuple of :class:`Param`, and registers itself::

    @register("stage", "gradient")
    class Gradient(Stage):
        params = (
            Param("kind", str, "sobel", choices=KINDS, help="derivative stencil"),
            Param("norm", str, "l2", choices=("l1", "l2")),
        )

:func:`build` turns ``{"kind": "scharr"}`` into ``Gradient(kind="scharr", norm="l2")``:
unknown keys, wrong types and out-of-range values raise :class:`ParamError` naming the
key and what would work.  Defaults live in the ``Param`` only (albumentations #2545).
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from typing import Any, Callable

from pipeline.errors import EdgepipeError

KINDS = ("stage", "source", "sink", "objective", "optimizer")
REGISTRIES: dict[str, dict[str, type]] = {kind: {} for kind in KINDS}

_REQUIRED = object()


class ParamError(EdgepipeError, ValueError):
    """A setting is unknown, missing, of the wrong type or out of range.

    ``key`` is the parameter's name (a dotted path once the config loader adds the place).
    """

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key
        self.message = message


@dataclasses.dataclass(frozen=True)
class Param:
    """One declared parameter: its type, default and allowed values.

    Parameters
    ----------
    name : str
        Key in the config.
    type : type or tuple of types
        Accepted Python type(s) after YAML parsing.  ``float`` also accepts ints;
        ``bool`` is never accepted for ``int``/``float``.
    default : object
        Value when the key is absent; :data:`REQUIRED` makes the key mandatory.
    choices : tuple, optional
        Allowed values.
    min, max : float, optional
        Inclusive range for numbers (and for each element of a list).
    help : str
        One line for ``edgepipe stages``.
    """

    name: str
    type: Any
    default: Any = _REQUIRED
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    help: str = ""

    @property
    def required(self) -> bool:
        return self.default is _REQUIRED

    def describe(self) -> str:
        """A one-line summary: type, default, allowed values."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        text = "|".join(t.__name__ if t is not type(None) else "null" for t in types)
        if self.choices is not None:
            text = " | ".join(repr(c) if not isinstance(c, str) else c for c in self.choices)
        if self.min is not None or self.max is not None:
            lo = "" if self.min is None else f"{self.min:g}"
            hi = "" if self.max is None else f"{self.max:g}"
            text += f" in [{lo}, {hi}]"
        default = "required" if self.required else f"default {self.default!r}"
        return f"{text}; {default}"

    def check(self, value: Any) -> Any:
        """Return ``value`` (ints widened to float where a float is declared) or raise."""
        types = self.type if isinstance(self.type, tuple) else (self.type,)
        if value is None and type(None) in types:
            return None
        if isinstance(value, bool) and bool not in types:
            raise ParamError(self.name, f"{self.name} must be {self.describe()}; got {value!r}")
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            value = float(value) if int not in types else value
        if not isinstance(value, types):
            raise ParamError(self.name, f"{self.name} must be {self.describe()}; got {value!r}")
        if self.choices is not None and value not in self.choices:
            close = difflib.get_close_matches(str(value), [str(c) for c in self.choices], 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            allowed = ", ".join(str(c) for c in self.choices)
            raise ParamError(self.name, f"{self.name} must be one of {allowed}; got {value!r}{hint}")
        numbers = value if isinstance(value, (list, tuple)) else [value]
        for number in numbers:
            if isinstance(number, float) and math.isnan(number):
                # NaN passes every comparison, so a range alone would let it through.
                raise ParamError(self.name, f"{self.name} must be {self.describe()}; got {value!r}")
            if isinstance(number, (int, float)) and not isinstance(number, bool):
                if (self.min is not None and number < self.min) or (
                    self.max is not None and number > self.max
                ):
                    raise ParamError(
                        self.name, f"{self.name} must be {self.describe()}; got {value!r}"
                    )
        return value


REQUIRED = _REQUIRED


def register(kind: str, name: str) -> Callable[[type], type]:
    """Class decorator adding ``cls`` to the ``kind`` registry under ``name``."""
    if kind not in REGISTRIES:
        raise ValueError(f"registry kind must be one of {', '.join(KINDS)}; got {kind!r}")

    def add(cls: type) -> type:
        if name in REGISTRIES[kind]:
            raise ValueError(f"{kind} {name!r} is registered twice")
        cls.registry_name = name
        cls.params = tuple(getattr(cls, "params", ()))
        REGISTRIES[kind][name] = cls
        return cls

    return add


def lookup(kind: str, name: str) -> type:
    """The class registered as ``name``, or a :class:`ParamError` listing what exists."""
    table = REGISTRIES[kind]
    if name not in table:
        close = difflib.get_close_matches(str(name), list(table), 1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ParamError(
            "type" if kind in ("source", "sink") else "name",
            f"unknown {kind} {name!r}{hint}; known {kind}s: {', '.join(sorted(table))}",
        )
    return table[name]


def check_settings(cls: type, settings: dict | None) -> dict:
    """Validate ``settings`` against ``cls.params``; return them with defaults filled in."""
    settings = {} if settings is None else settings
    if not isinstance(settings, dict):
        raise ParamError(cls.registry_name, f"settings of {cls.registry_name!r} must be a mapping; got {settings!r}")
    declared = {p.name: p for p in cls.params}
    for key in settings:
        if key not in declared:
            close = difflib.get_close_matches(str(key), list(declared), 1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            known = ", ".join(declared) or "none"
            raise ParamError(str(key), f"unknown key {key!r} for {cls.registry_name!r}{hint}; known keys: {known}")
    checked = {}
    for param in cls.params:
        if param.name in settings:
            checked[param.name] = param.check(settings[param.name])
        elif param.required:
            raise ParamError(param.name, f"{cls.registry_name!r} needs {param.name!r} ({param.describe()})")
        else:
            checked[param.name] = param.default
    return checked


def build(kind: str, name: str, settings: dict | None = None) -> Any:
    """Instantiate the registered ``kind`` called ``name`` from checked settings."""
    cls = lookup(kind, name)
    return cls(**check_settings(cls, settings))


def settings_of(obj: Any) -> dict:
    """The declared settings of a built object, for round-tripping it to config."""
    return {p.name: getattr(obj, p.name) for p in type(obj).params}
