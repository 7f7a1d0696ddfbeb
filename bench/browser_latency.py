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
page sees the stored message (an element with data-seq) anywhere inside the conversation's log.
Playwright's own round trips are outside the interval.

The last line printed is the result as one JSON object; `measure()` returns the same dict
(tests/browser/test_browser_latency.py runs a short measurement in the suite).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Frame, Page, sync_playwright

try:
    from _common import drop_postgres_database, ensure_postgres_database, free_port, percentile
except ImportError:  # imported as bench.browser_latency, from the repository's root
    from bench._common import (
        drop_postgres_database,
        ensure_postgres_database,
        free_port,
        percentile,
    )

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip
READY_TIMEOUT_MS = 20_000  # the desk and both pages up, the first message through
SAMPLE_TIMEOUT_MS = 10_000  # one message, send to screen

# The widget shows earlier conversations in logs of their own (.log--history): not this one.
VISITOR_LOG = '[role="log"]:not(.log--history)'
AGENT_LOG = '#pane [role="log"]'

# Watches the whole document, subtree included: the log may be replaced (the widget adopts its
# conversation) and a message may sit in an element nested inside it, not only a direct child.
# A message counts once it is stored (data-seq), whether inserted so or given the attribute later.
WATCH = """(logSelector) => {
  window.__arrivals = {};
  const note = (el, now) => {
    if (!el.isConnected || !el.closest(logSelector)) return;
    const text = el.querySelector('.msg__bubble')?.textContent.trim();
    if (text && !(text in window.__arrivals)) window.__arrivals[text] = now;
  };
  new MutationObserver((records) => {
    const now = performance.timeOrigin + performance.now();
    for (const r of records) {
      if (r.type === 'attributes') {
        if (r.target.matches('li.msg[data-seq]')) note(r.target, now);
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        if (n.matches('li.msg[data-seq]')) note(n, now);
        for (const m of n.querySelectorAll('li.msg[data-seq]')) note(m, now);
      }
    }
  }).observe(document.documentElement,
             {childList: true, subtree: true, attributes: true, attributeFilter: ['data-seq']});
}"""

# Where the time goes, on the same clock: when the sender's page put the message on its socket
# (a `send` frame) and when the receiver's page got the socket frame that carries it (before the
# page's own handler runs). Installed in every page and frame before their scripts.
FRAMES = """(() => {
  const stamp = () => performance.timeOrigin + performance.now();
  window.__frames = { sent: {}, got: [] };
  const Native = window.WebSocket;
  const send = Native.prototype.send;
  Native.prototype.send = function (data) {
    try {
      const frame = JSON.parse(data);
      const sent = window.__frames.sent;
      if (frame.type === "send" && !(frame.body in sent)) sent[frame.body] = stamp();
    } catch (_) { /* not JSON */ }
    return send.call(this, data);
  };
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        if (typeof event.data === "string" && event.data.includes("msg__bubble")) {
          window.__frames.got.push([stamp(), event.data]);
          if (window.__frames.got.length > 200) window.__frames.got.shift();
        }
      });
    }
  };
})();"""

SEND = """([formSelector, text]) => {
  const form = document.querySelector(formSelector);
  form.querySelector('textarea').value = text;
  const t0 = performance.timeOrigin + performance.now();
  form.requestSubmit();
  return t0;
}"""


def summary(values: list[float]) -> dict[str, Any]:
    return {
        "n": len(values),
        "median_ms": round(statistics.median(values), 1),
        "p90_ms": round(percentile(values, 0.9), 1),
        "p95_ms": round(percentile(values, 0.95), 1),
        "min_ms": round(min(values), 1),
        "max_ms": round(max(values), 1),
        "samples_ms": [round(v, 1) for v in values],
    }


STAGES = ("outbox", "server", "page")


