"""Console pages of reports through HTTP: lists with views, filters, sort and paging; forms with
inline Vietnamese errors; workflow actions and the processing progress; unit scoping; dispatch
rules, deadlines and holidays, SMS settings and the dashboard."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from ketnoi.audit.models import AuditEntry
from ketnoi.reports import schemas as S
from ketnoi.reports.models import DispatchRule, Holiday, Report, SlaRule
from ketnoi.reports.rules import create_rule
from ketnoi.reports.service import create_report
from ketnoi.reports.workflow import Status
from tests.reports.factory import ReportWorld
from tests.web.test_console import console_login, csrf_of

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def login_as(client, username: str) -> str:
    """Signs in through the console form; returns the CSRF token for posts."""
    client.cookies.clear()
    assert console_login(client, username).status_code == 303
    return csrf_of(client.get("/account/profile").text)


def codes(html: str) -> list[str]:
    return re.findall(r'data-code="(PA-\d{4}-\d{6})"', html)


def total(html: str) -> int:
    return int(re.search(r"Tổng cộng <strong>(\d+)</strong>", html).group(1))


def code_of(rw, rid: str) -> str:
    with rw.db.session() as s:
        return s.get(Report, rid).code


def report_at(rw, when: datetime, **fields) -> str:
    data = {"title": "Phản ánh cũ", "content": "Nội dung", "channel": "sms", "category_id": rw.waste, **fields}
    with rw.db.session() as s:
        return create_report(s, rw.actor("coordinator"), S.ReportIn(**data), received_at=when).id


# --- lists --------------------------------------------------------------------------------------
def test_list_views_counts_search_sort_and_paging(client, rw):
    new = [rw.new_report(title=f"Đèn đường hỏng số {i}") for i in range(3)]
    spam = rw.report_in(Status.SPAM)
    done = rw.report_in(Status.APPROVED)
    login_as(client, "dieuphoi")

    page = client.get("/reports")
    assert page.status_code == 200
    assert "<h1>Tất cả phản ánh</h1>" in page.text
    tabs = dict(re.findall(r'data-view="(\w+)">\s*<span>[^<]+</span> <span class="count">(\d+)</span>', page.text))
    assert (tabs["all"], tabs["new"], tabs["spam"], tabs["processed"]) == ("5", "3", "1", "1")
    assert total(page.text) == 5

    processed = client.get("/reports?view=processed")
    assert "<h1>Đã xử lý</h1>" in processed.text and codes(processed.text) == [code_of(rw, done)]
    assert codes(client.get("/reports?view=spam").text) == [code_of(rw, spam)]

    found = client.get("/reports?q=đèn đường")
    assert sorted(codes(found.text)) == sorted(code_of(rw, r) for r in new)
    assert client.get(f"/reports?q={code_of(rw, spam)}").text.count("data-code=") == 1

    asc = codes(client.get("/reports?sort=code&page_size=2").text)
    assert asc == sorted(asc) and len(asc) == 2
    second = client.get("/reports?sort=code&page_size=2&page=2")
    assert "Trang 2/3" in second.text and codes(second.text)[0] > asc[-1]
    desc = codes(client.get("/reports?sort=-code").text)
    assert desc == sorted(desc, reverse=True)
    # a sortable column header links to the other direction
    assert 'href="?sort=-code&amp;page=1"' in client.get("/reports?sort=code").text

    bad = client.get("/reports?sort=khong-co")
    assert bad.status_code == 200 and "Không thể sắp xếp theo" in bad.text


def test_filters_and_export_links(client, rw):
    old = report_at(rw, datetime(2025, 3, 1, 2, 0, tzinfo=UTC), title="Ngập nước", channel="zalo")
    fresh = rw.new_report(title="Cây đổ", channel="phone")
    dispatched = rw.report_in(Status.DISPATCHED)
    login_as(client, "dieuphoi")

    assert codes(client.get("/reports?channel=zalo").text) == [code_of(rw, old)]
    assert codes(client.get("/reports?since=2025-03-01&until=2025-03-01").text) == [code_of(rw, old)]
    assert code_of(rw, old) not in codes(client.get("/reports?since=2025-03-02").text)
    assert codes(client.get("/reports?status=dispatched").text) == [code_of(rw, dispatched)]
    assert codes(client.get(f"/reports?unit_id={rw.world.dept['A-ROOT']}").text) == [code_of(rw, dispatched)]
    in_ward = set(codes(client.get(f"/reports?area_id={rw.ward}").text))
    assert in_ward == {code_of(rw, fresh), code_of(rw, dispatched)}
    assert set(codes(client.get(f"/reports?area_id={rw.province}").text)) == in_ward  # a province holds its wards
    assert codes(client.get("/reports?overdue=1").text) == []
    bad = client.get("/reports?status=khong-ton-tai")
    assert "Trạng thái không hợp lệ" in bad.text

    # the export forms carry the filters (API names, times with offset) or the chosen rows
    page = client.get("/reports?view=new&channel=zalo&since=2025-03-01&until=2025-03-01&q=ngập").text
    form = re.search(r'<form method="get" action="/reports/export.xlsx" class="inline">(.*?)</form>', page, re.S)
    hidden = dict(re.findall(r'name="(\w+)" value="([^"]*)"', form.group(1)))
    assert hidden == {"view": "new", "channel": "zalo", "since": "2025-03-01T00:00:00+07:00",
                      "until": "2025-03-02T00:00:00+07:00", "q": "ngập"}
    assert 'id="export-selected"' in page and 'name="ids" value="%s" form="export-selected"' % old in page
    assert "Xuất Excel" in page


def test_list_refresh_fragment_and_popup(client, rw):
    rid = rw.report_in(Status.ASSIGNED)
    login_as(client, "dieuphoi")
    part = client.get("/reports?view=dispatched", headers={"HX-Request": "true", "HX-Target": "report-list"})
    assert part.status_code == 200 and "<html" not in part.text
    assert part.text.lstrip().startswith('<div id="report-list"') and code_of(rw, rid) in part.text
    assert f'hx-get="/reports/{rid}/popup" hx-trigger="dblclick"' in part.text

    popup = client.get(f"/reports/{rid}/popup")
    assert popup.status_code == 200 and "<html" not in popup.text
    assert "Đã phân công" in popup.text and "Phân công chuyên viên" in popup.text
    assert f'href="/reports/{rid}"' in popup.text and "Mở trang chi tiết" in popup.text


# --- create, edit, delete -----------------------------------------------------------------------
def test_create_form_shows_inline_errors_then_saves(client, rw):
    csrf = login_as(client, "dieuphoi")
    page = client.get("/reports/new")
    assert page.status_code == 200 and "Tiếp nhận phản ánh" in page.text
    assert "Rác thải" in page.text and "Thành phố Đà Nẵng" in page.text

    r = client.post("/reports/new", data={"csrf_token": csrf, "title": "", "content": "", "channel": "",
                                          "priority": "normal", "citizen_name": "Trần Thị Lan"})
    assert r.status_code == 422
    assert "Vui lòng kiểm tra lại các trường được đánh dấu." in r.text
    assert r.text.count("Không được để trống.") == 2 and "Bắt buộc nhập." in r.text
    assert 'value="Trần Thị Lan"' in r.text

    base = {"csrf_token": csrf, "title": "Cống bể", "content": "Nắp cống bị vỡ", "channel": "phone",
            "priority": "high", "area_province": rw.province, "area_id": rw.ward}
    r = client.post("/reports/new", data={**base, "citizen_phone": "12ab", "latitude": "200"})
    assert r.status_code == 422 and "Phải nhỏ hơn hoặc bằng 90." in r.text
    assert f'<option value="{rw.ward}" selected>' in r.text  # the ward list is kept for the chosen province
    r = client.post("/reports/new", data={**base, "citizen_phone": "12ab"})
    assert r.status_code == 422 and "has-error" in r.text and "citizen_phone" in r.text

    r = client.post("/reports/new", data={**base, "citizen_phone": "0905 111 222", "latitude": "16,0678",
                                          "longitude": "108.2208", "category_id": rw.waste},
                    follow_redirects=False)
    assert r.status_code == 303
    detail = client.get(r.headers["location"])
    assert "Đã tiếp nhận phản ánh PA-" in detail.text
    with rw.db.session() as s:
        rep = s.scalar(select(Report).where(Report.title == "Cống bể"))
        assert (rep.area_id, rep.latitude, rep.citizen_phone, rep.priority) == (rw.ward, 16.0678, "+84905111222",
                                                                               "high")
    assert "Phường Hải Châu, Thành phố Đà Nẵng" in detail.text
    assert "openstreetmap.org/?mlat=16.0678&amp;mlon=108.2208" in detail.text and "<svg" in detail.text


def test_create_is_auto_dispatched_by_a_rule(client, rw):
    with rw.db.session() as s:
        create_rule(s, rw.actor("coordinator"), S.DispatchRuleIn(
            name="Rác Hải Châu", department_id=rw.world.dept["A-ROOT"], category_ids=[rw.env], area_ids=[rw.ward]))
    csrf = login_as(client, "dieuphoi")
    r = client.post("/reports/new", data={"csrf_token": csrf, "title": "Rác", "content": "Rác ùn ứ",
                                          "channel": "app", "priority": "normal", "category_id": rw.waste,
                                          "area_province": rw.province, "area_id": rw.ward})
    assert r.status_code == 200
    assert "Đã tự động điều phối tới Sở A." in r.text
    assert "Đã điều phối, chờ phân công" in r.text and "Điều phối tự động" in r.text


def test_edit_keeps_version_and_delete_needs_new_or_spam(client, rw):
    rid = rw.new_report()
    busy = rw.report_in(Status.DISPATCHED)
    csrf = login_as(client, "dieuphoi")
    form = client.get(f"/reports/{rid}/edit").text
    assert 'value="Rác thải ùn ứ đường Lê Duẩn"' in form and 'name="version" value="1"' in form
    data = {"csrf_token": csrf, "title": "Rác thải ùn ứ (đã sửa)", "content": "Rác không được thu gom.",
            "channel": "phone", "priority": "urgent", "category_id": rw.waste, "area_province": rw.province,
            "area_id": rw.ward, "version": "1"}
    r = client.post(f"/reports/{rid}/edit", data={**data, "title": " "})
    assert r.status_code == 422 and "Không được để trống." in r.text
    r = client.post(f"/reports/{rid}/edit", data=data, follow_redirects=False)
    assert r.status_code == 303
    assert "Rác thải ùn ứ (đã sửa)" in client.get(f"/reports/{rid}").text
    stale = client.post(f"/reports/{rid}/edit", data=data)  # the same version again
    assert stale.status_code == 409 and "vừa được người khác cập nhật" in stale.text

    r = client.post(f"/reports/{busy}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Không xóa được: Chỉ xóa được phản ánh mới tiếp nhận hoặc tin rác" in r.text
    r = client.post(f"/reports/{rid}/delete", data={"csrf_token": csrf}, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/reports?msg=")
    assert client.get(f"/reports/{rid}").status_code == 404


def test_attachments_upload_and_download(client, rw):
    rid = rw.new_report()
    csrf = login_as(client, "dieuphoi")
    r = client.post(f"/reports/{rid}/attachments", data={"csrf_token": csrf},
                    files={"file": ("anh.png", PNG, "image/png")}, follow_redirects=True)
    assert "Đã đính kèm anh.png." in r.text
    link = re.search(rf'href="(/api/v1/reports/{rid}/attachments/\w+)">anh.png', r.text).group(1)
    assert client.get(link).content == PNG
    r = client.post(f"/reports/{rid}/attachments", data={"csrf_token": csrf},
                    files={"file": ("virus.exe", b"MZ\x90\x00", "application/octet-stream")},
                    follow_redirects=True)
    assert "Không đính kèm được: Chỉ nhận ảnh" in r.text


# --- workflow through the console ---------------------------------------------------------------
def test_transitions_through_the_console_show_in_progress(client, rw):
    rid = rw.new_report()
    d = rw.world.dept
    csrf = login_as(client, "dieuphoi")
    page = client.get(f"/reports/{rid}").text
    assert "Điều phối tới đơn vị" in page and "Đánh dấu tin rác" in page
    r = client.post(f"/reports/{rid}/actions/mark_spam", data={"csrf_token": csrf, "note": ""})
    assert r.status_code == 422 and "Nhập ghi chú (lý do) cho thao tác này." in r.text
    assert '<details class="action" data-action="mark_spam" open>' in r.text
    r = client.post(f"/reports/{rid}/actions/dispatch", data={"csrf_token": csrf, "unit_id": ""})
    assert r.status_code == 422 and "Bắt buộc nhập." in r.text
    r = client.post(f"/reports/{rid}/actions/dispatch", data={"csrf_token": csrf, "unit_id": d["A-ROOT"],
                                                              "note": "Chuyển Sở A xử lý"}, follow_redirects=True)
    assert "Đã thực hiện: Điều phối tới đơn vị. Trạng thái mới: Đã điều phối, chờ phân công." in r.text
    again = client.post(f"/reports/{rid}/actions/dispatch", data={"csrf_token": csrf, "unit_id": d["A-ROOT"]})
    assert again.status_code == 409 and "Không thể &#39;Điều phối tới đơn vị&#39;" in again.text
    assert client.post(f"/reports/{rid}/actions/khong-co", data={"csrf_token": csrf}).status_code == 404

    csrf = login_as(client, "lanhdao")
    page = client.get(f"/reports/{rid}").text
    assert "Phân công chuyên viên" in page and "Người dùng chuyenvien (chuyenvien)" in page
    assert "Người dùng cv.khac" not in page  # another unit's specialist is not offered
    r = client.post(f"/reports/{rid}/actions/assign_specialist",
                    data={"csrf_token": csrf, "assignee_id": rw.other_specialist})
    assert r.status_code == 422 and "Chuyên viên phải thuộc đơn vị đang xử lý phản ánh." in r.text
    r = client.post(f"/reports/{rid}/actions/assign_specialist",
                    data={"csrf_token": csrf, "assignee_id": rw.specialist, "note": "Xử lý trong ngày"},
                    follow_redirects=True)
    assert "Trạng thái mới: Đã phân công." in r.text
    denied = client.post(f"/reports/{rid}/actions/submit_result", data={"csrf_token": csrf, "result": "Xong"})
    assert denied.status_code == 403 and "Chỉ chuyên viên phụ trách" in denied.text

    csrf = login_as(client, "chuyenvien")
    r = client.post(f"/reports/{rid}/actions/submit_result", data={"csrf_token": csrf, "result": ""})
    assert r.status_code == 422 and "Bắt buộc nhập." in r.text
    r = client.post(f"/reports/{rid}/actions/submit_result",
                    data={"csrf_token": csrf, "result": "Đã thu gom toàn bộ rác."}, follow_redirects=True)
    assert "Chờ phê duyệt kết quả" in r.text and "Đã thu gom toàn bộ rác." in r.text

    # the progress: a tree call center → unit → specialist, and a time-ordered list with a filter
    tree = r.text[r.text.index('<ul class="tree progress-tree">'):r.text.index("<h3>Theo thời gian</h3>")]
    assert tree.index("Tổng đài tiếp nhận") < tree.index("Sở A") < tree.index("Người dùng chuyenvien")
    assert "Xử lý trong ngày" in tree and "Gửi kết quả xử lý" in tree
    history = r.text[r.text.index('id="history-list"'):]
    steps = re.findall(r"<strong>([^<]+)</strong>", history)
    assert steps == ["Tiếp nhận", "Điều phối tới đơn vị", "Phân công chuyên viên", "Gửi kết quả xử lý"]
    only = client.get(f"/reports/{rid}?h_action=assign_specialist").text
    only = only[only.index('id="history-list"'):]
    assert re.findall(r"<strong>([^<]+)</strong>", only) == ["Phân công chuyên viên"]
    assert "Người dùng lanhdao" in only


def test_specialist_of_another_unit_gets_404(client, rw):
    rid = rw.report_in(Status.ASSIGNED)
    csrf = login_as(client, "cv.khac")
    assert client.get(f"/reports/{rid}").status_code == 404
    assert client.get(f"/reports/{rid}/popup").status_code == 404
    r = client.post(f"/reports/{rid}/actions/start", data={"csrf_token": csrf})
    assert r.status_code == 404 and "Không tìm thấy phản ánh." in r.text
    assert code_of(rw, rid) not in client.get("/reports").text
    login_as(client, "chuyenvien")
    assert client.get(f"/reports/{rid}").status_code == 200


def test_menu_and_permissions_of_report_pages(client, rw):
    login_as(client, "dieuphoi")
    home = client.get("/").text
    assert 'href="/reports"' in home and 'href="/reports/dispatch-rules"' not in home
    assert client.get("/reports/dashboard").status_code == 403
    assert client.get("/reports/dispatch-rules").status_code == 403
    assert client.get("/reports/sla").status_code == 403
    login_as(client, "chuyenvien")
    assert client.get("/reports/new").status_code == 403
    assert client.get("/reports/sla/new").status_code == 403
    rw.world.user("thongke", roles=["home", "reports.dashboard"], dept=None)
    login_as(client, "thongke")
    assert 'href="/reports/dashboard"' in client.get("/").text


def test_home_page_figures_are_the_users_own_lists(client, rw):
    """The home page counts each list in the user's scope, as the list it links to counts it."""
    import re

    rw.report_in(Status.NEW)
    rw.report_in(Status.NEW)
    rw.report_in(Status.IN_PROGRESS)  # dispatched to A-ROOT, assigned to chuyenvien
    rw.world.user("ld.khac", roles=["home", "reports.read", "reports.assign"], dept="A-OTHER")

    def figures(home: str) -> dict[str, str]:
        return dict((label, num) for num, label in re.findall(
            r'<div class="num">([^<]*)</div><div class="lbl">([^<]*)</div>', home))

    login_as(client, "dieuphoi")
    got = figures(client.get("/").text)
    assert (got["Phản ánh mới"], got["Đang xử lý"], got["Quá hạn"]) == ("2", "1", "0")
    assert 'href="/reports?view=new"' in client.get("/").text
    login_as(client, "chuyenvien")
    got = figures(client.get("/").text)
    assert (got["Phản ánh mới"], got["Đang xử lý"], got["Của tôi"]) == ("0", "1", "1")
    login_as(client, "ld.khac")  # another unit: none of these reports
    got = figures(client.get("/").text)
    assert (got["Phản ánh mới"], got["Đang xử lý"]) == ("0", "0") and "Người dùng" not in got


