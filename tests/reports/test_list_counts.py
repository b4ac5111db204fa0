"""What keeps report lists and transitions fast at a million reports (docs/BENCHMARKS.md), checked
for meaning, not speed: totals counted over the disjoint parts of the unit scope are the same rows
as the scope's OR (CRM-11, 30, 34…36), a capped total reads "hơn …" in the console and
``total_capped`` in the API, a transition writes the report once (one version bump), and the
unit's officials to notify (PERM-10) come from one query."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import event, select, text

from ketnoi.core import listing
from ketnoi.core.listing import ListParams
from ketnoi.identity.models import Department, Organization, User
from ketnoi.identity.rbac import permissions_of
from ketnoi.identity.schemas import OrganizationPatch
from ketnoi.identity.service import update_organization
from ketnoi.reports import queries
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report, ReportSupportUnit
from ketnoi.reports.notify import unit_holders
from ketnoi.reports.service import create_report, delete_report, transition
from ketnoi.reports.workflow import Action, Status
from tests.conftest import login
from tests.factory import SYSTEM
from tests.reports.factory import COORDINATOR_ROLES, MANAGER_ROLES, PATHS, SPECIALIST_ROLES, ReportWorld
from tests.reports.test_console import login_as


@pytest.fixture
def rw(world):
    return ReportWorld(world)


class Statements:
    """The SQL statements an engine runs while the block is open."""

    def __init__(self, engine):
        self.engine, self.seen = engine, []

    def _before(self, conn, cursor, statement, parameters, context, executemany):
        self.seen.append(" ".join(statement.split()))

    def __enter__(self):
        event.listen(self.engine, "before_cursor_execute", self._before)
        return self.seen

    def __exit__(self, *exc):
        event.remove(self.engine, "before_cursor_execute", self._before)


@pytest.fixture
def scoped(rw):
    """Reports every branch of the unit scope reaches, brought there by the real workflow: the
    unit's subtree, a sub-unit, assigned to a sub-unit's specialist, supported by the unit,
    created by a unit-scoped official and handled elsewhere, deleted, another organization's."""
    w, d = rw.world, rw.world.dept
    people = {
        "child_specialist": w.user("cv.con", roles=SPECIALIST_ROLES, dept="A-CHILD"),
        "other_manager": w.user("ld.khac", roles=MANAGER_ROLES, dept="A-OTHER"),
        "creator": w.user("tiepnhan", roles=["home", "reports.read", "reports.create"], dept="A-ROOT"),
        "coordinator_b": w.user("dpv.b", org="b", roles=COORDINATOR_ROLES, dept=None),
    }

    def act(who: str, rid: str, action: Action, **extra) -> None:
        with rw.db.session() as s:
            transition(s, rw.principal(who), rid, S.TransitionIn(action=action, note="Ghi chú", **extra))

    rw.report_in(Status.NEW)
    rw.report_in(Status.IN_PROGRESS)
    rw.report_in(Status.CLOSED)
    rw.report_in(Status.SPAM)
    child = rw.report_in(Status.DISPATCHED)
    act(rw.manager, child, Action.ASSIGN_SUBUNIT, unit_id=d["A-CHILD"])
    to_child_specialist = rw.report_in(Status.DISPATCHED)
    act(rw.manager, to_child_specialist, Action.ASSIGN_SPECIALIST, assignee_id=people["child_specialist"])
    supported = rw.new_report(title="Cần đơn vị phối hợp")
    act(rw.coordinator, supported, Action.DISPATCH, unit_id=d["A-OTHER"])
    act(people["other_manager"], supported, Action.ASSIGN_SPECIALIST, assignee_id=rw.other_specialist)
    act(rw.other_specialist, supported, Action.PROPOSE_SUPPORT, support_unit_id=d["A-ROOT"])
    act(people["other_manager"], supported, Action.APPROVE_PROPOSAL)
    with rw.db.session() as s:
        created = create_report(s, rw.principal(people["creator"]), S.ReportIn(
            title="Tiếp nhận tại đơn vị", content="Nội dung", channel=S.Channel.WALK_IN, category_id=rw.waste)).id
    act(rw.coordinator, created, Action.DISPATCH, unit_id=d["A-OTHER"])
    deleted = rw.new_report()
    with rw.db.session() as s:
        delete_report(s, rw.actor("coordinator"), deleted)
    with rw.db.session() as s:
        b = rw.principal(people["coordinator_b"])
        create_report(s, b, S.ReportIn(title="Tỉnh B", content="Nội dung", channel=S.Channel.SMS))
    return people


def _visible(s, p, r: Report) -> bool:
    """The unit scope as written in words (reports.service.scope_filter)."""
    if r.deleted_at is not None or r.organization_id != p.organization_id:
        return False
    if p.unit_path is None:
        return True
    support_paths = [s.get(Department, u.department_id).path for u in r.support_units]
    return (r.unit_path.startswith(p.unit_path) or r.assignee_id == p.user_id or r.created_by_id == p.user_id
            or any(path.startswith(p.unit_path) for path in support_paths))


