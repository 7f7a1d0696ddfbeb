"""Readable text on an inbox's accent colour (WCAG 2.x contrast).

The widget's header, the visitor's bubbles and its buttons put text on the accent; an inbox may
pick any colour, light or dark. The ink is white where white reaches AA (4.5:1, normal text) on
it, else a near-black, else black (which reaches at least 4.58:1 on any colour white does not).
"""

from __future__ import annotations

AA_NORMAL_TEXT = 4.5
NON_TEXT = 3.0  # WCAG 1.4.11: icons and focus indicators against what surrounds them
WHITE = "#ffffff"
NEAR_BLACK = "#111111"
BLACK = "#000000"


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """`#rrggbb` as three 0-255 channels."""
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)


def relative_luminance(channels: tuple[int, int, int]) -> float:
    def linear(channel: int) -> float:
        c = channel / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in channels)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    lighter, darker = sorted((relative_luminance(a), relative_luminance(b)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def ink_on(accent: str) -> str:
    """The text colour for `accent` (`#rrggbb`): the first of white, near-black, black that
    reaches AA on it."""
    background = rgb(accent)
    for ink in (WHITE, NEAR_BLACK):
        if contrast_ratio(rgb(ink), background) >= AA_NORMAL_TEXT:
            return ink
    return BLACK


def accent_on_white(accent: str) -> str:
    """The accent as marks on the white page (read ticks, focus rings) can use it: itself if it
    reaches NON_TEXT (3:1) against white, else the accent darkened (towards black) until it
    does."""
    r, g, b = rgb(accent)
    white = rgb(WHITE)
    for step in range(11):
        keep = 1 - step / 10
        shade = (round(r * keep), round(g * keep), round(b * keep))
        if contrast_ratio(shade, white) >= NON_TEXT:
            return "#{:02x}{:02x}{:02x}".format(*shade)
    return BLACK  # not reached: black is 21:1 on white
