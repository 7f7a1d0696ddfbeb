"""Load benchmark: the desk on PostgreSQL and Redis under many conversations, against a baseline.

    make bench                                    # 1,000 conversations, 100 messages/s, 60 s
    .venv/bin/python bench/load.py --conversations 200 --rate 50 --duration 20
    .venv/bin/python bench/load.py --processes 2 --idle 10000 --conversations 100 --rate 10
    .venv/bin/python bench/load.py --server uvicorn          # the same, served by uvicorn
    .venv/bin/python bench/load.py --find-ceiling --rate 50  # ramp: 50, 62, 78, ... msg/s
    .venv/bin/python bench/load.py --encryption ...          # encryption at rest on, a new key

What it does, on this machine, load generator included:

1. Creates (or reuses) its own PostgreSQL database (`--database-url`, default
   `supportdesk_load`), migrates it, and fills it with `--inboxes` inboxes of
   `--agents-per-inbox` agents each (logged in: real sessions).
2. Starts `--processes` server processes (daphne or uvicorn) of the desk on one Redis, with a
   channel-layer prefix of its own; clients are spread over the processes round robin, so most
   messages cross from one process to another through Redis.
3. Opens one visitor socket per conversation, starts each conversation (a visitor message, then
   the conversation's agent claims it) and opens one dashboard socket per conversation (an agent
   with several chats has one tab per chat, each following its chat). Agents of an inbox also
   get every list update of that inbox, as on a real dashboard. Plus `--idle` visitors with a
   socket open and nothing to say. Every socket pings every 20 s, as the pages do.
4. Sends `--rate` messages per second in total for `--duration` seconds, alternating visitor →
   agent and agent → visitor in each conversation, as the pages do: a `send` frame over the
   sender's open socket, answered by `ack` (`--send-over http`: a real HTTP POST each, the
   pages' fallback). Latency is from just before the send to the moment the other side's
   socket delivers a frame with that message (one clock: this process). Each message carries
   a unique marker, so the run counts messages lost (never arrived) and duplicated (arrived
   twice on the receiving socket).
5. Runs the same traffic against the baseline relay (bench/relay.py: same server, Channels and
   Redis layer; no database, no templates, no auth), sending the same way, and prints our
   figures as ratios of its.

With `--find-ceiling` the traffic instead starts at `--rate` and rises by `--ceiling-factor`
every `--step-duration` seconds on the same sockets, until a step's p99 passes 100 ms or a
message fails, is lost or doubled: the ceiling is the last rate carried, for each server.

The servers' CPU and memory are read with psutil: memory per connection is the growth of the
servers' resident memory from idle to all sockets open, divided by the number of sockets; CPU per
message is the servers' CPU time over the traffic divided by the messages sent. SQL statements
are the desk's own count (`supportdesk_sql_statements_total` at /metrics), less the scrapes'.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import itertools
import json
import os
import random
import re
import resource
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import psutil
from _common import ensure_postgres_database, free_port, percentile, widget_protocols

ROOT = Path(__file__).resolve().parents[1]
MARK = re.compile(r"bm\d{7}x")
HEARTBEAT_S = 20.0
CSRF = "B" * 32  # an unmasked CSRF secret: the same in the cookie and the header
UNLIMITED = "1000000000/60"
CONNECT_ATTEMPTS = 6
ANSWER_PREFIXES = ('{"type": "ack"', '{"type": "refused"', '{"type":"ack"')
ANSWER_TIMEOUT_S = 60.0  # as the POSTs' total timeout
CEILING_P99_MS = 100.0  # --find-ceiling: the highest rate whose p99 stays within this


# ---- Servers -------------------------------------------------------------------------------


@dataclass
class Server:
    kind: str  # daphne | uvicorn
    app: str  # module:attribute
    env: dict[str, str]
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        if self.kind == "daphne":
            cmd = [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(self.port)]
            cmd.append(self.app)
        else:
            cmd = [sys.executable, "-m", "uvicorn", self.app, "--host", "127.0.0.1"]
            cmd += ["--port", str(self.port), "--log-level", "warning", "--no-access-log"]
            cmd += ["--ws", "websockets", "--loop", "uvloop", "--http", "httptools"]
        log_path = Path(tempfile.gettempdir()) / f"bench-{self.kind}-{self.port}.log"
        log = log_path.open("ab")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                urllib.request.urlopen(f"{self.url}/widget.js", timeout=1)  # noqa: S310
                return
            except urllib.error.HTTPError:
                return  # answering (the relay has no such page)
            except OSError:
                time.sleep(0.2)
        raise RuntimeError(f"{self.kind} on {self.port} did not start: see its log in /tmp")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss if self.proc else 0

    def cpu_seconds(self) -> float:
        times = psutil.Process(self.proc.pid).cpu_times() if self.proc else None
        return times.user + times.system if times else 0.0


def server_env(args: argparse.Namespace, secret: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "REDIS_URL": args.redis_url,
        "SECRET_KEY": secret,
        "DEBUG": "0",
        "HTTPS": "0",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "WARNING",
        "CHANNEL_LAYER_PREFIX": f"bench-{secrets.token_hex(4)}",
    }
    # The benchmark is one address sending as fast as it is told: no rate limit applies.
    for name in ("SESSION_IP", "WIDGET_IP", "VISITOR", "VISITOR_MESSAGES", "SOCKET_IP"):
        env[f"SUPPORTDESK_RATE_{name}"] = UNLIMITED
    env["SUPPORTDESK_RATE_SOCKET_FRAMES"] = "1000000000/10"
    env["SUPPORTDESK_METRICS_TOKEN"] = args.metrics_token  # SQL statements, from /metrics
    # Encryption at rest (docs/SECURITY.md): on with --encryption (a key made for the run), off
    # otherwise, whatever the calling shell has.
    env["SUPPORTDESK_ENCRYPTION_KEY"] = args.encryption_key
    env.pop("SUPPORTDESK_ENCRYPTION_OLD_KEYS", None)
    return env


# ---- The desk's data -----------------------------------------------------------------------


@dataclass
class AgentLogin:
    agent_id: int
    cookie: str  # the Cookie header of a logged-in dashboard


def prepare_desk(args: argparse.Namespace, secret: str) -> list[tuple[str, list[AgentLogin]]]:
    """Inboxes (public key) with their logged-in agents, in a database of the benchmark's own."""
    ensure_postgres_database(args.database_url)
    os.environ.update(
        DATABASE_URL=args.database_url,
        REDIS_URL=args.redis_url,
        SECRET_KEY=secret,
        DEBUG="0",
        SUPPORTDESK_ENCRYPTION_KEY=args.encryption_key,
    )
    os.environ.pop("SUPPORTDESK_ENCRYPTION_OLD_KEYS", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.test import Client

    from agents.models import Agent
    from agents.services import agent_create
    from chat.models import DataKey, Inbox, Visitor
    from supportdesk import crypto

    call_command("migrate", verbosity=0)
    # A clean slate each run: earlier runs' inboxes (and with them their chats) go, and with
    # nothing encrypted left, the data keys of an earlier run's key (each --encryption run
    # makes its own key; a run without one must find no keys).
    Visitor.objects.all().delete()
    Inbox.objects.all().delete()
    DataKey.objects.all().delete()
    crypto.startup_check()  # this run's keys, made before the servers start
    get_user_model().objects.filter(username__startswith="bench-").delete()
    inboxes = []
    for i in range(args.inboxes):
        inbox = Inbox.objects.create(name=f"Bench {i}", assignment=Inbox.Assignment.MANUAL)
        logins = []
        for j in range(args.agents_per_inbox):
            user = get_user_model().objects.create_user(username=f"bench-{i}-{j}")
            agent = agent_create(user=user, display_name=f"Agent {i}.{j}", inboxes=[inbox])
            agent.capacity = 10_000
            agent.availability = Agent.Availability.ONLINE
            agent.save(update_fields=["capacity", "availability"])
            client = Client()
            client.force_login(user)
            cookie = f"sessionid={client.cookies['sessionid'].value}; csrftoken={CSRF}"
            logins.append(AgentLogin(agent.pk, cookie))
        inboxes.append((inbox.public_key, logins))
    from django.db import connections

    connections.close_all()
    return inboxes


# ---- Clients -------------------------------------------------------------------------------


@dataclass
class Conversation:
    index: int
    visitor_base: str  # the server the visitor's socket is on
    agent_base: str
    inbox_key: str = ""
    agent: AgentLogin | None = None
    token: str = ""
    conversation_id: int = 0
    turn: int = 0  # even: the visitor writes next
    sockets: dict[str, aiohttp.ClientWebSocketResponse] = field(default_factory=dict)  # by side


@dataclass
class Stats:
    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    pending: dict[str, tuple[float, str, int]] = field(default_factory=dict)  # marker -> t0, to
    arrived: set[str] = field(default_factory=set)
    duplicates: int = 0
    errors: list[str] = field(default_factory=list)
    retries: int = 0  # POSTs repeated after a broken connection (see Load.post)
    connect_retries: int = 0  # socket handshakes tried again while setting up
    sent: int = 0
    post_ms: list[float] = field(default_factory=list)  # send to its answer (POST or ack)

    def arrival(self, marker: str, side: str, key: int) -> None:
        entry = self.pending.get(marker)
        if entry is None or (entry[1], entry[2]) != (side, key):
            return  # the sender's own echo, or not ours
        if marker in self.arrived:
            self.duplicates += 1
            return
        self.arrived.add(marker)
        direction = "visitor→agent" if side == "agent" else "agent→visitor"
        self.latency[direction].append((time.perf_counter() - entry[0]) * 1000)


class Load:
    """One run's clients: the desk (`relay=False`) or the baseline relay."""

    def __init__(self, args: argparse.Namespace, bases: list[str], relay: bool) -> None:
        self.args = args
        self.bases = bases
        self.relay = relay
        self.stats = Stats()
        self.sockets: list[aiohttp.ClientWebSocketResponse] = []
        self.tasks: list[asyncio.Task[None]] = []
        self.counter = itertools.count()
        self.answers: dict[str, asyncio.Future[dict[str, Any]]] = {}  # client_id -> its answer
        self.session: aiohttp.ClientSession

    def base(self, n: int) -> str:
        return self.bases[n % len(self.bases)]

    async def socket(
        self,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        token: str = "",
        side: str = "",
        key: int = 0,
    ) -> aiohttp.ClientWebSocketResponse:
        origin = url.replace("ws://", "http://").split("/ws/")[0]
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                ws = await self.session.ws_connect(
                    url,
                    headers={"Origin": origin, **(headers or {})},
                    protocols=widget_protocols(token) if token else (),
                    heartbeat=None,
                    max_msg_size=0,
                )
                break
            except (aiohttp.ClientError, TimeoutError):
                # As the pages do (realtime/socket.js): a refused or dropped handshake is tried
                # again after a backoff. Counted and reported: setting up is not measured, but a
                # desk that drops handshakes is worth knowing about.
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                self.stats.connect_retries += 1
                await asyncio.sleep(0.5 * 2**attempt * (0.5 + random.random() / 2))
        self.sockets.append(ws)
        self.tasks.append(asyncio.create_task(self.read(ws, side, key)))
        return ws

    async def read(self, ws: aiohttp.ClientWebSocketResponse, side: str, key: int) -> None:
        async for message in ws:
            if message.type != aiohttp.WSMsgType.TEXT or not side:
                continue
            if message.data.startswith(ANSWER_PREFIXES):  # an ack or refusal of a `send`
                frame = json.loads(message.data)
                waiting = self.answers.pop(frame.get("client_id"), None)
                if waiting is not None and not waiting.done():
                    waiting.set_result(frame)
                continue
            if self.relay:
                for marker in MARK.findall(message.data):
                    self.stats.arrival(marker, side, key)
                continue
            frame = json.loads(message.data)
            # Only the conversation's own message frames: list rows repeat previews.
            # (A message frame carries the list row too, whose preview repeats the text: once.)
            if frame.get("type") == "html" and frame.get("conversation") == key:
                for marker in set(MARK.findall(frame["html"])):
                    self.stats.arrival(marker, side, key)
            elif frame.get("type") == "synced" and frame.get("conversation") == key:
                self.synced.setdefault(key, asyncio.Event()).set()

    async def heartbeats(self) -> None:
        """Every socket pings every 20 s (spread out), as the pages do."""
        while True:
            pause = HEARTBEAT_S / max(1, len(self.sockets))
            for ws in list(self.sockets):
                if not ws.closed:
                    await ws.send_str('{"type":"ping"}')
                await asyncio.sleep(pause)

    async def post(self, url: str, *, data: Any, headers: dict[str, str]) -> aiohttp.ClientResponse:
        """POST as the pages do: a connection that breaks (a kept-alive one the server closed
        just then) is retried, twice at most. Every POST here may be repeated: messages carry
        their client_id, and a new session or a repeated claim changes nothing measured."""
        for attempt in range(3):
            try:
                async with self.session.post(url, data=data, headers=headers) as response:
                    await response.read()
                    return response
            except (aiohttp.ClientOSError, aiohttp.ServerDisconnectedError):
                if attempt == 2:
                    raise
                self.stats.retries += 1
                await asyncio.sleep(0.1 * (attempt + 1))
        raise AssertionError("unreachable")

    # -- setting up --

    async def start_conversation(
        self, conv: Conversation, inbox_key: str, agent: AgentLogin
    ) -> None:
        conv.inbox_key, conv.agent = inbox_key, agent
        ws_visitor = conv.visitor_base.replace("http://", "ws://")
        ws_agent = conv.agent_base.replace("http://", "ws://")
        if self.relay:
            conv.sockets["visitor"] = await self.socket(
                f"{ws_visitor}/ws/v{conv.index}/", side="visitor", key=conv.index
            )
            # With --relay-fanout the relay's dashboards also hear their inbox, as the desk's do.
            inbox = f"?inbox={conv.index % self.args.inboxes}" if self.args.relay_fanout else ""
            conv.sockets["agent"] = await self.socket(
                f"{ws_agent}/ws/a{conv.index}/{inbox}", side="agent", key=conv.index
            )
            conv.conversation_id = conv.index
            return
        session = await self.post(
            f"{conv.visitor_base}/widget/{inbox_key}/session", data={}, headers={}
        )
        conv.token = (await session.json())["token"]
        hello = await self.post(
            f"{conv.visitor_base}/widget/{inbox_key}/messages",
            data={"body": "Hello", "client_id": secrets.token_hex(16)},
            headers={"X-Visitor-Token": conv.token},
        )
        conv.conversation_id = int(hello.headers["X-Conversation-Id"])
        claim = await self.post(
            f"{conv.agent_base}/agents/conversations/{conv.conversation_id}/claim",
            data={},
            headers=self.agent_headers(conv),
        )
        if claim.status != 200:
            raise RuntimeError(f"claim answered {claim.status}")
        key = conv.conversation_id
        widget = await self.socket(
            f"{ws_visitor}/ws/widget/{inbox_key}/", token=conv.token, side="visitor", key=key
        )
        conv.sockets["visitor"] = widget
        # As the widget does on every (re)connect: follow its chat from what its log shows.
        await widget.send_str(json.dumps({"type": "resume", "conversation": key, "after": 1}))
        tab = await self.socket(
            f"{ws_agent}/ws/agents/", headers={"Cookie": agent.cookie}, side="agent", key=key
        )
        conv.sockets["agent"] = tab
        self.synced.setdefault(key, asyncio.Event())
        await tab.send_str(json.dumps({"type": "resume", "conversation": key, "after": 0}))
        await asyncio.wait_for(self.synced[key].wait(), 30)

    def agent_headers(self, conv: Conversation) -> dict[str, str]:
        assert conv.agent is not None
        return {"Cookie": conv.agent.cookie, "X-CSRFToken": CSRF, "Referer": conv.agent_base}

    async def idle_visitor(self, n: int, inbox_key: str) -> None:
        base = self.base(n)
        if self.relay:
            await self.socket(f"{base.replace('http://', 'ws://')}/ws/idle{n}/")
            return
        session = await self.post(f"{base}/widget/{inbox_key}/session", data={}, headers={})
        token = (await session.json())["token"]
        await self.socket(f"{base.replace('http://', 'ws://')}/ws/widget/{inbox_key}/", token=token)

    # -- the measured traffic --

    async def send(self, conv: Conversation) -> None:
        marker = f"bm{next(self.counter):07d}x"
        visitor_writes = conv.turn % 2 == 0
        conv.turn += 1
        to = "agent" if visitor_writes else "visitor"
        self.stats.pending[marker] = (time.perf_counter(), to, conv.conversation_id)
        self.stats.sent += 1
        started = time.perf_counter()
        if self.args.send_over == "socket":
            error = await self.send_frame(conv, marker, visitor_writes)
        else:
            error = await self.send_post(conv, marker, visitor_writes)
        if error:
            self.stats.errors.append(error)
        self.stats.post_ms.append((time.perf_counter() - started) * 1000)

    async def send_frame(self, conv: Conversation, marker: str, visitor_writes: bool) -> str:
        """As the pages send while their socket is open: a `send` frame on the sender's own
        socket, then wait for its `ack`. An error's text, or ""."""
        client_id = str(uuid.uuid4())
        frame: dict[str, Any] = {"type": "send", "client_id": client_id}
        if self.relay:  # the relay rings the other side's room
            frame["room"] = f"a{conv.index}" if visitor_writes else f"v{conv.index}"
            frame["body"] = marker
            if self.args.relay_fanout:
                frame["inbox"] = conv.index % self.args.inboxes
        else:
            frame["body"] = f"Message {marker}"
            if not visitor_writes:
                frame["conversation"] = conv.conversation_id
        answer = asyncio.get_running_loop().create_future()
        self.answers[client_id] = answer
        ws = conv.sockets["visitor" if visitor_writes else "agent"]
        try:
            await ws.send_str(json.dumps(frame))
            reply = await asyncio.wait_for(answer, ANSWER_TIMEOUT_S)
        except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
            self.answers.pop(client_id, None)
            return f"{type(exc).__name__} sending over the socket"
        if reply["type"] != "ack":
            return f"refused {reply.get('status')} {reply.get('code')}"
        return ""

    async def send_post(self, conv: Conversation, marker: str, visitor_writes: bool) -> str:
        """The pages' fallback: a POST. An error's text, or ""."""
        body = {"body": f"Message {marker}", "client_id": secrets.token_hex(16)}
        # Sent to any process: the other side's socket may well be on another one.
        base = random.choice(self.bases)
        if self.relay:
            room = f"a{conv.index}" if visitor_writes else f"v{conv.index}"
            url, data, headers = f"{base}/send/{room}", marker, {}
        elif visitor_writes:
            url = f"{base}/widget/{conv.inbox_key}/messages"
            data, headers = body, {"X-Visitor-Token": conv.token}
        else:
            url = f"{base}/agents/conversations/{conv.conversation_id}/messages"
            data, headers = body, self.agent_headers(conv)
        try:
            response = await self.post(url, data=data, headers=headers)
        except (aiohttp.ClientError, TimeoutError) as exc:  # an overloaded desk: an error, shown
            return f"{type(exc).__name__} from {url}"
        return f"HTTP {response.status} from {url}" if response.status != 201 else ""

    async def run(
        self, inboxes: list[tuple[str, list[AgentLogin]]], servers: list[Server]
    ) -> dict[str, Any]:
        """Open the sockets, then send traffic: at `--rate` for `--duration`, or (with
        `--find-ceiling`) in steps of rising rate until one fails (`CeilingSteps`)."""
        args = self.args
        self.synced: dict[int, asyncio.Event] = {}
        self.servers = servers
        connector = aiohttp.TCPConnector(limit=0, force_close=False)
        timeout = aiohttp.ClientTimeout(total=60)
        label = "baseline relay" if self.relay else "desk"
        rss_idle = sum(s.rss() for s in servers)
        async with aiohttp.ClientSession(
            connector=connector, timeout=timeout, cookie_jar=aiohttp.DummyCookieJar()
        ) as self.session:
            conversations = [
                Conversation(i, self.base(2 * i), self.base(2 * i + 1))
                for i in range(args.conversations)
            ]
            setup_started = time.perf_counter()
            gate = asyncio.Semaphore(50)

            async def start(conv: Conversation) -> None:
                inbox_key, logins = inboxes[conv.index % len(inboxes)]
                agent = logins[(conv.index // len(inboxes)) % len(logins)]
                async with gate:
                    await self.start_conversation(conv, inbox_key, agent)

            async def idle(n: int) -> None:
                async with gate:
                    await self.idle_visitor(n, inboxes[n % len(inboxes)][0])

            await asyncio.gather(*(start(c) for c in conversations))
            await asyncio.gather(*(idle(n) for n in range(args.idle)))
            print(
                f"[{label}] {len(self.sockets)} sockets open on {len(servers)} process(es) "
                f"in {time.perf_counter() - setup_started:.1f} s "
                f"({self.stats.connect_retries} handshakes tried again)",
                flush=True,
            )
            # The generator's own collector must not pause the clock it measures with: its
            # sockets are long-lived (the desk does the same, supportdesk.hub.settle).
            gc.collect()
            gc.freeze()
            pinger = asyncio.create_task(self.heartbeats())
            await asyncio.sleep(2)  # settle
            rss_open = sum(s.rss() for s in servers)
            figures = {
                "label": label,
                "processes": len(servers),
                "sockets": len(self.sockets),
                "connect_retries": self.stats.connect_retries,
                "server_rss_mb": {
                    "idle": round(rss_idle / 2**20, 1),
                    "all_open": round(rss_open / 2**20, 1),
                },
                "kb_per_socket": round((rss_open - rss_idle) / 1024 / max(1, len(self.sockets)), 1),
            }
            if args.find_ceiling:
                steps = []
                for rate in ceiling_rates(args.rate, args.ceiling_factor, args.ceiling_max):
                    step = await self.traffic(conversations, label, rate, args.step_duration)
                    steps.append(step)
                    print(f"[{label}] step at {rate:g} msg/s: {verdict(step)}", flush=True)
                    if not passes(step):
                        break
                figures["steps"] = steps
                passed = [step for step in steps if passes(step)]
                figures["ceiling_messages_per_s"] = passed[-1]["rate"] if passed else 0
                figures |= passed[-1] if passed else steps[0]
            else:
                figures |= await self.traffic(conversations, label, args.rate, args.duration)
            pinger.cancel()
            figures["server_rss_mb"]["end"] = round(sum(s.rss() for s in servers) / 2**20, 1)
            for ws in self.sockets:
                await ws.close()
            for task in self.tasks:
                task.cancel()
        return figures

    async def traffic(
        self, conversations: list[Conversation], label: str, rate: float, duration: float
    ) -> dict[str, Any]:
        """`rate` messages a second for `duration` seconds over the open sockets, then up to 10 s
        for the last ones to arrive: the figures of that stretch alone."""
        self.stats = Stats(connect_retries=self.stats.connect_retries)
        statements_before = await self.sql_statements()
        cpu_before = sum(s.cpu_seconds() for s in self.servers)
        total = int(rate * duration)
        started = time.perf_counter()
        progress = asyncio.create_task(self.progress(label, started, total))
        sends = []
        for n in range(total):
            delay = started + n / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            sends.append(asyncio.create_task(self.send(conversations[n % len(conversations)])))
        await asyncio.gather(*sends)
        elapsed = time.perf_counter() - started
        drain_until = time.perf_counter() + 10
        while len(self.stats.arrived) < self.stats.sent - len(self.stats.errors):
            if time.perf_counter() > drain_until:
                break
            await asyncio.sleep(0.05)
        cpu = sum(s.cpu_seconds() for s in self.servers) - cpu_before
        wall = time.perf_counter() - started
        statements = await self.sql_statements() - statements_before
        progress.cancel()
        everything = [v for values in self.stats.latency.values() for v in values]
        failed_posts = len(self.stats.errors)
        return {
            "rate": rate,
            "sent": self.stats.sent,
            "messages_per_s": round(self.stats.sent / elapsed, 1),
            "errors": failed_posts,
            "error_examples": self.stats.errors[:5],
            "retries": self.stats.retries,
            "lost": self.stats.sent - failed_posts - len(self.stats.arrived),
            "duplicated": self.stats.duplicates,
            "latency_ms": {d: summary(v) for d, v in self.stats.latency.items()},
            "latency_all_ms": summary(everything),
            "send_over": self.args.send_over,
            "post_ms": summary(self.stats.post_ms),
            "server_cpu_percent_of_one_core": round(100 * cpu / wall, 1),
            "cpu_ms_per_message": round(1000 * cpu / max(1, self.stats.sent), 2),
            "sql_statements_per_s": None if self.relay else round(statements / wall, 1),
            "sql_statements_per_message": (
                None if self.relay else round(statements / max(1, self.stats.sent), 1)
            ),
        }

    async def sql_statements(self) -> float:
        """The statements the desk's processes sent so far (supportdesk_sql_statements), less
        what this scrape itself costs (its database gauges): measured as the difference of two
        scrapes in a row."""
        if self.relay:
            return 0.0
        total = 0.0
        for server in self.servers:
            first = await self.scrape_statements(server)
            second = await self.scrape_statements(server)
            total += first - (second - first)  # as if the first scrape had not happened
        return total

    async def scrape_statements(self, server: Server) -> float:
        headers = {"Authorization": f"Bearer {self.args.metrics_token}"}
        async with self.session.get(f"{server.url}/metrics", headers=headers) as response:
            text = await response.text()
        for line in text.splitlines():
            if line.startswith("supportdesk_sql_statements_total "):
                return float(line.split()[1])
        raise RuntimeError(f"no supportdesk_sql_statements_total at {server.url}/metrics")

    async def progress(self, label: str, started: float, total: int) -> None:
        seen = 0
        while True:
            await asyncio.sleep(1)
            recent = [v for values in self.stats.latency.values() for v in values][seen:]
            seen += len(recent)
            p99 = f"{percentile(recent, 0.99):.1f}" if recent else "-"
            print(
                f"[{label}] {time.perf_counter() - started:5.0f} s  sent {self.stats.sent}/{total}"
                f"  arrived {len(self.stats.arrived)}  errors {len(self.stats.errors)}"
                f"  duplicated {self.stats.duplicates}  last second p99 {p99} ms",
                flush=True,
            )


def summary(values: list[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 1),
        "p95": round(percentile(values, 0.95), 1),
        "p99": round(percentile(values, 0.99), 1),
        "max": round(max(values), 1),
    }


def ceiling_rates(start: float, factor: float, ceiling: float) -> Iterator[float]:
    rate = start
    while rate <= ceiling:
        yield round(rate)
        rate *= factor


def passes(step: dict[str, Any]) -> bool:
    """A rate is carried when nothing failed, nothing was lost or doubled, and p99 ≤ 100 ms."""
    p99 = step["latency_all_ms"].get("p99")
    return (
        not step["errors"]
        and not step["lost"]
        and not step["duplicated"]
        and p99 is not None
        and p99 <= CEILING_P99_MS
    )


def verdict(step: dict[str, Any]) -> str:
    figures = step["latency_all_ms"]
    return (
        f"{'carried' if passes(step) else 'FAILED'}: p50 {figures.get('p50')} ms, "
        f"p99 {figures.get('p99')} ms, errors {step['errors']}, lost {step['lost']}, "
        f"duplicated {step['duplicated']}, CPU {step['server_cpu_percent_of_one_core']}%"
    )


def measure(args: argparse.Namespace, *, relay: bool, inboxes: Any, secret: str) -> dict[str, Any]:
    env = server_env(args, secret)
    app = "relay:application" if relay else "supportdesk.asgi:application"
    if relay:
        env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "bench"), str(ROOT)])
    servers = [Server(args.server, app, env) for _ in range(args.processes)]
    try:
        for server in servers:
            server.start()
        return asyncio.run(Load(args, [s.url for s in servers], relay).run(inboxes, servers))
    finally:
        for server in servers:
            server.stop()


