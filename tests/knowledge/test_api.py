"""The knowledge API (KB-01…11, 22) through signed partner requests and bearer tokens: every
endpoint, every refusal of the signature scheme, attachments checked by content and size, validation
in Vietnamese with nothing written, organizations kept apart, and every call in the call log."""

from __future__ import annotations

import base64
import time
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from ketnoi.audit.models import AuditEntry
from ketnoi.db.base import utcnow
from ketnoi.knowledge import service
from ketnoi.knowledge.client import KnowledgeApiError, KnowledgeClient
from ketnoi.knowledge.models import Answer, ApiCallLog, ApiKey, ApiNonce, KnowledgeAttachment, Procedure
from ketnoi.knowledge.signing import signed_headers
from ketnoi.settings import get_settings
from tests.conftest import login

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PDF = b"%PDF-1.7\n" + b"x" * 200
EDITOR_ROLES = ["home", "knowledge.write", "knowledge.keys"]
BASE = "/api/v1/knowledge"


class KB:
    """An editor and a key administrator of organization A, and helpers to make keys and content."""

    def __init__(self, world, client):
        self.world, self.client = world, client
        world.user("bientap", roles=EDITOR_ROLES)
        self.h = login(client, "bientap")

    def key(self, scopes=("knowledge.read", "knowledge.write"), headers=None) -> dict:
        r = self.client.post(f"{BASE}/api-keys", headers=headers or self.h,
                             json={"name": "Cổng dịch vụ công tỉnh", "scopes": list(scopes)})
        assert r.status_code == 201, r.text
        return r.json()

    def signed(self, key: dict) -> KnowledgeClient:
        return KnowledgeClient("http://testserver", key["key_id"], key["secret"], http=self.client)


def procedure_body(code="1.000894", title="Cấp lại Giấy chứng nhận quyền sử dụng đất", **extra) -> dict:
    return {"code": code, "title": title, "type_doc": "bo-tai-nguyen", "field": "Đất đai", "level": "Cấp tỉnh",
            "answer": {"title": "Trình tự thực hiện",
                       "content": "<p>Bước 1: Nộp hồ sơ.</p><script>alert(1)</script><p>Bước 2: Nhận kết quả.</p>"},
            **extra}


@pytest.fixture
def kb(world, client):
    return KB(world, client)


def count(database, model) -> int:
    with database.session() as s:
        return s.scalar(select(func.count()).select_from(model))


def calls(database) -> list[ApiCallLog]:
    with database.session() as s:
        return list(s.scalars(select(ApiCallLog).order_by(ApiCallLog.at)))


