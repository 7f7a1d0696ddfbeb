"""The ink on an inbox's accent colour is readable (WCAG AA, 4.5:1) whatever the colour."""

from __future__ import annotations

import itertools

import pytest

from chat.contrast import (
    AA_NORMAL_TEXT,
    NON_TEXT,
    accent_on_white,
    contrast_ratio,
    ink_on,
    rgb,
)
from chat.models import Inbox


@pytest.mark.parametrize(
    ("accent", "ink"),
    [
        ("#e8590c", "#111111"),
        ("#ffd43b", "#111111"),
        ("#3b5bdb", "#ffffff"),
        ("#1b2a4a", "#ffffff"),
    ],
)
def test_light_accents_get_dark_ink_and_dark_ones_white(accent: str, ink: str) -> None:
    assert ink_on(accent) == ink
    assert Inbox(accent_color=accent).accent_ink == ink


def test_white_on_the_orange_of_the_bug_report_is_too_faint() -> None:
    assert contrast_ratio(rgb("#ffffff"), rgb("#e8590c")) < AA_NORMAL_TEXT  # about 3.6:1


def test_every_accent_gets_ink_that_reaches_aa() -> None:
    for r, g, b in itertools.product(range(0, 256, 15), repeat=3):
        accent = f"#{r:02x}{g:02x}{b:02x}"
        assert contrast_ratio(rgb(ink_on(accent)), (r, g, b)) >= AA_NORMAL_TEXT, accent


def test_a_broken_accent_in_the_database_falls_back_with_its_ink() -> None:
    assert Inbox(accent_color="red; x").accent_ink == "#ffffff"  # the default blue's


def test_marks_on_white_keep_a_strong_accent_and_darken_a_faint_one() -> None:
    assert accent_on_white("#3b5bdb") == "#3b5bdb"
    darker = accent_on_white("#ffd43b")  # a yellow read tick on white would be invisible
    assert darker != "#ffd43b"
    assert contrast_ratio(rgb(darker), rgb("#ffffff")) >= NON_TEXT
    assert Inbox(accent_color="#ffd43b").accent_mark == darker


def test_every_accent_gives_marks_that_stand_out_on_white() -> None:
    for r, g, b in itertools.product(range(0, 256, 15), repeat=3):
        mark = accent_on_white(f"#{r:02x}{g:02x}{b:02x}")
        assert contrast_ratio(rgb(mark), rgb("#ffffff")) >= NON_TEXT, mark
