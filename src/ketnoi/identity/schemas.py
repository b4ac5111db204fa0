"""API shapes of the identity domain."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")]
RoleCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100,
                                            pattern=r"^[a-z0-9][a-z0-9_.\-]*$")]
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Username = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=3, max_length=100,
                                            pattern=r"^[a-z0-9][a-z0-9_.\-@]*$")]
Password = Annotated[str, StringConstraints(max_length=128)]
Id = Annotated[str, StringConstraints(max_length=64)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- auth ---------------------------------------------------------------------------------------
class LoginIn(BaseModel):
    username: Annotated[str, StringConstraints(max_length=100)]
    password: Password


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_in: int


class ChangePasswordIn(BaseModel):
    current_password: Password
    new_password: Password
    confirm_password: Password


class ResetRequestIn(BaseModel):
    username: Annotated[str, StringConstraints(max_length=100)]
    channel: Annotated[str, StringConstraints(pattern=r"^(sms|email)$")] = "sms"


class ResetConfirmIn(BaseModel):
    username: Annotated[str, StringConstraints(max_length=100)]
    code: Annotated[str, StringConstraints(max_length=12)]
    new_password: Password
    confirm_password: Password


class MessageOut(BaseModel):
    message: str


class ProfileIn(BaseModel):
    """PERM-02: what users may change about themselves."""

    full_name: Name
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


# --- organizations ------------------------------------------------------------------------------
class OrganizationIn(BaseModel):
    code: Code
    name: Name
    is_active: bool = True
    group_ids: list[Id] = Field(default_factory=list, max_length=200)
    manager_id: Id | None = None


class OrganizationPatch(BaseModel):
    name: Name | None = None
    is_active: bool | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=200)
    manager_id: Id | None = None


class GroupRef(Out):
    id: str
    code: str
    name: str


class OrganizationOut(Out):
    id: str
    code: str
    name: str
    is_active: bool
    manager_id: str | None
    groups: list[GroupRef]
    created_at: datetime
    updated_at: datetime


# --- departments --------------------------------------------------------------------------------
class DepartmentIn(BaseModel):
    code: Code
    name: Name
    parent_id: Id | None = None
    organization_id: Id | None = None  # system administrators choose; others use their own
    is_active: bool = True


class DepartmentPatch(BaseModel):
    code: Code | None = None
    name: Name | None = None
    parent_id: Id | None = None
    is_active: bool | None = None


class DepartmentOut(Out):
    id: str
    organization_id: str
    code: str
    name: str
    parent_id: str | None
    path: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


# --- roles and groups ---------------------------------------------------------------------------
class RoleIn(BaseModel):
    code: RoleCode
    name: Name
    description: Text = ""
    parent_id: Id | None = None
    sort_order: int = Field(default=0, ge=0, le=100000)


class RolePatch(BaseModel):
    name: Name | None = None
    description: Text | None = None
    parent_id: Id | None = None
    sort_order: int | None = Field(default=None, ge=0, le=100000)


class RoleOut(Out):
    id: str
    code: str
    name: str
    description: str
    parent_id: str | None
    sort_order: int
    is_system: bool


class GroupIn(BaseModel):
    code: Code
    name: Name
    description: Text = ""
    role_ids: list[Id] = Field(default_factory=list, max_length=1000)


class GroupPatch(BaseModel):
    name: Name | None = None
    description: Text | None = None
    role_ids: list[Id] | None = Field(default=None, max_length=1000)


class RoleRef(Out):
    id: str
    code: str
    name: str


class GroupOut(Out):
    id: str
    code: str
    name: str
    description: str
    roles: list[RoleRef]


# --- users --------------------------------------------------------------------------------------
class UserIn(BaseModel):
    code: Code
    username: Username
    full_name: Name
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    password: Password
    organization_id: Id | None = None
    department_id: Id | None = None
    group_ids: list[Id] = Field(default_factory=list, max_length=100)
    is_active: bool = True
    is_sysadmin: bool = False
    allow_multiple_sessions: bool = False
    must_change_password: bool = True


class UserPatch(BaseModel):
    code: Code | None = None
    full_name: Name | None = None
    phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    email: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    department_id: Id | None = None
    group_ids: list[Id] | None = Field(default=None, max_length=100)
    is_active: bool | None = None
    allow_multiple_sessions: bool | None = None


class AdminResetIn(BaseModel):
    new_password: Password = ""


class AdminResetOut(BaseModel):
    temporary_password: str
    message: str


class UserOut(Out):
    id: str
    organization_id: str | None
    department_id: str | None
    code: str
    username: str
    full_name: str
    phone: str
    email: str
    address: str
    is_active: bool
    is_sysadmin: bool
    allow_multiple_sessions: bool
    must_change_password: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    groups: list[GroupRef]
    created_at: datetime
    updated_at: datetime


class MeOut(UserOut):
    permissions: list[str]
    unit_scope: str | None


class SessionOut(Out):
    id: str
    user_id: str
    kind: str
    device: str
    ip: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    ended_at: datetime | None
    end_reason: str


class AuditOut(Out):
    id: str
    at: datetime
    actor_id: str | None
    actor_name: str
    organization_id: str | None
    action: str
    entity_type: str
    entity_id: str
    summary: str
    before: dict | None
    after: dict | None
    ip: str


class OutboxOut(Out):
    id: str
    organization_id: str | None
    channel: str
    recipient: str
    subject: str
    body: str
    purpose: str
    status: str
    provider: str
    attempts: int
    last_error: str
    created_at: datetime
    sent_at: datetime | None
