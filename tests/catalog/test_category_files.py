"""Category icons (type by content, size), CSV import that takes all rows or none (CRM-21), and the
default category set (CRM-23)."""

from __future__ import annotations

import re
import struct
import zlib

from sqlalchemy import select

from ketnoi.catalog.defaults import DEFAULT_CATEGORIES, flatten
from ketnoi.catalog.models import Category
from ketnoi.settings import get_settings
from tests.catalog.conftest import HANOI, HCMC
from tests.conftest import login


def png_bytes() -> bytes:
    """A real 1×1 PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00")) + chunk(b"IEND", b""))


JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"
WEBP = b"RIFF\x1a\x00\x00\x00WEBPVP8L\x0d\x00\x00\x00\x2f\x00\x00\x00\x10\x07\x10\x11\x11\x88\x88\xfe\x07\x00"
SVG = (b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- bi\xe1\xbb\x83u t\xc6\xb0\xe1\xbb\xa3ng -->\n'
       b'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><circle cx="12" cy="12" r="10"/></svg>')


def _writer(world, client, username="qt.lv", org="a", dept="A-ROOT"):
    world.user(username, org=org, dept=dept, roles=["catalog.categories.write"])
    return login(client, username)


def _category(client, h, code="MT", **extra):
    r = client.post("/api/v1/categories", headers=h, json={"code": code, "name": f"Lĩnh vực {code}", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _icons():
    return get_settings().data_dir / "uploads" / "icons"


# --- icons --------------------------------------------------------------------------------------
def _icon_name(database, category_id: str) -> str:
    with database.session() as s:
        return s.get(Category, category_id).icon


def test_icon_upload_checks_content_not_extension(client, world, database):
    h = _writer(world, client)
    c = _category(client, h)
    url = f"/api/v1/categories/{c['id']}/icon"
    assert client.get(url, headers=h).status_code == 404
    names = []
    for name, content, media in [("a.png", png_bytes(), "image/png"), ("a.jpg", JPEG, "image/jpeg"),
                                 ("a.webp", WEBP, "image/webp"), ("icon.svg", SVG, "image/svg+xml"),
                                 ("no-extension", png_bytes(), "image/png")]:
        r = client.post(url, headers=h, files={"file": (name, content, "application/octet-stream")})
        assert r.status_code == 200, (name, r.text)
        assert r.json()["icon_url"] == url
        got = client.get(url, headers=h)
        assert got.status_code == 200 and got.content == content and got.headers["content-type"].startswith(media)
        assert got.headers["x-content-type-options"] == "nosniff" and "sandbox" in got.headers[
            "content-security-policy"]
        names.append(_icon_name(database, c["id"]))
    # stored under a random name; a replaced file is removed once the change has committed
    assert len(set(names)) == len(names) and names[-1].endswith(".png")
    assert all(re.fullmatch(r"[0-9a-f]{32}\.(png|jpg|webp|svg)", n) for n in names)
    assert [(_icons() / n).exists() for n in names] == [False] * (len(names) - 1) + [True]


def test_icon_refuses_other_types_and_big_files(client, world):
    h = _writer(world, client)
    c = _category(client, h)
    url = f"/api/v1/categories/{c['id']}/icon"
    for name, content in [("fake.png", b"This is not a PNG at all"),
                          ("a.gif", b"GIF89a\x01\x00\x01\x00\x00\x00\x00;"),
                          ("page.svg", b"<html><body>not svg</body></html>"), ("x.exe", b"MZ\x90\x00\x03")]:
        r = client.post(url, headers=h, files={"file": (name, content, "image/png")})
        assert r.status_code == 415, (name, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "PNG, JPEG, SVG hoặc WebP" in r.json()["detail"]
    evil = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(1)</script></svg>'
    r = client.post(url, headers=h, files={"file": ("evil.svg", evil, "image/svg+xml")})
    assert r.status_code == 415 and "không an toàn" in r.json()["detail"]
    big = png_bytes() + b"\x00" * (512 * 1024)
    r = client.post(url, headers=h, files={"file": ("big.png", big, "image/png")})
    assert r.status_code == 413 and "512 KB" in r.json()["detail"]
    r = client.post(url, headers=h, files={"file": ("empty.png", b"", "image/png")})
    assert r.status_code == 422
    assert client.post(url, headers=h).status_code == 422  # no file part at all
    assert client.get(url, headers=h).status_code == 404  # nothing was stored
    exact = png_bytes() + b"\x00" * (512 * 1024 - len(png_bytes()))
    assert client.post(url, headers=h, files={"file": ("max.png", exact, "image/png")}).status_code == 200


def test_icon_needs_write_permission_and_same_organization(client, world):
    h = _writer(world, client)
    c = _category(client, h)
    world.user("doc", roles=["catalog.categories.read"])
    r = client.post(f"/api/v1/categories/{c['id']}/icon", headers=login(client, "doc"),
                    files={"file": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 403
    hb = _writer(world, client, "qt.b", org="b", dept="B1")
    r = client.post(f"/api/v1/categories/{c['id']}/icon", headers=hb, files={"file": ("a.png", png_bytes(), "image/png")})
    assert r.status_code == 404


def test_deleting_a_category_removes_its_icon_file(client, world, database):
    h = _writer(world, client)
    c = _category(client, h)
    client.post(f"/api/v1/categories/{c['id']}/icon", headers=h, files={"file": ("a.png", png_bytes(), "image/png")})
    stored = _icons() / _icon_name(database, c["id"])
    assert stored.exists()
    assert client.delete(f"/api/v1/categories/{c['id']}", headers=h).json()["result"] == "deleted"
    assert not stored.exists()


# --- CSV import ---------------------------------------------------------------------------------
def _import(client, h, text: str, bom: bool = False, **form):
    data = ("\ufeff" if bom else "") + text
    return client.post("/api/v1/categories/import", headers=h, data=form,
                       files={"file": ("linh-vuc.csv", data.encode("utf-8"), "text/csv")})


GOOD = """code,name,parent_code,description,area_codes
MT,Môi trường,,Vệ sinh môi trường,01
MT-RAC,Rác thải,MT,"Rác thải sinh hoạt, điểm tập kết",00004;00008
GT,Giao thông,,,01;79
GT-DUONG,Hư hỏng đường,GT,,
YT-ATTP,An toàn thực phẩm,YT,,
"""


def test_csv_import_of_a_good_file_imports_every_row(client, world, database, areas):
    h = _writer(world, client)
    _category(client, h, "YT")  # an existing parent in the catalogue
    r = _import(client, h, GOOD, bom=True)
    assert r.status_code == 200, r.text
    body = r.json()
    assert [(i["row"], i["code"], i["parent_code"]) for i in body["imported"]] == [
        (2, "MT", ""), (3, "MT-RAC", "MT"), (4, "GT", ""), (5, "GT-DUONG", "GT"), (6, "YT-ATTP", "YT")]
    assert body["message"] == "Đã nhập 5 lĩnh vực."
    tree = {n["code"]: n for n in client.get("/api/v1/categories/tree", headers=h).json()}
    assert [c["code"] for c in tree["MT"]["children"]] == ["MT-RAC"]
    assert [c["code"] for c in tree["YT"]["children"]] == ["YT-ATTP"]
    rac = client.get(f"/api/v1/categories/{body['imported'][1]['id']}", headers=h).json()
    assert rac["description"] == "Rác thải sinh hoạt, điểm tập kết"
    assert [a["code"] for a in rac["areas"]] == ["00004", "00008"]
    gt = client.get(f"/api/v1/categories/{body['imported'][2]['id']}", headers=h).json()
    assert [a["code"] for a in gt["areas"]] == [HANOI, HCMC]
    r = _import(client, h, "code,name\nKHAC,Khác\n")  # without BOM, only the required columns
    assert r.status_code == 200 and r.json()["imported"][0]["code"] == "KHAC"


def test_csv_import_with_bad_rows_imports_nothing_and_lists_reasons(client, world, database, areas):
    h = _writer(world, client)
    _category(client, h, "DA-CO")
    bad = """code,name,parent_code,description,area_codes