def time_one(
    sender: Page | Frame, form: str, receiver: Page | Frame, text: str, stages: dict[str, list]
) -> float:
    """Milliseconds from submitting `text` in `form` on `sender` to its stored copy on
    `receiver` (whose page runs WATCH). Appends to `stages` the parts, where the pages saw
    them (FRAMES): `outbox` submit to the send frame leaving, `server` that to the receiver's
    socket getting the message (the desk, Redis, the network), `page` that to the message in
    the log (the receiving page's handler)."""
    t0 = sender.evaluate(SEND, [form, text])
    receiver.wait_for_function("(t) => t in window.__arrivals", arg=text, timeout=SAMPLE_TIMEOUT_MS)
    shown = receiver.evaluate("(t) => window.__arrivals[t]", text)
    sent = sender.evaluate("(t) => window.__frames.sent[t]", text)
    got = receiver.evaluate(
        "(t) => (window.__frames.got.find(([, data]) => data.includes(t)) || [null])[0]", text
    )
    if sent is not None and got is not None:
        for stage, ms in zip(STAGES, (sent - t0, got - sent, shown - got), strict=True):
            stages[stage].append(ms)
    return shown - t0


def stored(log: str, text: str) -> str:
    """A selector for the stored copy of the message `text` in `log`."""
    return f'{log} li.msg[data-seq]:has(.msg__bubble:text-is("{text}"))'


def start_desk(env: dict[str, str], base: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [sys.executable, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port),
         "supportdesk.asgi:application"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"daphne exited with {server.returncode}")
        try:
            with urllib.request.urlopen(f"{base}/widget.js", timeout=1) as response:  # noqa: S310
                if response.status == 200:
                    return server
        except OSError:
            time.sleep(0.1)
    stop_desk(server)
    raise RuntimeError("daphne did not answer within 30 s")


def stop_desk(server: subprocess.Popen[bytes]) -> None:
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)


def run(samples: int, database_url: str, redis_url: str) -> dict[str, Any]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "HTTPS": "0",  # plain http on 127.0.0.1
        # Redis keys (channel layer, rate-limit counters) of this run's own: another desk on
        # the same Redis reuses conversation ids.
        "CHANNEL_LAYER_PREFIX": f"sdbench-{secrets.token_hex(4)}",
        # One visitor sends every sample: the per-visitor limits (30 messages a minute) would
        # turn a long run into a measurement of Retry-After.
        "SUPPORTDESK_RATE_VISITOR": "100000/60",
        "SUPPORTDESK_RATE_VISITOR_MESSAGES": "100000/60",
        "SUPPORTDESK_RATE_SOCKET_FRAMES": "100000/10",
    }
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    subprocess.run([*manage, "seed_demo"], cwd=ROOT, env={**env, "DEBUG": "1"}, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    server = start_desk({**env, "DEBUG": "0", "SUPPORTDESK_DEMO_PAGE": "1"}, base, port)
    scratch = tempfile.mkdtemp(prefix="sd-bench-")  # Chromium's HOME: a short socket path
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS,
                env={**os.environ, "HOME": scratch, "TMPDIR": scratch},
            )  # fmt: skip
            try:
                to_agent, to_visitor, stages = exchange(browser, base, samples)
            finally:
                browser.close()
    finally:
        stop_desk(server)
        shutil.rmtree(scratch, ignore_errors=True)
    return {
        "database": re.sub(r"//[^@/]*@", "//", database_url).split("?")[0],
        "channel_layer": "redis pub/sub" if redis_url else "in-memory",
        "samples": samples,
        "visitor_to_agent": summary(to_agent),
        "agent_to_visitor": summary(to_visitor),
        # Medians of the parts (FRAMES), where the pages saw them; messages sent over HTTP
        # (no socket open) have no parts.
        "stages_median_ms": {
            direction: {
                stage: round(statistics.median(values), 1) if values else None
                for stage, values in parts.items()
            }
            for direction, parts in stages.items()
        },
    }


DIRECTIONS = ("visitor_to_agent", "agent_to_visitor")


