"""Tables of the SMS channel: providers, messages in and out with their parts (provider ids) and
append-only status history, receipts that arrived before their message's ids were stored, templates
and keyword rules (SMS-01…09, CRM-06, CRM-09). The database is the SMS log store (SMS-05)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

DIRECTIONS = ("in", "out")
# queued → sending → accepted → delivered | failed | expired; sending → queued on a temporary failure;
# incoming messages are "received".
STATUSES = ("queued", "sending", "accepted", "delivered", "failed", "expired", "received")
FINAL_STATUSES = ("delivered", "failed", "expired", "received")


class SmsProvider(IdMixin, TimestampMixin, Base):
    """One configured gateway (SMPP bind, Kannel, generic HTTP) of an organization. ``config`` holds the
    kind-specific settings including secrets, which the API accepts but never returns."""

    __tablename__ = "sms_providers"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)  # the name providers report incoming messages by
    kind: Mapped[str] = mapped_column(String(10))  # smpp | kannel | http
    config: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    brandnames: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = any sender
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower first (failover order)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)


class SmsTemplate(IdMixin, TimestampMixin, Base):
    """A text with {variables}; codes ``report_received`` and ``report_result`` word the citizen's
    notifications on report milestones."""

    __tablename__ = "sms_templates"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_sms_templates_org_code"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    brandname: Mapped[str] = mapped_column(String(20), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class SmsKeywordRule(IdMixin, TimestampMixin, Base):
    """An incoming message starting with ``keyword`` (e.g. ``PA <text>``) triggers ``action``."""

    __tablename__ = "sms_keyword_rules"
    __table_args__ = (UniqueConstraint("organization_id", "keyword", name="uq_sms_keyword_rules_org_keyword"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    keyword: Mapped[str] = mapped_column(String(20))  # upper case, no spaces
    action: Mapped[str] = mapped_column(String(20), default="create_report")
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id", ondelete="SET NULL"), nullable=True)
    ack_template_id: Mapped[str | None] = mapped_column(ForeignKey("sms_templates.id", ondelete="SET NULL"),
                                                        nullable=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)


class SmsMessage(IdMixin, Base):
    """One SMS in or out. ``phone`` is the citizen's (or official's) number in E.164; ``short_code`` is
    our side: the number an incoming message was sent to, or the sender/brandname of an outgoing one."""

    __tablename__ = "sms_messages"
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="SET NULL"),
                                                        nullable=True)
    direction: Mapped[str] = mapped_column(String(3))
    phone: Mapped[str] = mapped_column(String(20))
    short_code: Mapped[str] = mapped_column(String(20), default="")
    text: Mapped[str] = mapped_column(Text)
    parts: Mapped[int] = mapped_column(Integer, default=1)
    encoding: Mapped[str] = mapped_column(String(5), default="gsm7")  # gsm7 | ucs2
    status: Mapped[str] = mapped_column(String(10))
    priority: Mapped[int] = mapped_column(Integer, default=5)  # 1 (first) … 9
    purpose: Mapped[str] = mapped_column(String(40), default="")  # reply, manual, password_reset, report_…
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    changes: Mapped[int] = mapped_column(Integer, default=0)  # status history rows so far (their seq)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")
    provider: Mapped[str] = mapped_column(String(40), default="")
    claimed_by: Mapped[str] = mapped_column(String(80), default="")  # the worker sending it
    claimed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    report_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    outbox_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    template_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reply_to_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_by_name: Mapped[str] = mapped_column(String(200), default="")
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # replied / made a report
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)  # accepted by a provider
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    part_ids: Mapped[list[SmsPart]] = relationship(order_by="SmsPart.seq", back_populates="message",
                                                     cascade="all, delete-orphan")
    history: Mapped[list[SmsStatusHistory]] = relationship(order_by="SmsStatusHistory.seq",
                                                             cascade="all, delete-orphan")

    __table_args__ = (
        Index("ix_sms_messages_org_created", "organization_id", "created_at"),
        Index("ix_sms_messages_created", "created_at"),  # retention (OPERATIONS.md), system-wide history
        Index("ix_sms_messages_org_phone_created", "organization_id", "phone", "created_at"),
        Index("ix_sms_messages_org_status_created", "organization_id", "status", "created_at"),
        # the sender's claim: due queued messages in priority order
        Index("ix_sms_messages_status_priority_due", "status", "priority", "next_attempt_at"),
    )


class SmsPart(IdMixin, Base):
    """A provider's id for one part of a message; unique per provider, so a duplicate incoming message
    or a receipt's id is stored once."""

    __tablename__ = "sms_message_parts"
    __table_args__ = (UniqueConstraint("provider", "provider_message_id", name="uq_sms_message_parts_provider_id"),)
    message_id: Mapped[str] = mapped_column(ForeignKey("sms_messages.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    provider: Mapped[str] = mapped_column(String(40))
    provider_message_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10), default="")  # the part's last receipt status
    error: Mapped[str] = mapped_column(String(300), default="")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    message: Mapped[SmsMessage] = relationship(back_populates="part_ids")


class SmsStatusHistory(IdMixin, Base):
    """Append-only: one row per status change, written in the same transaction as the change."""

    __tablename__ = "sms_status_history"
    __table_args__ = (UniqueConstraint("message_id", "seq", name="uq_sms_status_history_seq"),)
    message_id: Mapped[str] = mapped_column(ForeignKey("sms_messages.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    from_status: Mapped[str] = mapped_column(String(10), default="")
    to_status: Mapped[str] = mapped_column(String(10))
    provider: Mapped[str] = mapped_column(String(40), default="")
    note: Mapped[str] = mapped_column(String(500), default="")


class SmsUnmatchedReceipt(IdMixin, Base):
    """A delivery receipt whose provider id is not (yet) stored: an SMSC may report delivery before
    the submit's answer has been written; it is applied when the id is recorded."""

    __tablename__ = "sms_unmatched_receipts"
    __table_args__ = (UniqueConstraint("provider", "provider_message_id", "status",
                                       name="uq_sms_unmatched_receipts_id_status"),)
    provider: Mapped[str] = mapped_column(String(40))
    provider_message_id: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(10))
    error: Mapped[str] = mapped_column(String(300), default="")
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
