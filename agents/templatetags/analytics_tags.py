"""Filters for the analytics page: durations and shares as people read them."""

from __future__ import annotations

from django import template

from supportdesk.durations import spoken_duration

register = template.Library()
NONE = "\u2013"  # an en dash: no value


@register.filter
def duration(seconds: float | None) -> str:
    """45 s, 3 min 20 s, 10 min, 2 h 5 min, 3 d 4 h; an en dash for no value."""
    return NONE if seconds is None else spoken_duration(seconds)


@register.filter
def share(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percentage; an en dash for nothing."""
    if not whole:
        return NONE
    return f"{round(100 * part / whole)} %"


@register.filter
def stars(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"
