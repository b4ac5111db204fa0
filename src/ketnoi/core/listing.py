"""List paging, sorting and search shared by every list endpoint and console list page (API.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ketnoi.core.errors import ValidationFailed

MAX_PAGE_SIZE = 200
PAGE_SIZES = (10, 20, 50, 100, 200)


@dataclass
class ListParams:
    page: int = 1
    page_size: int = 20
    sort: str = ""
    q: str = ""


@dataclass
class Page:
    items: list[Any]
    page: int
    page_size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, (self.total + self.page_size - 1) // self.page_size)

    def as_dict(self, convert) -> dict[str, Any]:
        return {
            "items": [convert(i) for i in self.items],
            "page": self.page,
            "page_size": self.page_size,
            "total": self.total,
        }


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_search(stmt: Select, q: str, columns: list) -> Select:
    """Case-insensitive substring search over several columns; each word must match one of them."""
    for word in q.split()[:8]:
        pattern = f"%{like_escape(word.lower())}%"
        stmt = stmt.where(or_(*[func.lower(c).like(pattern, escape="\\") for c in columns]))
    return stmt


def paginate(db: Session, stmt: Select, params: ListParams, sortable: dict[str, Any], default_sort: str) -> Page:
    """Run ``stmt`` with ordering from ``params.sort`` (``field`` or ``-field``) and paging."""
    sort = params.sort or default_sort
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in sortable:
        allowed = ", ".join(sorted(sortable))
        raise ValidationFailed.field("sort", f"Không thể sắp xếp theo '{key}'. Chọn một trong: {allowed}.")
    column = sortable[key]
    order = column.desc() if desc else column.asc()
    total = db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0
    page = max(1, params.page)
    size = min(max(1, params.page_size), MAX_PAGE_SIZE)
    rows = db.scalars(stmt.order_by(order).offset((page - 1) * size).limit(size)).unique().all()
    return Page(items=list(rows), page=page, page_size=size, total=total)
