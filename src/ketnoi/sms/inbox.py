"""What coordinators do with SMS: the inbox threaded by phone with the citizen's earlier reports
(SMS-01, 03), replying and sending (SMS-02), turning a message into a report (CRM-06, SMS-08), and
the history with filters, paging and sort (SMS-06, 07, 09, CRM-09)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, case, func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import utcnow
from ketnoi.identity.principal import Principal
from ketnoi.reports import queries as report_queries
from ketnoi.reports import schemas as RS
from ketnoi.reports import service as reports
from ketnoi.reports.workflow import STATUS_LABELS as REPORT_STATUS_LABELS
from ketnoi.reports.workflow import Status as ReportStatus
from ketnoi.sms import config, service
from ketnoi.sms import schemas as S
from ketnoi.sms.models import DIRECTIONS, STATUSES, SmsMessage

SORTABLE = {"created_at": SmsMessage.created_at, "phone": SmsMessage.phone, "status": SmsMessage.status,
            "direction": SmsMessage.direction, "updated_at": SmsMessage.updated_at}


@dataclass
class SmsFilters:
    phone: str = ""
    direction: str = ""
    status: str = ""
    since: datetime | None = None
    until: datetime | None = None


def _scoped(stmt, p: Principal):
    return stmt if p.is_sysadmin else stmt.where(SmsMessage.organization_id == p.organization_id)


def phone_filter(raw: str) -> str:
    """A typed phone as it is stored: the E.164 form when it is a full number, else the digits given
    (a part of a number matches as a substring)."""
    raw = (raw or "").strip()
    if not raw:
        return ""
    try:
        return normalize_phone(raw)
    except ValidationFailed:
        digits = "".join(ch for ch in raw if ch.isdigit() or ch == "+")
        if not digits:
            raise ValidationFailed.field("phone", "Số điện thoại chỉ gồm chữ số.")
        return digits.lstrip("0") if digits.startswith("0") else digits


def filtered(p: Principal, f: SmsFilters, q: str = ""):
    stmt = _scoped(select(SmsMessage), p)
    if f.direction:
        if f.direction not in DIRECTIONS:
            raise ValidationFailed.field("direction", "Chiều tin nhắn là 'in' (đến) hoặc 'out' (đi).")
        stmt = stmt.where(SmsMessage.direction == f.direction)
    if f.status:
        statuses = [s for s in f.status.split(",") if s]
        bad = [s for s in statuses if s not in STATUSES]
        if bad:
            raise ValidationFailed.field("status", "Trạng thái không hợp lệ: " + ", ".join(bad) + ".")
        stmt = stmt.where(SmsMessage.status.in_(statuses))
    if f.phone:
        phone = phone_filter(f.phone)
        stmt = stmt.where(SmsMessage.phone == phone) if phone.startswith("+") and len(phone) >= 11 else \
            apply_search(stmt, phone, [SmsMessage.phone])
    if f.since and f.until and f.until <= f.since:
        raise ValidationFailed.field("until", "Thời điểm kết thúc phải sau thời điểm bắt đầu.")
    if f.since:
        stmt = stmt.where(SmsMessage.created_at >= f.since)
    if f.until:
        stmt = stmt.where(SmsMessage.created_at < f.until)
    if q:
        stmt = apply_search(stmt, q, [SmsMessage.text, SmsMessage.phone, SmsMessage.short_code])
    return stmt


def list_messages(db: Session, p: Principal, params: ListParams, f: SmsFilters) -> Page:
    return paginate(db, filtered(p, f, params.q), params, SORTABLE, "-created_at")


def get_message(db: Session, p: Principal, message_id: str) -> SmsMessage:
    m = db.get(SmsMessage, message_id)
    if m is None or not (p.is_sysadmin or (m.organization_id and m.organization_id == p.organization_id)):
        raise NotFound("Không tìm thấy tin nhắn.")
    return m


def _report_codes(db: Session, p: Principal, ids: set[str]) -> dict[str, str]:
    out = {}
    for rid in ids:
        try:
            out[rid] = reports.get_report(db, p, rid).code
        except DomainError:
            out[rid] = ""
    return out


def message_out(db: Session, m: SmsMessage, p: Principal | None, *, detail: bool = False,
                codes: dict[str, str] | None = None) -> S.MessageOut:
    cls = S.MessageDetailOut if detail else S.MessageOut
    out = cls.model_validate(m)
    out.text = service.visible_text(m, p)
    out.status_label = service.STATUS_LABELS.get(m.status, m.status)
    if detail:
        out.provider_ids = [S.PartOut.model_validate(x) for x in m.part_ids]  # type: ignore[attr-defined]
    if m.report_id:
        out.report_code = (codes or {}).get(m.report_id) or (
            _report_codes(db, p, {m.report_id}).get(m.report_id, "") if p else "")
    return out


def messages_out(db: Session, items: list[SmsMessage], p: Principal) -> list[S.MessageOut]:
    codes = _report_codes(db, p, {m.report_id for m in items if m.report_id}) if p.has("reports.read") else {}
    return [message_out(db, m, p, codes=codes) for m in items]


# --- inbox threads ------------------------------------------------------------------------------
def list_threads(db: Session, p: Principal, params: ListParams, *, unhandled_only: bool = False) -> Page:
    """One row per phone that has written to us, newest activity first."""
    base = _scoped(select(SmsMessage), p).subquery()
    has_in = func.sum(case((base.c.direction == "in", 1), else_=0))
    unhandled = func.sum(case((and_(base.c.direction == "in", base.c.handled_at.is_(None)), 1), else_=0))
    last_at = func.max(base.c.created_at)
    stmt = (select(base.c.phone, last_at.label("last_at"), func.count().label("messages"),
                   unhandled.label("unhandled")).group_by(base.c.phone).having(has_in > 0))
    if unhandled_only:
        stmt = stmt.having(unhandled > 0)
    if params.q:
        stmt = stmt.where(base.c.phone.like(f"%{phone_filter(params.q)}%"))
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    size = min(max(1, params.page_size), 200)
    page = max(1, params.page)
    rows = db.execute(stmt.order_by(last_at.desc()).offset((page - 1) * size).limit(size)).all()
    items = []
    for r in rows:
        last = db.scalar(_scoped(select(SmsMessage), p).where(SmsMessage.phone == r.phone)
                         .order_by(SmsMessage.created_at.desc()).limit(1))
        items.append(S.ThreadOut(phone=r.phone, last_at=last.created_at if last else r.last_at,
                                 last_text=service.visible_text(last, p)[:200] if last else "",
                                 last_direction=last.direction if last else "in", messages=r.messages,
                                 unhandled=r.unhandled or 0))
    return Page(items=items, page=page, page_size=size, total=total)


def citizen_reports(db: Session, p: Principal, phone: str, limit: int = 20) -> list[S.ReportRef]:
    """The citizen's earlier reports (by phone), as far as the user may see reports."""
    if not p.has("reports.read") or not phone.startswith("+"):
        return []
    page = report_queries.list_reports(db, p, ListParams(page=1, page_size=limit, q=phone),
                                       report_queries.ReportFilters())
    return [S.ReportRef(id=r.id, code=r.code, title=r.title, status=r.status,
                        status_label=REPORT_STATUS_LABELS[ReportStatus(r.status)], received_at=r.received_at)
            for r in page.items if r.citizen_phone == phone]


