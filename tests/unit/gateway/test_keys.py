"""The API key store (embedded SQLite): create, list, revoke; checking a key's header
(missing, malformed, unknown, expired, revoked, wrong use case or scope); re-reading the
keys (in the background when stale, off the event loop for a key not in memory); the
expiry syntax; the token bucket."""

from __future__ import annotations

import asyncio
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from mlstack import store
from mlstack.exceptions import ApiKeyError
from mlstack.gateway import keys

UC = "credit_default"


def _bearer(text: str) -> bytes:
    return f"Bearer {text}".encode()


def test_create_stores_only_the_hash_and_lists_without_the_key(embedded_settings) -> None:
    key, text = keys.create("team-a", [UC], ["predict"], embedded_settings, expires="30d")
    assert text.startswith(f"mlsk_{key.key_id}_") and len(text) == 5 + 12 + 1 + 43
    with store.engine(embedded_settings).connect() as conn:
        row = conn.execute(sa.select(store.gateway_keys)).one()
    assert text not in str(tuple(row)) and row.key_sha256 == keys.sha256(text)
    (listed,) = keys.list_keys(embedded_settings)
    assert (listed.key_id, listed.usecases, listed.scopes) == (key.key_id, (UC,), ("predict",))
    assert listed.state(datetime.now(UTC)) == "active"
    assert listed.expires_at is not None
    assert timedelta(days=29) < listed.expires_at - datetime.now(UTC) <= timedelta(days=30)