OK-1,Dòng tốt,,,
,Thiếu mã,,,
THIEU-TEN,,,,
OK-1,Trùng trong tệp,,,
da-co,Trùng trong danh mục,,,
CON,Cha đứng sau,CHA-SAU,,
CHA-SAU,Cha,,,
MO-COI,Không có cha,KHONG-CO,,
KV,Khu vực lạ,,,01;99999
có dấu,Mã sai,,,
""" + "X" * 51 + ",Mã dài,,,\n"
    r = _import(client, h, bad)
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert "chưa nhập lĩnh vực nào" in body["detail"]
    reasons = {(x["row"], x["code"]): x["reason"] for x in body["rows"]}
    assert reasons == {
        (3, ""): "Thiếu mã lĩnh vực (cột code).",
        (4, "THIEU-TEN"): "Thiếu tên lĩnh vực (cột name).",
        (5, "OK-1"): "Mã OK-1 trùng với dòng 2 trong tệp.",
        (6, "da-co"): "Mã da-co đã có trong danh mục lĩnh vực của tổ chức.",
        (7, "CON"): "Lĩnh vực cha CHA-SAU phải đứng trước dòng này trong tệp.",
        (9, "MO-COI"): "Không tìm thấy lĩnh vực cha KHONG-CO (trong tệp hoặc trong danh mục).",
        (10, "KV"): "Không tìm thấy khu vực có mã 99999 (sơ đồ 2025 (2 cấp)).",
        (11, "có dấu"): "Mã lĩnh vực chỉ gồm chữ không dấu, chữ số và . _ - (bắt đầu bằng chữ hoặc số).",
        (12, "X" * 51): "Mã lĩnh vực tối đa 50 ký tự.",
    }
    assert body["errors"][0] == {"field": "dòng 3", "message": "Thiếu mã lĩnh vực (cột code)."}
    with database.session() as s:
        assert [c for c in s.scalars(select(Category.code))] == ["DA-CO"]


def test_csv_import_refuses_unreadable_files(client, world):
    h = _writer(world, client)
    cases = [("name,description\nA,B\n", "code, name"), ("code,name\n", "không có dòng dữ liệu"),
             ("", "code, name")]
    for text, phrase in cases:
        r = _import(client, h, text)
        assert r.status_code == 422 and phrase in r.json()["detail"], (text, r.text)
    r = client.post("/api/v1/categories/import", headers=h,
                    files={"file": ("a.csv", "code,name\nMT,Môi trường\n".encode("utf-16"), "text/csv")})
    assert r.status_code == 422 and "UTF-8" in r.json()["detail"]
    big = "code,name\n" + "".join(f"C{i},Tên {i}\n" for i in range(200000))
    assert _import(client, h, big).status_code == 413
    assert client.post("/api/v1/categories/import", headers=h, json={}).status_code == 422
    r = _import(client, h, "code,name\nMT,Môi trường\n", scheme="2030")
    assert r.status_code == 422


def test_csv_import_by_sysadmin_needs_an_organization_and_uses_a_scheme(client, world, areas):
    h = login(client, "root")
    text = "code,name,parent_code,description,area_codes\nBD,Ba Đình cũ,,,001\n"
    r = _import(client, h, text, scheme="legacy")
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organization_id"
    r = _import(client, h, text, scheme="legacy", organization_id=world.org_b)
    assert r.status_code == 200, r.text
    c = client.get(f"/api/v1/categories/{r.json()['imported'][0]['id']}", headers=h).json()
    assert c["organization_id"] == world.org_b and c["areas"][0]["scheme"] == "legacy"


# --- default set --------------------------------------------------------------------------------
def test_default_set_is_a_two_level_vietnamese_tree():
    flat = flatten()
    assert 8 <= len(DEFAULT_CATEGORIES) <= 12 and 35 <= len(flat) - len(DEFAULT_CATEGORIES) <= 50
    assert len({d.code for d, _ in flat}) == len(flat)
    assert all(not child.children for parent in DEFAULT_CATEGORIES for child in parent.children)
    names = {d.name for d, _ in flat}
    assert {"Môi trường", "Rác thải", "Giao thông", "Đèn tín hiệu giao thông", "Thủ tục hành chính", "Khác"} <= names


def test_create_from_defaults_all_then_skips_existing(client, world, database):
    h = _writer(world, client)
    listed = client.get("/api/v1/categories/defaults", headers=h).json()
    assert len(listed) == len(flatten()) and listed[1]["parent_code"] == listed[0]["code"]
    r = client.post("/api/v1/categories/from-defaults", headers=h, json={})
    assert r.status_code == 200, r.text
    assert len(r.json()["created"]) == len(flatten()) and r.json()["skipped"] == []
    tree = client.get("/api/v1/categories/tree", headers=h).json()
    assert [n["code"] for n in tree] == [d.code for d in DEFAULT_CATEGORIES]
    assert [c["name"] for c in tree[0]["children"]][:2] == ["Rác thải", "Ô nhiễm không khí"]
    again = client.post("/api/v1/categories/from-defaults", headers=h, json={"codes": None}).json()
    assert again["created"] == [] and len(again["skipped"]) == len(flatten())
    assert "bỏ qua" in again["message"]


def test_create_from_defaults_brings_the_parent_of_a_chosen_child(client, world):
    h = _writer(world, client)
    r = client.post("/api/v1/categories/from-defaults", headers=h, json={"codes": ["gt-dentinhieu", "MT-RAC"]})
    assert r.status_code == 200
    created = {c["code"]: c for c in r.json()["created"]}
    assert set(created) == {"GT", "GT-DENTINHIEU", "MT", "MT-RAC"}
    assert created["GT-DENTINHIEU"]["parent_id"] == created["GT"]["id"]
    r = client.post("/api/v1/categories/from-defaults", headers=h, json={"codes": ["GT-UNTAC"]})
    assert [c["code"] for c in r.json()["created"]] == ["GT-UNTAC"] and r.json()["skipped"] == ["GT"]
    assert r.json()["created"][0]["parent_id"] == created["GT"]["id"]
    r = client.post("/api/v1/categories/from-defaults", headers=h, json={"codes": ["KHONG-CO"]})
    assert r.status_code == 422 and "KHONG-CO" in r.json()["detail"]
    assert client.post("/api/v1/categories/from-defaults", headers=h, json={"codes": []}).status_code == 422
    hb = _writer(world, client, "qt.b", org="b", dept="B1")
    assert len(client.post("/api/v1/categories/from-defaults", headers=hb, json={}).json()["created"]) == len(flatten())

