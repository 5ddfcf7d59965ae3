"""Chinese labels in figures draw their glyphs (issue 10): the installed CJK font is found and
used as matplotlib's fallback, without font warnings."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from ctit.reports import figures


def _ink(text: str) -> np.ndarray:
    import matplotlib
    from matplotlib.figure import Figure

    with matplotlib.rc_context({**figures.RC, "font.family": list(figures.font_families())}):
        fig = Figure(figsize=(1.2, .6), dpi=100)
        fig.text(.1, .3, text, fontsize=20)
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    from matplotlib.image import imread

    buf.seek(0)
    return imread(buf)[..., :3].mean(axis=2)


def test_chinese_label_draws_its_glyphs() -> None:
    families = figures.font_families()
    if len(families) < 2:
        pytest.skip("no CJK font installed (run `make fonts`: Debian fonts-wqy-microhei)")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        a, b = _ink("血"), _ink("板")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = _ink("\ue000")   # U+E000: private use, in no font: the missing-glyph box
    # Missing glyphs are all drawn as the same box; real glyphs differ from it and from each other.
    assert (a < .5).sum() > 20 and (b < .5).sum() > 20
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, c) and not np.array_equal(b, c)