def test_counts_over_scope_parts_are_the_rows_of_the_scope(rw, scoped):
    d = rw.world.dept
    who = {"coordinator": rw.coordinator, "manager": rw.manager, "specialist": rw.specialist, **scoped}
    cases = [queries.ReportFilters(view=v) for v in queries.VIEWS] + [
        queries.ReportFilters(unit_id=d[u]) for u in ("A-ROOT", "A-CHILD", "A-OTHER")] + [
        queries.ReportFilters(view="mine", unit_id=d["A-ROOT"]), queries.ReportFilters(status="in_progress"),
        queries.ReportFilters(view="in_progress", unit_id=d["A-OTHER"])]
    seen_scoped = 0
    with rw.db.session() as s:
        everything = list(s.scalars(select(Report)))
        for name, uid in who.items():
            p = rw.principal(uid)
            seen_scoped += p.unit_path is not None
            for f in cases:
                rows = {r.id for r in s.scalars(queries.filtered(s, p, f))}
                assert queries.count_reports(s, p, f) == (len(rows), False), (name, f)
                page = queries.list_reports(s, p, ListParams(page=1, page_size=1), f, count_cap=None)
                assert page.total == len(rows), (name, f)
                if len(rows) > 1:
                    assert queries.count_reports(s, p, f, cap=1) == (1, True)
                if f.view in ("all", "mine", "unit") and not f.status:  # against the rules in words
                    unit_id = f.unit_id or (p.department_id if f.view == "unit" else None)
                    unit = s.get(Department, unit_id) if unit_id else None
                    want = {r.id for r in everything if _visible(s, p, r)
                            and (f.view != "mine" or p.user_id in (r.assignee_id, r.created_by_id))
                            and (not unit or r.unit_path.startswith(unit.path))
                            and (f.view != "unit" or unit is not None)}
                    assert rows == want, (name, f)
    assert seen_scoped >= 4
    with rw.db.session() as s:  # every branch of the scope was reached by some report
        manager = rw.principal(rw.manager)
        assert queries.count_reports(s, manager, queries.ReportFilters())[0] < len(everything) - 2
        assert s.scalar(select(ReportSupportUnit.id)) is not None


def test_unit_filter_count_walks_the_unit_path_index_on_sqlite(rw, database):
    """SQLite: the unit filter's prefix is a range the partial unit-path index serves (a LIKE with
    a bound pattern would read every report of the organization)."""
    if database.dialect != "sqlite":
        pytest.skip("SQLite's planner only; PostgreSQL keeps LIKE with its varchar_pattern_ops index")
    with rw.db.session() as s:
        p = rw.actor("coordinator")
        f = queries.ReportFilters(unit_id=rw.world.dept["A-ROOT"])
        (part,) = queries._plan(s, p, f)[1]
        sql = str(part.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " ".join(str(row[-1]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql)))
    assert "ix_reports_live_org_unit_path" in plan and "unit_path>?" in plan.replace(" ", ""), plan


def test_unit_path_range_serves_generic_plans_on_postgresql(rw, database):
    """PostgreSQL: psycopg prepares a statement after five runs and the server may then plan it
    once for any parameters. ``LIKE $1 || '%'`` cannot become an index range in such a plan (the
    whole organization is read); the pattern-operator range can."""
    if database.dialect != "postgresql":
        pytest.skip("PostgreSQL's plan cache only")
    with rw.db.session() as s:
        f = queries.ReportFilters(unit_id=rw.world.dept["A-ROOT"])
        (part,) = queries._plan(s, rw.actor("coordinator"), f)[1]
        compiled = part.compile(s.get_bind(), compile_kwargs={"render_postcompile": True})
        names = list(compiled.params)
        sql = str(compiled)
        for k, name in enumerate(names, 1):
            sql = sql.replace(f"%({name})s", f"${k}")
        s.execute(text("SET LOCAL plan_cache_mode = force_generic_plan"))
        s.execute(text("SET LOCAL enable_seqscan = off"))
        s.connection().exec_driver_sql("PREPARE unit_part AS " + sql)
        values = ", ".join("NULL" if compiled.params[n] is None else f"'{compiled.params[n]}'" for n in names)
        plan = [r[0] for r in s.connection().exec_driver_sql(f"EXPLAIN EXECUTE unit_part({values})")]
        s.connection().exec_driver_sql("DEALLOCATE unit_part")
    conds = [line for line in plan if "Index Cond" in line]
    assert any(re.search(r"unit_path\S* ~>=~ \(?\$\d", c) and re.search(r"unit_path\S* ~<~ \(?\$\d", c)
               for c in conds), plan


