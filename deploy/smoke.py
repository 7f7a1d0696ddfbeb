"""Smoke test of the scale-out setup (docs/DEPLOY.md): two daphne processes behind nginx.

    .venv/bin/python deploy/smoke.py        # needs nginx (apt-get install nginx), PostgreSQL, Redis

What it does, everything under one scratch folder in /tmp and stopped by PID at the end:

1. A database of its own (`--database-url`, default `supportdesk_deploy`): created if missing,
   migrated, emptied of earlier runs' data; dropped at the end unless `--keep-database`.
2. `collectstatic` with STATIC_MANIFEST=1 into <scratch>/public/static, as in production.
3. Two daphne processes of the desk on one Redis (a CHANNEL_LAYER_PREFIX of its own), each with
   its own access log, so the run can tell which process served what.
4. nginx (Debian's, not the system service: its own nginx.conf, pid and logs) with
   deploy/nginx/supportdesk-plain-http.conf, which includes the production
   deploy/nginx/supportdesk-common.conf.
5. Checks, each printed as it passes:
   - the widget page loads through nginx, and its static files come from nginx itself (hashed
     names cached for a year, gzip), never from daphne;
   - a visitor's socket through nginx on one process receives an agent's reply posted through
     nginx that the *other* process handled (and the other way round);
   - SIGKILL of the process holding the visitor's socket: the socket reconnects through nginx to
     the other process and resumes; replies posted while it was down arrive, none is lost or
     shown twice, and every POST was answered (nginx skipped the dead process).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
from _common import (  # noqa: E402
    drop_postgres_database,
    ensure_postgres_database,
    free_port,
    widget_protocols,
)
from nginx_conf import nginx_command, plain_http_site, write_nginx_conf  # noqa: E402

CSRF = "C" * 32  # an unmasked CSRF secret: the same in the cookie and the header


# ---- Processes -----------------------------------------------------------------------------


def wait_for_http(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{what} did not answer {url} within 30 s")


@dataclass
class Daphne:
    name: str
    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def access_log(self) -> Path:
        return self.workdir / f"daphne-{self.name}.access.log"

    def start(self) -> None:
        log = (self.workdir / f"daphne-{self.name}.log").open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port),
             "--access-log", str(self.access_log), "supportdesk.asgi:application"],
            cwd=ROOT, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        wait_for_http(
            f"http://127.0.0.1:{self.port}/widget.js", self.process, f"daphne {self.name}"
        )

    def lines(self, needle: str) -> list[str]:
        if not self.access_log.exists():
            return []
        return [line for line in self.access_log.read_text().splitlines() if needle in line]

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def run_manage(env: dict[str, str], *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True
    )


def prepare_data(env: dict[str, str]) -> tuple[str, str]:
    """One inbox with one logged-in agent: (the inbox's public key, the agent's Cookie header)."""
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "DEBUG")})
    os.environ.update({k: env[k] for k in ("CHANNEL_LAYER_PREFIX", "HTTPS")})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connections
    from django.test import Client

    from agents.services import agent_create
    from chat.models import Inbox, Visitor

    Visitor.objects.all().delete()
    Inbox.objects.all().delete()
    get_user_model().objects.filter(username="smoke-agent").delete()
    inbox = Inbox.objects.create(name="Smoke", assignment=Inbox.Assignment.MANUAL)
    user = get_user_model().objects.create_user(username="smoke-agent")
    agent_create(user=user, display_name="Smoke Agent", inboxes=[inbox])
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
    public_key = inbox.public_key
    connections.close_all()
    return public_key, cookie


def stored_messages(conversation: int) -> list[str]:
    from chat.models import Message

    return list(
        Message.objects.filter(conversation_id=conversation)
        .order_by("seq")
        .values_list("body", flat=True)
    )


# ---- Clients -------------------------------------------------------------------------------


class Follower:
    """One socket through nginx following one conversation, as realtime/socket.js does: it keeps the
    highest seq it has, and when the socket closes it reconnects and resumes after it."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        conversation: int,
        cookie: str = "",
        token: str = "",
    ) -> None:
        self.session = session
        self.url = url
        self.protocols = widget_protocols(token) if token else []
        self.conversation = conversation
        self.headers = {"Origin": url.split("/ws/")[0].replace("ws://", "http://")}
        if cookie:
            self.headers["Cookie"] = cookie
        self.seq = 0
        self.arrivals: list[int] = []  # seqs of message elements, in arrival order
        self.html: list[str] = []
        self.connects = 0
        self.synced = asyncio.Event()
        self.closed = asyncio.Event()
        self.may_reconnect = asyncio.Event()  # cleared: stays down (to post while it is)
        self.may_reconnect.set()
        self.task = asyncio.create_task(self.run())

    async def run(self) -> None:
        mine = re.compile(rf'id="msg-{self.conversation}-(\d+)"')
        while True:
            try:
                async with self.session.ws_connect(
                    self.url, headers=self.headers, protocols=self.protocols
                ) as ws:
                    self.connects += 1
                    self.closed.clear()
                    await ws.send_json(
                        {"type": "resume", "conversation": self.conversation, "after": self.seq}
                    )
                    async for message in ws:
                        frame = json.loads(message.data)
                        if frame.get("conversation") != self.conversation:
                            continue
                        if frame["type"] == "html" and "seq" in frame:
                            self.arrivals += [int(s) for s in mine.findall(frame["html"])]
                            self.html.append(frame["html"])
                            self.seq = max(self.seq, frame["seq"])
                        elif frame["type"] == "synced":
                            self.synced.set()
            except aiohttp.ClientError:
                pass
            self.synced.clear()
            self.closed.set()
            await self.may_reconnect.wait()
            await asyncio.sleep(0.3)  # the reference client backs off longer; one retry suffices

    def has(self, text: str) -> bool:
        return any(text in html for html in self.html)

    async def wait_for(self, text: str, seconds: float = 10) -> None:
        deadline = time.monotonic() + seconds
        while not self.has(text):
            if time.monotonic() > deadline:
                raise AssertionError(f"{text!r} never arrived on {self.url}")
            await asyncio.sleep(0.02)


