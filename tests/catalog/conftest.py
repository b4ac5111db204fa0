"""Catalog fixtures: areas loaded through the real loader (a few provinces, not the whole country,
unless a test is about the full load), categories built through the service."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from ketnoi.catalog.areas_data import load_areas
from ketnoi.catalog.models import Area

HANOI, HCMC = "01", "79"


@pytest.fixture
def areas(world, database):
    """Hà Nội and TP. Hồ Chí Minh in both schemes; returns a (scheme, code) -> id lookup."""
    with database.session() as s:
        load_areas(s, "2025", provinces=[HANOI, HCMC])
        load_areas(s, "legacy", provinces=[HANOI])
        ids = {(a.scheme, a.code): a.id for a in s.execute(select(Area.scheme, Area.code, Area.id))}
    return ids


def make_report(database, org_id: str, *, area_id: str | None = None, category_id: str | None = None) -> str:
    """A minimal report row pointing at an area or category (the reports domain has no service yet)."""
    from ketnoi.db.base import new_id
    from ketnoi.reports.models import Report

    with database.session() as s:
        rid = new_id()
        s.add(Report(id=rid, organization_id=org_id, code=f"PA-2026-{rid[:6]}", title="Phản ánh thử",
                     content="Nội dung", channel="phone", status="new", area_id=area_id, category_id=category_id))
        return rid
