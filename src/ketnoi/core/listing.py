"""List paging, sorting and search shared by every list endpoint and console list page (API.md).

Totals are counted up to ``COUNT_CAP`` rows: past it a list answers ``total = COUNT_CAP`` with
``total_capped`` true ("hơn 10.000"), because counting a million rows costs more than the page
itself (docs/BENCHMARKS.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from sqlalchemy import ColumnElement, Select, and_, func, literal, literal_column, or_, select
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

from ketnoi.core.errors import ValidationFailed

MAX_PAGE_SIZE = 200
PAGE_SIZES = (10, 20, 50, 100, 200)
COUNT_CAP = 10_000  # a list counts at most this many rows (+1 to know there are more)


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
    total_capped: bool = False  # more than ``total`` rows: counting stopped at the cap

    @property
    def pages(self) -> int:
        """Pages known to exist: all of them, or, past the cap, those up to the cap and the next
        page after a full one."""
        known = max(1, (self.total + self.page_size - 1) // self.page_size)
        if self.total_capped:
            known = max(known + (self.total % self.page_size == 0),
                        self.page + (len(self.items) == self.page_size))
        return known

    def as_dict(self, convert) -> dict[str, Any]:
        return {
            "items": [convert(i) for i in self.items],
            "page": self.page,
            "page_size": self.page_size,
            "total": self.total,
            "total_capped": self.total_capped,
        }


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def apply_search(stmt: Select, q: str, columns: list) -> Select:
    """Case-insensitive substring search over several columns; each word must match one of them."""
    for word in q.split()[:8]:
        pattern = f"%{like_escape(word.lower())}%"
        stmt = stmt.where(or_(*[func.lower(c).like(pattern, escape="\\") for c in columns]))
    return stmt


class Unindexed(ColumnElement[Any]):
    """``column`` as a value no index may serve: ``+column`` on SQLite, the column elsewhere.
    SQLite plans without statistics; where its guess is wrong (a partial index of the whole
    organization chosen over a user's own index, a range sorted instead of an ordered walk) the
    query says which term must not drive. PostgreSQL chooses from its statistics."""

    inherit_cache = True
    _traverse_internals: ClassVar = [("column", InternalTraversal.dp_clauseelement)]

    def __init__(self, column) -> None:
        self.column = column.__clause_element__() if hasattr(column, "__clause_element__") else column
        self.type = self.column.type


@compiles(Unindexed)
def _unindexed(element: Unindexed, compiler, **kw) -> str:
    return compiler.process(element.column, **kw)


@compiles(Unindexed, "sqlite")
def _unindexed_sqlite(element: Unindexed, compiler, **kw) -> str:
    return "+" + compiler.process(element.column, **kw)


def unindexed(column) -> ColumnElement[Any]:
    return Unindexed(column)


class PathPrefix(ColumnElement[bool]):
    """``column`` starts with ``prefix`` (a tree path such as ``/a/b/``), written as a range an
    index on the column serves with the prefix as a bound parameter: ``>= prefix AND < prefix⁺``.
    On PostgreSQL with the byte-wise pattern operators ``~>=~``/``~<~`` (``varchar_pattern_ops``
    indexes, any collation): ``LIKE :prefix || '%'`` only becomes an index range in a custom plan,
    and psycopg's prepared statements get generic plans after five runs. On SQLite with plain
    comparisons (binary collation): its LIKE is case-insensitive and never uses an index."""

    inherit_cache = True
    type = Boolean()
    _is_implicitly_boolean = True  # a condition as it stands (no '= 1' on SQLite)
    _traverse_internals: ClassVar = [("like", InternalTraversal.dp_clauseelement),
                                     ("range", InternalTraversal.dp_clauseelement),
                                     ("pattern_range", InternalTraversal.dp_clauseelement)]

    def __init__(self, column, prefix: str) -> None:
        # prefix⁺: the last character raised by one; in code-point (binary, UTF-8) order exactly the
        # strings that start with ``prefix`` lie in [prefix, prefix⁺)
        upper = prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None
        self.like = column.startswith(prefix)
        if upper is None:
            self.range = self.pattern_range = column.is_not(None)
        else:
            self.range = and_(column >= literal(prefix), column < literal(upper))
            self.pattern_range = and_(column.op("~>=~", is_comparison=True)(literal(prefix)),
                                      column.op("~<~", is_comparison=True)(literal(upper)))


@compiles(PathPrefix)
def _path_prefix_like(element: PathPrefix, compiler, **kw) -> str:
    return f"({compiler.process(element.like, **kw)})"


@compiles(PathPrefix, "sqlite")
def _path_prefix_range(element: PathPrefix, compiler, **kw) -> str:
    return f"({compiler.process(element.range, **kw)})"


@compiles(PathPrefix, "postgresql")
def _path_prefix_pattern_range(element: PathPrefix, compiler, **kw) -> str:
    return f"({compiler.process(element.pattern_range, **kw)})"


def path_startswith(column, prefix: str, indexed: bool = True) -> ColumnElement[bool]:
    """``column`` starts with ``prefix``; ``indexed=False``: the same test, but SQLite must not
    drive the query from an index on ``column`` (a page walked in order of another index)."""
    return PathPrefix(column if indexed else Unindexed(column), prefix)


def count_expression(parts: Sequence[Select], cap: int | None):
    """The number of rows of ``parts`` (disjoint selections) as one scalar SQL expression, each part
    counted up to ``cap + 1`` rows (None: exact)."""
    counts = []
    for part in parts:
        part = part.order_by(None)
        if cap is not None:
            part = part.with_only_columns(literal_column("1"), maintain_column_froms=True).limit(cap + 1)
        counts.append(select(func.count()).select_from(part.subquery()).scalar_subquery())
    return counts[0] if len(counts) == 1 else sum(counts[1:], counts[0])


def capped_total(counted: int | None, cap: int | None) -> tuple[int, bool]:
    """(total, capped) from what ``count_expression`` counted: past the cap, total = cap."""
    if cap is not None and (counted or 0) > cap:
        return cap, True
    return counted or 0, False


def count_rows(db: Session, parts: Sequence[Select], cap: int | None) -> tuple[int, bool]:
    """(total, capped): the rows of ``parts`` (disjoint selections) in one statement, each part
    counted up to ``cap + 1`` rows; capped means there are more than ``cap`` (then total = cap)."""
    return capped_total(db.scalar(select(count_expression(parts, cap))), cap)


def paginate(db: Session, stmt: Select, params: ListParams, sortable: dict[str, Any], default_sort: str, *,
             count_parts: Sequence[Select] | None = None, count_cap: int | None = -1,
             count: Callable[[int | None], tuple[int, bool]] | None = None) -> Page:
    """Run ``stmt`` with ordering from ``params.sort`` (``field`` or ``-field``) and paging.

    The total is counted up to ``count_cap`` rows (default ``COUNT_CAP``; None = exact), over
    ``count_parts`` when given: disjoint selections whose rows together are ``stmt``'s, for a
    plan each part can take from its own index where ``stmt`` has an OR no index serves; or by
    ``count(cap)`` → (total, capped), a list's own way of counting."""
    sort = params.sort or default_sort
    desc = sort.startswith("-")
    key = sort.lstrip("-")
    if key not in sortable:
        allowed = ", ".join(sorted(sortable))
        raise ValidationFailed.field("sort", f"Không thể sắp xếp theo '{key}'. Chọn một trong: {allowed}.")
    column = sortable[key]
    order = column.desc() if desc else column.asc()
    page = max(1, params.page)
    size = min(max(1, params.page_size), MAX_PAGE_SIZE)
    rows = list(db.scalars(stmt.order_by(order).offset((page - 1) * size).limit(size)).unique().all())
    if 0 < len(rows) < size or (page == 1 and not rows):  # the last page: the total needs no count
        return Page(items=rows, page=page, page_size=size, total=(page - 1) * size + len(rows))
    cap = COUNT_CAP if count_cap == -1 else count_cap
    total, capped = count(cap) if count else count_rows(db, count_parts or [stmt], cap)
    if count:  # a list's own count may have looked at part of the rows only: never fewer than shown
        total = max(total, (page - 1) * size + len(rows))
    return Page(items=rows, page=page, page_size=size, total=total, total_capped=capped)
