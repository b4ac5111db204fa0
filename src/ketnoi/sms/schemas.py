"""API shapes of the SMS channel."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

Id = Annotated[str, StringConstraints(max_length=64)]
Phone = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20)]
Text = Annotated[str, StringConstraints(max_length=2000)]
Sender = Annotated[str, StringConstraints(strip_whitespace=True, max_length=15)]
Kind = Literal["smpp", "kannel", "http"]
Direction = Literal["in", "out"]
Status = Literal["queued", "sending", "accepted", "delivered", "failed", "expired", "received"]
Variables = Annotated[dict[Annotated[str, StringConstraints(max_length=40)],
                           Annotated[str, StringConstraints(max_length=500)]], Field(max_length=30)]


# --- messages -----------------------------------------------------------------------------------
class SendIn(BaseModel):
    """Either ``text`` or ``template_code`` (with ``variables``)."""

    phone: Phone = Field(description="Số di động nhận tin: 0912…, 84912… hoặc +84912…")
    text: Text = ""
    template_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    variables: Variables = {}
    sender: Sender = Field(default="", description="Brandname hoặc đầu số gửi; trống = mặc định")
    priority: int = Field(default=5, ge=1, le=9, description="1 gửi trước nhất … 9")
    organization_id: Id | None = None  # system administrators choose


class ReplyIn(BaseModel):
    text: Text = ""
    template_code: Annotated[str, StringConstraints(strip_whitespace=True, max_length=40)] = ""
    variables: Variables = {}


class PartOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    provider: str
    provider_message_id: str
    status: str
    error: str


class HistoryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    seq: int
    at: datetime
    from_status: str
    to_status: str
    provider: str
    note: str


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str | None
    direction: Direction
    phone: str
    short_code: str
    text: str
    parts: int
    encoding: str
    status: Status
    status_label: str = ""
    priority: int
    purpose: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str
    provider: str
    report_id: str | None
    report_code: str = ""
    reply_to_id: str | None
    template_id: str | None
    created_by_name: str
    handled_at: datetime | None
    created_at: datetime
    updated_at: datetime
    sent_at: datetime | None
    delivered_at: datetime | None


class MessageDetailOut(MessageOut):
    provider_ids: list[PartOut] = []
    history: list[HistoryOut] = []


class ThreadOut(BaseModel):
    phone: str
    last_at: datetime
    last_text: str
    last_direction: Direction
    messages: int
    unhandled: int


class ReportRef(BaseModel):
    id: str
    code: str
    title: str
    status: str
    status_label: str
    received_at: datetime


class ThreadDetailOut(BaseModel):
    phone: str
    messages: list[MessageOut]
    reports: list[ReportRef]


class ReportFromSmsIn(BaseModel):
    """CRM-06: the report's fields, prefilled from the message when left out."""

    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)] = ""
    content: Annotated[str, StringConstraints(strip_whitespace=True, max_length=20000)] = ""
    priority: Literal["low", "normal", "high", "urgent"] = "normal"
    category_id: Id | None = None
    area_id: Id | None = None
    citizen_name: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    citizen_address: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""


class ReportCreatedOut(BaseModel):
    report_id: str
    code: str
    message: MessageOut


# --- configuration ------------------------------------------------------------------------------
Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
Brandname = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=15)]


class ProviderIn(BaseModel):
    name: Name = Field(description="Tên duy nhất, chữ không dấu, số, . _ -")
    kind: Kind
    config: dict[str, Any] = Field(default={}, description="Cấu hình theo loại; mật khẩu chỉ ghi, không đọc lại")
    brandnames: list[Brandname] = Field(default=[], max_length=50)
    is_default: bool = False
    priority: int = Field(default=100, ge=0, le=10000)
    enabled: bool = True
    organization_id: Id | None = None


class ProviderPatch(BaseModel):
    name: Name | None = None
    config: dict[str, Any] | None = Field(default=None, description="Khóa bí mật để trống = giữ nguyên")
    brandnames: list[Brandname] | None = Field(default=None, max_length=50)
    is_default: bool | None = None
    priority: int | None = Field(default=None, ge=0, le=10000)
    enabled: bool | None = None


class ProviderOut(BaseModel):
    id: str
    organization_id: str
    name: str
    kind: str
    config: dict[str, Any]  # without secrets
    secrets_set: list[str]  # secret keys that hold a value
    brandnames: list[str]
    is_default: bool
    priority: int
    enabled: bool
    status: dict[str, Any]
    created_at: datetime
    updated_at: datetime


TemplateCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40,
                                                pattern=r"^[A-Za-z0-9_.-]+$")]


class TemplateIn(BaseModel):
    code: TemplateCode
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)]
    brandname: Sender = ""
    is_active: bool = True
    organization_id: Id | None = None


class TemplatePatch(BaseModel):
    code: TemplateCode | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)] | None = None
    body: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=2000)] | None = None
    brandname: Sender | None = None
    is_active: bool | None = None


class TemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str
    code: str
    name: str
    body: str
    brandname: str
    is_active: bool
    variables: list[str] = []
    created_at: datetime
    updated_at: datetime


Keyword = Annotated[str, StringConstraints(strip_whitespace=True, to_upper=True, min_length=1, max_length=20,
                                           pattern=r"^[A-Za-z0-9]+$")]


class KeywordRuleIn(BaseModel):
    keyword: Keyword = Field(description="Từ khóa đầu tin nhắn, ví dụ PA")
    action: Literal["create_report"] = "create_report"
    category_id: Id | None = None
    ack_template_id: Id | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    is_active: bool = True
    organization_id: Id | None = None


class KeywordRulePatch(BaseModel):
    keyword: Keyword | None = None
    action: Literal["create_report"] | None = None
    category_id: Id | None = None
    ack_template_id: Id | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    is_active: bool | None = None


class KeywordRuleOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str
    keyword: str
    action: str
    category_id: str | None
    ack_template_id: str | None
    description: str
    is_active: bool
    created_at: datetime
    updated_at: datetime
