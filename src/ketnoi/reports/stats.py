"""Report statistics for the dashboard: counts by status, category and unit, overdue reports and
the on-time rate over a period of reception, always inside the viewer's visibility (scope_filter)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from ketnoi.catalog.models import Category
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.reports.models import Report
from ketnoi.reports.service import scope_filter
from ketnoi.reports.workflow import RUNNING, STATUS_LABELS, Status

# Finished by the unit: the result was approved (and possibly already answered to the citizen).
PROCESSED = (Status.APPROVED.value, Status.CLOSED.value)


@dataclass
class Bucket:
    key: str | None
    label: str
    count: int


@dataclass
class Summary:
    since: datetime
    until: datetime
    total: int = 0
    overdue: int = 0  # received in the period, still running and past their due time now
    processed: int = 0  # approved or closed
    processed_with_due: int = 0
    on_time: int = 0  # processed, and the result came before the due time
    by_status: list[Bucket] = field(default_factory=list)
    by_category: list[Bucket] = field(default_factory=list)
    by_unit: list[Bucket] = field(default_factory=list)

    @property
    def on_time_rate(self) -> float | None:
        """Share of processed reports (with a due time) whose result came in time; None if none."""
        return self.on_time / self.processed_with_due if self.processed_with_due else None


def _in_period(stmt, p: Principal, since: datetime, until: datetime):
    return scope_filter(stmt, p).where(Report.received_at >= since, Report.received_at < until)


def summary(db: Session, p: Principal, since: datetime, until: datetime, *,
            now: datetime | None = None) -> Summary:
    """Aggregates over reports received in [since, until) that ``p`` may see."""
    now = now or utcnow()
    out = Summary(since=since, until=until)

    rows = db.execute(_in_period(select(Report.status, func.count()), p, since, until)
                      .group_by(Report.status)).all()
    counts = {status: n for status, n in rows}
    out.total = sum(counts.values())
    out.by_status = [Bucket(s.value, STATUS_LABELS[s], counts[s.value]) for s in Status if counts.get(s.value)]

    out.overdue = db.scalar(_in_period(select(func.count(Report.id)), p, since, until).where(
        Report.due_at < now, Report.status.in_([s.value for s in RUNNING]))) or 0

    # the unit's result time: when the specialist submitted it (resolved_at), else when it was closed
    finished = func.coalesce(Report.resolved_at, Report.closed_at)
    processed = _in_period(select(func.count(Report.id)), p, since, until).where(Report.status.in_(PROCESSED))
    out.processed = db.scalar(processed) or 0
    with_due = processed.where(Report.due_at.is_not(None))
    out.processed_with_due = db.scalar(with_due) or 0
    out.on_time = db.scalar(with_due.where(and_(finished.is_not(None), finished <= Report.due_at))) or 0

    cat_rows = db.execute(_in_period(select(Report.category_id, func.count()), p, since, until)
                          .group_by(Report.category_id)).all()
    names = {c.id: c.name for c in db.scalars(select(Category).where(
        Category.id.in_([c for c, _ in cat_rows if c])))} if cat_rows else {}
    out.by_category = sorted((Bucket(c, names.get(c, "—") if c else "(Chưa phân loại)", n) for c, n in cat_rows),
                             key=lambda b: (-b.count, b.label))

    unit_rows = db.execute(_in_period(select(Report.unit_id, func.count()), p, since, until)
                           .group_by(Report.unit_id)).all()
    units = {d.id: d.name for d in db.scalars(select(Department).where(
        Department.id.in_([u for u, _ in unit_rows if u])))} if unit_rows else {}
    out.by_unit = sorted((Bucket(u, units.get(u, "—") if u else "(Chưa điều phối)", n) for u, n in unit_rows),
                         key=lambda b: (-b.count, b.label))
    return out