def test_capped_total_in_api_and_console(client, rw, monkeypatch):
    for i in range(5):
        rw.new_report(title=f"Phản ánh số {i}")
    monkeypatch.setattr(listing, "COUNT_CAP", 3)
    h = login(client, "dieuphoi")
    body = client.get("/api/v1/reports?page_size=2", headers=h).json()
    assert (body["total"], body["total_capped"], len(body["items"])) == (3, True, 2)
    last = client.get("/api/v1/reports?page_size=2&page=3", headers=h).json()
    assert (last["total"], last["total_capped"], len(last["items"])) == (5, False, 1)  # the last page knows

    login_as(client, "dieuphoi")
    html = client.get("/reports?page_size=2").text
    assert re.search(r"Tổng cộng <strong>hơn 3</strong> bản ghi · Trang 1\s*<", html), html
    assert 'aria-label="Trang sau"' in html and 'class="count">3+<' in html  # the "all" tab, capped too
    html = client.get("/reports?page_size=2&page=3").text
    assert "Tổng cộng <strong>5</strong> bản ghi · Trang 3/3" in html and 'aria-label="Trang sau"' not in html


def test_transition_writes_the_report_once(rw):
    """Dispatch looks up the SLA rule between its changes; they still reach the database in one
    UPDATE, so the version moves by one per transition."""
    for status in (Status.CLOSED, Status.SUPPORT_PROPOSED, Status.OUT_OF_AREA):
        rid = rw.new_report()
        for action in PATHS[status] + ([Action.APPROVE_PROPOSAL] if status == Status.SUPPORT_PROPOSED else []):
            with rw.db.session() as s:
                before = s.get(Report, rid).version
            with Statements(rw.db.engine) as seen, rw.db.session() as s:
                transition(s, rw.actor(ACTOR[action]), rid, rw.payload(action))
            updates = [q for q in seen if q.startswith("UPDATE reports ")]
            assert len(updates) == 1, (action, updates)
            with rw.db.session() as s:
                assert s.get(Report, rid).version == before + 1, action


ACTOR = {Action.DISPATCH: "coordinator", Action.CLOSE: "coordinator", Action.ASSIGN_SPECIALIST: "manager",
         Action.APPROVE: "manager", Action.APPROVE_PROPOSAL: "manager", Action.SUBMIT_RESULT: "specialist",
         Action.PROPOSE_SUPPORT: "specialist", Action.PROPOSE_OUT_OF_AREA: "specialist"}


def _holders_one_by_one(s, unit_id: str | None, permission: str) -> set[str]:
    """The rule in words: active users of the unit holding the permission, else the parent's."""
    while unit_id:
        users = {u.id for u in s.scalars(select(User).where(User.department_id == unit_id, User.is_active.is_(True)))
                 if permission in permissions_of(s, u)}
        if users:
            return users
        unit_id = s.get(Department, unit_id).parent_id
    return set()


def test_unit_holders_in_one_query(rw, scoped):
    d = rw.world.dept
    rw.world.user("ld.cu", roles=MANAGER_ROLES, dept="A-ROOT", is_active=False)
    rw.world.user("ld.b", org="b", roles=MANAGER_ROLES, dept="B1")
    # a group organization B no longer allows grants nothing there, though organization A allows it
    rw.world.user("ld.b2", org="b", roles=MANAGER_ROLES + ["reports.create"], dept="B1")
    with rw.db.session() as s:
        org_b = s.get(Organization, rw.world.org_b)
        kept = [g.id for g in org_b.groups if g.code != "G-ld.b2"]
        update_organization(s, SYSTEM, rw.world.org_b, OrganizationPatch(group_ids=kept))
    cases = [(unit, perm) for unit in ("A-ROOT", "A-CHILD", "A-OTHER", "B1")
             for perm in ("reports.assign", "reports.approve", "reports.process", "reports.create", "reports",
                          "reports.delete")]
    found = 0
    for unit, perm in cases:
        with rw.db.session() as s:
            want = _holders_one_by_one(s, d[unit], perm)
        with Statements(rw.db.engine) as seen, rw.db.session() as s:
            got = {u.id for u in unit_holders(s, d[unit], perm)}
        assert got == want, (unit, perm)
        assert len(seen) == 1, seen
        found += bool(got)
    assert found >= 8
    with rw.db.session() as s:
        b_create = {u.id for u in unit_holders(s, d["B1"], "reports.create")}
        assert b_create == _holders_one_by_one(s, d["B1"], "reports.create") == set()
    with rw.db.session() as s:  # the sub-unit has no manager: its parent's answers
        assert {u.id for u in unit_holders(s, d["A-CHILD"], "reports.assign")} == {rw.manager}
        assert unit_holders(s, None, "reports.assign") == []
