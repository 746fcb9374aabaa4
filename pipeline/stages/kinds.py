"""What flows between stages: each stage declares the images it takes and gives.

A chain can only run if every stage gets an image it can work on, and a config is
checked for that when it loads (:func:`check_flow`), before the source opens, so
``[map]`` alone or ``threshold`` before ``gradient`` fail with the stage's name and what
it needs instead of "d must have 2 dimensions" at frame 0.

The kinds, from a source's colour frame to an edge picture::

    COLOUR --grayscale--> GREY --gradient--> MAGNITUDE --map--> EDGE_MAP --threshold--> BINARY
                               --derivative-> DERIVATIVE --map--> EDGE_MAP
    COLOUR or GREY --canny--> BINARY (thin edges, cv2.Canny's rules)
    EDGE_MAP or BINARY --overlay/hud--> COLOUR

A stage class declares ``accepts`` (a tuple of kinds) and ``gives`` (a kind, or
:data:`SAME` when the output is the input's kind, as for ``blur`` and ``resize``); a
stage whose output depends on a setting overrides :meth:`Stage.output_kind`.
"""

from __future__ import annotations

from collections.abc import Sequence

COLOUR = "colour picture"
GREY = "grey picture"
DERIVATIVE = "signed derivative"
MAGNITUDE = "gradient magnitude"
EDGE_MAP = "edge map"
BINARY = "binary edge map"
SAME = "same as the input"

#: What each kind is, for messages.
DESCRIPTIONS = {
    COLOUR: "BGR uint8 (H, W, 3)",
    GREY: "uint8 (H, W)",
    DERIVATIVE: "int16 or float32 (H, W), signed",
    MAGNITUDE: "float32 (H, W), >= 0",
    EDGE_MAP: "uint8 (H, W), from map",
    BINARY: "uint8 (H, W), 0 or 255, from threshold",
}
ALL = tuple(DESCRIPTIONS)
#: Kinds a uint8 writer (video, images, window, http) can store as they are.
PICTURES = (COLOUR, GREY, EDGE_MAP, BINARY)
#: What every source gives: frames are BGR uint8 (``io.base``'s frame contract).
SOURCE_KIND = COLOUR

# What to put before a stage to get each kind it might need.
_MAKES = {
    GREY: "grayscale",
    DERIVATIVE: "derivative",
    MAGNITUDE: "gradient",
    EDGE_MAP: "map",
    BINARY: "threshold",
    COLOUR: "overlay or hud",
}


def describe(kind: str) -> str:
    """``"edge map (uint8 (H, W), from map)"``."""
    return f"{kind} ({DESCRIPTIONS[kind]})" if kind in DESCRIPTIONS else kind


def a(kind: str) -> str:
    """``kind`` with its article: ``"an edge map"``, ``"a grey picture"``."""
    return f"{'an' if kind[0] in 'aeiou' else 'a'} {kind}"


def needs(accepts: Sequence[str]) -> str:
    """``"a gradient magnitude or a signed derivative (put gradient or derivative before it)"``."""
    names = " or ".join(a(kind) for kind in accepts)
    makers = " or ".join(dict.fromkeys(_MAKES[kind] for kind in accepts if kind in _MAKES))
    return f"{names} (put {makers} before it)" if makers else names


def check_flow(steps: Sequence[tuple[str, Sequence[str], object]], start: str = SOURCE_KIND,
               start_name: str = "the source") -> list[tuple[int, str]]:
    """Walk the kinds along a chain; return the first mismatch, or an empty list.

    Parameters
    ----------
    steps : sequence of (name, accepts, gives)
        Each step's label, the kinds it takes and a function ``gives(kind) -> kind``.
    start : str
        The kind the first step receives.
    start_name : str
        What produced ``start``, for the message.

    Returns
    -------
    list of (int, str)
        ``[(index, message)]`` for the first step that cannot take its input (index
        ``len(steps)`` for what follows the chain), else ``[]``.
    """
    kind, made_by = start, start_name
    for index, (name, accepts, gives) in enumerate(steps):
        if kind not in accepts:
            return [(index, f"{name} needs {needs(accepts)}, but {made_by} gives "
                            f"{a(describe(kind))}")]
        kind, made_by = gives(kind), f"stage {name}"
    return []


def final_kind(steps: Sequence[tuple[str, Sequence[str], object]], start: str = SOURCE_KIND) -> str:
    """The kind the last step gives (assumes :func:`check_flow` passed)."""
    kind = start
    for _, _, gives in steps:
        kind = gives(kind)
    return kind
