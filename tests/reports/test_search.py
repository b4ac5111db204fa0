"""Free-text search of reports (CRM-03, 11, 30; ketnoi.reports.search): what a query word matches,
that the index follows every write in the same transaction, that a rebuild gives the same index,
and that a search is read newest first from the index (docs/BENCHMARKS.md: lists at a million)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from ketnoi.core.listing import ListParams
from ketnoi.reports import queries, search
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report
from ketnoi.reports.service import create_report, update_report
from ketnoi.reports.workflow import Status
from tests.conftest import login
from tests.reports.factory import ReportWorld
from tests.reports.test_console import login_as


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def codes(rw, q: str, who: str = "coordinator", **filters) -> list[str]:
    with rw.db.session() as s:
        page = queries.list_reports(s, rw.actor(who), ListParams(q=q, page_size=100),
                                    queries.ReportFilters(**filters))
        return [r.title for r in page.items]


# --- analysis -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("q", "words"), [
    ("Đèn đường", (("den", False), ("duong", False))),
    ("  ĐÈN   đường hỏng ", (("den", False), ("duong", False), ("hong", False))),
    ("Nguyễn Văn Thà", (("nguyen", False), ("van", False), ("tha", False))),  # words are whole
    ("0905 123 456", (("0905123456", True),)),  # a phone number, however typed, as one prefix
    ("+84 905.123.456", (("84905123456", True),)),
    ("09051", (("09051", True),)),
    ("số 12 Lê Duẩn", (("so", False), ("12", False), ("le", False), ("duan", False))),
    ("nhà 120", (("nha", False), ("120", False))),  # short numbers are whole (house numbers)
    ("mã 2026000123 của tôi", (("ma", False), ("2026000123", True), ("cua", False), ("toi", False))),
])
def test_query_words(q, words):
    assert search.parse(q).words == words


@pytest.mark.parametrize("q", ["", "   ", "!!! ??", "-", "\"'"])
def test_query_without_words(q):
    assert search.parse(q) is None


def test_query_is_bounded_and_quoted():
    terms = search.parse("một hai ba bốn năm sáu bảy tám chín mười một hai")
    assert len(terms.words) == search.MAX_WORDS
    assert search.parse("a'b").tsquery() == "'a' & 'b'"
    assert search.parse('x" OR y').fts5() == '"x" AND "or" AND "y"'  # FTS5 operators are words here


def test_document_words():
    toks = search.document_tokens("PA-2026-000042", "Đèn đường hỏng", "Trước nhà số 120", "Trần Thị Ánh",
                                  "+84905123456")
    assert toks == ["pa", "2026", "000042", "den", "duong", "hong", "tran", "thi", "anh", "truoc", "nha", "so",
                    "120", "84905123456", "0905123456"]
    assert search.phone_forms("") == [] and search.phone_forms("1022") == ["1022"]


# --- matching through the lists ---------------------------------------------------------------
def test_folded_words_prefixes_and_phones(rw):
    rw.new_report(title="Đèn đường hỏng trên đường Lê Duẩn", citizen_name="Trần Thị Ánh",
                  citizen_phone="0912345678")
    rw.new_report(title="Ngập nước sau mưa", content="Nước ngập nửa bánh xe ở đường Hoàng Diệu.",
                  citizen_name="Nguyễn Văn Thành", citizen_phone="+84905111222")
    rw.new_report(title="Cây đổ chắn đường", content="Cây xanh bật gốc.", citizen_name="Lê Văn Đức",
                  citizen_phone="0987000111")
    assert codes(rw, "den duong") == ["Đèn đường hỏng trên đường Lê Duẩn"]
    assert codes(rw, "ĐÈN ĐƯỜNG") == ["Đèn đường hỏng trên đường Lê Duẩn"]
    assert sorted(codes(rw, "đường")) == sorted(["Đèn đường hỏng trên đường Lê Duẩn", "Ngập nước sau mưa",
                                                  "Cây đổ chắn đường"])
    assert codes(rw, "Nguyễn Văn Thành") == ["Ngập nước sau mưa"]
    assert codes(rw, "Nguyễn Văn Thà") == []  # a word is whole: "thà" is not "thành"
    assert codes(rw, "Hoàng Diệu") == ["Ngập nước sau mưa"]  # in the content
    assert codes(rw, "duc") == ["Cây đổ chắn đường"]  # đ → d
    assert codes(rw, "0905 111 222") == ["Ngập nước sau mưa"]  # stored +84…, typed nationally
    assert codes(rw, "+84 912 345 678") == ["Đèn đường hỏng trên đường Lê Duẩn"]
    assert codes(rw, "09870") == ["Cây đổ chắn đường"]  # five digits or more: the numbers they begin
    assert codes(rw, "0987") == []
    assert codes(rw, "đèn ngập") == []  # every word must match
    assert len(codes(rw, "!!!")) == 3  # no word: no search


def test_search_keeps_the_list_scope_and_filters(rw):
    dispatched = rw.report_in(Status.DISPATCHED)  # to A-ROOT, the manager's unit
    rw.new_report(title="Rác thải ùn ứ đường Lê Duẩn (mới)")
    assert len(codes(rw, "Lê Duẩn")) == 2
    assert len(codes(rw, "Lê Duẩn", view="new")) == 1
    assert len(codes(rw, "Lê Duẩn", who="manager")) == 1  # the other one is not in the manager's unit
    other = rw.world.user("cv.xa", roles=["home", "reports.read"], dept="A-OTHER")
    with rw.db.session() as s:
        p = rw.principal(other)
        assert queries.list_reports(s, p, ListParams(q="Lê Duẩn"), queries.ReportFilters()).items == []
    b_user = rw.world.user("dieuphoi.b", roles=["home", "scope.all_units", "reports.read", "reports.create"],
                           dept=None, org="b")
    with rw.db.session() as s:
        p = rw.principal(b_user)
        assert queries.list_reports(s, p, ListParams(q="Lê Duẩn"), queries.ReportFilters()).items == []
    with rw.db.session() as s:
        assert s.get(Report, dispatched).status == Status.DISPATCHED.value


def test_newest_first_and_other_sorts(rw):
    now = datetime.now(UTC)
    with rw.db.session() as s:
        for k, (title, days) in enumerate((("Ổ gà số 1", 3), ("Ổ gà số 2", 1), ("Ổ gà số 3", 2))):
            create_report(s, rw.actor("coordinator"), S.ReportIn(title=title, content="Mặt đường có ổ gà.",
                                                                 channel="app", citizen_phone="0905000000"),
                          received_at=now - timedelta(days=days, seconds=k))
    assert codes(rw, "o ga") == ["Ổ gà số 2", "Ổ gà số 3", "Ổ gà số 1"]
    with rw.db.session() as s:
        for sort, want in (("received_at", ["Ổ gà số 1", "Ổ gà số 3", "Ổ gà số 2"]),
                           ("-title", ["Ổ gà số 3", "Ổ gà số 2", "Ổ gà số 1"])):
            page = queries.list_reports(s, rw.actor("coordinator"), ListParams(q="o ga", sort=sort),
                                        queries.ReportFilters())
            assert [r.title for r in page.items] == want
        page = queries.list_reports(s, rw.actor("coordinator"), ListParams(q="o ga", page_size=2, page=2),
                                    queries.ReportFilters())
        assert ([r.title for r in page.items], page.total) == (["Ổ gà số 1"], 3)


def test_same_reception_time_gets_distinct_numbers(rw):
    when = datetime(2026, 5, 1, 8, 0, tzinfo=UTC)
    with rw.db.session() as s:
        for i in range(3):
            create_report(s, rw.actor("coordinator"), S.ReportIn(title=f"Trùng giờ {i}", content="Cùng lúc.",
                                                                 channel="app"), received_at=when)
    with rw.db.engine.connect() as c:
        ids = sorted(c.execute(text("SELECT id FROM report_search_docs")).scalars())
    assert len(set(ids)) == 3 and ids[0] == search._micros(when) and ids[-1] == ids[0] + 2
    assert len(codes(rw, "trùng giờ")) == 3


def test_edit_reindexes_in_the_same_transaction(rw, client):
    rid = rw.new_report(title="Đèn đường hỏng", citizen_phone="0905123456")
    with rw.db.session() as s:
        update_report(s, rw.actor("coordinator"), rid, S.ReportPatch(title="Cống thoát nước tắc"))
    assert codes(rw, "den duong") == [] and codes(rw, "cong thoat") == ["Cống thoát nước tắc"]
    with rw.db.session() as s:  # an edit that fails leaves the index as it was
        update_report(s, rw.actor("coordinator"), rid, S.ReportPatch(title="Vỉa hè lấn chiếm"))
        s.rollback()
    assert codes(rw, "via he") == [] and codes(rw, "cong thoat") == ["Cống thoát nước tắc"]
    with rw.db.session() as s:  # a change of a field outside the index leaves it alone
        n = s.scalar(select(search.docs_table.c.id))
        r = s.get(Report, rid)
        r.priority = "high"
    with rw.db.session() as s:
        assert s.scalar(select(search.docs_table.c.id)) == n
    h = login(client, "dieuphoi")  # and the API's q
    assert [i["id"] for i in client.get("/api/v1/reports?q=thoát nước", headers=h).json()["items"]] == [rid]


def test_rebuild_gives_the_same_index(rw):
    for i in range(7):
        rw.new_report(title=f"Phản ánh thứ {i} về rác", citizen_phone=f"09050000{i:02d}")
    rw.report_in(Status.IN_PROGRESS)
    with rw.db.engine.connect() as c:
        before = c.execute(text("SELECT id, report_id FROM report_search_docs ORDER BY id")).all()
    with rw.db.engine.begin() as c:
        c.execute(text("DELETE FROM report_search_docs"))
        if c.dialect.name == "sqlite":
            c.execute(text("INSERT INTO report_search_fts (report_search_fts) VALUES ('delete-all')"))
    assert codes(rw, "rac") == []
    with rw.db.engine.begin() as c:
        assert search.rebuild(c, batch=3) == 8
    with rw.db.engine.connect() as c:
        after = c.execute(text("SELECT id, report_id FROM report_search_docs ORDER BY id")).all()
        if c.dialect.name == "sqlite":  # FTS5's own check of the index against its content
            c.execute(text("INSERT INTO report_search_fts (report_search_fts) VALUES ('integrity-check')"))
    assert after == before
    assert len(codes(rw, "rac")) == 8 and codes(rw, "0905000003") == ["Phản ánh thứ 3 về rác"]


def test_deleting_a_report_row_drops_its_document(rw):
    rid = rw.new_report(title="Xóa hẳn")
    with rw.db.session() as s:
        search.on_delete(s.connection(), s.get(Report, rid))
    assert codes(rw, "xoa han") == []
    with rw.db.engine.connect() as c:
        assert c.scalar(text("SELECT count(*) FROM report_search_docs")) == 0
        if c.dialect.name == "sqlite":
            c.execute(text("INSERT INTO report_search_fts (report_search_fts) VALUES ('integrity-check')"))


def test_sqlite_reads_a_search_newest_first_from_the_index(rw, database):
    """The page of a search sorted by reception walks the FTS match in rowid order and stops: no
    temporary sort of every match (the plan at a million reports, docs/BENCHMARKS.md)."""
    if database.dialect != "sqlite":
        pytest.skip("SQLite's planner; PostgreSQL chooses between its GIN and B-tree indexes by statistics")
    rw.new_report(title="Đèn đường hỏng")
    with rw.db.session() as s:
        p = rw.actor("coordinator")
        found = queries._search(s, p, "đèn đường")
        stmt = queries.filtered(s, p, queries.ReportFilters(), "đèn đường").order_by(
            found.newest_first_key.desc()).limit(20)
        sql = str(stmt.compile(s.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = [str(row[-1]) for row in s.execute(text("EXPLAIN QUERY PLAN " + sql))]
    assert plan[0].startswith("SCAN report_search_fts VIRTUAL TABLE"), plan
    assert not any("TEMP B-TREE" in line for line in plan), plan


def test_reindex_command(rw, db_url, monkeypatch):
    from typer.testing import CliRunner

    from ketnoi.cli import app
    from ketnoi.db import session as db_session
    from ketnoi.settings import get_settings

    for i in range(3):
        rw.new_report(title=f"Vỉa hè bị lấn chiếm {i}")
    with rw.db.engine.begin() as c:
        c.execute(text("DELETE FROM report_search_docs"))
        if c.dialect.name == "sqlite":
            c.execute(text("INSERT INTO report_search_fts (report_search_fts) VALUES ('delete-all')"))
    assert codes(rw, "via he") == []
    monkeypatch.setenv("KETNOI_DATABASE_URL", db_url)
    monkeypatch.setattr(db_session, "_db", db_session._db)  # the command opens its own; put the old one back
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["reports", "reindex"])
    finally:
        get_settings.cache_clear()
        if db_session._db is not None:
            db_session._db.dispose()
    assert result.exit_code == 0, result.output
    assert "Đã lập lại chỉ mục tìm kiếm cho 3 phản ánh" in result.output
    assert len(codes(rw, "via he")) == 3


def test_search_total_is_counted_among_the_newest_matches(rw, monkeypatch, client):
    """A search's total is counted up to SEARCH_COUNT_CAP among the newest matches of its words;
    past it, or when more words matched than were looked at, the total reads "hơn N"."""
    now = datetime.now(UTC)
    with rw.db.session() as s:
        for i in range(6):  # the newest two are spam, the rest new
            create_report(s, rw.actor("coordinator"), S.ReportIn(title=f"Lấn chiếm vỉa hè {i}", content="Bán hàng.",
                                                                 channel="app"), received_at=now - timedelta(hours=10 - i))
    monkeypatch.setattr(queries, "SEARCH_COUNT_CAP", 3)
    with rw.db.session() as s:
        p = rw.actor("coordinator")
        page = queries.list_reports(s, p, ListParams(q="vỉa hè", page_size=2), queries.ReportFilters())
        assert (page.total, page.total_capped, [r.title for r in page.items]) == (
            3, True, ["Lấn chiếm vỉa hè 5", "Lấn chiếm vỉa hè 4"])
        assert queries.count_reports(s, p, queries.ReportFilters(), "vỉa hè") == (6, False)  # exact: exports
        for r in s.scalars(select(Report).where(Report.title.in_(["Lấn chiếm vỉa hè 5", "Lấn chiếm vỉa hè 4"]))):
            r.status = Status.SPAM.value
    with rw.db.session() as s:
        f = queries.ReportFilters(view="new")
        page = queries.list_reports(s, p, ListParams(q="vỉa hè", page_size=10), f)
        assert (page.total, page.total_capped, len(page.items)) == (4, False, 4)  # the last page knows
        page = queries.list_reports(s, p, ListParams(q="vỉa hè", page_size=3), f)
        assert (page.total, page.total_capped, len(page.items)) == (3, True, 3)  # "hơn 3": a next page
        # the count looked at the newest 4 matches only (2 of them spam), more matched: "hơn 2"
        assert queries.count_reports(s, p, f, "vỉa hè", cap=100) == (2, True)
    h = login(client, "dieuphoi")
    body = client.get("/api/v1/reports?q=vỉa hè&view=new&page_size=3", headers=h).json()
    assert (body["total"], body["total_capped"]) == (3, True)
    login_as(client, "dieuphoi")
    html = client.get("/reports?q=vỉa hè&view=new&page_size=3").text
    assert "Tổng cộng <strong>hơn 3</strong> bản ghi" in html and "chỉ đếm trong 1.001 phản ánh mới nhất" in html
    assert "chỉ đếm trong" not in client.get("/reports?view=new&page_size=3").text


def test_postgresql_walk_and_collect_plans_agree(rw, monkeypatch):
    """PostgreSQL reads common words by walking the number index and rare ones by collecting the
    GIN matches first (``Search.rare``, from the statistics): both forms give the same pages and totals."""
    if rw.db.dialect != "postgresql":
        pytest.skip("SQLite has one form: the FTS5 table read in rowid order")
    now = datetime.now(UTC)
    with rw.db.session() as s:
        for i in range(9):
            create_report(s, rw.actor("coordinator"), S.ReportIn(
                title=f"{'Đèn đường hỏng' if i % 3 else 'Cây đổ'} số {i}", content="Trên đường Lê Duẩn.",
                channel="app", citizen_phone=f"09051234{i:02d}"), received_at=now - timedelta(hours=i))
    rw.report_in(Status.IN_PROGRESS)
    monkeypatch.setattr(queries, "SEARCH_COUNT_CAP", 4)
    seen = {}
    for mode, threshold in (("collect", 10**12), ("walk", -1)):
        monkeypatch.setattr(search, "RARE_MATCHES", threshold)
        out = []
        with rw.db.session() as s:
            for who in ("coordinator", "manager"):
                p = rw.actor(who)
                for q in ("đèn đường", "le duan", "0905123", "cay do", "không có"):
                    for page in (1, 2):
                        pg = queries.list_reports(s, p, ListParams(q=q, page=page, page_size=3),
                                                  queries.ReportFilters())
                        assert queries._search(s, p, q).rare is (mode == "collect")
                        out.append((who, q, page, [r.title for r in pg.items], pg.total, pg.total_capped))
        seen[mode] = out
    assert seen["walk"] == seen["collect"]
    assert ("coordinator", "đèn đường", 1, ["Đèn đường hỏng số 1", "Đèn đường hỏng số 2", "Đèn đường hỏng số 4"],
            4, True) in seen["walk"]