def report(ours: dict[str, Any] | None, base: dict[str, Any] | None) -> None:
    print()
    for result in filter(None, [ours, base]):
        print(
            f"== {result['label']}: {result['sockets']} sockets, {result['processes']} process(es)"
        )
        if "ceiling_messages_per_s" in result:
            print(f"   ceiling: {result['ceiling_messages_per_s']} messages/s carried; steps:")
            for step in result["steps"]:
                print(f"     {step['rate']:>6g} msg/s  {verdict(step)}")
            print("   at the ceiling:")
        for direction, figures in result["latency_ms"].items():
            print(f"   {direction:14} {figures}")
        print(f"   all            {result['latency_all_ms']}")
        print(f"   answered ({result['send_over']}) {result['post_ms']}")
        print(
            f"   {result['messages_per_s']} messages/s, errors {result['errors']} "
            f"(POSTs retried {result['retries']}), lost {result['lost']}, "
            f"duplicated {result['duplicated']}"
        )
        print(
            f"   server CPU {result['server_cpu_percent_of_one_core']}% of one core "
            f"({result['cpu_ms_per_message']} ms a message), memory {result['server_rss_mb']} MB, "
            f"{result['kb_per_socket']} KB per socket"
        )
        if result["sql_statements_per_s"] is not None:
            print(
                f"   SQL statements {result['sql_statements_per_s']} a second "
                f"({result['sql_statements_per_message']} a message)"
            )
    if base and ours:
        print("   desk / relay:")
        for name, ratio in ratios(ours, base).items():
            print(f"     {name:22} {ratio}")


