"""Console pages of the video-call reports (VC-19…28) with filters (unit, group, agent, hotline,
period), inline SVG charts and ``.xlsx`` exports, and the live monitor (VC-24). The same report
definitions serve the JSON twins in reports_api."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core.errors import ValidationFailed
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.videocall import reports as R
from ketnoi.videocall.models import VcAgent, VcGroup, VcHotline
from ketnoi.videocall.report_files import Col, bar_chart, line_chart, xlsx_response
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/videocall")
SECTION = "Gọi video / Báo cáo"
PAGE_SIZE = 50


def _when(value: str, field: str, end: bool = False) -> datetime | None:
    """A date (YYYY-MM-DD, the whole day) or an ISO date-time; local time when no offset is given."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        if len(value) == 10:
            day = datetime.fromisoformat(value).replace(tzinfo=R.tz())
            return day + timedelta(days=1) if end else day
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise ValidationFailed.field(field, "Ngày giờ không hợp lệ (dạng 2026-11-22 hoặc 2026-11-22T08:30).") from None
    return dt if dt.tzinfo else dt.replace(tzinfo=R.tz())


def filters(organization_id: Annotated[str, Query(max_length=64, description="Tổ chức (quản trị hệ thống)")] = "",
            unit: Annotated[str, Query(max_length=100, description="Đơn vị của người gọi")] = "",
            group_id: Annotated[str, Query(max_length=64)] = "", agent_id: Annotated[str, Query(max_length=64)] = "",
            hotline_id: Annotated[str, Query(max_length=64)] = "",
            since: Annotated[str, Query(max_length=40, description="Từ ngày (2026-11-01) hoặc thời điểm ISO")] = "",
            until: Annotated[str, Query(max_length=40, description="Đến hết ngày (2026-11-30) hoặc thời điểm")] = "",
            q: Annotated[str, Query(max_length=200, description="Mã cuộc gọi, người gọi, số điện thoại")] = "",
            by: Annotated[str, Query(max_length=10, description="Tiêu chí thống kê")] = "",
            bucket: Annotated[str, Query(max_length=10, description="Chu kỳ: hour, day, week, month")] = "",
            errors: Annotated[bool, Query(description="Chỉ sự kiện lỗi")] = False,
            type: Annotated[str, Query(max_length=40, description="Loại sự kiện")] = "",
            page: Annotated[int, Query(ge=1, le=100000)] = 1) -> R.VcFilters:
    f = R.VcFilters(organization_id=organization_id, unit=unit, group_id=group_id, agent_id=agent_id,
                    hotline_id=hotline_id, since=_when(since, "since"), until=_when(until, "until", end=True), q=q,
                    extra={"by": by or "group", "bucket": bucket or "day", "errors": "1" if errors else "",
                           "type": type, "page": str(page)})
    if f.extra["by"] not in R.DIMENSIONS:
        raise ValidationFailed.field("by", "Chọn tiêu chí: " + ", ".join(R.DIMENSIONS) + ".")
    if f.extra["bucket"] not in R.BUCKETS:
        raise ValidationFailed.field("bucket", "Chọn chu kỳ: " + ", ".join(R.BUCKETS) + ".")
    return f.check()


filters_q = Depends(filters)


# --- report definitions -----------------------------------------------------------------------------
@dataclass
class Report:
    key: str
    title: str
    features: str
    cols: list[Col]
    rows: Callable[[Session, Principal, R.VcFilters, bool], tuple[list[dict[str, Any]], int]]
    chart: Callable[[list[dict[str, Any]], R.VcFilters], Any] | None = None
    options: str = ""  # the report's own selector: by | bucket | events


