"""Idempotency-Key on the knowledge API's content writes (KB-02, 06, 07, 22; core/idempotency.py):
a partner's signed retry with the same key and body answers the first procedure again (one row),
another body is 422, keys are per API key, and without the header a duplicate code is still 409."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from ketnoi.knowledge import service
from ketnoi.knowledge.client import KnowledgeApiError
from ketnoi.knowledge.models import Answer, KnowledgeEvent, Procedure
from ketnoi.knowledge.signing import signed_headers
from tests.knowledge.test_api import BASE, KB, procedure_body

PROBLEM = "application/problem+json"


@pytest.fixture
def kb(world, client):
    return KB(world, client)


def count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def send(kb, key: dict, method: str, path: str, body, idem: str | None = None):
    """A signed request (fresh nonce each time, as a partner's retry would be) with an optional key."""
    raw = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
    headers = signed_headers(key["key_id"], key["secret"], method, path, "", raw)
    if body is not None:
        headers["Content-Type"] = "application/json"
    if idem is not None:
        headers["Idempotency-Key"] = idem
    return kb.client.request(method, path, content=raw, headers=headers)


def test_signed_create_with_same_key_replays_the_first_procedure(kb, database):
    key = kb.key()
    first = send(kb, key, "POST", f"{BASE}/procedures", procedure_body(), "kb-0001")
    assert first.status_code == 201, first.text
    again = send(kb, key, "POST", f"{BASE}/procedures", procedure_body(), "kb-0001")
    assert again.status_code == 201 and again.headers["Idempotent-Replayed"] == "true"
    assert again.json() == first.json() and count(database, Procedure) == 1 and count(database, Answer) == 1
    # another body under the same key: 422, nothing written
    r = send(kb, key, "POST", f"{BASE}/procedures", procedure_body(title="Thủ tục khác"), "kb-0001")
    assert r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["errors"][0]["field"] == "Idempotency-Key" and count(database, Procedure) == 1
    # keys belong to the API key: another key's identical Idempotency-Key runs, and meets the code (409)
    r = send(kb, kb.key(), "POST", f"{BASE}/procedures", procedure_body(), "kb-0001")
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"


def test_without_the_header_a_duplicate_code_is_still_409(kb, database):
    key = kb.key()
    assert send(kb, key, "POST", f"{BASE}/procedures", procedure_body()).status_code == 201
    r = send(kb, key, "POST", f"{BASE}/procedures", procedure_body())
    assert r.status_code == 409 and r.headers["content-type"].startswith(PROBLEM)
    assert "Idempotent-Replayed" not in r.headers and count(database, Procedure) == 1


def test_answers_patches_events_and_deletes_replay(kb, database, client):
    key = kb.key()
    proc = send(kb, key, "POST", f"{BASE}/procedures", procedure_body()).json()
    path = f"{BASE}/procedures/{proc['id']}/answers"
    a1 = send(kb, key, "POST", path, {"title": "Lệ phí", "content": "Miễn phí."}, "ans-1")
    a2 = send(kb, key, "POST", path, {"title": "Lệ phí", "content": "Miễn phí."}, "ans-1")
    assert a1.status_code == a2.status_code == 201 and a1.json() == a2.json() and count(database, Answer) == 2
    p1 = send(kb, key, "PATCH", f"{BASE}/procedures/{proc['id']}", {"title": "Tên mới"}, "sua-1")
    p2 = send(kb, key, "PATCH", f"{BASE}/procedures/{proc['id']}", {"title": "Tên mới"}, "sua-1")
    assert p1.status_code == 200 and p2.headers["Idempotent-Replayed"] == "true" and p1.json() == p2.json()
    e1 = send(kb, key, "POST", f"{BASE}/events", {"title": "Ngày hội việc làm"}, "su-kien-1")
    e2 = send(kb, key, "POST", f"{BASE}/events", {"title": "Ngày hội việc làm"}, "su-kien-1")
    assert e1.status_code == 201 and e1.json() == e2.json() and count(database, KnowledgeEvent) == 1
    assert e1.json()["created_at"] == client.get(f"{BASE}/events/{e1.json()['id']}", headers=kb.h).json()["created_at"]
    # a retried delete answers its 204 again instead of 404
    d1 = send(kb, key, "DELETE", f"{BASE}/answers/{a1.json()['id']}", None, "xoa-1")
    d2 = send(kb, key, "DELETE", f"{BASE}/answers/{a1.json()['id']}", None, "xoa-1")
    assert (d1.status_code, d2.status_code) == (204, 204) and d2.headers["Idempotent-Replayed"] == "true"
    assert send(kb, key, "DELETE", f"{BASE}/answers/{a1.json()['id']}", None).status_code == 404
    assert count(database, Answer) == 1


def test_bearer_user_keys_and_multipart_upload(kb, database):
    r1 = kb.client.post(f"{BASE}/procedures", headers={**kb.h, "Idempotency-Key": "u-1"}, json=procedure_body())
    r2 = kb.client.post(f"{BASE}/procedures", headers={**kb.h, "Idempotency-Key": "u-1"}, json=procedure_body())
    assert r1.status_code == 201 and r2.headers["Idempotent-Replayed"] == "true" and r1.json() == r2.json()
    answer_id = r1.json()["answers"][0]["id"]
    pdf = b"%PDF-1.7\n" + b"x" * 200
    files_before = len(list(service.storage_dir().iterdir()))
    up = [kb.client.post(f"{BASE}/answers/{answer_id}/attachments", headers={**kb.h, "Idempotency-Key": "tep-1"},
                         files={"file": ("mau.pdf", pdf, "application/pdf")}) for _ in range(2)]
    assert [u.status_code for u in up] == [201, 201] and up[0].json() == up[1].json()
    other = kb.client.post(f"{BASE}/answers/{answer_id}/attachments", headers={**kb.h, "Idempotency-Key": "tep-1"},
                           files={"file": ("mau.pdf", pdf + b"y", "application/pdf")})
    assert other.status_code == 422
    detail = kb.client.get(f"{BASE}/answers/{answer_id}", headers=kb.h).json()
    assert len(detail["attachments"]) == 1 and len(list(service.storage_dir().iterdir())) == files_before + 1
    # the storage directory is shared by the session's tests: leave it as found
    assert kb.client.delete(f"{BASE}/procedures/{r1.json()['id']}", headers=kb.h).status_code == 204
    assert len(list(service.storage_dir().iterdir())) == files_before


def test_python_client_sends_the_key(kb, database):
    """``KnowledgeClient``'s writes take ``idempotency_key``: a retry after a lost answer replays it."""
    api = kb.signed(kb.key())
    first = api.create_procedure(procedure_body(), idempotency_key="tao-1.000894")
    again = api.create_procedure(procedure_body(), idempotency_key="tao-1.000894")
    assert again == first and count(database, Procedure) == 1
    answer = api.add_answer(first["id"], {"title": "Lệ phí", "content": "Miễn phí."}, idempotency_key="dap-1")
    assert api.add_answer(first["id"], {"title": "Lệ phí", "content": "Miễn phí."}, idempotency_key="dap-1") == answer
    api.delete_procedure(first["id"], idempotency_key="xoa-1")
    api.delete_procedure(first["id"], idempotency_key="xoa-1")  # the replayed 204, not a 404
    with pytest.raises(KnowledgeApiError) as e:
        api.delete_procedure(first["id"])
    assert e.value.status == 404
