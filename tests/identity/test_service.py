"""Organizations, departments, users, roles and groups through the API: validation, trees,
unit scope, and the rules that keep data consistent (PERM-04…09)."""

from __future__ import annotations

from tests.conftest import login


def test_department_tree_move_updates_descendant_paths_and_refuses_cycles(client, world):
    h = login(client, "root")
    d = world.dept
    r = client.patch(f"/api/v1/departments/{d['A-ROOT']}", headers=h, json={"parent_id": d["A-CHILD"]})
    assert r.status_code == 422 and "chính nó" in r.json()["detail"]
    r = client.patch(f"/api/v1/departments/{d['A-ROOT']}", headers=h, json={"parent_id": d["A-OTHER"]})
    assert r.status_code == 200
    child = client.get(f"/api/v1/departments/{d['A-CHILD']}", headers=h).json()
    assert child["path"] == f"/{d['A-OTHER']}/{d['A-ROOT']}/{d['A-CHILD']}/"
    # a parent from another organization is refused
    r = client.patch(f"/api/v1/departments/{d['A-ROOT']}", headers=h, json={"parent_id": d["B1"]})
    assert r.status_code == 422


def test_department_in_use_cannot_be_deleted(client, world):
    h = login(client, "root")
    world.user("nhanvien", dept="A-CHILD")
    r = client.delete(f"/api/v1/departments/{world.dept['A-ROOT']}", headers=h)
    assert r.status_code == 409 and "đơn vị con" in r.json()["detail"]
    r = client.delete(f"/api/v1/departments/{world.dept['A-CHILD']}", headers=h)
    assert r.status_code == 409 and "người dùng" in r.json()["detail"]
    assert client.delete(f"/api/v1/departments/{world.dept['A-OTHER']}", headers=h).status_code == 204


def test_duplicate_codes_are_conflicts_with_field_errors(client, world):
    h = login(client, "root")
    r = client.post("/api/v1/departments", headers=h, json={"code": "a-root", "name": "Trùng",
                                                             "organization_id": world.org_a})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "code"
    world.user("trung")
    r = client.post("/api/v1/users", headers=h, json={
        "code": "KHAC", "username": "trung", "full_name": "Trùng tên", "password": "Abc-12345-xyz",
        "organization_id": world.org_a})
    assert r.status_code == 409 and r.json()["errors"][0]["field"] == "username"


