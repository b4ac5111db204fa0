"""Console pages of citizen reports: the lists with views, filters and export (CRM-03, 30, 34…36), area pickers,
dashboard, detail; `router` also mounts web_forms, web_actions and web_admin in the order routes must match."""

from __future__ import annotations

import math
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from ketnoi.catalog.models import Area, Category
from ketnoi.core import listing
from ketnoi.core.errors import DomainError
from ketnoi.core.listing import Page
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.reports import queries, service, stats, web_actions, web_admin, web_forms
from ketnoi.reports.models import Report
from ketnoi.reports.schemas import CHANNEL_LABELS, PRIORITY_LABELS
from ketnoi.reports.web_actions import detail
from ketnoi.reports.web_common import (
    SECTION,
    area_descendants,
    category_options,
    names,
    provinces,
    unit_options,
)
from ketnoi.reports.workflow import STATUS_LABELS, Status
from ketnoi.web.crud import Column, Filter, bool_filter, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import local_tz as _tz
from ketnoi.web.exports import parse_day as _day
from ketnoi.web.pages import render

router = APIRouter()
LIST_COLUMNS = [Column("Mã", "code"), Column("Tiếp nhận", "received_at"), Column("Tiêu đề", "title"),
                Column("Lĩnh vực"), Column("Khu vực"), Column("Đơn vị xử lý"), Column("Trạng thái", "status"),
                Column("Hạn xử lý", "due_at"), Column("Ưu tiên", "priority")]


# --- area pickers (HTMX) ------------------------------------------------------------------------
def _area_options_response(request: Request, db, multi: bool) -> HTMLResponse:
    qp = request.query_params
    province = qp.get("area_province") or qp.get("pick_province") or ""
    prov = db.get(Area, province) if province else None
    return render(request, "reports_area_options.html", None, multi=multi, province=prov,
                  options=area_descendants(db, province), selected=qp.getlist("area_ids"))


@router.get("/reports/areas/options")
def area_options(request: Request, db: DbDep, p: Principal = console("reports.read")):
    """Wards (and districts) of a province for the report form."""
    return _area_options_response(request, db, multi=False)


@router.get("/reports/dispatch-rules/areas")
def rule_area_options(request: Request, db: DbDep, p: Principal = console("reports.rules")):
    """Checkboxes of a province and its wards for a dispatch rule."""
    return _area_options_response(request, db, multi=True)


# --- report lists -------------------------------------------------------------------------------
def _filters(request: Request) -> queries.ReportFilters:
    qp = request.query_params
    tz = _tz(request)
    until = _day(qp.get("until"), tz)
    channel = qp.get("channel", "")
    return queries.ReportFilters(
        view=qp.get("view") or "all", status=qp.get("status", "")[:300],
        category_id=qp.get("category_id", "")[:64],
        area_id=qp.get("area_id", "")[:64], unit_id=qp.get("unit_id", "")[:64],
        channel=channel if channel in CHANNEL_LABELS else "", since=_day(qp.get("since"), tz),
        until=until + timedelta(days=1) if until else None, overdue=bool_filter(qp.get("overdue")))


def _list_rows(db, items: list[Report]) -> list[dict[str, Any]]:
    cats = names(db, Category, [r.category_id for r in items])
    areas = names(db, Area, [r.area_id for r in items])
    units = names(db, Department, [r.unit_id for r in items])
    now = utcnow()
    out = []
    for r in items:
        overdue, near = service.deadline_flags(r, now)
        out.append({"r": r, "category": cats[r.category_id].name if r.category_id in cats else "",
                    "area": areas[r.area_id].name if r.area_id in areas else "",
                    "unit": units[r.unit_id].name if r.unit_id in units else "",
                    "status": STATUS_LABELS[Status(r.status)],
                    "priority": PRIORITY_LABELS.get(r.priority, r.priority),
                    "overdue": overdue, "near_due": near})
    return out


def _export_params(f: queries.ReportFilters, q: str, sort: str) -> list[tuple[str, str]]:
    """The list's filters as /reports/export.xlsx reads them (the API's names; times with offset)."""
    out = [(k, v) for k, v in (("view", f.view), ("status", f.status), ("category_id", f.category_id),
                               ("area_id", f.area_id), ("unit_id", f.unit_id), ("channel", f.channel),
                               ("since", f.since.isoformat() if f.since else ""),
                               ("until", f.until.isoformat() if f.until else ""),
                               ("overdue", "" if f.overdue is None else str(f.overdue).lower()),
                               ("q", q), ("sort", sort)) if v]
    return out