# --- rules, deadlines, holidays -----------------------------------------------------------------
def test_dispatch_rules_console(client, rw):
    csrf = login_as(client, "root")
    assert 'href="/reports/dispatch-rules"' in client.get("/").text
    # a system administrator picks the organization whose categories and units fill the form
    form = client.get(f"/reports/dispatch-rules/new?organization_id={rw.world.org_a}").text
    assert "Rác thải" in form and "A-ROOT – Sở A" in form
    url = f"/reports/dispatch-rules/new?organization_id={rw.world.org_a}"
    r = client.post(url, data={"csrf_token": csrf, "name": "", "department_id": rw.world.dept["A-ROOT"]})
    assert r.status_code == 422 and "Chọn ít nhất một lĩnh vực." in r.text and "Không được để trống." in r.text
    r = client.post(url, data={"csrf_token": csrf, "name": "Môi trường Hải Châu",
                               "department_id": rw.world.dept["A-ROOT"],
                               "category_ids": [rw.env, rw.waste], "area_ids": [rw.ward, rw.province],
                               "priority": "5", "is_active": "1"}, follow_redirects=True)
    assert "Đã tạo quy tắc" in r.text
    row = re.search(r"<tr[^>]*>\s*<td><a[^>]*>Môi trường Hải Châu</a>.*?</tr>", r.text, re.S).group(0)
    assert "Môi trường, Rác thải" in row or "Rác thải, Môi trường" in row
    assert "Thành phố Đà Nẵng, Phường Hải Châu" in row and "Đang bật" in row
    with rw.db.session() as s:
        rule_id = s.scalar(select(DispatchRule.id))

    picker = client.get(f"/reports/dispatch-rules/areas?pick_province={rw.province}").text
    assert f'value="{rw.province}"' in picker and "Toàn bộ Thành phố Đà Nẵng" in picker
    assert "Phường Hải Châu" in picker

    edit = client.get(f"/reports/dispatch-rules/{rule_id}").text
    assert f'name="area_ids" value="{rw.ward}" checked' in edit
    r = client.post(f"/reports/dispatch-rules/{rule_id}", data={
        "csrf_token": csrf, "name": "Rác Đà Nẵng", "department_id": rw.world.dept["A-CHILD"],
        "category_ids": [rw.waste], "area_ids": [rw.province], "priority": "7", "is_active": "1"},
        follow_redirects=True)
    assert "Đã lưu quy tắc điều phối." in r.text and "Rác Đà Nẵng" in r.text and "A-CHILD – Phòng A1" in r.text
    r = client.post(f"/reports/dispatch-rules/{rule_id}/toggle", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Đã tắt quy tắc" in r.text and "Đã tắt</td>" in r.text
    assert client.get("/reports/dispatch-rules?is_active=1").text.count("Rác Đà Nẵng") == 0
    r = client.post(f"/reports/dispatch-rules/{rule_id}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Đã xóa quy tắc điều phối." in r.text
    with rw.db.session() as s:
        assert s.scalar(select(DispatchRule.id)) is None
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "dispatch_rule.deleted"))