# --- content through a signed client -------------------------------------------------------------
def test_procedure_lifecycle_through_signed_client(kb, database):
    api = kb.signed(kb.key())
    body = procedure_body()
    body["answer"]["attachment"] = {"filename": "mau-don.pdf", "content_base64": base64.b64encode(PDF).decode()}
    proc = api.create_procedure(body)
    assert proc["code"] == "1.000894" and proc["status"] == "published"
    [answer] = proc["answers"]
    assert "<script>" not in answer["content"] and "alert" not in answer["content"]
    assert answer["content"] == "<p>Bước 1: Nộp hồ sơ.</p><p>Bước 2: Nhận kết quả.</p>"
    [att] = answer["attachments"]
    assert att["filename"] == "mau-don.pdf" and att["content_type"] == "application/pdf" and att["size"] == len(PDF)
    assert api.download_attachment(att["id"]) == PDF

    # detail, answer detail, list by folder (KB-08, 09, 10)
    assert api.get_procedure(proc["id"])["answers"][0]["id"] == answer["id"]
    assert api.get_answer(answer["id"])["title"] == "Trình tự thực hiện"
    api.create_procedure(procedure_body(code="2.000001", title="Đăng ký kết hôn", type_doc="bo-tu-phap"))
    listed = api.list_procedures(type_doc="bo-tai-nguyen")
    assert [p["code"] for p in listed["items"]] == ["1.000894"] and listed["total"] == 1
    assert api.list_procedures()["total"] == 2

    # update title and status (KB-05), answer content and status (KB-06), add an answer (KB-07)
    changed = api.update_procedure(proc["id"], {"title": "Cấp đổi Giấy chứng nhận", "status": "hidden"})
    assert changed["title"] == "Cấp đổi Giấy chứng nhận" and changed["status"] == "hidden"
    a2 = api.add_answer(proc["id"], {"title": "Lệ phí", "content": "Miễn phí.\n\nNộp tại bộ phận một cửa."})
    assert a2["content"] == "<p>Miễn phí.</p><p>Nộp tại bộ phận một cửa.</p>" and a2["sort_order"] == 1
    a2 = api.update_answer(a2["id"], {"content": '<a href="javascript:x()">xem</a> <b>50.000đ</b>',
                                      "status": "draft"})
    assert a2["content"] == "<a>xem</a> <b>50.000đ</b>" and a2["status"] == "draft"
    up = api.upload_attachment(a2["id"], "anh.png", PNG, "image/png")
    assert up["content_type"] == "image/png"
    api.delete_attachment(up["id"])
    with pytest.raises(KnowledgeApiError) as e:
        api.download_attachment(up["id"])
    assert e.value.status == 404

    # delete one answer (KB-04), then the procedure with all its answers (KB-03)
    api.delete_answer(a2["id"])
    with pytest.raises(KnowledgeApiError) as e:
        api.delete_answer(answer["id"])
    assert e.value.status == 409 and "ít nhất một câu trả lời" in e.value.detail
    files = list(service.storage_dir().iterdir())
    api.delete_procedure(proc["id"])
    with pytest.raises(KnowledgeApiError) as e:
        api.get_procedure(proc["id"])
    assert e.value.status == 404 and e.value.detail == "Không tìm thấy thủ tục."
    assert len(list(service.storage_dir().iterdir())) == len(files) - 1  # the PDF went with it
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Answer)) == 1  # the other procedure's
        actions = [a for a in s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("%procedure%")))]
        assert {"procedure.created", "procedure.updated", "procedure.deleted"} <= set(actions)
        actor = s.scalar(select(AuditEntry.actor_name).where(AuditEntry.action == "procedure.deleted"))
        assert actor.startswith("api:kn_")


def test_search_answers_the_documented_shape(kb):
    api = kb.signed(kb.key(["knowledge.read", "knowledge.write"]))
    created = api.create_procedure(procedure_body())
    api.create_procedure(procedure_body(code="2.000001", title="Đăng ký kết hôn", type_doc="bo-tu-phap"))
    out = api.search("quyền sử dụng đất", mode="approximate", page=1, page_size=5)
    assert set(out) == {"items", "page", "page_size", "total"} and out["page"] == 1 and out["page_size"] == 5
    assert out["total"] >= 1 and out["items"][0]["id"] == created["id"]
    assert set(out["items"][0]) == {"id", "code", "title", "snippet", "score"}
    assert out["items"][0]["code"] == "1.000894"
    # restricted to a document folder (typeDoc)
    in_folder = api.search("quyền sử dụng đất", type_doc="bo-tu-phap")["items"]
    assert created["id"] not in {h["id"] for h in in_folder}
    assert api.search("quyền sử dụng đất", type_doc="bo-tai-nguyen")["items"][0]["id"] == created["id"]
    # the same endpoint with a bearer token
    r = kb.client.get(f"{BASE}/search", params={"q": "ket hon", "mode": "approximate"}, headers=kb.h)
    assert r.status_code == 200 and r.json()["items"][0]["code"] == "2.000001"
    r = kb.client.get(f"{BASE}/search", params={"q": "x", "mode": "fuzzy"}, headers=kb.h)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "mode"
    r = kb.client.get(f"{BASE}/search", headers=kb.h)
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "q", "message": "Bắt buộc nhập."}


