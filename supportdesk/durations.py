"""Durations as people say them, in the active language: "45 s", "3 min 20 s", "2 h 5 min".

One formatter for every place that shows a length of time: the analytics page's figures and a
call's line in the timeline (chat.calls), so "3 min 12 s" reads the same everywhere.
"""

from __future__ import annotations

from django.utils.translation import gettext as _


def spoken_duration(seconds: float) -> str:
    """45 s, 3 min 20 s, 10 min, 2 h 5 min, 3 d 4 h (rounded to the second)."""
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
