"""Benchmark of citizen reports at scale: list/filter queries, detail, workflow transitions and the
Excel export, on SQLite and on a throw-away PostgreSQL cluster (docs/BENCHMARKS.md).

    .venv/bin/python bench/reports.py                    # 1,000,000 reports, both databases
    .venv/bin/python bench/reports.py --n 200000 --db sqlite --explain

Reports are generated with realistic distributions (statuses by age, categories, a small unit
tree, areas, two years of dates, their processing history) and bulk-loaded (sqlite3 executemany,
PostgreSQL COPY) into a database migrated by the app's own start-up preparation. Every measured
operation goes through the application code (``queries.list_reports``, ``service.get_report`` +
``to_out``, ``service.transition``, ``export.write_workbook``) in a fresh session.
"""

from __future__ import annotations

import argparse
import atexit
import math
import os
import platform
import queue
import random
import shutil
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
import tracemalloc
from bisect import bisect
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import accumulate
from operator import itemgetter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
if "KETNOI_DATA_DIR" not in os.environ:  # the bench's own settings directory, removed at exit
    os.environ["KETNOI_DATA_DIR"] = tempfile.mkdtemp(prefix="ketnoi-bench-data-")
    atexit.register(shutil.rmtree, os.environ["KETNOI_DATA_DIR"], True)

from sqlalchemy import event, func, select, text

from ketnoi.bootstrap import prepare
from ketnoi.catalog.models import Area, Category
from ketnoi.core.listing import COUNT_CAP, ListParams
from ketnoi.db.session import Database
from ketnoi.identity.models import Department, Organization, PermissionGroup, User
from ketnoi.identity.principal import Principal
from ketnoi.reports import export, queries, search, service
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report, ReportHistory, ReportSequence, SlaRule
from ketnoi.reports.workflow import Action
from ketnoi.settings import get_settings

DAY = timedelta(days=1)
REPORT_COLS = [c.name for c in Report.__table__.columns]
HISTORY_COLS = [c.name for c in ReportHistory.__table__.columns]
CHANNELS = (["phone"] * 55 + ["sms"] * 15 + ["app"] * 15 + ["web"] * 8 + ["zalo"] * 5 + ["walk_in", "video"])
PRIORITIES = ["normal"] * 80 + ["high"] * 12 + ["low"] * 5 + ["urgent"] * 3
PROBLEMS = ["Rác thải ùn ứ", "Đèn đường hỏng", "Ổ gà trên đường", "Cây xanh gãy đổ", "Ngập nước sau mưa",
            "Lấn chiếm vỉa hè", "Tiếng ồn karaoke ban đêm", "Cống thoát nước bị tắc", "Xây dựng không phép",
            "Nước sinh hoạt bị đục", "Mất điện kéo dài", "Đổ trộm phế thải", "Biển báo bị che khuất",
            "Chó thả rông", "Khói bụi từ công trình"]
STREETS = ["Lê Duẩn", "Trần Phú", "Nguyễn Văn Linh", "Hùng Vương", "Bạch Đằng", "Điện Biên Phủ", "Ông Ích Khiêm",
           "Hoàng Diệu", "Núi Thành", "Ngô Quyền", "Phan Châu Trinh", "Lê Lợi", "Nguyễn Tất Thành", "2 Tháng 9"]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Huỳnh", "Phan", "Vũ", "Võ", "Đặng", "Bùi", "Đỗ", "Hồ", "Ngô"]
MIDDLE = ["Văn", "Thị", "Hữu", "Đức", "Minh", "Thanh", "Ngọc", "Quốc"]
GIVEN = ["An", "Bình", "Cường", "Dũng", "Hà", "Hải", "Hạnh", "Hoa", "Hùng", "Lan", "Linh", "Long", "Mai", "Nam",
         "Phong", "Phúc", "Quân", "Sơn", "Tâm", "Thảo", "Trang", "Tuấn", "Vy", "Yến"]
# the workflow path behind each status: (action, from, to)
PATHS = {
    "new": [], "dispatched": ["dispatch"], "assigned": ["dispatch", "assign_specialist"],
    "in_progress": ["dispatch", "assign_specialist", "start"],
    "awaiting_approval": ["dispatch", "assign_specialist", "start", "submit_result"],
    "approved": ["dispatch", "assign_specialist", "start", "submit_result", "approve"],
    "closed": ["dispatch", "assign_specialist", "start", "submit_result", "approve", "close"],
    "spam": ["mark_spam"], "spam_proposed": ["dispatch", "assign_specialist", "propose_spam"],
    "out_of_area": ["dispatch", "assign_specialist", "propose_out_of_area", "approve_proposal"],
    "support_proposed": ["dispatch", "assign_specialist", "start", "propose_support"],
}
TO = {"create": "new", "dispatch": "dispatched", "assign_specialist": "assigned", "start": "in_progress",
      "submit_result": "awaiting_approval", "approve": "approved", "close": "closed", "mark_spam": "spam",
      "propose_spam": "spam_proposed", "propose_out_of_area": "out_of_area_proposed",
      "approve_proposal": "out_of_area", "propose_support": "support_proposed"}