def test_user_validation_messages_are_vietnamese(client, world):
    h = login(client, "root")
    r = client.post("/api/v1/users", headers=h, json={
        "code": "", "username": "x", "full_name": "", "password": "1", "organization_id": world.org_a})
    assert r.status_code == 422
    fields = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert fields["username"] == "Cần ít nhất 3 ký tự."
    assert fields["full_name"] == "Không được để trống."
    r = client.post("/api/v1/users", headers=h, json={
        "code": "U1", "username": "hople", "full_name": "Hợp Lệ", "password": "Abc-12345-xyz",
        "organization_id": world.org_a, "phone": "12345", "email": "khong-phai-email"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "phone"


def test_user_create_normalizes_phone_and_limits_groups_to_organization(client, world, database):
    from sqlalchemy import select

    from ketnoi.identity.models import Organization, PermissionGroup

    h = login(client, "root")
    with database.session() as s:
        g = s.scalar(select(PermissionGroup).where(PermissionGroup.code == "CHUYEN_VIEN"))
        org_b = s.get(Organization, world.org_b)
        org_b.groups = [x for x in org_b.groups if x.id != g.id]
        gid = g.id
    body = {"code": "P1", "username": "phuong", "full_name": "Lê Phương", "password": "Abc-12345-xyz",
            "organization_id": world.org_b, "phone": "84 912 345 678", "group_ids": [gid]}
    r = client.post("/api/v1/users", headers=h, json=body)
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "group_ids"
    body["group_ids"] = []
    r = client.post("/api/v1/users", headers=h, json=body)
    assert r.status_code == 201 and r.json()["phone"] == "+84912345678"


def test_lists_page_sort_and_search(client, world):
    h = login(client, "root")
    for i in range(25):
        world.user(f"nguoi{i:02d}")
    r = client.get("/api/v1/users?page=2&page_size=10&sort=-username&q=nguoi", headers=h).json()
    assert r["total"] == 25 and r["page"] == 2 and len(r["items"]) == 10
    names = [u["username"] for u in r["items"]]
    assert names == sorted(names, reverse=True) and names[0] == "nguoi14"
    bad = client.get("/api/v1/users?sort=password_hash", headers=h)
    assert bad.status_code == 422 and "Không thể sắp xếp" in bad.json()["detail"]
    assert client.get("/api/v1/users?page_size=500", headers=h).status_code == 422


def test_org_admin_may_not_create_sysadmin_or_touch_other_org(client, world):
    world.user("qt.a", roles=["identity.users.write", "identity.organizations.write", "scope.all_units"])
    h = login(client, "qt.a")
    r = client.post("/api/v1/users", headers=h, json={
        "code": "X", "username": "leo", "full_name": "Leo", "password": "Abc-12345-xyz", "is_sysadmin": True})
    assert r.status_code == 403
    r = client.post("/api/v1/users", headers=h, json={
        "code": "X", "username": "leo", "full_name": "Leo", "password": "Abc-12345-xyz",
        "organization_id": world.org_b})
    assert r.status_code == 403
    r = client.patch(f"/api/v1/organizations/{world.org_b}", headers=h, json={"name": "Đổi tên"})
    assert r.status_code == 404
    r = client.patch(f"/api/v1/organizations/{world.org_a}", headers=h, json={"group_ids": []})
    assert r.status_code == 403


def test_roles_catalogue_and_custom_roles(client, world):
    h = login(client, "root")
    roles = client.get("/api/v1/roles?page_size=200", headers=h).json()["items"]
    codes = {r["code"]: r for r in roles}
    assert codes["identity.users.write"]["is_system"] and codes["identity.users.write"]["parent_id"]
    r = client.post("/api/v1/roles", headers=h, json={"code": "bao-cao.tuy-chinh", "name": "Báo cáo tùy chỉnh",
                                                       "parent_id": codes["admin"]["id"]})
    assert r.status_code == 201
    assert client.delete(f"/api/v1/roles/{codes['home']['id']}", headers=h).status_code == 409
    assert client.delete(f"/api/v1/roles/{r.json()['id']}", headers=h).status_code == 204


def test_group_roles_give_permissions_and_write_implies_read(client, world):
    world.user("viet", roles=["identity.departments.write"])
    h = login(client, "viet")
    perms = client.get("/api/v1/auth/me", headers=h).json()["permissions"]
    assert "identity.departments.read" in perms and "admin" in perms
    assert client.get("/api/v1/departments", headers=h).status_code == 200
    assert client.get("/api/v1/users", headers=h).status_code == 403


def test_profile_edit(client, world):
    world.user("xuan")
    h = login(client, "xuan")
    r = client.patch("/api/v1/auth/me", headers=h, json={"full_name": "Đỗ Thị Xuân", "phone": "0901234567",
                                                          "email": "Xuan@Example.vn", "address": "Huế"})
    assert r.status_code == 200
    assert r.json()["phone"] == "+84901234567" and r.json()["email"] == "Xuan@example.vn"


def test_inactive_user_cannot_log_in_and_loses_sessions(client, world):
    uid = world.user("yen")
    h = login(client, "yen")
    root = login(client, "root")
    assert client.patch(f"/api/v1/users/{uid}", headers=root, json={"is_active": False}).status_code == 200
    assert client.get("/api/v1/auth/me", headers=h).status_code == 401
    r = client.post("/api/v1/auth/login", json={"username": "yen", "password": "Mat-khau-2026!"})
    assert r.status_code == 403 and "vô hiệu hóa" in r.json()["detail"]


def test_user_who_logged_in_is_deactivated_not_deleted(client, world):
    uid = world.user("zung")
    login(client, "zung")
    root = login(client, "root")
    r = client.delete(f"/api/v1/users/{uid}", headers=root)
    assert r.status_code == 409 and "vô hiệu hóa" in r.json()["detail"]
    fresh = world.user("moi.tao")
    assert client.delete(f"/api/v1/users/{fresh}", headers=root).status_code == 204