def exchange(
    browser: Any, base: str, samples: int
) -> tuple[list[float], list[float], dict[str, dict[str, list[float]]]]:
    """Open both sides (as tests/browser/pages.py does), then time `samples` messages each way."""
    agent_context = browser.new_context()
    agent_context.add_init_script(FRAMES)
    agent_context.set_default_timeout(READY_TIMEOUT_MS)
    agent = agent_context.new_page()
    agent.goto(f"{base}/accounts/login/?next=/agents/")
    agent.get_by_label("Username").fill("demo")
    agent.get_by_label("Password").fill("demo")
    agent.get_by_role("button", name="Log in").click()
    # The status line's data-state says the socket is open (the widget's own line is empty,
    # hence hidden, while connected: attached, not visible).
    agent.wait_for_selector('#connection-status[data-state="open"]', state="attached")

    visitor_context = browser.new_context()
    visitor_context.add_init_script(FRAMES)
    visitor_context.set_default_timeout(READY_TIMEOUT_MS)
    visitor = visitor_context.new_page()
    visitor.goto(f"{base}/demo/")
    visitor.get_by_role("button", name="Open chat").click()
    chat = visitor.frame_locator('iframe[title="Chat"]')
    first = f"bench start {secrets.token_hex(4)}"
    chat.get_by_role("textbox", name="Message").fill(first)
    chat.get_by_role("button", name="Send", exact=True).click()
    frame = next(f for f in visitor.frames if "/widget/" in f.url)
    frame.wait_for_selector(stored(VISITOR_LOG, first), state="attached")

    # Seeded or earlier runs' chats may wait too: this run's is the one showing its message.
    agent.get_by_role("link", name=re.compile(re.escape(first))).click()
    agent.get_by_role("button", name="Claim", exact=True).click()
    agent.wait_for_selector(".pane__header[data-status=active]", state="attached")
    agent.wait_for_selector(stored(AGENT_LOG, first), state="attached")
    # Ready when the widget's socket is open and has delivered: the claim reaches the widget
    # only over the socket.
    frame.wait_for_selector('#connection-status[data-state="open"]', state="attached")
    frame.wait_for_selector('.chat-state[data-status="active"]', state="attached")

    frame.evaluate(WATCH, VISITOR_LOG)
    agent.evaluate(WATCH, AGENT_LOG)
    to_agent: list[float] = []
    to_visitor: list[float] = []
    stages: dict[str, dict[str, list[float]]] = {
        direction: {stage: [] for stage in STAGES} for direction in DIRECTIONS
    }
    for i in range(samples):
        to_agent.append(
            time_one(
                frame, "#composer", agent, f"v{i} {secrets.token_hex(3)}", stages[DIRECTIONS[0]]
            )
        )
        to_visitor.append(
            time_one(
                agent,
                "#pane .composer",
                frame,
                f"a{i} {secrets.token_hex(3)}",
                stages[DIRECTIONS[1]],
            )
        )
    return to_agent, to_visitor, stages


def measure(samples: int = 25, database_url: str = "", redis_url: str = "") -> dict[str, Any]:
    """Time `samples` messages each way on a desk of this call's own and return the result:
    per direction n, median_ms, p90_ms, p95_ms, min_ms, max_ms and samples_ms. Without
    `database_url`, a fresh SQLite file; a PostgreSQL database that does not exist is created
    and dropped afterwards. Without `redis_url`, the in-memory channel layer."""
    with tempfile.TemporaryDirectory(prefix="sd-bench-db-") as tmp:
        database_url = database_url or f"sqlite:///{tmp}/bench.sqlite3"
        created = database_url.startswith("postgres") and ensure_postgres_database(database_url)
        try:
            return run(samples, database_url, redis_url)
        finally:
            if created:
                drop_postgres_database(database_url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=25, help="messages each way (default 25)")
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    parser.add_argument("--redis-url", default="", help="default: the in-memory channel layer")
    args = parser.parse_args()
    if args.samples < 1:
        parser.error("--samples must be at least 1")

    result = measure(args.samples, args.database_url, args.redis_url)
    print(f"{result['database']}, {result['channel_layer']}, {args.samples} messages each way")
    for key, label in (
        ("visitor_to_agent", "visitor -> agent"),
        ("agent_to_visitor", "agent -> visitor"),
    ):
        s = result[key]
        print(
            f"  {label}: median {s['median_ms']} ms, p90 {s['p90_ms']}, p95 {s['p95_ms']},"
            f" min {s['min_ms']}, max {s['max_ms']};"
            f" parts (medians) {result['stages_median_ms'][key]}"
        )
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