def _counts() -> list[Col]:
    return [Col("Tổng cuộc gọi", "total", "int", 12), Col("Thành công", "answered", "int", 12),
            Col("Nhỡ", "missed", "int", 10), Col("Lỗi", "failed", "int", 10), Col("Đang diễn ra", "active", "int", 12),
            Col("Tỷ lệ nhận (%)", "answer_rate", "percent", 12),
            Col("Chờ trung bình (giây)", "avg_wait_seconds", "seconds", 14),
            Col("Đàm thoại trung bình (giây)", "avg_talk_seconds", "seconds", 14),
            Col("Tổng đàm thoại (giây)", "talk_seconds", "seconds", 14)]


def _calls(db, p, f, full):
    page = int(f.extra.get("page") or 1)
    return R.call_detail(db, p, f, limit=None if full else PAGE_SIZE, offset=0 if full else (page - 1) * PAGE_SIZE)


def _events(db, p, f, full):
    page = int(f.extra.get("page") or 1)
    return R.events(db, p, f, errors_only=bool(f.extra.get("errors")), type_=f.extra.get("type", ""),
                    limit=None if full else PAGE_SIZE, offset=0 if full else (page - 1) * PAGE_SIZE)


def _stats(db, p, f, full):
    rows = R.statistics(db, p, f, f.extra["by"])
    return rows, len(rows)


def _performance(db, p, f, full):
    rows = R.statistics(db, p, f, f.extra["bucket"])
    return rows, len(rows)


def _agents(db, p, f, full):
    rows = R.agent_performance(db, p, f)
    return rows, len(rows)


def _presence(db, p, f, full):
    rows = R.presence(db, p, f)
    for r in rows:
        r["online_hours"] = round(r["online_seconds"] / 3600, 2)
    return rows, len(rows)


def _team(db, p, f, full):
    rows = [{"group": f"{g['code']} – {g['name']}", **m} for g in R.team(db, p, f) for m in g["members"]]
    return rows, len(rows)


def _stats_chart(rows, f):
    top = rows[:20]
    return bar_chart([r["label"] for r in top], [("Thành công", [r["answered"] for r in top]),
                                                 ("Nhỡ", [r["missed"] for r in top]), ("Lỗi", [r["failed"] for r in top])])


def _performance_chart(rows, f):
    return line_chart([r["label"] for r in rows], [("Tổng cuộc gọi", [r["total"] for r in rows]),
                                                   ("Thành công", [r["answered"] for r in rows]),
                                                   ("Nhỡ", [r["missed"] for r in rows]),
                                                   ("Lỗi", [r["failed"] for r in rows])])


def _agents_chart(rows, f):
    return bar_chart([r["agent"] for r in rows[:20]], [("Được đổ chuông", [r["offered"] for r in rows[:20]]),
                                                      ("Đã nhận", [r["answered"] for r in rows[:20]]),
                                                      ("Nhỡ", [r["missed"] for r in rows[:20]])])


def _presence_chart(rows, f):
    return bar_chart([r["agent"] for r in rows[:20]], [("Giờ trực tuyến", [r["online_hours"] for r in rows[:20]])],
                     unit=" h")


