"""Catalog console pages through HTTP: the lazy area tree and table, area forms for system
administrators only, category table/tree views, forms with icon upload, deletion with a second
confirmation, CSV import with its result fragment, and the default set."""

from __future__ import annotations

import re

from sqlalchemy import select

from ketnoi.catalog.models import Area, Category
from tests.catalog.conftest import HANOI, make_report
from tests.catalog.test_category_files import png_bytes
from tests.web.test_console import console_login, csrf_of


def _csrf(client, url="/catalog/categories") -> str:
    return csrf_of(client.get(url).text)


def _category_id(database, code: str) -> str:
    with database.session() as s:
        return s.scalar(select(Category.id).where(Category.code == code))


def test_every_catalog_page_renders_for_sysadmin(client, world, areas, database):
    console_login(client, "root")
    client.post("/catalog/categories/defaults", data={"csrf_token": _csrf(client), "all": "1",
                                                      "organization_id": world.org_a})
    cat = _category_id(database, "MT")
    hanoi = areas[("2025", HANOI)]
    for url in ("/catalog/areas", "/catalog/areas?scheme=legacy", f"/catalog/areas?parent_id={hanoi}",
                "/catalog/areas?q=ba đình&level=", "/catalog/areas/new", f"/catalog/areas/new?parent_id={hanoi}",
                f"/catalog/areas/{hanoi}", "/catalog/categories", "/catalog/categories?view=tree",
                f"/catalog/categories?area_id={hanoi}", "/catalog/categories/new", f"/catalog/categories/{cat}",
                f"/catalog/categories/new?parent_id={cat}", "/catalog/categories/import", "/catalog/categories/defaults",
                f"/catalog/categories/defaults?organization_id={world.org_a}"):
        r = client.get(url)
        assert r.status_code == 200, url
        assert "<h1>" in r.text, url
    home = client.get("/")
    assert "/catalog/areas" in home.text and "/catalog/categories" in home.text and "Danh mục" in home.text


def test_area_page_shows_tree_and_province_table_and_expands_lazily(client, world, areas):
    world.user("xem.kv", roles=["catalog.areas.read"])
    console_login(client, "xem.kv")
    r = client.get("/catalog/areas")
    assert r.status_code == 200
    assert 'hx-get="/catalog/areas/tree?parent_id=' in r.text and 'hx-trigger="toggle once"' in r.text
    assert "Tổng cộng <strong>2</strong>" in r.text  # the table opens on the two loaded provinces
    assert "Thành phố Hà Nội" in r.text and "+ Thêm mới" not in r.text and "Xóa" not in r.text
    hanoi = areas[("2025", HANOI)]
    frag = client.get(f"/catalog/areas/tree?parent_id={hanoi}", headers={"HX-Request": "true"})
    assert frag.status_code == 200 and "<html" not in frag.text
    assert "00004 – Phường Ba Đình" in frag.text and "hx-get" not in frag.text  # wards are leaves
    legacy = client.get(f"/catalog/areas/tree?parent_id={areas[('legacy', HANOI)]}")
    assert "001 – Quận Ba Đình" in legacy.text and "hx-get" in legacy.text
    r = client.get(f"/catalog/areas?parent_id={hanoi}&q=đình")
    assert "Khu vực trực thuộc Thành phố Hà Nội" in r.text and "Phường Ba Đình" in r.text
    assert "Phường Ngọc Hà" not in r.text
    r = client.get("/catalog/areas?scheme=legacy&level=2&sort=-code&page_size=10")
    codes = re.findall(r"<td>(\d{3})</td>", r.text)
    assert len(codes) == 10 and codes == sorted(codes, reverse=True)
    assert client.get("/catalog/areas/new").status_code == 403