def test_events_crud_and_search(kb):
    api = kb.signed(kb.key())
    ev = api.create_event({"title": "Ngày hội việc làm thanh niên", "starts_at": "2031-05-01T08:00:00+07:00",
                           "ends_at": "2031-05-01T17:00:00+07:00", "place": "Nhà văn hóa quận",
                           "description": "<p>Hơn 50 doanh nghiệp tuyển dụng</p><iframe src=x></iframe>"})
    assert ev["description"] == "<p>Hơn 50 doanh nghiệp tuyển dụng</p>"
    assert api.get_event(ev["id"])["place"] == "Nhà văn hóa quận"
    assert api.list_events()["total"] == 1
    assert api.update_event(ev["id"], {"place": "Cung văn hóa"})["place"] == "Cung văn hóa"
    found = api.search_events("viec lam")
    assert found["items"][0]["id"] == ev["id"]
    with pytest.raises(KnowledgeApiError) as e:
        api.update_event(ev["id"], {"ends_at": "2031-04-30T08:00:00+07:00"})
    assert e.value.status == 422 and e.value.errors[0]["field"] == "ends_at"
    api.delete_event(ev["id"])
    assert api.list_events()["total"] == 0
    assert api.search_events("viec lam")["total"] == 0


# --- refusals of the signature scheme ------------------------------------------------------------
def _raw(kb, key, method="GET", path=f"{BASE}/procedures", query="", body=b"", **sign_kw):
    headers = signed_headers(key["key_id"], key["secret"], method, path, query, body, **sign_kw)
    return headers


def _refused(r, phrase: str):
    assert r.status_code == 401, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert phrase in r.json()["detail"], r.json()["detail"]


def test_signature_refusals_are_401_in_vietnamese_and_logged(kb, database):
    key = kb.key()
    c = kb.client
    ok = _raw(kb, key)
    assert c.get(f"{BASE}/procedures", headers=ok).status_code == 200
    _refused(c.get(f"{BASE}/procedures", headers=ok), "đã được gửi trước đó")  # replay

    bad = _raw(kb, key)
    bad["X-Ketnoi-Signature"] = "0" * 64
    _refused(c.get(f"{BASE}/procedures", headers=bad), "Chữ ký không đúng")

    other_query = _raw(kb, key, query="type_doc=a")
    _refused(c.get(f"{BASE}/procedures?type_doc=b", headers=other_query), "Chữ ký không đúng")

    old = _raw(kb, key, timestamp=int(time.time()) - 301)
    _refused(c.get(f"{BASE}/procedures", headers=old), "quá hạn hoặc lệch giờ")
    future = _raw(kb, key, timestamp=int(time.time()) + 400)
    _refused(c.get(f"{BASE}/procedures", headers=future), "quá hạn hoặc lệch giờ")

    unknown = _raw(kb, {"key_id": "kn_khongco", "secret": key["secret"]})
    _refused(c.get(f"{BASE}/procedures", headers=unknown), "Khóa API không tồn tại")

    missing = _raw(kb, key)
    del missing["X-Ketnoi-Nonce"]
    _refused(c.get(f"{BASE}/procedures", headers=missing), "thiếu tiêu đề: X-Ketnoi-Nonce")

    body = b'{"code": "X1", "title": "T", "answer": {"content": "a"}}'
    tampered = _raw(kb, key, "POST", f"{BASE}/procedures", body=body)
    r = c.post(f"{BASE}/procedures", headers={**tampered, "Content-Type": "application/json"},
               content=body.replace(b"X1", b"X2"))
    _refused(r, "không khớp với nội dung")

    with_wrong_secret = _raw(kb, {"key_id": key["key_id"], "secret": "f" * 64})
    _refused(c.get(f"{BASE}/procedures", headers=with_wrong_secret), "Chữ ký không đúng")

    assert count(database, Procedure) == 0
    outcomes = [(x.outcome, x.status, x.key_id) for x in calls(database)]
    assert [o for o, _, _ in outcomes] == ["ok", "replay", "bad_signature", "bad_signature", "stale", "stale",
                                           "unknown_key", "missing_headers", "bad_body_hash", "bad_signature"]
    assert all(s == 401 for o, s, _ in outcomes if o != "ok")
    assert outcomes[6][2] == "kn_khongco"
    with database.session() as s:
        assert s.scalar(select(ApiCallLog.organization_id).where(ApiCallLog.outcome == "replay")) == kb.world.org_a