def test_each_refusal_says_why(embedded_settings) -> None:
    ring = keys.KeyRing(embedded_settings, ttl_s=3600)  # re-read below by hand
    both, both_text = keys.create("svc", [UC], ["predict", "feedback"], embedded_settings)
    _, predict_only = keys.create("svc", [UC], ["predict"], embedded_settings)
    _, other_uc = keys.create("svc", ["diabetes"], ["predict"], embedded_settings)
    _, short = keys.create("svc", [UC], ["predict"], embedded_settings, expires="1m")
    assert ring.check(_bearer(both_text), UC, "predict")[1].reason == "key_store"  # type: ignore[union-attr]
    ring.refresh()

    def reason(header: bytes | None, scope: str | None = "predict") -> str | None:
        _, refusal = ring.check(header, UC, scope)
        return None if refusal is None else f"{refusal.status} {refusal.reason}"

    assert reason(_bearer(both_text)) is None
    assert reason(_bearer(both_text), "feedback") is None
    assert reason(None) == "401 missing"
    assert reason(b"Basic dXNlcjpwdw==") == "401 malformed"
    assert reason(_bearer(both_text[:-1])) == "401 malformed"
    assert reason(_bearer(both_text[:-1] + ("A" if both_text[-1] != "A" else "B"))) == (
        "401 unknown"
    )
    assert reason(_bearer(predict_only), "feedback") == "403 scope"
    assert reason(_bearer(predict_only), None) is None  # a read needs no particular scope
    assert reason(_bearer(other_uc)) == "403 usecase"
    with store.engine(embedded_settings).begin() as conn:  # let the short key run out
        conn.execute(
            sa.update(store.gateway_keys)
            .where(store.gateway_keys.c.key_sha256 == keys.sha256(short))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    ring.refresh()
    assert reason(_bearer(short)) == "401 expired"
    keys.revoke(both.key_id, embedded_settings)
    ring.refresh()
    assert reason(_bearer(both_text)) == "401 revoked"
    _, refusal = ring.check(_bearer(predict_only), UC, "feedback")
    assert refusal is not None and "--scope feedback" in refusal.detail


def test_the_ring_reads_the_table_once_per_ttl_in_the_background(embedded_settings) -> None:
    key, text = keys.create("svc", [UC], ["predict"], embedded_settings)
    ring = keys.KeyRing(embedded_settings, ttl_s=3600)
    ring.refresh()
    assert ring.check(_bearer(text), UC, "predict")[1] is None
    keys.revoke(key.key_id, embedded_settings)
    assert ring.check(_bearer(text), UC, "predict")[1] is None  # the copy in memory
    assert ring.refreshing is None  # no read while the copy is fresh
    ring._read_at -= 3601  # the TTL passes
    # the request that finds the copy stale is answered from it; a thread re-reads
    assert ring.check(_bearer(text), UC, "predict")[1] is None
    assert ring.refreshing is not None
    ring.refreshing.join(timeout=30)
    assert ring.check(_bearer(text), UC, "predict")[1].reason == "revoked"  # type: ignore[union-attr]


def test_a_key_not_in_memory_makes_one_shared_read_off_the_loop(
    embedded_settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A key created after the ring's last read works on its first request (the ring
    re-reads in a worker thread); concurrent requests for keys it does not know share one
    read, and reads for them start at least MISS_GAP_S apart; a known id with a wrong
    secret is refused without a read."""
    ring = keys.KeyRing(embedded_settings, ttl_s=3600)
    reads: list[tuple[float, str]] = []
    refresh = ring.refresh

    def counted() -> None:
        reads.append((time.monotonic(), threading.current_thread().name))
        refresh()

    monkeypatch.setattr(ring, "refresh", counted)

    async def scenario() -> None:
        # the first request of a process: nothing in memory yet, read off the loop
        _, first = keys.create("svc", [UC], ["predict"], embedded_settings)
        assert (await ring.check_reading(_bearer(first), UC, "predict"))[1] is None
        _, new = keys.create("svc", [UC], ["predict"], embedded_settings)  # after the read
        assert ring.check(_bearer(new), UC, "predict")[1].reason == "unknown"  # type: ignore[union-attr]
        guessed = _bearer(f"mlsk_{'0' * 12}_{'A' * 43}")
        answers = await asyncio.gather(
            ring.check_reading(_bearer(new), UC, "predict"),
            *(ring.check_reading(guessed, UC, "predict") for _ in range(20)),
        )
        assert answers[0][1] is None  # the new key, on its first request
        assert {a[1].reason for a in answers[1:]} == {"unknown"}  # type: ignore[union-attr]
        await ring.check_reading(guessed, UC, "predict")  # a later guess: one more read
        wrong_secret = _bearer(new[:-1] + ("A" if new[-1] != "A" else "B"))  # its id is known
        assert (await ring.check_reading(wrong_secret, UC, "predict"))[1].reason == "unknown"  # type: ignore[union-attr]

    asyncio.run(scenario())
    assert len(reads) == 3, reads  # the first, one shared by 21 requests, one for the guess
    # (none for the wrong secret)
    assert all(name != "MainThread" for _, name in reads)  # never on the event loop
    assert reads[2][0] - reads[1][0] >= keys.MISS_GAP_S * 0.99


def test_create_and_revoke_refuse_bad_input(embedded_settings) -> None:
    with pytest.raises(ApiKeyError, match="predict"):
        keys.create("svc", [UC], ["train"], embedded_settings)
    with pytest.raises(ApiKeyError, match="--usecase"):
        keys.create("svc", [], ["predict"], embedded_settings)
    with pytest.raises(ApiKeyError, match="keys list"):
        keys.revoke("0123456789ab", embedded_settings)


def test_expiry_syntax() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert keys.parse_expiry("30d", now) == now + timedelta(days=30)
    assert keys.parse_expiry("12h", now) == now + timedelta(hours=12)
    assert keys.parse_expiry("never", now) is None and keys.parse_expiry(None, now) is None
    assert keys.parse_expiry("2026-03-01", now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert keys.parse_expiry("2026-03-01T12:00:00+02:00", now) == datetime(
        2026, 3, 1, 10, tzinfo=UTC
    )
    with pytest.raises(ApiKeyError, match="duration"):
        keys.parse_expiry("soon", now)
    with pytest.raises(ApiKeyError, match="past"):
        keys.parse_expiry("2025-12-31", now)


def test_token_bucket() -> None:
    limiter = keys.RateLimiter(rate_per_s=10, burst=3)
    assert [limiter.wait_s("k", now=100.0) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert limiter.wait_s("k", now=100.0) == pytest.approx(0.1)
    assert limiter.wait_s("other", now=100.0) == 0.0  # per key
    assert limiter.wait_s("k", now=100.15) == 0.0  # a token came back
    assert keys.RateLimiter(0, 1).wait_s("k") == 0.0  # 0 = no limit