def test_sysadmin_creates_edits_retires_and_deletes_areas_in_the_console(client, world, database, areas):
    console_login(client, "root")
    hanoi = areas[("2025", HANOI)]
    token = _csrf(client, "/catalog/areas/new")
    r = client.post("/catalog/areas/new", data={"csrf_token": token, "scheme": "2025", "level": "2",
                                                "parent_id": hanoi, "code": "123", "name": "Phường Mới"})
    assert r.status_code == 422 and "phải có đúng 5 chữ số" in r.text and 'value="Phường Mới"' in r.text
    r = client.post("/catalog/areas/new", follow_redirects=False, data={
        "csrf_token": token, "scheme": "2025", "level": "2", "parent_id": hanoi, "code": "99990",
        "name": "Phường Mới", "division_type": "Phường", "is_active": "1"})
    assert r.status_code == 303 and r.headers["location"].startswith(f"/catalog/areas?parent_id={hanoi}")
    with database.session() as s:
        new = s.scalar(select(Area).where(Area.code == "99990"))
        assert new.parent_id == hanoi and new.path == f"/{hanoi}/{new.id}/"
    r = client.post(f"/catalog/areas/{new.id}", follow_redirects=False, data={
        "csrf_token": token, "code": "99991", "name": "Phường Mới Đổi Tên", "division_type": "Phường",
        "is_active": "1"})
    assert r.status_code == 303
    r = client.post(f"/catalog/areas/{new.id}/retire", data={"csrf_token": token})
    assert "ngừng sử dụng" in r.text
    with database.session() as s:
        assert (s.get(Area, new.id).code, s.get(Area, new.id).is_active) == ("99991", False)
    r = client.post(f"/catalog/areas/{hanoi}/delete", data={"csrf_token": token})
    assert "Không xóa được" in r.text and "khu vực cấp dưới" in r.text
    edit = client.get(f"/catalog/areas/{new.id}")
    assert f'action="/catalog/areas/{new.id}/delete"' in edit.text and "data-confirm=" in edit.text
    r = client.post(f"/catalog/areas/{new.id}/delete", data={"csrf_token": token})
    assert "Đã xóa khu vực 99991" in r.text


def test_organization_area_writer_is_told_areas_are_national(client, world, areas):
    world.user("qt.kv", roles=["catalog.areas.write"])
    console_login(client, "qt.kv")
    r = client.get("/catalog/areas/new")
    assert r.status_code == 200 and "chỉ quản trị hệ thống" in r.text
    token = csrf_of(r.text)
    r = client.post("/catalog/areas/new", data={"csrf_token": token, "scheme": "2025", "level": "1", "code": "98",
                                                "name": "Tỉnh Thử"})
    assert r.status_code == 403 and "chỉ quản trị hệ thống" in r.text
    r = client.post(f"/catalog/areas/{areas[('2025', HANOI)]}/retire", data={"csrf_token": token})
    assert r.status_code == 403