# status mix by age of the report: the older, the more likely it is finished
MIX = [
    (1, {"new": 40, "dispatched": 25, "assigned": 15, "in_progress": 15, "spam": 5}),
    (7, {"new": 5, "dispatched": 10, "assigned": 10, "in_progress": 30, "awaiting_approval": 10, "approved": 5,
         "closed": 20, "spam": 5, "spam_proposed": 1, "out_of_area": 2, "support_proposed": 2}),
    (30, {"dispatched": 2, "assigned": 2, "in_progress": 10, "awaiting_approval": 5, "approved": 3, "closed": 70,
          "spam": 6, "out_of_area": 1, "support_proposed": 1}),
    (10**6, {"dispatched": 0.5, "assigned": 0.5, "in_progress": 2, "awaiting_approval": 1, "approved": 1,
             "closed": 88, "spam": 7}),
]


def ms(seconds: float) -> float:
    return round(seconds * 1000, 1)


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


# --- reference data -----------------------------------------------------------------------------
@dataclass
class Reference:
    org: str
    org2: str
    units: list[Department]  # top units first, then their children
    top: list[Department]
    children: dict[str, list[Department]]
    managers: dict[str, str]
    specialists: dict[str, list[str]]  # unit id -> user ids
    coordinators: list[str]
    categories: list[tuple[str, int]]  # leaf id, SLA hours
    unit_of_category: dict[str, str]
    areas: list[str]
    org2_category: str
    names: dict[str, str] = field(default_factory=dict)  # user id -> full name


def seed_reference(db: Database, rng: random.Random) -> Reference:
    """Organizations, a unit tree (12 departments × 3 sub-units), people with the default permission
    groups, 12 × 4 categories with SLA rules, a province with 100 wards."""
    with db.session() as s:
        groups = {g.code: g for g in s.scalars(select(PermissionGroup))}
        org = Organization(code="DN", name="Thành phố Đà Nẵng", groups=list(groups.values()))
        org2 = Organization(code="QN", name="Tỉnh Quảng Nam", groups=list(groups.values()))
        s.add_all([org, org2])
        s.flush()
        top, children, units = [], {}, []
        for i in range(12):
            d = Department(organization_id=org.id, code=f"SO{i:02d}", name=f"Sở số {i + 1}", path="")
            s.add(d)
            s.flush()
            d.path = f"/{d.id}/"
            top.append(d)
            children[d.id] = []
            for j in range(3):
                c = Department(organization_id=org.id, code=f"SO{i:02d}-P{j}", name=f"Phòng {j + 1} – Sở {i + 1}",
                               parent_id=d.id, path="")
                s.add(c)
                s.flush()
                c.path = f"{d.path}{c.id}/"
                children[d.id].append(c)
        units = top + [c for d in top for c in children[d.id]]
        d2 = Department(organization_id=org2.id, code="QN-1", name="Sở Quảng Nam", path="")
        s.add(d2)
        s.flush()
        d2.path = f"/{d2.id}/"

        def person(username: str, name: str, dept: str | None, group: str, org_id: str = org.id) -> str:
            u = User(organization_id=org_id, department_id=dept, code=username.upper(), username=username,
                     full_name=name, password_hash="x", phone=f"+849{rng.randrange(10**8):08d}",
                     groups=[groups[group]])
            s.add(u)
            s.flush()
            return u.id

        def name() -> str:
            return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"

        managers = {d.id: person(f"ld{i}", name(), d.id, "LANH_DAO") for i, d in enumerate(units)}
        specialists = {d.id: [person(f"cv{i}-{k}", name(), d.id, "CHUYEN_VIEN") for k in range(3)]
                       for i, d in enumerate(units)}
        coordinators = [person(f"dpv{k}", name(), None, "DIEU_PHOI_VIEN") for k in range(6)]
        names = {u.id: u.full_name for u in s.scalars(select(User))}

        cats, unit_of = [], {}
        for i in range(12):
            parent = Category(organization_id=org.id, code=f"LV{i:02d}", name=f"{PROBLEMS[i]} (nhóm)")
            s.add(parent)
            s.flush()
            for j in range(4):
                c = Category(organization_id=org.id, code=f"LV{i:02d}-{j}", name=f"{PROBLEMS[(i + j) % 15]} {j}",
                             parent_id=parent.id)
                s.add(c)
                s.flush()
                hours = rng.choice([24, 48, 72, 120, 168])
                if j % 2 == 0:
                    s.add(SlaRule(organization_id=org.id, category_id=c.id, hours=hours, working_hours=j == 0))
                cats.append((c.id, hours if j % 2 == 0 else 72))
                unit_of[c.id] = top[(i + j) % 12].id
        c2 = Category(organization_id=org2.id, code="QN-LV", name="Lĩnh vực chung")
        s.add(c2)
        s.flush()
        province = Area(scheme="2025", code="48", name="Thành phố Đà Nẵng", level=1, path="")
        s.add(province)
        s.flush()
        province.path = f"/{province.id}/"
        areas = []
        for k in range(100):
            a = Area(scheme="2025", code=f"20{k:03d}", name=f"Phường {k + 1}", level=2, parent_id=province.id,
                     path="")
            s.add(a)
            s.flush()
            a.path = f"{province.path}{a.id}/"
            areas.append(a.id)
        s.flush()
        s.expunge_all()
        return Reference(org.id, org2.id, units, top, children, managers, specialists, coordinators, cats, unit_of,
                         areas, c2.id, names)


