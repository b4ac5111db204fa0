"""API shapes of the catalog domain: areas (national administrative units) and report categories."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from ketnoi.identity.schemas import Code, Id, Name, Text

Scheme = Annotated[str, StringConstraints(strip_whitespace=True, pattern=r"^(2025|legacy)$")]
# Digits and length by level are checked by the service, with messages that name the rule.
AreaCode = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=10)]
DivisionType = Annotated[str, StringConstraints(strip_whitespace=True, max_length=60)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


# --- areas --------------------------------------------------------------------------------------
class AreaIn(BaseModel):
    scheme: Scheme = "2025"
    code: AreaCode
    name: Name
    division_type: DivisionType = ""
    level: int = Field(ge=1, le=3)
    parent_id: Id | None = None
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    is_active: bool = True


class AreaPatch(BaseModel):
    code: AreaCode | None = None
    name: Name | None = None
    division_type: DivisionType | None = None
    is_active: bool | None = None


class AreaRef(Out):
    id: str
    scheme: str
    code: str
    name: str
    level: int


class AreaOut(Out):
    id: str
    scheme: str
    code: str
    name: str
    division_type: str
    level: int
    parent_id: str | None
    path: str
    latitude: float | None
    longitude: float | None
    is_active: bool
    created_at: datetime
    updated_at: datetime


class AreaNode(AreaOut):
    """An area in a lazy tree view: ``children`` tells whether it can be expanded."""

    children: int = 0


class AreaLoadOut(BaseModel):
    scheme: str
    inserted: int
    updated: int
    unchanged: int
    by_level: dict[int, int]


# --- categories ---------------------------------------------------------------------------------
class CategoryIn(BaseModel):
    code: Code
    name: Name
    description: Text = ""
    parent_id: Id | None = None
    area_ids: list[Id] = Field(default_factory=list, max_length=5000)
    sort_order: int = Field(default=0, ge=0, le=100000)
    is_active: bool = True
    organization_id: Id | None = None  # system administrators choose; others use their own


class CategoryPatch(BaseModel):
    code: Code | None = None
    name: Name | None = None
    description: Text | None = None
    parent_id: Id | None = None
    area_ids: list[Id] | None = Field(default=None, max_length=5000)
    sort_order: int | None = Field(default=None, ge=0, le=100000)
    is_active: bool | None = None


class CategoryOut(Out):
    id: str
    organization_id: str
    code: str
    name: str
    description: str
    parent_id: str | None
    sort_order: int
    is_active: bool
    icon_url: str | None
    areas: list[AreaRef]
    created_at: datetime
    updated_at: datetime


class CategoryNode(BaseModel):
    id: str
    code: str
    name: str
    description: str
    sort_order: int
    is_active: bool
    icon_url: str | None
    area_ids: list[str]
    children: list[CategoryNode]


class CategoryDeleteOut(BaseModel):
    result: Annotated[str, Field(
        description="deleted: đã xóa; retired: đang được dùng nên chuyển sang ngừng sử dụng")]
    message: str
    ids: list[str]


class DefaultsIn(BaseModel):
    codes: list[Annotated[str, StringConstraints(max_length=50)]] | None = Field(
        default=None, max_length=500, description="Mã trong bộ mặc định; để trống = toàn bộ")
    organization_id: Id | None = None


class DefaultCategoryOut(BaseModel):
    code: str
    name: str
    description: str
    parent_code: str | None


class DefaultsOut(BaseModel):
    created: list[CategoryOut]
    skipped: list[str]
    message: str


class ImportedRow(BaseModel):
    row: int
    id: str
    code: str
    name: str
    parent_code: str


class RejectedRow(BaseModel):
    row: int
    code: str
    reason: str


class ImportOut(BaseModel):
    imported: list[ImportedRow]
    message: str
