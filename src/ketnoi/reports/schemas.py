"""API shapes of the reports domain."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ketnoi.reports.workflow import Action

Id = Annotated[str, StringConstraints(max_length=64)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=5000)]


class Channel(str, Enum):
    PHONE = "phone"
    SMS = "sms"
    APP = "app"
    ZALO = "zalo"
    WEB = "web"
    VIDEO = "video"
    WALK_IN = "walk_in"


CHANNEL_LABELS = {"phone": "Điện thoại", "sms": "SMS", "app": "Ứng dụng công dân", "zalo": "Zalo", "web": "Cổng web",
                  "video": "Cuộc gọi video", "walk_in": "Trực tiếp"}


class Priority(str, Enum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


PRIORITY_LABELS = {"low": "Thấp", "normal": "Bình thường", "high": "Cao", "urgent": "Khẩn cấp"}


class ReportIn(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)]
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)]
    channel: Channel
    priority: Priority = Priority.NORMAL
    citizen_name: Short = ""
    citizen_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] = ""
    citizen_email: Short = ""
    citizen_address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    area_id: Id | None = None
    category_id: Id | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    source_call_id: Annotated[str, StringConstraints(max_length=64)] = ""
    source_sms_id: Annotated[str, StringConstraints(max_length=64)] = ""
    organization_id: Id | None = None  # system administrators choose


class ReportPatch(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=300)] | None = None
    content: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20000)] | None = None
    channel: Channel | None = None
    priority: Priority | None = None
    citizen_name: Short | None = None
    citizen_phone: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)] | None = None
    citizen_email: Short | None = None
    citizen_address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    area_id: Id | None = None
    category_id: Id | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    version: int | None = Field(default=None, ge=1, description="Phiên bản đang sửa; khác phiên bản hiện tại → 409")


class TransitionIn(BaseModel):
    action: Action
    note: Note = ""
    unit_id: Id | None = None
    assignee_id: Id | None = None
    support_unit_id: Id | None = None
    area_id: Id | None = None
    result: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)] = ""


class Ref(BaseModel):
    id: str
    name: str


class AttachmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    filename: str
    content_type: str
    size: int
    created_at: datetime


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    actor_name: str
    action: str
    action_label: str = ""
    from_status: str
    to_status: str
    unit_id: str | None
    unit_name: str
    assignee_id: str | None
    assignee_name: str
    note: str


class ReportOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    code: str
    organization_id: str
    title: str
    content: str
    channel: str
    priority: str
    status: str
    status_label: str = ""
    citizen_name: str
    citizen_phone: str
    citizen_email: str
    citizen_address: str
    area_id: str | None
    area_name: str = ""
    latitude: float | None
    longitude: float | None
    category_id: str | None
    category_name: str = ""
    unit_id: str | None
    unit_name: str = ""
    assignee_id: str | None
    assignee_name: str = ""
    support_units: list[Ref] = []
    source_call_id: str
    source_sms_id: str
    result: str
    pending_note: str
    received_at: datetime
    dispatched_at: datetime | None
    due_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    overdue: bool = False
    near_due: bool = False
    version: int
    created_at: datetime
    updated_at: datetime
    actions: list[str] = []
    attachments: list[AttachmentOut] = []


class ProgressNode(BaseModel):
    """CRM-04 tree: unit → sub-unit → specialist branches, each with its history entries."""

    kind: str  # unit | specialist
    id: str | None
    name: str
    entries: list[HistoryOut] = []
    children: list[ProgressNode] = []


class ProgressOut(BaseModel):
    report_id: str
    code: str
    entries: list[HistoryOut]
    tree: list[ProgressNode]


# --- rules and settings -------------------------------------------------------------------------
class DispatchRuleIn(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    department_id: Id
    category_ids: list[Id] = Field(min_length=1, max_length=500)
    area_ids: list[Id] = Field(default_factory=list, max_length=5000)
    is_active: bool = True
    priority: int = Field(default=100, ge=0, le=10000)
    organization_id: Id | None = None


class DispatchRulePatch(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    department_id: Id | None = None
    category_ids: list[Id] | None = Field(default=None, min_length=1, max_length=500)
    area_ids: list[Id] | None = Field(default=None, max_length=5000)
    is_active: bool | None = None
    priority: int | None = Field(default=None, ge=0, le=10000)


class DispatchRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str
    name: str
    department_id: str
    is_active: bool
    priority: int
    category_ids: list[str] = []
    area_ids: list[str] = []
    created_at: datetime
    updated_at: datetime


class SlaRuleIn(BaseModel):
    category_id: Id
    department_id: Id | None = None
    hours: int = Field(ge=1, le=24 * 365)
    working_hours: bool = False
    organization_id: Id | None = None


class SlaRulePatch(BaseModel):
    hours: int | None = Field(default=None, ge=1, le=24 * 365)
    working_hours: bool | None = None


class SlaRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str
    category_id: str
    department_id: str | None
    hours: int
    working_hours: bool


class HolidayIn(BaseModel):
    day: Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$")]
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class HolidayOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str | None
    day: str
    name: str


class NotificationSettingIn(BaseModel):
    on_assignment: bool = False
    on_processing: bool = False
    on_approval: bool = False
    template: Annotated[str, StringConstraints(strip_whitespace=True, max_length=320)] = ""


class NotificationSettingOut(NotificationSettingIn):
    model_config = ConfigDict(from_attributes=True)
    user_id: str
