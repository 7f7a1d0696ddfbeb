"""Middleware of the desk's own."""

from __future__ import annotations

import codecs
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse


def multipart_as_utf8(
    get_response: Callable[[HttpRequest], HttpResponse],
) -> Callable[[HttpRequest], HttpResponse]:
    """Read multipart form fields as UTF-8, whatever charset the Content-Type names.

    Django decodes them with the codec named there, and one that is no text encoding
    (`charset=rot13`, `base64`, `idna`) raises LookupError or UnicodeError: a 500 for anyone who
    sends it, before any view runs (the CSRF check reads the form). Browsers do not name a
    charset for multipart bodies and the desk's pages are UTF-8. (Urlencoded bodies that name
    another charset Django itself refuses with 400.)
    """

    def middleware(request: HttpRequest) -> HttpResponse:
        named = request.encoding  # set from the Content-Type only if Python knows the codec
        if (
            request.content_type == "multipart/form-data"
            and named
            and codecs.lookup(named).name != "utf-8"
        ):
            request.encoding = "utf-8"
        return get_response(request)

    return middleware