REPORTS: dict[str, Report] = {r.key: r for r in (
    Report("calls", "Chi tiết cuộc gọi", "VC-20, VC-28", [
        Col("Mã cuộc gọi", "code", "text", 20), Col("Bắt đầu", "created_at", "datetime", 19),
        Col("Hotline", "hotline"), Col("Mã người gọi", "caller_ref"), Col("Người gọi", "caller_name", width=22),
        Col("Điện thoại", "caller_phone", width=14), Col("Đơn vị", "caller_unit"), Col("Nhóm người gọi", "caller_group"),
        Col("Nhóm trực", "group"), Col("Điều phối viên", "agent", width=20), Col("Kết quả", "outcome_label", width=12),
        Col("Trạng thái", "status_label", width=14), Col("Nhận lúc", "answered_at", "datetime", 19),
        Col("Kết thúc lúc", "ended_at", "datetime", 19), Col("Chờ (giây)", "wait_seconds", "seconds", 10),
        Col("Đàm thoại (giây)", "talk_seconds", "seconds", 12), Col("Lý do kết thúc", "end_reason_label", width=28),
        Col("Kết nối lại", "reconnects", "int", 10)], _calls),
    Report("events", "Nhật ký sự kiện và nguyên nhân lỗi", "VC-19, VC-27", [
        Col("Thời điểm", "at", "datetime", 19), Col("Mã cuộc gọi", "code", width=20), Col("Người gọi", "caller", width=20),
        Col("Sự kiện", "type", width=14), Col("Bên thực hiện", "actor", width=12), Col("Nội dung", "message", width=60),
        Col("Nguyên nhân", "cause", width=30)], _events, options="events"),
    Report("stats", "Thống kê cuộc gọi theo tiêu chí", "VC-22", [Col("Nhóm thống kê", "label", width=24), *_counts()],
           _stats, _stats_chart, options="by"),
    Report("performance", "Hiệu suất cuộc gọi theo thời gian", "VC-25", [Col("Kỳ", "label", width=14), *_counts()],
           _performance, _performance_chart, options="bucket"),
    Report("agents", "Hiệu suất điều phối viên", "VC-26", [
        Col("Điều phối viên", "agent", width=24), Col("Trạng thái", "status_label", width=12),
        Col("Được đổ chuông", "offered", "int", 12), Col("Đã nhận", "answered", "int", 10),
        Col("Nhỡ (hết giờ/từ chối)", "missed", "int", 12), Col("Từ chối", "declined", "int", 10),
        Col("Lỗi sau khi nhận", "failed", "int", 12), Col("Tỷ lệ nhận (%)", "answer_rate", "percent", 12),
        Col("Xử lý trung bình (giây)", "avg_handle_seconds", "seconds", 14),
        Col("Tổng thời gian xử lý (giây)", "handle_seconds", "seconds", 14)], _agents, _agents_chart),
    Report("presence", "Thời gian trực tuyến/ngoại tuyến của điều phối viên", "VC-23", [
        Col("Điều phối viên", "agent", width=24), Col("Trạng thái hiện tại", "status_label", width=14),
        Col("Trực tuyến (giây)", "online_seconds", "seconds", 14), Col("Sẵn sàng (giây)", "available_seconds", "seconds", 14),
        Col("Tạm nghỉ (giây)", "paused_seconds", "seconds", 14), Col("Đang gọi (giây)", "busy_seconds", "seconds", 14),
        Col("Ngoại tuyến (giây)", "offline_seconds", "seconds", 14), Col("Số lần vào trực", "logins", "int", 10),
        Col("Vào trực đầu tiên", "first_online", "datetime", 19), Col("Trực tuyến đến", "last_online", "datetime", 19)],
        _presence, _presence_chart),
    Report("team", "Thành viên nhóm trực", "VC-21", [
        Col("Nhóm", "group", width=26), Col("Điều phối viên", "agent", width=24), Col("Thứ tự", "position", "int", 8),
        Col("Trạng thái", "status_label", width=12), Col("Được đổ chuông", "offered", "int", 12),
        Col("Đã nhận", "answered", "int", 10), Col("Nhỡ", "missed", "int", 8),
        Col("Trực tuyến (giây)", "online_seconds", "seconds", 14)], _team),
)}


# --- pages ------------------------------------------------------------------------------------------
def describe(db: Session, f: R.VcFilters) -> str:
    parts = [f"Đơn vị: {f.unit}"] if f.unit else []
    group = db.get(VcGroup, f.group_id) if f.group_id else None
    agent = db.get(VcAgent, f.agent_id) if f.agent_id else None
    hotline = db.get(VcHotline, f.hotline_id) if f.hotline_id else None
    parts += [f"Nhóm: {group.name}"] if group else []
    parts += [f"Điều phối viên: {agent.display_name}"] if agent else []
    parts += [f"Hotline: {hotline.number}"] if hotline else []
    if f.since or f.until:
        fmt = "%d/%m/%Y %H:%M"
        parts.append("Thời gian: " + (f.since.astimezone(R.tz()).strftime(fmt) if f.since else "…") + " – " +
                     (f.until.astimezone(R.tz()).strftime(fmt) if f.until else "…"))
    if f.q:
        parts.append(f"Tìm: {f.q}")
    return "; ".join(parts) or "Tất cả cuộc gọi"


