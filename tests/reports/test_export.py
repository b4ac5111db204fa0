"""Excel export of report lists (CRM-03, 30, 34…36): the file opened with openpyxl (title rows,
Vietnamese headers, typed cells, frozen header, autofilter), filters and chosen rows, unit scope,
citizen text never turned into formulas, and large selections handed to a background job."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from openpyxl import load_workbook
from sqlalchemy import select, update

from ketnoi.audit.models import AuditEntry
from ketnoi.db.base import utcnow
from ketnoi.jobs.models import Job
from ketnoi.jobs.runner import JobRunner
from ketnoi.reports import export
from ketnoi.reports.models import Report
from ketnoi.reports.workflow import Status
from tests.conftest import login
from tests.reports.factory import MANAGER_ROLES, ReportWorld

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def workbook(content: bytes):
    wb = load_workbook(io.BytesIO(content))
    return wb, wb["Phản ánh"]


def rows(ws) -> list[dict]:
    header = [c.value for c in ws[export.HEADER_ROW]]
    return [dict(zip(header, (c.value for c in row)))
            for row in ws.iter_rows(min_row=export.HEADER_ROW + 1) if row[0].value is not None]


def test_console_export_writes_typed_rows_under_vietnamese_headers(client, rw):
    closed = rw.report_in(Status.CLOSED)
    working = rw.report_in(Status.IN_PROGRESS)
    new = rw.new_report(title="Ổ gà trên đường Trần Phú", citizen_email="dan@example.vn")
    with rw.db.session() as s:  # the working one is past its deadline
        s.execute(update(Report).where(Report.id == working).values(due_at=utcnow() - timedelta(hours=5)))
    h = login(client, "dieuphoi")
    r = client.get("/reports/export.xlsx?view=all", headers=h)
    assert r.status_code == 200, r.text[:300]
    assert r.headers["content-type"] == XLSX
    assert 'filename="phan-anh-all-' in r.headers["content-disposition"]
    wb, ws = workbook(r.content)
    assert ws["A1"].value == "DANH SÁCH PHẢN ÁNH, KIẾN NGHỊ – TẤT CẢ PHẢN ÁNH" and ws["A1"].font.b
    assert ws["A2"].value == "Bộ lọc: không có"
    assert "Tổng số: 3 phản ánh" in ws["A3"].value and "Người dùng dieuphoi" in ws["A3"].value
    header = [c.value for c in ws[export.HEADER_ROW]]
    assert header == export.HEADERS
    assert header[:4] == ["STT", "Mã phản ánh", "Tiêu đề", "Nội dung"] and "Quá hạn" in header
    for name in ("Kênh", "Trạng thái", "Lĩnh vực", "Khu vực", "Đơn vị xử lý", "Chuyên viên", "Người phản ánh",
                 "Điện thoại", "Ngày tiếp nhận", "Hạn xử lý", "Ngày hoàn thành"):
        assert name in header
    assert ws.freeze_panes == "C5"
    assert ws.auto_filter.ref == "A4:X7"
    assert ws.column_dimensions["C"].width == 40

    data = rows(ws)
    assert [d["STT"] for d in data] == [1, 2, 3]
    by_code = {d["Mã phản ánh"]: d for d in data}
    with rw.db.session() as s:
        reports = {r.id: r for r in s.scalars(select(Report))}
    # newest first, like the list
    assert [d["Mã phản ánh"] for d in data] == [reports[i].code for i in (new, working, closed)]
    c = by_code[reports[closed].code]
    assert c["Trạng thái"] == "Đã xử lý xong" and c["Kênh"] == "Điện thoại" and c["Mức độ ưu tiên"] == "Bình thường"
    assert c["Lĩnh vực"] == "Rác thải" and c["Khu vực"] == "Phường Hải Châu" and c["Đơn vị xử lý"] == "Sở A"
    assert c["Chuyên viên"] == "Người dùng chuyenvien" and c["Người phản ánh"] == "Nguyễn Văn Dân"
    assert c["Điện thoại"] == "0905123456" and c["Kết quả xử lý"] == "Đã thu gom rác, vệ sinh khu vực."
    received = reports[closed].received_at.astimezone(TZ).replace(tzinfo=None)
    assert isinstance(c["Ngày tiếp nhận"], datetime)
    assert abs(c["Ngày tiếp nhận"] - received) < timedelta(seconds=1)  # local wall time, no offset
    assert isinstance(c["Ngày hoàn thành"], datetime) and isinstance(c["Hạn xử lý"], datetime)
    assert isinstance(c["Thời gian xử lý (giờ)"], (int, float)) and c["Quá hạn"] == "Không"
    cell = ws.cell(row=export.HEADER_ROW + 3, column=header.index("Ngày tiếp nhận") + 1)
    assert cell.is_date and cell.number_format == export.DATE_FORMAT
    assert isinstance(ws.cell(row=export.HEADER_ROW + 1, column=1).value, int)

    w = by_code[reports[working].code]
    assert w["Quá hạn"] == "Có" and isinstance(w["Số giờ quá hạn"], (int, float)) and 4.9 <= w["Số giờ quá hạn"] <= 5.2
    assert w["Ngày hoàn thành"] is None
    n = by_code[reports[new].code]
    assert n["Trạng thái"] == "Mới tiếp nhận" and n["Quá hạn"] is None and n["Email"] == "dan@example.vn"
    assert n["Đơn vị xử lý"] is None and n["Hạn xử lý"] is None

    with rw.db.session() as s:
        entry = s.scalar(select(AuditEntry).where(AuditEntry.action == "report.exported"))
    assert entry is not None and "3 phản ánh" in entry.summary


def test_filters_views_search_and_chosen_rows(client, rw):
    a = rw.new_report(title="Cây đổ chắn đường")
    b = rw.new_report(title="Rác thải ùn ứ", channel="sms")
    spam = rw.report_in(Status.SPAM)
    h = login(client, "dieuphoi")

    def codes(query: str) -> tuple[list[str], str]:
        r = client.get(f"/reports/export.xlsx?{query}", headers=h)
        assert r.status_code == 200, r.text[:300]
        _, ws = workbook(r.content)
        return [d["Mã phản ánh"] for d in rows(ws)], ws["A2"].value

    with rw.db.session() as s:
        code = {r.id: r.code for r in s.scalars(select(Report))}
    got, summary = codes("view=spam")
    assert got == [code[spam]]
    got, summary = codes("view=new&channel=sms")
    assert got == [code[b]] and summary == "Bộ lọc: Kênh: SMS"
    got, summary = codes("q=c%C3%A2y")
    assert got == [code[a]] and summary == "Bộ lọc: Từ khóa: “cây”"
    got, summary = codes(f"ids={a}&ids={spam}")
    assert sorted(got) == sorted([code[a], code[spam]]) and summary == "Bộ lọc: Các dòng đã chọn: 2"
    got, summary = codes(f"category_id={rw.waste}&status=new")
    assert sorted(got) == sorted([code[a], code[b]])
    assert summary == "Bộ lọc: Trạng thái: Mới tiếp nhận; Lĩnh vực: Rác thải"
    since = (utcnow() - timedelta(days=1)).astimezone(TZ).strftime("%Y-%m-%dT%H:%M")  # no offset: local time
    got, summary = codes(f"since={since}&sort=code")
    assert got == sorted(code.values()) and summary.startswith("Bộ lọc: Từ ")
    _, ws = workbook(client.get("/reports/export.xlsx?view=overdue", headers=h).content)
    assert rows(ws) == [] and ws.auto_filter.ref == "A4:X5"


def test_bad_input_is_a_vietnamese_4xx(client, rw):
    h = login(client, "dieuphoi")
    for query, needle in (("view=khong-co", "Danh sách không hợp lệ"), ("sort=-citizen_phone", "Không thể sắp xếp"),
                          ("status=abc", "Trạng thái không hợp lệ"), ("since=hom-qua", "Ngày giờ không hợp lệ"),
                          ("channel=fax", "không nằm trong danh sách"),
                          ("since=0001-01-01T00:00:00%2B14:00", "ngoài phạm vi")):
        r = client.get(f"/reports/export.xlsx?{query}", headers=h)
        assert r.status_code == 422, (query, r.status_code)
        assert needle in r.text, (query, r.text[:500])
    r = client.post("/api/v1/reports/exports", headers=h, json={"view": "khong-co"})
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["errors"][0]["field"] == "view"
    r = client.post("/api/v1/reports/exports", headers=h, json={"ids": ["x"] * 5001})
    assert r.status_code == 422
    r = client.post("/api/v1/reports/exports", headers=h, json={"until": "9999-12-31T23:59:59-14:00"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "until"


def test_citizen_text_is_never_a_formula_and_control_characters_are_dropped(client, rw):
    rw.new_report(title="=HYPERLINK(\"http://evil.example\",\"Bấm vào\")", content="Nội dung\x07 có ký tự lạ\x00"
                  .replace("\x00", ""), citizen_name="=1+1")
    r = client.get("/reports/export.xlsx", headers=login(client, "dieuphoi"))
    _, ws = workbook(r.content)
    row = export.HEADER_ROW + 1
    title = ws.cell(row=row, column=3)
    assert title.data_type == "s" and title.value.startswith("=HYPERLINK")
    assert ws.cell(row=row, column=12).data_type == "s"
    assert ws.cell(row=row, column=4).value == "Nội dung có ký tự lạ"


def test_unit_user_exports_only_what_they_see(client, rw, world):
    mine = rw.report_in(Status.DISPATCHED)  # dispatched to A-ROOT
    elsewhere = rw.new_report(title="Việc của sở khác")
    with rw.db.session() as s:
        from ketnoi.reports import schemas as S
        from ketnoi.reports.service import transition

        transition(s, rw.actor("coordinator"), elsewhere,
                   S.TransitionIn(action="dispatch", unit_id=world.dept["A-OTHER"]))
        code = {r.id: r.code for r in s.scalars(select(Report))}
    world.user("ld-khac", roles=MANAGER_ROLES, dept="A-OTHER")
    world.user("doc-b", org="b", dept="B1", roles=["home", "scope.all_units", "reports.read", "reports.export"])

    def exported(username: str) -> list[str]:
        r = client.get("/reports/export.xlsx", headers=login(client, username))
        assert r.status_code == 200, r.text[:300]
        return [d["Mã phản ánh"] for d in rows(workbook(r.content)[1])]

    assert exported("lanhdao") == [code[mine]]
    assert exported("ld-khac") == [code[elsewhere]]
    assert exported("doc-b") == []
    assert sorted(exported("dieuphoi")) == sorted(code.values())
    # chosen rows outside the scope are not exported either
    r = client.get(f"/reports/export.xlsx?ids={elsewhere}&ids={mine}", headers=login(client, "lanhdao"))
    assert [d["Mã phản ánh"] for d in rows(workbook(r.content)[1])] == [code[mine]]
    # no permission: refused
    world.user("chi-doc", roles=["home", "reports.read"])
    r = client.get("/reports/export.xlsx", headers=login(client, "chi-doc"))
    assert r.status_code == 403
    r = client.post("/api/v1/reports/exports", headers=login(client, "chi-doc"), json={})
    assert r.status_code == 403 and r.headers["content-type"].startswith("application/problem+json")


def test_large_selection_becomes_a_job_with_progress_page(client, rw, database, monkeypatch):
    ids = [rw.new_report(title=f"Phản ánh số {i}") for i in range(5)]
    monkeypatch.setattr(export, "DIRECT_LIMIT", 3)
    h = login(client, "dieuphoi")
    r = client.get("/reports/export.xlsx?view=new&sort=code", headers=h, follow_redirects=False)
    assert r.status_code == 303, r.text[:300]
    loc = urlsplit(r.headers["location"])
    job_id = loc.path.rsplit("/", 1)[1]
    assert loc.path == f"/jobs/{job_id}" and parse_qs(loc.query)["back"] == ["/reports?view=new&sort=code"]
    page = client.get(r.headers["location"], headers=h)
    assert page.status_code == 200 and "Xuất Excel danh sách phản ánh" in page.text and "every 1s" in page.text
    with database.session() as s:
        job = s.get(Job, job_id)
        assert job.kind == "reports.export" and job.total == 5 and job.params["view"] == "new"
        assert s.scalar(select(AuditEntry).where(AuditEntry.action == "report.exported",
                                                 AuditEntry.entity_id == job_id)) is not None

    assert JobRunner(database).run_once() == job_id
    out = client.get(f"/api/v1/jobs/{job_id}", headers=h).json()
    assert out["status"] == "done" and out["progress"] == out["total"] == 5 and out["message"] == "Đã xuất 5 phản ánh."
    assert out["result_name"].startswith("phan-anh-new-") and out["result_name"].endswith(".xlsx")
    f = client.get(f"/jobs/{job_id}/file", headers=h)
    assert f.status_code == 200 and f.headers["content-type"] == XLSX
    _, ws = workbook(f.content)
    with database.session() as s:
        expected = sorted(s.scalars(select(Report.code).where(Report.id.in_(ids))))
    assert [d["Mã phản ánh"] for d in rows(ws)] == expected
    assert "Đang chờ" not in client.get(f"/jobs/{job_id}/status", headers=h).text


def test_api_export_always_creates_a_job(client, rw, database):
    rw.new_report()
    rw.report_in(Status.CLOSED)
    h = login(client, "dieuphoi")
    r = client.post("/api/v1/reports/exports", headers=h, json={"view": "processed", "since": "2020-01-01T00:00:00"})
    assert r.status_code == 202, r.text
    job = r.json()
    assert r.headers["location"] == f"/api/v1/jobs/{job['id']}" and job["status"] == "queued"
    assert job["page_url"] == f"/jobs/{job['id']}" and job["kind_label"] == "Xuất Excel danh sách phản ánh"
    JobRunner(database).run_once()
    done = client.get(f"/api/v1/jobs/{job['id']}", headers=h).json()
    assert done["status"] == "done", done
    _, ws = workbook(client.get(done["file_url"], headers=h).content)
    data = rows(ws)
    assert len(data) == 1 and data[0]["Trạng thái"] == "Đã xử lý xong"
    assert ws["A1"].value.endswith("ĐÃ XỬ LÝ") and "Từ 00:00 01/01/2020" in ws["A2"].value


def test_job_runs_with_the_creators_current_rights(client, rw, database, world):
    rw.new_report()
    world.user("tam-thoi", roles=["home", "scope.all_units", "reports.read", "reports.export"])
    h = login(client, "tam-thoi")
    job_id = client.post("/api/v1/reports/exports", headers=h, json={}).json()["id"]
    from ketnoi.identity.models import PermissionGroup, User

    with database.session() as s:  # the permission is taken away before the job runs
        u = s.scalar(select(User).where(User.username == "tam-thoi"))
        for g in u.groups:
            g.roles = [r for r in g.roles if r.code != "reports.export"]
        assert s.scalar(select(PermissionGroup).where(PermissionGroup.code == "G-tam-thoi"))
    JobRunner(database).run_once()
    out = client.get(f"/api/v1/jobs/{job_id}", headers=h).json()
    assert out["status"] == "failed" and "không còn quyền" in out["error"]


def test_write_workbook_streams_in_batches(rw, database, tmp_path):
    for i in range(7):
        rw.new_report(title=f"Phản ánh {i}")
    seen = []
    with database.session() as s:
        p = rw.actor("coordinator")
        f = export.queries.ReportFilters()
        n = export.write_workbook(s, p, f, tmp_path / "x.xlsx", batch=3, progress=lambda d, t: seen.append((d, t)))
    assert n == 7 and seen == [(3, 7), (6, 7), (7, 7)]
    ws = load_workbook(tmp_path / "x.xlsx")["Phản ánh"]
    assert ws.max_row == export.HEADER_ROW + 7
