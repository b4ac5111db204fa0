"""Rules of SMS messages: validating and queueing outgoing ones (SMS-02, 04), storing incoming ones
and handing them to the core (SMS-01, 03: hub event, keyword rules), delivery receipts, and the
append-only status history written in the same transaction as each change (SMS-05)."""

from __future__ import annotations

import logging
import re
import string
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketnoi.core.errors import ValidationFailed
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import new_id, utcnow
from ketnoi.events import Event, queue_event
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.settings import get_settings
from ketnoi.sms.encoding import Layout, layout, max_length
from ketnoi.sms.models import (
    FINAL_STATUSES,
    SmsMessage,
    SmsPart,
    SmsProvider,
    SmsStatusHistory,
    SmsTemplate,
    SmsUnmatchedReceipt,
)
from ketnoi.sms.providers.base import DeliveryReceipt, IncomingSms

log = logging.getLogger("ketnoi.sms")

STATUS_LABELS = {"queued": "Chờ gửi", "sending": "Đang gửi", "accepted": "Đã gửi tới nhà mạng",
                 "delivered": "Đã đến máy", "failed": "Thất bại", "expired": "Hết hạn", "received": "Đã nhận"}
DIRECTION_LABELS = {"in": "Đến", "out": "Đi"}
PRIORITY_LABELS = {1: "Khẩn", 3: "Cao", 5: "Bình thường", 9: "Thấp"}
SENDER_RE = re.compile(r"^(?:[A-Za-z0-9][A-Za-z0-9 ._&-]{0,10}|\+?\d{2,15})$")
SECRET_PURPOSES = {"password_reset"}


# --- small helpers ------------------------------------------------------------------------------
def system_principal(organization_id: str | None) -> Principal:
    """The SMS channel acting on its own (keyword rules): the organization's, without a user."""
    return Principal(user_id="", username="sms", full_name="Hệ thống SMS", organization_id=organization_id,
                     department_id=None, is_sysadmin=False, permissions=frozenset({"reports.create"}))


def local_phone(e164: str) -> str:
    """+84912345678 → 0912345678 for people; other numbers unchanged."""
    return "0" + e164[3:] if e164.startswith("+84") else e164


def visible_text(m: SmsMessage, p: Principal | None) -> str:
    """One-time codes (password reset) only for system administrators, as on the outbox page."""
    if m.purpose in SECRET_PURPOSES and not (p and p.is_sysadmin):
        return re.sub(r"\d{4,}", lambda x: "•" * len(x.group()), m.text)
    return m.text


def check_phone(raw: str, field: str = "phone") -> str:
    if not (raw or "").strip():
        raise ValidationFailed.field(field, "Nhập số điện thoại di động nhận tin.")
    return normalize_phone(raw, field, mobile_only=True)


def check_text(text: str, field: str = "text") -> Layout:
    if not (text or "").strip():
        raise ValidationFailed.field(field, "Nội dung tin nhắn không được để trống.")
    lay = layout(text)
    limit = get_settings().sms_max_parts
    if lay.parts > limit:
        raise ValidationFailed.field(
            field, f"Tin nhắn quá dài: {len(text)} ký tự, cần {lay.parts} phần tin (tối đa {limit}). "
                   f"Tiếng Việt có dấu tối đa {max_length('ucs2', limit)} ký tự, "
                   f"không dấu tối đa {max_length('gsm7', limit)} ký tự.")
    return lay


def check_sender(sender: str, field: str = "sender") -> str:
    sender = (sender or "").strip()
    if sender and not SENDER_RE.match(sender):
        raise ValidationFailed.field(field, "Tên thương hiệu (brandname) gồm tối đa 11 chữ cái, chữ số, "
                                            "hoặc là một đầu số (tối đa 15 chữ số).")
    return sender


