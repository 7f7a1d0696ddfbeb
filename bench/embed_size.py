"""How many bytes a customer's page pays for the chat before anyone opens it.

    .venv/bin/python bench/embed_size.py

Prints the embed script's size as served (`/widget.js`) and gzipped (as a proxy with gzip on
sends it). The widget page itself loads inside the iframe, after the host page's `load` event.
"""

from __future__ import annotations

import gzip
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
os.environ.setdefault("DEBUG", "1")

import django

django.setup()

from django.test import Client  # noqa: E402


def main() -> None:
    body = Client().get("/widget.js").content
    print(f"/widget.js: {len(body):,} bytes, {len(gzip.compress(body, 9)):,} bytes gzipped")


if __name__ == "__main__":
    main()
