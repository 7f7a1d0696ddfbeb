"""Content-Security-Policy for the desk's own pages: only our scripts and styles run.

Every script and stylesheet is a file under /static/ (no inline code, no `eval`: htmx runs with
`allowEval` off), so a message that slipped past escaping still could not run a script. The
widget page adds the inbox's embedding origins as `frame-ancestors` (chat.views.widget_page);
every other page may not be framed at all. The Django admin keeps Django's own headers: it is
not our markup, and it has inline styles of its own.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.urls import reverse

HEADER = "Content-Security-Policy"
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'"
)


def policy(*, frame_ancestors: str = "'none'") -> str:
    return f"{POLICY}; frame-ancestors {frame_ancestors}"


def csp_exempt(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """For a page that is not ours to lock down (the demo stands in for a customer's site)."""
    view.csp_exempt = True  # type: ignore[attr-defined]
    return view


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.admin_prefix = reverse("admin:index")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # The view is read from the resolver's match, not in a `process_view`: under ASGI,
        # Django calls each `process_view` through a thread hop of its own, on every request.
        match = getattr(request, "resolver_match", None)
        if (
            HEADER not in response
            and response.get("Content-Type", "").startswith("text/html")
            and not request.path.startswith(self.admin_prefix)
            and not getattr(match and match.func, "csp_exempt", False)
        ):
            response[HEADER] = policy()
        return response
