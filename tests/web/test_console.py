"""Console pages through HTTP: login form with CSRF, role-built menu, list pages, inline form
validation, and refusal of forged posts."""

from __future__ import annotations

import re

from tests.conftest import PASSWORD


def console_login(client, username: str, password: str = PASSWORD):
    page = client.get("/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token,
                                       "next": "/"}, follow_redirects=False)


def csrf_of(html: str) -> str:
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', html).group(1)


def test_unauthenticated_console_redirects_to_login(client, world):
    r = client.get("/admin/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=%2Fadmin%2Fusers")


def test_login_form_requires_its_csrf_token(client, world):
    client.get("/login")
    r = client.post("/login", data={"username": "root", "password": PASSWORD, "csrf_token": "gia-mao"})
    assert r.status_code == 400 and "hết hạn" in r.text


def test_login_sets_httponly_cookie_and_menu_follows_roles(client, world):
    world.user("menu.user", roles=["identity.users.read"])
    r = console_login(client, "menu.user")
    assert r.status_code == 303
    cookie = r.headers["set-cookie"]
    assert "ketnoi_session=" in cookie and "HttpOnly" in cookie and "samesite=lax" in cookie.lower()
    home = client.get("/")
    assert "Người dùng" in home.text and "/admin/users" in home.text
    assert "/admin/organizations" not in home.text  # no role, no menu entry
    assert client.get("/admin/organizations").status_code == 403


def test_post_without_csrf_is_refused(client, world):
    console_login(client, "root")
    r = client.post("/admin/departments/new", data={"code": "X", "name": "Y", "organization_id": world.org_a})
    assert r.status_code == 403 and "CSRF" in r.text


def test_form_shows_inline_errors_and_keeps_values(client, world):
    console_login(client, "root")
    page = client.get("/admin/users/new")
    token = csrf_of(page.text)
    r = client.post("/admin/users/new", data={
        "csrf_token": token, "organization_id": world.org_a, "username": "dung.moi", "code": "",
        "full_name": "Nguyễn Dũng", "email": "sai-email", "password": "Abc-12345-xyz"})
    assert r.status_code == 422
    assert "Không được để trống." in r.text  # code
    assert 'value="Nguyễn Dũng"' in r.text
    r = client.post("/admin/users/new", data={
        "csrf_token": token, "organization_id": world.org_a, "username": "dung.moi", "code": "DM1",
        "full_name": "Nguyễn Dũng", "email": "sai-email", "password": "Abc-12345-xyz"})
    assert r.status_code == 422 and "Email không hợp lệ." in r.text
    r = client.post("/admin/users/new", follow_redirects=False, data={
        "csrf_token": token, "organization_id": world.org_a, "username": "dung.moi", "code": "DM1",
        "full_name": "Nguyễn Dũng", "email": "dung@example.vn", "password": "Abc-12345-xyz",
        "department_id": world.dept["A-ROOT"], "is_active": "1"})
    assert r.status_code == 303
    listing = client.get("/admin/users?q=dung.moi")
    assert "Nguyễn Dũng" in listing.text and "Tổng cộng <strong>1</strong>" in listing.text


def test_list_page_sorts_pages_and_filters(client, world):
    for i in range(12):
        world.user(f"trang{i:02d}")
    console_login(client, "root")
    r = client.get("/admin/users?q=trang&sort=-username&page_size=10&page=1")
    rows = re.findall(r">(trang\d\d)<", r.text)
    assert rows[:3] == ["trang11", "trang10", "trang09"]
    assert "Trang 1/2" in r.text
    r2 = client.get("/admin/users?q=trang&sort=-username&page_size=10&page=2")
    assert re.findall(r">(trang\d\d)<", r2.text) == ["trang01", "trang00"]


def test_every_admin_page_renders_for_sysadmin(client, world):
    console_login(client, "root")
    for url in ("/", "/admin/organizations", "/admin/organizations/new", f"/admin/organizations/{world.org_a}",
                "/admin/departments", "/admin/departments/new", f"/admin/departments/{world.dept['A-ROOT']}",
                "/admin/users", "/admin/users/new", "/admin/groups", "/admin/groups/new", "/admin/roles",
                "/admin/roles/new", "/admin/sessions", "/admin/audit", "/admin/outbox", "/account/profile",
                "/account/password"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "<h1>" in r.text, url


def test_audit_page_filters_by_date_and_shows_diff(client, world):
    console_login(client, "root")
    r = client.get("/admin/audit?entity_type=department")
    assert "Tạo đơn vị A-ROOT" in r.text
    only = client.get("/admin/audit?entity_type=department&q=A-ROOT")
    detail = re.search(r'href="(/admin/audit/[0-9a-f]{32})"', only.text).group(1)
    assert "A-ROOT" in client.get(detail).text
    assert "Tạo đơn vị" not in client.get("/admin/audit?entity_type=department&until=2000-01-01").text


def test_must_change_password_redirects_console(client, world):
    world.user("doimk", must_change_password=True)
    r = console_login(client, "doimk")
    assert r.headers["location"] == "/account/password"
    r = client.get("/admin/users", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/password"
    assert "Bạn cần đổi mật khẩu" in client.get("/account/password").text


def test_logout_ends_console_session(client, world):
    console_login(client, "root")
    token = csrf_of(client.get("/").text)
    r = client.post("/logout", data={"csrf_token": token}, follow_redirects=False)
    assert r.status_code == 303
    assert client.get("/", follow_redirects=False).status_code == 303


def test_replaced_console_session_explains_why(client, world, app):
    from fastapi.testclient import TestClient

    world.user("haimay")
    console_login(client, "haimay")
    with TestClient(app) as other:
        console_login(other, "haimay")
    r = client.get("/", follow_redirects=True)
    assert "đăng nhập trên thiết bị khác" in r.text
