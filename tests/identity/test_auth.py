"""Login, lockout, single session (VC-10), password change (PERM-03) and recovery (CRM-02)."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import select

from ketnoi.audit.models import AuditEntry
from ketnoi.identity.models import AuthSession, LoginAttempt, PasswordResetCode, User
from ketnoi.outbox.models import OutboxMessage
from tests.conftest import PASSWORD, login


def test_login_returns_bearer_token_and_me(client, world):
    world.user("anh", roles=["home"])
    r = client.post("/api/v1/auth/login", json={"username": "ANH", "password": PASSWORD})
    assert r.status_code == 200
    body = r.json()
    assert body["token_type"] == "bearer" and body["expires_in"] > 0
    me = client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "anh"
    assert "home" in me.json()["permissions"]


def test_wrong_password_is_401_problem_in_vietnamese(client, world):
    world.user("anh")
    r = client.post("/api/v1/auth/login", json={"username": "anh", "password": "sai"})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["detail"] == "Tên đăng nhập hoặc mật khẩu không đúng."
    r = client.post("/api/v1/auth/login", json={"username": "khong-co", "password": "sai"})
    assert r.status_code == 401


def test_lockout_after_repeated_failures_is_logged(client, world, database):
    world.user("binh")
    for _ in range(5):
        assert client.post("/api/v1/auth/login", json={"username": "binh", "password": "sai"}).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "binh", "password": PASSWORD})
    assert r.status_code == 429
    assert "tạm khóa" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) > 0
    with database.session() as s:
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "user.locked")) is not None
        reasons = [a.reason for a in s.scalars(select(LoginAttempt).where(LoginAttempt.username == "binh"))]
        assert reasons.count("bad_password") == 5 and "locked" in reasons
        # once the lock expires the right password works again
        u = s.scalar(select(User).where(User.username == "binh"))
        u.locked_until = u.locked_until - timedelta(hours=1)
    assert client.post("/api/v1/auth/login", json={"username": "binh", "password": PASSWORD}).status_code == 200


def test_ip_throttle_answers_429(client, world):
    for _ in range(30):
        client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
    r = client.post("/api/v1/auth/login", json={"username": "x", "password": "y"})
    assert r.status_code == 429


def test_new_login_ends_older_session(client, world, database):
    world.user("chi")
    first = login(client, "chi")
    second = login(client, "chi")
    r = client.get("/api/v1/auth/me", headers=first)
    assert r.status_code == 401
    assert "thiết bị khác" in r.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200
    with database.session() as s:
        ended = s.scalars(select(AuthSession).where(AuthSession.end_reason == "replaced")).all()
        assert len(ended) == 1 and ended[0].replaced_by_id


def test_service_account_may_keep_several_sessions(client, world):
    world.user("svc", allow_multiple_sessions=True)
    first = login(client, "svc")
    second = login(client, "svc")
    assert client.get("/api/v1/auth/me", headers=first).status_code == 200
    assert client.get("/api/v1/auth/me", headers=second).status_code == 200


def test_logout_ends_token(client, world):
    world.user("dung")
    h = login(client, "dung")
    assert client.post("/api/v1/auth/logout", headers=h).status_code == 204
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401


def test_change_password_checks_current_confirmation_policy_and_history(client, world):
    world.user("emma")
    h = login(client, "emma")
    url = "/api/v1/auth/password"
    r = client.post(url, headers=h, json={"current_password": "sai", "new_password": "Moi-Mat-Khau-1",
                                          "confirm_password": "Moi-Mat-Khau-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "current_password"
    r = client.post(url, headers=h, json={"current_password": PASSWORD, "new_password": "Moi-Mat-Khau-1",
                                          "confirm_password": "Khac-Mat-Khau-1"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "confirm_password"
    r = client.post(url, headers=h, json={"current_password": PASSWORD, "new_password": "ngan",
                                          "confirm_password": "ngan"})
    assert r.status_code == 422
    messages = " ".join(e["message"] for e in r.json()["errors"])
    assert "ít nhất 10 ký tự" in messages and "chữ hoa" in messages
    r = client.post(url, headers=h, json={"current_password": PASSWORD, "new_password": "Em-Em-12345!x",
                                          "confirm_password": "Em-Em-12345!x"})
    assert r.status_code == 200
    # the same password again is refused as reuse
    r = client.post(url, headers=h, json={"current_password": "Em-Em-12345!x", "new_password": PASSWORD,
                                          "confirm_password": PASSWORD})
    assert r.status_code == 422 and "trùng" in r.json()["detail"]
    assert client.post("/api/v1/auth/login", json={"username": "emma", "password": "Em-Em-12345!x"}).status_code == 200


def test_password_may_not_contain_username(client, world):
    world.user("giang")
    h = login(client, "giang")
    r = client.post("/api/v1/auth/password", headers=h, json={
        "current_password": PASSWORD, "new_password": "Giang-2026-xyz!", "confirm_password": "Giang-2026-xyz!"})
    assert r.status_code == 422 and "tên đăng nhập" in r.json()["detail"]


def _code_from_outbox(database, recipient: str) -> str:
    with database.session() as s:
        msg = s.scalars(select(OutboxMessage).where(OutboxMessage.recipient == recipient)
                        .order_by(OutboxMessage.created_at.desc())).first()
        return re.search(r"\b(\d{6})\b", msg.body).group(1)


def test_forgot_password_by_sms_code_is_single_use(client, world, database):
    world.user("hoa", phone="0912345678")
    r = client.post("/api/v1/auth/password-reset/request", json={"username": "hoa", "channel": "sms"})
    assert r.status_code == 200
    # the answer does not reveal whether the account exists
    other = client.post("/api/v1/auth/password-reset/request", json={"username": "khong-ton-tai", "channel": "sms"})
    assert other.json()["message"] == r.json()["message"]
    code = _code_from_outbox(database, "+84912345678")
    wrong = client.post("/api/v1/auth/password-reset/confirm", json={
        "username": "hoa", "code": "000000" if code != "000000" else "111111",
        "new_password": "Quy-Sai-2026!", "confirm_password": "Quy-Sai-2026!"})
    assert wrong.status_code == 422
    ok = client.post("/api/v1/auth/password-reset/confirm", json={
        "username": "hoa", "code": code, "new_password": "Quy-Moi-2026!x", "confirm_password": "Quy-Moi-2026!x"})
    assert ok.status_code == 200, ok.text
    again = client.post("/api/v1/auth/password-reset/confirm", json={
        "username": "hoa", "code": code, "new_password": "Quy-Khac-2026!", "confirm_password": "Quy-Khac-2026!"})
    assert again.status_code == 422
    assert client.post("/api/v1/auth/login", json={"username": "hoa", "password": "Quy-Moi-2026!x"}).status_code == 200


def test_reset_code_expires(client, world, database):
    world.user("khanh", email="khanh@example.vn")
    client.post("/api/v1/auth/password-reset/request", json={"username": "khanh", "channel": "email"})
    code = _code_from_outbox(database, "khanh@example.vn")
    with database.session() as s:
        rc = s.scalar(select(PasswordResetCode))
        rc.expires_at = rc.expires_at - timedelta(hours=1)
    r = client.post("/api/v1/auth/password-reset/confirm", json={
        "username": "khanh", "code": code, "new_password": "Mot-Hai-Ba-2026!", "confirm_password": "Mot-Hai-Ba-2026!"})
    assert r.status_code == 422


def test_admin_reset_forces_password_change(client, world):
    uid = world.user("lan")
    admin = login(client, "root")
    r = client.post(f"/api/v1/users/{uid}/reset-password", headers=admin, json={})
    assert r.status_code == 200
    temp = r.json()["temporary_password"]
    h = login(client, "lan", temp)
    blocked = client.get("/api/v1/users", headers=h)
    assert blocked.status_code == 403 and "đổi mật khẩu" in blocked.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=h).json()["must_change_password"] is True
    r = client.post("/api/v1/auth/password", headers=h, json={
        "current_password": temp, "new_password": "Tam-Moi-2026!", "confirm_password": "Tam-Moi-2026!"})
    assert r.status_code == 200
    assert client.get("/api/v1/auth/me", headers=h).json()["must_change_password"] is False
