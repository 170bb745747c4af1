"""Gateway API keys: create, list and revoke them (``mlstack gateway keys``); check them.

A key reads ``mlsk_<key id>_<secret>``. The key id (12 hex characters) names the key in
lists, access logs and revocations; the secret is 32 random bytes (``secrets``, URL-safe
base64). Only the SHA-256 of the whole key is stored (table ``gateway_keys``): the key is
high-entropy, so a plain hash is enough, and it is compared in constant time. Each key is
scoped to use cases (or ``*``) and to ``predict`` and/or ``feedback``, and may expire.

:class:`KeyRing` holds every key in memory and re-reads the table in a background thread
when its copy is older than ``ttl_s`` (a revocation takes effect within that), so a
request with a known key never waits on the database; a header it has verified once is
not parsed and hashed again until the next re-read. A well-formed key whose id is not in
memory (one created since the last read) makes the ring re-read the table off the event
loop before refusing it, so a new key works on its first request; such re-reads are
shared by concurrent requests and at least ``MISS_GAP_S`` apart, so keys guessed at
random cost at most a few queries a second. :class:`RateLimiter` is a token bucket per
key id (per worker process).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from mlstack import store
from mlstack.exceptions import ApiKeyError
from mlstack.settings import Settings

log = logging.getLogger(__name__)

PREFIX = "mlsk_"
SCOPES = ("predict", "feedback")
EVERY_USECASE = "*"
_KEY = re.compile(r"mlsk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})")
#: the least time between two re-reads for keys not in memory (per worker process)
MISS_GAP_S = 0.5
#: PostgreSQL's SQLSTATE for "permission denied"
INSUFFICIENT_PRIVILEGE = "42501"


def sha256(key: str) -> str:
    """The stored form of a key."""
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class Refusal:
    """Why a request is refused: HTTP status, a metric reason, and what to fix."""

    status: int
    reason: str
    detail: str


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never the key itself: its SHA-256)."""

    key_id: str
    name: str
    key_sha256: str
    usecases: tuple[str, ...]
    scopes: tuple[str, ...]
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> ApiKey:
        """A key from a ``gateway_keys`` row (as a mapping)."""
        return cls(
            row["key_id"],
            row["name"],
            row["key_sha256"],
            tuple(row["usecases"]),
            tuple(row["scopes"]),
            row["created_by"],
            _aware(row["created_at"]),
            _aware(row["expires_at"]) if row["expires_at"] else None,
            _aware(row["revoked_at"]) if row["revoked_at"] else None,
        )

    def state(self, now: datetime) -> str:
        """``active``, ``expired`` or ``revoked``."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "expired"
        return "active"

    def refusal(self, usecase: str, scope: str | None, now: datetime) -> Refusal | None:
        """Why this (authentic) key may not make the request, or None when it may.

        ``scope`` None: a read, allowed with either scope; ``usecase`` ``*``: the list of
        use cases, allowed with any key.
        """
        state = self.state(now)
        if state == "revoked":
            return Refusal(401, "revoked", f"API key {self.key_id} was revoked; ask for a new one")
        if state == "expired":
            assert self.expires_at is not None
            when = self.expires_at.isoformat(timespec="seconds")
            return Refusal(401, "expired", f"API key {self.key_id} expired at {when}")
        if usecase != EVERY_USECASE and usecase not in self.usecases:
            if EVERY_USECASE in self.usecases:
                return self._scope_refusal(scope)
            return Refusal(
                403,
                "usecase",
                f"API key {self.key_id} is not valid for use case {usecase!r}; it is for "
                f"{sorted(self.usecases)}: use a key created with --usecase {usecase}",
            )
        return self._scope_refusal(scope)

    def _scope_refusal(self, scope: str | None) -> Refusal | None:
        if scope is not None and scope not in self.scopes:
            return Refusal(
                403,
                "scope",
                f"API key {self.key_id} may {' and '.join(self.scopes)} but not {scope}: "
                f"use a key created with --scope {scope}",
            )
        return None


def _aware(t: datetime) -> datetime:
    return t if t.tzinfo is not None else t.replace(tzinfo=UTC)


def parse_expiry(text: str | None, now: datetime | None = None) -> datetime | None:
    """``30d``, ``12h``, ``90m``, an ISO date (end of that day is not implied: midnight UTC)
    or datetime → the expiry; None, ``""`` or ``never`` → no expiry."""
    if text is None or text.strip().lower() in ("", "never"):
        return None
    now = now or datetime.now(UTC)
    t = text.strip()
    if m := re.fullmatch(r"(\d+)\s*([dhm])", t):
        unit = {"d": "days", "h": "hours", "m": "minutes"}[m.group(2)]
        return now + timedelta(**{unit: int(m.group(1))})
    try:
        when = datetime.fromisoformat(t)
    except ValueError:
        raise ApiKeyError(
            f"--expires {text!r}: give a duration (30d, 12h, 90m), an ISO date (2027-01-31) "
            "or an ISO datetime (2027-01-31T12:00:00+00:00)"
        ) from None
    if len(t) == 10:  # a date alone
        when = datetime.combine(date.fromisoformat(t), datetime.min.time())
    when = _aware(when)
    if when <= now:
        raise ApiKeyError(f"--expires {text!r} is in the past")
    return when


def _check_scopes(scopes: list[str]) -> tuple[str, ...]:
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise ApiKeyError(f"scopes {scopes}: choose one or more of {list(SCOPES)}")
    return tuple(s for s in SCOPES if s in scopes)


def create(
    name: str,
    usecases: list[str],
    scopes: list[str],
    settings: Settings,
    *,
    expires: str | None = None,
    created_by: str = "cli",
) -> tuple[ApiKey, str]:
    """Create a key; return it and the key text (shown once, never stored)."""
    if not usecases:
        raise ApiKeyError(f"name the use cases the key is for (--usecase NAME, or {EVERY_USECASE})")
    if not name.strip():
        raise ApiKeyError("give the key a --name that says who holds it")
    key_id = secrets.token_hex(6)
    text = f"{PREFIX}{key_id}_{secrets.token_urlsafe(32)}"
    now = datetime.now(UTC)
    row = {
        "key_id": key_id,
        "name": name.strip()[:200],
        "key_sha256": sha256(text),
        "usecases": sorted(set(usecases)),
        "scopes": list(_check_scopes(scopes)),
        "created_by": created_by,
        "created_at": now,
        "expires_at": parse_expiry(expires, now),
        "revoked_at": None,
    }
    with _changing_keys(settings) as conn:
        conn.execute(sa.insert(store.gateway_keys).values(**row))
    return ApiKey.from_row(row), text


@contextmanager
def _changing_keys(settings: Settings) -> Iterator[sa.Connection]:
    """The transaction that makes or revokes a key. The gateway's own database login may
    read keys, not change them: run there, the command says where to run it instead."""
    try:
        with store.engine(settings).begin() as conn:
            yield conn
    except sa.exc.ProgrammingError as exc:
        if getattr(exc.orig, "pgcode", None) != INSUFFICIENT_PRIVILEGE:
            raise
        user = sa.engine.make_url(settings.database_url).username
        raise ApiKeyError(
            f"the database login {user!r} may read API keys but not change them (the "
            "gateway's own role, in deploy mode): run the command where mlstack's owner "
            "login is, e.g. `docker compose exec airflow-scheduler mlstack gateway keys ...`"
        ) from None


def list_keys(settings: Settings) -> list[ApiKey]:
    """Every key, newest first (revoked and expired ones included)."""
    with store.engine(settings).connect() as conn:
        rows = conn.execute(
            sa.select(store.gateway_keys).order_by(store.gateway_keys.c.created_at.desc())
        )
        return [ApiKey.from_row(r._mapping) for r in rows]


def revoke(key_id: str, settings: Settings) -> ApiKey:
    """Revoke a key by its id (the gateways stop accepting it within their cache TTL)."""
    c = store.gateway_keys.c
    with _changing_keys(settings) as conn:
        row = conn.execute(sa.select(store.gateway_keys).where(c.key_id == key_id)).first()
        if row is None:
            raise ApiKeyError(f"no API key with id {key_id!r}; see `mlstack gateway keys list`")
        if row.revoked_at is None:
            conn.execute(
                sa.update(store.gateway_keys)
                .where(c.key_id == key_id)
                .values(revoked_at=datetime.now(UTC))
            )
        row = conn.execute(sa.select(store.gateway_keys).where(c.key_id == key_id)).one()
    return ApiKey.from_row(row._mapping)


class KeyRing:
    """Every key in memory, re-read from the database when older than ``ttl_s``."""

    def __init__(self, settings: Settings, ttl_s: float) -> None:
        self.settings, self.ttl_s = settings, ttl_s
        self._keys: dict[str, ApiKey] | None = None
        self._read_at = 0.0
        #: headers already verified → key id (valid keys only; emptied on every re-read)
        self._verified: dict[bytes, str] = {}
        #: the background re-read when the copy is stale (None or finished: none running)
        self.refreshing: threading.Thread | None = None
        #: the re-read for a key not in memory that requests are waiting on, and its start
        self._miss_read: asyncio.Future[None] | None = None
        self._miss_at = -MISS_GAP_S

    def refresh(self) -> None:
        """Read every key from the database; keep the copy in memory when it cannot."""
        try:
            keys = {k.key_id: k for k in list_keys(self.settings)}
        except sa.exc.SQLAlchemyError as exc:
            log.warning("Cannot re-read API keys (%s); using the copy in memory", exc)
        else:
            self._keys, self._verified = keys, {}
        finally:
            self._read_at = time.monotonic()

    def _current(self) -> dict[str, ApiKey] | None:
        """The keys in memory (None before the first read); a stale copy starts a re-read in
        a background thread and is used until it is done."""
        keys = self._keys
        stale = keys is not None and time.monotonic() - self._read_at >= self.ttl_s
        if stale and (self.refreshing is None or not self.refreshing.is_alive()):
            self.refreshing = threading.Thread(target=self.refresh, name="api-keys", daemon=True)
            self.refreshing.start()
        return keys

    async def check_reading(
        self, authorization: bytes | None, usecase: str, scope: str | None
    ) -> tuple[ApiKey | None, Refusal | None]:
        """:meth:`check`, and when the key's id is not in memory (or nothing is yet), the
        same after re-reading the keys in a worker thread (the event loop goes on)."""
        key, refusal = self.check(authorization, usecase, scope)
        if refusal is None or refusal.reason not in ("unknown", "key_store"):
            return key, refusal
        match = _bearer_key(authorization)
        if refusal.reason == "unknown" and match and match.group(1) in (self._keys or ()):
            return key, refusal  # a known id with a wrong secret: a re-read changes nothing
        await self._read_for_miss()
        return self.check(authorization, usecase, scope)

    async def _read_for_miss(self) -> None:
        """One re-read that every request waiting for a key not in memory shares; reads
        start at least ``MISS_GAP_S`` apart."""
        if self._miss_read is None or self._miss_read.done():
            self._miss_read = asyncio.ensure_future(self._spaced_read())
        await asyncio.shield(self._miss_read)

    async def _spaced_read(self) -> None:
        wait = self._miss_at + MISS_GAP_S - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        self._miss_at = time.monotonic()
        await asyncio.to_thread(self.refresh)

    def check(
        self, authorization: bytes | None, usecase: str, scope: str | None
    ) -> tuple[ApiKey | None, Refusal | None]:
        """The key of an ``Authorization: Bearer <key>`` header and why it is refused (or
        None): missing, malformed, unknown, revoked, expired (401); wrong use case or scope
        (403); the key store unreadable (503)."""
        keys = self._current()
        known = self._verified.get(authorization) if authorization else None
        if known is not None and keys is not None and known in keys:  # the hot path
            hit = keys[known]
            return hit, hit.refusal(usecase, scope, datetime.now(UTC))
        if not authorization:
            return None, Refusal(
                401, "missing", "send your API key as `Authorization: Bearer mlsk_...`"
            )
        match = _bearer_key(authorization)
        if match is None:
            return None, Refusal(
                401,
                "malformed",
                "malformed API key: send `Authorization: Bearer mlsk_<id>_<secret>` exactly as "
                "`mlstack gateway keys create` printed it",
            )
        if keys is None:
            return None, Refusal(503, "key_store", "cannot read the API keys yet; retry later")
        key = keys.get(match.group(1))
        if key is None or not hmac.compare_digest(sha256(match.group(0)), key.key_sha256):
            return None, Refusal(401, "unknown", "unknown API key: check it, or ask for a new one")
        if len(self._verified) < 10_000:
            self._verified[authorization] = key.key_id
        return key, key.refusal(usecase, scope, datetime.now(UTC))


def _bearer_key(authorization: bytes | None) -> re.Match[str] | None:
    """The key of an ``Authorization: Bearer mlsk_<id>_<secret>`` header (group 1: its id),
    or None when the header is missing or not that."""
    if not authorization:
        return None
    scheme, _, text = authorization.decode("latin-1").partition(" ")
    return _KEY.fullmatch(text.strip()) if scheme.lower() == "bearer" else None


class RateLimiter:
    """A token bucket per key id: ``rate_per_s`` sustained, ``burst`` at once; 0 = no limit."""

    def __init__(self, rate_per_s: float, burst: float) -> None:
        self.rate, self.burst = rate_per_s, max(burst, 1.0)
        self._buckets: dict[str, list[float]] = {}

    def wait_s(self, key_id: str, now: float | None = None) -> float:
        """0 when the request may go now (a token is taken), else seconds until it may."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic() if now is None else now
        bucket = self._buckets.get(key_id)
        if bucket is None:
            bucket = self._buckets[key_id] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate
