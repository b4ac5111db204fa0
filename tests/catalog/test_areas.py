"""Areas (CRM-26…29): the national loader on both schemes, lists and the lazy tree, national-code
validation, sysadmin-only writes, and deletion refused while anything refers to the area."""

from __future__ import annotations

from sqlalchemy import func, select

from ketnoi.audit.models import AuditEntry
from ketnoi.catalog.areas_data import load_areas, read_units
from ketnoi.catalog.models import Area
from tests.catalog.conftest import HANOI, make_report
from tests.conftest import login


def _levels(s, scheme: str) -> dict[int, int]:
    stmt = select(Area.level, func.count()).where(Area.scheme == scheme).group_by(Area.level)
    return dict(s.execute(stmt).tuples().all())


def test_load_2025_scheme_is_complete_linked_and_idempotent(database, world):
    with database.session() as s:
        first = load_areas(s, "2025")
    assert first.by_level == {1: 34, 2: 3321} and first.inserted == 3355
    with database.session() as s:
        assert _levels(s, "2025") == {1: 34, 2: 3321}
        ba_dinh = s.scalar(select(Area).where(Area.scheme == "2025", Area.code == "00004"))
        hanoi = s.scalar(select(Area).where(Area.scheme == "2025", Area.code == HANOI))
        assert ba_dinh.name == "Phường Ba Đình" and ba_dinh.parent_id == hanoi.id and ba_dinh.level == 2
        assert ba_dinh.path == f"/{hanoi.id}/{ba_dinh.id}/" and hanoi.path == f"/{hanoi.id}/"
        assert s.scalar(select(func.count()).select_from(Area).where(Area.level == 2, Area.parent_id.is_(None))) == 0
        # an administrator's retirement survives a reload; a changed name is put back
        ba_dinh.is_active = False
        ba_dinh.name = "Tên sai"
    with database.session() as s:
        again = load_areas(s, "2025")
    assert (again.inserted, again.updated, again.unchanged) == (0, 1, 3354)
    with database.session() as s:
        ba_dinh = s.scalar(select(Area).where(Area.scheme == "2025", Area.code == "00004"))
        assert ba_dinh.name == "Phường Ba Đình" and ba_dinh.is_active is False
        assert s.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "areas.loaded")) == 2


def test_load_legacy_scheme_has_three_levels_beside_2025(database, world):
    with database.session() as s:
        load_areas(s, "2025", provinces=[HANOI])
        result = load_areas(s, "legacy")
    assert result.by_level == {1: 63, 2: 696, 3: 10035}
    with database.session() as s:
        assert _levels(s, "legacy") == {1: 63, 2: 696, 3: 10035}
        phuc_xa = s.scalar(select(Area).where(Area.scheme == "legacy", Area.code == "00001"))
        district = s.get(Area, phuc_xa.parent_id)
        assert district.code == "001" and district.level == 2
        assert phuc_xa.path == f"{district.path}{phuc_xa.id}/" and phuc_xa.path.count("/") == 4
        # the same national code lives in both schemes as different units
        assert s.scalar(select(func.count()).select_from(Area).where(Area.code == HANOI)) == 2


def test_loading_a_province_subset(database, world):
    with database.session() as s:
        r = load_areas(s, "2025", provinces=["79"])
    assert r.by_level[1] == 1 and r.by_level[2] > 100
    with database.session() as s:
        assert {a for a in s.scalars(select(Area.code).where(Area.level == 1))} == {"79"}


