"""Builds test data through the real services (never by writing tables directly)."""

from __future__ import annotations

from sqlalchemy import select

from ketnoi.identity import schemas as S
from ketnoi.identity.models import PermissionGroup, Role, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import create_department, create_group, create_organization
from ketnoi.identity.users import create_first_admin, create_user

PASSWORD = "Mat-khau-2026!"
SYSTEM = Principal(user_id="", username="test", full_name="Test", organization_id=None, department_id=None,
                   is_sysadmin=True)


class World:
    """admin (sysadmin); org A with departments A-ROOT > A-CHILD and B-ROOT; org B with B1."""

    def __init__(self, database):
        self.db = database
        with database.session() as s:
            create_first_admin(s, "root", PASSWORD)
            groups = list(s.scalars(select(PermissionGroup)))
            self.org_a = create_organization(s, SYSTEM, S.OrganizationIn(code="ORG-A", name="Tỉnh A",
                                                                         group_ids=[g.id for g in groups])).id
            self.org_b = create_organization(s, SYSTEM, S.OrganizationIn(code="ORG-B", name="Tỉnh B",
                                                                         group_ids=[g.id for g in groups])).id
            a_root = create_department(s, SYSTEM, S.DepartmentIn(code="A-ROOT", name="Sở A", organization_id=self.org_a))
            a_child = create_department(s, SYSTEM, S.DepartmentIn(code="A-CHILD", name="Phòng A1",
                                                                  organization_id=self.org_a, parent_id=a_root.id))
            a_other = create_department(s, SYSTEM, S.DepartmentIn(code="A-OTHER", name="Sở khác",
                                                                  organization_id=self.org_a))
            b1 = create_department(s, SYSTEM, S.DepartmentIn(code="B1", name="Sở B", organization_id=self.org_b))
            self.dept = {"A-ROOT": a_root.id, "A-CHILD": a_child.id, "A-OTHER": a_other.id, "B1": b1.id}

    def group_with(self, code: str, roles: list[str]) -> str:
        """A permission group holding exactly ``roles``, allowed in both organizations."""
        from ketnoi.identity.models import Organization

        with self.db.session() as s:
            role_ids = [s.scalar(select(Role.id).where(Role.code == r)) for r in roles]
            assert all(role_ids), roles
            g = create_group(s, SYSTEM, S.GroupIn(code=code, name=code, role_ids=role_ids))
            for org_id in (self.org_a, self.org_b):
                org = s.get(Organization, org_id)
                org.groups = list(org.groups) + [g]
            return g.id

    def user(self, username: str, org: str = "a", dept: str | None = "A-ROOT", roles: list[str] | None = None,
             groups: list[str] | None = None, **extra) -> str:
        group_ids = list(groups or [])
        if roles is not None:
            group_ids.append(self.group_with(f"G-{username}", roles))
        with self.db.session() as s:
            u = create_user(s, SYSTEM, S.UserIn(
                code=username.upper(), username=username, full_name=f"Người dùng {username}", password=PASSWORD,
                organization_id=self.org_a if org == "a" else self.org_b,
                department_id=self.dept[dept] if dept else None, group_ids=group_ids,
                must_change_password=extra.pop("must_change_password", False), **extra))
            return u.id

    def get_user(self, user_id: str) -> User:
        with self.db.session() as s:
            return s.get(User, user_id)
