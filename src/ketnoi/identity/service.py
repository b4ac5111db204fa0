"""Rules for organizations, departments, roles and permission groups (PERM-04…07).

Every function takes the acting Principal, checks organization and unit scope, validates, writes
an audit row in the same transaction and returns the changed object. Users are in ``users.py``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.db.base import new_id
from ketnoi.identity import schemas as S
from ketnoi.identity.models import Department, Organization, PermissionGroup, Role, User
from ketnoi.identity.permissions import CATALOG
from ketnoi.identity.principal import Principal

ORG_FIELDS = ("code", "name", "is_active", "manager_id", "group_codes")
DEPT_FIELDS = ("code", "name", "parent_id", "is_active")
ROLE_FIELDS = ("code", "name", "description", "parent_id", "sort_order")
GROUP_FIELDS = ("code", "name", "description", "role_codes")


def require_sysadmin(p: Principal, what: str) -> None:
    if not p.is_sysadmin:
        raise Forbidden(f"Chỉ quản trị hệ thống được {what}.")


def organization_for_write(p: Principal, requested: str | None) -> str:
    """The organization a new row belongs to: the actor's own, or the one a system admin chose."""
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo dữ liệu cho tổ chức khác.")
    assert p.organization_id
    return p.organization_id


# --- organizations ------------------------------------------------------------------------------
def _org_snapshot(o: Organization) -> dict:
    d = snapshot(o, ("code", "name", "is_active", "manager_id"))
    d["group_codes"] = [g.code for g in o.groups]
    return d


def list_organizations(db: Session, p: Principal, params: ListParams, *, is_active: bool | None = None) -> Page:
    stmt = select(Organization)
    if not p.is_sysadmin:
        stmt = stmt.where(Organization.id == p.organization_id)
    if is_active is not None:
        stmt = stmt.where(Organization.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [Organization.code, Organization.name])
    return paginate(db, stmt, params, {"code": Organization.code, "name": Organization.name,
                                       "created_at": Organization.created_at}, "code")


def get_organization(db: Session, p: Principal, org_id: str) -> Organization:
    org = db.get(Organization, org_id)
    if org is None or not p.sees_organization(org.id):
        raise NotFound("Không tìm thấy tổ chức.")
    return org


def _groups_by_ids(db: Session, ids: list[str]) -> list[PermissionGroup]:
    ids = list(dict.fromkeys(ids))
    groups = list(db.scalars(select(PermissionGroup).where(PermissionGroup.id.in_(ids)))) if ids else []
    if len(groups) != len(ids):
        raise ValidationFailed.field("group_ids", "Có nhóm quyền không tồn tại.")
    return groups


def _check_manager(db: Session, org_id: str, manager_id: str | None) -> None:
    if manager_id:
        u = db.get(User, manager_id)
        if u is None or u.organization_id != org_id:
            raise ValidationFailed.field("manager_id", "Người quản lý phải là người dùng của tổ chức này.")


def create_organization(db: Session, p: Principal, data: S.OrganizationIn) -> Organization:
    require_sysadmin(p, "tạo tổ chức")
    if db.scalar(select(Organization.id).where(func.lower(Organization.code) == data.code.lower())):
        raise Conflict("Mã tổ chức đã tồn tại.", [{"field": "code", "message": "Mã tổ chức đã tồn tại."}])
    org = Organization(id=new_id(), code=data.code, name=data.name, is_active=data.is_active,
                       groups=_groups_by_ids(db, data.group_ids))
    if data.manager_id:
        raise ValidationFailed.field("manager_id", "Tạo người dùng cho tổ chức trước, rồi chọn người quản lý.")
    db.add(org)
    db.flush()
    record(db, p, "organization.created", "organization", org.id, after=_org_snapshot(org), organization_id=org.id,
           summary=f"Tạo tổ chức {org.code} – {org.name}")
    return org