# --- report generation --------------------------------------------------------------------------
def generate(ref: Reference, n: int, now: datetime, rng: random.Random, batch: int = 20000,
             dt: Callable[[datetime], object] = lambda v: v) -> Iterator[tuple[list[tuple], list[tuple]]]:
    """Batches of (report rows, history rows), in the order they would have been received.
    ``dt`` converts datetimes for the target database."""
    span = 730 * DAY
    start = now - span
    seq: dict[int, int] = {}
    cats = ref.categories
    cat_cw = list(accumulate(1 / (k + 1) ** 0.8 for k in range(len(cats))))
    area_cw = list(accumulate(1 / (k + 1) ** 0.7 for k in range(len(ref.areas))))
    unit_name = {d.id: d.name for d in ref.units}
    unit_path = {d.id: d.path for d in ref.units}
    mixes = [(age, list(m), list(accumulate(m.values()))) for age, m in MIX]
    report_row, history_row = itemgetter(*REPORT_COLS), itemgetter(*HISTORY_COLS)
    choice, rand, randrange, uniform, bits = rng.choice, rng.random, rng.randrange, rng.uniform, rng.getrandbits

    def pick(items, cum):
        return items[bisect(cum, rand() * cum[-1])]

    def when(v):
        return None if v is None else dt(v)

    reports, history = [], []
    for i in range(n):
        received = start + span * (i / n) + timedelta(seconds=rand() * 600)
        age = (now - received) / DAY
        status = next(pick(keys, cum) for limit, keys, cum in mixes if age < limit)
        rid = f"{bits(128):032x}"
        year = received.year
        seq[year] = seq.get(year, 0) + 1
        second_org = rand() < 0.05
        if second_org:
            cat_id, sla_h, unit_top = ref.org2_category, 72, None
        else:
            cat_id, sla_h = pick(cats, cat_cw)
            unit_top = ref.unit_of_category[cat_id]
        channel = choice(CHANNELS)
        problem, street = choice(PROBLEMS), choice(STREETS)
        path = PATHS[status]
        unit = assignee = dispatched = due = resolved = closed = None
        result = pending = ""
        t = received
        steps = [("create", received)]
        for action in path:
            t = min(t + timedelta(hours=uniform(0.2, sla_h / 2)), now - timedelta(minutes=1))
            steps.append((action, t))
            if action == "dispatch" and unit_top:
                unit = choice(ref.children[unit_top]).id if rand() < 0.4 else unit_top
                dispatched, due = t, t + timedelta(hours=sla_h)
            elif action == "assign_specialist" and unit:
                assignee = choice(ref.specialists[unit])
            elif action == "submit_result":
                resolved, result = t, "Đã kiểm tra hiện trường và xử lý xong; đã thông báo cho người dân."
            elif action in ("close", "mark_spam"):
                closed = t
            elif action.startswith("propose"):
                pending = "Đề nghị xem xét."
        if unit is None and status not in ("new", "spam"):  # the second organization has no unit tree here
            status, steps = "new", steps[:1]
        updated = steps[-1][1]
        reports.append(report_row({
            "organization_id": ref.org2 if second_org else ref.org, "code": f"PA-{year}-{seq[year]:06d}",
            "title": f"{problem} trên đường {street}",
            "content": f"Người dân phản ánh: {problem.lower()} tại số {randrange(1, 400)} đường {street} đã "
                       f"{randrange(2, 15)} ngày chưa được xử lý, ảnh hưởng sinh hoạt của các hộ xung quanh. "
                       "Đề nghị cơ quan chức năng kiểm tra, xử lý.",
            "channel": channel, "priority": choice(PRIORITIES), "status": status,
            "citizen_name": f"{choice(FAMILY)} {choice(MIDDLE)} {choice(GIVEN)}",
            "citizen_phone": f"+849{randrange(10**8):08d}", "citizen_email": "",
            "citizen_address": f"{randrange(1, 300)} {choice(STREETS)}",
            "area_id": None if second_org else pick(ref.areas, area_cw),
            "latitude": 16.0 + rand() * 0.1, "longitude": 108.15 + rand() * 0.1,
            "category_id": cat_id, "unit_id": unit, "unit_path": unit_path.get(unit, ""), "assignee_id": assignee,
            "created_by_id": choice(ref.coordinators) if channel in ("phone", "sms", "walk_in") else None,
            "source_call_id": "", "source_sms_id": "", "result": result, "pending_note": pending,
            "pending_support_unit_id": None, "received_at": dt(received), "dispatched_at": when(dispatched),
            "due_at": when(due), "resolved_at": when(resolved), "closed_at": when(closed),
            "deleted_at": dt(updated) if status in ("new", "spam") and rand() < 0.003 else None,
            "version": len(steps), "id": rid, "created_at": dt(received), "updated_at": dt(updated),
        }))
        prev = ""
        for k, (action, at) in enumerate(steps, 1):
            to = TO[action]
            history.append(history_row({
                "report_id": rid, "seq": k, "at": dt(at), "actor_id": None, "actor_name": "Người xử lý",
                "action": action, "from_status": prev, "to_status": to, "unit_id": unit if k > 1 else None,
                "unit_name": unit_name.get(unit, "") if k > 1 else "", "assignee_id": assignee if k > 2 else None,
                "assignee_name": ref.names.get(assignee, "") if k > 2 else "", "note": "",
                "id": f"{bits(128):032x}"}))
            prev = to
        if len(reports) >= batch:
            yield reports, history
            reports, history = [], []
    if reports:
        yield reports, history