def thread(db: Session, p: Principal, phone: str, limit: int = 200) -> S.ThreadDetailOut:
    try:
        e164 = phone_filter(phone)
    except ValidationFailed:
        e164 = phone.strip()  # an alphanumeric sender (e.g. a carrier's notice), kept as received
    rows = list(db.scalars(_scoped(select(SmsMessage), p).where(SmsMessage.phone == e164)
                           .order_by(SmsMessage.created_at.desc()).limit(limit)))
    if not rows:
        raise NotFound("Không có tin nhắn nào với số điện thoại này.")
    rows.reverse()
    return S.ThreadDetailOut(phone=e164, messages=messages_out(db, rows, p), reports=citizen_reports(db, p, e164))


# --- sending and replying -----------------------------------------------------------------------
def send(db: Session, p: Principal, data: S.SendIn) -> SmsMessage:
    org_id = config.organization_for_write(db, p, data.organization_id) if (
        p.is_sysadmin or data.organization_id) else p.organization_id
    template = None
    if data.template_code:
        template = config.template_by_code(db, p, org_id, data.template_code)
    elif not data.text.strip():
        raise ValidationFailed.field("text", "Nội dung tin nhắn không được để trống.")
    m = service.queue_sms(db, organization_id=org_id, phone=data.phone, text=data.text, template=template,
                          variables=dict(data.variables), sender=data.sender, priority=data.priority,
                          purpose="manual", actor=p)
    db.flush()
    record(db, p, "sms.sent", "sms_message", m.id, organization_id=org_id,
           summary=f"Gửi SMS tới {service.local_phone(m.phone)}")
    return m


