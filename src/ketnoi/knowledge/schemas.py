"""API shapes of the knowledge base: procedures with answers and attachments, events, search
results, API keys and the call log (KB-01…11, 22)."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Id = Annotated[str, StringConstraints(max_length=64)]
Code = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=50,
                                        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-/]*$")]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
Short = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Long = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1000)]
RichText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200_000)]
MAX_ATTACHMENT_B64 = 2 * 1024 * 1024  # JSON bodies are capped at 2 MB (web.guards); larger files go multipart


class Status(str, Enum):
    DRAFT = "draft"
    PUBLISHED = "published"
    HIDDEN = "hidden"


class SearchMode(str, Enum):
    APPROXIMATE = "approximate"
    EXACT = "exact"


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- attachments ---------------------------------------------------------------------------------
class AttachmentIn(BaseModel):
    """A file inside a JSON body, base64-encoded (standard alphabet, padding optional)."""

    filename: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=255)]
    content_base64: Annotated[str, StringConstraints(min_length=1, max_length=MAX_ATTACHMENT_B64)]


class AttachmentOut(Out):
    id: str
    filename: str
    content_type: str
    size: int
    created_at: datetime
    url: str = ""


# --- answers -------------------------------------------------------------------------------------
class AnswerIn(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    content: RichText = Field(description="Nội dung (HTML được lọc: p, br, ul, ol, li, strong, em, b, i, a, "
                                          "table, tr, td, th, h3, h4; văn bản thường cũng được)")
    status: Status = Status.PUBLISHED
    sort_order: int | None = Field(default=None, ge=0, le=10_000, description="Thứ tự; bỏ trống = xếp cuối")
    attachment: AttachmentIn | None = None


class AnswerPatch(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    content: RichText | None = None
    status: Status | None = None
    sort_order: int | None = Field(default=None, ge=0, le=10_000)


class AnswerOut(Out):
    id: str
    procedure_id: str
    title: str
    content: str
    status: Status
    sort_order: int
    created_at: datetime
    updated_at: datetime
    attachments: list[AttachmentOut] = []


# --- procedures ----------------------------------------------------------------------------------
class ProcedureFields(BaseModel):
    type_doc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] = ""
    field: Short = ""
    level: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    agency: Long = ""
    authority: Long = ""
    procedure_type: Short = ""
    subjects: Long = ""
    decision_no: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] = ""
    source_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    details: dict[str, str] = Field(default_factory=dict, description="Các mục khác (trình tự, hồ sơ, phí…)")
    area_ids: list[Id] = Field(default_factory=list, max_length=200)

    @field_validator("details")
    @classmethod
    def _small_details(cls, v: dict[str, str]) -> dict[str, str]:
        if len(v) > 50 or any(len(k) > 100 or len(x) > 100_000 for k, x in v.items()):
            raise ValueError("Tối đa 50 mục, tên mục tối đa 100 ký tự, nội dung mỗi mục tối đa 100.000 ký tự.")
        return v


class ProcedureIn(ProcedureFields):
    code: Code
    title: Title
    status: Status = Status.PUBLISHED
    answer: AnswerIn = Field(description="Câu trả lời đầu tiên (KB-02)")
    organization_id: Id | None = None  # system administrators choose


class ProcedurePatch(BaseModel):
    code: Code | None = None
    title: Title | None = None
    status: Status | None = None
    type_doc: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100)] | None = None
    field: Short | None = None
    level: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    agency: Long | None = None
    authority: Long | None = None
    procedure_type: Short | None = None
    subjects: Long | None = None
    decision_no: Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)] | None = None
    source_url: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    details: dict[str, str] | None = None
    area_ids: list[Id] | None = Field(default=None, max_length=200)


class AreaRef(Out):
    id: str
    code: str
    name: str
    level: int


class ProcedureSummary(Out):
    id: str
    organization_id: str
    code: str
    title: str
    status: Status
    type_doc: str
    field: str
    level: str
    created_at: datetime
    updated_at: datetime


class ProcedureOut(ProcedureSummary):
    agency: str
    authority: str
    procedure_type: str
    subjects: str
    decision_no: str
    source_url: str
    details: dict[str, Any]
    areas: list[AreaRef] = []
    answers: list[AnswerOut] = []


# --- events (KB-22) ------------------------------------------------------------------------------
class EventIn(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] = ""
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100_000)] = ""
    status: Status = Status.PUBLISHED
    organization_id: Id | None = None


class EventPatch(BaseModel):
    title: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)] | None = None
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    place: Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)] | None = None
    description: Annotated[str, StringConstraints(strip_whitespace=True, max_length=100_000)] | None = None
    status: Status | None = None


class EventOut(Out):
    id: str
    organization_id: str
    title: str
    starts_at: datetime | None
    ends_at: datetime | None
    place: str
    description: str
    status: Status
    created_at: datetime
    updated_at: datetime


# --- search (KB-11, 21, 22) ----------------------------------------------------------------------
class HitOut(BaseModel):
    id: str
    code: str
    title: str
    snippet: str = Field(description="Đoạn trích, từ khớp được bao bởi <mark>…</mark>")
    score: float


class SearchOut(BaseModel):
    items: list[HitOut]
    page: int
    page_size: int
    total: int


# --- API keys and the call log (KB-01) -----------------------------------------------------------
class ApiKeyIn(BaseModel):
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    scopes: list[str] = Field(default_factory=lambda: ["knowledge.read"], min_length=1, max_length=5)
    expires_at: datetime | None = None
    organization_id: Id | None = None


class ApiKeyOut(Out):
    key_id: str
    organization_id: str
    name: str
    scopes: list[str]
    state: str
    created_at: datetime
    expires_at: datetime | None
    revoked_at: datetime | None
    last_used_at: datetime | None
    replaced_by: str | None


class ApiKeyIssued(ApiKeyOut):
    secret: str = Field(description="Bí mật dùng để ký; chỉ hiển thị một lần")
    replaces: str | None = None


class ApiCallOut(Out):
    id: str
    at: datetime
    key_id: str
    organization_id: str | None
    method: str
    path: str
    status: int
    outcome: str
    ip: str
    duration_ms: int
