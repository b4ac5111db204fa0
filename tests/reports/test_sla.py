"""Deadlines (PERM-11): calendar hours, working hours with lunch breaks, weekends and holidays."""

from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from ketnoi.reports.sla import WorkingCalendar, parse_intervals

VN = ZoneInfo("Asia/Ho_Chi_Minh")


def cal(holidays=()):
    return WorkingCalendar(parse_intervals("07:30-11:30,13:30-17:00"), {1, 2, 3, 4, 5}, set(holidays),
                           "Asia/Ho_Chi_Minh")


def at(y, m, d, hh, mm=0):
    return datetime(y, m, d, hh, mm, tzinfo=VN)


def test_within_a_morning():
    assert cal().add(at(2026, 11, 23, 8), 2) == at(2026, 11, 23, 10)


def test_skips_lunch_break():
    # Monday 10:30 + 3 h = 1 h before lunch, 2 h after → 15:30
    assert cal().add(at(2026, 11, 23, 10, 30), 3) == at(2026, 11, 23, 15, 30)


def test_skips_night_and_weekend():
    # Friday 16:00 + 2 h → 1 h on Friday, 1 h on Monday from 07:30
    assert cal().add(at(2026, 11, 27, 16), 2) == at(2026, 11, 30, 8, 30)


def test_report_received_at_night_starts_next_morning():
    assert cal().add(at(2026, 11, 23, 22), 1) == at(2026, 11, 24, 8, 30)


def test_holidays_are_skipped():
    # 2 Sep 2026 is a Wednesday holiday; Tuesday 1 Sep too
    c = cal({date(2026, 9, 1), date(2026, 9, 2)})
    assert c.add(at(2026, 8, 31, 16), 4) == at(2026, 9, 3, 10, 30)


def test_working_hours_between_is_inverse_of_add():
    c = cal()
    start = at(2026, 11, 23, 9, 15)
    for h in (1, 5, 7.5, 24, 40):
        assert abs(c.working_hours_between(start, c.add(start, h)) - h) < 1e-6


def test_eight_hour_sla_is_one_working_day_minus_half_hour():
    # 7.5 working hours a day: 8 h from Monday 07:30 ends Tuesday 08:00
    assert cal().add(datetime.combine(date(2026, 11, 23), time(7, 30), VN), 8) == at(2026, 11, 24, 8)