def test_area_list_filters_search_sort_and_paging(client, areas):
    h = login(client, "root")
    r = client.get("/api/v1/areas?scheme=2025&level=1", headers=h).json()
    assert r["total"] == 2 and [a["code"] for a in r["items"]] == ["01", "79"]
    hanoi = areas[("2025", HANOI)]
    r = client.get(f"/api/v1/areas?parent_id={hanoi}&page_size=10&page=2&sort=-code", headers=h).json()
    assert r["total"] == 126 and r["page"] == 2 and len(r["items"]) == 10
    codes = [a["code"] for a in r["items"]]
    assert codes == sorted(codes, reverse=True)
    found = client.get("/api/v1/areas?q=ba đình&scheme=2025", headers=h).json()["items"]
    assert [a["name"] for a in found] == ["Phường Ba Đình"]
    assert client.get("/api/v1/areas?q=BA ĐÌNH&scheme=legacy", headers=h).json()["items"][0]["name"] == "Quận Ba Đình"
    assert client.get("/api/v1/areas?scheme=x", headers=h).status_code == 422
    assert client.get("/api/v1/areas?sort=path", headers=h).status_code == 422
    one = client.get(f"/api/v1/areas/{hanoi}", headers=h).json()
    assert one["name"] == "Thành phố Hà Nội" and one["level"] == 1
    assert client.get("/api/v1/areas/khong-co", headers=h).status_code == 404


def test_area_tree_returns_children_of_a_node(client, areas):
    h = login(client, "root")
    roots = client.get("/api/v1/areas/tree?scheme=legacy", headers=h).json()
    assert [(a["code"], a["children"]) for a in roots] == [("01", 30)]
    districts = client.get(f"/api/v1/areas/tree?parent_id={roots[0]['id']}", headers=h).json()
    ba_dinh = next(d for d in districts if d["code"] == "001")
    in_file = sum(1 for u in read_units("legacy") if u.parent_code == "001")
    assert ba_dinh["children"] == in_file > 0 and ba_dinh["level"] == 2
    wards = client.get(f"/api/v1/areas/tree?parent_id={ba_dinh['id']}", headers=h).json()
    assert len(wards) == in_file and all(w["children"] == 0 and w["level"] == 3 for w in wards)
    assert [w["code"] for w in wards] == sorted(w["code"] for w in wards)
    assert client.get("/api/v1/areas/tree?parent_id=khong-co", headers=h).status_code == 404


def test_create_area_validates_the_national_code_and_the_level(client, areas):
    h = login(client, "root")
    hanoi, hanoi_old = areas[("2025", HANOI)], areas[("legacy", HANOI)]
    district_old = areas[("legacy", "001")]

    def post(**body):
        return client.post("/api/v1/areas", headers=h, json=body)

    def field(r):
        assert r.status_code == 422, r.text
        return r.json()["errors"][0]["field"], r.json()["detail"]

    assert field(post(code="0A123", name="Xã Mới", level=2, parent_id=hanoi)) == (
        "code", "Mã khu vực chỉ gồm chữ số (mã đơn vị hành chính quốc gia).")
    f, detail = field(post(code="123", name="Xã Mới", level=2, parent_id=hanoi))
    assert f == "code" and "5 chữ số" in detail
    f, detail = field(post(code="99999", name="Xã Mới", level=2))
    assert f == "parent_id" and "cấp trên" in detail
    f, detail = field(post(scheme="legacy", code="99999", name="Xã Mới", level=3, parent_id=hanoi_old))
    assert f == "level" and "cấp 2" in detail
    assert field(post(code="99999", name="Xã Mới", level=2, parent_id=hanoi_old))[0] == "parent_id"  # other scheme
    f, detail = field(post(code="99999", name="Xã Mới", level=3, parent_id=hanoi))
    assert f == "level" and "2 cấp" in detail
    assert field(post(code="99", name="Tỉnh", level=1, parent_id=hanoi))[0] == "parent_id"
    assert field(post(scheme="legacy", code="9999", name="Huyện", level=2, parent_id=hanoi_old))[0] == "code"
    assert field(post(scheme="2026", code="99", name="Tỉnh", level=1))[0] == "scheme"
    r = post(code="00004", name="Trùng mã", level=2, parent_id=hanoi)
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"

    r = post(code="99999", name="Phường Thử Nghiệm", division_type="Phường", level=2, parent_id=hanoi)
    assert r.status_code == 201, r.text
    new = r.json()
    assert new["path"] == f"/{hanoi}/{new['id']}/" and new["scheme"] == "2025"
    r = post(scheme="legacy", code="99999", name="Phường cũ", level=3, parent_id=district_old)
    assert r.status_code == 201  # same code, other scheme
    assert post(code="98", name="Tỉnh Thử", level=1).status_code == 201


