"""`{% avatar name photo_url %}`: a person's face wherever one is shown (the widget, the
dashboard's lists): their photo, or their initials on their colour (chat.faces). Load with
`{% load faces %}`."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString

from chat.faces import face_colour, initials

register = template.Library()


@register.simple_tag
def avatar(name: str, photo_url: str = "", size: str = "md", label: bool = False) -> SafeString:
    """A round face of `size` ("sm" 24 px, "md" 28 px, "lg" 40 px: app.css `.face--<size>`).
    Decorative (the name is said next to it) unless `label`, when it is an image named by it.
    Colours are classes, not style attributes: the pages' Content-Security-Policy forbids those."""
    name = name or ""
    if photo_url:
        return format_html(
            '<img class="face face--{} face--photo" src="{}" alt="{}" loading="lazy">',
            size,
            photo_url,
            name if label else "",
        )
    if label:
        return format_html(
            '<span class="face face--{} face--c{}" role="img" aria-label="{}">{}</span>',
            size,
            face_colour(name),
            name,
            initials(name),
        )
    return format_html(
        '<span class="face face--{} face--c{}" aria-hidden="true">{}</span>',
        size,
        face_colour(name),
        initials(name),
    )


@register.filter
def face_class(name: str) -> str:
    """The colour class of a name's initials (`face--c3`)."""
    return f"face--c{face_colour(name or '')}"


register.filter("face_initials", initials)
