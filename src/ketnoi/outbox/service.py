"""Enqueueing and delivering outbox messages.

The embedded default provider writes each message to the server log and marks it sent, so that
an administrator can read it on the outbox page; the SMS module registers real providers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.db.base import utcnow
from ketnoi.identity.principal import Principal
from ketnoi.outbox.models import OutboxMessage

log = logging.getLogger("ketnoi.outbox")

# channel -> sender(message) -> provider name; raises on failure
Sender = Callable[[OutboxMessage], str]
SENDERS: dict[str, Sender] = {}


def log_sender(msg: OutboxMessage) -> str:
    log.warning("OUTBOX %s to %s: %s", msg.channel, msg.recipient, msg.body)
    return "log"


def enqueue_message(db: Session, *, channel: str, recipient: str, body: str, subject: str = "", purpose: str = "",
                    organization_id: str | None = None) -> OutboxMessage:
    msg = OutboxMessage(channel=channel, recipient=recipient, body=body, subject=subject, purpose=purpose,
                        organization_id=organization_id)
    db.add(msg)
    return msg


def deliver_due(db: Session, limit: int = 50) -> int:
    """Send pending messages whose time has come; retry with back-off, give up after 8 attempts."""
    now = utcnow()
    due = db.scalars(select(OutboxMessage).where(OutboxMessage.status == "pending", OutboxMessage.next_attempt_at <= now)
                     .order_by(OutboxMessage.created_at).limit(limit)).all()
    for msg in due:
        sender = SENDERS.get(msg.channel, log_sender)
        msg.attempts += 1
        try:
            msg.provider = sender(msg)
            msg.status = "sent"
            msg.sent_at = utcnow()
        except Exception as exc:  # provider errors are recorded, never lost
            msg.last_error = str(exc)[:500]
            if msg.attempts >= 8:
                msg.status = "failed"
            else:
                msg.next_attempt_at = utcnow() + timedelta(seconds=min(3600, 15 * 2 ** msg.attempts))
    return len(due)


SECRET_PURPOSES = {"password_reset"}


def visible_body(msg: OutboxMessage, principal: Principal) -> str:
    """One-time codes are shown to system administrators only; others see them masked, so that
    nobody can request a colleague's reset and read the code."""
    if msg.purpose in SECRET_PURPOSES and not principal.is_sysadmin:
        import re

        return re.sub(r"\d{4,}", lambda m: "•" * len(m.group()), msg.body)
    return msg.body


def list_messages(db: Session, principal: Principal, params: ListParams, *, status: str = "", channel: str = "") -> Page:
    stmt = select(OutboxMessage)
    if not principal.is_sysadmin:
        stmt = stmt.where(OutboxMessage.organization_id == principal.organization_id)
    if status:
        stmt = stmt.where(OutboxMessage.status == status)
    if channel:
        stmt = stmt.where(OutboxMessage.channel == channel)
    if params.q:
        stmt = apply_search(stmt, params.q, [OutboxMessage.recipient, OutboxMessage.body, OutboxMessage.purpose])
    sortable = {"created_at": OutboxMessage.created_at, "status": OutboxMessage.status,
                "recipient": OutboxMessage.recipient}
    return paginate(db, stmt, params, sortable, "-created_at")
