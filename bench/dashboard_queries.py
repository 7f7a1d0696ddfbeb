"""Server time and SQL queries of the dashboard pages over a large desk.

    .venv/bin/python bench/dashboard_queries.py                  # 100,000 chats, 1,000,000 messages
    .venv/bin/python bench/dashboard_queries.py --repeat 200 --show-queries
    .venv/bin/python bench/dashboard_queries.py --open 1000 \\
        --database-url postgres://postgres@127.0.0.1:5432/supportdesk_bench_full  # full lists

It uses a PostgreSQL database of its own (default `supportdesk_bench` on 127.0.0.1:5432, user
postgres), creates it if missing, migrates it, and fills it with `manage.py generate_data` if it
holds no conversations (under two minutes for the default size; later runs reuse the data; drop
the database to start afresh). By default the desk has 80 open chats (20 agents, four each at
most); --open 1000 fills the admin's Waiting and Active lists to their limit of 200.

Then, in this process, through Django's test Client with DEBUG off, as a generated agent (of
the largest inbox) and as the generated admin-role agent, it times:

- the dashboard list, GET /agents/
- opening a conversation, GET /agents/conversations/ID/, as a whole page and as the htmx pane
  (HX-Request), for the longest conversation the agent may see and for an active one
- analytics (docs/ANALYTICS.md), GET /agents/analytics/ for the last 30 and 90 days, and its CSV
  per day and per agent for 30 days (the generated agent is given the chat.view_analytics
  permission); `--only analytics` times only these

Each page: warm-up requests, then --repeat timed ones (perf_counter around client.get: the whole
middleware stack, views, queries and template rendering; no network), reported as p50/p95/max in
ms, with this process's CPU time (p50: the part that other load on the machine cannot stretch,
PostgreSQL's own time left out), and the SQL queries of one request (CaptureQueriesContext).
--show-queries prints each query of that request with its EXPLAIN (ANALYZE, BUFFERS) plan.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from _common import ensure_postgres_database, percentile

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_URL = "postgres://postgres@127.0.0.1:5432/supportdesk_bench"


def setup(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.pop("REDIS_URL", None)  # pages only: nothing is published
    os.environ["DEBUG"] = "0"  # as in production: no query log, cached templates
    os.environ.setdefault("SECRET_KEY", "bench-only")
    os.environ["ALLOWED_HOSTS"] = "testserver"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "supportdesk.settings")
    import django

    django.setup()


def fill(conversations: int, messages: int, open_count: int | None) -> None:
    from django.core.management import call_command

    from chat.models import Conversation

    call_command("migrate", verbosity=0)
    if not Conversation.objects.exists():
        call_command(
            "generate_data", conversations=conversations, messages=messages, open_count=open_count
        )


def bench_agents() -> list[int]:
    """A generated agent of the busiest inbox, and the generated admin."""
    from django.db.models import Count

    from agents.generator import USERNAME_PREFIX
    from agents.models import Agent
    from chat.models import Inbox

    generated = Agent.objects.filter(user__username__startswith=USERNAME_PREFIX).order_by("pk")
    busiest = Inbox.objects.annotate(n=Count("conversations")).order_by("-n", "pk").first()
    agent = generated.filter(role=Agent.Role.AGENT, inboxes=busiest).first()
    admin = generated.filter(role=Agent.Role.ADMIN).first()
    if agent is not None:  # an agent sees analytics with the permission (docs/ANALYTICS.md)
        from django.contrib.auth.models import Permission

        agent.user.user_permissions.add(
            Permission.objects.get(codename="view_analytics", content_type__app_label="chat")
        )
    return [a.pk for a in (agent, admin) if a is not None]


def analytics_pages() -> list[tuple[str, str, dict[str, str]]]:
    from django.urls import reverse

    page, csv = reverse("agents:analytics"), reverse("agents:analytics_export")
    return [
        ("analytics 30 days", f"{page}?period=30", {}),
        ("analytics 90 days", f"{page}?period=90", {}),
        ("analytics CSV per day, 30 days", f"{csv}?period=30&rows=day", {}),
        ("analytics CSV per agent, 30 days", f"{csv}?period=30&rows=agent", {}),
    ]


def pages(agent_id: int, only: str | None = None) -> list[tuple[str, str, dict[str, str]]]:
    """(name, url, headers) of the pages to time for the agent."""
    from django.urls import reverse

    if only == "analytics":
        return analytics_pages()

    from agents.models import Agent
    from agents.selectors import conversations_for_agent

    agent = Agent.objects.get(pk=agent_id)
    visible = conversations_for_agent(agent)
    longest = visible.order_by("-last_seq", "pk").values_list("pk", "last_seq").first()
    active = visible.filter(status="active").order_by("-pk").values_list("pk", "last_seq").first()
    result = [("dashboard", reverse("agents:dashboard"), {})]
    for label, row in (("longest", longest), ("active", active)):
        if row is None:
            continue
        url = reverse("agents:conversation", args=[row[0]])
        result.append((f"conversation {label} ({row[1]} msgs) page", url, {}))
        result.append((f"conversation {label} ({row[1]} msgs) pane", url, {"HX-Request": "true"}))
    return result + analytics_pages()


def measure(
    agent_id: int, repeat: int, warmup: int, show_queries: bool, only: str | None = None
) -> list[dict[str, object]]:
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    from agents.models import Agent

    agent = Agent.objects.select_related("user").get(pk=agent_id)
    client = Client()
    client.force_login(agent.user)
    rows: list[dict[str, object]] = []
    for name, url, headers in pages(agent_id, only):
        for _ in range(warmup):
            assert client.get(url, headers=headers).status_code == 200, url
        times, cpu = [], []
        for _ in range(repeat):
            t0, c0 = time.perf_counter(), time.process_time()
            response = client.get(url, headers=headers)
            times.append((time.perf_counter() - t0) * 1000)
            cpu.append((time.process_time() - c0) * 1000)
            assert response.status_code == 200, url
        with CaptureQueriesContext(connection) as queries:
            client.get(url, headers=headers)
        rows.append({
            "role": agent.role,
            "page": name,
            "url": url,
            "p50_ms": round(percentile(times, 0.5), 1),
            "p95_ms": round(percentile(times, 0.95), 1),
            "max_ms": round(max(times), 1),
            "cpu_p50_ms": round(percentile(cpu, 0.5), 1),
            "queries": len(queries.captured_queries),
            "bytes": len(response.content),
        })  # fmt: skip
        if show_queries:
            print(f"\n{agent.role} {name}: {len(queries.captured_queries)} queries")
            for q in queries.captured_queries:
                print(f"\n{q['sql']}")
                with connection.cursor() as cursor:
                    cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS) {q['sql']}")
                    print("\n".join(f"    {line}" for (line,) in cursor.fetchall()))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEFAULT_URL)
    parser.add_argument("--conversations", type=int, default=100_000, help="if it must generate")
    parser.add_argument("--messages", type=int, default=1_000_000, help="if it must generate")
    parser.add_argument(
        "--open", type=int, help="open conversations, if it must generate (default: its own)"
    )
    parser.add_argument("--repeat", type=int, default=100, help="timed requests a page")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--show-queries", action="store_true")
    parser.add_argument("--only", choices=["analytics"], help="time only these pages")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON")
    args = parser.parse_args()
    if not args.database_url.startswith("postgres"):
        parser.error("--database-url must be a PostgreSQL URL")
    ensure_postgres_database(args.database_url)
    setup(args.database_url)
    fill(args.conversations, args.messages, args.open)

    load_before = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    rows = []
    for agent_id in bench_agents():
        rows.extend(measure(agent_id, args.repeat, args.warmup, args.show_queries, args.only))
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"\nload average before: {load_before}, after: {load}")
    print(f"{'role':6} {'page':42} {'p50':>7} {'p95':>7} {'max':>7} {'cpu p50':>7} {'queries':>7}")
    for r in rows:
        print(
            f"{r['role']:6} {r['page']:42} {r['p50_ms']:7.1f} {r['p95_ms']:7.1f}"
            f" {r['max_ms']:7.1f} {r['cpu_p50_ms']:7.1f} {r['queries']:7}"
        )


if __name__ == "__main__":
    main()
