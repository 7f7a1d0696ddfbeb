"""How the OpenAPI schema names the API's authentication (drf-spectacular extensions; loaded
by api.apps)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.TokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "sd_<prefix>_<secret>",
            "description": "An API token (README, 'API tokens'): read or write scope.",
        }


class SessionScheme(OpenApiAuthenticationExtension):
    target_class = "api.auth.AgentSessionAuthentication"
    name = "agentSession"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": "sessionid",
            "description": "A logged-in agent's session (the browsable docs); writes need the "
            "CSRF token (X-CSRFToken).",
        }


def path_ids_positive(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Ids in paths are positive integers: the URL patterns (`<int:pk>`) match digits only, so
    the schema says so (a client generating `-1` gets Django's own 404, not the API's)."""
    for path in result.get("paths", {}).values():
        for operation in path.values():
            for parameter in operation.get("parameters", []):
                schema = parameter.get("schema", {})
                if parameter.get("in") == "path" and schema.get("type") == "integer":
                    schema.update({"minimum": 1, "maximum": 2**63 - 1})
    return result
