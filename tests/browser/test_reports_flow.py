"""The report workflow in real browsers (CRM-03, 04, 11…13, 18, 19, 36…38): a coordinator takes a
report through the console form, a dispatch rule sends it to Sở A at once, the unit's manager
(already on a console page) is told by a toast and sees the list refresh, assigns the specialist,
who submits a result, the manager approves, and the coordinator finds it in the processed list."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import select

from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report
from ketnoi.reports.rules import create_rule
from tests.browser.test_console import sign_in, wait_for_hub
from tests.reports.factory import ReportWorld

pytestmark = pytest.mark.browser


def open_action(page: Page, label: str):
    """Opens the small form of a workflow action on the detail page; returns the form."""
    page.locator("details.action > summary", has_text=label).click()
    form = page.locator("details.action[open] form")
    expect(form).to_be_visible()
    return form


def test_report_from_reception_to_processed_list(new_page, world, database):
    rw = ReportWorld(world)
    with database.session() as s:
        create_rule(s, rw.actor("coordinator"), S.DispatchRuleIn(
            name="Rác thải Hải Châu", department_id=world.dept["A-ROOT"], category_ids=[rw.waste],
            area_ids=[rw.ward]))

    # the unit's manager waits on the report list, connected to the hub
    manager = new_page()
    sign_in(manager, "lanhdao")
    expect(manager.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    manager.goto("/reports")
    expect(manager.get_by_role("heading", name="Tất cả phản ánh")).to_be_visible()
    expect(manager.locator("table.list.reports tbody tr")).to_have_text(["Không có phản ánh phù hợp."])
    wait_for_hub(manager)

    # the coordinator takes the report; required fields are checked first
    coord = new_page()
    sign_in(coord, "dieuphoi")
    expect(coord.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    coord.goto("/reports")
    coord.get_by_role("link", name="+ Tiếp nhận phản ánh").click()
    expect(coord.get_by_role("heading", name="Tiếp nhận phản ánh")).to_be_visible()
    coord.get_by_label("Họ tên người phản ánh").fill("Nguyễn Văn Dân")
    coord.get_by_role("button", name="Lưu").click()
    expect(coord.locator(".field:has(#f-title) .error")).to_have_text("Không được để trống.")
    expect(coord.locator(".field:has(#f-content) .error")).to_have_text("Không được để trống.")
    expect(coord.get_by_label("Họ tên người phản ánh")).to_have_value("Nguyễn Văn Dân")

    coord.get_by_label("Tiêu đề").fill("Rác thải ùn ứ đường Lê Duẩn")
    coord.get_by_label("Nội dung phản ánh").fill("Rác không được thu gom ba ngày, bốc mùi.")
    coord.get_by_label("Kênh tiếp nhận").select_option(label="Điện thoại")
    coord.get_by_label("Lĩnh vực").select_option(label="— Rác thải")
    coord.get_by_label("Tỉnh/Thành phố").select_option(label="Thành phố Đà Nẵng")
    coord.get_by_label("Xã/Phường (Quận/Huyện)").select_option(label="Phường Hải Châu")  # loaded by HTMX
    coord.get_by_label("Số điện thoại").fill("0905123456")
    coord.get_by_label("Vĩ độ").fill("16.0678")
    coord.get_by_label("Kinh độ").fill("108.2208")
    coord.get_by_role("button", name="Lưu").click()

    expect(coord.get_by_role("status")).to_contain_text("Đã tự động điều phối tới Sở A.")
    code = re.search(r"PA-\d{4}-\d{6}", coord.get_by_role("status").inner_text()).group(0)
    with database.session() as s:
        rid = s.scalar(select(Report.id).where(Report.code == code))
    expect(coord).to_have_url(re.compile(rf"/reports/{rid}\?msg="))
    expect(coord.locator("#report-status")).to_have_text("Đã điều phối, chờ phân công")
    expect(coord.locator("#report-unit")).to_have_text("Sở A")
    expect(coord.get_by_role("link", name="Xem trên bản đồ OpenStreetMap")).to_have_attribute(
        "href", re.compile(r"mlat=16\.0678&mlon=108\.2208"))

    # the manager is told at once and the list shows the new report without a reload
    toast = manager.locator(".toast.report-toast")
    expect(toast).to_contain_text(code)
    row = manager.locator(f"tr[data-code='{code}']")
    expect(row).to_contain_text("Đã điều phối, chờ phân công")
    row.dblclick()  # the detail in a modal, with the map link
    modal = manager.locator("#report-modal")
    expect(modal).to_be_visible()
    expect(modal).to_contain_text("Phường Hải Châu, Thành phố Đà Nẵng")
    expect(modal).to_contain_text("Điều phối tự động")
    modal.get_by_role("button", name="Đóng").click()
    expect(modal).to_be_hidden()
    row.get_by_role("link", name=code).click()  # the code opens it too
    expect(modal).to_be_visible()
    expect(modal.get_by_role("heading", level=2)).to_contain_text(code)
    modal.get_by_role("button", name="Đóng").click()
    expect(modal).to_be_hidden()

    toast.get_by_role("link", name="Mở phản ánh").click()
    expect(manager).to_have_url(re.compile(rf"/reports/{rid}$"))
    form = open_action(manager, "Phân công chuyên viên")
    form.get_by_role("button", name="Xác nhận: Phân công chuyên viên").click()
    expect(manager.locator("details.action[open] .field .error")).to_have_text("Bắt buộc nhập.")
    form = manager.locator("details.action[open] form")
    form.get_by_label("Chuyên viên xử lý").select_option(label="Người dùng chuyenvien (chuyenvien)")
    form.get_by_label("Ghi chú").fill("Xử lý trong ngày")
    form.get_by_role("button", name="Xác nhận: Phân công chuyên viên").click()
    expect(manager.locator("#report-status")).to_have_text("Đã phân công")
    expect(manager.locator("#report-assignee")).to_have_text("Người dùng chuyenvien")

    # the specialist finds it in "my reports", opens it from the popup and sends the result
    specialist = new_page()
    sign_in(specialist, "chuyenvien")
    expect(specialist.get_by_role("heading", name=re.compile("Xin chào"))).to_be_visible()
    specialist.goto("/reports?view=mine")
    specialist.get_by_role("link", name=code).click()
    specialist.locator("#report-modal").get_by_role("link", name="Mở trang chi tiết").click()
    expect(specialist).to_have_url(re.compile(rf"/reports/{rid}$"))
    form = open_action(specialist, "Gửi kết quả xử lý")
    form.get_by_label("Kết quả xử lý").fill("Đã phối hợp công ty môi trường thu gom toàn bộ rác.")
    form.get_by_role("button", name="Xác nhận: Gửi kết quả xử lý").click()
    expect(specialist.locator("#report-status")).to_have_text("Chờ phê duyệt kết quả")

    # the manager approves; the progress shows who did what
    manager.reload()
    expect(manager.locator("#report-status")).to_have_text("Chờ phê duyệt kết quả")
    form = open_action(manager, "Phê duyệt kết quả")
    form.get_by_role("button", name="Xác nhận: Phê duyệt kết quả").click()
    expect(manager.locator("#report-status")).to_have_text("Đã phê duyệt, chờ trả lời công dân")
    steps = manager.locator("#history-list li.hist strong")
    expect(steps).to_have_text(["Tiếp nhận", "Điều phối tự động", "Phân công chuyên viên", "Gửi kết quả xử lý",
                                "Phê duyệt kết quả"])
    expect(manager.locator(".progress-tree .node.specialist")).to_contain_text("Người dùng chuyenvien")

    # the call center sees it in the processed list
    coord.goto("/reports?view=processed")
    expect(coord.get_by_role("heading", name="Đã xử lý")).to_be_visible()
    expect(coord.locator(".view-tabs a.active")).to_contain_text("Đã xử lý")
    processed = coord.locator(f"tr[data-code='{code}']")
    expect(processed).to_contain_text("Đã phê duyệt, chờ trả lời công dân")
    expect(coord.locator("table.list.reports tbody tr")).to_have_count(1)

    # ...and exports the list to .xlsx, which opens with openpyxl and holds the row
    with coord.expect_download() as dl:
        coord.get_by_role("button", name=re.compile("Xuất Excel")).first.click()
    assert dl.value.suggested_filename.endswith(".xlsx")
    import io

    import openpyxl

    wb = openpyxl.load_workbook(io.BytesIO(open(dl.value.path(), "rb").read()), read_only=True)
    cells = [str(c) for row in wb.active.iter_rows(values_only=True) for c in row if c is not None]
    assert code in cells
    assert "Mã phản ánh" in cells
