"""The SMS inbox in a real browser (SMS-01, 03, CRM-06): a coordinator keeps the inbox open; a
citizen's message arrives through the providers' sink and shows up without a reload (hub event
``sms.received``), in the open thread too; the coordinator answers and turns it into a report."""

from __future__ import annotations

import asyncio
import re
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from ketnoi.reports.models import Report
from ketnoi.sms.models import SmsMessage
from ketnoi.sms.worker import DbSink
from tests.browser.test_console import sign_in, wait_for_hub
from tests.sms.helpers import add_provider, incoming

pytestmark = pytest.mark.browser

ROLES = ["home", "scope.all_units", "sms.inbox", "sms.send", "sms.history", "reports.read", "reports.create"]


def deliver(sink: DbSink, sms) -> None:
    """The provider's side: ``await sink.incoming(...)`` on its own loop (Playwright holds this thread's)."""
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, sink.incoming(sms)).result(timeout=30)


def test_new_sms_appears_live_then_reply_and_report(new_page, world, database):
    world.user("tongdai", roles=ROLES)
    add_provider(database, world.org_a, "kannel-a", default=True)
    sink = DbSink(database)
    deliver(sink, incoming("kannel-a", "mo-1", sender="0912345678", text="Cống thoát nước bị tắc", to="8077"))

    page = new_page()
    sign_in(page, "tongdai")
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    page.goto("/sms/inbox?phone=%2B84912345678")
    expect(page.get_by_role("heading", name="Hộp thư SMS đến")).to_be_visible()
    expect(page.locator("[data-thread]")).to_have_count(1)
    wait_for_hub(page)

    # another citizen writes: the thread list grows without a reload
    deliver(sink, incoming("kannel-a", "mo-2", sender="0987654321", text="Đèn tín hiệu hỏng", to="8077"))
    expect(page.locator("[data-thread]")).to_have_count(2)
    expect(page.locator("[data-thread]").first).to_contain_text("0987654321")
    # the citizen of the open thread writes again: the open thread shows it
    deliver(sink, incoming("kannel-a", "mo-3", sender="0912345678", text="Đã 3 ngày rồi", to="8077"))
    expect(page.locator(".sms-msg.in")).to_have_count(2)
    expect(page.locator(".sms-msg.in").last).to_contain_text("Đã 3 ngày rồi")

    page.get_by_label(re.compile("Trả lời 0912345678")).fill("Tổng đài 1022 đã chuyển tới công ty thoát nước.")
    page.get_by_role("button", name="Trả lời").click()
    expect(page.get_by_role("status")).to_contain_text("hàng đợi gửi")
    expect(page.locator(".sms-msg.out")).to_contain_text("công ty thoát nước")

    page.locator(".sms-msg.in").first.get_by_role("link", name="Tạo phản ánh").click()
    expect(page.get_by_label("Tiêu đề")).to_have_value("Cống thoát nước bị tắc")
    page.get_by_role("button", name="Tạo phản ánh").click()
    expect(page.get_by_role("status")).to_contain_text("từ tin nhắn SMS")
    with database.session() as s:
        r = s.scalar(select(Report))
        m = s.scalar(select(SmsMessage).where(SmsMessage.report_id == r.id))
        assert (r.channel, r.citizen_phone, m.text) == ("sms", "+84912345678", "Cống thoát nước bị tắc")
