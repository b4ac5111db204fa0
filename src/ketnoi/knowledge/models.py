"""Tables of the knowledge base: procedures (questions) with answers and attachments, events,
and the API keys, nonces and call log of the signed partner API (KB-01)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

procedure_areas = Table(
    "procedure_areas",
    Base.metadata,
    Column("procedure_id", ForeignKey("procedures.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)

STATUSES = ("draft", "published", "hidden")
STATUS_LABELS = {"draft": "Bản nháp", "published": "Đã công bố", "hidden": "Đã ẩn"}


class Procedure(IdMixin, TimestampMixin, Base):
    """An administrative procedure (thủ tục hành chính): the 'question' of KB-02…11."""

    __tablename__ = "procedures"
    __table_args__ = (UniqueConstraint("organization_id", "code", name="uq_procedures_org_code"),
                      Index("ix_procedures_org_status", "organization_id", "status"))
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(50))  # ma_thu_tuc, e.g. 1.000894
    title: Mapped[str] = mapped_column(String(1000))  # ten_thu_tuc
    status: Mapped[str] = mapped_column(String(10), default="published")
    type_doc: Mapped[str] = mapped_column(String(100), default="", index=True)  # document folder (typeDoc)
    field: Mapped[str] = mapped_column(String(300), default="", index=True)  # linh_vuc
    level: Mapped[str] = mapped_column(String(200), default="")  # cap_thuc_hien
    agency: Mapped[str] = mapped_column(String(1000), default="")  # co_quan_thuc_hien
    authority: Mapped[str] = mapped_column(String(1000), default="")  # co_quan_co_tham_quyen
    procedure_type: Mapped[str] = mapped_column(String(300), default="")  # loai_thu_tuc
    subjects: Mapped[str] = mapped_column(String(1000), default="")  # doi_tuong_thuc_hien
    decision_no: Mapped[str] = mapped_column(String(200), default="")  # so_quyet_dinh
    source_url: Mapped[str] = mapped_column(String(500), default="")
    # the remaining sections as imported (steps, how to submit, documents, conditions, legal basis, result…)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    answers: Mapped[list[Answer]] = relationship(back_populates="procedure", order_by="Answer.sort_order",
                                                   cascade="all, delete-orphan")
    areas = relationship("Area", secondary=procedure_areas)


class Answer(IdMixin, TimestampMixin, Base):
    """One answer of a procedure (steps, documents, fees, time limit, legal basis…), rich text."""

    __tablename__ = "answers"
    procedure_id: Mapped[str] = mapped_column(ForeignKey("procedures.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500), default="")
    content: Mapped[str] = mapped_column(Text)  # sanitized HTML
    status: Mapped[str] = mapped_column(String(10), default="published")
    sort_order: Mapped[int] = mapped_column(Integer, default=0)

    procedure: Mapped[Procedure] = relationship(back_populates="answers")
    attachments: Mapped[list[KnowledgeAttachment]] = relationship(cascade="all, delete-orphan",
                                                                    order_by="KnowledgeAttachment.created_at")


class KnowledgeAttachment(IdMixin, Base):
    __tablename__ = "knowledge_attachments"
    answer_id: Mapped[str] = mapped_column(ForeignKey("answers.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(100))  # under data_dir/uploads/knowledge
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class KnowledgeEvent(IdMixin, TimestampMixin, Base):
    """An event (KB-22): a second searchable collection."""

    __tablename__ = "knowledge_events"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    title: Mapped[str] = mapped_column(String(500))
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    place: Mapped[str] = mapped_column(String(500), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[str] = mapped_column(String(10), default="published")


class ApiKey(IdMixin, Base):
    """A partner's key for signed requests. The secret is derived from the server secret and a
    per-key salt (HMAC), shown once at creation and never stored."""

    __tablename__ = "api_keys"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    key_id: Mapped[str] = mapped_column(String(40), unique=True)
    salt: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    scopes: Mapped[str] = mapped_column(String(200), default="knowledge.read")  # space-separated
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    replaced_by: Mapped[str | None] = mapped_column(String(40), nullable=True)  # key_id after rotation


class ApiNonce(Base):
    """Nonces seen within the freshness window, so a replayed request is refused."""

    __tablename__ = "api_nonces"
    key_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(100), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)


class ApiCallLog(IdMixin, Base):
    """Every signed call, accepted or refused (KB-01: every call is logged)."""

    __tablename__ = "api_call_log"
    key_id: Mapped[str] = mapped_column(String(40), default="", index=True)
    organization_id: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(String(40), default="")  # ok | bad_signature | replay | stale | ...
    ip: Mapped[str] = mapped_column(String(64), default="")
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
