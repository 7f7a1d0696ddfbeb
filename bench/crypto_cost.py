"""What encryption at rest costs a message in CPU, measured apart from everything else: the
body encrypted on the way in (AES-256-GCM), its blind-index tokens (HMAC-SHA256 per word) and
the body decrypted on the way out, for a typical chat message. `bench/load.py --encryption`
measures the whole desk with it; this says where that difference would come from.

    python bench/crypto_cost.py [--runs 20000]

It makes a key of its own and a throwaway SQLite database for the data keys; nothing else.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import timeit
from pathlib import Path

BODY = (
    "Hi, my order 4711 arrived yesterday but the charger is missing from the box. "
    "Could you send one, or should I return the whole thing? Thanks, Ada"
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20000)
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    scratch = tempfile.mkdtemp(prefix="sd-crypto-")
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "supportdesk.settings",
            "SECRET_KEY": os.environ.get("SECRET_KEY", "bench"),
            "DATABASE_URL": f"sqlite:///{scratch}/keys.sqlite3",
        }
    )
    os.environ.pop("REDIS_URL", None)
    from supportdesk import crypto  # before django.setup(): it reads no settings at import

    os.environ["SUPPORTDESK_ENCRYPTION_KEY"] = crypto.key_generate()
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    aad = "chat.Message.body"
    stored = crypto.encrypt_text(BODY, aad=aad)  # makes the data keys
    crypto.search_tokens(BODY)
    for name, run in [
        ("encrypt the body", lambda: crypto.encrypt_text(BODY, aad=aad)),
        ("blind-index tokens", lambda: crypto.search_tokens(BODY)),
        ("decrypt the body", lambda: crypto.decrypt_text(stored, aad=aad)),
    ]:
        seconds = min(timeit.repeat(run, number=args.runs, repeat=3)) / args.runs
        print(f"{name:22} {seconds * 1e6:7.1f} µs")
    print(f"({len(BODY)} characters, {len(crypto.words(BODY))} words; {args.runs} runs, best of 3)")


if __name__ == "__main__":
    main()
