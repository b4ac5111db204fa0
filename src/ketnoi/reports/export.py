"""Excel export of report lists (CRM-03, 30, 34…36): the rows of any list view with its filters,
streamed into an .xlsx in constant memory (openpyxl write-only mode, rows fetched in batches).

Small selections are written during the request; larger ones run as a background job
(``reports.export``) whose progress the console follows (API.md: exports).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.catalog.models import Area, Category
from ketnoi.core.errors import Forbidden, ValidationFailed
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Department, User
from ketnoi.identity.principal import Principal
from ketnoi.jobs import service as jobs
from ketnoi.jobs.runner import JobContext, JobResult, register
from ketnoi.reports import queries
from ketnoi.reports.models import Report
from ketnoi.reports.schemas import CHANNEL_LABELS, PRIORITY_LABELS
from ketnoi.reports.workflow import RUNNING, STATUS_LABELS, Status
from ketnoi.settings import get_settings

KIND = "reports.export"
DIRECT_LIMIT = 5000  # up to this many rows the file is written during the request; beyond, a job
BATCH = 1000
MAX_CELL = 32767  # Excel's limit of characters in a cell
DATE_FORMAT = "dd/mm/yyyy hh:mm"
HEADER_ROW = 4  # rows 1–3: title, filters, export note

# (header, width, kind): kind says how the value is written
COLUMNS: list[tuple[str, float, str]] = [
    ("STT", 6, "int"), ("Mã phản ánh", 17, "text"), ("Tiêu đề", 40, "text"), ("Nội dung", 60, "text"),
    ("Kênh", 14, "text"), ("Mức độ ưu tiên", 12, "text"), ("Trạng thái", 28, "text"), ("Lĩnh vực", 24, "text"),
    ("Khu vực", 24, "text"), ("Đơn vị xử lý", 28, "text"), ("Chuyên viên", 22, "text"),
    ("Người phản ánh", 22, "text"), ("Điện thoại", 14, "text"), ("Email", 24, "text"), ("Địa chỉ", 30, "text"),
    ("Ngày tiếp nhận", 17, "date"), ("Ngày điều phối", 17, "date"), ("Hạn xử lý", 17, "date"),
    ("Ngày có kết quả", 17, "date"), ("Ngày hoàn thành", 17, "date"), ("Thời gian xử lý (giờ)", 12, "hours"),
    ("Quá hạn", 9, "text"), ("Số giờ quá hạn", 10, "hours"), ("Kết quả xử lý", 50, "text"),
]
HEADERS = [c[0] for c in COLUMNS]
_SELECTED = (Report.code, Report.title, Report.content, Report.channel, Report.priority, Report.status,
             Report.category_id, Report.area_id, Report.unit_id, Report.assignee_id, Report.citizen_name,
             Report.citizen_phone, Report.citizen_email, Report.citizen_address, Report.received_at,
             Report.dispatched_at, Report.due_at, Report.resolved_at, Report.closed_at, Report.result)
_RUNNING = {s.value for s in RUNNING}
_FINISHED_CLOCK = {Status.AWAITING_APPROVAL.value, Status.APPROVED.value, Status.CLOSED.value}


# --- parameters ---------------------------------------------------------------------------------
def to_params(f: queries.ReportFilters, q: str = "", sort: str = "") -> dict[str, Any]:
    """The selection as JSON for a job's ``params``."""
    return {"view": f.view, "status": f.status, "category_id": f.category_id, "area_id": f.area_id,
            "unit_id": f.unit_id, "channel": f.channel, "since": f.since.isoformat() if f.since else None,
            "until": f.until.isoformat() if f.until else None, "overdue": f.overdue, "ids": f.ids, "q": q,
            "sort": sort}


def from_params(d: dict[str, Any]) -> tuple[queries.ReportFilters, str, str]:
    def dt(v: str | None) -> datetime | None:
        return datetime.fromisoformat(v) if v else None

    f = queries.ReportFilters(view=d.get("view") or "all", status=d.get("status") or "",
                              category_id=d.get("category_id") or "", area_id=d.get("area_id") or "",
                              unit_id=d.get("unit_id") or "", channel=d.get("channel") or "",
                              since=dt(d.get("since")), until=dt(d.get("until")), overdue=d.get("overdue"),
                              ids=d.get("ids"))
    return f, d.get("q") or "", d.get("sort") or ""


def aware(value: datetime | None, field: str) -> datetime | None:
    """A date typed without an offset is read in the platform's time zone; the result is in UTC."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(get_settings().timezone))
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ValidationFailed.field(field, "Ngày giờ nằm ngoài phạm vi cho phép.")


def localize(f: queries.ReportFilters) -> queries.ReportFilters:
    f.since, f.until = aware(f.since, "since"), aware(f.until, "until")
    if f.ids is not None and len(f.ids) > DIRECT_LIMIT:
        raise ValidationFailed.field("ids", f"Chọn tối đa {DIRECT_LIMIT:,} phản ánh để xuất.".replace(",", "."))
    return f


def selection(db: Session, p: Principal, f: queries.ReportFilters, q: str = "", sort: str = ""):
    """The rows to export, in the list's order (unit scope applies through ``queries.filtered``)."""
    key = (sort or "-received_at").lstrip("-")
    if key not in queries.SORTABLE:
        allowed = ", ".join(sorted(queries.SORTABLE))
        raise ValidationFailed.field("sort", f"Không thể sắp xếp theo '{key}'. Chọn một trong: {allowed}.")
    column = queries.SORTABLE[key]
    desc = (sort or "-received_at").startswith("-")
    stmt = queries.filtered(db, p, f, q)
    return stmt, (column.desc() if desc else column.asc(), Report.id.desc() if desc else Report.id.asc())