def choices(db: Session, p: Principal, f: R.VcFilters) -> dict[str, Any]:
    def scoped(model, *order):
        stmt = select(model).order_by(*order)
        return stmt if p.is_sysadmin else stmt.where(model.organization_id == p.organization_id)

    return {"units": R.units(db, p, f), "groups": [(g.id, f"{g.code} – {g.name}") for g in db.scalars(scoped(VcGroup, VcGroup.code))],
            "agents": [(a.id, a.display_name) for a in db.scalars(scoped(VcAgent, VcAgent.display_name))],
            "hotlines": [(h.id, f"{h.number} – {h.name}") for h in db.scalars(scoped(VcHotline, VcHotline.number))],
            "organizations": [(o.id, o.name) for o in db.scalars(select(Organization).order_by(Organization.code))]
            if p.is_sysadmin else []}


def fmt(value: Any, kind: str) -> str:
    if value is None or value == "":
        return ""
    if kind == "datetime":
        return value.astimezone(R.tz()).strftime("%H:%M:%S %d/%m/%Y")
    if kind == "seconds":
        s = round(float(value))
        return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}"
    if kind == "percent":
        return f"{value:g} %"
    if kind == "int":
        return f"{int(value):,}".replace(",", ".")
    return str(value)


def _page(kind: str):
    report = REPORTS[kind]

    def page(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.reports")],
             f: Annotated[R.VcFilters, filters_q]):
        rows, total = report.rows(db, p, f, False)
        extra: dict[str, Any] = {}
        if kind == "events":
            extra["causes"] = R.failure_causes(db, p, f)
            c = extra["causes"]["calls"]
            extra["chart"] = bar_chart([x["label"] for x in c], [("Số cuộc gọi", [x["calls"] for x in c])]) if c else None
        elif report.chart and rows:
            extra["chart"] = report.chart(rows, f)
        if kind in ("stats", "performance"):
            extra["totals"] = R.totals(rows)
        return render(request, "vc_report.html", p, title=report.title, section=SECTION, report=report, rows=rows,
                      total=total, f=f, fmt=fmt, reports=REPORTS, choices=choices(db, p, f), summary=describe(db, f),
                      page_size=PAGE_SIZE, dimensions=R.DIMENSIONS, buckets={"hour": "Giờ", "day": "Ngày",
                                                                              "week": "Tuần", "month": "Tháng"},
                      page_no=int(f.extra.get("page") or 1), **extra)

    def export(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.reports")],
               f: Annotated[R.VcFilters, filters_q]):
        rows, _ = report.rows(db, p, f, True)
        return xlsx_response(f"{report.title} ({report.features})", describe(db, f), report.cols, rows,
                             f"bao-cao-video-{kind}")

    page.__name__, export.__name__ = f"report_{kind}", f"report_{kind}_xlsx"
    return page, export


for _kind in REPORTS:
    _p, _x = _page(_kind)
    router.add_api_route(f"/reports/{_kind}", _p, methods=["GET"])
    router.add_api_route(f"/reports/{_kind}.xlsx", _x, methods=["GET"])


@router.get("/reports")
def reports_index(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.reports")]):
    return render(request, "vc_reports_index.html", p, title="Báo cáo gọi video", section="Gọi video", reports=REPORTS)


@router.get("/monitor")
def monitor(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.monitor")]):
    """VC-24: the page draws the board from /api/v1/videocall/reports/live and redraws it on every
    ``videocall.monitor`` hub event (calls and agents' status changes, relayed by monitor.py) and every 15 s."""
    board = R.live(db, p, R.VcFilters())
    return render(request, "vc_monitor.html", p, title="Giám sát cuộc gọi video", section="Gọi video", board=board,
                  fmt=fmt)