def template_variables(body: str, field: str = "body") -> list[str]:
    """The {names} of a template body; a syntax error is a Vietnamese validation message."""
    try:
        names = [f for _, f, spec, conv in string.Formatter().parse(body) if f is not None]
    except ValueError:
        raise ValidationFailed.field(field, "Mẫu tin sai cú pháp: dấu ngoặc nhọn chưa đóng hoặc thừa. "
                                            "Dùng {ten_bien} cho biến, {{ và }} cho dấu ngoặc.")
    bad = [n for n in names if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]{0,39}", n)]
    if bad:
        raise ValidationFailed.field(field, "Tên biến chỉ gồm chữ không dấu, chữ số và dấu gạch dưới: "
                                     + ", ".join("{" + b + "}" for b in bad) + ".")
    return list(dict.fromkeys(names))


def render(body: str, variables: dict[str, object], field: str = "variables") -> str:
    names = template_variables(body, "template")
    missing = [n for n in names if n not in variables]
    if missing:
        raise ValidationFailed.field(field, "Thiếu giá trị cho biến: " + ", ".join("{" + n + "}" for n in missing)
                                     + ".")
    return body.format(**{n: str(variables[n]) for n in names})


def find_template(db: Session, organization_id: str | None, code: str, *, active: bool = True) -> SmsTemplate | None:
    if not organization_id or not code:
        return None
    stmt = select(SmsTemplate).where(SmsTemplate.organization_id == organization_id, SmsTemplate.code == code)
    if active:
        stmt = stmt.where(SmsTemplate.is_active.is_(True))
    return db.scalar(stmt)


def default_sender(db: Session, organization_id: str | None) -> str:
    """The brandname of the organization's default provider, else the configured default (looked up
    once per transaction and organization)."""
    cache = db.info.setdefault("sms_default_sender", {})
    if organization_id not in cache:
        found = get_settings().sms_default_sender
        if organization_id:
            with db.no_autoflush:
                for p in db.scalars(select(SmsProvider).where(SmsProvider.organization_id == organization_id,
                                                              SmsProvider.enabled.is_(True))
                                    .order_by(SmsProvider.is_default.desc(), SmsProvider.priority)):
                    if p.brandnames:
                        found = p.brandnames[0]
                        break
        cache[organization_id] = found
    return cache[organization_id]


# --- status changes and history -----------------------------------------------------------------
def add_history(db: Session, m: SmsMessage, to_status: str, *, from_status: str | None = None, note: str = "",
                provider: str = "", at: datetime | None = None) -> None:
    """Append one history row (same transaction as the change it records)."""
    m.changes = (m.changes or 0) + 1
    db.add(SmsStatusHistory(message_id=m.id, seq=m.changes, at=at or utcnow(),
                            from_status=m.status if from_status is None else from_status, to_status=to_status,
                            provider=provider, note=note[:500]))


def set_status(db: Session, m: SmsMessage, status: str, *, note: str = "", provider: str = "") -> None:
    if m.status == status:
        return
    add_history(db, m, status, note=note, provider=provider)
    m.status = status
    m.updated_at = utcnow()


# --- outgoing -----------------------------------------------------------------------------------
WAKE_HOOKS: list[Callable[[], None]] = []  # senders to nudge when new messages are committed
PROVIDER_HOOKS: list[Callable[[], None]] = []  # channels to reload when providers changed


def queue_sms(db: Session, *, organization_id: str | None, phone: str, text: str = "",
              template: SmsTemplate | None = None, variables: dict[str, object] | None = None, sender: str = "",
              priority: int = 5, purpose: str = "manual", actor: Principal | None = None,
              report_id: str | None = None, reply_to_id: str | None = None, outbox_id: str | None = None,
              fit: bool = False) -> SmsMessage:
    """Validate and queue one message for the sender (SMS-04). ``fit`` shortens a system text that is
    too long instead of refusing it (notifications must still leave)."""
    to = check_phone(phone)
    sender = check_sender(sender)
    if template is not None:
        text = render(template.body, variables or {})
        sender = sender or template.brandname
    text = (text or "").strip()
    if fit:
        limit = max_length(layout(text).encoding, get_settings().sms_max_parts)
        if len(text) > limit:
            text = text[:limit - 1].rstrip() + "…"
    lay = check_text(text)
    if not 1 <= priority <= 9:
        raise ValidationFailed.field("priority", "Mức ưu tiên từ 1 (gửi trước) đến 9.")
    now = utcnow()
    m = SmsMessage(id=new_id(), organization_id=organization_id, direction="out", phone=to,
                   short_code=sender or default_sender(db, organization_id), text=text, parts=lay.parts,
                   encoding=lay.encoding, status="queued", priority=priority, purpose=purpose[:40],
                   next_attempt_at=now, report_id=report_id, reply_to_id=reply_to_id, outbox_id=outbox_id,
                   template_id=template.id if template else None, created_at=now, updated_at=now,
                   created_by_id=(actor.user_id or None) if actor else None,
                   created_by_name=(actor.full_name or actor.username) if actor else "Hệ thống", changes=0)
    add_history(db, m, "queued", from_status="", at=now)
    db.add(m)
    db.info["sms_wake"] = True
    return m


