"""Shapes every API shares: the paged list envelope, list query parameters, problem responses."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from ketnoi.core.listing import MAX_PAGE_SIZE, ListParams

T = TypeVar("T")


class Paged(BaseModel, Generic[T]):
    items: list[T]
    page: int
    page_size: int
    total: int = Field(description="Số bản ghi; khi total_capped = true: đã đếm đến giới hạn, còn nhiều hơn total.")
    total_capped: bool = Field(False, description="true khi danh sách có hơn `total` bản ghi (ngừng đếm ở 10.000).")


class FieldError(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str = "about:blank"
    title: str
    status: int
    detail: str
    errors: list[FieldError] = []


PROBLEMS = {
    s: {"model": Problem, "description": d, "content": {"application/problem+json": {}}}
    for s, d in ((400, "Yêu cầu không hợp lệ"), (401, "Chưa đăng nhập"), (403, "Không có quyền"),
                 (404, "Không tìm thấy"), (409, "Xung đột dữ liệu"), (422, "Dữ liệu không hợp lệ"),
                 (429, "Quá nhiều yêu cầu"))
}


def _list_params(
    page: Annotated[int, Query(ge=1, le=1_000_000, description="Trang, từ 1")] = 1,
    page_size: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Số bản ghi mỗi trang")] = 20,
    sort: Annotated[str, Query(max_length=40, description="Trường sắp xếp; '-' phía trước để giảm dần")] = "",
    q: Annotated[str, Query(max_length=200, description="Từ khóa tìm kiếm")] = "",
) -> ListParams:
    return ListParams(page=page, page_size=page_size, sort=sort, q=q)


def list_query():
    return Depends(_list_params)
