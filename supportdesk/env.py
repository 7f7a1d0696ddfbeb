"""Reading configuration from the environment (12-factor). DATABASE_URL is read by dj-database-url;
REDIS_URL and REDIS_SENTINELS here (dj-database-url knows no Redis, and the Sentinel setup is
the desk's own: both the channel layer and the cache need it); S3_* (the uploaded files on an
object store, through django-storages) too."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

TRUE_WORDS = {"1", "true", "yes", "on"}
FALSE_WORDS = {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    word = raw.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ImproperlyConfigured(f"{name} must be one of {sorted(TRUE_WORDS | FALSE_WORDS)}")


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_days(name: str) -> int | None:
    """A whole number of days, at least 1; None when unset or empty (the feature is off).
    0 and negatives are refused rather than read as "off" or "now": for a retention period
    either would be a costly misreading."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    try:
        days = int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number of days, not {raw!r}") from None
    if days < 1:
        raise ImproperlyConfigured(f"{name} must be at least 1 (leave it empty to keep forever)")
    return days


def database_from_url(url: str, *, base_dir: Path) -> dict[str, Any]:
    """DATABASES["default"] from `postgres://user:pass@host:port/name?opt=val` or `sqlite:///path`.

    dj-database-url reads the URL (schemes, percent-encoding, IPv6 hosts, query options); the
    desk's own settings go on top. PostgreSQL gets Django's psycopg 3 connection pool
    (supportdesk.postgres: `pool=false` turns it off, `pool_max_size` sizes it) and a connect
    timeout; SQLite gets WAL and IMMEDIATE transactions, so the embedded default copes with
    daphne's threads and a second process. Anything else is refused.
    """
    try:
        parsed = dj_database_url.parse(url)
    except dj_database_url.UnknownSchemeError:
        parsed = {"ENGINE": ""}
    except dj_database_url.ParseError:
        # Not the URL in the message: it holds the password.
        raise ImproperlyConfigured(
            "DATABASE_URL is not a valid URL: is the port a number (at most 65535), and are"
            " @ : / # ? in the user name or password %-escaped?"
        ) from None
    engine = parsed["ENGINE"]
    if engine == "django.db.backends.sqlite3":
        # dj-database-url reads sqlite:// without a path as in memory: one database for each of
        # the server's threads, never migrated.
        if parsed["NAME"] == ":memory:":
            raise ImproperlyConfigured(
                "DATABASE_URL: SQLite needs a file, sqlite:///db.sqlite3 (in the project) or"
                " sqlite:////absolute/path.sqlite3"
            )
        # sqlite:///relative.sqlite3 -> relative to the project; sqlite:////abs/path -> absolute.
        name = Path(parsed["NAME"])
        return sqlite_database(name if name.is_absolute() else base_dir / name)
    if engine == "django.db.backends.postgresql":
        # dj-database-url types the values (digits -> int, true/false -> bool: psycopg sends each
        # as str(), Django reads server_side_binding only as a bool) and makes a key given twice
        # a list: the last one counts, as in any query string.
        options: dict[str, Any] = {
            key: value[-1] if isinstance(value, list) else value
            for key, value in (parsed.get("OPTIONS") or {}).items()
        }
        # A host that drops packets must not hold a connect for the system's minutes.
        options.setdefault("connect_timeout", 5)
        pool = _flag(options.pop("pool", True))
        max_size = int(options.pop("pool_max_size", 20))
        if pool:
            options["pool"] = {"min_size": 2, "max_size": max_size}
        return {
            "ENGINE": "supportdesk.postgres",  # Django's, with a pool that recovers on time
            "NAME": parsed["NAME"] or "postgres",
            "USER": parsed["USER"],
            "PASSWORD": parsed["PASSWORD"],
            "HOST": parsed["HOST"],
            "PORT": str(parsed["PORT"] or ""),
            "OPTIONS": options,
            "CONN_HEALTH_CHECKS": not pool,
        }
    scheme = urlsplit(url).scheme
    raise ImproperlyConfigured(
        f"DATABASE_URL scheme {scheme!r} is not supported: use postgres:// or sqlite:///"
    )


def _flag(value: object) -> bool:
    """A query option as dj-database-url leaves it (True/False, or the text as given)."""
    return value if isinstance(value, bool) else str(value).strip().lower() in TRUE_WORDS


SENTINEL_PORT = 26379
# Discovery asks each Sentinel in turn; one that is down must not stall it for the operating
# system's connect timeout (minutes) while the others could answer at once.
SENTINEL_TIMEOUTS = {"socket_connect_timeout": 1.0, "socket_timeout": 1.0}


def redis_sentinels(raw: str) -> list[tuple[str, int]]:
    """`REDIS_SENTINELS=host1:26379,host2,[::1]:26380` -> [(host, port), ...] (port 26379 when
    left out); empty -> [] (REDIS_URL names the Redis server itself)."""
    sentinels = []
    for item in (part.strip() for part in raw.split(",")):
        if not item:
            continue
        parts = urlsplit(f"//{item}")
        try:
            port = parts.port or SENTINEL_PORT
        except ValueError:
            port = None
        if not parts.hostname or port is None or parts.path:
            raise ImproperlyConfigured(f"REDIS_SENTINELS: {item!r} is not HOST or HOST:PORT")
        sentinels.append((parts.hostname, port))
    return sentinels


