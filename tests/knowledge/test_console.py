"""Console pages of the knowledge base through HTTP: the coordinator's tab (search fragment, area
filter, detail with the SMS text), administration of procedures, answers, attachments and events
with inline Vietnamese errors, API keys with the secret shown once, the call log, and the public
look-up page without login."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import func, select

from ketnoi.catalog.models import Area
from ketnoi.knowledge import schemas as S
from ketnoi.knowledge import service
from ketnoi.knowledge.models import Answer, ApiKey, KnowledgeAttachment, KnowledgeEvent, Procedure
from ketnoi.knowledge.signing import secret_of
from tests.factory import SYSTEM
from tests.web.test_console import console_login, csrf_of

PDF = b"%PDF-1.7\n" + b"x" * 100
EDITOR = ["home", "knowledge.write", "knowledge.keys"]
COORDINATOR = ["home", "knowledge.search"]


def login_as(client, username: str) -> str:
    client.cookies.clear()
    assert console_login(client, username).status_code == 303
    return csrf_of(client.get("/account/profile").text)


def _areas(database) -> dict[str, str]:
    with database.session() as s:
        prov = Area(scheme="2025", code="48", name="Thành phố Đà Nẵng", level=1, path="")
        other = Area(scheme="2025", code="01", name="Thành phố Hà Nội", level=1, path="")
        s.add_all([prov, other])
        s.flush()
        prov.path, other.path = f"/{prov.id}/", f"/{other.id}/"
        ward = Area(scheme="2025", code="20194", name="Phường Hải Châu", level=2, parent_id=prov.id,
                    path="")
        s.add(ward)
        s.flush()
        ward.path = prov.path + ward.id + "/"
        return {"province": prov.id, "ward": ward.id, "other": other.id}


@pytest.fixture
def kb(world, database):
    world.user("bientap", roles=EDITOR)
    world.user("dieuphoi", roles=COORDINATOR)
    return world


def make_procedure(world, database, code="1.000894", title="Cấp lại Giấy chứng nhận quyền sử dụng đất",
                   org="a", **extra) -> str:
    p = SYSTEM
    body = {"code": code, "title": title, "type_doc": "bo-tai-nguyen", "field": "Đất đai",
            "organization_id": world.org_a if org == "a" else world.org_b,
            "answer": {"title": "Trình tự thực hiện",
                       "content": "<p>Bước 1: Nộp hồ sơ tại <b>bộ phận một cửa</b>.</p><ul><li>Đơn đề nghị</li></ul>"},
            **extra}
    with database.session() as s:
        return service.create_procedure(s, p, S.ProcedureIn.model_validate(body)).id


# --- the coordinator's tab (CRM-10) ----------------------------------------------------------------
def test_coordinator_searches_as_they_type_and_copies_an_sms(client, kb, database):
    pid = make_procedure(kb, database)
    make_procedure(kb, database, code="2.000001", title="Đăng ký kết hôn")
    make_procedure(kb, database, code="B.1", title="Cấp lại Giấy chứng nhận ở tổ chức B", org="b")
    login_as(client, "dieuphoi")
    page = client.get("/knowledge")
    assert page.status_code == 200
    assert 'hx-trigger="input delay:250ms, change, submit"' in page.text and 'hx-get="/knowledge/results"' in page.text
    assert "Tìm chính xác" in page.text

    r = client.get("/knowledge/results", params={"q": "giay chung nhan"}, headers={"HX-Request": "true"})
    assert r.status_code == 200 and "<html" not in r.text
    assert r.headers["HX-Replace-Url"] == "/knowledge?q=giay+chung+nhan"
    assert f'href="/knowledge/procedures/{pid}"' in r.text
    assert "<mark>" in r.text  # the highlight
    assert "tổ chức B" not in r.text  # never another organization's procedures
    assert 'data-kb-total="1"' in r.text

    # exact mode: the unaccented words no longer match
    r = client.get("/knowledge/results", params={"q": "giay chung nhan", "mode": "exact"})
    assert "data-kb-empty" in r.text
    r = client.get("/knowledge/results", params={"q": "Giấy chứng nhận", "mode": "exact"})
    assert 'data-kb-total="1"' in r.text

    d = client.get(f"/knowledge/procedures/{pid}", headers={"HX-Request": "true"})
    assert d.status_code == 200 and "<html" not in d.text
    assert "Sao chép để gửi SMS" in d.text
    sms = html.unescape(re.search(r'data-sms="([^"]*)"', d.text).group(1))
    assert sms == ("Cấp lại Giấy chứng nhận quyền sử dụng đất – Trình tự thực hiện:\n"
                   "Bước 1: Nộp hồ sơ tại bộ phận một cửa.\n- Đơn đề nghị")
    assert len(sms) <= 640
    full = client.get(f"/knowledge/procedures/{pid}")
    assert "<html" in full.text and "Quay lại tra cứu" in full.text


def test_area_filter_and_hidden_procedures(client, kb, database):
    areas = _areas(database)
    make_procedure(kb, database, area_ids=[areas["ward"]])
    hidden = make_procedure(kb, database, code="3.1", title="Cấp lại giấy phép lái xe", status="hidden")
    login_as(client, "dieuphoi")
    opts = client.get("/knowledge/areas", params={"province": areas["province"]})
    assert "Phường Hải Châu" in opts.text
    r = client.get("/knowledge/results", params={"q": "cap lai", "province": areas["province"],
                                                 "district": areas["ward"]})
    assert 'data-kb-total="1"' in r.text
    r = client.get("/knowledge/results", params={"q": "cap lai", "province": areas["other"]})
    assert "data-kb-empty" in r.text
    # a district left over from another province is ignored, not searched
    r = client.get("/knowledge/results", params={"q": "cap lai", "province": areas["other"],
                                                 "district": areas["ward"]})
    assert "data-kb-empty" in r.text
    # a coordinator never sees a hidden procedure, not even by its address
    assert client.get(f"/knowledge/procedures/{hidden}").status_code == 404


# --- administration ----------------------------------------------------------------------------------
def test_editor_creates_edits_and_deletes_a_procedure(client, kb, database):
    csrf = login_as(client, "bientap")
    assert client.get("/knowledge/admin").status_code == 200
    form = client.get("/knowledge/admin/new")
    assert 'enctype="multipart/form-data"' in form.text
    # required fields: inline messages, nothing written
    r = client.post("/knowledge/admin/new", data={"csrf_token": csrf, "code": "", "title": "", "status": "published",
                                                  "answer_status": "published", "answer_content": ""})
    assert r.status_code == 422
    assert r.text.count("Không được để trống.") >= 2 and "Vui lòng kiểm tra lại" in r.text
    # a forbidden file: the message sits on the file field, nothing written
    r = client.post("/knowledge/admin/new", data={
        "csrf_token": csrf, "code": "1.000894", "title": "Cấp lại Giấy chứng nhận", "status": "published",
        "answer_status": "published", "answer_content": "Nộp hồ sơ"},
        files={"file": ("virus.exe", b"MZ" + b"\x00" * 40, "application/octet-stream")})
    assert r.status_code == 422 and "Chỉ nhận ảnh" in r.text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Procedure)) == 0
    assert not list(service.storage_dir().iterdir())

    r = client.post("/knowledge/admin/new", data={
        "csrf_token": csrf, "code": "1.000894", "title": "Cấp lại Giấy chứng nhận", "status": "published",
        "field": "Đất đai", "answer_title": "Hồ sơ", "answer_status": "published",
        "answer_content": "<p>Đơn đề nghị</p><img src=x onerror=alert(1)>"},
        files={"file": ("mau-don.pdf", PDF, "application/pdf")}, follow_redirects=False)
    assert r.status_code == 303, r.text[:500]
    with database.session() as s:
        proc = s.scalar(select(Procedure))
        assert proc.answers[0].content == "<p>Đơn đề nghị</p>" and proc.answers[0].attachments[0].filename == "mau-don.pdf"
        pid, aid = proc.id, proc.answers[0].id
    page = client.get(r.headers["location"])
    assert "Đã tạo thủ tục 1.000894." in page.text and "mau-don.pdf" in page.text

    # edit the procedure, add an answer, edit it, then delete it
    r = client.post(f"/knowledge/admin/{pid}", data={"csrf_token": csrf, "code": "1.000894", "title": "Cấp đổi",
                                                     "status": "hidden"}, follow_redirects=False)
    assert r.status_code == 303
    r = client.post(f"/knowledge/admin/{pid}/answers", data={"csrf_token": csrf, "answer_title": "Lệ phí",
                                                             "answer_status": "published", "answer_content": ""})
    assert r.status_code == 422 and "Không được để trống." in r.text and 'id="new-answer"' in r.text
    r = client.post(f"/knowledge/admin/{pid}/answers", data={"csrf_token": csrf, "answer_title": "Lệ phí",
                                                             "answer_status": "published",
                                                             "answer_content": "Miễn phí"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        proc = s.get(Procedure, pid)
        assert (proc.title, proc.status) == ("Cấp đổi", "hidden")
        a2 = next(a.id for a in proc.answers if a.id != aid)
    r = client.post(f"/knowledge/admin/answers/{a2}", data={"csrf_token": csrf, "answer_title": "Lệ phí",
                                                            "answer_status": "draft",
                                                            "answer_content": "50.000 đồng"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        assert (s.get(Answer, a2).status, s.get(Answer, a2).content) == ("draft", "<p>50.000 đồng</p>")
    r = client.post(f"/knowledge/admin/answers/{a2}/attachments", data={"csrf_token": csrf},
                    files={"file": ("anh.pdf", b"\x89PNG\r\n\x1a\n" + b"0" * 20, "image/png")}, follow_redirects=False)
    assert "Không đính kèm được" in client.get(r.headers["location"]).text
    assert client.post(f"/knowledge/admin/answers/{a2}/delete", data={"csrf_token": csrf},
                       follow_redirects=False).status_code == 303
    # the last answer cannot go; the procedure can, with its files
    r = client.post(f"/knowledge/admin/answers/{aid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert "ít nhất một câu trả lời" in client.get(r.headers["location"]).text
    r = client.post(f"/knowledge/admin/{pid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert "Đã xóa thủ tục 1.000894" in client.get(r.headers["location"]).text
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Procedure)) == 0
        assert s.scalar(select(func.count()).select_from(KnowledgeAttachment)) == 0
    assert not list(service.storage_dir().iterdir())


def test_admin_list_filters_and_pages(client, kb, database):
    for i in range(25):
        make_procedure(kb, database, code=f"1.{i:03d}", title=f"Thủ tục số {i}",
                       status="draft" if i % 5 == 0 else "published")
    login_as(client, "bientap")
    r = client.get("/knowledge/admin")
    assert "Tổng cộng <strong>25</strong>" in r.text and "Trang 1/2" in r.text
    r = client.get("/knowledge/admin", params={"status": "draft"})
    assert "Tổng cộng <strong>5</strong>" in r.text
    r = client.get("/knowledge/admin", params={"q": "số 23"})
    assert "Tổng cộng <strong>1</strong>" in r.text
    r = client.get("/knowledge/admin", params={"type_doc": "khac"})
    assert "Không có dữ liệu phù hợp." in r.text


def test_events_pages(client, kb, database):
    csrf = login_as(client, "bientap")
    r = client.post("/knowledge/events/new", data={"csrf_token": csrf, "title": "", "status": "published"})
    assert r.status_code == 422 and "Không được để trống." in r.text
    r = client.post("/knowledge/events/new", data={"csrf_token": csrf, "title": "Ngày hội việc làm",
                                                   "starts_at": "2031-05-01T08:00", "ends_at": "2031-05-01T07:00",
                                                   "status": "published"})
    assert r.status_code == 422 and "phải sau thời điểm bắt đầu" in r.text
    r = client.post("/knowledge/events/new", data={"csrf_token": csrf, "title": "Ngày hội việc làm",
                                                   "starts_at": "2031-05-01T08:00", "place": "Nhà văn hóa",
                                                   "status": "published", "description": "Tuyển dụng"},
                    follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        e = s.scalar(select(KnowledgeEvent))
        assert e.starts_at.isoformat() == "2031-05-01T01:00:00+00:00"  # 08:00 in Asia/Ho_Chi_Minh
    assert "Ngày hội việc làm" in client.get("/knowledge/events").text
    assert 'value="2031-05-01T08:00"' in client.get(f"/knowledge/events/{e.id}").text
    r = client.post(f"/knowledge/events/{e.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303


# --- API keys and the call log ---------------------------------------------------------------------
def test_api_keys_page_shows_the_secret_once(client, kb, database):
    csrf = login_as(client, "bientap")
    r = client.post("/knowledge/api-keys", data={"csrf_token": csrf, "name": ""})
    assert r.status_code == 422 and "Nhập tên đối tác" in r.text
    r = client.post("/knowledge/api-keys", data={"csrf_token": csrf, "name": "Cổng DVC tỉnh",
                                                 "scopes": ["knowledge.read", "knowledge.write"]})
    assert r.status_code == 200
    key_id = re.search(r"<code data-key-id>([^<]+)</code>", r.text).group(1)
    secret = re.search(r"<code data-secret[^>]*>([^<]+)</code>", r.text).group(1)
    with database.session() as s:
        key = s.scalar(select(ApiKey).where(ApiKey.key_id == key_id))
        assert secret_of(key) == secret and key.scopes == "knowledge.read knowledge.write"
    listing = client.get("/knowledge/api-keys").text
    assert key_id in listing and secret not in listing
    r = client.post(f"/knowledge/api-keys/{key_id}/rotate", data={"csrf_token": csrf})
    assert f"Đã cấp khóa mới thay cho {key_id}" in r.text and "24 giờ" in r.text
    r = client.post(f"/knowledge/api-keys/{key_id}/revoke", data={"csrf_token": csrf}, follow_redirects=False)
    assert "Đã thu hồi khóa" in client.get(r.headers["location"]).text

    # the call log page with its filters
    client.get("/api/v1/knowledge/procedures", headers={"X-Ketnoi-Key": key_id, "X-Ketnoi-Nonce": "x"})
    log = client.get("/knowledge/api-calls", params={"key_id": key_id, "status": "error"})
    assert log.status_code == 200 and "Thiếu tiêu đề ký" in log.text and "Tổng cộng <strong>1</strong>" in log.text
    assert "Tổng cộng <strong>0</strong>" in client.get("/knowledge/api-calls", params={"outcome": "ok"}).text


# --- public look-up (KB-21, 22) ----------------------------------------------------------------------
def test_public_page_needs_no_login(client, kb, database):
    pid = make_procedure(kb, database)
    make_procedure(kb, database, code="9.9", title="Cấp lại bản nháp", status="draft")
    with database.session() as s:
        service.create_event(s, SYSTEM, S.EventIn(title="Ngày hội việc làm", organization_id=kb.org_a))
    client.cookies.clear()
    r = client.get("/tra-cuu-thu-tuc")
    assert r.status_code == 200 and "Chọn địa phương" in r.text  # two organizations: choose one
    r = client.get("/tra-cuu-thu-tuc", params={"org": "ORG-A", "q": "cap lai"})
    assert r.status_code == 200 and "1 kết quả" in r.text and "<mark>" in r.text and "bản nháp" not in r.text
    assert f"/tra-cuu-thu-tuc/{pid}?back=" in r.text
    d = client.get(f"/tra-cuu-thu-tuc/{pid}", params={"org": "ORG-A"})
    assert d.status_code == 200 and "Trình tự thực hiện" in d.text and 'data-sms="' not in d.text
    assert client.get(f"/tra-cuu-thu-tuc/{pid}", params={"org": "ORG-B"}).status_code == 404
    listing = client.get("/tra-cuu-thu-tuc", params={"org": "ORG-A"})
    assert "Thủ tục mới cập nhật (1)" in listing.text
    ev = client.get("/tra-cuu-thu-tuc", params={"org": "ORG-A", "tab": "events", "q": "viec lam"})
    assert "1 kết quả" in ev.text
    eid = re.search(r'/tra-cuu-thu-tuc/su-kien/(\w+)', ev.text).group(1)
    assert "Ngày hội việc làm" in client.get(f"/tra-cuu-thu-tuc/su-kien/{eid}", params={"org": "ORG-A"}).text
