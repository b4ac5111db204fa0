"""Report lists (CRM-03, 11, 30, 34…36): named views, filters, search, sort and paging, shared
by the API, the console and the exports."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, or_, select
from sqlalchemy.orm import Session

from ketnoi.catalog.models import Area
from ketnoi.core.errors import ValidationFailed
from ketnoi.core.listing import (
    ListParams,
    Page,
    count_expression,
    count_rows,
    paginate,
    path_startswith,
    unindexed,
)
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.reports import search
from ketnoi.reports.models import Report
from ketnoi.reports.service import Either, live_in_organization, unit_scope
from ketnoi.reports.workflow import RUNNING, Status
from ketnoi.settings import get_settings

VIEWS: dict[str, str] = {
    "all": "Tất cả phản ánh",
    "new": "Phản ánh mới",
    "dispatched": "Đã điều phối, chờ xử lý",
    "in_progress": "Đang xử lý",
    "awaiting_approval": "Chờ phê duyệt",
    "spam": "Tin rác",
    "out_of_area": "Ngoài khu vực",
    "processed": "Đã xử lý",
    "overdue": "Quá hạn",
    "near_due": "Sắp đến hạn",
    "mine": "Của tôi",
    "unit": "Của đơn vị tôi",
}
_VIEW_STATUSES = {
    "new": [Status.NEW],
    "dispatched": [Status.DISPATCHED, Status.ASSIGNED],
    "in_progress": [Status.IN_PROGRESS],
    "awaiting_approval": [Status.AWAITING_APPROVAL, Status.SPAM_PROPOSED, Status.OUT_OF_AREA_PROPOSED,
                          Status.SUPPORT_PROPOSED],
    "spam": [Status.SPAM_PROPOSED, Status.SPAM_CONFIRMED, Status.SPAM],
    "out_of_area": [Status.OUT_OF_AREA_PROPOSED, Status.OUT_OF_AREA],
    "processed": [Status.APPROVED, Status.CLOSED],
}
# A search counts its total up to this many (then "hơn 1.000"): results are read newest first,
# and a count looks up each match's report, which a plain list's count does not.
SEARCH_COUNT_CAP = 1_000
SORTABLE = {"received_at": Report.received_at, "code": Report.code, "title": Report.title, "status": Report.status,
            "due_at": Report.due_at, "priority": Report.priority, "updated_at": Report.updated_at}


@dataclass
class ReportFilters:
    view: str = "all"
    status: str = ""
    category_id: str = ""
    area_id: str = ""
    unit_id: str = ""
    channel: str = ""
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool | None = None
    ids: list[str] | None = None  # chosen rows (exports)


def _selection(db: Session, p: Principal, f: ReportFilters, q: str = "", narrow: bool = False,
               loaded: dict | None = None) -> tuple[Select, list[Either]]:
    """The list's conditions but the organization and its ORs; and its ORs and unit-path prefixes,
    each in a page form and as disjoint count parts (``service.Either``). ``narrow``: the
    conditions of a count part driven by a user's or the support table's index, which no index
    of the other conditions may take over on SQLite (``core.listing.unindexed``)."""
    if f.view not in VIEWS:
        raise ValidationFailed.field("view", "Danh sách không hợp lệ. Chọn một trong: " + ", ".join(VIEWS))
    col = unindexed if narrow else (lambda c: c)
    loaded = {} if loaded is None else loaded  # the units and area, read once for both forms

    def get(model, key: str):
        if (model, key) not in loaded:
            loaded[model, key] = db.get(model, key)
        return loaded[model, key]

    stmt = select(Report)
    scope, ors = unit_scope(p, narrow), []
    now = utcnow()
    running = [s.value for s in RUNNING]

    def in_unit(dept: Department | None) -> None:
        nonlocal stmt, scope
        if dept is None:
            stmt = stmt.where(Report.id.is_(None))
            return
        ors.append(Either(path_startswith(Report.unit_path, dept.path, indexed=False),
                          [([path_startswith(Report.unit_path, dept.path, indexed=not narrow)], False)]))
        if p.covers_unit(dept.path):  # the subtree lies inside the unit scope: the scope adds nothing
            scope = None

    if f.view in _VIEW_STATUSES:
        stmt = stmt.where(col(Report.status).in_([s.value for s in _VIEW_STATUSES[f.view]]))
    elif f.view == "overdue" or f.overdue:
        stmt = stmt.where(col(Report.due_at) < now, col(Report.status).in_(running))
    elif f.view == "near_due":
        near = now + timedelta(hours=get_settings().report_near_due_hours)
        stmt = stmt.where(col(Report.due_at) >= now, col(Report.due_at) < near, col(Report.status).in_(running))
    elif f.view == "mine":  # assigned to or created by the user: inside any unit scope
        mine, created = Report.assignee_id == p.user_id, Report.created_by_id == p.user_id
        ors.append(Either(or_(mine, created), [
            ([mine], True), ([Report.assignee_id.is_distinct_from(p.user_id), created], True)]))
        scope = None
    elif f.view == "unit":
        in_unit(get(Department, p.department_id) if p.department_id else None)
    if f.overdue is False:
        stmt = stmt.where(or_(Report.due_at.is_(None), Report.due_at >= now, Report.status.not_in(running)))
    if f.status:
        statuses = [s for s in f.status.split(",") if s]
        bad = [s for s in statuses if s not in {x.value for x in Status}]
        if bad:
            raise ValidationFailed.field("status", f"Trạng thái không hợp lệ: {', '.join(bad)}.")
        stmt = stmt.where(col(Report.status).in_(statuses))
    if f.category_id:
        stmt = stmt.where(col(Report.category_id) == f.category_id)
    if f.area_id:  # the area and the areas inside it (a province holds its wards), like units below
        area = get(Area, f.area_id)
        stmt = stmt.where(col(Report.area_id).in_(select(Area.id).where(Area.path.startswith(area.path)))) if (
            area and area.path) else stmt.where(col(Report.area_id) == f.area_id)
    if f.unit_id:
        in_unit(get(Department, f.unit_id))
    if f.channel:
        stmt = stmt.where(col(Report.channel) == f.channel)
    if f.since:
        stmt = stmt.where(col(Report.received_at) >= f.since)
    if f.until:
        stmt = stmt.where(col(Report.received_at) < f.until)
    if f.ids is not None:
        stmt = stmt.where(Report.id.in_(f.ids[:5000]))
    if q and q.strip().upper().startswith("PA-"):  # a code; other text is a search (``_search``)
        stmt = stmt.where(Report.code.startswith(q.strip().upper()))
    return stmt, ([scope] if scope else []) + ors


def _search(db: Session, p: Principal, q: str) -> search.Search | None:
    """The free-text search of ``q`` (a code prefix "PA-…" is not one)."""
    if not q or q.strip().upper().startswith("PA-"):
        return None
    return search.search_for(q, db, None if p.is_sysadmin else p.organization_id)


def _search_count(db: Session, found: search.Search, stmt: Select, cap: int | None) -> tuple[int, bool]:
    """(total, capped) of a search: exact without a cap; with one, counted among the newest
    ``min(cap, SEARCH_COUNT_CAP) + 1`` matches of the words only, so that the count costs at most
    that many lookups whatever the list's other conditions. Capped ("hơn N"): more than that many
    rows, or more matches of the words than were looked at."""
    ids = stmt.with_only_columns(Report.id)
    if cap is not None:
        cap = min(cap, SEARCH_COUNT_CAP)
    if cap is None:
        return db.scalar(select(func.count()).select_from(found.apply(ids).subquery())) or 0, False
    n = db.scalar(select(func.count()).select_from(found.apply(ids, window=cap + 1).subquery())) or 0
    if n > cap:
        return cap, True
    return n, found.more_than(db, cap + 1)


def _scoped(db: Session, p: Principal, f: ReportFilters, q: str = "") -> Select:
    """The list in one statement (its ORs in their page form), before any free-text search."""
    stmt, ors = _selection(db, p, f, q)
    return stmt.where(*live_in_organization(p), *(o.either for o in ors))


def filtered(db: Session, p: Principal, f: ReportFilters, q: str = "") -> Select:
    """The reports of a list, unordered: the principal's scope, the view, the filters and ``q``."""
    found = _search(db, p, q)
    return found.apply(_scoped(db, p, f, q)) if found else _scoped(db, p, f, q)


