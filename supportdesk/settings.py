"""Settings for Supportdesk, read from the environment (see README "Configuration").

DATABASE_URL unset -> SQLite file in the project directory; set -> PostgreSQL (psycopg 3 pool).
REDIS_URL unset -> in-memory channel layer (one process only); set -> Redis pub/sub layer.
"""

from __future__ import annotations

import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from supportdesk.env import (
    database_from_url,
    env_bool,
    env_days,
    env_list,
    redis_sentinels,
    redis_settings,
    s3_storage,
    sqlite_database,
)
from supportdesk.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=False)

SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105

ALLOWED_HOSTS = env_list(
    "ALLOWED_HOSTS",
    ["localhost", "127.0.0.1", "[::1]", "testserver"] if DEBUG else [],
)
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "template_partials",
    # The REST API (api/): Django REST framework, its OpenAPI schema, Swagger UI's own files.
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "chat",
    "agents",
    "ops",
    "mail",
    "api",
    "webhooks",
    "bots",
]

MIDDLEWARE = [
    # First: every log line of the request carries its id (X-Request-ID in and out).
    "supportdesk.logs.request_id_middleware",
    "django.middleware.security.SecurityMiddleware",
    "supportdesk.middleware.multipart_as_utf8",  # before anything reads a form (CSRF)
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The visitor's browser language picks the widget's (Accept-Language); English otherwise.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "supportdesk.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "supportdesk.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            # {% partialdef %} / {% partial %} everywhere without {% load partials %}.
            "builtins": ["template_partials.templatetags.partials"],
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "supportdesk.context_processors.realtime",
                "supportdesk.context_processors.js_text",
            ],
        },
    },
]

ASGI_APPLICATION = "supportdesk.asgi.application"

DATABASE_URL = os.environ.get("DATABASE_URL", "")
DATABASES = {
    "default": (
        database_from_url(DATABASE_URL, base_dir=BASE_DIR)
        if DATABASE_URL
        else sqlite_database(BASE_DIR / "db.sqlite3")
    )
}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # A file (not pytest's in-memory default), so a daphne subprocess in the browser tests
    # sees what the test wrote.
    DATABASES["default"]["TEST"] = {"NAME": str(BASE_DIR / "test_db.sqlite3")}

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# PostgreSQL's pool (supportdesk.postgres; docs/OPERATIONS.md "Database outages"). A request or
# socket waits this long for a connection, then answers 503 with Retry-After (clients retry).
SUPPORTDESK_DB_POOL_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_DB_POOL_TIMEOUT_SECONDS", "5")
)
# After an outage the pool tries to reconnect at least this often (psycopg's own wait doubles
# without a bound: 52 s after a 75 s outage).
SUPPORTDESK_DB_RECONNECT_MAX_SECONDS = float(
    os.environ.get("SUPPORTDESK_DB_RECONNECT_MAX_SECONDS", "1")
)
# In the server (not in management commands): a statement may run this long, and wait this long
# for a lock (a row held by a stuck transaction), before it fails and the client retries. 0: no
# limit.
SUPPORTDESK_DB_STATEMENT_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_DB_STATEMENT_TIMEOUT_SECONDS", "30")
)
SUPPORTDESK_DB_LOCK_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_DB_LOCK_TIMEOUT_SECONDS", "5")
)

