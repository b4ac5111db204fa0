"""The outbox: messages are kept until a provider accepts them, retried with back-off."""

from __future__ import annotations

from sqlalchemy import select

from ketnoi.outbox import service
from ketnoi.outbox.models import OutboxMessage


def test_embedded_provider_marks_sent(database):
    with database.session() as s:
        service.enqueue_message(s, channel="sms", recipient="+84912345678", body="Xin chào")
    with database.session() as s:
        assert service.deliver_due(s) == 1
    with database.session() as s:
        m = s.scalar(select(OutboxMessage))
        assert m.status == "sent" and m.provider == "log" and m.sent_at is not None


def test_failed_send_is_kept_and_retried_later(database):
    def broken(msg):
        raise ConnectionError("SMSC không phản hồi")

    service.SENDERS["sms"] = broken
    try:
        with database.session() as s:
            service.enqueue_message(s, channel="sms", recipient="+84912345678", body="Thử lại")
        with database.session() as s:
            service.deliver_due(s)
        with database.session() as s:
            m = s.scalar(select(OutboxMessage))
            assert m.status == "pending" and m.attempts == 1 and "SMSC" in m.last_error
            assert m.next_attempt_at > m.created_at
            assert service.deliver_due(s) == 0  # not due yet
    finally:
        service.SENDERS.pop("sms")


def test_reset_codes_are_masked_for_organization_admins(client, world):
    from tests.conftest import login

    world.user("quantri.a", roles=["outbox.read", "scope.all_units"], phone="0912345679")
    client.post("/api/v1/auth/password-reset/request", json={"username": "quantri.a", "channel": "sms"})
    org_admin = client.get("/api/v1/outbox", headers=login(client, "quantri.a")).json()["items"]
    assert org_admin and "••••••" in org_admin[0]["body"]
    root = client.get("/api/v1/outbox", headers=login(client, "root")).json()["items"]
    import re

    assert re.search(r"\b\d{6}\b", root[0]["body"])


def test_unit_admin_cannot_grant_organization_wide_scope(client, world):
    from tests.conftest import login

    wide = world.group_with("TOAN-TO-CHUC", ["home", "scope.all_units"])
    world.user("qt.donvi", roles=["identity.users.write"], dept="A-ROOT")
    h = login(client, "qt.donvi")
    r = client.post("/api/v1/users", headers=h, json={
        "code": "N1", "username": "nhanvien1", "full_name": "Nhân Viên", "password": "Abc-12345-xyz",
        "department_id": world.dept["A-CHILD"], "group_ids": [wide]})
    assert r.status_code == 422 and "toàn tổ chức" in r.json()["detail"]