def _sqlite_dt(v: datetime) -> str:
    """What SQLAlchemy's DateTime stores on SQLite for a UTC value: naive text."""
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _prefetch(batches: Iterator, depth: int = 2) -> Iterator:
    """Generate the next batches in a thread while the database writes the current one (sqlite3
    and libpq release the GIL while they work)."""
    q: queue.Queue = queue.Queue(depth)
    done = object()

    def produce() -> None:
        try:
            for b in batches:
                q.put(b)
        finally:
            q.put(done)

    threading.Thread(target=produce, daemon=True).start()
    while (item := q.get()) is not done:
        yield item


def _secondary_indexes(db: Database) -> list[tuple[str, str]]:
    """(name, CREATE statement) of the plain indexes of the two big tables, as the migrations made them."""
    with db.engine.connect() as c:
        if db.dialect == "sqlite":
            rows = c.execute(text("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                                  "AND tbl_name IN ('reports', 'report_history')")).all()
        else:
            rows = c.execute(text("SELECT i.indexname, i.indexdef FROM pg_indexes i WHERE i.tablename IN "
                                  "('reports', 'report_history') AND NOT EXISTS (SELECT 1 FROM pg_constraint k "
                                  "WHERE k.conname = i.indexname)")).all()
    return [(r[0], r[1]) for r in rows]


def load(db: Database, ref: Reference, n: int, now: datetime, rng: random.Random, log) -> float:
    """Bulk load: the secondary indexes are dropped, the rows written in batches (executemany on
    SQLite, COPY on PostgreSQL), then the indexes rebuilt from their original definitions."""
    t0 = time.perf_counter()
    done = 0
    indexes = _secondary_indexes(db)
    with db.engine.begin() as c:
        for name, _ in indexes:
            c.execute(text(f"DROP INDEX {name}"))
    db.dispose()
    if db.dialect == "sqlite":
        con = sqlite3.connect(db.url.removeprefix("sqlite:///"))
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-1000000")
        rq = f"INSERT INTO reports ({', '.join(REPORT_COLS)}) VALUES ({', '.join('?' * len(REPORT_COLS))})"
        hq = f"INSERT INTO report_history ({', '.join(HISTORY_COLS)}) VALUES ({', '.join('?' * len(HISTORY_COLS))})"
        for reports, history in _prefetch(generate(ref, n, now, rng, dt=_sqlite_dt)):
            with con:
                con.executemany(rq, reports)
                con.executemany(hq, history)
            done += len(reports)
            log(f"  {done:,} rows, {done / (time.perf_counter() - t0):,.0f} rows/s", end="\r")
        con.close()
    else:
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            for reports, history in _prefetch(generate(ref, n, now, rng)):
                with cur.copy(f"COPY reports ({', '.join(REPORT_COLS)}) FROM STDIN") as cp:
                    for r in reports:
                        cp.write_row(r)
                with cur.copy(f"COPY report_history ({', '.join(HISTORY_COLS)}) FROM STDIN") as cp:
                    for h in history:
                        cp.write_row(h)
                raw.commit()
                done += len(reports)
                log(f"  {done:,} rows, {done / (time.perf_counter() - t0):,.0f} rows/s", end="\r")
        finally:
            raw.close()
    log("")
    t1 = time.perf_counter()
    with db.engine.begin() as c:
        for _, create in indexes:
            c.execute(text(create))
    log(f"  {len(indexes)} indexes rebuilt in {time.perf_counter() - t1:.0f} s")
    t2 = time.perf_counter()
    with db.engine.begin() as c:  # the free-text index, as `ketnoi reports reindex` builds it
        indexed = search.rebuild(c, batch=20000)
    log(f"  search index of {indexed:,} reports built in {time.perf_counter() - t2:.0f} s")
    with db.session() as s:  # the code sequences continue after the generated reports
        for year, value in s.execute(text("SELECT substr(code, 4, 4), count(*) FROM reports GROUP BY 1")):
            s.merge(ReportSequence(year=int(year), value=value))
    return time.perf_counter() - t0


# --- measuring ----------------------------------------------------------------------------------
@dataclass
class Result:
    name: str
    samples: list[float]
    extra: dict = field(default_factory=dict)

    @property
    def p50(self) -> float:
        return ms(statistics.median(self.samples))

    @property
    def p95(self) -> float:
        return ms(pct(self.samples, 0.95))


def timed(repeat: int, fn: Callable[[int], None], warmup: int = 2, budget: float = 20.0,
          min_samples: int = 5) -> list[float]:
    """``repeat`` timings of ``fn`` after ``warmup`` calls; a slow operation stops after ``budget``
    seconds (with at least ``min_samples``) so that a miss does not take the whole run."""
    for i in range(warmup):
        fn(-1 - i)
    out: list[float] = []
    began = time.perf_counter()
    for i in range(repeat):
        t = time.perf_counter()
        fn(i)
        out.append(time.perf_counter() - t)
        if len(out) >= min_samples and time.perf_counter() - began > budget:
            break
    return out


def principals(db: Database, ref: Reference) -> dict[str, Principal]:
    coordinator = Principal(user_id=ref.coordinators[0], username="dpv0", full_name=ref.names[ref.coordinators[0]],
                            organization_id=ref.org, department_id=None, is_sysadmin=False,
                            permissions=frozenset({"home", "reports", "reports.read", "reports.create",
                                                   "reports.coordinate", "reports.export", "scope.all_units"}))
    out = {"coordinator": coordinator}
    for d in ref.top:
        out[f"manager:{d.id}"] = Principal(
            user_id=ref.managers[d.id], username="ld", full_name=ref.names[ref.managers[d.id]],
            organization_id=ref.org, department_id=d.id, is_sysadmin=False, unit_path=d.path,
            permissions=frozenset({"home", "reports", "reports.read", "reports.assign", "reports.approve",
                                   "reports.export"}))
    return out


def list_cases(ref: Reference, now: datetime, rng: random.Random):
    """(name, principal key or callable, filters factory, page): the lists people open all day."""
    cats = [c for c, _ in ref.categories]
    tops = [d.id for d in ref.top]

    def manager(i):
        return f"manager:{tops[i % len(tops)]}"

    def window(i):
        end = now - DAY * rng.randrange(0, 600)
        return queries.ReportFilters(since=end - 7 * DAY, until=end)

    return [
        ("Tất cả, trang 1", lambda i: "coordinator", lambda i: queries.ReportFilters(), 1),
        ("Phản ánh mới (view=new)", lambda i: "coordinator", lambda i: queries.ReportFilters(view="new"), 1),
        ("Đang xử lý (view=in_progress)", lambda i: "coordinator",
         lambda i: queries.ReportFilters(view="in_progress"), 1),
        ("Quá hạn (view=overdue)", lambda i: "coordinator", lambda i: queries.ReportFilters(view="overdue"), 1),
        ("Đã xử lý (view=processed)", lambda i: "coordinator", lambda i: queries.ReportFilters(view="processed"), 1),
        ("Lọc lĩnh vực", lambda i: "coordinator", lambda i: queries.ReportFilters(category_id=cats[i % len(cats)]),
         1),
        ("Lọc đơn vị (unit_id)", lambda i: "coordinator", lambda i: queries.ReportFilters(unit_id=tops[i % len(tops)]),
         1),
        ("Khoảng 7 ngày", lambda i: "coordinator", window, 1),
        ("Tất cả, trang 500 (offset 9.980)", lambda i: "coordinator", lambda i: queries.ReportFilters(), 500),
        ("Của tôi (view=mine), điều phối viên", lambda i: "coordinator", lambda i: queries.ReportFilters(view="mine"),
         1),
        ("Lãnh đạo đơn vị: tất cả", manager, lambda i: queries.ReportFilters(), 1),
        ("Lãnh đạo đơn vị: đang xử lý", manager, lambda i: queries.ReportFilters(view="in_progress"), 1),
        ("Lãnh đạo đơn vị: quá hạn", manager, lambda i: queries.ReportFilters(view="overdue"), 1),
        ("Lãnh đạo đơn vị: trang 50", manager, lambda i: queries.ReportFilters(), 50),
    ]


def search_cases(db: Database, ref: Reference, rng: random.Random):
    """(name, principal key or callable, filters factory, page, query factory): the free-text
    searches of a hotline — a common complaint, an address, a citizen's name, a phone number (one
    report), each alone or with the lists' scope and views."""
    with db.engine.connect() as c:  # phone numbers of 100 reports picked at random (ids are random)
        phones = list(c.execute(text("SELECT citizen_phone FROM reports ORDER BY id LIMIT 100")).scalars())
    tops = [d.id for d in ref.top]

    def phone(i):
        p = phones[i % len(phones)]
        return "0" + p[3:] if i % 2 else p  # typed nationally or as stored

    def address(i):
        return f"{rng.randrange(1, 400)} {rng.choice(STREETS)}"

    def name(i):
        return f"{rng.choice(FAMILY)} {rng.choice(MIDDLE)} {rng.choice(GIVEN)}"

    def common(i):
        return "đèn đường"

    def everything(i):
        return queries.ReportFilters()

    return [
        ("Tìm 'đèn đường' (10% phản ánh)", lambda i: "coordinator", everything, 1, common),
        ("Tìm 'đèn đường', trang 50", lambda i: "coordinator", everything, 50, common),
        ("Tìm số nhà + tên đường", lambda i: "coordinator", everything, 1, address),
        ("Tìm họ tên người dân", lambda i: "coordinator", everything, 1, name),
        ("Tìm số điện thoại (1 phản ánh)", lambda i: "coordinator", everything, 1, phone),
        ("Tìm 'đèn đường' + đang xử lý", lambda i: "coordinator", lambda i: queries.ReportFilters(view="in_progress"),
         1, common),
        ("Lãnh đạo đơn vị: tìm 'đèn đường'", lambda i: f"manager:{tops[i % len(tops)]}", everything, 1, common),
        ("Lãnh đạo đơn vị: tìm họ tên", lambda i: f"manager:{tops[i % len(tops)]}", everything, 1, name),
    ]


def _explain(db: Database, s, stmt) -> list[str]:
    """The plan of ``stmt`` as it runs, with its parameters (EXPLAIN put in front of the SQL)."""
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN (ANALYZE, BUFFERS) "

    def before(conn, cursor, statement, parameters, context, executemany):
        return prefix + statement, parameters

    event.listen(db.engine, "before_cursor_execute", before, retval=True)
    try:
        result = s.connection().execute(stmt)
        rows = result.cursor.fetchall() if result.cursor else []
    finally:
        event.remove(db.engine, "before_cursor_execute", before)
    return [" | ".join(str(x) for x in row) for row in rows]


def bench_lists(db: Database, ref: Reference, ps: dict[str, Principal], now: datetime, repeat: int,
                rng: random.Random, explain: bool, log, cap: int = COUNT_CAP) -> list[Result]:
    """Each list end to end (``queries.list_reports``: the page of 20 and its total, counted up to
    ``cap`` rows), then its queries apart: the exact COUNT (``count_reports`` without a cap), the
    COUNT stopped at ``cap`` + 1 rows, and the page itself."""
    results = []
    cases = [(*c, lambda i: "") for c in list_cases(ref, now, rng)] + search_cases(db, ref, rng)
    for name, who, make, page, query in cases:
        counts, capped, fetches, totals = [], [], [], []

        def run(i: int, who=who, make=make, page=page, query=query, totals=totals, counts=counts, capped=capped,
                fetches=fetches) -> None:
            p, f, q = ps[who(i)], make(i), query(i)
            params = ListParams(page=page, page_size=20, q=q)
            with db.session() as s:
                t = time.perf_counter()
                pg = queries.list_reports(s, p, params, f)
                totals.append(time.perf_counter() - t)
                t = time.perf_counter()
                run.exact = queries.count_reports(s, p, f, q)[0]  # type: ignore[attr-defined]
                counts.append(time.perf_counter() - t)
                t = time.perf_counter()
                queries.count_reports(s, p, f, q, cap=cap)
                capped.append(time.perf_counter() - t)
                stmt = queries.filtered(s, p, f, q)
                found = queries._search(s, p, q)
                key = found.newest_first_key if found else Report.received_at
                t = time.perf_counter()
                s.scalars(stmt.order_by(key.desc()).offset((page - 1) * 20).limit(20)).all()
                fetches.append(time.perf_counter() - t)
                run.total = f"{pg.total:,}" + ("+" if pg.total_capped else "")  # type: ignore[attr-defined]

        k = len(timed(repeat, run))  # the warm-up samples are dropped
        r = Result(name, totals[-k:], {"count_p95": ms(pct(counts[-k:], 0.95)),
                                       "capped_p95": ms(pct(capped[-k:], 0.95)),
                                       "rows_p95": ms(pct(fetches[-k:], 0.95)), "total": run.exact,
                                       "shown": run.total, "runs": k})
        results.append(r)
        log(f"  {name:38} p50 {r.p50:8.1f} ms  p95 {r.p95:8.1f} ms  (COUNT p95 {r.extra['count_p95']:.1f}, "
            f"COUNT≤{cap:,} p95 {r.extra['capped_p95']:.1f}, page p95 {r.extra['rows_p95']:.1f}; "
            f"{r.extra['total']:,} rows, shown as {r.extra['shown']}; {k} runs)")
        if explain:
            with db.session() as s:
                p, f, q = ps[who(0)], make(0), query(0)
                for k, part in enumerate(queries._plan(s, p, f, q)[1], 1):
                    log(f"    -- count, part {k}:")
                    for line in _explain(db, s, select(func.count()).select_from(part.subquery())):
                        log("      " + line)
                log("    -- page:")
                found = queries._search(s, p, q)
                page_stmt = queries.filtered(s, p, f, q).order_by(
                    (found.newest_first_key if found else Report.received_at).desc())
                for line in _explain(db, s, page_stmt.offset((page - 1) * 20).limit(20)):
                    log("      " + line)
    return results


def bench_tabs(db: Database, ref: Reference, ps: dict[str, Principal], repeat: int, log) -> list[Result]:
    """The console's list page also counts every named list for its tabs (up to the cap each)."""
    out = []
    for name, who in (("Thanh đếm các danh sách: điều phối viên", lambda i: "coordinator"),
                      ("Thanh đếm các danh sách: lãnh đạo đơn vị", lambda i: f"manager:{ref.top[i % len(ref.top)].id}")):
        def run(i: int, who=who) -> None:
            with db.session() as s:
                queries.counts_by_view(s, ps[who(i)], cap=COUNT_CAP)

        out.append(Result(name, timed(repeat, run)))
        log(f"  {name:38} p50 {out[-1].p50:8.1f} ms  p95 {out[-1].p95:8.1f} ms  ({len(queries.VIEWS)} COUNT≤{COUNT_CAP:,})")
    return out


def bench_detail_and_transitions(db: Database, ref: Reference, ps: dict[str, Principal], repeat: int,
                                 rng: random.Random, log) -> list[Result]:
    """The detail of random reports, then one report's life through the services, each step its
    own transaction: created by a coordinator, dispatched, assigned by the unit's manager, started
    by the specialist."""
    coordinator = ps["coordinator"]
    with db.session() as s:
        sample = list(s.scalars(select(Report.id).where(Report.organization_id == ref.org, Report.deleted_at.is_(None))
                                .order_by(Report.received_at.desc()).limit(50000)))
    rng.shuffle(sample)
    results = []

    def detail(i: int) -> None:
        with db.session() as s:
            r = service.get_report(s, coordinator, sample[i % len(sample)])
            service.to_out(s, r, coordinator)

    results.append(Result("Chi tiết (get_report + to_out)", timed(repeat, detail)))
    created: list[tuple[str, str]] = []  # (report id, unit it goes to)
    cats = [c for c, _ in ref.categories]

    def create(i: int) -> None:
        with db.session() as s:
            r = service.create_report(s, coordinator, S.ReportIn(
                title="Đèn đường hỏng trên đường Lê Duẩn", content="Ba cột đèn trước số 120 không sáng từ tối qua.",
                channel=S.Channel.PHONE, citizen_name="Nguyễn Văn An", citizen_phone="0905123456",
                category_id=cats[i % len(cats)], area_id=ref.areas[i % len(ref.areas)]))
            created.append((r.id, ref.top[i % len(ref.top)].id))

    steps: list[tuple[str, Callable[[str, str], tuple[Principal, S.TransitionIn]]]] = [
        ("điều phối (dispatch)", lambda rid, unit: (coordinator, S.TransitionIn(action=Action.DISPATCH, unit_id=unit))),
        ("phân công (assign_specialist)", lambda rid, unit: (ps[f"manager:{unit}"], S.TransitionIn(
            action=Action.ASSIGN_SPECIALIST, assignee_id=ref.specialists[unit][0]))),
        ("bắt đầu xử lý (start)", lambda rid, unit: (specialist(unit), S.TransitionIn(action=Action.START))),
    ]
    paths = {d.id: d.path for d in ref.units}

    def specialist(unit: str) -> Principal:
        uid = ref.specialists[unit][0]
        return Principal(user_id=uid, username="cv", full_name=ref.names[uid], organization_id=ref.org,
                         department_id=unit, is_sysadmin=False, unit_path=paths[unit],
                         permissions=frozenset({"home", "reports", "reports.read", "reports.process"}))

    results.append(Result("Tiếp nhận (create_report)", timed(repeat, create, budget=math.inf)))
    for label, make in steps:
        todo = iter(list(created))

        def step(i: int) -> None:
            rid, unit = next(todo)
            p, data = make(rid, unit)
            with db.session() as s:
                service.transition(s, p, rid, data)

        results.append(Result(f"Chuyển trạng thái: {label}", timed(repeat, step, budget=math.inf)))
    for r in results:
        log(f"  {r.name:38} p50 {r.p50:8.1f} ms  p95 {r.p95:8.1f} ms")
    return results


def _rss_kib(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    return 0


def bench_export(db: Database, ref: Reference, ps: dict[str, Principal], rows: int, log) -> dict:
    """Time and peak memory of exporting ``rows`` reports, and the Python heap peak at a tenth of
    that: equal peaks mean memory does not grow with the size of the export."""
    p = ps["coordinator"]
    with db.session() as s:
        cutoff = s.scalar(select(Report.received_at).where(Report.organization_id == ref.org,
                                                           Report.deleted_at.is_(None))
                          .order_by(Report.received_at.desc()).offset(rows - 1).limit(1))
    out: dict = {}
    tmp = Path(tempfile.mkdtemp(prefix="ketnoi-bench-export-"))

    def run(since, name: str) -> tuple[int, float]:
        f = queries.ReportFilters(since=since)
        with db.session() as s:
            t = time.perf_counter()
            n = export.write_workbook(s, p, f, tmp / name)
            return n, time.perf_counter() - t

    clear = Path("/proc/self/clear_refs")
    rss_before = _rss_kib("VmRSS")
    try:
        clear.write_text("5")  # reset the peak-RSS mark (Linux)
    except OSError:
        pass
    n, seconds = run(cutoff, "big.xlsx")
    out.update(rows=n, seconds=round(seconds, 1), rows_per_s=round(n / seconds), size_mb=round(
        (tmp / "big.xlsx").stat().st_size / 2**20, 1), rss_before_mb=round(rss_before / 1024),
        rss_peak_mb=round(_rss_kib("VmHWM") / 1024))
    with db.session() as s:
        small_cutoff = s.scalar(select(Report.received_at).where(Report.organization_id == ref.org,
                                                                 Report.deleted_at.is_(None))
                                .order_by(Report.received_at.desc()).offset(rows // 10 - 1).limit(1))
    for label, since in (("small", small_cutoff), ("big", cutoff)):
        tracemalloc.start()
        n2, _ = run(since, f"{label}-traced.xlsx")
        out[f"heap_peak_mb_{n2}"] = round(tracemalloc.get_traced_memory()[1] / 2**20, 1)
        tracemalloc.stop()
    for f in tmp.iterdir():
        f.unlink()
    tmp.rmdir()
    log(f"  export {out['rows']:,} rows: {out['seconds']} s ({out['rows_per_s']:,} rows/s), {out['size_mb']} MB, "
        f"RSS {out['rss_before_mb']} → peak {out['rss_peak_mb']} MB; Python heap peaks: "
        + ", ".join(f"{k.removeprefix('heap_peak_mb_')} rows {v} MB" for k, v in out.items()
                    if k.startswith("heap_peak")))
    return out


# --- one database -------------------------------------------------------------------------------
def run_backend(kind: str, args, log) -> dict:
    rng = random.Random(args.seed)
    cluster = tmpdir = None
    if kind == "sqlite":
        tmpdir = Path(tempfile.mkdtemp(prefix="ketnoi-bench-"))
        url = f"sqlite:///{tmpdir / 'bench.sqlite3'}"
    else:
        from sqlalchemy import create_engine
        from tests.pg import PgCluster

        cluster = PgCluster().start()
        eng = create_engine(cluster.url(), isolation_level="AUTOCOMMIT")
        with eng.connect() as c:
            c.execute(text("CREATE DATABASE bench"))
        eng.dispose()
        url = cluster.url("bench")
    db = Database(url)
    try:
        log(f"== {kind}: {args.n:,} reports")
        prepare(get_settings(), db)  # migrations (ketnoi.db.migrate.upgrade) and the start-up seeds
        ref = seed_reference(db, rng)
        now = datetime.now(UTC)
        load_s = load(db, ref, args.n, now, rng, log)
        with db.engine.connect() as c:
            n_hist = c.scalar(text("SELECT count(*) FROM report_history"))
        t = time.perf_counter()
        if kind == "postgresql":
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                c.execute(text("VACUUM ANALYZE"))
                # loaded with fsync off (tests/pg.py); measure with the durability production has
                for setting in ("fsync = on", "synchronous_commit = on", "full_page_writes = on"):
                    c.execute(text(f"ALTER SYSTEM SET {setting}"))
                c.execute(text("SELECT pg_reload_conf()"))
                c.execute(text("CHECKPOINT"))
            db.dispose()
        elif args.sqlite_analyze:
            with db.engine.connect() as c:
                c.execute(text("ANALYZE"))
        log(f"  loaded in {load_s:.0f} s ({args.n / load_s:,.0f} reports/s, {n_hist:,} history rows); "
            f"analyze {time.perf_counter() - t:.0f} s")
        ps = principals(db, ref)
        lists = bench_lists(db, ref, ps, now, args.repeat, rng, args.explain, log)
        ops = bench_tabs(db, ref, ps, args.repeat, log) + bench_detail_and_transitions(db, ref, ps, args.repeat, rng,
                                                                                         log)
        exp = bench_export(db, ref, ps, min(args.export_rows, args.n // 2), log) if args.export_rows else {}
        if kind == "sqlite":
            size = Path(url.removeprefix("sqlite:///")).stat().st_size
        else:
            with db.engine.connect() as c:
                size = c.scalar(text("SELECT pg_database_size('bench')"))
        return {"db": kind, "n": args.n, "history": n_hist, "load_s": round(load_s), "size_mb": round(size / 2**20),
                "lists": lists, "ops": ops, "export": exp}
    finally:
        db.dispose()
        if args.keep:
            log(f"  kept: {url}" + (f" (stop: pg_ctl -D {cluster.data} stop)" if cluster else ""))
        elif cluster:
            cluster.stop()
        if tmpdir and not args.keep:
            for f in tmpdir.iterdir():
                f.unlink()
            tmpdir.rmdir()


def table(results: list[dict]) -> str:
    """Markdown: one row per operation, p50/p95 per database."""
    dbs = [r["db"] for r in results]
    head = "| Thao tác | " + " | ".join(f"{d} p50 | {d} p95 | COUNT p95 | COUNT≤10k p95" for d in dbs) + " |"
    lines = [head, "|" + "---|" * (1 + 4 * len(dbs))]
    names = [r.name for r in results[0]["lists"] + results[0]["ops"]]
    for i, name in enumerate(names):
        cells = []
        for r in results:
            res = (r["lists"] + r["ops"])[i]
            cells += [f"{res.p50:.1f}", f"{res.p95:.1f}"]
            cells += [f"{res.extra['count_p95']:.1f}", f"{res.extra['capped_p95']:.1f}"] if res.extra else ["–", "–"]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="số phản ánh sinh ra (mặc định 1.000.000)")
    ap.add_argument("--db", default="sqlite,postgresql", help="sqlite, postgresql hoặc cả hai")
    ap.add_argument("--repeat", type=int, default=30, help="số lần đo mỗi thao tác")
    ap.add_argument("--export-rows", type=int, default=100_000, help="số dòng của lần xuất Excel (0 = bỏ qua)")
    ap.add_argument("--seed", type=int, default=1022)
    ap.add_argument("--explain", action="store_true", help="in kế hoạch thực thi của các truy vấn danh sách")
    ap.add_argument("--keep", action="store_true", help="giữ lại cơ sở dữ liệu đã sinh để xem xét (in ra URL)")
    ap.add_argument("--sqlite-analyze", action="store_true", help="chạy ANALYZE trên SQLite trước khi đo")
    args = ap.parse_args(argv)

    def log(msg: str, end: str = "\n") -> None:
        print(msg, end=end, flush=True)

    log(f"ketnoi bench/reports.py — {platform.node()}, {os.cpu_count()} CPU, Python {platform.python_version()}, "
        f"{datetime.now().astimezone():%Y-%m-%d %H:%M %z}, load average {os.getloadavg()[0]:.1f}")
    began = time.perf_counter()
    results = [run_backend(kind.strip(), args, log) for kind in args.db.split(",") if kind.strip()]
    log(f"\ndone in {(time.perf_counter() - began) / 60:.1f} min, load average {os.getloadavg()[0]:.1f} "
        f"(other processes on the machine slow every figure)")
    log(table(results))
    return results


if __name__ == "__main__":
    main()
