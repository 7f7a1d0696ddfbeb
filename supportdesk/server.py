"""What the desk changes in daphne (the ASGI server), each change measured (docs/PERFORMANCE.md).

Applied by supportdesk.asgi when it is imported, which is what `daphne supportdesk.asgi:...`
does first; nothing changes when another server runs the application.

- **Twisted's form parsing off.** Twisted's HTTP request parses every urlencoded or multipart
  POST body into `request.args`, through the standard library's email parser for the
  Content-Type alone. daphne never reads `request.args`: it hands the raw body to the
  application, which parses it again. That parse was 5-7% of a busy process's event loop
  (every message is a POST). Twisted has the switch (`parsePOSTFormSubmission`, "this can use
  large amounts of memory for large uploads"); daphne does not set it, so this sets it for
  daphne's request class. Upstream, daphne's `HTTPFactory` should pass it.
"""

from __future__ import annotations

from typing import Any


def tune_daphne() -> None:
    """Daphne's request class without Twisted's form parsing (see above); idempotent."""
    try:
        from daphne import http_protocol
    except ImportError:  # another server: nothing to tune
        return
    if getattr(http_protocol.WebRequest, "parses_no_forms", False):
        return

    class WebRequest(http_protocol.WebRequest):
        parses_no_forms = True

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("parsePOSTFormSubmission", False)
            super().__init__(*args, **kwargs)

    # HTTPFactory.buildProtocol reads the module's name each time it makes a connection.
    http_protocol.WebRequest = WebRequest
