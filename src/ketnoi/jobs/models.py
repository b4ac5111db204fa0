"""The job queue table. Any node may claim a queued row (SKIP LOCKED on PostgreSQL, a guarded
UPDATE on SQLite); the claimant keeps ``heartbeat_at`` fresh so a crashed node's work is re-queued."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from ketnoi.db.base import Base, IdMixin, UTCDateTime, utcnow


class Job(IdMixin, Base):
    __tablename__ = "jobs"
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                        nullable=True, index=True)
    kind: Mapped[str] = mapped_column(String(60))  # a registered handler, e.g. reports.export
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(10), default="queued")  # queued|running|done|failed
    progress: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str] = mapped_column(String(500), default="")
    result_file: Mapped[str] = mapped_column(String(200), default="")  # under data_dir/exports
    result_name: Mapped[str] = mapped_column(String(200), default="")  # the name offered on download
    error: Mapped[str] = mapped_column(Text, default="")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    worker: Mapped[str] = mapped_column(String(200), default="")  # host:pid:boot of the claimant
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                      index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __table_args__ = (Index("ix_jobs_status_created", "status", "created_at"),)
