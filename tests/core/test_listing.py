"""Paging shared by every list (API.md lists): the total counted up to a cap ("hơn 10.000"), counts
over disjoint parts, and the tree-path prefix test that an index can serve on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import event, func, select

from ketnoi.core import listing
from ketnoi.core.listing import ListParams, Page, count_rows, paginate, path_startswith
from ketnoi.identity.models import Department

SORT = {"code": Department.code}


@pytest.fixture
def depts(world):
    """Twelve more departments of organization A (sixteen in all with the world's four)."""
    with world.db.session() as s:
        for i in range(12):
            s.add(Department(organization_id=world.org_a, code=f"X{i:02d}", name=f"Phòng {i}", path=f"/x{i}/"))
    return world


def _org_a(world):
    return select(Department).where(Department.organization_id == world.org_a)


def _count_statements(engine):
    seen: list[str] = []

    def before(conn, cursor, statement, parameters, context, executemany):
        seen.append(statement)

    event.listen(engine, "before_cursor_execute", before)
    return seen, lambda: event.remove(engine, "before_cursor_execute", before)


def test_total_is_exact_under_the_cap_and_capped_over_it(depts):
    with depts.db.session() as s:
        exact = s.scalar(select(func.count()).select_from(_org_a(depts).subquery()))
        assert exact == 15  # A-ROOT, A-CHILD, A-OTHER and the twelve
        page = paginate(s, _org_a(depts), ListParams(page=1, page_size=4), SORT, "code", count_cap=100)
        assert (page.total, page.total_capped, len(page.items), page.pages) == (15, False, 4, 4)
        page = paginate(s, _org_a(depts), ListParams(page=1, page_size=4), SORT, "code", count_cap=15)
        assert (page.total, page.total_capped) == (15, False)  # exactly the cap is still exact
        page = paginate(s, _org_a(depts), ListParams(page=1, page_size=4), SORT, "code", count_cap=10)
        assert (page.total, page.total_capped, len(page.items)) == (10, True, 4)
        assert page.as_dict(lambda d: d.code)["total_capped"] is True
        assert [d.code for d in page.items] == sorted(d.code for d in s.scalars(_org_a(depts)))[:4]
        page = paginate(s, _org_a(depts), ListParams(page=1, page_size=4), SORT, "code", count_cap=None)
        assert (page.total, page.total_capped) == (15, False)


def test_default_cap_is_the_module_setting(depts, monkeypatch):
    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    with depts.db.session() as s:
        page = paginate(s, _org_a(depts), ListParams(page=2, page_size=3), SORT, "code")
        assert (page.total, page.total_capped) == (5, True)


def test_last_page_needs_no_count(depts):
    """A page shorter than the page size ends the list: its total is known without a COUNT."""
    seen, stop = _count_statements(depts.db.engine)
    try:
        with depts.db.session() as s:
            page = paginate(s, _org_a(depts), ListParams(page=4, page_size=4), SORT, "code", count_cap=2)
            assert (page.total, page.total_capped, len(page.items)) == (15, False, 3)
            assert not any("count(" in q.lower() for q in seen)
            page = paginate(s, _org_a(depts), ListParams(page=9, page_size=4), SORT, "code", count_cap=None)
            assert (page.total, page.items) == (15, [])  # past the end: counted
            assert any("count(" in q.lower() for q in seen)
    finally:
        stop()


def test_pages_known_past_the_cap():
    """Past the cap the pager offers the pages up to the cap and the next one after a full page."""
    full = list(range(20))
    assert Page(full, 1, 20, 10_000, True).pages == 501  # row 10,001 is on page 501
    assert Page(full, 1, 30, 10_000, True).pages == 334  # row 10,001 is on page 334 with rows 9,991…
    assert Page(full, 700, 20, 10_000, True).pages == 701
    assert Page(full[:5], 700, 20, 10_000, True).pages == 700
    assert Page(full, 1, 20, 40, False).pages == 2


def test_counts_over_disjoint_parts_add_up_and_share_the_cap(depts):
    parts = [_org_a(depts).where(Department.code < "X05"), _org_a(depts).where(Department.code >= "X05")]
    with depts.db.session() as s:
        assert count_rows(s, parts, None) == (15, False)
        assert count_rows(s, parts, 100) == (15, False)
        assert count_rows(s, parts, 9) == (9, True)
        page = paginate(s, _org_a(depts), ListParams(page=1, page_size=2), SORT, "code", count_parts=parts,
                        count_cap=None)
        assert (page.total, page.total_capped) == (15, False)


PATHS = ["/1/", "/1/2/", "/1/2/3/", "/1/2/3/4/", "/1/20/", "/1/20/5/", "/1/2", "/1/3/", "/10/2/", "/1/2x/",
         "/1/2./", "/1/2/\u1ea1/", "/", ""]


@pytest.mark.parametrize("prefix", ["/1/2/", "/1/", "/1/2/3/", "/1/20/", "/10/", "/9/", "/1/2/\u1ea1/", "/"])
def test_path_prefix_matches_exactly_the_subtree(world, prefix):
    """``path_startswith`` (a range on SQLite, LIKE elsewhere) selects the same rows as a string
    prefix test, siblings sharing leading characters (/1/2/ and /1/20/) kept apart."""
    with world.db.session() as s:
        for i, path in enumerate(PATHS):
            s.add(Department(organization_id=world.org_b, code=f"P{i:02d}", name=f"Đơn vị {i}", path=path))
        s.flush()
        mine = select(Department.path).where(Department.organization_id == world.org_b,
                                             Department.code.startswith("P"))
        got = sorted(s.scalars(mine.where(path_startswith(Department.path, prefix))))
        like = sorted(s.scalars(mine.where(Department.path.startswith(prefix))))
        assert got == like == sorted(p for p in PATHS if p.startswith(prefix))
        outside = sorted(s.scalars(mine.where(~path_startswith(Department.path, prefix))))
        assert outside == sorted(p for p in PATHS if not p.startswith(prefix))


def test_path_prefix_is_an_index_range_with_bound_parameters(database):
    """A range, not LIKE: SQLite's LIKE never uses an index with a bound pattern, and PostgreSQL
    turns ``LIKE $1 || '%'`` into an index range only in a custom plan, not in the generic plan a
    prepared statement gets after five runs."""
    stmt = select(Department.id).where(path_startswith(Department.path, "/a/b/"))
    compiled = stmt.compile(database.engine)
    assert set(compiled.params.values()) == {"/a/b/", "/a/b0"} and "LIKE" not in str(compiled)
    if database.dialect == "sqlite":
        assert "departments.path >= " in str(compiled) and "departments.path < " in str(compiled)
    else:  # byte-wise pattern operators: what a varchar_pattern_ops index serves, whatever the collation
        assert "departments.path ~>=~ " in str(compiled) and "departments.path ~<~ " in str(compiled)
