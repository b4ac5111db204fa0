"""The audit log: every change is recorded with before/after, rows cannot be altered, and the
log is filterable and scoped to the viewer's organization."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DatabaseError

from ketnoi.audit.models import AuditEntry
from tests.conftest import login


def test_changes_are_recorded_with_before_and_after(client, world, database):
    uid = world.user("quan", roles=["identity.users.write"])
    h = login(client, "root")
    r = client.patch(f"/api/v1/users/{uid}", headers=h, json={"full_name": "Trần Văn Quân", "phone": "0987654321"})
    assert r.status_code == 200, r.text
    with database.session() as s:
        e = s.scalars(select(AuditEntry).where(AuditEntry.action == "user.updated", AuditEntry.entity_id == uid)).one()
        assert e.actor_name == "root"
        assert e.before == {"full_name": "Người dùng quan", "phone": ""}
        assert e.after == {"full_name": "Trần Văn Quân", "phone": "+84987654321"}


def test_audit_rows_are_append_only(database, world):
    with database.session() as s:
        entry_id = s.scalars(select(AuditEntry.id)).first()
    for stmt in ("UPDATE audit_log SET summary = 'sửa' WHERE id = :id", "DELETE FROM audit_log WHERE id = :id"):
        with pytest.raises(DatabaseError):
            with database.session() as s:
                s.execute(text(stmt), {"id": entry_id})


def test_audit_api_filters_and_is_scoped_to_organization(client, world):
    world.user("kiemtra.a", roles=["audit.read"])
    world.user("kiemtra.b", org="b", dept="B1", roles=["audit.read"])
    root = login(client, "root")
    client.post("/api/v1/departments", headers=root,
                json={"code": "MOI", "name": "Đơn vị mới", "organization_id": world.org_a})
    a = login(client, "kiemtra.a")
    items = client.get("/api/v1/audit?action=department.created&page_size=200", headers=a).json()["items"]
    assert any(i["after"] and i["after"].get("code") == "MOI" for i in items)
    assert all(i["organization_id"] == world.org_a for i in items)
    b = login(client, "kiemtra.b")
    items_b = client.get("/api/v1/audit?page_size=200", headers=b).json()["items"]
    assert items_b and all(i["organization_id"] == world.org_b for i in items_b)
    r = client.get("/api/v1/audit?sort=-at&q=Đơn vị mới", headers=a)
    assert r.json()["total"] >= 1


def test_login_and_logout_are_audited(client, world, database):
    world.user("thu")
    h = login(client, "thu")
    client.post("/api/v1/auth/logout", headers=h)
    with database.session() as s:
        actions = [e.action for e in s.scalars(select(AuditEntry).where(AuditEntry.actor_name == "thu"))]
    assert "login" in actions and "logout" in actions
