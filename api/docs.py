"""The browsable API docs (Swagger UI, served from our own static files: no CDN), for agents
and for the people who write the customer's scripts."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

from supportdesk.csp import HEADER, POLICY

# The desk's policy, but Swagger UI sets inline styles (its scripts are our static files and
# the split view's script URL, so script-src stays 'self').
DOCS_POLICY = (
    POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    + "; frame-ancestors 'none'"
)


class SchemaDocs(SpectacularSwaggerSplitView):
    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response[HEADER] = DOCS_POLICY
        return response
