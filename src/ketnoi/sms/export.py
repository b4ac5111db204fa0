"""Excel export of the SMS history (SMS-06, 07, 09, CRM-09): the filtered list written in constant
memory (openpyxl write-only, rows fetched in batches) with Vietnamese headers and typed date cells.
Up to ``DIRECT_LIMIT`` rows the file is written during the request; beyond, as a background job."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.core.errors import Forbidden, ValidationFailed
from ketnoi.db.base import utcnow
from ketnoi.identity.principal import Principal
from ketnoi.jobs import service as jobs
from ketnoi.jobs.runner import JobContext, JobResult, register
from ketnoi.settings import get_settings
from ketnoi.sms import inbox, service
from ketnoi.sms.models import SmsMessage

KIND = "sms.export"
DIRECT_LIMIT = 20_000
BATCH = 2000
DATE_FORMAT = "dd/mm/yyyy hh:mm:ss"
HEADER_ROW = 4
COLUMNS: list[tuple[str, float, str]] = [
    ("STT", 7, "int"), ("Thời điểm", 19, "date"), ("Chiều", 6, "text"), ("Số điện thoại", 14, "text"),
    ("Đầu số / Brandname", 14, "text"), ("Nội dung", 60, "text"), ("Số phần tin", 8, "int"),
    ("Mã hóa", 8, "text"), ("Trạng thái", 18, "text"), ("Nhà cung cấp", 14, "text"), ("Số lần gửi", 8, "int"),
    ("Gửi đi lúc", 19, "date"), ("Đến máy lúc", 19, "date"), ("Lỗi", 40, "text"), ("Mục đích", 16, "text"),
    ("Người gửi", 20, "text"),
]
PURPOSE_LABELS = {"manual": "Gửi thủ công", "reply": "Trả lời", "incoming": "Tin đến",
                  "password_reset": "Mã khôi phục mật khẩu", "report_received": "Xác nhận tiếp nhận",
                  "report_result": "Kết quả xử lý", "report_assignment": "Chờ phân công",
                  "report_processing": "Chờ xử lý", "report_approval": "Chờ phê duyệt"}


def _text(value: str | None) -> str | None:
    if not value:
        return None
    value = ILLEGAL_CHARACTERS_RE.sub("", value)[:32767]
    return value


def count(db: Session, p: Principal, f: inbox.SmsFilters, q: str = "") -> int:
    stmt = inbox.filtered(p, f, q)
    return db.scalar(select(func.count()).select_from(stmt.order_by(None).subquery())) or 0


def _order(sort: str):
    key = (sort or "-created_at").lstrip("-")
    if key not in inbox.SORTABLE:
        raise ValidationFailed.field("sort", f"Không thể sắp xếp theo '{key}'. Chọn một trong: "
                                     + ", ".join(sorted(inbox.SORTABLE)) + ".")
    col = inbox.SORTABLE[key]
    desc = (sort or "-created_at").startswith("-")
    return (col.desc(), SmsMessage.id.desc()) if desc else (col.asc(), SmsMessage.id.asc())


def summary(f: inbox.SmsFilters, q: str, tz: ZoneInfo) -> str:
    parts = []
    if f.phone:
        parts.append(f"Số điện thoại: {f.phone}")
    if f.direction:
        parts.append("Chiều: " + service.DIRECTION_LABELS.get(f.direction, f.direction))
    if f.status:
        parts.append("Trạng thái: " + ", ".join(service.STATUS_LABELS.get(s, s) for s in f.status.split(",") if s))
    if f.since:
        parts.append("Từ " + f.since.astimezone(tz).strftime("%H:%M %d/%m/%Y"))
    if f.until:
        parts.append("Đến trước " + f.until.astimezone(tz).strftime("%H:%M %d/%m/%Y"))
    if q:
        parts.append(f"Từ khóa: “{q}”")
    return "Bộ lọc: " + ("; ".join(parts) if parts else "không có")


def write_workbook(db: Session, p: Principal, f: inbox.SmsFilters, path: Path, *, q: str = "", sort: str = "",
                   total: int | None = None, progress: Callable[[int, int | None], None] | None = None,
                   now: datetime | None = None) -> int:
    tz = ZoneInfo(get_settings().timezone)
    now = now or utcnow()
    order = _order(sort)
    stmt = inbox.filtered(p, f, q)
    total = count(db, p, f, q) if total is None else total
    wb = Workbook(write_only=True)
    ws = wb.create_sheet("Lịch sử SMS")
    ws.freeze_panes = f"A{HEADER_ROW + 1}"
    for i, (_, width, _) in enumerate(COLUMNS, 1):
        ws.column_dimensions[get_column_letter(i)].width = width

    def cell(value: Any, **style) -> WriteOnlyCell:
        c = WriteOnlyCell(ws, value=value)
        for k, v in style.items():
            setattr(c, k, v)
        return c

    def date_cell(value: datetime | None):
        if value is None:
            return None
        return cell(value.astimezone(tz).replace(tzinfo=None), number_format=DATE_FORMAT)

    def text_cell(value: str | None):
        value = _text(value)
        if value is not None and value[:1] in "=+-@":
            return cell(value, data_type="s")  # citizens' text is never a formula
        return value

    ws.append([cell("LỊCH SỬ TIN NHẮN SMS", font=Font(bold=True, size=14))])
    ws.append([cell(summary(f, q, tz), font=Font(italic=True))])
    ws.append([cell(f"Xuất lúc {now.astimezone(tz).strftime('%H:%M %d/%m/%Y')} bởi {p.full_name or p.username}"
                    f" · Tổng số: {total:,} tin nhắn".replace(",", "."))])
    head = {"font": Font(bold=True), "fill": PatternFill("solid", fgColor="DDE6F0"),
            "alignment": Alignment(wrap_text=True, vertical="center", horizontal="center")}
    ws.append([cell(h, **head) for h, _, _ in COLUMNS])
    n = 0
    result = db.execute(stmt.order_by(*order).execution_options(yield_per=BATCH))
    for rows in result.scalars().partitions():
        for m in rows:
            n += 1
            ws.append([n, date_cell(m.created_at), service.DIRECTION_LABELS.get(m.direction, m.direction),
                       service.local_phone(m.phone), m.short_code or None, text_cell(service.visible_text(m, p)),
                       m.parts, m.encoding.upper(), service.STATUS_LABELS.get(m.status, m.status),
                       m.provider or None, m.attempts if m.direction == "out" else None, date_cell(m.sent_at),
                       date_cell(m.delivered_at), text_cell(m.last_error),
                       PURPOSE_LABELS.get(m.purpose, m.purpose) or None, text_cell(m.created_by_name)])
        if progress:
            progress(n, total)
    ws.auto_filter.ref = f"A{HEADER_ROW}:{get_column_letter(len(COLUMNS))}{HEADER_ROW + max(n, 1)}"
    wb.save(path)
    return n


def file_name(now: datetime | None = None) -> str:
    local = (now or utcnow()).astimezone(ZoneInfo(get_settings().timezone))
    return f"lich-su-sms-{local:%Y%m%d-%H%M}.xlsx"


def audit(db: Session, p: Principal, n: int | None, job_id: str = "") -> None:
    """SMS carry citizens' phone numbers and words: every export is in the audit log."""
    what = f"{n:,} tin nhắn".replace(",", ".") if n is not None else "tác vụ nền"
    record(db, p, "sms.exported", "sms_export", job_id, organization_id=p.organization_id,
           summary=f"Xuất Excel lịch sử SMS ({what})")


