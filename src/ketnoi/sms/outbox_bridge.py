"""The platform outbox's SMS sender: password-reset codes and report notifications (PERM-10, citizen
milestones) enqueued with ``channel="sms"`` are handed, in the outbox's own transaction, to the SMS
outbox, so that everything that leaves goes through one durable queue with delivery tracking (SMS-04).

Citizen milestones use the organization's templates when it has them: code ``report_received``
(variables {code}, {title}, {phone}) and ``report_result`` (also {result})."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from ketnoi.core.errors import DomainError
from ketnoi.db.base import new_id, utcnow
from ketnoi.outbox import service as outbox
from ketnoi.outbox.models import OutboxMessage
from ketnoi.settings import get_settings
from ketnoi.sms import service
from ketnoi.sms.models import SmsMessage, SmsProvider, SmsTemplate

log = logging.getLogger("ketnoi.sms")

PRIORITY = {"password_reset": 1}  # one-time codes first; report notices next; the rest after
TEMPLATED = ("report_received", "report_result")
CODE_RE = re.compile(r"\bPA-\d{4}-\d{4,}\b")


def channel_active(db: Session, organization_id: str | None) -> bool:
    """Whether SMS goes out through providers: forced by settings, or (by default) when a provider
    that can carry this organization's messages is configured."""
    enabled = get_settings().sms_enabled
    if enabled is not None:
        return enabled
    stmt = select(SmsProvider.id).where(SmsProvider.enabled.is_(True))
    if organization_id:
        stmt = stmt.where(SmsProvider.organization_id == organization_id)
    return db.scalar(stmt.limit(1)) is not None


def _milestone_variables(db: Session, msg: OutboxMessage) -> dict[str, object] | None:
    from ketnoi.reports import service as reports

    found = CODE_RE.search(msg.body)
    if not found or not msg.organization_id:
        return None
    try:
        r = reports.get_by_code(db, service.system_principal(msg.organization_id), found.group())
    except DomainError:
        return None
    return {"code": r.code, "title": r.title[:60], "result": r.result.strip()[:300],
            "phone": service.local_phone(r.citizen_phone), "report_id": r.id}


def hand_over(db: Session, msg: OutboxMessage, *, template: SmsTemplate | None = None, sender: str = "",
              reply_to_id: str | None = None, report_id: str | None = None) -> SmsMessage:
    """Queue the outbox message as an SMS (templated when the organization words it); a message that
    cannot be sent at all (no valid mobile number) is recorded as failed with the reason."""
    variables: dict[str, object] | None = None
    if msg.purpose in TEMPLATED or template is not None:
        variables = _milestone_variables(db, msg)
        if template is None and variables is not None:
            template = service.find_template(db, msg.organization_id, msg.purpose)
        if variables is not None:
            report_id = report_id or str(variables.pop("report_id"))
    try:
        if template is not None and variables is not None:
            try:
                return service.queue_sms(db, organization_id=msg.organization_id, phone=msg.recipient,
                                         template=template, variables=variables, sender=sender,
                                         priority=PRIORITY.get(msg.purpose, 3), purpose=msg.purpose or "outbox",
                                         outbox_id=msg.id, reply_to_id=reply_to_id, report_id=report_id, fit=True)
            except DomainError as e:  # a template asking for what this notice lacks: the plain text goes
                log.warning("SMS template %s not usable for outbox message %s: %s", template.code, msg.id, e.detail)
        return service.queue_sms(db, organization_id=msg.organization_id, phone=msg.recipient, text=msg.body,
                                 sender=sender, priority=PRIORITY.get(msg.purpose, 3 if msg.purpose else 5),
                                 purpose=msg.purpose or "outbox", outbox_id=msg.id, reply_to_id=reply_to_id,
                                 report_id=report_id, fit=True)
    except DomainError as e:
        now = utcnow()
        m = SmsMessage(id=new_id(), organization_id=msg.organization_id, direction="out",
                       phone=(msg.recipient or "")[:20], short_code=sender or get_settings().sms_default_sender,
                       text=msg.body, status="failed", purpose=(msg.purpose or "outbox")[:40], last_error=e.detail[:500],
                       outbox_id=msg.id, report_id=report_id, created_at=now, updated_at=now, changes=0,
                       created_by_name="Hệ thống")
        service.add_history(db, m, "failed", from_status="", note=e.detail, at=now)
        db.add(m)
        return m


def take_over(db: Session, msg: OutboxMessage, **kw) -> SmsMessage:
    """Hand a still-pending outbox message over now (same transaction) and mark it sent by SMS."""
    m = hand_over(db, msg, **kw)
    msg.attempts += 1
    msg.status, msg.provider, msg.sent_at = "sent", "sms", utcnow()
    return m


def sms_sender(msg: OutboxMessage) -> str:
    """``outbox.service.SENDERS["sms"]``: runs inside ``deliver_due``'s transaction."""
    db = object_session(msg)
    if db is None or not channel_active(db, msg.organization_id):
        return outbox.log_sender(msg)  # no SMS provider yet: the embedded behaviour (server log)
    hand_over(db, msg)
    return "sms"


def install() -> None:
    outbox.SENDERS["sms"] = sms_sender


def uninstall() -> None:
    if outbox.SENDERS.get("sms") is sms_sender:
        outbox.SENDERS.pop("sms")
