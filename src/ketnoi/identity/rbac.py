"""Permissions of a user: the roles of their permission groups, limited to the groups their
organization is allowed (PERM-05/06), and their unit scope (PERM-07)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.identity.models import (
    AuthSession,
    Organization,
    PermissionGroup,
    Role,
    User,
    group_roles,
    organization_groups,
    user_groups,
)
from ketnoi.identity.permissions import CATALOG, SCOPE_ALL_UNITS
from ketnoi.identity.principal import Principal


def permissions_of(db: Session, user: User) -> frozenset[str]:
    if user.is_sysadmin:
        return frozenset(CATALOG)
    stmt = (
        select(Role.code)
        .join(group_roles, group_roles.c.role_id == Role.id)
        .join(user_groups, user_groups.c.group_id == group_roles.c.group_id)
        .where(user_groups.c.user_id == user.id)
    )
    if user.organization_id:
        stmt = stmt.join(organization_groups, organization_groups.c.group_id == user_groups.c.group_id).where(
            organization_groups.c.organization_id == user.organization_id
        )
    codes = set(db.scalars(stmt).all())
    # a "write" role implies its "read" parent, and a chosen child implies the menu parent
    for code in list(codes):
        spec = CATALOG.get(code)
        while spec and spec.parent:
            codes.add(spec.parent)
            spec = CATALOG.get(spec.parent)
    return frozenset(codes)


def unit_path_of(db: Session, user: User, permissions: frozenset[str]) -> str | None:
    if user.is_sysadmin or SCOPE_ALL_UNITS in permissions:
        return None
    if user.organization_id:
        org = db.get(Organization, user.organization_id)
        if org and org.manager_id == user.id:
            return None
    if user.department is None:
        # a user of an organization with no department sees no unit-scoped data
        return "/-/"
    return user.department.path


def principal_for(db: Session, user: User, sess: AuthSession | None = None, *, ip: str = "") -> Principal:
    perms = permissions_of(db, user)
    return Principal(
        user_id=user.id,
        username=user.username,
        full_name=user.full_name,
        organization_id=user.organization_id,
        department_id=user.department_id,
        is_sysadmin=user.is_sysadmin,
        permissions=perms,
        unit_path=unit_path_of(db, user, perms),
        session_id=sess.id if sess else "",
        session_kind=sess.kind if sess else "",
        csrf_token=sess.csrf_token if sess else "",
        must_change_password=user.must_change_password,
        ip=ip,
    )


def groups_allowed(db: Session, organization_id: str | None) -> list[PermissionGroup]:
    if organization_id is None:
        return list(db.scalars(select(PermissionGroup).order_by(PermissionGroup.code)))
    org = db.get(Organization, organization_id)
    return list(org.groups) if org else []
