"""Filters for the analytics page: durations and shares as people read them."""

from __future__ import annotations

from django import template
from django.utils.translation import gettext as _

register = template.Library()
NONE = "\u2013"  # an en dash: no value


@register.filter
def duration(seconds: float | None) -> str:
    """45 s, 3 min 20 s, 10 min, 2 h 5 min, 3 d 4 h; an en dash for no value."""
    if seconds is None:
        return NONE
    total = round(seconds)
    if total < 60:
        return _("%(s)d s") % {"s": total}
    minutes, secs = divmod(total, 60)
    if minutes < 60 and secs:
        return _("%(m)d min %(s)d s") % {"m": minutes, "s": secs}
    if minutes < 60:
        return _("%(m)d min") % {"m": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return _("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    days, hours = divmod(hours, 24)
    return _("%(d)d d %(h)d h") % {"d": days, "h": hours}


@register.filter
def share(part: int, whole: int) -> str:
    """`part` of `whole` as a whole percentage; an en dash for nothing."""
    if not whole:
        return NONE
    return f"{round(100 * part / whole)} %"


@register.filter
def stars(value: float | None) -> str:
    return NONE if value is None else f"{value:.2f}"