def ratios(ours: dict[str, Any], base: dict[str, Any]) -> dict[str, float | None]:
    def ratio(a: float | None, b: float | None) -> float | None:
        return None if a is None or not b else round(a / b, 2)

    found: dict[str, float | None] = {}
    for q in ("p50", "p99"):
        found[f"latency {q}"] = ratio(
            ours["latency_all_ms"].get(q), max(0.01, base["latency_all_ms"].get(q) or 0)
        )
    found["server CPU"] = ratio(
        ours["server_cpu_percent_of_one_core"], base["server_cpu_percent_of_one_core"]
    )
    found["memory per socket"] = ratio(ours["kb_per_socket"], base["kb_per_socket"])
    if "ceiling_messages_per_s" in ours and "ceiling_messages_per_s" in base:
        found["ceiling"] = ratio(ours["ceiling_messages_per_s"], base["ceiling_messages_per_s"])
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/supportdesk_load"
    )
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--server", choices=["daphne", "uvicorn"], default="daphne")
    parser.add_argument("--processes", type=int, default=1)
    parser.add_argument("--conversations", type=int, default=1000)
    parser.add_argument("--inboxes", type=int, default=100)
    parser.add_argument("--agents-per-inbox", type=int, default=2)
    parser.add_argument("--idle", type=int, default=0, help="extra visitors, socket open, silent")
    parser.add_argument("--rate", type=float, default=100, help="messages per second, in total")
    parser.add_argument("--duration", type=float, default=60, help="seconds of traffic")
    parser.add_argument(
        "--find-ceiling",
        action="store_true",
        help="from --rate, raise the rate by --ceiling-factor every --step-duration seconds "
        "until p99 passes 100 ms or a message fails, is lost or doubled",
    )
    parser.add_argument("--ceiling-factor", type=float, default=1.25)
    parser.add_argument("--ceiling-max", type=float, default=5000)
    parser.add_argument("--step-duration", type=float, default=20)
    parser.add_argument(
        "--send-over",
        choices=["socket", "http"],
        default="socket",
        help="how messages are sent, by the desk's clients and the relay's alike: a `send` "
        "frame on the open socket (the pages' way) or a POST each (their fallback)",
    )
    parser.add_argument(
        "--relay-fanout",
        action="store_true",
        help="the relay also rings the message's inbox, whose dashboards each get a frame the "
        "size of a list row (the desk's fan-out); an extra baseline, not the issue's",
    )
    parser.add_argument(
        "--encryption",
        action="store_true",
        help="encryption at rest on: the servers get a SUPPORTDESK_ENCRYPTION_KEY made for the "
        "run (off without it, whatever the shell's environment says)",
    )
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--baseline-only", action="store_true", help="measure the relay alone")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))  # one descriptor per socket
    secret = secrets.token_urlsafe(32)
    args.metrics_token = secrets.token_urlsafe(16)
    # A fresh key, as `manage.py generate_encryption_key` prints it (32 random bytes).
    args.encryption_key = (
        base64.urlsafe_b64encode(secrets.token_bytes(32)).decode() if args.encryption else ""
    )
    inboxes = prepare_desk(args, secret)
    ours = (
        None if args.baseline_only else measure(args, relay=False, inboxes=inboxes, secret=secret)
    )
    base = None if args.no_baseline else measure(args, relay=True, inboxes=inboxes, secret=secret)
    report(ours, base)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "args": vars(args) | {"json": str(args.json), "metrics_token": "-"},
                    "desk": ours,
                    "relay": base,
                    "desk_over_relay": ratios(ours, base) if base and ours else None,
                },
                indent=2,
                default=str,
            )
        )


if __name__ == "__main__":
    main()