def test_revoked_and_rotated_keys(kb, database):
    key = kb.key()
    c = kb.client
    rotated = c.post(f"{BASE}/api-keys/{key['key_id']}/rotate", headers=kb.h)
    assert rotated.status_code == 201, rotated.text
    new = rotated.json()
    assert new["key_id"] != key["key_id"] and new["secret"] != key["secret"] and new["replaces"] == key["key_id"]
    # during the grace period both keys work
    assert c.get(f"{BASE}/procedures", headers=_raw(kb, key)).status_code == 200
    assert c.get(f"{BASE}/procedures", headers=_raw(kb, new)).status_code == 200
    old = c.get(f"{BASE}/api-keys/{key['key_id']}", headers=kb.h).json()
    assert old["replaced_by"] == new["key_id"] and old["state"] == "active"
    # after it, the old key is refused
    with database.session() as s:
        k = s.scalar(select(ApiKey).where(ApiKey.key_id == key["key_id"]))
        k.expires_at = utcnow() - timedelta(seconds=1)
    _refused(c.get(f"{BASE}/procedures", headers=_raw(kb, key)), f"hết hạn. Hãy dùng khóa mới {new['key_id']}")
    # revocation takes effect at once
    assert c.post(f"{BASE}/api-keys/{new['key_id']}/revoke", headers=kb.h).json()["state"] == "revoked"
    _refused(c.get(f"{BASE}/procedures", headers=_raw(kb, new)), "đã bị thu hồi")
    listed = c.get(f"{BASE}/api-keys?state=active", headers=kb.h).json()
    assert listed["total"] == 0
    # the secret is never stored, and is not given again
    assert "secret" not in c.get(f"{BASE}/api-keys/{new['key_id']}", headers=kb.h).json()
    with database.session() as s:
        row = s.scalar(select(ApiKey).where(ApiKey.key_id == new["key_id"]))
        assert new["secret"] not in {row.salt, row.name, row.key_id}
        assert {a for a in s.scalars(select(AuditEntry.action).where(AuditEntry.entity_type == "api_key"))} == {
            "api_key.created", "api_key.rotated", "api_key.revoked"}


def test_scopes_are_enforced_with_403(kb, database):
    reader = kb.signed(kb.key(["knowledge.read"]))
    with pytest.raises(KnowledgeApiError) as e:
        reader.create_procedure(procedure_body())
    assert e.value.status == 403 and "knowledge.write" in e.value.detail
    assert reader.list_procedures()["total"] == 0
    assert count(database, Procedure) == 0
    assert calls(database)[0].outcome == "forbidden_scope"


def test_old_nonces_are_purged(kb, database):
    key = kb.key()
    with database.session() as s:
        s.add(ApiNonce(key_id=key["key_id"], nonce="cu-lam-roi-1234", seen_at=utcnow() - timedelta(hours=1)))
    assert kb.client.get(f"{BASE}/procedures", headers=_raw(kb, key)).status_code == 200
    with database.session() as s:
        assert [n.nonce for n in s.scalars(select(ApiNonce))] != ["cu-lam-roi-1234"]
        assert s.get(ApiNonce, (key["key_id"], "cu-lam-roi-1234")) is None


def test_call_log_api_filters(kb, database):
    key = kb.key()
    kb.client.get(f"{BASE}/procedures", headers=_raw(kb, key))
    bad = _raw(kb, key)
    bad["X-Ketnoi-Signature"] = "1" * 64
    kb.client.get(f"{BASE}/procedures", headers=bad)
    r = kb.client.get(f"{BASE}/api-calls", params={"key_id": key["key_id"], "status": "error"}, headers=kb.h)
    assert r.status_code == 200
    assert [(x["outcome"], x["status"]) for x in r.json()["items"]] == [("bad_signature", 401)]
    r = kb.client.get(f"{BASE}/api-calls", params={"outcome": "ok"}, headers=kb.h)
    assert r.json()["total"] == 1 and r.json()["items"][0]["path"] == f"{BASE}/procedures"


