"""Tables of the reports domain."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ketnoi.db.base import Base, IdMixin, TimestampMixin, UTCDateTime, utcnow

rule_categories = Table(
    "dispatch_rule_categories",
    Base.metadata,
    Column("rule_id", ForeignKey("dispatch_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("category_id", ForeignKey("categories.id", ondelete="CASCADE"), primary_key=True),
)
rule_areas = Table(
    "dispatch_rule_areas",
    Base.metadata,
    Column("rule_id", ForeignKey("dispatch_rules.id", ondelete="CASCADE"), primary_key=True),
    Column("area_id", ForeignKey("areas.id", ondelete="CASCADE"), primary_key=True),
)


class Report(IdMixin, TimestampMixin, Base):
    __tablename__ = "reports"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="RESTRICT"), index=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)  # PA-<year>-<seq>
    title: Mapped[str] = mapped_column(String(300))
    content: Mapped[str] = mapped_column(Text)
    channel: Mapped[str] = mapped_column(String(10), index=True)
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    status: Mapped[str] = mapped_column(String(24), index=True)
    citizen_name: Mapped[str] = mapped_column(String(200), default="")
    citizen_phone: Mapped[str] = mapped_column(String(20), default="", index=True)
    citizen_email: Mapped[str] = mapped_column(String(200), default="")
    citizen_address: Mapped[str] = mapped_column(String(500), default="")
    area_id: Mapped[str | None] = mapped_column(ForeignKey("areas.id", ondelete="RESTRICT"), nullable=True, index=True)
    latitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    longitude: Mapped[float | None] = mapped_column(Float, nullable=True)
    category_id: Mapped[str | None] = mapped_column(ForeignKey("categories.id", ondelete="RESTRICT"), nullable=True,
                                                    index=True)
    # the unit currently handling it, and its tree path for unit-scope filtering
    unit_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"), nullable=True,
                                                index=True)
    unit_path: Mapped[str] = mapped_column(String(1000), default="", index=True)
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True,
                                                    index=True)
    created_by_id: Mapped[str | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), nullable=True)
    source_call_id: Mapped[str] = mapped_column(String(64), default="")
    source_sms_id: Mapped[str] = mapped_column(String(64), default="")
    result: Mapped[str] = mapped_column(Text, default="")
    pending_note: Mapped[str] = mapped_column(Text, default="")  # the proposal awaiting the manager
    pending_support_unit_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True, index=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    version: Mapped[int] = mapped_column(Integer, default=1)

    history: Mapped[list[ReportHistory]] = relationship(order_by="ReportHistory.seq", back_populates="report")
    attachments: Mapped[list[ReportAttachment]] = relationship(order_by="ReportAttachment.created_at")
    support_units: Mapped[list[ReportSupportUnit]] = relationship()

    __table_args__ = (
        Index("ix_reports_org_status_received", "organization_id", "status", "received_at"),
        Index("ix_reports_org_unit_path", "organization_id", "unit_path"),
        # partial indexes over live (not deleted) reports, added by migration 0003 for the lists at scale
        *(Index(name, *cols, sqlite_where=text("deleted_at IS NULL"), postgresql_where=text("deleted_at IS NULL"),
                **extra) for name, cols, extra in (
            ("ix_reports_live_org_received", ("organization_id", "received_at"), {}),
            ("ix_reports_live_org_status_received", ("organization_id", "status", "received_at"), {}),
            ("ix_reports_live_org_status_due", ("organization_id", "status", "due_at"), {}),
            ("ix_reports_live_org_category_received", ("organization_id", "category_id", "received_at"), {}),
            ("ix_reports_live_org_unit_path", ("organization_id", "unit_path"),
             {"postgresql_ops": {"unit_path": "varchar_pattern_ops"}}),
            # migration 0009: the parts of a unit-scoped count (reports.service.unit_scope)
            ("ix_reports_live_created_by", ("created_by_id", "organization_id", "assignee_id"), {}),
            ("ix_reports_live_org_status_unit", ("organization_id", "status", "unit_path", "due_at"),
             {"postgresql_ops": {"unit_path": "varchar_pattern_ops"}}))),
    )
    # optimistic locking: a concurrent change of the same report fails with StaleDataError → 409
    __mapper_args__ = {"version_id_col": version}


class ReportHistory(IdMixin, Base):
    """One row per transition, written in the same transaction (CRM-04 processing progress)."""

    __tablename__ = "report_history"
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    actor_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), default="")
    action: Mapped[str] = mapped_column(String(30))
    from_status: Mapped[str] = mapped_column(String(24), default="")
    to_status: Mapped[str] = mapped_column(String(24))
    unit_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    unit_name: Mapped[str] = mapped_column(String(200), default="")
    assignee_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    assignee_name: Mapped[str] = mapped_column(String(200), default="")
    note: Mapped[str] = mapped_column(Text, default="")

    report: Mapped[Report] = relationship(back_populates="history")
    __table_args__ = (UniqueConstraint("report_id", "seq", name="uq_report_history_seq"),)


class ReportAttachment(IdMixin, Base):
    __tablename__ = "report_attachments"
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    storage_name: Mapped[str] = mapped_column(String(100))  # file under data_dir/uploads/reports
    uploaded_by_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class ReportSupportUnit(IdMixin, Base):
    """A supporting unit added to a report (CRM-17)."""

    __tablename__ = "report_support_units"
    report_id: Mapped[str] = mapped_column(ForeignKey("reports.id", ondelete="CASCADE"), index=True)
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id", ondelete="RESTRICT"))
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    __table_args__ = (UniqueConstraint("report_id", "department_id", name="uq_report_support_unit"),)


class ReportSequence(Base):
    """Per-year counter behind the human codes PA-<year>-<seq>."""

    __tablename__ = "report_sequences"
    year: Mapped[int] = mapped_column(Integer, primary_key=True)
    value: Mapped[int] = mapped_column(Integer, default=0)


class SlaRule(IdMixin, TimestampMixin, Base):
    """PERM-11: how long a unit has for a category's reports (unit empty = any unit)."""

    __tablename__ = "sla_rules"
    __table_args__ = (UniqueConstraint("organization_id", "category_id", "department_id", name="uq_sla_rule"),)
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    category_id: Mapped[str] = mapped_column(ForeignKey("categories.id", ondelete="CASCADE"))
    department_id: Mapped[str | None] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"), nullable=True)
    hours: Mapped[int] = mapped_column(Integer)
    working_hours: Mapped[bool] = mapped_column(Boolean, default=False)  # count only working time


