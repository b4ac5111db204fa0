"""Categories (CRM-20, 22, 24, 25): validation, the tree, areas where a category applies, retiring
instead of erasing, the second confirmation for parents, and organization isolation."""

from __future__ import annotations

from sqlalchemy import func, select

from ketnoi.audit.models import AuditEntry
from ketnoi.catalog.models import Category
from tests.catalog.conftest import HANOI, HCMC, make_report
from tests.conftest import login


def _create(client, h, **body):
    r = client.post("/api/v1/categories", headers=h, json=body)
    assert r.status_code == 201, r.text
    return r.json()


def _writer(world, username="qt.lv", org="a", dept="A-ROOT"):
    world.user(username, org=org, dept=dept, roles=["catalog.categories.write", "catalog.areas.read"])


def test_create_validates_code_parent_and_areas(client, world, areas):
    _writer(world)
    h = login(client, "qt.lv")
    ward = areas[("2025", "00004")]
    mt = _create(client, h, code="MT", name="Môi trường", description="Vệ sinh môi trường", area_ids=[ward],
                 sort_order=10)
    assert mt["organization_id"] == world.org_a and mt["parent_id"] is None and mt["icon_url"] is None
    assert [(a["code"], a["name"]) for a in mt["areas"]] == [("00004", "Phường Ba Đình")]
    rac = _create(client, h, code="MT-RAC", name="Rác thải", parent_id=mt["id"])
    assert rac["parent_id"] == mt["id"]

    r = client.post("/api/v1/categories", headers=h, json={"code": "mt", "name": "Trùng"})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"
    r = client.post("/api/v1/categories", headers=h, json={"code": "CON", "name": "Con", "parent_id": "khong-co"})
    assert r.status_code == 422 and r.json()["errors"][0] == {
        "field": "parent_id", "message": "Lĩnh vực cha không tồn tại trong tổ chức."}
    r = client.post("/api/v1/categories", headers=h, json={"code": "KV", "name": "Khu vực", "area_ids": ["khong-co"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "area_ids"
    r = client.post("/api/v1/categories", headers=h, json={"code": "có dấu", "name": ""})
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert r.status_code == 422 and fields["name"] == "Không được để trống." and "code" in fields
    # another organization's parent is not a parent here
    world.user("qt.b", org="b", dept="B1", roles=["catalog.categories.write"])
    hb = login(client, "qt.b")
    r = client.post("/api/v1/categories", headers=hb, json={"code": "X", "name": "X", "parent_id": mt["id"]})
    assert r.status_code == 422
    assert _create(client, hb, code="MT", name="Môi trường B")["organization_id"] == world.org_b  # codes are per org


def test_sysadmin_chooses_the_organization(client, world):
    h = login(client, "root")
    r = client.post("/api/v1/categories", headers=h, json={"code": "GT", "name": "Giao thông"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organization_id"
    r = client.post("/api/v1/categories", headers=h, json={"code": "GT", "name": "Giao thông", "organization_id": "x"})
    assert r.status_code == 422 and r.json()["detail"] == "Tổ chức không tồn tại."
    _create(client, h, code="GT", name="Giao thông", organization_id=world.org_a)
    _create(client, h, code="GT", name="Giao thông", organization_id=world.org_b)
    both = client.get("/api/v1/categories", headers=h).json()
    assert both["total"] == 2
    only_b = client.get(f"/api/v1/categories?organization_id={world.org_b}", headers=h).json()["items"]
    assert [c["organization_id"] for c in only_b] == [world.org_b]


def test_organizations_never_see_each_others_categories(client, world):
    _writer(world)
    world.user("qt.b", org="b", dept="B1", roles=["catalog.categories.write"])
    ha, hb = login(client, "qt.lv"), login(client, "qt.b")
    a = _create(client, ha, code="YT", name="Y tế")
    assert client.get("/api/v1/categories", headers=hb).json()["total"] == 0
    assert client.get(f"/api/v1/categories?organization_id={world.org_a}", headers=hb).json()["total"] == 0
    assert client.get("/api/v1/categories/tree", headers=hb).json() == []
    for method, path, body in [("GET", f"/api/v1/categories/{a['id']}", None),
                               ("PATCH", f"/api/v1/categories/{a['id']}", {"name": "Bị sửa"}),
                               ("DELETE", f"/api/v1/categories/{a['id']}", None),
                               ("GET", f"/api/v1/categories/{a['id']}/icon", None)]:
        r = client.request(method, path, headers=hb, json=body)
        assert r.status_code == 404, (method, path, r.text)
    r = client.post("/api/v1/categories", headers=hb, json={"code": "X", "name": "X", "organization_id": world.org_a})
    assert r.status_code == 403
    assert client.get(f"/api/v1/categories/{a['id']}", headers=ha).json()["name"] == "Y tế"


def test_update_moves_in_the_tree_but_refuses_cycles(client, world, database, areas):
    _writer(world)
    h = login(client, "qt.lv")
    root = _create(client, h, code="DT", name="Đô thị")
    child = _create(client, h, code="DT-XD", name="Xây dựng", parent_id=root["id"])
    grand = _create(client, h, code="DT-XD-1", name="Xây dựng trái phép", parent_id=child["id"])
    r = client.patch(f"/api/v1/categories/{root['id']}", headers=h, json={"parent_id": grand["id"]})
    assert r.status_code == 422 and "lĩnh vực con" in r.json()["detail"]
    r = client.patch(f"/api/v1/categories/{root['id']}", headers=h, json={"parent_id": root["id"]})
    assert r.status_code == 422
    assert client.patch(f"/api/v1/categories/{child['id']}", headers=h, json={"code": "dt"}).status_code == 409
    hcmc = areas[("2025", HCMC)]
    r = client.patch(f"/api/v1/categories/{grand['id']}", headers=h, json={
        "parent_id": None, "name": "Trật tự xây dựng", "description": "Mô tả mới", "area_ids": [hcmc],
        "sort_order": 5, "is_active": False})
    assert r.status_code == 200
    out = r.json()
    assert out["parent_id"] is None and out["name"] == "Trật tự xây dựng" and out["is_active"] is False
    assert [a["code"] for a in out["areas"]] == [HCMC]
    with database.session() as s:
        e = s.scalar(select(AuditEntry).where(AuditEntry.action == "category.updated",
                                              AuditEntry.entity_id == grand["id"]))
        assert e.before["parent_id"] == child["id"] and e.after["area_codes"] == [f"2025:{HCMC}"]
        assert e.organization_id == world.org_a


def test_list_filters_by_area_including_areas_above(client, world, areas):
    _writer(world)
    h = login(client, "qt.lv")
    hanoi, ward, hcmc = areas[("2025", HANOI)], areas[("2025", "00004")], areas[("2025", HCMC)]
    mt = _create(client, h, code="MT", name="Môi trường", area_ids=[hanoi])
    _create(client, h, code="MT-RAC", name="Rác thải", parent_id=mt["id"], area_ids=[ward])
    _create(client, h, code="GT", name="Giao thông", area_ids=[hcmc], sort_order=1)
    _create(client, h, code="KHAC", name="Khác", is_active=False)

    def codes(q):
        r = client.get(f"/api/v1/categories?{q}", headers=h)
        assert r.status_code == 200, r.text
        return [c["code"] for c in r.json()["items"]]

    assert codes(f"area_id={ward}") == ["MT", "MT-RAC"]  # the ward's own and its province's
    assert codes(f"area_id={hanoi}") == ["MT"]
    assert codes(f"area_id={hcmc}") == ["GT"]
    assert codes("area_id=khong-co") == []
    assert codes(f"parent_id={mt['id']}") == ["MT-RAC"]
    assert codes("is_active=false") == ["KHAC"]
    assert codes("q=rác") == ["MT-RAC"]
    assert codes("sort=-name") == ["MT-RAC", "MT", "KHAC", "GT"]
    assert codes("sort=-sort_order")[0] == "GT"
    assert client.get("/api/v1/categories?sort=icon", headers=h).status_code == 422
    r = client.get("/api/v1/categories?page_size=2&page=2&sort=code", headers=h).json()
    assert r["total"] == 4 and [c["code"] for c in r["items"]] == ["MT", "MT-RAC"]


def test_tree_is_nested_and_ordered(client, world, areas):
    _writer(world)
    h = login(client, "qt.lv")
    ward = areas[("2025", "00004")]
    gt = _create(client, h, code="GT", name="Giao thông", sort_order=20)
    mt = _create(client, h, code="MT", name="Môi trường", sort_order=10)
    _create(client, h, code="MT-TIENGON", name="Tiếng ồn", parent_id=mt["id"], sort_order=2)
    _create(client, h, code="MT-RAC", name="Rác thải", parent_id=mt["id"], sort_order=1, area_ids=[ward])
    _create(client, h, code="GT-DUONG", name="Hư hỏng đường", parent_id=gt["id"])
    tree = client.get("/api/v1/categories/tree", headers=h).json()
    assert [n["code"] for n in tree] == ["MT", "GT"]
    assert [n["code"] for n in tree[0]["children"]] == ["MT-RAC", "MT-TIENGON"]
    assert tree[0]["children"][0]["area_ids"] == [ward] and tree[0]["children"][0]["children"] == []
    by_area = client.get(f"/api/v1/categories/tree?area_id={ward}", headers=h).json()
    assert [n["code"] for n in by_area] == ["MT"] and [n["code"] for n in by_area[0]["children"]] == ["MT-RAC"]
    assert client.get("/api/v1/categories/tree?q=đường", headers=h).json()[0]["children"][0]["code"] == "GT-DUONG"


def test_delete_erases_unused_and_retires_used_categories(client, world, database):
    _writer(world)
    h = login(client, "qt.lv")
    unused = _create(client, h, code="A1", name="Chưa dùng")
    used = _create(client, h, code="A2", name="Đang dùng")
    make_report(database, world.org_a, category_id=used["id"])
    r = client.delete(f"/api/v1/categories/{unused['id']}", headers=h)
    assert r.status_code == 200 and r.json()["result"] == "deleted"
    assert client.get(f"/api/v1/categories/{unused['id']}", headers=h).status_code == 404
    r = client.delete(f"/api/v1/categories/{used['id']}", headers=h)
    assert r.status_code == 200 and r.json()["result"] == "retired"
    assert "ngừng sử dụng" in r.json()["message"] and "phản ánh" in r.json()["message"]
    assert client.get(f"/api/v1/categories/{used['id']}", headers=h).json()["is_active"] is False
    with database.session() as s:
        actions = dict(s.execute(select(AuditEntry.entity_id, AuditEntry.action).where(
            AuditEntry.action.in_(["category.deleted", "category.retired"]))).tuples().all())
    assert actions == {unused["id"]: "category.deleted", used["id"]: "category.retired"}


def test_deleting_a_parent_needs_a_second_confirmation(client, world, database):
    _writer(world)
    h = login(client, "qt.lv")
    p1 = _create(client, h, code="P1", name="Cha một")
    c1 = _create(client, h, code="P1-C", name="Con", parent_id=p1["id"])
    g1 = _create(client, h, code="P1-C-G", name="Cháu", parent_id=c1["id"])
    r = client.delete(f"/api/v1/categories/{p1['id']}", headers=h)
    assert r.status_code == 409 and "2 lĩnh vực con" in r.json()["detail"] and "confirm_children" in r.json()["detail"]
    assert client.get(f"/api/v1/categories/{c1['id']}", headers=h).status_code == 200
    r = client.delete(f"/api/v1/categories/{p1['id']}?confirm_children=true", headers=h)
    assert r.status_code == 200 and r.json()["result"] == "deleted" and set(r.json()["ids"]) == {
        p1["id"], c1["id"], g1["id"]}
    assert client.get("/api/v1/categories", headers=h).json()["total"] == 0

    # a subtree with one category in use is retired as a whole, nothing erased
    p2 = _create(client, h, code="P2", name="Cha hai")
    c2 = _create(client, h, code="P2-C", name="Con đang dùng", parent_id=p2["id"])
    c3 = _create(client, h, code="P2-D", name="Con chưa dùng", parent_id=p2["id"])
    make_report(database, world.org_a, category_id=c2["id"])
    assert client.delete(f"/api/v1/categories/{p2['id']}", headers=h).status_code == 409
    r = client.delete(f"/api/v1/categories/{p2['id']}?confirm_children=true", headers=h)
    assert r.status_code == 200 and r.json()["result"] == "retired" and "P2-C" in r.json()["message"]
    items = client.get("/api/v1/categories", headers=h).json()["items"]
    assert {c["id"]: c["is_active"] for c in items} == {p2["id"]: False, c2["id"]: False, c3["id"]: False}


def test_every_change_is_audited_in_the_organization(client, world, database):
    _writer(world)
    h = login(client, "qt.lv")
    c = _create(client, h, code="AT", name="An toàn")
    client.patch(f"/api/v1/categories/{c['id']}", headers=h, json={"name": "An ninh trật tự"})
    client.delete(f"/api/v1/categories/{c['id']}", headers=h)
    with database.session() as s:
        rows = s.execute(select(AuditEntry.action, AuditEntry.organization_id, AuditEntry.actor_name).where(
            AuditEntry.entity_type == "category").order_by(AuditEntry.at)).all()
        assert [r.action for r in rows] == ["category.created", "category.updated", "category.deleted"]
        assert {(r.organization_id, r.actor_name) for r in rows} == {(world.org_a, "qt.lv")}
        assert s.scalar(select(func.count()).select_from(Category)) == 0