# --- validation: 4xx in Vietnamese, nothing written ----------------------------------------------
def _nothing_written(database):
    assert count(database, Procedure) == 0 and count(database, Answer) == 0
    assert count(database, KnowledgeAttachment) == 0
    assert not list(service.storage_dir().iterdir())


def test_missing_fields_are_422_and_nothing_is_written(kb, database):
    api = kb.signed(kb.key())
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure({"code": "", "answer": {}})
    assert e.value.status == 422
    fields = {x["field"]: x["message"] for x in e.value.errors}
    assert fields["title"] == "Bắt buộc nhập." and fields["answer.content"] == "Bắt buộc nhập."
    assert "code" in fields
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(procedure_body(answer={"content": "<script>x</script>"}))
    assert e.value.status == 422 and e.value.errors == [
        {"field": "answer.content", "message": "Nội dung câu trả lời không được để trống."}]
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(procedure_body(area_ids=["khong-co"]))
    assert e.value.status == 422 and e.value.errors[0]["field"] == "area_ids"
    _nothing_written(database)
    api.create_procedure(procedure_body())
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(procedure_body(title="Khác"))
    assert e.value.status == 409 and e.value.errors == [{"field": "code", "message": "Mã thủ tục đã tồn tại."}]
    assert count(database, Procedure) == 1


@pytest.mark.parametrize("filename, content, message", [
    ("virus.exe", b"MZ\x90\x00" + b"\x00" * 40, "Chỉ nhận ảnh"),
    ("ghi-chu.txt", b"van ban thuong", "Chỉ nhận ảnh"),
    ("anh.pdf", PNG, "không khớp nội dung"),
    ("rong.pdf", b"", "Tệp rỗng"),
])
def test_forbidden_attachments_are_refused(kb, database, filename, content, message):
    api = kb.signed(kb.key())
    body = procedure_body()
    body["answer"]["attachment"] = {"filename": filename, "content_base64": base64.b64encode(content).decode() or "="}
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(body)
    assert e.value.status == 422, e.value.problem
    assert e.value.errors[0]["field"].startswith("answer.attachment") and message in e.value.errors[0]["message"]
    _nothing_written(database)


def test_bad_base64_is_refused(kb, database):
    api = kb.signed(kb.key())
    body = procedure_body()
    body["answer"]["attachment"] = {"filename": "a.pdf", "content_base64": "không-phải-base64!"}
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(body)
    assert e.value.errors == [{"field": "answer.attachment.content_base64",
                               "message": "Nội dung tệp không phải base64 hợp lệ."}]
    _nothing_written(database)


def test_oversized_attachment_is_refused_and_leaves_no_file(kb, database, monkeypatch):
    monkeypatch.setattr(get_settings(), "attachment_max_mb", 1)
    api = kb.signed(kb.key())
    proc = api.create_procedure(procedure_body())
    answer_id = proc["answers"][0]["id"]
    with pytest.raises(KnowledgeApiError) as e:
        api.upload_attachment(answer_id, "lon.pdf", PDF + b"0" * (1024 * 1024), "application/pdf")
    assert e.value.status == 422 and e.value.errors == [{"field": "file", "message": "Tệp vượt quá 1 MB."}]
    with pytest.raises(KnowledgeApiError) as e:  # refused by its declared length, before being read
        api.upload_attachment(answer_id, "qua-lon.pdf", PDF + b"0" * (2 * 1024 * 1024 + 100), "application/pdf")
    assert e.value.status == 413 and "vượt quá 2 MB" in e.value.detail
    with pytest.raises(KnowledgeApiError) as e:
        api.upload_attachment(answer_id, "script.html", b"<html><script>", "text/html")
    assert e.value.status == 422
    assert count(database, KnowledgeAttachment) == 0 and not list(service.storage_dir().iterdir())
    # a JSON body past the 2 MB guard is refused before anything runs
    big = procedure_body(code="9.9")
    big["answer"]["attachment"] = {"filename": "a.pdf", "content_base64": "A" * (2 * 1024 * 1024 + 10)}
    with pytest.raises(KnowledgeApiError) as e:
        api.create_procedure(big)
    assert e.value.status in (413, 422)
    assert count(database, Procedure) == 1