def ok(text: str) -> None:
    print(f"ok  {text}", flush=True)


def served_by(daphnes: list[Daphne], needle: str, before: dict[str, int]) -> Daphne:
    """The process whose access log gained a `needle` line since `before` (counts by name)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for daphne in daphnes:
            if len(daphne.lines(needle)) > before[daphne.name]:
                return daphne
        time.sleep(0.02)
    raise AssertionError(f"no daphne logged {needle!r}")


async def smoke(base: str, daphnes: list[Daphne], key: str, cookie: str) -> None:
    ws_base = base.replace("http://", "ws://")
    agent_headers = {"Cookie": cookie, "X-CSRFToken": CSRF, "Referer": base}
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        # -- The widget page and its static files, through nginx.
        async with session.get(f"{base}/widget/{key}/") as page:
            assert page.status == 200, page.status
            html = await page.text()
        assets = sorted(set(re.findall(r'(?:src|href)="(/static/[^"]+)"', html)))
        assert assets, "the widget page names no static files"
        for path in assets:
            async with session.get(base + path, headers={"Accept-Encoding": "gzip"}) as asset:
                assert asset.status == 200, (path, asset.status)
                assert asset.headers["Server"].startswith("nginx"), path
                cache = asset.headers.get("Cache-Control", "")
                assert re.search(r"\.[0-9a-f]{12}\.\w+$", path), f"{path}: not a hashed name"
                assert cache == "public, max-age=31536000, immutable", (path, cache)
                encoding = asset.headers.get("Content-Encoding")
                ok(f"{path}: 200 from nginx, Cache-Control {cache!r}, encoding {encoding}")
        assert not any(d.lines("/static/") for d in daphnes), "daphne served a static file"
        ok(f"widget page 200 through nginx; {len(assets)} static files, none from daphne")

        # -- A conversation, and one socket per side, both through nginx.
        async with session.post(f"{base}/widget/{key}/session") as response:
            token = (await response.json())["token"]
        visitor_headers = {"X-Visitor-Token": token}

        async def post(url: str, body: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
            data = {"body": body, "client_id": secrets.token_hex(16)}
            async with session.post(url, data=data, headers=headers) as response:
                await response.read()
                assert response.status == 201, (url, response.status)
                return response

        hello = await post(f"{base}/widget/{key}/messages", "Hello", visitor_headers)
        conversation = int(hello.headers["X-Conversation-Id"])
        claim_url = f"{base}/agents/conversations/{conversation}/claim"
        async with session.post(claim_url, headers=agent_headers) as response:
            assert response.status == 200, response.status
        reply_url = f"{base}/agents/conversations/{conversation}/messages"
        visitor_url = f"{base}/widget/{key}/messages"

        visitor = Follower(session, f"{ws_base}/ws/widget/{key}/", conversation, token=token)
        await asyncio.wait_for(visitor.synced.wait(), 10)
        agent = Follower(session, f"{ws_base}/ws/agents/", conversation, cookie)
        await asyncio.wait_for(agent.synced.wait(), 10)
        (visitor_on,) = [d for d in daphnes if d.lines("WSCONNECT /ws/widget/")]
        (agent_on,) = [d for d in daphnes if d.lines("WSCONNECT /ws/agents/")]
        ok(f"visitor socket on daphne {visitor_on.name}, agent socket on daphne {agent_on.name}")

        # -- Delivery across processes: a POST handled by one, a socket held by the other.
        async def across(url: str, headers: dict[str, str], to: Follower, held_by: Daphne) -> None:
            needle = f'"POST {url.removeprefix(base)}"'
            for attempt in range(1, 6):
                text = f"across {secrets.token_hex(4)}"
                before = {d.name: len(d.lines(needle)) for d in daphnes}
                await post(url, text, headers)
                handler = served_by(daphnes, needle, before)
                await to.wait_for(text)
                if handler is not held_by:
                    ok(
                        f"{text!r}: POST handled by daphne {handler.name}, delivered on the socket "
                        f"held by daphne {held_by.name} (attempt {attempt})"
                    )
                    return
            raise AssertionError("nginx never sent the POST to the other process")

        await across(reply_url, agent_headers, visitor, visitor_on)
        await across(visitor_url, visitor_headers, agent, agent_on)

        # -- One process dies: its sockets move to the other one and nothing is lost.
        survivor = next(d for d in daphnes if d is not visitor_on)
        connects = len(survivor.lines("WSCONNECT /ws/widget/"))
        visitor.may_reconnect.clear()
        visitor_on.kill()
        await asyncio.wait_for(visitor.closed.wait(), 10)
        ok(f"SIGKILL daphne {visitor_on.name}: the visitor's socket closed")
        while_down = [f"while down {i}" for i in range(1, 4)]
        for text in while_down:
            await post(reply_url, text, agent_headers)  # 201 each, or post() raises
        ok(f"{len(while_down)} replies posted through nginx while it was down, each answered 201")
        visitor.may_reconnect.set()
        await asyncio.wait_for(visitor.synced.wait(), 15)
        assert len(survivor.lines("WSCONNECT /ws/widget/")) > connects
        ok(f"visitor socket reconnected through nginx to daphne {survivor.name} and resumed")
        for text in while_down:
            await visitor.wait_for(text)
        await post(reply_url, "after the move", agent_headers)
        await visitor.wait_for("after the move")
        await post(visitor_url, "visitor after the move", visitor_headers)
        await agent.wait_for("visitor after the move")

        stored = await asyncio.to_thread(stored_messages, conversation)
        expected = list(range(1, len(stored) + 1))
        for side in (visitor, agent):
            assert sorted(side.arrivals) == expected, (side.url, side.arrivals, len(stored))
        ok(
            f"{len(stored)} messages stored; each arrived exactly once on both sockets "
            f"(visitor connects {visitor.connects}, agent connects {agent.connects})"
        )
        for side in (visitor, agent):
            side.task.cancel()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/supportdesk_deploy"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--keep-database", action="store_true")
    parser.add_argument("--keep-files", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    if not shutil.which("nginx"):
        sys.exit("nginx is not installed (Debian: apt-get install nginx)")

    workdir = Path(tempfile.mkdtemp(prefix="supportdesk-smoke-"))
    workdir.chmod(0o755)  # nginx's workers (user nobody) read the static files from here
    public = workdir / "public"
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "CHANNEL_LAYER_PREFIX": f"deploy-smoke-{secrets.token_hex(4)}",
        "SECRET_KEY": secrets.token_urlsafe(40),
        "DEBUG": "0",
        "ALLOWED_HOSTS": "127.0.0.1,localhost",
        "STATIC_MANIFEST": "1",
        "STATIC_ROOT": str(public / "static"),
        "SUPPORTDESK_TRUSTED_PROXIES": "1",
        "TRUST_X_FORWARDED_PROTO": "1",
        "HTTPS": "0",  # this variant is plain HTTP on 127.0.0.1
        "LOG_LEVEL": "WARNING",
    }
    print(f"scratch folder {workdir}", flush=True)
    ensure_postgres_database(args.database_url)
    daphnes = [Daphne(name, env, workdir) for name in ("A", "B")]
    nginx: subprocess.Popen[bytes] | None = None
    try:
        run_manage(env, "migrate", "--noinput")
        run_manage(env, "collectstatic", "--noinput")
        key, cookie = prepare_data(env)
        ok(f"database {args.database_url.rsplit('/', 1)[1]} migrated; collectstatic into {public}")
        for daphne in daphnes:
            daphne.start()
        ok(", ".join(f"daphne {d.name} pid {d.process.pid} on :{d.port}" for d in daphnes))
        listen = free_port()
        site = plain_http_site(listen=listen, upstream_ports=[d.port for d in daphnes], root=public)
        conf = write_nginx_conf(workdir / "nginx", site)
        subprocess.run([*nginx_command(conf), "-t", "-q"], check=True)
        nginx = subprocess.Popen([*nginx_command(conf), "-g", "daemon off;"])
        wait_for_http(f"http://127.0.0.1:{listen}/widget.js", nginx, "nginx")
        ok(f"nginx pid {nginx.pid} on :{listen} with {conf}")
        asyncio.run(smoke(f"http://127.0.0.1:{listen}", daphnes, key, cookie))
        refused = (conf.parent / "error.log").read_text().count("Connection refused")
        ok(f"nginx error.log: {refused} connection(s) to the dead process refused and retried")
        print("smoke test passed", flush=True)
    finally:
        if nginx and nginx.poll() is None:
            nginx.terminate()
            nginx.wait(10)
        for daphne in daphnes:
            daphne.stop()
        pids = [p.pid for p in (nginx, *(d.process for d in daphnes)) if p]
        print(f"stopped pids {pids}", flush=True)
        from django.db import connections

        connections.close_all()
        if not args.keep_database:
            drop_postgres_database(args.database_url)
        if not args.keep_files:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
