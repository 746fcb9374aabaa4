"""The text of ``edgepipe stages``: no markup left, and plain text from the docstrings' markup."""

from __future__ import annotations

import pytest

from pipeline.cli.helptext import describe, plain_text

# ---------------------------------------------------------------- stages: plain text

def test_stages_has_no_markup_left():
    text = describe()
    assert "`" not in text and ":func:" not in text and ":class:" not in text
    assert "pipeline.ops.derivative" in text and "frame.original" in text


@pytest.mark.parametrize("markup, plain", [
    (":func:`pipeline.ops.derivative`", "pipeline.ops.derivative"),
    (":class:`~pipeline.io.base.Sink`", "Sink"),
    (":py:meth:`Source.read`", "Source.read"),
    ("``frame.original``", "frame.original"),
    ("see `Otsu <https://x.org>`_", "see Otsu <https://x.org>"),
    (":ref:`the tuner <tuner>`", "the tuner"),
    ("'shots/**/*.png'", "'shots/**/*.png'"),
    ("Example::", "Example:"),
])
def test_plain_text(markup, plain):
    assert plain_text(markup) == plain
