"""Tables of the identity domain (PERM-04…09, CRM-01/02, VC-10 single-device sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Column, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

organization_groups = Table(
    "organization_permission_groups",
    Base.metadata,
    Column("organization_id", ForeignKey("organizations.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("permission_groups.id", ondelete="CASCADE"), primary_key=True),
)

group_roles = Table(
    "permission_group_roles",
    Base.metadata,
    Column("group_id", ForeignKey("permission_groups.id", ondelete="CASCADE"), primary_key=True),
    Column("role_id", ForeignKey("roles.id", ondelete="CASCADE"), primary_key=True),
)

user_groups = Table(
    "user_permission_groups",
    Base.metadata,
    Column("user_id", ForeignKey("users.id", ondelete="CASCADE"), primary_key=True),
    Column("group_id", ForeignKey("permission_groups.id", ondelete="CASCADE"), primary_key=True),
)


class Role(IdMixin, TimestampMixin, Base):
    """A menu/function entry (PERM-04). System roles are the permissions the code checks."""

    __tablename__ = "roles"
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("roles.id", ondelete="SET NULL"), nullable=True)
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    is_system: Mapped[bool] = mapped_column(Boolean, default=False)

    parent: Mapped[Role | None] = relationship(remote_side="Role.id")


class PermissionGroup(IdMixin, TimestampMixin, Base):
    """A named set of roles (PERM-05), granted to users and allowed per organization."""

    __tablename__ = "permission_groups"
    code: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")

    roles: Mapped[list[Role]] = relationship(secondary=group_roles, order_by=Role.code)


class Organization(IdMixin, TimestampMixin, Base):
    """A tenant (PERM-06): a province's platform instance or an agency using it."""

    __tablename__ = "organizations"
    code: Mapped[str] = mapped_column(String(50), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    manager_id: Mapped[str | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL", use_alter=True, name="fk_organizations_manager_id_users"),
        nullable=True,
    )

    groups: Mapped[list[PermissionGroup]] = relationship(secondary=organization_groups, order_by=PermissionGroup.code)
    manager: Mapped[User | None] = relationship(foreign_keys=[manager_id], post_update=True)


class Department(IdMixin, TimestampMixin, Base):
    """A unit of an organization, in a tree (PERM-07). ``path`` is '/<root id>/…/<own id>/'."""

    __tablename__ = "departments"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_departments_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(50))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), nullable=True)
    path: Mapped[str] = mapped_column(String(1000), index=True, default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)

    organization: Mapped[Organization] = relationship()
    parent: Mapped[Department | None] = relationship(remote_side="Department.id")


class User(IdMixin, TimestampMixin, Base):
    """An account (PERM-08); system administrators have no organization or department (PERM-09)."""

    __tablename__ = "users"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_users_org_code"),)
    organization_id: Mapped[str | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    department_id: Mapped[str | None] = mapped_column(
        ForeignKey("departments.id", ondelete="RESTRICT"), nullable=True, index=True
    )
    code: Mapped[str] = mapped_column(String(50))
    username: Mapped[str] = mapped_column(String(100), unique=True)
    full_name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), default="")
    email: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(500), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_sysadmin: Mapped[bool] = mapped_column(Boolean, default=False)
    allow_multiple_sessions: Mapped[bool] = mapped_column(Boolean, default=False)
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    password_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    organization: Mapped[Organization | None] = relationship(foreign_keys=[organization_id])
    department: Mapped[Department | None] = relationship()
    groups: Mapped[list[PermissionGroup]] = relationship(secondary=user_groups, order_by=PermissionGroup.code)


class PasswordHistory(IdMixin, Base):
    """Earlier password hashes, so a new password cannot reuse the last few (PERM-03)."""

    __tablename__ = "password_history"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class AuthSession(IdMixin, Base):
    """A login on one device: a console cookie or an API bearer token (stored only as a hash)."""

    __tablename__ = "auth_sessions"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[str] = mapped_column(String(10))  # web | api
    csrf_token: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    end_reason: Mapped[str] = mapped_column(String(30), default="")  # logout | replaced | revoked | expired
    replaced_by_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    user_agent: Mapped[str] = mapped_column(String(400), default="")
    device: Mapped[str] = mapped_column(String(120), default="")

    user: Mapped[User] = relationship()

    __table_args__ = (Index("ix_auth_sessions_active", "user_id", "ended_at"),)


class LoginAttempt(IdMixin, Base):
    """Every login attempt, for throttling and for the security log."""

    __tablename__ = "login_attempts"
    username: Mapped[str] = mapped_column(String(100), index=True)
    ip: Mapped[str] = mapped_column(String(64), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    success: Mapped[bool] = mapped_column(Boolean, default=False)
    reason: Mapped[str] = mapped_column(String(40), default="")


class PasswordResetCode(IdMixin, Base):
    """A one-time code sent to the account's phone or email (CRM-02); single-use, expiring."""

    __tablename__ = "password_reset_codes"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))  # sms | email
    destination: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
