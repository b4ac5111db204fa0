"""The catalogue of system roles (PERM-04): menu/function entries the code checks.

Each domain registers its entries here with ``register``; ``sync_system_roles`` keeps the
``roles`` table in step with this catalogue (run by migrations' seed and at start-up).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RoleSpec:
    code: str
    name: str
    parent: str | None = None
    description: str = ""
    menu_url: str = ""  # console page this entry opens, when it is a menu item
    order: int = 0


CATALOG: dict[str, RoleSpec] = {}


def register(*specs: RoleSpec) -> None:
    for s in specs:
        CATALOG[s.code] = s


# Unit scope: holders see data of their whole organization, not only their unit subtree.
SCOPE_ALL_UNITS = "scope.all_units"

register(
    RoleSpec("home", "Trang chủ", menu_url="/", order=0),
    RoleSpec(SCOPE_ALL_UNITS, "Xem dữ liệu toàn tổ chức", description="Không giới hạn theo đơn vị của người dùng.", order=1),
    RoleSpec("admin", "Quản trị hệ thống", order=90),
    RoleSpec("identity.organizations.read", "Xem tổ chức", "admin", menu_url="/admin/organizations", order=91),
    RoleSpec("identity.organizations.write", "Quản lý tổ chức", "identity.organizations.read", order=92),
    RoleSpec("identity.departments.read", "Xem đơn vị, phòng ban", "admin", menu_url="/admin/departments", order=93),
    RoleSpec("identity.departments.write", "Quản lý đơn vị, phòng ban", "identity.departments.read", order=94),
    RoleSpec("identity.users.read", "Xem người dùng", "admin", menu_url="/admin/users", order=95),
    RoleSpec("identity.users.write", "Quản lý người dùng", "identity.users.read", order=96),
    RoleSpec("identity.groups.read", "Xem nhóm quyền", "admin", menu_url="/admin/groups", order=97),
    RoleSpec("identity.groups.write", "Quản lý nhóm quyền", "identity.groups.read", order=98),
    RoleSpec("identity.roles.read", "Xem vai trò (chức năng)", "admin", menu_url="/admin/roles", order=99),
    RoleSpec("identity.roles.write", "Quản lý vai trò (chức năng)", "identity.roles.read", order=100),
    RoleSpec("identity.sessions.manage", "Quản lý phiên đăng nhập", "admin", menu_url="/admin/sessions", order=101),
    RoleSpec("audit.read", "Xem nhật ký thay đổi", "admin", menu_url="/admin/audit", order=102),
    RoleSpec("outbox.read", "Xem hộp thư đi (SMS, email)", "admin", menu_url="/admin/outbox", order=103),
)


def load_all() -> None:
    """Import every domain's permissions module so the catalogue is complete."""
    import importlib

    for mod in ("ketnoi.catalog.permissions", "ketnoi.reports.permissions", "ketnoi.knowledge.permissions",
                "ketnoi.sms.permissions", "ketnoi.telephony.pbx.permissions", "ketnoi.videocall.permissions"):
        importlib.import_module(mod)


load_all()
