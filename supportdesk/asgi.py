"""ASGI entry point: HTTP through Django in one thread hop each, sockets through Channels.

Sockets must come from an allowed host (Origin check) and carry the session for agents; the
visitor socket authenticates with its token inside the consumer.
"""

from __future__ import annotations

import os

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
django.setup(set_prefix=False)

from supportdesk.postgres.base import serving  # noqa: E402

serving()  # this process serves: its queries get statement and lock timeouts

# Imported after Django is set up: consumers import models.
from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from agents.routing import websocket_urlpatterns as agent_routes  # noqa: E402
from chat.routing import websocket_urlpatterns as chat_routes  # noqa: E402
from supportdesk.handler import ThreadedHandler  # noqa: E402
from supportdesk.origins import AllowedHostsOriginValidator  # noqa: E402
from supportdesk.process import ServerProcess  # noqa: E402
from supportdesk.server import tune_daphne  # noqa: E402

tune_daphne()

application = ProtocolTypeRouter(
    {
        "http": ServerProcess(ThreadedHandler()),
        "websocket": ServerProcess(
            AllowedHostsOriginValidator(
                AuthMiddlewareStack(URLRouter([*chat_routes, *agent_routes]))
            )
        ),
    }
)