@sa_event.listens_for(Session, "after_commit")
def _wake_senders(session: Session) -> None:
    session.info.pop("sms_default_sender", None)
    for key, hooks in (("sms_wake", WAKE_HOOKS), ("sms_providers_changed", PROVIDER_HOOKS)):
        if session.info.pop(key, False):
            for hook in list(hooks):
                try:
                    hook()
                except Exception:
                    log.exception("waking the SMS channel failed")


@sa_event.listens_for(Session, "after_soft_rollback")
def _forget_wake(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop("sms_default_sender", None)
        session.info.pop("sms_wake", None)
        session.info.pop("sms_providers_changed", None)


# --- incoming -----------------------------------------------------------------------------------
def _provider_org(db: Session, name: str) -> str | None:
    return db.scalar(select(SmsProvider.organization_id).where(SmsProvider.name == name))


def store_incoming(db: Session, sms: IncomingSms) -> SmsMessage | None:
    """Store an incoming message, then hand it to the core (SMS-01, 03). A provider id seen before is
    not stored twice: the answer is then None. Never refuses a message for its content."""
    if db.scalar(select(SmsPart.id).where(SmsPart.provider == sms.provider,
                                          SmsPart.provider_message_id == sms.provider_message_id)):
        return None
    org_id = _provider_org(db, sms.provider)
    if org_id is None:
        log.warning("incoming SMS from unknown provider %r stored without an organization", sms.provider)
    try:
        phone = normalize_phone(sms.sender)
    except ValidationFailed:
        phone = (sms.sender or "").strip()[:20]  # an alphanumeric sender, kept as received
    at = sms.received_at if sms.received_at.tzinfo else sms.received_at.astimezone()
    text = sms.text or ""
    lay = layout(text)
    m = SmsMessage(id=new_id(), organization_id=org_id, direction="in", phone=phone, short_code=sms.to[:20],
                   text=text, parts=max(sms.parts, 1), encoding=lay.encoding, status="received", priority=5,
                   provider=sms.provider, created_at=at, updated_at=utcnow(), changes=0, purpose="incoming")
    try:
        with db.begin_nested():
            db.add(m)
            db.add(SmsPart(message_id=m.id, seq=1, provider=sms.provider,
                           provider_message_id=sms.provider_message_id[:100], status="received"))
            add_history(db, m, "received", from_status="", provider=sms.provider, at=at)
            db.flush()
    except IntegrityError:  # the same id stored concurrently
        return None
    if org_id:
        queue_event(db, Event(type="sms.received", org_id=org_id, permission="sms.inbox", data={
            "id": m.id, "phone": m.phone, "phone_local": local_phone(m.phone), "short_code": m.short_code,
            "text": text[:300], "received_at": at.isoformat(), "url": f"/sms/inbox?phone={m.phone}",
            "message": f"Tin nhắn SMS mới từ {local_phone(m.phone)}: {text[:80]}"}))
        from ketnoi.sms.keywords import apply_keyword_rules

        apply_keyword_rules(db, m)
    return m


# --- delivery receipts --------------------------------------------------------------------------
def _aggregate(statuses: list[str]) -> str:
    if any(s == "failed" for s in statuses):
        return "failed"
    if any(s == "expired" for s in statuses):
        return "expired"
    if statuses and all(s == "delivered" for s in statuses):
        return "delivered"
    return "accepted"


def apply_receipt(db: Session, r: DeliveryReceipt) -> bool:
    """Apply a delivery receipt (idempotent). A receipt for an id not stored yet is kept and applied
    when the id is recorded; the answer says whether it reached a message now."""
    part = db.scalar(select(SmsPart).where(SmsPart.provider == r.provider,
                                           SmsPart.provider_message_id == r.provider_message_id))
    if part is None:
        try:
            with db.begin_nested():
                db.add(SmsUnmatchedReceipt(provider=r.provider, provider_message_id=r.provider_message_id[:100],
                                           status=r.status, error=(r.error or "")[:300], done_at=r.done_at))
                db.flush()
        except IntegrityError:
            pass  # the same receipt again
        return False
    if part.status == r.status:
        return True
    part.status, part.error, part.updated_at = r.status, (r.error or "")[:300], utcnow()
    m = part.message
    if m.direction != "out" or m.status in FINAL_STATUSES or m.status == "queued":
        return True
    db.flush()
    target = _aggregate([p.status for p in m.part_ids])
    if target == m.status:
        return True
    note = f"Báo cáo phát: {r.status}" + (f" ({r.error})" if r.error else "")
    set_status(db, m, target, note=note, provider=r.provider)
    if target == "delivered":
        m.delivered_at = r.done_at or utcnow()
    elif target in ("failed", "expired"):
        m.last_error = (r.error or STATUS_LABELS[target])[:500]
    if m.organization_id:
        queue_event(db, Event(type="sms.status", org_id=m.organization_id, permission="sms.history",
                              data={"id": m.id, "status": m.status, "status_label": STATUS_LABELS[m.status]}))
    return True


def apply_unmatched(db: Session, provider: str, ids: list[str]) -> int:
    """Receipts that arrived before these ids were recorded, applied now."""
    if not ids:
        return 0
    rows = db.scalars(select(SmsUnmatchedReceipt).where(SmsUnmatchedReceipt.provider == provider,
                                                        SmsUnmatchedReceipt.provider_message_id.in_(ids))
                      .order_by(SmsUnmatchedReceipt.received_at)).all()
    for u in rows:
        apply_receipt(db, DeliveryReceipt(provider=u.provider, provider_message_id=u.provider_message_id,
                                          status=u.status, error=u.error or None, done_at=u.done_at))  # type: ignore[arg-type]
        db.delete(u)
    return len(rows)


def apply_late_matches(db: Session, limit: int = 500) -> int:
    """Receipts kept as unmatched whose ids have been stored since. Closes the race where a receipt
    and the submit's answer are written by two concurrent transactions, neither seeing the other."""
    rows = db.scalars(select(SmsUnmatchedReceipt).join(SmsPart, (SmsPart.provider == SmsUnmatchedReceipt.provider) & (
        SmsPart.provider_message_id == SmsUnmatchedReceipt.provider_message_id))
        .order_by(SmsUnmatchedReceipt.received_at).limit(limit)).all()
    for u in rows:
        apply_receipt(db, DeliveryReceipt(provider=u.provider, provider_message_id=u.provider_message_id,
                                          status=u.status, error=u.error or None, done_at=u.done_at))  # type: ignore[arg-type]
        db.delete(u)
    return len(rows)


def organization_exists(db: Session, organization_id: str | None) -> bool:
    return bool(organization_id) and db.get(Organization, organization_id) is not None


# --- retention (OPERATIONS.md) ------------------------------------------------------------------
def purge_log(db: Session, before: datetime, batch: int = 1000) -> int:
    """Delete finished messages created before ``before`` (parts and history go with them), in
    batches; queued or sending messages are kept whatever their age."""
    from sqlalchemy import delete

    total = 0
    while True:
        ids = list(db.scalars(select(SmsMessage.id).where(SmsMessage.created_at < before,
                                                          SmsMessage.status.not_in(("queued", "sending")))
                              .limit(batch)))
        if not ids:
            break
        for model, column in ((SmsPart, SmsPart.message_id), (SmsStatusHistory, SmsStatusHistory.message_id),
                              (SmsMessage, SmsMessage.id)):
            db.execute(delete(model).where(column.in_(ids)))
        db.commit()
        total += len(ids)
    db.execute(delete(SmsUnmatchedReceipt).where(SmsUnmatchedReceipt.received_at < before))
    return total
