"""Idempotency-Key on report creation (CRM-05, 11; core/idempotency.py after the IETF draft
draft-ietf-httpapi-idempotency-key-header): POST /api/v1/reports and Open311 POST /requests.json
replay the first answer for the same key and body (one report), refuse the key with another body
(422), free a key whose request failed, and behave as before without the header."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ketnoi.core.models import IdempotencyKey
from ketnoi.identity.models import User
from ketnoi.reports.models import Report
from tests.conftest import login
from tests.reports.factory import ReportWorld

PROBLEM = "application/problem+json"
OPEN311 = "/open311/v2/requests.json"


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def body(rw, **extra):
    return {"title": "Ổ gà trên đường Lê Lợi", "content": "Ổ gà lớn trước số 25 Lê Lợi, xe máy dễ ngã.",
            "channel": "web", "citizen_name": "Lê Văn Cường", "citizen_phone": "0935 222 333",
            "category_id": rw.waste, "area_id": rw.ward, **extra}


def reports(database) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(Report))


def keys(database) -> list[tuple[str, str, str]]:
    with database.session() as s:
        return [(k.scope, k.key, k.state) for k in s.scalars(select(IdempotencyKey).order_by(IdempotencyKey.key))]


def test_same_key_and_body_returns_the_first_report(client, rw, database):
    h = login(client, "dieuphoi")
    key = {"Idempotency-Key": '"3f1c2a9e-7b44-4d0f-9a51-0c2e8f6b1d20"'}
    first = client.post("/api/v1/reports", headers={**h, **key}, json=body(rw))
    assert first.status_code == 201, first.text
    assert "Idempotent-Replayed" not in first.headers
    again = client.post("/api/v1/reports", headers={**h, **key}, json=body(rw))
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and again.json()["code"].endswith("000001")
    assert reports(database) == 1
    with database.session() as s:
        uid = s.scalar(select(User.id).where(User.username == "dieuphoi"))
    assert keys(database) == [(f"user:{uid}", "3f1c2a9e-7b44-4d0f-9a51-0c2e8f6b1d20", "done")]
    # the stored report is the real one
    got = client.get(f"/api/v1/reports/{first.json()['id']}", headers=h).json()
    assert got["code"] == first.json()["code"] and got["title"] == "Ổ gà trên đường Lê Lợi"


def test_same_key_with_another_body_is_422_and_creates_nothing(client, rw, database):
    h = login(client, "dieuphoi")
    key = {"Idempotency-Key": "bao-cao-0001"}
    assert client.post("/api/v1/reports", headers={**h, **key}, json=body(rw)).status_code == 201
    r = client.post("/api/v1/reports", headers={**h, **key}, json=body(rw, title="Ổ gà khác"))
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert "Idempotency-Key" in r.json()["detail"] and r.json()["errors"][0]["field"] == "Idempotency-Key"
    assert reports(database) == 1
    # another user's identical key is another key
    rw.world.user("dieuphoi2", roles=["reports.read", "reports.create"])
    other = client.post("/api/v1/reports", headers={**login(client, "dieuphoi2"), **key}, json=body(rw))
    assert other.status_code == 201 and "Idempotent-Replayed" not in other.headers
    assert reports(database) == 2


def test_without_the_header_every_post_creates_a_report(client, rw, database):
    h = login(client, "dieuphoi")
    codes = [client.post("/api/v1/reports", headers=h, json=body(rw)).json()["code"] for _ in range(2)]
    assert codes[0] != codes[1] and reports(database) == 2 and keys(database) == []


def test_failed_request_frees_its_key_and_bad_keys_are_400(client, rw, database):
    h = login(client, "dieuphoi")
    key = {"Idempotency-Key": "thu-lai-sau-loi"}
    bad = client.post("/api/v1/reports", headers={**h, **key}, json=body(rw, category_id="khong-co"))
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "category_id"
    assert keys(database) == [] and reports(database) == 0
    fixed = client.post("/api/v1/reports", headers={**h, **key}, json=body(rw))  # corrected retry, same key
    assert fixed.status_code == 201 and "Idempotent-Replayed" not in fixed.headers
    for value in (b"", "khóa-có-dấu".encode(), b"x" * 256):
        r = client.post("/api/v1/reports", headers={**h, "Idempotency-Key": value}, json=body(rw))
        assert r.status_code == 400 and r.headers["content-type"].startswith(PROBLEM), (value, r.text)
    assert reports(database) == 1


def test_openapi_documents_the_header(client):
    spec = client.get("/api/openapi.json").json()
    for path in ("/api/v1/reports", OPEN311):
        params = spec["paths"][path]["post"]["parameters"]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params), path


# --- Open311 ---------------------------------------------------------------------------------------
def open311(client, token: str, key: str | None, **fields):
    data = {"api_key": token, "service_code": "MT-RAC", "lat": "16.0678", "long": "108.2208",
            "description": "Rác tràn ra lòng đường", "phone": "0905 123 456", **fields}
    return client.post(OPEN311, data=data, headers={"Idempotency-Key": key} if key else {})


def test_open311_same_key_replays_the_request_id(client, rw, database):
    token = login(client, "dieuphoi")["Authorization"].split()[1]
    first = open311(client, token, "open311-0001")
    assert first.status_code == 201, first.text
    again = open311(client, token, "open311-0001")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and len(first.json()) == 1
    assert reports(database) == 1
    # the api_key is not part of the request's identity: a new token of the same user replays too
    token2 = login(client, "dieuphoi")["Authorization"].split()[1]
    assert token2 != token
    assert open311(client, token2, "open311-0001").json() == first.json() and reports(database) == 1
    # another description with the same key: 422 (not Open311's usual 400 for bad input)
    r = open311(client, token2, "open311-0001", description="Rác ở chỗ khác")
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert reports(database) == 1


def test_open311_without_the_header_and_failures(client, rw, database):
    token = login(client, "dieuphoi")["Authorization"].split()[1]
    ids = {open311(client, token, None).json()[0]["service_request_id"] for _ in range(2)}
    assert len(ids) == 2 and reports(database) == 2
    bad = open311(client, token, "open311-loi", service_code="KHONG-CO")
    assert bad.status_code == 400 and bad.json()["errors"][0]["field"] == "service_code"
    assert open311(client, token, "open311-loi").status_code == 201  # the failed request freed its key
    assert reports(database) == 3
    # without a valid api_key nothing is claimed
    assert open311(client, "sai", "open311-khong-dang-nhap").status_code == 401
    assert [k for _, k, _ in keys(database)] == ["open311-loi"]
