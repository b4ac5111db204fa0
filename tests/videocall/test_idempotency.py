"""Idempotency-Key on the partner configuration API (VC-11; IETF draft-ietf-httpapi-idempotency-key-header):
a retried create answers the first response and creates nothing more; another payload with the same
key → 422; a key whose first request still runs → 409; a failed request frees its key; deletes replay."""

from __future__ import annotations

from sqlalchemy import func, select

from ketnoi.core import idempotency
from ketnoi.core.models import IdempotencyKey
from ketnoi.videocall.models import VcGroup
from tests.conftest import login
from tests.videocall.config_helpers import API, partner_client

KEY = {"Idempotency-Key": '"3f1c2a9e-7d41-4b6a-9a57-0f4b1d2c8e11"'}


def _groups(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(VcGroup))


def test_retried_create_replays_the_first_answer(client, database, world):
    pc = partner_client(client, database, world.org_a)
    body = {"code": "HN", "name": "Nhóm Hà Nội", "conditions": {"unit": ["HN"]}}
    first = pc("POST", f"{API}/groups", body, headers=KEY)
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = pc("POST", f"{API}/groups", {"name": "Nhóm Hà Nội", "conditions": {"unit": ["HN"]}, "code": "HN"},
               headers=KEY)  # same payload, keys in another order
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert _groups(database) == 1
    # the same key with another payload
    other = pc("POST", f"{API}/groups", {**body, "name": "Khác"}, headers=KEY)
    assert other.status_code == 422 and "Idempotency-Key" in other.json()["detail"]
    # ... or on another path
    assert pc("POST", f"{API}/queues", {"code": "Q", "name": "Q"}, headers=KEY).status_code == 422
    # without a key, the duplicate is a conflict as usual
    assert pc("POST", f"{API}/groups", body).status_code == 409
    # keys are per partner: another partner's identical key is its own
    pb = partner_client(client, database, world.org_a, code="KHAC")
    r = pb("POST", f"{API}/groups", {**body, "code": "HN2"}, headers=KEY)
    assert r.status_code == 201 and "Idempotent-Replayed" not in r.headers
    assert _groups(database) == 2


def test_key_in_flight_is_409(client, database, world):
    pc = partner_client(client, database, world.org_a)
    body = {"code": "HN", "name": "Nhóm"}
    path = f"{API}/groups"
    with database.session() as s:  # the first request has claimed the key and not answered yet
        fp = idempotency.fingerprint("POST", path, {**body, "strategy": "ring_all", "conditions": {},
                                                    "agent_ring_seconds": 20, "overflow_seconds": 45,
                                                    "fallback_group_id": None, "is_active": True})
        assert idempotency.claim(s, f"vc-partner:{pc.partner_id}", "dang-chay", "POST", path, fp) is None
    r = pc("POST", path, body, headers={"Idempotency-Key": "dang-chay"})
    assert r.status_code == 409 and "đang được xử lý" in r.json()["detail"]
    assert _groups(database) == 0


def test_failed_request_frees_its_key(client, database, world):
    pc = partner_client(client, database, world.org_a)
    h = {"Idempotency-Key": "tao-hang-doi-1"}
    r = pc("POST", f"{API}/queues", {"code": "Q", "name": "Q", "group_ids": ["khongco"]}, headers=h)
    assert r.status_code == 422
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(IdempotencyKey)) == 0
    g = pc("POST", f"{API}/groups", {"code": "G", "name": "G"}).json()
    r = pc("POST", f"{API}/queues", {"code": "Q", "name": "Q", "group_ids": [g["id"]]},
           headers={"Idempotency-Key": "tao-hang-doi-2"})
    assert r.status_code == 201


def test_delete_put_patch_replay_and_bad_keys(client, database, world):
    world.user("cauhinh", roles=["videocall.config"])
    h = login(client, "cauhinh")
    g = client.post(f"{API}/groups", json={"code": "G", "name": "G"}, headers=h).json()
    k = {**h, "Idempotency-Key": "sua-1"}
    r1 = client.patch(f"{API}/groups/{g['id']}", json={"name": "Tên mới"}, headers=k)
    r2 = client.patch(f"{API}/groups/{g['id']}", json={"name": "Tên mới"}, headers=k)
    assert r1.status_code == r2.status_code == 200 and r1.json() == r2.json()
    assert r2.headers["Idempotent-Replayed"] == "true"
    d = {**h, "Idempotency-Key": "xoa-1"}
    assert client.delete(f"{API}/groups/{g['id']}", headers=d).status_code == 204
    again = client.delete(f"{API}/groups/{g['id']}", headers=d)
    assert again.status_code == 204 and again.headers["Idempotent-Replayed"] == "true"
    assert client.delete(f"{API}/groups/{g['id']}", headers=h).status_code == 404  # without the key: gone
    for bad in ('""', "x" * 300):
        r = client.post(f"{API}/groups", json={"code": "B", "name": "B"}, headers={**h, "Idempotency-Key": bad})
        assert r.status_code == 400 and "Idempotency-Key" in r.json()["detail"]
    with database.session() as s:
        scopes = set(s.scalars(select(IdempotencyKey.scope)))
    assert scopes == {f"user:{world_user_id(database, 'cauhinh')}"}


def world_user_id(database, username: str) -> str:
    from ketnoi.identity.models import User

    with database.session() as s:
        return s.scalar(select(User.id).where(User.username == username))
