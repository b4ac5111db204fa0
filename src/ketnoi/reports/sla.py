"""Deadlines (PERM-11): calendar hours, or working hours of a calendar with public holidays."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from ketnoi.reports.models import Holiday, SlaRule
from ketnoi.settings import get_settings

HOLIDAYS_FILE = Path(__file__).resolve().parent / "data" / "holidays_vn.json"


def parse_intervals(spec: str) -> list[tuple[time, time]]:
    out = []
    for part in spec.split(","):
        start, end = part.strip().split("-")
        out.append((time.fromisoformat(start), time.fromisoformat(end)))
    return sorted(out)


class WorkingCalendar:
    """Working intervals on working days, minus holidays, in the platform's time zone."""

    def __init__(self, intervals: list[tuple[time, time]], weekdays: set[int], holidays: set[date], tz: str):
        self.intervals, self.weekdays, self.holidays = intervals, weekdays, holidays
        self.tz = ZoneInfo(tz)

    def is_working_day(self, d: date) -> bool:
        return d.isoweekday() in self.weekdays and d not in self.holidays

    def add(self, start: datetime, hours: float) -> datetime:
        """The moment ``hours`` of working time after ``start``."""
        remaining = timedelta(hours=hours)
        local = start.astimezone(self.tz)
        day = local.date()
        for _ in range(3660):  # at most ten years of days
            if self.is_working_day(day):
                for a, b in self.intervals:
                    seg_start = datetime.combine(day, a, self.tz)
                    seg_end = datetime.combine(day, b, self.tz)
                    if seg_end <= local:
                        continue
                    begin = max(seg_start, local)
                    available = seg_end - begin
                    if available >= remaining:
                        return (begin + remaining).astimezone(start.tzinfo)
                    remaining -= available
            day += timedelta(days=1)
            local = datetime.combine(day, time(0), self.tz)
        raise ValueError("working calendar has no working time")

    def working_hours_between(self, start: datetime, end: datetime) -> float:
        if end <= start:
            return 0.0
        total = timedelta()
        day = start.astimezone(self.tz).date()
        last = end.astimezone(self.tz).date()
        while day <= last:
            if self.is_working_day(day):
                for a, b in self.intervals:
                    s = max(datetime.combine(day, a, self.tz), start)
                    e = min(datetime.combine(day, b, self.tz), end)
                    if e > s:
                        total += e - s
            day += timedelta(days=1)
        return total.total_seconds() / 3600


@lru_cache
def default_holidays() -> tuple[tuple[str, str], ...]:
    data = json.loads(HOLIDAYS_FILE.read_text(encoding="utf-8"))
    return tuple((h["day"], h["name"]) for h in data["holidays"])


def calendar_for(db: Session, organization_id: str | None) -> WorkingCalendar:
    s = get_settings()
    days = {d for (d,) in db.execute(select(Holiday.day).where(
        or_(Holiday.organization_id.is_(None), Holiday.organization_id == organization_id)))}
    return WorkingCalendar(parse_intervals(s.working_hours), {int(x) for x in s.working_days.split(",") if x.strip()},
                           {date.fromisoformat(d) for d in days}, s.timezone)


def find_rule(db: Session, organization_id: str, category_id: str | None, unit_id: str | None) -> SlaRule | None:
    """The most specific rule: category × unit, then category × any unit, walking up the category tree."""
    if not category_id:
        return None
    from ketnoi.catalog.models import Category

    seen = set()
    cat_id: str | None = category_id
    while cat_id and cat_id not in seen:
        seen.add(cat_id)
        rules = db.scalars(select(SlaRule).where(SlaRule.organization_id == organization_id,
                                                 SlaRule.category_id == cat_id)).all()
        for r in rules:
            if unit_id and r.department_id == unit_id:
                return r
        for r in rules:
            if r.department_id is None:
                return r
        cat = db.get(Category, cat_id)
        cat_id = cat.parent_id if cat else None
    return None


def due_time(db: Session, organization_id: str, category_id: str | None, unit_id: str | None,
             start: datetime) -> tuple[datetime, int, bool]:
    """(due time, hours, counted in working hours?) for a report dispatched at ``start``."""
    rule = find_rule(db, organization_id, category_id, unit_id)
    hours = rule.hours if rule else get_settings().report_default_sla_hours
    working = rule.working_hours if rule else False
    if working:
        return calendar_for(db, organization_id).add(start, hours), hours, True
    return start + timedelta(hours=hours), hours, False