def test_sla_rules_and_holidays_console(client, rw):
    admin = rw.world.user("qt.thoihan", roles=["home", "reports.sla"], dept=None)
    assert admin
    csrf = login_as(client, "qt.thoihan")
    assert "Thời hạn xử lý, lịch làm việc" in client.get("/reports/sla").text
    r = client.post("/reports/sla/new", data={"csrf_token": csrf, "category_id": "", "hours": "0"})
    assert r.status_code == 422 and "Bắt buộc nhập." in r.text and "Phải lớn hơn hoặc bằng 1." in r.text
    r = client.post("/reports/sla/new", data={"csrf_token": csrf, "category_id": rw.waste, "hours": "mười"})
    assert r.status_code == 422 and "Phải là số nguyên." in r.text
    ok = {"csrf_token": csrf, "category_id": rw.waste, "department_id": rw.world.dept["A-ROOT"], "hours": "24",
          "working_hours": "1"}
    r = client.post("/reports/sla/new", data=ok, follow_redirects=True)
    assert "Đã lưu thời hạn xử lý." in r.text and "24 giờ" in r.text and "Giờ làm việc" in r.text
    dup = client.post("/reports/sla/new", data=ok)
    assert dup.status_code == 422 and "Đã có thời hạn cho lĩnh vực và đơn vị này" in dup.text
    with rw.db.session() as s:
        sla_id = s.scalar(select(SlaRule.id))
    r = client.post(f"/reports/sla/{sla_id}", data={"csrf_token": csrf, "hours": "8"}, follow_redirects=True)
    assert "8 giờ" in r.text and "Giờ liên tục (theo lịch)" in r.text
    r = client.post(f"/reports/sla/{sla_id}", data={"csrf_token": csrf, "hours": ""})
    assert r.status_code == 422 and "Bắt buộc nhập." in r.text and 'value="8"' not in r.text
    r = client.post(f"/reports/sla/{sla_id}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Đã xóa thời hạn xử lý." in r.text and "Chưa đặt thời hạn riêng nào." in r.text

    # holidays: the national calendar is shown, the organization adds and removes its own days
    assert "Quốc khánh" in client.get("/reports/sla?year=2026").text
    r = client.post("/reports/sla/holidays", data={"csrf_token": csrf, "day": "", "name": ""})
    assert r.status_code == 422 and "Chọn ngày (định dạng năm-tháng-ngày)." in r.text
    r = client.post("/reports/sla/holidays", data={"csrf_token": csrf, "day": "2026-02-30", "name": "Sai"})
    assert r.status_code == 422 and "Ngày không hợp lệ." in r.text
    r = client.post("/reports/sla/holidays", data={"csrf_token": csrf, "day": "2026-12-24", "name": "Nghỉ bù"},
                    follow_redirects=True)
    assert "Đã thêm ngày nghỉ 2026-12-24." in r.text and "24/12/2026" in r.text and "Riêng tổ chức" in r.text
    with rw.db.session() as s:
        hid = s.scalar(select(Holiday.id).where(Holiday.day == "2026-12-24"))
        national = s.scalar(select(Holiday.id).where(Holiday.organization_id.is_(None)))
    r = client.post(f"/reports/sla/holidays/{national}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "chỉ quản trị hệ thống xóa được" in r.text
    r = client.post(f"/reports/sla/holidays/{hid}/delete", data={"csrf_token": csrf}, follow_redirects=True)
    assert "Đã xóa ngày nghỉ." in r.text and "24/12/2026" not in r.text


def test_notification_settings(client, rw):
    rw.world.user("khong.sdt", roles=["home"])
    csrf = login_as(client, "khong.sdt")
    page = client.get("/account/notifications")
    assert page.status_code == 200 and "Nhận SMS khi có phản ánh chờ tôi phân công" in page.text
    r = client.post("/account/notifications", data={"csrf_token": csrf, "on_assignment": "1"})
    assert r.status_code == 422 and "Cập nhật số điện thoại trong thông tin cá nhân" in r.text

    csrf = login_as(client, "lanhdao")
    r = client.post("/account/notifications", data={"csrf_token": csrf, "on_approval": "1",
                                                    "template": "PA {ma} chờ {task}"})
    assert r.status_code == 422 and "Biến không hỗ trợ: ma." in r.text and 'value="1" checked' in r.text
    r = client.post("/account/notifications", data={"csrf_token": csrf, "on_approval": "1",
                                                    "template": "PA {code} chờ bạn {task}"}, follow_redirects=True)
    assert "Đã lưu cài đặt nhận SMS thông báo." in r.text and "PA {code} chờ bạn {task}" in r.text
    with rw.db.session() as s:
        assert s.scalar(select(AuditEntry.id).where(AuditEntry.action == "notification_setting.saved"))


def test_dashboard_counts_and_charts(client, rw):
    rw.new_report()
    rw.report_in(Status.IN_PROGRESS)
    approved = rw.report_in(Status.APPROVED)
    late = rw.report_in(Status.DISPATCHED)
    with rw.db.session() as s:
        s.get(Report, late).due_at = datetime.now(UTC) - timedelta(hours=1)
        s.get(Report, approved).due_at = datetime.now(UTC) + timedelta(hours=5)
    report_at(rw, datetime(2020, 1, 1, tzinfo=UTC))  # outside every period below
    rw.world.user("thongke", roles=["home", "scope.all_units", "reports.dashboard"], dept=None)
    login_as(client, "thongke")
    page = client.get("/reports/dashboard?period=7d")
    assert page.status_code == 200
    num = dict(re.findall(r'id="stat-(\w+)">([^<]+)<', page.text))
    assert num == {"total": "4", "processed": "1", "overdue": "1", "rate": "100.0%"}
    assert page.text.count("<svg") >= 4 and "Đang xử lý" in page.text and "Rác thải" in page.text
    assert "Sở A" in page.text and "(Chưa điều phối)" in page.text

    custom = client.get("/reports/dashboard?period=custom&since=2020-01-01&until=2020-01-31").text
    assert dict(re.findall(r'id="stat-(\w+)">([^<]+)<', custom))["total"] == "1"
    swapped = client.get("/reports/dashboard?period=custom&since=2020-01-31&until=2020-01-01").text
    assert "đã đổi chỗ hai ngày" in swapped
    # choosing dates with a quick period makes it a custom one
    mixed = client.get("/reports/dashboard?period=7d&since=2020-01-01&until=2020-01-31").text
    assert 'value="custom" selected' in mixed


def test_dashboard_respects_unit_scope(client, rw):
    rw.report_in(Status.DISPATCHED)
    rw.new_report()
    rw.world.user("thongke.khac", roles=["home", "reports.dashboard"], dept="A-OTHER")
    login_as(client, "thongke.khac")
    num = dict(re.findall(r'id="stat-(\w+)">([^<]+)<', client.get("/reports/dashboard").text))
    assert num["total"] == "0" and num["rate"] == "—"
