"""Bot tests: the webhook tests' receiver (a real HTTP server on 127.0.0.1, which needs private
addresses allowed), and their outbox sent when a test says so, not after every commit."""

from tests.webhooks.conftest import (  # noqa: F401 - fixtures
    private_allowed,
    receiver,
    send_only_when_told,
)