def update_organization(db: Session, p: Principal, org_id: str, data: S.OrganizationPatch) -> Organization:
    org = get_organization(db, p, org_id)
    before = _org_snapshot(org)
    fields = data.model_fields_set
    if ("group_ids" in fields or "is_active" in fields) and not p.is_sysadmin:
        raise Forbidden("Chỉ quản trị hệ thống được đổi nhóm quyền cho phép hoặc trạng thái của tổ chức.")
    if data.name is not None:
        org.name = data.name
    if data.is_active is not None:
        org.is_active = data.is_active
    if data.group_ids is not None:
        org.groups = _groups_by_ids(db, data.group_ids)
    if "manager_id" in fields:
        _check_manager(db, org.id, data.manager_id)
        org.manager_id = data.manager_id
    db.flush()
    record(db, p, "organization.updated", "organization", org.id, before=before, after=_org_snapshot(org),
           organization_id=org.id, summary=f"Sửa tổ chức {org.code}")
    return org


def delete_organization(db: Session, p: Principal, org_id: str) -> None:
    require_sysadmin(p, "xóa tổ chức")
    org = get_organization(db, p, org_id)
    in_use = (db.scalar(select(func.count()).select_from(User).where(User.organization_id == org.id))
              or db.scalar(select(func.count()).select_from(Department).where(Department.organization_id == org.id)))
    if in_use:
        raise Conflict("Tổ chức còn người dùng hoặc đơn vị; hãy chuyển sang ngừng hoạt động thay vì xóa.")
    record(db, p, "organization.deleted", "organization", org.id, before=_org_snapshot(org), organization_id=None,
           summary=f"Xóa tổ chức {org.code} – {org.name}")
    db.delete(org)


# --- departments --------------------------------------------------------------------------------
def _dept_visible(p: Principal, d: Department) -> bool:
    return p.sees_organization(d.organization_id) and p.covers_unit(d.path)


def get_department(db: Session, p: Principal, dept_id: str) -> Department:
    d = db.get(Department, dept_id)
    if d is None or not _dept_visible(p, d):
        raise NotFound("Không tìm thấy đơn vị.")
    return d


def list_departments(db: Session, p: Principal, params: ListParams, *, organization_id: str = "",
                     parent_id: str = "", is_active: bool | None = None) -> Page:
    stmt = select(Department)
    if not p.is_sysadmin:
        stmt = stmt.where(Department.organization_id == p.organization_id)
    elif organization_id:
        stmt = stmt.where(Department.organization_id == organization_id)
    if p.unit_path is not None:
        stmt = stmt.where(Department.path.startswith(p.unit_path))
    if parent_id:
        stmt = stmt.where(Department.parent_id == parent_id)
    if is_active is not None:
        stmt = stmt.where(Department.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [Department.code, Department.name])
    return paginate(db, stmt, params, {"code": Department.code, "name": Department.name, "path": Department.path,
                                       "created_at": Department.created_at}, "path")