def count(db: Session, p: Principal, f: queries.ReportFilters, q: str = "") -> int:
    """Exact size of the selection (counted over the disjoint parts of the unit-scope OR)."""
    return queries.count_reports(db, p, f, q)[0]


# --- the workbook -------------------------------------------------------------------------------
class _Names:
    """id → display name, loaded on demand in batches; bounded by the size of the catalogue."""

    def __init__(self, db: Session, column, label):
        self.db, self.column, self.label = db, column, label
        self.cache: dict[str, str] = {}

    def prime(self, ids: Iterable[str | None]) -> None:
        missing = list({i for i in ids if i and i not in self.cache})
        for start in range(0, len(missing), 500):
            chunk = missing[start:start + 500]
            for key, name in self.db.execute(select(self.column, self.label).where(self.column.in_(chunk))):
                self.cache[key] = name
            for key in chunk:
                self.cache.setdefault(key, "")

    def __getitem__(self, key: str | None) -> str:
        return self.cache.get(key, "") if key else ""


def _text(value: str | None) -> str | None:
    if not value:
        return None
    value = ILLEGAL_CHARACTERS_RE.sub("", value)
    return value[:MAX_CELL] if len(value) > MAX_CELL else value


def _phone(e164: str) -> str:
    return "0" + e164[3:] if e164.startswith("+84") else e164


def _hours(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 3600, 1)


def _status_label(value: str) -> str:
    try:
        return STATUS_LABELS[Status(value)]
    except ValueError:
        return value


def summary(db: Session, f: queries.ReportFilters, q: str, tz: ZoneInfo) -> str:
    """The filters in words, for the title rows."""
    parts = []
    if f.status:
        parts.append("Trạng thái: " + ", ".join(_status_label(s) for s in f.status.split(",") if s))
    for value, model, label in ((f.category_id, Category, "Lĩnh vực"), (f.area_id, Area, "Khu vực"),
                                (f.unit_id, Department, "Đơn vị")):
        if value:
            obj = db.get(model, value)
            parts.append(f"{label}: {obj.name if obj else value}")
    if f.channel:
        parts.append("Kênh: " + CHANNEL_LABELS.get(f.channel, f.channel))
    if f.since:
        parts.append("Từ " + f.since.astimezone(tz).strftime("%H:%M %d/%m/%Y"))
    if f.until:
        parts.append("Đến trước " + f.until.astimezone(tz).strftime("%H:%M %d/%m/%Y"))
    if f.overdue is not None:
        parts.append("Quá hạn: " + ("Có" if f.overdue else "Không"))
    if q:
        parts.append(f"Từ khóa: “{q}”")
    if f.ids is not None:
        parts.append(f"Các dòng đã chọn: {len(f.ids)}")
    return "Bộ lọc: " + ("; ".join(parts) if parts else "không có")


