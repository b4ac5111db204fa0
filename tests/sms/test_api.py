"""The SMS API (/api/v1/sms/…): sending and replying with Vietnamese validation errors, the inbox by
phone, a report from a message (CRM-06), history filters, paging, sort and the .xlsx export
(SMS-06, 07, 09, CRM-09), and the configuration with write-only secrets."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from ketnoi.sms import sending, service
from ketnoi.sms.models import SmsMessage, SmsProvider
from ketnoi.sms.providers.base import SubmitResult
from tests.conftest import login
from tests.sms.helpers import HTTP_CONFIG, add_provider, incoming

SMS_ROLES = ["home", "scope.all_units", "sms.inbox", "sms.send", "sms.history", "sms.admin", "reports.read",
             "reports.create"]


@pytest.fixture
def h(client, world):
    world.user("tongdai", roles=SMS_ROLES)
    return login(client, "tongdai")


@pytest.fixture
def provider(database, world):
    return add_provider(database, world.org_a, "kannel-a", default=True)


def receive(database, pid, sender="0912345678", text="Xin chào", to="8077", at=None):
    with database.session() as s:
        return service.store_incoming(s, incoming("kannel-a", pid, sender=sender, text=text, to=to, at=at)).id


def problem(r, status):
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    return r.json()


# --- sending ------------------------------------------------------------------------------------
def test_send_queues_a_message(client, h, provider):
    r = client.post("/api/v1/sms/messages", headers=h, json={"phone": "0912 345 678", "text": "Lịch tiếp dân thứ Năm"})
    assert r.status_code == 201, r.text
    m = r.json()
    assert (m["phone"], m["direction"], m["status"], m["status_label"], m["encoding"]) == (
        "+84912345678", "out", "queued", "Chờ gửi", "ucs2")


@pytest.mark.parametrize("body, field, message", [
    ({"phone": "0281234567", "text": "Xin chào"}, "phone", "Không phải số di động Việt Nam hợp lệ."),
    ({"phone": "0912345678", "text": ""}, "text", "Nội dung tin nhắn không được để trống."),
    ({"phone": "0912345678", "text": "đ" * 600}, "text", None),
    ({"phone": "0912345678", "template_code": "khong-co"}, "template_code",
     "Không có mẫu tin nhắn đang dùng với mã 'khong-co'."),
    ({"phone": "0912345678", "text": "x", "sender": "TEN QUA DAI 1"}, "sender", None),
    ({"phone": "0912345678", "text": "x", "priority": 0}, "priority", None),
])
def test_send_refuses_bad_input_with_vietnamese_messages(client, h, provider, body, field, message):
    p = problem(client.post("/api/v1/sms/messages", headers=h, json=body), 422)
    assert p["errors"][0]["field"] == field, p
    if message:
        assert p["errors"][0]["message"] == message
    assert re.search(r"[ạảấầẩẫậắằẳẵặẹẻẽếềểễệỉịọỏốồổỗộớờởỡợụủứừửữựỳỵỷỹđ]", p["errors"][0]["message"].lower())


def test_send_with_a_template(client, h, provider):
    t = client.post("/api/v1/sms/templates", headers=h, json={
        "code": "lich", "name": "Lịch hẹn", "body": "Mời ông/bà {ten} đến lúc {gio}.", "brandname": "UBND-A"}).json()
    assert t["variables"] == ["ten", "gio"]
    r = client.post("/api/v1/sms/messages", headers=h, json={"phone": "0912345678", "template_code": "lich",
                                                             "variables": {"ten": "An", "gio": "8 giờ"}})
    assert r.status_code == 201 and r.json()["text"] == "Mời ông/bà An đến lúc 8 giờ."
    assert r.json()["short_code"] == "UBND-A" and r.json()["template_id"] == t["id"]
    p = problem(client.post("/api/v1/sms/messages", headers=h, json={"phone": "0912345678", "template_code": "lich"}),
                422)
    assert p["errors"][0] == {"field": "variables", "message": "Thiếu giá trị cho biến: {ten}, {gio}."}


def test_system_administrator_chooses_the_organization(client, world, provider):
    root = login(client, "root")
    p = problem(client.post("/api/v1/sms/messages", headers=root, json={"phone": "0912345678", "text": "Chào"}), 422)
    assert p["errors"][0]["field"] == "organization_id"
    r = client.post("/api/v1/sms/messages", headers=root, json={"phone": "0912345678", "text": "Chào",
                                                                "organization_id": world.org_a})
    assert r.status_code == 201 and r.json()["organization_id"] == world.org_a


# --- inbox, reply, report -----------------------------------------------------------------------
def test_threads_detail_reply_and_report(client, h, database, provider, world):
    first = receive(database, "mo-1", text="Đèn đường khu phố 3 không sáng")
    receive(database, "mo-2", sender="0987654321", text="Hỏi thủ tục")
    threads = client.get("/api/v1/sms/threads", headers=h).json()
    assert [t["phone"] for t in threads["items"]] == ["+84987654321", "+84912345678"]
    assert threads["items"][1]["unhandled"] == 1

    r = client.post(f"/api/v1/sms/messages/{first}/reply", headers=h, json={"text": "Chúng tôi đã ghi nhận."})
    assert r.status_code == 201, r.text
    assert (r.json()["short_code"], r.json()["reply_to_id"], r.json()["priority"]) == ("8077", first, 3)
    out_id = r.json()["id"]
    problem(client.post(f"/api/v1/sms/messages/{out_id}/reply", headers=h, json={"text": "x"}), 409)
    assert client.get("/api/v1/sms/threads?unhandled=true", headers=h).json()["total"] == 1

    r = client.post(f"/api/v1/sms/messages/{first}/report", headers=h, json={"citizen_name": "Nguyễn Văn An"})
    assert r.status_code == 201, r.text
    code, report_id = r.json()["code"], r.json()["report_id"]
    assert r.json()["message"]["report_code"] == code
    report = client.get(f"/api/v1/reports/{report_id}", headers=h).json()
    assert (report["channel"], report["citizen_phone"], report["content"], report["citizen_name"]) == (
        "sms", "+84912345678", "Đèn đường khu phố 3 không sáng", "Nguyễn Văn An")
    assert report["source_sms_id"] == first
    problem(client.post(f"/api/v1/sms/messages/{first}/report", headers=h, json={}), 409)

    t = client.get("/api/v1/sms/threads/0912345678", headers=h).json()
    assert [m["direction"] for m in t["messages"]] == ["in", "out"]
    assert [x["code"] for x in t["reports"]] == [code]
    problem(client.get("/api/v1/sms/threads/0900000000", headers=h), 404)


def test_report_from_sms_needs_the_report_permission(client, world, database, provider):
    mid = receive(database, "mo-1")
    world.user("chixem", roles=["home", "sms.inbox"])
    p = problem(client.post(f"/api/v1/sms/messages/{mid}/report", headers=login(client, "chixem"), json={}), 403)
    assert p["detail"] == "Bạn không có quyền tạo phản ánh."


def test_message_detail_has_history_and_provider_ids(client, h, database, provider, world):
    mid = client.post("/api/v1/sms/messages", headers=h, json={"phone": "0912345678", "text": "Thông báo"}).json()["id"]
    with database.session() as s:
        (c,) = sending.claim(s, "w", 5)
        sending.record(s, "w", [sending.Outcome(id=c.id, provider="kannel-a", result=SubmitResult(
            provider_message_ids=["k-77"], parts=1, encoding="gsm7"))])
    d = client.get(f"/api/v1/sms/messages/{mid}", headers=h).json()
    assert [x["to_status"] for x in d["history"]] == ["queued", "sending", "accepted"]
    assert d["provider_ids"] == [{"seq": 1, "provider": "kannel-a", "provider_message_id": "k-77",
                                  "status": "accepted", "error": ""}]
    world.user("docb", org="b", dept="B1", roles=SMS_ROLES)
    problem(client.get(f"/api/v1/sms/messages/{mid}", headers=login(client, "docb")), 404)


# --- history ------------------------------------------------------------------------------------
def test_history_filters_paging_and_sort(client, h, database, provider):
    now = datetime.now(UTC)
    receive(database, "old", sender="0912000111", text="Cũ", at=now - timedelta(days=10))
    receive(database, "new", sender="0912000222", text="Mới")
    client.post("/api/v1/sms/messages", headers=h, json={"phone": "0912000111", "text": "Trả lời"})
    base = "/api/v1/sms/messages"
    assert client.get(base, headers=h).json()["total"] == 3
    assert client.get(f"{base}?phone=0912000111", headers=h).json()["total"] == 2
    assert client.get(f"{base}?phone=000222", headers=h).json()["total"] == 1  # part of a number
    assert client.get(f"{base}?direction=out", headers=h).json()["items"][0]["text"] == "Trả lời"
    assert client.get(f"{base}?status=received", headers=h).json()["total"] == 2
    since = (now - timedelta(days=1)).astimezone().replace(tzinfo=None).isoformat(timespec="seconds")
    assert client.get(f"{base}?since={since}", headers=h).json()["total"] == 2
    page = client.get(f"{base}?page_size=2&page=2&sort=created_at", headers=h).json()
    assert (page["page"], page["page_size"], page["total"], len(page["items"])) == (2, 2, 3, 1)
    assert client.get(f"{base}?sort=created_at", headers=h).json()["items"][0]["text"] == "Cũ"
    assert problem(client.get(f"{base}?sort=secret", headers=h), 422)["errors"][0]["field"] == "sort"
    assert problem(client.get(f"{base}?status=lost", headers=h), 422)["errors"][0]["field"] == "status"
    assert problem(client.get(f"{base}?since=2026-02-02T00:00:00&until=2026-02-01T00:00:00", headers=h),
                   422)["errors"][0]["field"] == "until"
    problem(client.get(f"{base}?direction=sideways", headers=h), 422)


def test_export_xlsx_has_vietnamese_headers_and_typed_dates(client, h, database, provider):
    receive(database, "mo-1", text="=HYPERLINK(\"x\")")
    receive(database, "mo-2", text="Cống bị tắc")
    r = client.get("/api/v1/sms/messages/export.xlsx?direction=in", headers=h)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("application/vnd.openxmlformats")
    assert "lich-su-sms-" in r.headers["content-disposition"]
    ws = load_workbook(io.BytesIO(r.content)).active
    assert [c.value for c in ws[4]][:6] == ["STT", "Thời điểm", "Chiều", "Số điện thoại", "Đầu số / Brandname",
                                            "Nội dung"]
    rows = list(ws.iter_rows(min_row=5, values_only=True))
    assert len(rows) == 2 and isinstance(rows[0][1], datetime) and rows[0][3] == "0912345678"
    assert {rows[0][5], rows[1][5]} == {"=HYPERLINK(\"x\")", "Cống bị tắc"}
    cell = next(c for c in ws["F"] if c.value == "=HYPERLINK(\"x\")")
    assert cell.data_type == "s"  # never a formula
    assert "Chiều: Đến" in ws["A2"].value


def test_reset_codes_are_masked_except_for_system_administrators(client, h, world, database, provider):
    with database.session() as s:
        service.queue_sms(s, organization_id=world.org_a, phone="0912345678", purpose="password_reset",
                          text="Mã khôi phục mật khẩu ketnoi của bạn là 482913.")
    items = client.get("/api/v1/sms/messages", headers=h).json()["items"]
    assert "482913" not in items[0]["text"] and "••••••" in items[0]["text"]
    root = client.get("/api/v1/sms/messages", headers=login(client, "root")).json()["items"]
    assert "482913" in root[0]["text"]


# --- configuration ------------------------------------------------------------------------------
KANNEL = {"sendsms_url": "http://127.0.0.1:13013/cgi-bin/sendsms", "username": "tester", "password": "testpw",
          "callback_base_url": "http://127.0.0.1:8000", "inbound_secret": "a-long-inbound-secret-123"}


def test_provider_secrets_are_write_only(client, h, database):
    r = client.post("/api/v1/sms/providers", headers=h, json={
        "name": "kannel-1", "kind": "kannel", "config": KANNEL, "brandnames": ["UBND-A", "8077"], "is_default": True})
    assert r.status_code == 201, r.text
    pr = r.json()
    assert "password" not in pr["config"] and "inbound_secret" not in pr["config"]
    assert pr["secrets_set"] == ["inbound_secret", "password"] and pr["config"]["username"] == "tester"
    assert "testpw" not in client.get(f"/api/v1/sms/providers/{pr['id']}", headers=h).text
    assert "testpw" not in client.get("/api/v1/sms/providers", headers=h).text
    # a change without the secrets keeps them
    r = client.patch(f"/api/v1/sms/providers/{pr['id']}", headers=h, json={
        "config": {**KANNEL, "password": "", "inbound_secret": "", "username": "other"}})
    assert r.status_code == 200, r.text
    with database.session() as s:
        cfg = s.get(SmsProvider, pr["id"]).config
        assert (cfg["password"], cfg["username"], cfg["inbound_secret"]) == ("testpw", "other", KANNEL["inbound_secret"])
    audit = client.get("/api/v1/audit?entity_type=sms_provider", headers=login(client, "root")).text
    assert "testpw" not in audit


def test_provider_validation(client, h, provider):
    p = problem(client.post("/api/v1/sms/providers", headers=h, json={
        "name": "smpp-1", "kind": "smpp", "config": {"host": "127.0.0.1", "port": 99999, "system_id": "ketnoi"}}), 422)
    assert p["errors"][0]["field"] == "config.port"
    p = problem(client.post("/api/v1/sms/providers", headers=h, json={
        "name": "KANNEL-A", "kind": "http", "config": HTTP_CONFIG}), 422)
    assert p["errors"] == [{"field": "name", "message": "Tên nhà cung cấp đã được dùng; chọn tên khác."}]
    problem(client.post("/api/v1/sms/providers", headers=h, json={"name": "có dấu", "kind": "http",
                                                                  "config": HTTP_CONFIG}), 422)
    problem(client.post("/api/v1/sms/providers", headers=h, json={"name": "x", "kind": "fax"}), 422)


def test_one_default_provider_per_organization(client, h, database, provider):
    r = client.post("/api/v1/sms/providers", headers=h, json={"name": "vt", "kind": "http", "config": HTTP_CONFIG,
                                                              "is_default": True})
    assert r.status_code == 201
    with database.session() as s:
        assert [p.name for p in s.scalars(select(SmsProvider).where(SmsProvider.is_default.is_(True)))] == ["vt"]
    assert client.delete(f"/api/v1/sms/providers/{r.json()['id']}", headers=h).status_code == 204


def test_templates_and_keyword_rules_crud(client, h, world, provider):
    t = client.post("/api/v1/sms/templates", headers=h, json={"code": "ack", "name": "Xác nhận",
                                                              "body": "Đã nhận {code}"}).json()
    problem(client.post("/api/v1/sms/templates", headers=h, json={"code": "ack", "name": "Trùng", "body": "x"}), 422)
    p = problem(client.post("/api/v1/sms/templates", headers=h, json={"code": "x", "name": "X", "body": "{mã}"}), 422)
    assert "Tên biến" in p["errors"][0]["message"]
    r = client.post("/api/v1/sms/keyword-rules", headers=h, json={"keyword": "pa", "ack_template_id": t["id"]})
    assert r.status_code == 201 and r.json()["keyword"] == "PA"
    rule = r.json()["id"]
    problem(client.post("/api/v1/sms/keyword-rules", headers=h, json={"keyword": "PA"}), 422)
    problem(client.post("/api/v1/sms/keyword-rules", headers=h, json={"keyword": "P A"}), 422)
    problem(client.post("/api/v1/sms/keyword-rules", headers=h, json={"keyword": "GY", "category_id": "x1"}), 422)
    assert problem(client.delete(f"/api/v1/sms/templates/{t['id']}", headers=h), 409)["detail"].startswith(
        "Mẫu tin đang dùng")
    r = client.patch(f"/api/v1/sms/keyword-rules/{rule}", headers=h, json={"is_active": False, "ack_template_id": None})
    assert r.status_code == 200 and r.json()["is_active"] is False and r.json()["ack_template_id"] is None
    assert client.delete(f"/api/v1/sms/templates/{t['id']}", headers=h).status_code == 204
    assert client.delete(f"/api/v1/sms/keyword-rules/{rule}", headers=h).status_code == 204
    world.user("docb", org="b", dept="B1", roles=SMS_ROLES)
    hb = login(client, "docb")
    assert client.get("/api/v1/sms/providers", headers=hb).json()["items"] == []
    problem(client.get(f"/api/v1/sms/providers/{provider}", headers=hb), 404)


def test_org_b_sees_no_org_a_messages(client, world, database, provider, h):
    mid = receive(database, "mo-1")
    world.user("docb", org="b", dept="B1", roles=SMS_ROLES)
    hb = login(client, "docb")
    assert client.get("/api/v1/sms/messages", headers=hb).json()["items"] == []
    assert client.get("/api/v1/sms/threads", headers=hb).json()["items"] == []
    problem(client.get("/api/v1/sms/threads/0912345678", headers=hb), 404)
    problem(client.post(f"/api/v1/sms/messages/{mid}/reply", headers=hb, json={"text": "x"}), 404)
    problem(client.post(f"/api/v1/sms/messages/{mid}/report", headers=hb, json={}), 404)
    with database.session() as s:
        assert s.scalar(select(SmsMessage).where(SmsMessage.direction == "out")) is None


def test_thread_of_an_alphanumeric_sender_opens(client, h, database, provider):
    receive(database, "mo-1", sender="VIETTEL", text="Khuyến mãi")
    assert [t["phone"] for t in client.get("/api/v1/sms/threads", headers=h).json()["items"]] == ["VIETTEL"]
    assert client.get("/api/v1/sms/threads/VIETTEL", headers=h).json()["messages"][0]["text"] == "Khuyến mãi"