def department_tree(db: Session, p: Principal, organization_id: str | None = None) -> list[tuple[Department, int]]:
    """Every visible department in tree order, with its depth (for tree views and pickers)."""
    stmt = select(Department)
    org = organization_id if p.is_sysadmin else p.organization_id
    if org:
        stmt = stmt.where(Department.organization_id == org)
    if p.unit_path is not None:
        stmt = stmt.where(Department.path.startswith(p.unit_path))
    rows = list(db.scalars(stmt))
    by_parent: dict[str | None, list[Department]] = {}
    ids = {d.id for d in rows}
    for d in rows:
        by_parent.setdefault(d.parent_id if d.parent_id in ids else None, []).append(d)
    out: list[tuple[Department, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for d in sorted(by_parent.get(parent, []), key=lambda x: (x.code.lower(), x.name)):
            out.append((d, depth))
            walk(d.id, depth + 1)

    walk(None, 0)
    return out


def _check_dept_code(db: Session, org_id: str, code: str, exclude: str | None = None) -> None:
    stmt = select(Department.id).where(Department.organization_id == org_id, func.lower(Department.code) == code.lower())
    if exclude:
        stmt = stmt.where(Department.id != exclude)
    if db.scalar(stmt):
        raise Conflict("Mã đơn vị đã tồn tại trong tổ chức.", [{"field": "code", "message": "Mã đơn vị đã tồn tại."}])


def create_department(db: Session, p: Principal, data: S.DepartmentIn) -> Department:
    org_id = organization_for_write(p, data.organization_id)
    org = get_organization(db, p, org_id) if p.is_sysadmin else db.get(Organization, org_id)
    assert org is not None
    parent = None
    if data.parent_id:
        parent = db.get(Department, data.parent_id)
        if parent is None or parent.organization_id != org.id or not _dept_visible(p, parent):
            raise ValidationFailed.field("parent_id", "Đơn vị cấp trên không hợp lệ.")
    elif p.unit_path is not None:
        raise Forbidden("Bạn chỉ được tạo đơn vị con trong phạm vi đơn vị của mình.")
    _check_dept_code(db, org.id, data.code)
    d = Department(id=new_id(), organization_id=org.id, code=data.code, name=data.name,
                   parent_id=parent.id if parent else None, is_active=data.is_active)
    d.path = (parent.path if parent else "/") + d.id + "/"
    db.add(d)
    db.flush()
    record(db, p, "department.created", "department", d.id, after=snapshot(d, DEPT_FIELDS), organization_id=org.id,
           summary=f"Tạo đơn vị {d.code} – {d.name}")
    return d


def update_department(db: Session, p: Principal, dept_id: str, data: S.DepartmentPatch) -> Department:
    d = get_department(db, p, dept_id)
    before = snapshot(d, DEPT_FIELDS)
    if data.code is not None and data.code != d.code:
        _check_dept_code(db, d.organization_id, data.code, exclude=d.id)
        d.code = data.code
    if data.name is not None:
        d.name = data.name
    if data.is_active is not None:
        d.is_active = data.is_active
    if "parent_id" in data.model_fields_set and data.parent_id != d.parent_id:
        if data.parent_id is None:
            if p.unit_path is not None:
                raise Forbidden("Bạn không được đưa đơn vị ra ngoài phạm vi của mình.")
            new_prefix = "/"
        else:
            parent = db.get(Department, data.parent_id)
            if parent is None or parent.organization_id != d.organization_id or not _dept_visible(p, parent):
                raise ValidationFailed.field("parent_id", "Đơn vị cấp trên không hợp lệ.")
            if parent.path.startswith(d.path):
                raise ValidationFailed.field("parent_id", "Không thể chuyển đơn vị vào chính nó hoặc đơn vị con của nó.")
            new_prefix = parent.path
        old_path = d.path
        d.parent_id = data.parent_id
        d.path = new_prefix + d.id + "/"
        for child in db.scalars(select(Department).where(Department.path.startswith(old_path), Department.id != d.id)):
            child.path = d.path + child.path[len(old_path):]
    db.flush()
    record(db, p, "department.updated", "department", d.id, before=before, after=snapshot(d, DEPT_FIELDS),
           organization_id=d.organization_id, summary=f"Sửa đơn vị {d.code}")
    return d


def delete_department(db: Session, p: Principal, dept_id: str) -> None:
    d = get_department(db, p, dept_id)
    if db.scalar(select(func.count()).select_from(Department).where(Department.parent_id == d.id)):
        raise Conflict("Đơn vị còn đơn vị con; hãy xóa hoặc chuyển các đơn vị con trước.")
    if db.scalar(select(func.count()).select_from(User).where(User.department_id == d.id)):
        raise Conflict("Đơn vị còn người dùng; hãy chuyển người dùng sang đơn vị khác hoặc ngừng hoạt động đơn vị.")
    record(db, p, "department.deleted", "department", d.id, before=snapshot(d, DEPT_FIELDS),
           organization_id=d.organization_id, summary=f"Xóa đơn vị {d.code} – {d.name}")
    db.delete(d)


# --- roles --------------------------------------------------------------------------------------
def sync_system_roles(db: Session) -> int:
    """Make the roles table hold every entry of the code's catalogue (names are kept if edited)."""
    existing = {r.code: r for r in db.scalars(select(Role))}
    added = 0
    for spec in CATALOG.values():
        role = existing.get(spec.code)
        if role is None:
            role = Role(id=new_id(), code=spec.code, name=spec.name, description=spec.description,
                        sort_order=spec.order, is_system=True)
            db.add(role)
            existing[spec.code] = role
            added += 1
        role.is_system = True
    db.flush()
    for spec in CATALOG.values():
        parent = existing.get(spec.parent) if spec.parent else None
        existing[spec.code].parent_id = parent.id if parent else None
    return added


def list_roles(db: Session, p: Principal, params: ListParams) -> Page:
    stmt = select(Role)
    if params.q:
        stmt = apply_search(stmt, params.q, [Role.code, Role.name])
    return paginate(db, stmt, params, {"code": Role.code, "name": Role.name, "sort_order": Role.sort_order},
                    "sort_order")


def get_role(db: Session, role_id: str) -> Role:
    r = db.get(Role, role_id)
    if r is None:
        raise NotFound("Không tìm thấy vai trò.")
    return r


def _check_role_parent(db: Session, role: Role | None, parent_id: str | None) -> None:
    if not parent_id:
        return
    parent = db.get(Role, parent_id)
    if parent is None:
        raise ValidationFailed.field("parent_id", "Menu cha không tồn tại.")
    seen = set()
    while parent is not None and role is not None:
        if parent.id == role.id or parent.id in seen:
            raise ValidationFailed.field("parent_id", "Không thể chọn chính vai trò này hoặc vai trò con làm cha.")
        seen.add(parent.id)
        parent = parent.parent


def create_role(db: Session, p: Principal, data: S.RoleIn) -> Role:
    require_sysadmin(p, "tạo vai trò")
    if db.scalar(select(Role.id).where(Role.code == data.code)):
        raise Conflict("Mã vai trò đã tồn tại.", [{"field": "code", "message": "Mã vai trò đã tồn tại."}])
    _check_role_parent(db, None, data.parent_id)
    r = Role(id=new_id(), code=data.code, name=data.name, description=data.description, parent_id=data.parent_id,
             sort_order=data.sort_order, is_system=False)
    db.add(r)
    db.flush()
    record(db, p, "role.created", "role", r.id, after=snapshot(r, ROLE_FIELDS), summary=f"Tạo vai trò {r.code}")
    return r


def update_role(db: Session, p: Principal, role_id: str, data: S.RolePatch) -> Role:
    require_sysadmin(p, "sửa vai trò")
    r = get_role(db, role_id)
    before = snapshot(r, ROLE_FIELDS)
    if data.name is not None:
        r.name = data.name
    if data.description is not None:
        r.description = data.description
    if data.sort_order is not None:
        r.sort_order = data.sort_order
    if "parent_id" in data.model_fields_set:
        if r.is_system:
            raise ValidationFailed.field("parent_id", "Không đổi được menu cha của vai trò hệ thống.")
        _check_role_parent(db, r, data.parent_id)
        r.parent_id = data.parent_id
    db.flush()
    record(db, p, "role.updated", "role", r.id, before=before, after=snapshot(r, ROLE_FIELDS),
           summary=f"Sửa vai trò {r.code}")
    return r


def delete_role(db: Session, p: Principal, role_id: str) -> None:
    require_sysadmin(p, "xóa vai trò")
    r = get_role(db, role_id)
    if r.is_system:
        raise Conflict("Vai trò hệ thống không xóa được.")
    if db.scalar(select(func.count()).select_from(Role).where(Role.parent_id == r.id)):
        raise Conflict("Vai trò còn vai trò con.")
    record(db, p, "role.deleted", "role", r.id, before=snapshot(r, ROLE_FIELDS), summary=f"Xóa vai trò {r.code}")
    db.delete(r)


# --- permission groups --------------------------------------------------------------------------
def _group_snapshot(g: PermissionGroup) -> dict:
    d = snapshot(g, ("code", "name", "description"))
    d["role_codes"] = sorted(r.code for r in g.roles)
    return d


def _roles_by_ids(db: Session, ids: list[str]) -> list[Role]:
    ids = list(dict.fromkeys(ids))
    roles = list(db.scalars(select(Role).where(Role.id.in_(ids)))) if ids else []
    if len(roles) != len(ids):
        raise ValidationFailed.field("role_ids", "Có vai trò không tồn tại.")
    return roles


def list_groups(db: Session, p: Principal, params: ListParams) -> Page:
    stmt = select(PermissionGroup)
    if not p.is_sysadmin:
        org = db.get(Organization, p.organization_id)
        allowed = [g.id for g in org.groups] if org else []
        stmt = stmt.where(PermissionGroup.id.in_(allowed))
    if params.q:
        stmt = apply_search(stmt, params.q, [PermissionGroup.code, PermissionGroup.name])
    return paginate(db, stmt, params, {"code": PermissionGroup.code, "name": PermissionGroup.name}, "code")


def get_group(db: Session, p: Principal, group_id: str) -> PermissionGroup:
    g = db.get(PermissionGroup, group_id)
    if g is None:
        raise NotFound("Không tìm thấy nhóm quyền.")
    if not p.is_sysadmin:
        org = db.get(Organization, p.organization_id)
        if org is None or g not in org.groups:
            raise NotFound("Không tìm thấy nhóm quyền.")
    return g


def create_group(db: Session, p: Principal, data: S.GroupIn) -> PermissionGroup:
    require_sysadmin(p, "tạo nhóm quyền")
    if db.scalar(select(PermissionGroup.id).where(func.lower(PermissionGroup.code) == data.code.lower())):
        raise Conflict("Mã nhóm quyền đã tồn tại.", [{"field": "code", "message": "Mã nhóm quyền đã tồn tại."}])
    g = PermissionGroup(id=new_id(), code=data.code, name=data.name, description=data.description,
                        roles=_roles_by_ids(db, data.role_ids))
    db.add(g)
    db.flush()
    record(db, p, "group.created", "permission_group", g.id, after=_group_snapshot(g),
           summary=f"Tạo nhóm quyền {g.code}")
    return g


def update_group(db: Session, p: Principal, group_id: str, data: S.GroupPatch) -> PermissionGroup:
    require_sysadmin(p, "sửa nhóm quyền")
    g = get_group(db, p, group_id)
    before = _group_snapshot(g)
    if data.name is not None:
        g.name = data.name
    if data.description is not None:
        g.description = data.description
    if data.role_ids is not None:
        g.roles = _roles_by_ids(db, data.role_ids)
    db.flush()
    record(db, p, "group.updated", "permission_group", g.id, before=before, after=_group_snapshot(g),
           summary=f"Sửa nhóm quyền {g.code}")
    return g


def delete_group(db: Session, p: Principal, group_id: str) -> None:
    require_sysadmin(p, "xóa nhóm quyền")
    g = get_group(db, p, group_id)
    from ketnoi.identity.models import user_groups

    if db.scalar(select(func.count()).select_from(user_groups).where(user_groups.c.group_id == g.id)):
        raise Conflict("Nhóm quyền đang được gán cho người dùng; hãy bỏ gán trước khi xóa.")
    record(db, p, "group.deleted", "permission_group", g.id, before=_group_snapshot(g),
           summary=f"Xóa nhóm quyền {g.code}")
    db.delete(g)
