"""Browser-measured delivery time: from pressing Send on one side to the message appearing on
the other, in real Chromium, both directions.

    .venv/bin/python bench/browser_latency.py                       # SQLite + in-memory layer
    .venv/bin/python bench/browser_latency.py --samples 40 \\
        --database-url postgres://postgres@127.0.0.1:5432/supportdesk_bench \\
        --redis-url redis://127.0.0.1:6379/0                          # PostgreSQL + Redis

It starts its own daphne on a free port with demo data (a PostgreSQL database that does not exist
is created, and dropped afterwards), opens /demo/ as a visitor and /agents/ as the agent `demo`,
and times each message with the pages' own clocks (performance.timeOrigin + now(), one browser,
one clock): t0 when the sender's form is submitted, t1 when a MutationObserver on the receiver's
log sees the committed message. Playwright's own round trips are outside the interval.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import drop_postgres_database, ensure_postgres_database, free_port, percentile
from playwright.sync_api import Frame, Page, sync_playwright

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip

WATCH = """(logSelector) => {
  window.__arrivals = {};
  const log = document.querySelector(logSelector);
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const r of records) for (const n of r.addedNodes) {
      if (n.nodeType !== 1 || n.dataset.seq === undefined) continue;
      const text = n.querySelector('.msg__bubble')?.textContent;
      if (text && !(text in window.__arrivals)) window.__arrivals[text] = now;
    }
  }).observe(log, {childList: true});
}"""

SEND = """([formSelector, text]) => {
  const form = document.querySelector(formSelector);
  form.querySelector('textarea').value = text;
  const t0 = performance.timeOrigin + performance.now();
  form.requestSubmit();
  return t0;
}"""


def summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p90_ms": round(percentile(values, 0.9), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
    }


def measure(sender: Page | Frame, form: str, receiver: Page | Frame, text: str) -> float:
    t0 = sender.evaluate(SEND, [form, text])
    receiver.wait_for_function("(t) => t in window.__arrivals", arg=text, timeout=10_000)
    return receiver.evaluate("(t) => window.__arrivals[t]", text) - t0


def run(samples: int, database_url: str, redis_url: str) -> dict[str, object]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env={**env, "DEBUG": "1"}, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
         "supportdesk.asgi:application"],
        cwd=ROOT, env={**env, "DEBUG": "0"},
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{base}/widget.js", timeout=1)  # noqa: S310
                break
            except OSError:
                time.sleep(0.1)
        scratch = tempfile.mkdtemp(prefix="sd-bench-")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS,
                env={**os.environ, "HOME": scratch, "TMPDIR": scratch},
            )  # fmt: skip
            agent = browser.new_context().new_page()
            agent.goto(f"{base}/accounts/login/?next=/agents/")
            agent.get_by_label("Username").fill("demo")
            agent.get_by_label("Password").fill("demo")
            agent.get_by_role("button", name="Log in").click()
            agent.wait_for_selector('#connection-status[data-state="open"]')

            visitor = browser.new_context().new_page()
            visitor.goto(f"{base}/demo/")
            visitor.get_by_role("button", name="Open chat").click()
            chat = visitor.frame_locator('iframe[title="Chat"]')
            chat.get_by_role("textbox", name="Message").fill(f"bench start {secrets.token_hex(4)}")
            chat.get_by_role("button", name="Send").click()
            agent.locator("#list-waiting .row__link").first.click()
            agent.get_by_role("button", name="Claim").click()
            agent.wait_for_selector(".pane__header[data-status=active]")
            frame = next(f for f in visitor.frames if "/widget/" in f.url)
            frame.wait_for_selector('#connection-status[data-state="open"]')

            frame.evaluate(WATCH, ".log")
            agent.evaluate(WATCH, "#pane .log")
            to_agent, to_visitor = [], []
            for i in range(samples):
                to_agent.append(measure(frame, "#composer", agent, f"v{i} {secrets.token_hex(3)}"))
                to_visitor.append(
                    measure(agent, "#pane .composer", frame, f"a{i} {secrets.token_hex(3)}")
                )
            browser.close()
        return {
            "database": re.sub(r"//[^@/]*@", "//", database_url).split("?")[0],
            "channel_layer": "redis pub/sub" if redis_url else "in-memory",
            "visitor_to_agent": summary(to_agent),
            "agent_to_visitor": summary(to_visitor),
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=25, help="messages each way (default 25)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="", help="default: the in-memory channel layer")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sd-bench-db-") as tmp:
        database_url = args.database_url or f"sqlite:///{tmp}/bench.sqlite3"
        created = database_url.startswith("postgres") and ensure_postgres_database(database_url)
        try:
            result = run(args.samples, database_url, args.redis_url)
        finally:
            if created:
                drop_postgres_database(database_url)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