def test_category_form_with_parent_areas_and_icon(client, world, database, areas):
    world.user("qt.lv", roles=["catalog.categories.write", "catalog.areas.read"])
    console_login(client, "qt.lv")
    page = client.get("/catalog/categories/new")
    assert 'enctype="multipart/form-data"' in page.text and 'data-area-search="#f-area_ids"' in page.text
    assert 'name="organization_id"' not in page.text  # an organization user writes in their own
    token = csrf_of(page.text)
    hanoi, ward = areas[("2025", HANOI)], areas[("2025", "00004")]
    r = client.post("/catalog/categories/new", follow_redirects=False, data={
        "csrf_token": token, "code": "MT", "name": "Môi trường", "sort_order": "1", "is_active": "1",
        "area_ids": [hanoi]})
    assert r.status_code == 303
    mt = _category_id(database, "MT")
    r = client.post("/catalog/categories/new", data={
        "csrf_token": token, "code": "MT-RAC", "name": "", "parent_id": mt, "area_ids": [ward]},
        files={"icon": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 422 and "Không được để trống." in r.text
    assert f'value="{ward}" checked' in r.text  # the searched ward stays chosen
    r = client.post("/catalog/categories/new", data={
        "csrf_token": token, "code": "MT-RAC", "name": "Rác thải", "parent_id": mt, "area_ids": [ward],
        "sort_order": "0", "is_active": "1"}, files={"icon": ("a.png", b"not an image", "image/png")})
    assert r.status_code == 422 and "PNG, JPEG, SVG hoặc WebP" in r.text
    assert _category_id(database, "MT-RAC") is None  # nothing saved with a bad icon
    r = client.post("/catalog/categories/new", follow_redirects=False, data={
        "csrf_token": token, "code": "MT-RAC", "name": "Rác thải", "parent_id": mt, "area_ids": [ward],
        "sort_order": "0", "is_active": "1"}, files={"icon": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 303
    rac = _category_id(database, "MT-RAC")
    edit = client.get(f"/catalog/categories/{rac}")
    assert f'src="/api/v1/categories/{rac}/icon"' in edit.text and "Phường Ba Đình" in edit.text
    assert f'<option value="{rac}"' not in edit.text  # a category cannot be its own parent
    assert client.get(f"/api/v1/categories/{rac}/icon").content == png_bytes()  # cookie session reads the API
    r = client.post(f"/catalog/categories/{rac}", follow_redirects=False, data={
        "csrf_token": token, "code": "MT-RAC", "name": "Rác thải sinh hoạt", "parent_id": mt, "sort_order": "0",
        "description": "Thu gom rác", "is_active": "1"})
    assert r.status_code == 303
    with database.session() as s:
        c = s.get(Category, rac)
        assert (c.name, c.areas, c.icon != "") == ("Rác thải sinh hoạt", [], True)


def test_category_views_filter_and_delete_with_second_confirmation(client, world, database, areas):
    world.user("qt.lv", roles=["catalog.categories.write"])
    console_login(client, "qt.lv")
    token = _csrf(client)
    client.post("/catalog/categories/defaults", data={"csrf_token": token, "codes": ["MT-RAC", "GT-DUONG"]})
    mt, rac, gt = (_category_id(database, c) for c in ("MT", "MT-RAC", "GT"))
    table = client.get("/catalog/categories?sort=code")
    assert re.findall(r">(MT-RAC|MT|GT-DUONG|GT)</a>", table.text) == ["GT", "GT-DUONG", "MT", "MT-RAC"]
    assert f'action="/catalog/categories/{mt}/delete?confirm_children=1"' in table.text
    assert 'data-confirm2="MT là lĩnh vực cha của 1 lĩnh vực con.' in table.text
    assert f'action="/catalog/categories/{rac}/delete"' in table.text
    tree = client.get("/catalog/categories?view=tree")
    assert '<ul class="tree root">' in tree.text and tree.text.index("Môi trường") < tree.text.index("Rác thải")
    found = client.get("/catalog/categories?view=tree&q=rác")
    assert "Rác thải" in found.text and "Giao thông" not in found.text
    # delete without the second confirmation is refused; with it the subtree goes
    r = client.post(f"/catalog/categories/{mt}/delete", data={"csrf_token": token})
    assert "Không xóa được" in r.text and "Xác nhận lần hai" in r.text
    r = client.post(f"/catalog/categories/{mt}/delete?confirm_children=1", data={"csrf_token": token})
    assert "Đã xóa lĩnh vực MT và 1 lĩnh vực con." in r.text
    make_report(database, world.org_a, category_id=gt)
    r = client.post(f"/catalog/categories/{gt}/delete?confirm_children=1", data={"csrf_token": token})
    assert "ngừng sử dụng" in r.text
    assert "Ngừng sử dụng" in client.get("/catalog/categories?is_active=0").text


def test_csv_import_page_shows_progress_and_results(client, world, database, areas):
    world.user("qt.lv", roles=["catalog.categories.write"])
    console_login(client, "qt.lv")
    page = client.get("/catalog/categories/import")
    assert 'hx-post="/catalog/categories/import"' in page.text and 'hx-indicator="#import-progress"' in page.text
    assert "<progress" in page.text and "htmx:xhr:progress" in page.text
    token = csrf_of(page.text)
    good = "\ufeffcode,name,parent_code,description,area_codes\nMT,Môi trường,,,01\nMT-RAC,Rác thải,MT,,00004\n"
    r = client.post("/catalog/categories/import", headers={"HX-Request": "true"}, data={"csrf_token": token},
                    files={"file": ("a.csv", good.encode(), "text/csv")})
    assert r.status_code == 200 and "<html" not in r.text
    assert "Đã nhập 2 lĩnh vực." in r.text and "<td>MT-RAC</td>" in r.text and "Phường Ba Đình" in r.text
    bad = "code,name,parent_code\nGT,Giao thông,\nMT,Trùng,\nX,Không cha,KHONG-CO\n"
    r = client.post("/catalog/categories/import", headers={"HX-Request": "true"}, data={"csrf_token": token},
                    files={"file": ("b.csv", bad.encode(), "text/csv")})
    assert r.status_code == 422 and "chưa nhập lĩnh vực nào" in r.text
    assert "Mã MT đã có trong danh mục" in r.text and "Không tìm thấy lĩnh vực cha KHONG-CO" in r.text
    assert _category_id(database, "GT") is None
    # without HTMX the whole page comes back with the result
    r = client.post("/catalog/categories/import", data={"csrf_token": token},
                    files={"file": ("c.csv", b"name\nA\n", "text/csv")})
    assert r.status_code == 422 and "<h1>Nhập lĩnh vực từ tệp CSV</h1>" in r.text and "Thiếu cột bắt buộc" in r.text
    r = client.post("/catalog/categories/import", data={"csrf_token": token})
    assert r.status_code == 422 and "Chưa chọn tệp CSV." in r.text


def test_default_set_page_marks_existing_and_creates_chosen(client, world, database):
    console_login(client, "root")
    r = client.get(f"/catalog/categories/defaults?organization_id={world.org_a}")
    assert "Giao thông" in r.text and "Đèn tín hiệu giao thông" in r.text and "Đã có" not in r.text
    token = csrf_of(r.text)
    r = client.post("/catalog/categories/defaults", data={"csrf_token": token, "codes": ["YT"]})
    assert r.status_code == 422 and "Chọn tổ chức." in r.text  # a system administrator picks one
    r = client.post("/catalog/categories/defaults", follow_redirects=False, data={
        "csrf_token": token, "organization_id": world.org_a, "codes": ["YT", "YT-ATTP"]})
    assert r.status_code == 303 and "view=tree" in r.headers["location"]
    r = client.get(f"/catalog/categories/defaults?organization_id={world.org_a}")
    assert r.text.count("Đã có") == 2
    with database.session() as s:
        assert {c.organization_id for c in s.scalars(select(Category))} == {world.org_a}


def test_category_console_respects_organizations_and_permissions(client, world, database):
    world.user("qt.b", org="b", dept="B1", roles=["catalog.categories.write"])
    world.user("xem.lv", roles=["catalog.categories.read"])
    console_login(client, "root")
    client.post("/catalog/categories/defaults", data={"csrf_token": _csrf(client), "all": "1",
                                                      "organization_id": world.org_a})
    mt = _category_id(database, "MT")
    client.cookies.clear()
    console_login(client, "qt.b")
    assert client.get(f"/catalog/categories/{mt}").status_code == 404
    assert "Tổng cộng <strong>0</strong>" in client.get("/catalog/categories").text
    r = client.post(f"/catalog/categories/{mt}/delete", data={"csrf_token": _csrf(client)})
    assert r.status_code == 404
    client.cookies.clear()
    console_login(client, "xem.lv")
    r = client.get("/catalog/categories?q=môi")
    assert "Môi trường" in r.text and "+ Thêm mới" not in r.text and "Nhập từ CSV" not in r.text
    assert client.get("/catalog/categories/new").status_code == 403
    assert client.get("/catalog/categories/import").status_code == 403
