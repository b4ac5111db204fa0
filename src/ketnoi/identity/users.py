"""Rules for user accounts (PERM-02, PERM-08, PERM-09) and their login sessions."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import new_id, utcnow
from ketnoi.identity import schemas as S
from ketnoi.identity.auth import end_session, end_user_sessions
from ketnoi.identity.models import AuthSession, Department, Organization, PermissionGroup, User, user_groups
from ketnoi.identity.passwords import hash_password, policy_errors
from ketnoi.identity.permissions import SCOPE_ALL_UNITS
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import organization_for_write

USER_FIELDS = ("code", "username", "full_name", "phone", "email", "address", "department_id", "is_active",
               "is_sysadmin", "allow_multiple_sessions", "group_codes")


def _user_snapshot(u: User) -> dict:
    d = snapshot(u, USER_FIELDS[:-1])
    d["group_codes"] = [g.code for g in u.groups]
    return d


def _visible(p: Principal, u: User) -> bool:
    if p.is_sysadmin:
        return True
    if u.organization_id != p.organization_id:
        return False
    if p.unit_path is None or u.id == p.user_id:
        return True
    return u.department is not None and u.department.path.startswith(p.unit_path)


def get_user(db: Session, p: Principal, user_id: str) -> User:
    u = db.get(User, user_id)
    if u is None or not _visible(p, u):
        raise NotFound("Không tìm thấy người dùng.")
    return u


def list_users(db: Session, p: Principal, params: ListParams, *, organization_id: str = "", department_id: str = "",
               group_id: str = "", is_active: bool | None = None, include_subunits: bool = True) -> Page:
    stmt = select(User).outerjoin(Department, User.department_id == Department.id)
    if not p.is_sysadmin:
        stmt = stmt.where(User.organization_id == p.organization_id)
    elif organization_id:
        stmt = stmt.where(User.organization_id == organization_id)
    if p.unit_path is not None:
        stmt = stmt.where(or_(Department.path.startswith(p.unit_path), User.id == p.user_id))
    if department_id:
        dept = db.get(Department, department_id)
        if dept is None:
            stmt = stmt.where(User.id.is_(None))
        elif include_subunits:
            stmt = stmt.where(Department.path.startswith(dept.path))
        else:
            stmt = stmt.where(User.department_id == dept.id)
    if group_id:
        stmt = stmt.where(User.id.in_(select(user_groups.c.user_id).where(user_groups.c.group_id == group_id)))
    if is_active is not None:
        stmt = stmt.where(User.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [User.username, User.full_name, User.code, User.phone, User.email])
    sortable = {"username": User.username, "full_name": User.full_name, "code": User.code,
                "created_at": User.created_at, "last_login_at": User.last_login_at, "department": Department.name}
    return paginate(db, stmt, params, sortable, "username")


def _clean_contact(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    if phone:
        phone = normalize_phone(phone, "phone")
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValidationFailed.field("email", "Email không hợp lệ.")
    return phone, email


def _check_department(db: Session, p: Principal, org_id: str | None, dept_id: str | None) -> Department | None:
    if not dept_id:
        if p.unit_path is not None:
            raise ValidationFailed.field("department_id", "Chọn đơn vị trong phạm vi của bạn.")
        return None
    d = db.get(Department, dept_id)
    if d is None or d.organization_id != org_id or not p.covers_unit(d.path):
        raise ValidationFailed.field("department_id", "Đơn vị không hợp lệ.")
    return d


def _check_groups(db: Session, p: Principal, org_id: str | None, ids: list[str]) -> list[PermissionGroup]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return []
    groups = list(db.scalars(select(PermissionGroup).where(PermissionGroup.id.in_(ids))))
    if len(groups) != len(ids):
        raise ValidationFailed.field("group_ids", "Có nhóm quyền không tồn tại.")
    if p.unit_path is not None and any(r.code == SCOPE_ALL_UNITS for g in groups for r in g.roles):
        # a unit-scoped administrator cannot hand out more than their own unit scope
        raise ValidationFailed.field("group_ids", "Bạn không được gán nhóm quyền có phạm vi toàn tổ chức.")
    if org_id:
        org = db.get(Organization, org_id)
        allowed = {g.id for g in org.groups} if org else set()
        if any(g.id not in allowed for g in groups):
            raise ValidationFailed.field("group_ids", "Tổ chức không được phép dùng nhóm quyền đã chọn.")
    return groups


def _check_unique(db: Session, org_id: str | None, code: str, username: str | None, exclude: str | None = None) -> None:
    errors = []
    if username:
        q = select(User.id).where(User.username == username)
        if exclude:
            q = q.where(User.id != exclude)
        if db.scalar(q):
            errors.append({"field": "username", "message": "Tên đăng nhập đã được dùng."})
    q = select(User.id).where(func.lower(User.code) == code.lower())
    q = q.where(User.organization_id == org_id) if org_id else q.where(User.organization_id.is_(None))
    if exclude:
        q = q.where(User.id != exclude)
    if db.scalar(q):
        errors.append({"field": "code", "message": "Mã người dùng đã tồn tại trong tổ chức."})
    if errors:
        raise Conflict(" ".join(e["message"] for e in errors), errors)


def create_user(db: Session, p: Principal, data: S.UserIn) -> User:
    if data.is_sysadmin:
        if not p.is_sysadmin:
            raise Forbidden("Chỉ quản trị hệ thống được tạo quản trị hệ thống.")
        if data.organization_id or data.department_id:
            raise ValidationFailed.field("organization_id", "Quản trị hệ thống không thuộc tổ chức hay đơn vị nào.")
        org_id = None
    else:
        org_id = organization_for_write(p, data.organization_id)
        if p.is_sysadmin and db.get(Organization, org_id) is None:
            raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.")
    phone, email = _clean_contact(data.phone, data.email)
    dept = _check_department(db, p, org_id, data.department_id) if org_id else None
    groups = _check_groups(db, p, org_id, data.group_ids)
    errors = policy_errors(data.password, data.username, data.full_name)
    if errors:
        raise ValidationFailed(" ".join(errors), [{"field": "password", "message": e} for e in errors])
    _check_unique(db, org_id, data.code, data.username)
    u = User(id=new_id(), organization_id=org_id, department_id=dept.id if dept else None, code=data.code,
             username=data.username, full_name=data.full_name, phone=phone or "", email=email or "",
             address=data.address, password_hash=hash_password(data.password), is_active=data.is_active,
             is_sysadmin=data.is_sysadmin, allow_multiple_sessions=data.allow_multiple_sessions, groups=groups,
             must_change_password=data.must_change_password, password_changed_at=utcnow())
    db.add(u)
    db.flush()
    record(db, p, "user.created", "user", u.id, after=_user_snapshot(u), organization_id=org_id,
           summary=f"Tạo người dùng {u.username} – {u.full_name}")
    return u


def update_user(db: Session, p: Principal, user_id: str, data: S.UserPatch) -> User:
    u = get_user(db, p, user_id)
    if u.is_sysadmin and not p.is_sysadmin:
        raise Forbidden("Không được sửa tài khoản quản trị hệ thống.")
    before = _user_snapshot(u)
    fields = data.model_fields_set
    if data.code is not None and data.code != u.code:
        _check_unique(db, u.organization_id, data.code, None, exclude=u.id)
        u.code = data.code
    if data.full_name is not None:
        u.full_name = data.full_name
    phone, email = _clean_contact(data.phone, data.email)
    if data.phone is not None:
        u.phone = phone or ""
    if data.email is not None:
        u.email = email or ""
    if data.address is not None:
        u.address = data.address
    if "department_id" in fields and u.organization_id:
        dept = _check_department(db, p, u.organization_id, data.department_id)
        u.department_id = dept.id if dept else None
    if data.group_ids is not None:
        u.groups = _check_groups(db, p, u.organization_id, data.group_ids)
    if data.allow_multiple_sessions is not None:
        u.allow_multiple_sessions = data.allow_multiple_sessions
    if data.is_active is not None and data.is_active != u.is_active:
        if u.id == p.user_id and not data.is_active:
            raise ValidationFailed.field("is_active", "Không thể tự vô hiệu hóa tài khoản của mình.")
        u.is_active = data.is_active
        if not u.is_active:
            end_user_sessions(db, u, "revoked")
    db.flush()
    record(db, p, "user.updated", "user", u.id, before=before, after=_user_snapshot(u),
           organization_id=u.organization_id, summary=f"Sửa người dùng {u.username}")
    return u


def delete_user(db: Session, p: Principal, user_id: str) -> None:
    u = get_user(db, p, user_id)
    if u.id == p.user_id:
        raise Conflict("Không thể xóa tài khoản đang đăng nhập.")
    if u.is_sysadmin and not p.is_sysadmin:
        raise Forbidden("Không được xóa tài khoản quản trị hệ thống.")
    if u.last_login_at is not None:
        raise Conflict("Người dùng đã từng đăng nhập và có lịch sử làm việc; hãy vô hiệu hóa thay vì xóa.")
    for org in db.scalars(select(Organization).where(Organization.manager_id == u.id)):
        org.manager_id = None
    record(db, p, "user.deleted", "user", u.id, before=_user_snapshot(u), organization_id=u.organization_id,
           summary=f"Xóa người dùng {u.username}")
    db.delete(u)


def unlock_user(db: Session, p: Principal, user_id: str) -> User:
    u = get_user(db, p, user_id)
    u.failed_logins = 0
    u.locked_until = None
    record(db, p, "user.unlocked", "user", u.id, organization_id=u.organization_id,
           summary=f"Mở khóa đăng nhập cho {u.username}")
    return u


def update_profile(db: Session, p: Principal, data: S.ProfileIn) -> User:
    """PERM-02: a user edits their own name and contact details."""
    u = db.get(User, p.user_id)
    assert u is not None
    before = _user_snapshot(u)
    phone, email = _clean_contact(data.phone, data.email)
    u.full_name = data.full_name
    u.phone = phone or ""
    u.email = email or ""
    u.address = data.address
    db.flush()
    record(db, p, "user.profile_updated", "user", u.id, before=before, after=_user_snapshot(u),
           summary="Cập nhật thông tin cá nhân")
    return u


def create_first_admin(db: Session, username: str, password: str, full_name: str = "Quản trị hệ thống") -> User:
    """Used by `ketnoi admin create` and the first start; no actor, no must-change flag."""
    uname = username.strip().lower()
    if db.scalar(select(User.id).where(User.username == uname)):
        raise Conflict(f"Tên đăng nhập '{uname}' đã tồn tại.")
    errors = policy_errors(password, uname, full_name)
    if errors:
        raise ValidationFailed(" ".join(errors))
    code = "ADMIN" if not db.scalar(select(User.id).where(User.code == "ADMIN")) else "ADMIN-" + new_id()[:6]
    u = User(id=new_id(), code=code, username=uname, full_name=full_name, password_hash=hash_password(password),
             is_sysadmin=True, password_changed_at=utcnow())
    db.add(u)
    db.flush()
    record(db, None, "user.created", "user", u.id, after=_user_snapshot(u), summary=f"Tạo quản trị hệ thống {uname}")
    return u


# --- sessions -----------------------------------------------------------------------------------
def list_sessions(db: Session, p: Principal, params: ListParams, *, user_id: str = "", active: bool | None = True) -> Page:
    stmt = select(AuthSession).join(User, AuthSession.user_id == User.id)
    if not p.is_sysadmin:
        stmt = stmt.where(User.organization_id == p.organization_id)
    if p.unit_path is not None:
        stmt = stmt.outerjoin(Department, User.department_id == Department.id).where(
            or_(Department.path.startswith(p.unit_path), User.id == p.user_id))
    if user_id:
        stmt = stmt.where(AuthSession.user_id == user_id)
    if active is True:
        stmt = stmt.where(AuthSession.ended_at.is_(None), AuthSession.expires_at > utcnow())
    elif active is False:
        stmt = stmt.where(AuthSession.ended_at.is_not(None))
    if params.q:
        stmt = apply_search(stmt, params.q, [User.username, AuthSession.device, AuthSession.ip])
    return paginate(db, stmt, params, {"created_at": AuthSession.created_at, "last_seen_at": AuthSession.last_seen_at},
                    "-created_at")


def revoke_session(db: Session, p: Principal, session_id: str) -> AuthSession:
    s = db.get(AuthSession, session_id)
    if s is None or not _visible(p, s.user):
        raise NotFound("Không tìm thấy phiên đăng nhập.")
    if s.ended_at is not None:
        raise Conflict("Phiên đã kết thúc.")
    end_session(db, s, "revoked")
    record(db, p, "session.revoked", "user", s.user_id, organization_id=s.user.organization_id,
           summary=f"Kết thúc phiên đăng nhập của {s.user.username} ({s.device})")
    return s
