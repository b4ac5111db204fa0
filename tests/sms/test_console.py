"""Console pages of SMS through HTTP: the inbox threaded by phone with the citizen's reports and its
'Tạo phản ánh' / 'Trả lời' actions (CRM-06), sending, the history with filters, page size and
export (SMS-09, CRM-09), the detail, and the configuration pages with inline Vietnamese errors."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from ketnoi.reports.models import Report
from ketnoi.sms import service
from ketnoi.sms.models import SmsKeywordRule, SmsMessage, SmsProvider, SmsTemplate
from tests.sms.helpers import add_provider, incoming
from tests.web.test_console import console_login, csrf_of

ROLES = ["home", "scope.all_units", "sms.inbox", "sms.send", "sms.history", "sms.admin", "reports.read",
         "reports.create"]


@pytest.fixture
def csrf(client, world):
    world.user("tongdai", roles=ROLES)
    assert console_login(client, "tongdai").status_code == 303
    return csrf_of(client.get("/sms/inbox").text)


@pytest.fixture
def provider(database, world):
    return add_provider(database, world.org_a, "kannel-a", default=True, brandnames=["8077"])


def receive(database, pid, sender="0912345678", text="Xin chào", to="8077"):
    with database.session() as s:
        return service.store_incoming(s, incoming("kannel-a", pid, sender=sender, text=text, to=to)).id


def flash(r) -> str:
    return parse_qs(urlsplit(r.headers["location"]).query).get("msg", parse_qs(urlsplit(
        r.headers["location"]).query).get("err", [""]))[0]


def test_inbox_threads_reply_and_report(client, csrf, database, provider):
    mid = receive(database, "mo-1", text="Nước sinh hoạt có mùi lạ")
    receive(database, "mo-2", sender="0987654321", text="Hỏi giờ làm việc")
    page = client.get("/sms/inbox")
    assert page.status_code == 200
    assert re.findall(r'data-thread="([^"]+)"', page.text) == ["+84987654321", "+84912345678"]
    assert "Chọn một số điện thoại" in page.text

    page = client.get("/sms/inbox?phone=%2B84912345678")
    assert "Nước sinh hoạt có mùi lạ" in page.text and "Tạo phản ánh" in page.text and "Trả lời" in page.text
    assert "Chưa có phản ánh nào từ số điện thoại này." in page.text
    # the live refresh asks for the parts alone
    part = client.get("/sms/inbox?phone=%2B84912345678", headers={"HX-Request": "true", "HX-Target": "sms-threads"})
    assert "<html" not in part.text and 'data-thread="+84912345678"' in part.text
    part = client.get("/sms/inbox?phone=%2B84912345678", headers={"HX-Request": "true", "HX-Target": "sms-thread"})
    assert "<html" not in part.text and "reply-text" in part.text

    r = client.post(f"/sms/messages/{mid}/reply", data={"csrf_token": csrf, "text": ""}, follow_redirects=False)
    assert r.status_code == 303 and flash(r) == "Chưa gửi được: Nội dung tin nhắn không được để trống."
    r = client.post(f"/sms/messages/{mid}/reply", data={"csrf_token": csrf, "text": "Đã chuyển đơn vị cấp nước."},
                    follow_redirects=False)
    assert r.status_code == 303 and "hàng đợi gửi" in flash(r)
    with database.session() as s:
        out = s.scalar(select(SmsMessage).where(SmsMessage.direction == "out"))
        assert (out.phone, out.short_code, out.text) == ("+84912345678", "8077", "Đã chuyển đơn vị cấp nước.")

    form = client.get(f"/sms/messages/{mid}/report")
    assert form.status_code == 200
    assert 'value="Nước sinh hoạt có mùi lạ"' in form.text and 'value="0912345678"' in form.text
    r = client.post(f"/sms/messages/{mid}/report", data={"csrf_token": csrf, "title": "Nước", "content": "x",
                                                         "priority": "normal", "category_id": "khong-co"})
    assert r.status_code == 422 and "Lĩnh vực không tồn tại." in r.text
    r = client.post(f"/sms/messages/{mid}/report", data={
        "csrf_token": csrf, "title": "Nước có mùi lạ", "content": "Nước sinh hoạt có mùi lạ", "priority": "high",
        "citizen_name": "Trần Thị Bình"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports/")
    with database.session() as s:
        rep = s.scalar(select(Report))
        assert (rep.channel, rep.priority, rep.citizen_phone, rep.source_sms_id) == ("sms", "high", "+84912345678",
                                                                                    mid)
    page = client.get("/sms/inbox?phone=%2B84912345678")
    assert rep.code in page.text  # the earlier reports of the citizen, and the link on the message


def test_send_page(client, csrf, database, provider):
    assert client.get("/sms/send").status_code == 200
    r = client.post("/sms/send", data={"csrf_token": csrf, "phone": "0281234567", "text": "Chào", "priority": "5"})
    assert r.status_code == 422 and "Không phải số di động Việt Nam hợp lệ." in r.text
    r = client.post("/sms/send", data={"csrf_token": csrf, "phone": "0912345678", "text": "Họp tổ dân phố lúc 19h",
                                       "priority": "3"}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/sms/messages/")
    detail = client.get(r.headers["location"].split("?")[0])
    assert "Họp tổ dân phố lúc 19h" in detail.text and "Chờ gửi" in detail.text


def test_history_filters_page_size_and_export(client, csrf, database, provider):
    for i in range(12):
        receive(database, f"mo-{i}", sender=f"09123456{i:02d}", text=f"Tin số {i}")
    page = client.get("/sms/history?page_size=10")
    assert page.status_code == 200 and "Tổng cộng <strong>12</strong>" in page.text
    assert page.text.count("/sms/messages/") >= 10
    page = client.get("/sms/history?phone=0912345605")
    assert "Tổng cộng <strong>1</strong>" in page.text and "Tin số 5" in page.text
    page = client.get("/sms/history?direction=out")
    assert "Không có dữ liệu phù hợp." in page.text
    page = client.get("/sms/history?sort=nope")
    assert "Không thể sắp xếp" in page.text
    r = client.get("/sms/history/export.xlsx?phone=0912345605")
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")


def test_provider_pages_build_forms_from_the_kind(client, csrf, database, world):
    assert "Kannel" in client.get("/sms/providers/new").text
    form = client.get("/sms/providers/new?kind=kannel")
    assert form.status_code == 200 and 'name="config.sendsms_url"' in form.text
    assert 'type="password"' in form.text
    data = {"csrf_token": csrf, "name": "kannel-1", "brandnames": "8077, UBND-A", "priority": "10", "enabled": "1",
            "config.sendsms_url": "http://127.0.0.1:13013/cgi-bin/sendsms", "config.username": "tester",
            "config.password": "testpw", "config.callback_base_url": "khong-phai-url",
            "config.inbound_secret": "a-long-inbound-secret-123", "config.dlr_mask": "31"}
    r = client.post("/sms/providers/new?kind=kannel", data=data)
    assert r.status_code == 422 and "http://" in r.text
    r = client.post("/sms/providers/new?kind=kannel", data={**data, "config.callback_base_url": "http://127.0.0.1:8000"},
                    follow_redirects=False)
    assert r.status_code == 303, r.text[:2000]
    with database.session() as s:
        pr = s.scalar(select(SmsProvider))
        assert pr.brandnames == ["8077", "UBND-A"] and pr.config["password"] == "testpw" and pr.enabled
    listing = client.get("/sms/providers")
    assert "kannel-1" in listing.text and "Chưa chạy" in listing.text
    edit = client.get(f"/sms/providers/{pr.id}")
    assert edit.status_code == 200 and "testpw" not in edit.text and "a-long-inbound" not in edit.text
    # the get-url to put in Kannel's sms-service, with a placeholder for the write-only secret
    assert (f"http://127.0.0.1:8000/api/v1/sms/gateway/kannel/{pr.id}/mo?k=&lt;KHÓA&gt;&amp;id=%I&amp;from=%p"
            in edit.text)
    r = client.post(f"/sms/providers/{pr.id}", data={**data, "config.callback_base_url": "http://127.0.0.1:8000",
                                                     "config.password": "", "config.inbound_secret": "",
                                                     "config.username": "khac"}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        pr = s.get(SmsProvider, pr.id)
        assert (pr.config["username"], pr.config["password"]) == ("khac", "testpw")
    r = client.post(f"/sms/providers/{pr.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        assert s.scalar(select(SmsProvider)) is None


def test_template_and_keyword_pages(client, csrf, database, provider):
    assert client.get("/sms/templates").status_code == 200
    r = client.post("/sms/templates/new", data={"csrf_token": csrf, "code": "ack", "name": "Xác nhận",
                                                "body": "Đã nhận {code", "is_active": "1"})
    assert r.status_code == 422 and "ngoặc nhọn" in r.text
    r = client.post("/sms/templates/new", data={"csrf_token": csrf, "code": "ack", "name": "Xác nhận",
                                                "body": "Đã nhận phản ánh {code}", "is_active": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        t = s.scalar(select(SmsTemplate))
    assert "Đã nhận phản ánh {code}" in client.get("/sms/templates").text
    assert client.get(f"/sms/templates/{t.id}").status_code == 200
    form = client.get("/sms/keyword-rules/new")
    assert form.status_code == 200 and f'value="{t.id}"' in form.text
    r = client.post("/sms/keyword-rules/new", data={"csrf_token": csrf, "keyword": "pa", "action": "create_report",
                                                    "ack_template_id": t.id, "is_active": "1"},
                    follow_redirects=False)
    assert r.status_code == 303
    with database.session() as s:
        rule = s.scalar(select(SmsKeywordRule))
        assert (rule.keyword, rule.ack_template_id) == ("PA", t.id)
    r = client.post("/sms/keyword-rules/new", data={"csrf_token": csrf, "keyword": "PA", "action": "create_report"})
    assert r.status_code == 422 and "đã có quy tắc" in r.text
    assert "PA" in client.get("/sms/keyword-rules").text
    r = client.post(f"/sms/templates/{t.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert "Không xóa được" in flash(r)
    r = client.post(f"/sms/keyword-rules/{rule.id}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303