def redis_settings(
    url: str, *, sentinels: list[tuple[str, int]], sentinel_password: str = ""
) -> tuple[str | dict[str, Any], dict[str, Any]]:
    """The channel layer's `hosts` entry and the cache's OPTIONS for REDIS_URL.

    Without Sentinels: the URL itself, and no options. With Sentinels, REDIS_URL's host part
    is the name of the master set they watch (`redis://:password@mymaster/0`, as django-redis
    spells it), and both clients ask the Sentinels where the master is now, again after a
    failover. The password in the URL is the master's; `sentinel_password` the Sentinels'.
    """
    if not sentinels:
        return url, {}
    parts = urlsplit(url)
    if parts.scheme != "redis" or not parts.hostname:
        raise ImproperlyConfigured(
            "With REDIS_SENTINELS, REDIS_URL must be redis://[:PASSWORD@]MASTER_NAME[/DB]"
        )
    master = parts.hostname
    sentinel_kwargs: dict[str, Any] = dict(SENTINEL_TIMEOUTS)
    if sentinel_password:
        sentinel_kwargs["password"] = sentinel_password
    layer_host: dict[str, Any] = {
        "master_name": master,
        "sentinels": sentinels,
        "sentinel_kwargs": sentinel_kwargs,
        "db": int(parts.path.strip("/") or 0),
    }
    if parts.username:
        layer_host["username"] = unquote(parts.username)
    if parts.password:
        layer_host["password"] = unquote(parts.password)
    from redis.sentinel import Sentinel

    # Django's RedisCache builds its pool with pool_class.from_url(REDIS_URL, **OPTIONS): the
    # URL gives the db and password, the Sentinel pool replaces host and port by the master's.
    cache_options = {
        "pool_class": "redis.sentinel.SentinelConnectionPool",
        "service_name": master,
        "sentinel_manager": Sentinel(sentinels, sentinel_kwargs=sentinel_kwargs),
    }
    return layer_host, cache_options


def sqlite_database(path: Path) -> dict[str, Any]:
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": str(path),
        "OPTIONS": {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
        },
    }


S3_VARIABLES = (
    "S3_ENDPOINT_URL",
    "S3_REGION",
    "S3_ACCESS_KEY_ID",
    "S3_SECRET_ACCESS_KEY",
    "S3_PREFIX",
    "S3_ADDRESSING_STYLE",
)
S3_ADDRESSING_STYLES = ("auto", "path", "virtual")
# A stalled object store must not hold one of the few HTTP threads (SUPPORTDESK_HTTP_THREADS)
# for botocore's defaults: 60 s to connect, 60 s a read, five tries.
S3_TIMEOUTS = {"connect_timeout": 5, "read_timeout": 30, "retries": {"mode": "standard"}}


def s3_storage(environ: Mapping[str, str] = os.environ) -> dict[str, Any] | None:
    """STORAGES["default"] on an S3-compatible object store when S3_BUCKET is set (README,
    "Configuration"), else None: the local file system under MEDIA_ROOT.

    Objects are private (no ACL sent: the bucket's own, which must not be public; an ACL header
    is refused by AWS buckets with ACLs disabled and by several other stores), a name already
    taken is never overwritten, and nothing links to the store: downloads go through the desk's
    checking views (chat.attachments). Unset keys leave boto3 its own chain (AWS_* variables,
    an instance role). Any S3_* variable without S3_BUCKET is an error, not a silent fallback.
    """
    value = {name: environ.get(name, "").strip() for name in ("S3_BUCKET", *S3_VARIABLES)}
    bucket = value["S3_BUCKET"]
    if not bucket:
        if stray := [name for name in S3_VARIABLES if value[name]]:
            raise ImproperlyConfigured(
                f"{', '.join(stray)} set but S3_BUCKET is not: set S3_BUCKET to keep files in"
                " an object store, or unset them to keep files under MEDIA_ROOT"
            )
        return None
    if "/" in bucket:
        raise ImproperlyConfigured(
            "S3_BUCKET is a bucket's name alone; put a folder inside it in S3_PREFIX"
        )
    endpoint = value["S3_ENDPOINT_URL"]
    if endpoint:
        parts = urlsplit(endpoint)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ImproperlyConfigured(
                # Not the value in the message: a URL may carry a key.
                "S3_ENDPOINT_URL must be an http(s):// URL, such as https://minio.internal:9000"
            )
    style = value["S3_ADDRESSING_STYLE"].lower()
    if style and style not in S3_ADDRESSING_STYLES:
        raise ImproperlyConfigured(
            f"S3_ADDRESSING_STYLE must be one of {', '.join(S3_ADDRESSING_STYLES)}, not {style!r}"
        )
    if bool(value["S3_ACCESS_KEY_ID"]) != bool(value["S3_SECRET_ACCESS_KEY"]):
        raise ImproperlyConfigured(
            "S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together: set both, or neither"
            " (boto3's own chain: AWS_* variables, an instance role)"
        )
    from botocore.config import Config  # here: a desk on the file system never loads boto

    # boto3 1.36+ adds CRC checksums to every upload, which MinIO, Ceph, R2, B2 and others of
    # their age refuse; on AWS itself the default stays.
    checksums = dict.fromkeys(
        ("request_checksum_calculation", "response_checksum_validation"), "when_required"
    )
    config = Config(
        s3={"addressing_style": style} if style else None,
        **(checksums if endpoint else {}),
        **S3_TIMEOUTS,
    )
    options: dict[str, Any] = {
        "bucket_name": bucket,
        "endpoint_url": endpoint or None,
        "region_name": value["S3_REGION"] or None,
        "location": value["S3_PREFIX"].strip("/"),
        "default_acl": None,
        "file_overwrite": False,
        "querystring_auth": True,
        "client_config": config,
    }
    if value["S3_ACCESS_KEY_ID"]:
        options["access_key"] = value["S3_ACCESS_KEY_ID"]
        options["secret_key"] = value["S3_SECRET_ACCESS_KEY"]
    return {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": options}
