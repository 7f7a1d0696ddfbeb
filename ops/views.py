"""Operations endpoints: liveness, readiness, metrics, and the admins' status page.

/healthz and /readyz need no login and say nothing secret (a load balancer calls them);
/metrics wants the bearer token SUPPORTDESK_METRICS_TOKEN and is 404 without one configured;
the status page is the Django admin's (staff only). See docs/OPERATIONS.md.
"""

from __future__ import annotations

import hmac
import time

from asgiref.sync import async_to_sync
from django.conf import settings
from django.contrib import admin
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.translation import gettext
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ops.selectors import agent_statuses, conversations_by_status, queue_by_inbox
from supportdesk import health, metrics, stats


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers HTTP. Nothing else is checked (a dead database is no
    reason to restart the process)."""
    return JsonResponse({"status": "ok"})


@never_cache
@require_safe
async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when the database, Redis and the channel layer answer, else 503 with
    which one failed and how (a class name, never a message that could carry an address)."""
    result = await health.readiness()
    return JsonResponse(health.public(result), status=200 if result["status"] == "ok" else 503)


@never_cache
@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus text format, with `Authorization: Bearer <SUPPORTDESK_METRICS_TOKEN>`.
    Without a token configured the route does not exist (404): metrics are off."""
    token = settings.SUPPORTDESK_METRICS_TOKEN
    if not token:
        raise Http404("metrics are not enabled")
    given = request.headers.get("Authorization", "")
    if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        response = HttpResponse("unauthorized\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(metrics.REGISTRY), content_type=CONTENT_TYPE_LATEST)


def status_page(request: HttpRequest) -> HttpResponse:
    """The admins' live view (wrapped in admin_view in supportdesk.urls: staff only). Polled by
    htmx every few seconds for its body."""
    readiness = async_to_sync(health.readiness)()
    gathered = stats.gather()
    now = time.time()
    processes = [
        {
            **p,
            "uptime_seconds": now - p["started_at"],
            "age_seconds": max(0.0, now - p["at"]),
            "minute": stats.merge([p], 60),
        }
        for p in gathered["processes"]
    ]
    context = {
        **admin.site.each_context(request),
        "title": gettext("System status"),
        "readiness": readiness,
        "gathered": gathered,
        "processes": processes,
        "sockets": {
            kind: sum(p["sockets"].get(kind, 0) for p in gathered["processes"])
            for kind in metrics.SOCKET_KINDS
        },
        "minute": stats.merge(gathered["processes"], 60),
        "five": stats.merge(gathered["processes"], 300),
        "conversations": conversations_by_status(),
        "queues": queue_by_inbox(),
        "agents": agent_statuses(),
        "refresh_seconds": 5,
    }
    template = "admin/status.html#status" if request.htmx else "admin/status.html"
    return render(request, template, context)
