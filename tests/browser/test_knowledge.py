"""The knowledge base in real browsers (KB-12…20, CRM-10): an administrator adds a procedure with
its first answer in the console; a coordinator, on the /knowledge tab, finds it by typing an
unaccented query (search-as-you-type), sees the matched words highlighted, opens the detail and
copies the answer for an SMS with one click."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser


def test_admin_adds_a_procedure_and_a_coordinator_finds_it_unaccented(new_page, world):
    world.user("quantri.tthc", roles=["home", "knowledge.write"])
    world.user("dieuphoi", roles=["home", "knowledge.search"])

    admin = new_page()
    sign_in(admin, "quantri.tthc")
    expect(admin.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    admin.goto("/knowledge/admin")
    expect(admin.get_by_role("heading", name="Cơ sở tri thức thủ tục hành chính")).to_be_visible()
    admin.get_by_role("link", name="+ Thêm mới").click()
    expect(admin.get_by_role("heading", name="Thêm thủ tục hành chính")).to_be_visible()
    admin.get_by_label("Mã thủ tục").fill("2.000528")
    admin.get_by_label("Tên thủ tục").fill("Đăng ký lại khai sinh")
    admin.get_by_label("Lĩnh vực").fill("Hộ tịch")
    admin.get_by_label("Tiêu đề câu trả lời").fill("Hồ sơ cần nộp")
    admin.get_by_label("Nội dung câu trả lời").fill(
        "Tờ khai đăng ký lại khai sinh theo mẫu.\nBản sao giấy tờ tùy thân.\n\nLệ phí: miễn phí.")
    admin.get_by_role("button", name="Lưu thủ tục").click()
    expect(admin.get_by_role("status")).to_have_text("Đã tạo thủ tục 2.000528.")
    expect(admin.get_by_role("heading", name="2.000528 – Đăng ký lại khai sinh")).to_be_visible()

    coord = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in(coord, "dieuphoi")
    expect(coord.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    coord.get_by_role("link", name="Tra cứu thủ tục hành chính (tab tổng đài)").click()
    expect(coord.get_by_role("heading", name="Tra cứu thủ tục hành chính")).to_be_visible()
    coord.get_by_label("Từ khóa").press_sequentially("dang ky lai khai sinh", delay=20)
    hit = coord.locator("#kb-results .kb-hit")
    expect(hit).to_have_count(1)
    expect(hit.locator("a.kb-hit-title")).to_contain_text("Đăng ký lại khai sinh")
    expect(hit.locator("mark").first).to_be_visible()
    marked = " ".join(hit.locator("a.kb-hit-title mark, .kb-snippet mark").all_inner_texts()).lower()
    assert "khai" in marked and "sinh" in marked, marked
    expect(coord).to_have_url(re.compile(r"/knowledge\?q=dang\+ky\+lai\+khai\+sinh"))

    hit.locator("a.kb-hit-title").click()
    detail = coord.locator("#kb-detail")
    expect(detail.get_by_role("heading", name="Đăng ký lại khai sinh")).to_be_visible()
    expect(detail.locator(".kb-answer h3")).to_have_text("Hồ sơ cần nộp")
    detail.get_by_role("button", name="Sao chép để gửi SMS").click()
    expect(detail.locator("[data-sms][data-copied]")).to_have_count(1)
    copied = coord.evaluate("() => navigator.clipboard.readText()")
    assert copied == ("Đăng ký lại khai sinh – Hồ sơ cần nộp:\nTờ khai đăng ký lại khai sinh theo mẫu.\n"
                      "Bản sao giấy tờ tùy thân.\nLệ phí: miễn phí.")
