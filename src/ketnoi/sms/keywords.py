"""Keyword rules on incoming SMS (CRM-06, SMS-03): ``PA <text>`` creates a report through the reports
service (channel SMS, the sender's phone, linked to the message) and acknowledges it by SMS with the
report code, from the number the citizen wrote to."""

from __future__ import annotations

import logging
import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core.errors import DomainError
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import utcnow
from ketnoi.outbox.models import OutboxMessage
from ketnoi.reports import schemas as RS
from ketnoi.reports import service as reports
from ketnoi.sms import service
from ketnoi.sms.models import SmsKeywordRule, SmsMessage, SmsTemplate

log = logging.getLogger("ketnoi.sms")

ACTIONS = {"create_report": "Tự động tạo phản ánh"}
KEYWORD_RE = re.compile(r"^[A-Z0-9]{1,20}$")


def split_keyword(text: str) -> tuple[str, str]:
    """('PA', 'rest of the text') from 'pa: rest of the text'; the keyword is upper case."""
    stripped = (text or "").strip()
    m = re.match(r"^([A-Za-z0-9]{1,20})[\s:.,;-]*(.*)$", stripped, re.DOTALL)
    if not m:
        return "", stripped
    return m.group(1).upper(), m.group(2).strip()


def title_of(content: str) -> str:
    first = content.splitlines()[0].strip() if content else ""
    return first if len(first) <= 100 else first[:99].rstrip() + "…"


def matching_rule(db: Session, m: SmsMessage) -> tuple[SmsKeywordRule, str] | None:
    keyword, rest = split_keyword(m.text)
    if not keyword or not m.organization_id:
        return None
    rule = db.scalar(select(SmsKeywordRule).where(SmsKeywordRule.organization_id == m.organization_id,
                                                  SmsKeywordRule.keyword == keyword,
                                                  SmsKeywordRule.is_active.is_(True)))
    return (rule, rest) if rule else None


def _pending_notice(db: Session, phone: str, code: str) -> OutboxMessage | None:
    """The 'report received' notice the reports service just queued for this citizen (same transaction)."""
    from ketnoi.core.listing import like_escape

    return db.scalar(select(OutboxMessage).where(
        OutboxMessage.purpose == "report_received", OutboxMessage.recipient == phone,
        OutboxMessage.status == "pending", OutboxMessage.body.like(f"%{like_escape(code)}%", escape="\\")).limit(1))


def create_report_from(db: Session, m: SmsMessage, rule: SmsKeywordRule, content: str) -> None:
    from ketnoi.sms import outbox_bridge

    try:
        phone = normalize_phone(m.phone, mobile_only=True)
    except DomainError:
        phone = ""
    data = RS.ReportIn(title=title_of(content), content=content, channel=RS.Channel.SMS, citizen_phone=phone,
                       category_id=rule.category_id, source_sms_id=m.id)
    r = reports.create_report(db, service.system_principal(m.organization_id), data, received_at=m.created_at)
    m.report_id, m.handled_at = r.id, utcnow()
    notice = _pending_notice(db, phone, r.code) if phone else None
    ack = db.get(SmsTemplate, rule.ack_template_id) if rule.ack_template_id else None
    if ack is not None and not ack.is_active:
        ack = None
    if notice is not None:
        outbox_bridge.take_over(db, notice, template=ack, sender=m.short_code, reply_to_id=m.id, report_id=r.id)
    elif ack is not None and phone:
        service.queue_sms(db, organization_id=m.organization_id, phone=phone, template=ack,
                          variables={"code": r.code, "title": r.title[:60], "phone": service.local_phone(phone),
                                     "result": ""},
                          sender=m.short_code, priority=3, purpose="report_received", reply_to_id=m.id,
                          report_id=r.id, fit=True)


def apply_keyword_rules(db: Session, m: SmsMessage) -> SmsKeywordRule | None:
    """Run the matching rule on a just-stored message. A failure (e.g. the rule's category was
    removed) leaves the message in the inbox for a coordinator; it never loses the message."""
    found = matching_rule(db, m)
    if found is None:
        return None
    rule, rest = found
    if not rest:
        return None  # the keyword alone: nothing to report; a coordinator answers
    events = list(db.info.get("pending_events", []))
    try:
        with db.begin_nested():
            if rule.action == "create_report":
                create_report_from(db, m, rule, rest)
            db.flush()
    except (DomainError, ValueError) as e:
        db.info["pending_events"] = events  # the report's events go with its rollback
        m.report_id, m.handled_at = None, None
        log.warning("keyword rule %s on SMS %s failed: %s", rule.keyword, m.id, getattr(e, "detail", e))
        return None
    return rule
