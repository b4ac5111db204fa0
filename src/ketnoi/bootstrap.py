"""Start-up preparation shared by `make run`, `ketnoi serve` and the tests: migrate, sync the role
catalogue, keep the default permission groups, and make sure a first administrator exists."""

from __future__ import annotations

import fnmatch
import logging

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.db.migrate import upgrade
from ketnoi.db.session import Database
from ketnoi.identity.models import PermissionGroup, Role, User
from ketnoi.identity.passwords import policy_errors
from ketnoi.identity.service import sync_system_roles
from ketnoi.settings import Settings

log = logging.getLogger("ketnoi")

# Default permission groups: code -> (name, description, role-code patterns). Patterns are
# resolved against the catalogue at every start, so new domains' roles join the right groups.
DEFAULT_GROUPS: dict[str, tuple[str, str, list[str]]] = {
    "QUAN_TRI_TO_CHUC": ("Quản trị tổ chức", "Quản lý đơn vị, người dùng, xem nhật ký của tổ chức.",
                         ["home", "scope.all_units", "admin", "identity.*", "audit.*", "outbox.*", "catalog.*",
                          "reports.*", "knowledge.*", "sms.*", "telephony.*", "callcenter.*", "videocall.*"]),
    "DIEU_PHOI_VIEN": ("Điều phối viên", "Tiếp nhận, tạo và điều phối phản ánh; trực tổng đài.",
                       ["home", "scope.all_units", "reports", "reports.read", "reports.create", "reports.coordinate",
                        "reports.delete", "reports.export", "reports.dashboard", "catalog", "catalog.*.read",
                        "knowledge.read", "knowledge.search", "sms", "sms.inbox", "sms.send", "sms.history",
                        "callcenter.agent*", "telephony", "telephony.calls.*", "telephony.recordings",
                        "videocall", "videocall.answer", "videocall.read", "videocall.reports"]),
    "LANH_DAO": ("Lãnh đạo đơn vị", "Phân công, phê duyệt kết quả xử lý của đơn vị.",
                 ["home", "reports", "reports.read", "reports.assign", "reports.approve", "reports.export",
                  "reports.dashboard", "knowledge.search"]),
    "CHUYEN_VIEN": ("Chuyên viên", "Xử lý phản ánh được giao.",
                    ["home", "reports", "reports.read", "reports.process", "knowledge.search"]),
    "NGUOI_DUNG": ("Người dùng cơ bản", "Trang chủ và thông tin cá nhân.", ["home"]),
}
SYSTEM_ONLY = {"identity.organizations.write", "identity.roles.write", "identity.groups.write"}


def ensure_default_groups(db: Session) -> None:
    roles = {r.code: r for r in db.scalars(select(Role))}
    for code, (name, desc, patterns) in DEFAULT_GROUPS.items():
        g = db.scalar(select(PermissionGroup).where(PermissionGroup.code == code))
        wanted = [r for c, r in sorted(roles.items()) if c not in SYSTEM_ONLY
                  and any(fnmatch.fnmatchcase(c, pat) for pat in patterns)]
        if g is None:
            db.add(PermissionGroup(code=code, name=name, description=desc, roles=wanted))
        else:  # add roles that appeared since; never remove what an administrator granted
            have = {r.id for r in g.roles}
            g.roles = list(g.roles) + [r for r in wanted if r.id not in have]


def prepare(settings: Settings, db: Database) -> None:
    settings.ensure_dirs()
    upgrade(db.url)
    with db.session() as s:
        sync_system_roles(s)
        s.flush()
        ensure_default_groups(s)
        from ketnoi.reports.rules import ensure_default_holidays

        ensure_default_holidays(s)


def ensure_first_admin(settings: Settings, db: Database) -> tuple[str, str] | None:
    """Create the first system administrator when there is none; returns (username, password) to
    print once, or None when one already exists."""
    from ketnoi.identity.auth import generate_password
    from ketnoi.identity.users import create_first_admin

    with db.session() as s:
        if s.scalar(select(User.id).where(User.is_sysadmin.is_(True)).limit(1)):
            return None
        password = settings.admin_password or generate_password()
        if policy_errors(password, settings.admin_username):
            raise SystemExit("KETNOI_ADMIN_PASSWORD không đạt chính sách mật khẩu: "
                             + " ".join(policy_errors(password, settings.admin_username)))
        create_first_admin(s, settings.admin_username, password)
        return settings.admin_username, password
