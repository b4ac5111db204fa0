"""Who is acting: the authenticated user with their permissions and unit scope."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    full_name: str
    organization_id: str | None
    department_id: str | None
    is_sysadmin: bool
    permissions: frozenset[str] = field(default_factory=frozenset)
    # Unit subtree the user acts in: a department path prefix; None = the whole organization.
    unit_path: str | None = None
    session_id: str = ""
    session_kind: str = ""
    csrf_token: str = ""
    must_change_password: bool = False
    ip: str = ""

    def has(self, permission: str) -> bool:
        return self.is_sysadmin or permission in self.permissions

    def sees_organization(self, organization_id: str | None) -> bool:
        return self.is_sysadmin or (organization_id is not None and organization_id == self.organization_id)

    def covers_unit(self, path: str | None) -> bool:
        """True when a row belonging to the unit at ``path`` is inside this user's unit scope."""
        if self.unit_path is None:
            return True
        return bool(path) and path.startswith(self.unit_path)