def test_area_writes_need_a_system_administrator(client, world, areas):
    world.user("qt.kv", roles=["catalog.areas.write"])
    world.user("doc.kv", roles=["catalog.areas.read"])
    hanoi = areas[("2025", HANOI)]
    h = login(client, "qt.kv")
    new = {"code": "99999", "name": "X", "level": 2, "parent_id": hanoi}
    for method, path, body in [("POST", "/api/v1/areas", new),
                               ("PATCH", f"/api/v1/areas/{hanoi}", {"name": "Đổi tên"}),
                               ("DELETE", f"/api/v1/areas/{hanoi}", None)]:
        r = client.request(method, path, headers=h, json=body)
        assert r.status_code == 403, (method, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert "chỉ quản trị hệ thống" in r.json()["detail"]
    assert client.get(f"/api/v1/areas/{hanoi}", headers=h).json()["name"] == "Thành phố Hà Nội"
    reader = login(client, "doc.kv")
    assert client.get("/api/v1/areas?level=1", headers=reader).status_code == 200
    r = client.patch(f"/api/v1/areas/{hanoi}", headers=reader, json={"name": "Đổi tên"})
    assert r.status_code == 403 and r.json()["detail"] == "Bạn không có quyền thực hiện chức năng này."


def test_update_area_code_name_type_and_status(client, database, areas):
    h = login(client, "root")
    ward = areas[("2025", "00004")]
    r = client.patch(f"/api/v1/areas/{ward}", headers=h, json={"code": "12"})
    assert r.status_code == 422 and "5 chữ số" in r.json()["detail"]
    assert client.patch(f"/api/v1/areas/{ward}", headers=h, json={"code": "00008"}).status_code == 409
    r = client.patch(f"/api/v1/areas/{ward}", headers=h, json={"code": "00005", "name": "Phường Ba Đình Mới",
                                                                "division_type": "Phường", "is_active": False})
    assert r.status_code == 200
    assert (r.json()["code"], r.json()["name"], r.json()["is_active"]) == ("00005", "Phường Ba Đình Mới", False)
    with database.session() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "area.updated", AuditEntry.entity_id == ward))
        assert e.before == {"code": "00004", "name": "Phường Ba Đình", "is_active": True}
        assert e.after["code"] == "00005" and e.organization_id is None


def test_area_in_use_or_with_children_is_not_deleted(client, world, database, areas):
    h = login(client, "root")
    hanoi, ward, ward2, ward3 = (areas[("2025", c)] for c in (HANOI, "00004", "00008", "00025"))
    r = client.delete(f"/api/v1/areas/{hanoi}", headers=h)
    assert r.status_code == 409 and "khu vực cấp dưới" in r.json()["detail"]
    assert "ngừng sử dụng" in r.json()["detail"] and "is_active = false" in r.json()["detail"]
    client.post("/api/v1/categories", headers=h, json={"code": "MT", "name": "Môi trường", "area_ids": [ward],
                                                       "organization_id": world.org_a})
    r = client.delete(f"/api/v1/areas/{ward}", headers=h)
    assert r.status_code == 409 and "1 lĩnh vực" in r.json()["detail"] and "ngừng sử dụng" in r.json()["detail"]
    make_report(database, world.org_a, area_id=ward2)
    r = client.delete(f"/api/v1/areas/{ward2}", headers=h)
    assert r.status_code == 409 and "1 phản ánh" in r.json()["detail"]
    assert client.delete(f"/api/v1/areas/{ward3}", headers=h).status_code == 204
    assert client.get(f"/api/v1/areas/{ward3}", headers=h).status_code == 404
    # retiring is the way out for a used area
    assert client.patch(f"/api/v1/areas/{ward2}", headers=h, json={"is_active": False}).json()["is_active"] is False
    with database.session() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "area.deleted"))
        assert e.entity_id == ward3 and e.before["code"] == "00025"