REDIS_URL = os.environ.get("REDIS_URL", "")
# With Redis Sentinel (docs/DEPLOY.md): REDIS_SENTINELS=host1:26379,host2:26379,host3:26379 and
# REDIS_URL=redis://[:password@]MASTER_NAME/0; REDIS_SENTINEL_PASSWORD if the Sentinels want one.
REDIS_LAYER_HOST, REDIS_CACHE_OPTIONS = redis_settings(
    REDIS_URL,
    sentinels=redis_sentinels(os.environ.get("REDIS_SENTINELS", "")),
    sentinel_password=os.environ.get("REDIS_SENTINEL_PASSWORD", ""),
)
if REDIS_URL:
    # Pub/sub layer: one PUBLISH per group_send and no group expiry. Redis is only a doorbell;
    # the database is the record (docs/PROTOCOL.md). channels-redis's own, minus its publish
    # lock and per-consumer decoding (supportdesk.layers).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "supportdesk.layers.RedisPubSubChannelLayer",
            # Desks (or test workers) sharing one Redis keep apart by prefix.
            "CONFIG": {
                "hosts": [REDIS_LAYER_HOST],
                "prefix": os.environ.get("CHANNEL_LAYER_PREFIX", "supportdesk"),
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# The cache holds rate-limit counters (supportdesk.ratelimit): in Redis, shared by every server
# process; without Redis, in each process's memory, never forgetting a live window
# (supportdesk.ratelimit.Windows: full, it refuses new ones; ~20 MB at most).
EMBEDDED_CACHE = {"BACKEND": "supportdesk.ratelimit.Windows", "OPTIONS": {"MAX_ENTRIES": 100_000}}
CACHES = {
    "default": (
        {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": os.environ.get("CHANNEL_LAYER_PREFIX", "supportdesk"),
            # Short timeouts: a Redis that stopped answering must not hang requests (the rate
            # limits let requests through without it) or the status page.
            "OPTIONS": {"socket_connect_timeout": 1.0, "socket_timeout": 1.0} | REDIS_CACHE_OPTIONS,
        }
        if REDIS_URL
        else EMBEDDED_CACHE
    )
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# The first loads an agent's profile with the user, in one query; ModelBackend stays for the
# sessions it signed in.
AUTHENTICATION_BACKENDS = [
    "agents.auth.AgentModelBackend",
    "django.contrib.auth.backends.ModelBackend",
]

# Django's database sessions, read in one plain statement (supportdesk.sessions).
SESSION_ENGINE = "supportdesk.sessions"

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "agents:dashboard"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("de", "Deutsch")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
# STATIC_MANIFEST=1 (production, after `collectstatic`): hashed, compressed, cached forever.
# Otherwise WhiteNoise serves straight from static/ (development, tests), no collectstatic needed.
STATIC_MANIFEST = env_bool("STATIC_MANIFEST", default=False)
STORAGES = {
    # Uploaded files (chat.attachments): under MEDIA_ROOT, or with S3_BUCKET set in an
    # S3-compatible object store (supportdesk.env.s3_storage: private objects, never linked to).
    "default": s3_storage() or {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "supportdesk.staticfiles.ModuleManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = not STATIC_MANIFEST

# The widget page is framed by customers' sites; every other page refuses framing.
X_FRAME_OPTIONS = "DENY"

# HTTPS (on by default unless DEBUG): cookies only over TLS. Redirecting plain HTTP is usually
# the proxy's job; SECURE_SSL_REDIRECT=1 makes the desk do it. Behind a TLS proxy, set
# TRUST_X_FORWARDED_PROTO=1 (the proxy must set X-Forwarded-Proto and strip a client's).
# HSTS is opt-in (SECURE_HSTS_SECONDS): once browsers have seen it, it is hard to undo.
HTTPS = env_bool("HTTPS", default=not DEBUG)
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = HTTPS
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=False)
if env_bool("TRUST_X_FORWARDED_PROTO", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", "0"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=False)
SESSION_COOKIE_HTTPONLY = True

# /demo/, a page embedding the widget as a customer's site would (the first inbox's): off in
# production unless asked for.
SUPPORTDESK_DEMO_PAGE = env_bool("SUPPORTDESK_DEMO_PAGE", default=DEBUG)

# Limits (see docs/PROTOCOL.md).
SUPPORTDESK_MAX_MESSAGE_LENGTH = int(os.environ.get("SUPPORTDESK_MAX_MESSAGE_LENGTH", "5000"))
# Attachments (chat.files, chat.attachments): at most this many bytes a file and files a
# message. Files lie under MEDIA_ROOT (the embedded default) or in the S3_BUCKET (STORAGES
# above) and are never served from a public URL: every download goes through a view that
# checks the viewer (docs/SECURITY.md).
SUPPORTDESK_UPLOAD_MAX_BYTES = int(
    os.environ.get("SUPPORTDESK_UPLOAD_MAX_BYTES", str(10 * 1024 * 1024))
)
SUPPORTDESK_UPLOAD_MAX_FILES = int(os.environ.get("SUPPORTDESK_UPLOAD_MAX_FILES", "5"))
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", BASE_DIR / "media"))
# How often clients ping their socket; a socket silent for 40% of that (at most 8 s) is dead.
SUPPORTDESK_HEARTBEAT_SECONDS = float(os.environ.get("SUPPORTDESK_HEARTBEAT_SECONDS", "20"))
# How often (at most) a socket checks, on a client's heartbeat, that it missed nothing.
# At most this often a ping makes the socket check itself against the database (a lost ring, the
# agent's session and inboxes). Each check is a few queries per socket: at 2,000 sockets, 15 s
# cost more than the messages did (docs/PERFORMANCE.md). A logout closes its sockets at once.
SUPPORTDESK_RESYNC_SECONDS = float(os.environ.get("SUPPORTDESK_RESYNC_SECONDS", "30"))
# Threads a process runs its sockets' database reads on (supportdesk.asyncdb); each holds a
# connection while it works, so keep it below the pool's size (DATABASE_URL pool_max_size, 20).
# More is not faster on 2 cores: 12 measured p50 229 ms where 6 gave 38 (docs/PERFORMANCE.md).
SUPPORTDESK_DB_THREADS = int(os.environ.get("SUPPORTDESK_DB_THREADS", "6"))
# HTTP requests run in one hop each on a pool of this many threads (supportdesk.handler); each
# holds a database connection while it works. With SUPPORTDESK_DB_THREADS, keep the sum below the
# pool's size (DATABASE_URL pool_max_size, 20).
SUPPORTDESK_HTTP_THREADS = int(os.environ.get("SUPPORTDESK_HTTP_THREADS", "8"))
# At most this many requests wait for a thread; more are answered 503 with Retry-After at once.
SUPPORTDESK_HTTP_QUEUE = int(os.environ.get("SUPPORTDESK_HTTP_QUEUE", "200"))
# After each wave of new sockets, move what is alive out of the cyclic collector's reach
# (supportdesk.hub.settle): full collections of thousands of sockets' objects paused the process.
SUPPORTDESK_GC_FREEZE = env_bool("SUPPORTDESK_GC_FREEZE", default=True)
# Presence: a dashboard tab that closed counts for this long (a reload does not flicker the
# agent offline); a tab whose server vanished counts until its last heartbeat is this old.
SUPPORTDESK_PRESENCE_GRACE_SECONDS = float(
    os.environ.get("SUPPORTDESK_PRESENCE_GRACE_SECONDS", "10")
)
SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_PRESENCE_TIMEOUT_SECONDS", str(SUPPORTDESK_HEARTBEAT_SECONDS * 2.5))
)
# Housekeeping (stale presence, auto-end, assignment catch-up) runs at most this often per
# server process, driven by dashboard heartbeats; `manage.py housekeeping` runs it from cron.
SUPPORTDESK_HOUSEKEEPING_SECONDS = float(os.environ.get("SUPPORTDESK_HOUSEKEEPING_SECONDS", "15"))
# Voice and video calls (chat.calls, docs/CALLS.md), for the inboxes whose admin switched them on.
# Media goes browser to browser; these servers help the two find a path. STUN: comma-separated
# stun: URLs (none: direct connections only, enough on one network). TURN: turn:/turns: URLs and
# coturn's static-auth-secret; browsers get credentials that expire after the TTL, never the
# secret. How long a call rings before it is missed: at most 45 s.
SUPPORTDESK_STUN_URLS = env_list("SUPPORTDESK_STUN_URLS", [])
SUPPORTDESK_TURN_URLS = env_list("SUPPORTDESK_TURN_URLS", [])
SUPPORTDESK_TURN_SECRET = os.environ.get("SUPPORTDESK_TURN_SECRET", "")
SUPPORTDESK_TURN_TTL_SECONDS = int(os.environ.get("SUPPORTDESK_TURN_TTL_SECONDS", "3600"))
SUPPORTDESK_CALL_RING_SECONDS = int(os.environ.get("SUPPORTDESK_CALL_RING_SECONDS", "45"))
if SUPPORTDESK_TURN_URLS and not SUPPORTDESK_TURN_SECRET:
    raise ImproperlyConfigured(
        "SUPPORTDESK_TURN_URLS is set but SUPPORTDESK_TURN_SECRET is not: browsers could not "
        "authenticate to the TURN server (docs/CALLS.md)."
    )
# Rate limits, "N/SECONDS", each overridable by SUPPORTDESK_RATE_<NAME> (README "Configuration").
SUPPORTDESK_RATE_LIMITS = {
    name: os.environ.get(f"SUPPORTDESK_RATE_{name.upper()}", default)
    for name, default in {
        "session_ip": "60/60",  # new visitor sessions per IP address
        "widget_ip": "600/60",  # widget API requests per IP address (many visitors behind a NAT)
        "visitor": "120/60",  # widget API requests per visitor
        "visitor_messages": "30/60",  # messages per visitor
        "visitor_uploads": "20/60",  # files uploaded per visitor
        "login": "5/300",  # failed logins per user name and IP address
        "login_ip": "30/300",  # failed logins per IP address, whatever the name
        "socket_ip": "120/60",  # socket connections opened per IP address
        "socket_frames": "60/10",  # frames per socket (typing, read, resume, ping)
        "agent_assist": "20/60",  # AI assist requests per agent (agents.assist)
        "api": "600/60",  # REST API requests per token (per agent by session; api.auth)
    }.items()
}
# Behind N proxies that append to X-Forwarded-For (nginx: $proxy_add_x_forwarded_for), N; the
# per-IP limits then count the address the outermost proxy saw. 0: the socket's peer address.
SUPPORTDESK_TRUSTED_PROXIES = int(os.environ.get("SUPPORTDESK_TRUSTED_PROXIES", "0"))
# Encryption at rest (supportdesk.crypto, docs/SECURITY.md): the master key that wraps the data
# keys (`manage.py generate_encryption_key`); unset, nothing is encrypted. The old keys, comma-
# separated, only during a rotation (`manage.py rotate_encryption_key`).
SUPPORTDESK_ENCRYPTION_KEY = os.environ.get("SUPPORTDESK_ENCRYPTION_KEY", "").strip()
SUPPORTDESK_ENCRYPTION_OLD_KEYS = env_list("SUPPORTDESK_ENCRYPTION_OLD_KEYS", [])
# How long a site's signature of its logged-in user is accepted (chat.identity).
SUPPORTDESK_IDENTITY_MAX_AGE_SECONDS = int(
    os.environ.get("SUPPORTDESK_IDENTITY_MAX_AGE_SECONDS", "600")
)
# A visitor's token is accepted this long after it was issued; the widget gets a fresh one when
# it opens its socket with one older than ROTATE_SECONDS (chat.tokens), so a visitor who comes
# back within the max age keeps their chat, and a copied token stops working at its max age.
SUPPORTDESK_VISITOR_TOKEN_MAX_AGE = int(
    os.environ.get("SUPPORTDESK_VISITOR_TOKEN_MAX_AGE", str(90 * 24 * 3600))
)
SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS = int(
    os.environ.get("SUPPORTDESK_VISITOR_TOKEN_ROTATE_SECONDS", str(24 * 3600))
)
# Retention: ended conversations older than this many days are deleted (with visitors left
# with none), hourly by housekeeping or by `manage.py purge_conversations`. Unset: keep forever.
SUPPORTDESK_RETENTION_DAYS = env_days("SUPPORTDESK_RETENTION_DAYS")

# Email (mail: notices, transcripts, visitors' replies; README "Email"). Django's SMTP settings
# from the environment; with DEBUG and no EMAIL_HOST, emails are printed on the console. They
# are sent from a queue in the database (mail.outbox), never from a request.
EMAIL_BACKEND = (
    "django.core.mail.backends.console.EmailBackend"
    if DEBUG and not os.environ.get("EMAIL_HOST")
    else "django.core.mail.backends.smtp.EmailBackend"
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", default=False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", default=False)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("Set EMAIL_USE_TLS (STARTTLS, port 587) or EMAIL_USE_SSL, not both")
EMAIL_TIMEOUT = float(os.environ.get("EMAIL_TIMEOUT", "10"))  # a dead server must not hang a run
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "webmaster@localhost")
# The desk's public address, for the links in emails (made where there is no request).
SUPPORTDESK_SITE_URL = os.environ.get(
    "SUPPORTDESK_SITE_URL", "http://127.0.0.1:8000" if DEBUG else ""
)
# Visitors' replies: LOCAL@DOMAIN, where the mail server takes LOCAL+anything@DOMAIN to the desk
# (docs/OPERATIONS.md, "Inbound email"); empty: emails have no reply address. The secret the
# mail server's requests carry; empty: inbound email is off.
SUPPORTDESK_MAIL_REPLY_ADDRESS = os.environ.get("SUPPORTDESK_MAIL_REPLY_ADDRESS", "")
SUPPORTDESK_MAIL_INBOUND_SECRET = os.environ.get("SUPPORTDESK_MAIL_INBOUND_SECRET", "")
# How long the link in a missed-replies email opens the chat.
SUPPORTDESK_MAIL_LINK_MAX_AGE = int(
    os.environ.get("SUPPORTDESK_MAIL_LINK_MAX_AGE", str(7 * 24 * 3600))
)

# Webhooks (webhooks/, docs/API.md "Webhooks"). Endpoints on loopback, private or link-local
# addresses are refused unless this is on AND the endpoint allows it (SSRF: docs/SECURITY.md).
SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE = env_bool("SUPPORTDESK_WEBHOOKS_ALLOW_PRIVATE", default=False)
# Each delivery attempt waits this long for the receiver (connect, and each read or write).
SUPPORTDESK_WEBHOOKS_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_WEBHOOKS_TIMEOUT_SECONDS", "10")
)
# Send right after the commit from a worker thread of the process (off: only housekeeping and
# `manage.py send_webhooks` send).
SUPPORTDESK_WEBHOOKS_SEND_AFTER_COMMIT = True

# AI assist (agents.assist, README "AI assist"): an OpenAI-compatible endpoint. Off unless the
# base URL (e.g. https://api.openai.com/v1, http://127.0.0.1:11434/v1 for Ollama) and the model
# are set; the key is optional for local servers. A request gets TIMEOUT_SECONDS in all.
SUPPORTDESK_AI_BASE_URL = os.environ.get("SUPPORTDESK_AI_BASE_URL", "").strip()
SUPPORTDESK_AI_MODEL = os.environ.get("SUPPORTDESK_AI_MODEL", "").strip()
SUPPORTDESK_AI_API_KEY = os.environ.get("SUPPORTDESK_AI_API_KEY", "").strip()
SUPPORTDESK_AI_TIMEOUT_SECONDS = float(os.environ.get("SUPPORTDESK_AI_TIMEOUT_SECONDS", "20"))

# The REST API (api/, docs/API.md): tokens or an agent's session, JSON only, one error shape.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "api.auth.TokenAuthentication",
        "api.auth.AgentSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["api.auth.AgentAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.errors.exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_THROTTLE_CLASSES": [],  # the desk's own limiter (supportdesk.ratelimit, "api")
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Supportdesk API",
    "DESCRIPTION": "The desk's REST API (docs/API.md). Send `Authorization: Bearer sd_...`.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "COMPONENT_SPLIT_REQUEST": True,
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "api.schema.path_ids_positive",
    ],
}

# Operations (docs/OPERATIONS.md). Each readiness check (/readyz, the status page) gets this long.
SUPPORTDESK_HEALTH_TIMEOUT_SECONDS = float(
    os.environ.get("SUPPORTDESK_HEALTH_TIMEOUT_SECONDS", "2")
)
# /metrics answers only `Authorization: Bearer <token>`; unset, /metrics is 404.
SUPPORTDESK_METRICS_TOKEN = os.environ.get("SUPPORTDESK_METRICS_TOKEN", "")
# How often each process samples its numbers and (with Redis) shares them for the status page.
SUPPORTDESK_STATS_SECONDS = float(os.environ.get("SUPPORTDESK_STATS_SECONDS", "5"))
# Probes and scrapes may come over plain HTTP from inside the network.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$", r"^metrics$"]

# Logs: one JSON object a line (production) or readable lines (development), each with the
# request's or socket's id (supportdesk.logs).
SUPPORTDESK_LOG_FORMAT = os.environ.get("SUPPORTDESK_LOG_FORMAT", "text" if DEBUG else "json")
LOGGING = logging_config(
    log_format=SUPPORTDESK_LOG_FORMAT, level=os.environ.get("LOG_LEVEL", "INFO")
)