def to_params(f: inbox.SmsFilters, q: str, sort: str) -> dict[str, Any]:
    return {"phone": f.phone, "direction": f.direction, "status": f.status,
            "since": f.since.isoformat() if f.since else None, "until": f.until.isoformat() if f.until else None,
            "q": q, "sort": sort}


def from_params(d: dict[str, Any]) -> tuple[inbox.SmsFilters, str, str]:
    def dt(v):
        return datetime.fromisoformat(v) if v else None

    return (inbox.SmsFilters(phone=d.get("phone") or "", direction=d.get("direction") or "",
                             status=d.get("status") or "", since=dt(d.get("since")), until=dt(d.get("until"))),
            d.get("q") or "", d.get("sort") or "")


def start_job(db: Session, p: Principal, f: inbox.SmsFilters, q: str, sort: str, total: int) -> jobs.Job:
    job = jobs.enqueue(db, p, KIND, to_params(f, q, sort), organization_id=p.organization_id)
    job.total = total
    audit(db, p, total, job.id)
    return job


@register(KIND, "Xuất Excel lịch sử SMS")
def run_job(ctx: JobContext) -> JobResult:
    f, q, sort = from_params(ctx.params)
    with ctx.database.session() as db:
        p = ctx.principal(db)
        if not p.has("sms.history"):
            raise Forbidden("Người tạo tác vụ không còn quyền xem lịch sử SMS.")
        total = count(db, p, f, q)
        ctx.progress(0, total, "Đang ghi tệp Excel…", force=True)
        n = write_workbook(db, p, f, ctx.output_path(".xlsx"), q=q, sort=sort, total=total,
                           progress=lambda done, tot: ctx.progress(done, tot, f"Đã ghi {done:,}/{tot or 0:,} dòng."
                                                                   .replace(",", ".")))
    return JobResult(name=file_name(), message=f"Đã xuất {n:,} tin nhắn.".replace(",", "."))