# --- bearer tokens, permissions, organizations ---------------------------------------------------
def test_bearer_tokens_and_permissions(kb, world, client):
    api = kb.signed(kb.key())
    proc = api.create_procedure(procedure_body())
    world.user("docgia", roles=["home", "knowledge.read"])
    reader = login(client, "docgia")
    assert client.get(f"{BASE}/procedures/{proc['id']}", headers=reader).status_code == 200
    r = client.patch(f"{BASE}/procedures/{proc['id']}", headers=reader, json={"title": "Sửa"})
    assert r.status_code == 403 and r.json()["detail"] == "Bạn không có quyền thực hiện chức năng này."
    r = client.get(f"{BASE}/procedures")
    assert r.status_code == 401
    r = client.get(f"{BASE}/api-keys", headers=reader)
    assert r.status_code == 403
    # a signed request cannot manage keys
    r = client.get(f"{BASE}/api-keys", headers=_raw(kb, kb.key(), path=f"{BASE}/api-keys"))
    assert r.status_code == 401
    # bearer writes work the same way
    r = client.post(f"{BASE}/procedures/{proc['id']}/answers", headers=kb.h, json={"content": "Thêm"})
    assert r.status_code == 201, r.text


def test_organizations_never_see_each_other(kb, world, client, database):
    api_a = kb.signed(kb.key())
    proc = api_a.create_procedure(procedure_body())
    ev = api_a.create_event({"title": "Sự kiện A"})
    world.user("bientap-b", org="b", dept="B1", roles=EDITOR_ROLES)
    hb = login(client, "bientap-b")
    api_b = kb.signed(kb.key(headers=hb))
    for call in (lambda: api_b.get_procedure(proc["id"]), lambda: api_b.get_answer(proc["answers"][0]["id"]),
                 lambda: api_b.update_procedure(proc["id"], {"title": "Bị sửa"}),
                 lambda: api_b.delete_procedure(proc["id"]), lambda: api_b.get_event(ev["id"]),
                 lambda: api_b.delete_event(ev["id"])):
        with pytest.raises(KnowledgeApiError) as e:
            call()
        assert e.value.status == 404
    assert api_b.list_procedures()["total"] == 0
    assert api_b.search("quyen su dung dat")["total"] == 0
    # same code is fine in another organization
    assert api_b.create_procedure(procedure_body())["organization_id"] == world.org_b
    b_calls = client.get(f"{BASE}/api-calls?page_size=200", headers=hb).json()
    assert b_calls["total"] == 9 and {c["key_id"] for c in b_calls["items"]} == {api_b.key_id}
    with database.session() as s:
        assert s.get(Procedure, proc["id"]).title == "Cấp lại Giấy chứng nhận quyền sử dụng đất"


def test_key_creation_is_validated(kb):
    r = kb.client.post(f"{BASE}/api-keys", headers=kb.h, json={"name": "X", "scopes": ["knowledge.keys"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "scopes"
    r = kb.client.post(f"{BASE}/api-keys", headers=kb.h, json={"name": "", "scopes": ["knowledge.read"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "name"
    r = kb.client.post(f"{BASE}/api-keys", headers=kb.h, json={"name": "X", "expires_at": "2001-01-01T00:00:00Z"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "expires_at"
    r = kb.client.post(f"{BASE}/api-keys/kn_khongco/rotate", headers=kb.h)
    assert r.status_code == 404