def write_workbook(db: Session, p: Principal, f: queries.ReportFilters, path: Path, *, q: str = "", sort: str = "",
                   total: int | None = None, progress: Callable[[int, int | None], None] | None = None,
                   batch: int = BATCH, now: datetime | None = None) -> int:
    """Write the selection to ``path``; returns the number of report rows. Memory stays flat: rows
    come from the database ``batch`` at a time and openpyxl writes each straight to disk."""
    tz = ZoneInfo(get_settings().timezone)
    now = now or utcnow()
    stmt, order = selection(db, p, f, q, sort)
    if total is None:
        total = count(db, p, f, q)

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Phản ánh")
    ws.freeze_panes = f"C{HEADER_ROW + 1}"
    for i, (_, width, _) in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width
    ws.page_setup.orientation = "landscape"

    def cell(value, **style) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value=value)
        for k, v in style.items():
            setattr(c, k, v)
        return c

    title = f"DANH SÁCH PHẢN ÁNH, KIẾN NGHỊ – {queries.VIEWS.get(f.view, f.view).upper()}"
    ws.append([cell(title, font=Font(bold=True, size=14))])
    ws.append([cell(_text(summary(db, f, q, tz)), font=Font(italic=True))])
    ws.append([cell(f"Xuất lúc {now.astimezone(tz).strftime('%H:%M %d/%m/%Y')} bởi {p.full_name or p.username}"
                    f" · Tổng số: {total:,} phản ánh".replace(",", "."))])
    head_font, head_fill = Font(bold=True), PatternFill("solid", fgColor="DDE6F0")
    head_align = Alignment(wrap_text=True, vertical="center", horizontal="center")
    ws.append([cell(h, font=head_font, fill=head_fill, alignment=head_align) for h in HEADERS])

    categories = _Names(db, Category.id, Category.name)
    areas = _Names(db, Area.id, Area.name)
    units = _Names(db, Department.id, Department.name)
    people = _Names(db, User.id, User.full_name)

    def date_cell(value: datetime | None):
        if value is None:
            return None
        c = WriteOnlyCell(ws, value=value.astimezone(tz).replace(tzinfo=None))
        c.number_format = DATE_FORMAT
        return c

    def hours_cell(value: float | None):
        if value is None:
            return None
        c = WriteOnlyCell(ws, value=value)
        c.number_format = "0.0"
        return c

    def text_cell(value: str | None):
        value = _text(value)
        if value is not None and value.startswith("="):
            c = WriteOnlyCell(ws, value=value)
            c.data_type = "s"  # citizen input is never a formula
            return c
        return value

    n = 0
    result = db.execute(stmt.with_only_columns(*_SELECTED).order_by(*order).execution_options(yield_per=batch))
    for rows in result.partitions():
        categories.prime(r.category_id for r in rows)
        areas.prime(r.area_id for r in rows)
        units.prime(r.unit_id for r in rows)
        people.prime(r.assignee_id for r in rows)
        for r in rows:
            n += 1
            finished = r.resolved_at or r.closed_at
            late, late_by = None, None
            if r.due_at is not None:
                if r.status in _RUNNING and r.status not in _FINISHED_CLOCK:
                    late = now > r.due_at
                    late_by = _hours(r.due_at, now) if late else None
                elif finished is not None:
                    late = finished > r.due_at
                    late_by = _hours(r.due_at, finished) if late else None
            ws.append([
                n, r.code, text_cell(r.title), text_cell(r.content), CHANNEL_LABELS.get(r.channel, r.channel),
                PRIORITY_LABELS.get(r.priority, r.priority), STATUS_LABELS[Status(r.status)],
                categories[r.category_id] or None, areas[r.area_id] or None, units[r.unit_id] or None,
                people[r.assignee_id] or None, text_cell(r.citizen_name), _phone(r.citizen_phone) or None,
                text_cell(r.citizen_email), text_cell(r.citizen_address), date_cell(r.received_at),
                date_cell(r.dispatched_at), date_cell(r.due_at), date_cell(r.resolved_at), date_cell(r.closed_at),
                hours_cell(_hours(r.received_at, finished)), None if late is None else ("Có" if late else "Không"),
                hours_cell(late_by) if late else None, text_cell(r.result),
            ])
        if progress:
            progress(n, total)
    last = get_column_letter(len(COLUMNS))
    ws.auto_filter.ref = f"A{HEADER_ROW}:{last}{HEADER_ROW + max(n, 1)}"
    wb.save(path)
    return n


def file_name(f: queries.ReportFilters, now: datetime | None = None) -> str:
    local = (now or utcnow()).astimezone(ZoneInfo(get_settings().timezone))
    return f"phan-anh-{f.view.replace('_', '-')}-{local:%Y%m%d-%H%M}.xlsx"


def audit(db: Session, p: Principal, f: queries.ReportFilters, n: int | None, job_id: str = "") -> None:
    """Exports carry citizens' personal data: every one is in the audit log."""
    what = f"{n:,} phản ánh".replace(",", ".") if n is not None else "tác vụ nền"
    record(db, p, "report.exported", "report_export", job_id, organization_id=p.organization_id,
           summary=f"Xuất Excel danh sách '{queries.VIEWS.get(f.view, f.view)}' ({what})")


def start_job(db: Session, p: Principal, f: queries.ReportFilters, q: str = "", sort: str = "",
              total: int | None = None) -> jobs.Job:
    selection(db, p, f, q, sort)  # bad filters are refused now, not in the job
    job = jobs.enqueue(db, p, KIND, to_params(f, q, sort), organization_id=p.organization_id)
    if total is not None:
        job.total = total
    audit(db, p, f, total, job.id)
    return job


@register(KIND, "Xuất Excel danh sách phản ánh")
def run_job(ctx: JobContext) -> JobResult:
    f, q, sort = from_params(ctx.params)
    with ctx.database.session() as db:
        p = ctx.principal(db)
        if not p.has("reports.export"):
            raise Forbidden("Người tạo tác vụ không còn quyền xuất Excel danh sách phản ánh.")
        total = count(db, p, f, q)
        ctx.progress(0, total, "Đang ghi tệp Excel…", force=True)

        def step(done: int, total: int | None) -> None:
            ctx.progress(done, total, f"Đã ghi {done:,}/{total or 0:,} dòng.".replace(",", "."))

        n = write_workbook(db, p, f, ctx.output_path(".xlsx"), q=q, sort=sort, total=total, progress=step)
    return JobResult(name=file_name(f), message=f"Đã xuất {n:,} phản ánh.".replace(",", "."))
