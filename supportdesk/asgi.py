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

import sys  # noqa: E402

from supportdesk.crypto import startup_check  # noqa: E402

# Keys that do not fit the database (a key table but no SUPPORTDESK_ENCRYPTION_KEY, or a key
# that unwraps none of it) stop the process here, before it serves ciphertext or plaintext.
# Not when pytest imports this module to collect tests: the test database does not exist yet
# (the check would open the connection pool on the real one); the tests call the check
# themselves, and the servers they start are processes of their own, which run it.
if "pytest" not in sys.modules:
    startup_check()

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
