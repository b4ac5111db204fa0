"""The catalog console in a real browser: the lazy area tree opened node by node (HTMX), the area
search of the category form (fed by /api/v1/areas), the CSV import with its result fragment, and the
two confirmations before a parent category goes."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.test_console import sign_in

pytestmark = pytest.mark.browser


def test_area_tree_expands_lazily(new_page, areas):
    page: Page = new_page()
    sign_in(page, "root")
    page.goto("/catalog/areas?scheme=legacy")
    tree = page.locator(".catalog-tree")
    expect(tree.locator("summary", has_text="01 – Thành phố Hà Nội")).to_be_visible()
    expect(tree.get_by_text("001 – Quận Ba Đình")).to_have_count(0)  # not loaded before it is opened
    tree.locator("summary", has_text="01 – Thành phố Hà Nội").locator(".muted").click()
    district = tree.locator("summary", has_text="001 – Quận Ba Đình")
    expect(district).to_be_visible()
    district.locator(".muted").click()
    expect(tree.locator(".leaf", has_text="Phường Phúc Xá")).to_be_visible()
    # the table beside the tree follows a click on a name
    tree.get_by_role("link", name="001 – Quận Ba Đình").click()
    expect(page.get_by_role("heading", name="Khu vực trực thuộc Quận Ba Đình")).to_be_visible()
    expect(page.locator("table.list")).to_contain_text("Phường Phúc Xá")


def test_category_form_finds_areas_and_import_shows_reasons(new_page, world, areas, tmp_path):
    world.user("qt.lv", roles=["catalog.categories.write", "catalog.areas.read"])
    page: Page = new_page()
    sign_in(page, "qt.lv")
    page.goto("/catalog/categories/new")
    page.get_by_label("Mã lĩnh vực").fill("MT")
    page.get_by_label("Tên lĩnh vực").fill("Môi trường")
    page.get_by_placeholder("Tìm xã").fill("Ba Đình")
    found = page.locator("#f-area_ids label", has_text="00004 – Phường Ba Đình")
    expect(found).to_be_visible()
    found.locator("input").check()
    page.get_by_role("button", name="Lưu").click()
    expect(page.locator(".alert.ok")).to_contain_text("Đã lưu lĩnh vực MT – Môi trường.")
    expect(page.locator("table.list")).to_contain_text("Phường Ba Đình")

    page.goto("/catalog/categories/import")
    bad = tmp_path / "loi.csv"
    bad.write_text("code,name,parent_code\nGT,Giao thông,\nMT,Trùng mã,\n", encoding="utf-8")
    page.get_by_label("Tệp CSV").set_input_files(str(bad))
    page.get_by_role("button", name="Nhập").click()
    result = page.locator("#import-result")
    expect(result).to_contain_text("chưa nhập lĩnh vực nào")
    expect(result.locator("td", has_text="Mã MT đã có trong danh mục")).to_be_visible()
    good = tmp_path / "tot.csv"
    good.write_text("\ufeffcode,name,parent_code,description,area_codes\nGT,Giao thông,,,01\n"
                    "GT-DUONG,Hư hỏng đường,GT,,00004\n", encoding="utf-8")
    page.get_by_label("Tệp CSV").set_input_files(str(good))
    page.get_by_role("button", name="Nhập").click()
    expect(result).to_contain_text("Đã nhập 2 lĩnh vực.")
    expect(result.locator("td", has_text="GT-DUONG")).to_be_visible()
    expect(page.locator("#import-progress")).to_be_hidden()


def test_parent_category_needs_two_confirmations(new_page, world, areas):
    world.user("qt.lv", roles=["catalog.categories.write"])
    page: Page = new_page()
    sign_in(page, "qt.lv")
    page.goto("/catalog/categories/defaults")
    page.get_by_role("checkbox", name=re.compile("^Giao thông")).check()  # ticks its children too
    expect(page.get_by_role("checkbox", name=re.compile("^Đèn tín hiệu giao thông"))).to_be_checked()
    page.get_by_role("button", name="Thêm các lĩnh vực đã chọn").click()
    expect(page.locator(".alert.ok")).to_contain_text("Đã tạo 7 lĩnh vực từ bộ mặc định")
    asked = []

    def answer(dialog):
        asked.append(dialog.message)
        dialog.accept() if len(asked) == 1 else dialog.dismiss()

    page.on("dialog", answer)
    row = page.locator("li", has=page.locator("strong", has_text=re.compile("^GT$"))).first
    row.get_by_role("button", name="Xóa").first.click()
    page.wait_for_timeout(300)
    assert len(asked) == 2 and "lĩnh vực cha của 6 lĩnh vực con" in asked[1]
    expect(page.locator(".cat-node", has_text="GT – Giao thông")).to_be_visible()  # the second "no" kept it
    page.remove_listener("dialog", answer)
    page.on("dialog", lambda d: d.accept())
    page.locator("li", has=page.locator("strong", has_text=re.compile("^GT$"))).first.get_by_role(
        "button", name="Xóa").first.click()
    expect(page.locator(".alert.ok")).to_contain_text("Đã xóa lĩnh vực GT và 6 lĩnh vực con.")