@router.get("/reports")
def report_list(request: Request, db: DbDep, p: Principal = console("reports.read")):
    params = list_params(request)
    f = _filters(request)
    error = ""
    try:
        page = queries.list_reports(db, p, params, f)
    except DomainError as e:
        db.rollback()
        error, page = e.detail, Page([], 1, params.page_size, 0)
    ctx = {"page": page, "rows": _list_rows(db, page.items), "sort": params.sort or "-received_at",
           "columns": LIST_COLUMNS, "view": f.view, "list_error": error, "can_export": p.has("reports.export")}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "report-list":
        return render(request, "reports_table.html", p, **ctx)
    cap = listing.COUNT_CAP  # the tabs count up to the cap too: "10.000+"
    counts = queries.counts_by_view(db, p, cap=cap)
    views = [(k, label, f"{cap:,}+".replace(",", ".") if counts.get(k, 0) > cap else counts.get(k, 0))
             for k, label in queries.VIEWS.items() if k != "unit" or p.department_id]
    org = p.organization_id
    filters = [
        Filter("status", "Trạng thái", [(s.value, STATUS_LABELS[s]) for s in Status]),
        Filter("category_id", "Lĩnh vực", category_options(db, org, keep=f.category_id)),
        Filter("unit_id", "Đơn vị", unit_options(db, org, under=p.unit_path or "")),
        Filter("channel", "Kênh", list(CHANNEL_LABELS.items())),
        Filter("overdue", "Hạn xử lý", [("1", "Quá hạn"), ("0", "Chưa quá hạn")]),
    ]
    title = queries.VIEWS.get(f.view, "Phản ánh")
    export_params = _export_params(f, params.q, params.sort)
    return render(request, "reports_list.html", p, title=title, section=SECTION, views=views, filters=filters,
                  provinces=provinces(db), area=db.get(Area, f.area_id) if f.area_id else None,
                  export_params=export_params, new_url="/reports/new" if p.has("reports.create") else "", **ctx)

# FastAPI matches routes in registration order: keep this order (the pages of the other modules, then the
# dashboard, and /reports/{report_id} last).
router.include_router(web_forms.router)
router.include_router(web_actions.router)
router.include_router(web_admin.router)


# --- dashboard ----------------------------------------------------------------------------------
PERIODS = {"7d": "7 ngày qua", "30d": "30 ngày qua", "month": "Tháng này", "custom": "Tùy chọn"}
PALETTE = ["#b3261e", "#0b57d0", "#1e7d3a", "#a15c00", "#6f42c1", "#00838f", "#c2185b", "#5f6b7a", "#7cb342",
           "#f4511e", "#3949ab", "#8d6e63", "#26a69a"]


def _period(request: Request) -> tuple[str, date, date, str]:
    """(period key, first day, last day inclusive, error) in the platform's time zone. Dates that differ
    from the chosen quick period make it a custom one."""
    qp = request.query_params
    tz = _tz(request)
    today = datetime.now(tz).date()
    key = qp.get("period", "30d")
    quick = {"7d": today - timedelta(days=6), "30d": today - timedelta(days=29), "month": today.replace(day=1)}
    since, until = _day(qp.get("since"), tz), _day(qp.get("until"), tz)
    if key in quick and since and until and (since.date(), until.date()) != (quick[key], today):
        key = "custom"
    if key != "custom":
        key = key if key in quick else "30d"
        return key, quick[key], today, ""
    if since is None or until is None:
        return key, quick["30d"], today, "Chọn ngày bắt đầu và ngày kết thúc."
    if since > until:
        return key, until.date(), since.date(), "Ngày bắt đầu sau ngày kết thúc; đã đổi chỗ hai ngày."
    return key, since.date(), until.date(), ""


def _bars(buckets, width: int = 560) -> dict[str, Any]:
    top = max([b.count for b in buckets] or [1]) or 1
    rows = [{"label": b.label, "short": b.label if len(b.label) <= 30 else b.label[:29] + "…", "count": b.count,
             "w": round(b.count / top * (width - 260), 1), "y": 8 + i * 28, "color": PALETTE[i % len(PALETTE)]}
            for i, b in enumerate(buckets)]
    return {"rows": rows, "width": width, "height": 16 + 28 * len(rows)}


def _pie(buckets, r: float = 90) -> list[dict[str, Any]]:
    total = sum(b.count for b in buckets)
    out, angle = [], -math.pi / 2
    for i, b in enumerate(x for x in buckets if x.count):
        frac = b.count / total
        end = angle + frac * 2 * math.pi
        x1, y1 = 100 + r * math.cos(angle), 100 + r * math.sin(angle)
        x2, y2 = 100 + r * math.cos(end), 100 + r * math.sin(end)
        path = "" if frac >= 0.9999 else (f"M100,100 L{x1:.2f},{y1:.2f} A{r},{r} 0 {1 if frac > 0.5 else 0},1 "
                                          f"{x2:.2f},{y2:.2f} Z")
        out.append({"label": b.label, "count": b.count, "pct": round(frac * 100, 1), "path": path,
                    "color": PALETTE[i % len(PALETTE)]})
        angle = end
    return out


@router.get("/reports/dashboard")
def dashboard(request: Request, db: DbDep, p: Principal = console("reports.dashboard")):
    key, first, last, error = _period(request)
    tz = _tz(request)
    since = datetime.combine(first, datetime.min.time(), tz)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    s = stats.summary(db, p, since, until)
    rate = s.on_time_rate
    link = urlencode({"since": first.isoformat(), "until": last.isoformat()})
    on_time = [stats.Bucket("on_time", "Đúng hạn", s.on_time),
               stats.Bucket("late", "Trễ hạn", s.processed_with_due - s.on_time)]
    return render(request, "reports_dashboard.html", p, title="Thống kê phản ánh", section=SECTION, s=s,
                  periods=PERIODS, period=key, first=first, last=last, period_error=error, link=link,
                  rate=None if rate is None else round(rate * 100, 1), status_pie=_pie(s.by_status),
                  on_time_pie=_pie(on_time), category_bars=_bars(s.by_category[:12]),
                  unit_bars=_bars(s.by_unit[:12]), status_bars=_bars(s.by_status))


# Last: /reports/{report_id} would otherwise catch /reports/sla, /reports/dashboard and the like.
@router.get("/reports/{report_id}")
def report_detail(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.read")):
    return detail(request, db, p, service.get_report(db, p, report_id))