def reply(db: Session, p: Principal, message_id: str, data: S.ReplyIn) -> SmsMessage:
    """Answer an incoming message from the number the citizen wrote to (SMS-02)."""
    incoming = get_message(db, p, message_id)
    if incoming.direction != "in":
        raise Conflict("Chỉ trả lời được tin nhắn đến.")
    template = None
    if data.template_code:
        template = config.template_by_code(db, p, incoming.organization_id, data.template_code)
    elif not data.text.strip():
        raise ValidationFailed.field("text", "Nội dung tin nhắn không được để trống.")
    m = service.queue_sms(db, organization_id=incoming.organization_id, phone=incoming.phone, text=data.text,
                          template=template, variables=dict(data.variables), sender=incoming.short_code,
                          priority=3, purpose="reply", actor=p, reply_to_id=incoming.id,
                          report_id=incoming.report_id)
    incoming.handled_at = incoming.handled_at or utcnow()
    db.flush()
    record(db, p, "sms.replied", "sms_message", m.id, organization_id=incoming.organization_id,
           summary=f"Trả lời SMS của {service.local_phone(incoming.phone)}")
    return m


# --- a report from a message (CRM-06) -----------------------------------------------------------
def report_prefill(m: SmsMessage) -> dict[str, str]:
    from ketnoi.sms.keywords import split_keyword, title_of

    keyword, rest = split_keyword(m.text)
    content = rest if keyword in ("PA",) and rest else m.text.strip()
    return {"title": title_of(content), "content": content, "citizen_phone": m.phone}


def create_report(db: Session, p: Principal, message_id: str, data: S.ReportFromSmsIn):
    """The report a coordinator completes from an incoming message, linked both ways."""
    if not p.has("reports.create"):
        raise Forbidden("Bạn không có quyền tạo phản ánh.")
    m = get_message(db, p, message_id)
    if m.direction != "in":
        raise Conflict("Chỉ tạo phản ánh từ tin nhắn đến.")
    if m.report_id:
        raise Conflict("Tin nhắn này đã được tạo phản ánh.")
    pre = report_prefill(m)
    try:
        phone = normalize_phone(m.phone)
    except ValidationFailed:
        phone = ""
    payload = RS.ReportIn(title=data.title or pre["title"] or "Phản ánh qua SMS", content=data.content or pre["content"],
                          channel=RS.Channel.SMS, priority=RS.Priority(data.priority), category_id=data.category_id,
                          area_id=data.area_id, citizen_name=data.citizen_name,
                          citizen_address=data.citizen_address, citizen_phone=phone, source_sms_id=m.id,
                          organization_id=m.organization_id if p.is_sysadmin else None)
    r = reports.create_report(db, p, payload, received_at=m.created_at)
    m.report_id, m.handled_at = r.id, m.handled_at or utcnow()
    record(db, p, "sms.report_created", "sms_message", m.id, organization_id=m.organization_id,
           summary=f"Tạo phản ánh {r.code} từ SMS của {service.local_phone(m.phone)}")
    return r
