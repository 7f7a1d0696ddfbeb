"""ASGI entry point: HTTP through Django, sockets through Channels' router.

Sockets must come from an allowed host (Origin check) and carry the session for agents; the
visitor socket authenticates with its token inside the consumer.
"""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
django_asgi_app = get_asgi_application()

# Imported after Django is set up: consumers import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents.routing import websocket_urlpatterns as agent_routes  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_routes  # noqa: E402
from supportdesk.origins import AllowedHostsOriginValidator  # noqa: E402
from supportdesk.stats import StatsReporting  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The first request or socket starts this process's stats sampling (supportdesk.stats).
        "http": StatsReporting(django_asgi_app),
        "websocket": StatsReporting(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([*chat_routes, *agent_routes]))
            )
        ),
    }
)