def _plan(db: Session, p: Principal, f: ReportFilters, q: str = "") -> tuple[Select, list[Select]]:
    """The list as one statement for its page, and as disjoint statements for its total, one per
    combination of the parts of its ORs; a combination with a narrow part takes its conditions
    from the narrow form of the list."""
    loaded: dict = {}
    forms = [_selection(db, p, f, q, loaded=loaded), _selection(db, p, f, q, narrow=True, loaded=loaded)]
    stmt, ors = forms[0]
    page = stmt.where(*live_in_organization(p), *(o.either for o in ors))
    combos: list[tuple[list[int], bool]] = [([], False)]
    for o in ors:
        combos = [(c + [i], narrow or n) for c, narrow in combos for i, (_, n) in enumerate(o.parts)]
    parts = []
    for picks, narrow in combos:
        stmt, ors = forms[narrow]
        conditions = [cond for o, i in zip(ors, picks) for cond in o.parts[i][0]]
        parts.append(stmt.with_only_columns(Report.id).where(*live_in_organization(p, narrow), *conditions))
    return page, parts


def list_reports(db: Session, p: Principal, params: ListParams, f: ReportFilters,
                 count_cap: int | None = -1) -> Page:
    """A page of the list and its total, counted up to ``count_cap`` (default: ``COUNT_CAP``)."""
    found = _search(db, p, params.q)
    if found:  # read newest first in the index's own order (reports.search), counted by ``_search_count``
        stmt = _scoped(db, p, f, params.q)
        return paginate(db, found.apply(stmt), params, {**SORTABLE, "received_at": found.newest_first_key},
                        "-received_at", count=lambda cap: _search_count(db, found, stmt, cap), count_cap=count_cap)
    page, parts = _plan(db, p, f, params.q)
    return paginate(db, page, params, SORTABLE, "-received_at", count_parts=parts, count_cap=count_cap)


def count_reports(db: Session, p: Principal, f: ReportFilters, q: str = "", cap: int | None = None) -> tuple[int, bool]:
    """(total, capped) of a list, counted over the disjoint parts of its ORs."""
    found = _search(db, p, q)
    if found:
        return _search_count(db, found, _scoped(db, p, f, q), cap)
    return count_rows(db, _plan(db, p, f, q)[1], cap)


def counts_by_view(db: Session, p: Principal, cap: int | None = None) -> dict[str, int]:
    """The number of reports in each named list, exact or (``cap``) counted up to ``cap + 1``:
    one statement for all of them."""
    views = list(VIEWS)
    counted = db.execute(select(*(count_expression(_plan(db, p, ReportFilters(view=v))[1], cap).label(v)
                                  for v in views))).one()
    return {v: n if cap is None else min(n, cap + 1) for v, n in zip(views, counted, strict=True)}
