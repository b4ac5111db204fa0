"""The console in a real browser: sign-in, password change and session replacement over the hub
(PERM-03, VC-10), administration forms with inline validation, password recovery by SMS (CRM-02)
and the small-screen menu."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from tests.conftest import PASSWORD

pytestmark = pytest.mark.browser

NEW_PASSWORD = "Doi-Mat-Khau-2027#"


def sign_in(page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()


def wait_for_hub(page: Page) -> None:
    """Until this page's WebSocket has been accepted and registered by the hub (`hub.ready`)."""
    page.wait_for_function("() => (window.__hubEvents || []).includes('hub.ready')")


def test_password_change_then_login_elsewhere_ends_first_session(new_page, world):
    world.user("minh", roles=["home"])
    first = new_page()
    sign_in(first, "minh")
    expect(first.get_by_role("heading", name=re.compile("Xin chào"))).to_contain_text("Người dùng minh")
    expect(first).to_have_url(re.compile(r"/$"))

    first.get_by_role("link", name="Đổi mật khẩu").click()
    expect(first).to_have_url(re.compile(r"/account/password$"))
    expect(first.get_by_role("heading", name="Đổi mật khẩu")).to_be_visible()
    first.locator("[name=current_password]").fill(PASSWORD)
    first.locator("[name=new_password]").fill(NEW_PASSWORD)
    first.locator("[name=confirm_password]").fill(NEW_PASSWORD)
    first.get_by_role("button", name="Đổi mật khẩu").click()
    expect(first.get_by_role("status")).to_have_text("Đã đổi mật khẩu thành công.")
    expect(first.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    wait_for_hub(first)  # the first device now sits on a console page, connected to the hub

    second = new_page()  # another device: the old password no longer works, the new one does
    sign_in(second, "minh")
    expect(second.locator(".alert.err")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    sign_in(second, "minh", NEW_PASSWORD)
    expect(second.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()

    # the first device is told at once, then sent to the login page with the reason
    expect(first.locator(".toast")).to_contain_text("đăng nhập trên thiết bị khác")
    expect(first).to_have_url(re.compile(r"/login\?ended=[0-9a-f]{32}"))
    notice = first.locator("#session-notice")
    expect(notice).to_contain_text("đăng nhập trên thiết bị khác")
    expect(notice).to_contain_text("Chrome")
    # and its old session cookie no longer opens console pages
    first.goto("/")
    expect(first).to_have_url(re.compile(r"/login\?"))
    expect(first.get_by_role("button", name="Đăng nhập")).to_be_visible()

    # the second device keeps working
    second.reload()
    expect(second.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()


def test_wrong_password_is_refused_on_the_login_page(new_page, world):
    world.user("hoa", roles=["home"])
    page = new_page()
    sign_in(page, "hoa", "Sai-mat-khau-1!")
    expect(page.get_by_role("alert")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.get_by_label("Tên đăng nhập")).to_have_value("hoa")
    expect(page.get_by_label("Mật khẩu")).to_have_value("")
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_have_count(0)


def test_admin_creates_user_with_inline_validation_and_finds_it(new_page, world):
    page = new_page()
    sign_in(page, "root")
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    page.goto("/admin/users")
    page.get_by_role("link", name="+ Thêm mới").click()
    expect(page).to_have_url(re.compile(r"/admin/users/new$"))
    expect(page.get_by_role("heading", name="Thêm người dùng")).to_be_visible()

    def inp(name: str):  # form controls by their id; every one has a <label for=…>
        return page.locator(f"#f-{name}")

    def field(name: str):
        return page.locator(f".field:has([name={name}])")

    def fill_password():  # password inputs are never echoed back after an error
        inp("password").fill("Ban-dau-2026!")

    inp("organization_id").select_option(label="ORG-A – Tỉnh A")
    inp("username").fill("thao.nguyen")
    inp("code").fill("TN-01")
    inp("phone").fill("0987654321")
    inp("department_id").select_option(label="A-ROOT – Sở A")
    fill_password()
    page.get_by_role("button", name="Lưu").click()

    # 1) a required field left empty
    expect(page.get_by_role("alert").first).to_have_text("Vui lòng kiểm tra lại các trường được đánh dấu.")
    expect(field("full_name").locator(".error")).to_have_text("Không được để trống.")
    expect(field("full_name")).to_have_class(re.compile("has-error"))
    expect(page.locator(".field .error")).to_have_count(1)
    expect(inp("username")).to_have_value("thao.nguyen")
    expect(inp("code")).to_have_value("TN-01")
    expect(inp("phone")).to_have_value("0987654321")
    expect(inp("organization_id")).to_have_value(world.org_a)
    expect(inp("department_id")).to_have_value(world.dept["A-ROOT"])

    # 2) a malformed email
    inp("full_name").fill("Đặng Thu Thảo")
    inp("email").fill("thao@@khong-hop-le")
    fill_password()
    page.get_by_role("button", name="Lưu").click()
    expect(field("email").locator(".error")).to_have_text("Email không hợp lệ.")
    expect(field("full_name").locator(".error")).to_have_count(0)
    expect(inp("full_name")).to_have_value("Đặng Thu Thảo")
    expect(inp("email")).to_have_value("thao@@khong-hop-le")
    expect(inp("username")).to_have_value("thao.nguyen")

    # 3) corrected: saved, back to the list, which shows the new user
    inp("email").fill("thao@example.vn")
    fill_password()
    page.get_by_role("button", name="Lưu").click()
    expect(page).to_have_url(re.compile(r"/admin/users\?msg="))
    expect(page.get_by_role("status")).to_have_text("Đã tạo người dùng.")
    rows = page.locator("table.list tbody tr")
    new_row = rows.filter(has_text="thao.nguyen")
    expect(new_row).to_have_count(1)
    expect(new_row).to_contain_text("Đặng Thu Thảo")
    expect(new_row).to_contain_text("Sở A")
    expect(rows.filter(has_text="root")).to_have_count(1)

    # the search box filters the rows (case-insensitive, Vietnamese capitals included)
    page.get_by_label("Tìm kiếm").fill("đặng thảo")
    page.get_by_role("button", name="Tìm", exact=True).click()
    expect(page).to_have_url(re.compile(r"[?&]q="))
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("thao.nguyen")
    expect(page.get_by_label("Tìm kiếm")).to_have_value("đặng thảo")
    page.get_by_label("Tìm kiếm").fill("khong-co-ai-ten-nay")
    page.get_by_label("Tìm kiếm").press("Enter")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_text("Không có dữ liệu phù hợp.")


def test_forgot_password_by_sms_then_sign_in(new_page, world, database):
    from ketnoi.outbox.models import OutboxMessage

    world.user("lan", roles=["home"], phone="0912345678")
    page = new_page()
    page.goto("/login")
    page.get_by_role("link", name="Quên mật khẩu?").click()
    expect(page).to_have_url(re.compile(r"/forgot-password$"))
    expect(page.get_by_role("heading", name="Quên mật khẩu")).to_be_visible()
    page.get_by_label("Tên đăng nhập").fill("lan")
    expect(page.get_by_label(re.compile("Tin nhắn SMS"))).to_be_checked()
    page.get_by_role("button", name="Gửi mã xác nhận").click()

    expect(page).to_have_url(re.compile(r"/reset-password\?username=lan"))
    expect(page.get_by_role("status")).to_contain_text("mã xác nhận đã được gửi")
    expect(page.get_by_label("Tên đăng nhập")).to_have_value("lan")

    with database.session() as s:
        msgs = s.scalars(select(OutboxMessage).where(OutboxMessage.purpose == "password_reset")).all()
    assert [(m.channel, m.recipient) for m in msgs] == [("sms", "+84912345678")]
    code = re.search(r"\b(\d{6})\b", msgs[0].body).group(1)

    # a wrong code is refused next to the field; then the right one sets the password
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    page.get_by_label(re.compile("Mã xác nhận")).fill(wrong)
    page.get_by_label("Mật khẩu mới", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Nhập lại mật khẩu mới").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Đặt mật khẩu mới").click()
    expect(page.locator(".field:has(#code) .error")).to_have_text("Mã xác nhận không đúng hoặc đã hết hạn.")

    page.get_by_label(re.compile("Mã xác nhận")).fill(code)
    page.get_by_label("Mật khẩu mới", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Nhập lại mật khẩu mới").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Đặt mật khẩu mới").click()
    expect(page).to_have_url(re.compile(r"/login\?msg="))
    expect(page.get_by_role("status")).to_have_text("Đã đặt mật khẩu mới. Hãy đăng nhập.")

    sign_in(page, "lan", PASSWORD)  # the old password is gone
    expect(page.get_by_role("alert")).to_have_text("Tên đăng nhập hoặc mật khẩu không đúng.")
    sign_in(page, "lan", NEW_PASSWORD)
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_contain_text("Người dùng lan")


def test_small_screen_menu_toggle_opens_sidebar(new_page, world):
    page = new_page(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    sign_in(page, "root")
    expect(page.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    toggle = page.get_by_role("button", name="Mở menu")
    sidebar = page.locator("aside.sidebar")
    users_link = sidebar.get_by_role("link", name="Xem người dùng")
    expect(toggle).to_be_visible()
    expect(sidebar).to_be_hidden()
    toggle.click()
    expect(sidebar).to_be_visible()
    expect(sidebar).to_have_class(re.compile(r"\bopen\b"))
    expect(users_link).to_be_visible()
    users_link.click()
    expect(page).to_have_url(re.compile(r"/admin/users$"))
    expect(page.get_by_role("heading", name="Người dùng")).to_be_visible()
    expect(sidebar).to_be_hidden()  # a new page starts with the menu closed

    page.set_viewport_size({"width": 1280, "height": 800})  # wide screens: sidebar always shown, no toggle
    expect(toggle).to_be_hidden()
    expect(sidebar).to_be_visible()
