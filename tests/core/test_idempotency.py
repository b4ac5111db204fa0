"""Idempotency keys (VC-11; IETF draft-ietf-httpapi-idempotency-key-header): claim, replay, reuse
with another payload (422), a key in flight (409), takeover after a dead request, expiry and purge —
on the test database (SQLite, or PostgreSQL with KETNOI_TEST_DATABASE=postgresql)."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from ketnoi.core import idempotency as idem
from ketnoi.core.models import IdempotencyKey
from ketnoi.db.base import utcnow

FP = idem.fingerprint("POST", "/x", {"a": 1, "b": [1, 2]})


def test_parse_key_accepts_sf_string_and_token_and_refuses_garbage():
    assert idem.parse_key(None) is None
    assert idem.parse_key('"8e03978e-40d5-43e8"') == "8e03978e-40d5-43e8"
    assert idem.parse_key("abc-123") == "abc-123"
    for bad in ("", '""', "x" * 256, "khóa-có-dấu", "a\tb"):
        with pytest.raises(idem.BadKey):
            idem.parse_key(bad)


def test_fingerprint_ignores_key_order_but_not_values():
    assert idem.fingerprint("post", "/x", {"b": [1, 2], "a": 1}) == FP
    assert idem.fingerprint("POST", "/x", {"a": 2, "b": [1, 2]}) != FP
    assert idem.fingerprint("PUT", "/x", {"a": 1, "b": [1, 2]}) != FP
    assert idem.fingerprint("POST", "/y", {"a": 1, "b": [1, 2]}) != FP


def test_claim_complete_replay_and_reuse(database):
    with database.session() as s:
        assert idem.claim(s, "user:u1", "k1", "POST", "/x", FP) is None
        idem.complete(s, "user:u1", "k1", 201, '{"id": "1"}')
        s.commit()
    with database.session() as s:
        stored = idem.claim(s, "user:u1", "k1", "POST", "/x", FP)
        assert stored == idem.Stored(201, '{"id": "1"}')
        with pytest.raises(idem.KeyReused) as e:
            idem.claim(s, "user:u1", "k1", "POST", "/x", idem.fingerprint("POST", "/x", {"a": 9}))
        assert e.value.status == 422
        with pytest.raises(idem.KeyReused):
            idem.claim(s, "user:u1", "k1", "POST", "/other", FP)
        # another scope has its own keys
        assert idem.claim(s, "partner:p1", "k1", "POST", "/x", FP) is None


def test_in_flight_key_is_409_until_its_lock_passes(database):
    now = utcnow()
    with database.session() as s:
        assert idem.claim(s, "user:u1", "k2", "POST", "/x", FP, now=now) is None  # committed, not completed
    with database.session() as s:
        with pytest.raises(idem.KeyInFlight) as e:
            idem.claim(s, "user:u1", "k2", "POST", "/x", FP, now=now + timedelta(seconds=5))
        assert e.value.status == 409
    later = now + idem.LOCK + timedelta(seconds=1)
    with database.session() as s:  # the first request died: the key is taken over
        assert idem.claim(s, "user:u1", "k2", "POST", "/x", FP, now=later) is None
    with database.session() as s, pytest.raises(idem.KeyInFlight):
        idem.claim(s, "user:u1", "k2", "POST", "/x", FP, now=later + timedelta(seconds=1))


def test_release_frees_the_key_and_rolls_back(database):
    with database.session() as s:
        assert idem.claim(s, "user:u1", "k3", "POST", "/x", FP) is None
        s.add(IdempotencyKey(scope="junk", key="junk", method="POST", path="/", fingerprint="0", state="done",
                             locked_until=utcnow(), expires_at=utcnow() + timedelta(hours=1)))
        idem.release(s, "user:u1", "k3")
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
        assert idem.claim(s, "user:u1", "k3", "POST", "/x", FP) is None


def test_keys_expire_after_24_hours_and_are_purged(database):
    now = utcnow()
    with database.session() as s:
        idem.claim(s, "user:u1", "old", "POST", "/x", FP, now=now)
        idem.complete(s, "user:u1", "old", 200, "{}")
        idem.claim(s, "user:u1", "new", "POST", "/x", FP, now=now + timedelta(hours=23))
        idem.complete(s, "user:u1", "new", 200, "{}")
        s.commit()
    with database.session() as s:
        assert idem.purge_expired(s, now + idem.TTL - timedelta(seconds=1)) == 0
        assert idem.purge_expired(s, now + idem.TTL + timedelta(seconds=1)) == 1
        s.commit()
        # an expired key is a new key: another payload is accepted
        other = idem.fingerprint("POST", "/x", {"z": 1})
        assert idem.claim(s, "user:u1", "old", "POST", "/x", other, now=now + idem.TTL + timedelta(seconds=2)) is None


def test_concurrent_claims_one_wins(database):
    """Eight threads claim the same key at once on separate sessions: exactly one runs."""
    results: list[str] = []
    barrier = threading.Barrier(8)

    def worker():
        with database.session() as s:
            barrier.wait(timeout=10)
            try:
                results.append("run" if idem.claim(s, "user:u1", "race", "POST", "/x", FP) is None else "replay")
            except idem.KeyInFlight:
                results.append("409")
            except OperationalError:  # SQLite may report its write lock busy: a refusal too
                results.append("busy")

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert results.count("run") == 1, results
    assert len(results) == 8 and set(results) <= {"run", "409", "busy"}, results