class Holiday(IdMixin, Base):
    """Public holidays and days off of the working calendar (organization empty = nationwide)."""

    __tablename__ = "holidays"
    __table_args__ = (UniqueConstraint("organization_id", "day", name="uq_holidays_org_day"),)
    organization_id: Mapped[str | None] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"),
                                                        nullable=True)
    day: Mapped[str] = mapped_column(String(10))  # YYYY-MM-DD
    name: Mapped[str] = mapped_column(String(200))


class DispatchRule(IdMixin, TimestampMixin, Base):
    """CRM-37: categories × areas → the unit new matching reports go to at once."""

    __tablename__ = "dispatch_rules"
    organization_id: Mapped[str] = mapped_column(ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    department_id: Mapped[str] = mapped_column(ForeignKey("departments.id", ondelete="CASCADE"))
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    priority: Mapped[int] = mapped_column(Integer, default=100)  # lower first when several rules match

    categories = relationship("Category", secondary=rule_categories)
    areas = relationship("Area", secondary=rule_areas)


class NotificationSetting(IdMixin, TimestampMixin, Base):
    """PERM-10: which report events a user wants by SMS, with their text template."""

    __tablename__ = "notification_settings"
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    on_assignment: Mapped[bool] = mapped_column(Boolean, default=False)
    on_processing: Mapped[bool] = mapped_column(Boolean, default=False)
    on_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    template: Mapped[str] = mapped_column(String(320), default="")


# The free-text index follows every ORM write of a report, in the flush's transaction
# (ketnoi.reports.search; imported late: it needs the knowledge base's text analysis).
@event.listens_for(Report, "after_insert")
def _index_inserted(mapper, conn, target: Report) -> None:
    from ketnoi.reports import search

    search.on_insert(conn, target)


@event.listens_for(Report, "after_update")
def _index_updated(mapper, conn, target: Report) -> None:
    from ketnoi.reports import search

    search.on_update(conn, target)


@event.listens_for(Report, "before_delete")
def _unindex_deleted(mapper, conn, target: Report) -> None:
    from ketnoi.reports import search

    search.on_delete(conn, target)
