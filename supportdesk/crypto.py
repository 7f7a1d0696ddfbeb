"""Encryption at rest: envelope keys, authenticated encryption, a keyed blind index for search.

The master key (SUPPORTDESK_ENCRYPTION_KEY, 32 random bytes in URL-safe base64:
`manage.py generate_encryption_key`) never encrypts data itself. It wraps random data keys
(DEKs), stored wrapped in a table (chat.models.DataKey, reached through the `KeyStore` that chat
registers: the platform knows no app); a DEK encrypts the values. So rotating the master key
re-wraps a handful of rows, not every message (`manage.py rotate_encryption_key`).

Every value is AES-256-GCM with a random 96-bit nonce and the column's name as associated data
(`chat.Message.body`): a ciphertext copied into another column, or any bit of it changed, does
not authenticate and is refused (`Tampered`), never shown as garbage. A stored value names its
DEK: `enc1:<dek id>:<base64url(nonce | ciphertext | tag)>`, so plaintext written before
encryption was turned on and ciphertext can be told apart while `rotate_encryption_key` encrypts
the old rows. Files are the same in bytes: `enc1:<dek id>:` then nonce | ciphertext | tag.

The DEKs are unwrapped once per process and cached (`keyring`): no query per message. The
cache is rebuilt when the configured keys change (tests override settings) and when a value
names a DEK the cache does not know (another process made it, or a rotation did).

Search cannot look into ciphertext: `search_tokens` turns a text into HMAC-SHA256 tokens of its
normalized words, keyed by an index key that is itself a wrapped DEK (purpose "index"), so a
master-key rotation leaves the index valid. Words match; substrings, stems and phrases do not
(docs/SECURITY.md).

Without a master key nothing is encrypted and values are stored as they are; but a process
without the key refuses to start (`startup_check`), to read a ciphertext or to write a value
once the database holds DEKs: it would show ciphertext or silently store plaintext.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import os
import re
import secrets
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

PREFIX = "enc1:"
BYTES_PREFIX = PREFIX.encode()
NONCE_BYTES = 12
KEY_BYTES = 32
DATA, INDEX = "data", "index"  # a DEK's purpose
# The associated data of a wrapped DEK: a data key cannot pass for the index key or back.
WRAP_AAD = "supportdesk.datakey:{purpose}"
CIPHERTEXT = re.compile(r"enc1:(\d{1,18}):([A-Za-z0-9_-]+={0,2})\Z")
TOKEN_BYTES = 8  # 64 bits of HMAC per word: collisions are not a practical concern


class KeyProblem(ImproperlyConfigured):
    """The configured keys do not fit the database (missing, wrong, malformed): the process
    must not serve. Raised at start-up (`startup_check`) and on any use."""


class Tampered(Exception):
    """A value with the ciphertext prefix that does not decrypt: changed, truncated, moved from
    another column, or naming a DEK that does not exist."""


@dataclass(frozen=True)
class KeyRow:
    id: int
    purpose: str
    master_id: str
    wrapped: bytes
    retired: bool


class KeyStore(Protocol):
    """Where the wrapped DEKs live (chat.encryption registers one in its app's ready())."""

    def rows(self) -> list[KeyRow]: ...

    def create(self, *, purpose: str, master_id: str, wrapped: bytes) -> int: ...

    def any_exist(self) -> bool: ...

    def rewrap(self, *, id: int, old_master_id: str, master_id: str, wrapped: bytes) -> bool:
        """Replace a DEK's wrapping if `old_master_id` still wraps it; whether it did."""
        ...

    def retire_all_but(self, *, id: int) -> int: ...


_store: KeyStore | None = None


def store_register(store: KeyStore) -> None:
    global _store
    _store = store


def _the_store() -> KeyStore:
    if _store is None:
        raise ImproperlyConfigured("no key store is registered (the chat app registers it)")
    return _store


# -- master keys ----------------------------------------------------------------------------------


def key_generate() -> str:
    """A new master key as the environment takes it (URL-safe base64 of 32 random bytes)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode()


def key_parse(text: str, *, name: str = "SUPPORTDESK_ENCRYPTION_KEY") -> bytes:
    try:
        raw = base64.urlsafe_b64decode(text.strip().encode())
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != KEY_BYTES:
        raise KeyProblem(
            f"{name} must be 32 bytes in URL-safe base64 (44 characters, as "
            "`manage.py generate_encryption_key` prints), not a text of its own"
        )
    return raw


def key_id(master: bytes) -> str:
    """A short public name of a master key: which one wrapped a DEK. Reveals nothing of it."""
    return hmac.new(master, b"supportdesk master key id", hashlib.sha256).hexdigest()[:16]


def configured() -> tuple[str, tuple[str, ...]]:
    """The current master key's text ("" when unset) and the old ones', from the settings."""
    current = (getattr(settings, "SUPPORTDESK_ENCRYPTION_KEY", "") or "").strip()
    old = tuple(getattr(settings, "SUPPORTDESK_ENCRYPTION_OLD_KEYS", ()) or ())
    return current, old


def enabled() -> bool:
    return bool(configured()[0])


# -- the keyring ----------------------------------------------------------------------------------


@dataclass
class Keyring:
    master: bytes
    master_id: str
    data_keys: dict[int, AESGCM] = field(default_factory=dict)
    active_id: int = 0
    index_key: bytes = b""
    # Per DEK, the id of the master key that wraps it (rotation re-wraps those not current),
    # and the key itself (to wrap it again).
    wrapped_by: dict[int, str] = field(default_factory=dict)
    plain: dict[int, bytes] = field(default_factory=dict)
    purposes: dict[int, str] = field(default_factory=dict)
    retired: set[int] = field(default_factory=set)


_lock = threading.Lock()
_cached: tuple[tuple[str, tuple[str, ...]], Keyring] | None = None
# Without a key: whether the database holds DEKs (None: not asked yet). Asked once a process.
_keys_exist: bool | None = None


def keyring_reset() -> None:
    """Forget the cached keys (tests; after a rotation re-wrapped them)."""
    global _cached, _keys_exist
    with _lock:
        _cached = None
        _keys_exist = None


def keyring() -> Keyring:
    """The unwrapped DEKs of this process: loaded (and created, the first time) once.

    Precondition: a key is configured (`enabled()`). May query (and, the first time ever,
    insert into) the key table: call it first outside a transaction that may roll back
    (`startup_check` does, at process start)."""
    global _cached
    config = configured()
    cached = _cached
    if cached is not None and cached[0] == config:
        return cached[1]
    with _lock:
        if _cached is not None and _cached[0] == config:
            return _cached[1]
        ring = _load(config)
        _cached = (config, ring)
        return ring


def _load(config: tuple[str, tuple[str, ...]]) -> Keyring:
    current_text, old_texts = config
    if not current_text:
        raise KeyProblem("SUPPORTDESK_ENCRYPTION_KEY is not set")
    master = key_parse(current_text)
    masters = {key_id(master): master}
    for text in old_texts:
        old = key_parse(text, name="SUPPORTDESK_ENCRYPTION_OLD_KEYS")
        masters.setdefault(key_id(old), old)
    ring = Keyring(master=master, master_id=key_id(master))
    store = _the_store()
    rows = store.rows()
    for row in rows:
        wrapping = masters.get(row.master_id)
        if wrapping is None:
            raise KeyProblem(
                f"data key {row.id} is wrapped by master key {row.master_id}, which is neither "
                "SUPPORTDESK_ENCRYPTION_KEY nor one of SUPPORTDESK_ENCRYPTION_OLD_KEYS: the key "
                "is wrong, or the old key of an unfinished rotation is missing"
            )
        try:
            plain = unwrap(wrapping, row.wrapped, purpose=row.purpose)
        except Tampered:
            raise KeyProblem(
                f"data key {row.id} does not unwrap with master key {row.master_id}: the "
                "key table was changed"
            ) from None
        ring.wrapped_by[row.id] = row.master_id
        ring.plain[row.id] = plain
        ring.purposes[row.id] = row.purpose
        if row.purpose == INDEX:
            if not ring.index_key:  # the first one stays the index key: tokens stay stable
                ring.index_key = plain
        else:
            ring.data_keys[row.id] = AESGCM(plain)
            if row.retired:
                ring.retired.add(row.id)
            else:
                ring.active_id = max(ring.active_id, row.id)
    if ring.active_id and ring.index_key:
        return ring
    if not ring.active_id:
        _create(store, ring, DATA)
    if not ring.index_key:
        _create(store, ring, INDEX)
    # Read back: two processes starting at once on a new database each made keys, and all must
    # agree on one index key (the first) or their search tokens would differ.
    return _load(config)


def _create(store: KeyStore, ring: Keyring, purpose: str) -> int:
    plain = secrets.token_bytes(KEY_BYTES)
    pk = store.create(
        purpose=purpose, master_id=ring.master_id, wrapped=wrap(ring.master, plain, purpose=purpose)
    )
    ring.wrapped_by[pk] = ring.master_id
    ring.plain[pk] = plain
    ring.purposes[pk] = purpose
    if purpose == INDEX:
        ring.index_key = plain
    else:
        ring.data_keys[pk] = AESGCM(plain)
    logger.info("encryption: created %s key %s", purpose, pk)
    return pk


def wrap(master: bytes, plain: bytes, *, purpose: str) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    aad = WRAP_AAD.format(purpose=purpose).encode()
    return nonce + AESGCM(master).encrypt(nonce, plain, aad)


def unwrap(master: bytes, wrapped: bytes, *, purpose: str) -> bytes:
    aad = WRAP_AAD.format(purpose=purpose).encode()
    try:
        return AESGCM(master).decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], aad)
    except InvalidTag:
        raise Tampered("a wrapped data key does not authenticate") from None


def _data_key(ring: Keyring, dek_id: int, what: str) -> AESGCM:
    key = ring.data_keys.get(dek_id)
    if key is None:  # made by another process since this one loaded, or by a rotation
        keyring_reset()
        ring = keyring()
        key = ring.data_keys.get(dek_id)
    if key is None:
        raise Tampered(f"{what}: names data key {dek_id}, which does not exist")
    return key


def keys_rewrap() -> int:
    """Wrap every DEK with the current master key (a rotation's first step): those wrapped by
    an old key (SUPPORTDESK_ENCRYPTION_OLD_KEYS) get the current one. Repeats until none is
    left, so a DEK made meanwhile by a process still on the old key is wrapped too. Each DEK is
    one compare-and-set UPDATE: safe while the desk runs. Returns how many it re-wrapped."""
    done = 0
    for _ in range(10):
        keyring_reset()
        ring = keyring()
        stale = [pk for pk, by in ring.wrapped_by.items() if by != ring.master_id]
        if not stale:
            return done
        for pk in stale:
            wrapped = wrap(ring.master, ring.plain[pk], purpose=ring.purposes[pk])
            done += _the_store().rewrap(
                id=pk, old_master_id=ring.wrapped_by[pk], master_id=ring.master_id, wrapped=wrapped
            )
    raise KeyProblem("data keys wrapped by an old master key keep appearing: is a process on it?")


def data_key_new() -> int:
    """A new active data key; every other data key retired (still decrypts, no longer
    encrypts in processes that load their keys after this). Returns its id."""
    keyring_reset()
    ring = keyring()
    pk = _create(_the_store(), ring, DATA)
    _the_store().retire_all_but(id=pk)
    keyring_reset()
    return pk


def retired_data_keys() -> set[int]:
    return set(keyring().retired)


# -- values ---------------------------------------------------------------------------------------


def is_encrypted(value: str | bytes) -> bool:
    if isinstance(value, bytes):
        return value.startswith(BYTES_PREFIX)
    return value.startswith(PREFIX)


def encrypt_text(value: str, *, aad: str) -> str:
    """`value` encrypted with the active DEK; "" stays "" (an empty field says nothing, and
    `field=""` keeps working in SQL). Without a key: `value` itself, unless the database holds
    keys (then KeyProblem: no silent plaintext)."""
    if not value:
        return value
    if not enabled():
        _refuse_without_key()
        return value
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.data_keys[ring.active_id].encrypt(nonce, value.encode(), aad.encode())
    encoded = base64.urlsafe_b64encode(nonce + sealed).decode()
    return f"{PREFIX}{ring.active_id}:{encoded}"


def decrypt_text(value: str, *, aad: str) -> str:
    """The plaintext of a stored value; a value without the prefix is plaintext stored before
    encryption (returned as it is). `Tampered` if it does not authenticate."""
    if not value or not value.startswith(PREFIX):
        return value
    if not enabled():
        # A visitor may type "enc1:..." into a desk without a key: that is text. A desk whose
        # database holds keys must not run without one (it would show the ciphertext).
        _refuse_without_key()
        return value
    match = CIPHERTEXT.match(value)
    if match is None:
        raise Tampered(f"{aad}: a value with the ciphertext prefix is malformed")
    dek_id = int(match.group(1))
    key = _data_key(keyring(), dek_id, aad)
    try:
        raw = base64.urlsafe_b64decode(match.group(2))
        plain = key.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], aad.encode())
    except (InvalidTag, ValueError, binascii.Error):
        raise Tampered(
            f"{aad}: the ciphertext does not authenticate (changed, or moved from another column)"
        ) from None
    return plain.decode()


def dek_of(value: str | bytes) -> int | None:
    """The DEK id a stored value names; None for plaintext."""
    if isinstance(value, bytes):
        if not value.startswith(BYTES_PREFIX):
            return None
        head = value[len(BYTES_PREFIX) : len(BYTES_PREFIX) + 20].split(b":", 1)[0]
        return int(head) if head.isdigit() else None
    match = CIPHERTEXT.match(value)
    return int(match.group(1)) if match else None


def encrypt_bytes(content: bytes, *, aad: str) -> bytes:
    """A file's content encrypted (`enc1:<dek id>:` nonce | ciphertext | tag); as it is without
    a key (unless the database holds keys: KeyProblem)."""
    if not enabled():
        _refuse_without_key()
        return content
    ring = keyring()
    nonce = os.urandom(NONCE_BYTES)
    sealed = ring.data_keys[ring.active_id].encrypt(nonce, content, aad.encode())
    return BYTES_PREFIX + str(ring.active_id).encode() + b":" + nonce + sealed


def decrypt_bytes(content: bytes, *, aad: str) -> bytes:
    """A stored file's content; a file stored before encryption is returned as it is."""
    if not content.startswith(BYTES_PREFIX):
        return content
    if not enabled():
        _refuse_without_key()
        return content
    head, sep, rest = content[len(BYTES_PREFIX) :].partition(b":")
    if not sep or not head.isdigit() or len(head) > 18:
        raise Tampered(f"{aad}: a file with the ciphertext prefix is malformed")
    key = _data_key(keyring(), int(head), aad)
    try:
        return key.decrypt(rest[:NONCE_BYTES], rest[NONCE_BYTES:], aad.encode())
    except InvalidTag:
        raise Tampered(
            f"{aad}: the file does not authenticate (changed, or moved from another file)"
        ) from None


# Without a key, whether the key table has rows is asked again at most this often: a process
# with a key may create the first keys while this one runs (a deployment half switched over),
# and this one must then stop serving; but not on every probe or write (a readiness probe
# during a database outage would wait on it beside the database check itself).
KEYS_RECHECK_SECONDS = 30.0
_keys_checked_at = 0.0


def _keys_exist_now() -> bool:
    global _keys_exist, _keys_checked_at
    now = time.monotonic()
    if _keys_exist is None or now - _keys_checked_at > KEYS_RECHECK_SECONDS:
        _keys_exist = _the_store().any_exist()
        _keys_checked_at = now
    return _keys_exist


def _refuse_without_key() -> None:
    if _keys_exist_now():
        raise KeyProblem(
            "the database holds encryption keys but SUPPORTDESK_ENCRYPTION_KEY is not set: "
            "refusing to show ciphertext or store plaintext"
        )


# -- the blind index ------------------------------------------------------------------------------

WORD = re.compile(r"\w+")
# Hex digits as letters, so PostgreSQL's text-search parser reads a token as one plain word.
_LETTERS = str.maketrans("0123456789abcdef", "abcdefghijklmnop")


def words(text: str) -> list[str]:
    """The normalized words of a text, as the index and the query both see them: Unicode
    compatibility form, case folded, runs of letters and digits."""
    return WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def word_token(word: str, *, key: bytes) -> str:
    digest = hmac.new(key, word.encode(), hashlib.sha256).digest()[:TOKEN_BYTES]
    return digest.hex().translate(_LETTERS)


def search_tokens(text: str) -> str:
    """The blind index of a text: its distinct words' tokens, space-separated and padded with
    spaces (a LIKE '% token %' finds a whole token). "" without a key or without words."""
    if not text or not enabled():
        return ""
    key = keyring().index_key
    tokens = dict.fromkeys(word_token(w, key=key) for w in words(text))
    return f" {' '.join(tokens)} " if tokens else ""


def value_token(text: str) -> str:
    """One token of a whole value, case folded (an exact look-up: a visitor's email); "" without
    a key or for "". Equal tokens are candidates: the caller compares the decrypted values."""
    if not text or not enabled():
        return ""
    normalized = unicodedata.normalize("NFKC", text).strip().casefold()
    return word_token(normalized, key=keyring().index_key)


def query_tokens(query: str, *, limit: int = 8) -> list[str]:
    """The tokens of a search query's words (at most `limit`), for matching `search_tokens`."""
    key = keyring().index_key
    return list(dict.fromkeys(word_token(w, key=key) for w in words(query)))[:limit]


# -- start-up and readiness -----------------------------------------------------------------------


def check() -> str:
    """Whether the configured keys fit the database: "ok", or "not configured" when no key is
    set and the database holds none. KeyProblem otherwise. Without a key it asks the key table
    at most every KEYS_RECHECK_SECONDS (a process with the key may have made keys since: this
    one must not serve then); with one, the keys this process unwrapped answer, else it loads
    them (one query)."""
    if not enabled():
        if _keys_exist_now():
            raise KeyProblem(
                "the database holds encryption keys but SUPPORTDESK_ENCRYPTION_KEY is not set"
            )
        return "not configured"
    keyring()
    return "ok"


def startup_check() -> None:
    """At process start: raise ImproperlyConfigured (KeyProblem) if the keys do not fit the
    database, before the process serves anything; creates the first DEKs on a new database.
    A database that cannot be reached (or may not be: a test importing the ASGI module) is
    logged, not raised: the process starts, /readyz names the failing check, and the first use
    of a key checks again (and refuses)."""
    try:
        status = check()
    except KeyProblem:
        raise
    except Exception as exc:  # the database, not the keys: checked again on first use
        logger.warning("encryption: keys not checked at start-up: %s", exc)
        keyring_reset()
        return
    finally:
        from django.db import connection

        if not connection.in_atomic_block:  # this thread serves nothing: back to the pool
            connection.close()
    logger.info("encryption: %s", "on" if status == "ok" else "off")
