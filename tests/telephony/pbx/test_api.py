"""The PBX JSON API (/api/v1/telephony): CRUD of every object with Vietnamese problems, write-only
secrets, organization isolation, the system administrator's organization choice, and
status / check / apply."""

from __future__ import annotations

from tests.conftest import login
from tests.telephony.pbx.conftest import TELEPHONY_ROLES

API = "/api/v1/telephony"


def test_extension_crud_keeps_the_secret_write_only(client, world, admin):
    h = login(client, "tongdai")
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "display_name": "Tổng đài viên 1",
                                                          "secret": "demo1001", "codecs": ["PCMU"]})
    assert r.status_code == 201, r.text
    ext = r.json()
    assert ext["secret_set"] is True and "secret" not in ext and "demo1001" not in r.text
    assert ext["organization_id"] == world.org_a and ext["codecs"] == ["PCMU"]

    r = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "secret": "khac12345"})
    assert r.status_code == 409 and r.json()["errors"] == [{"field": "number", "message": "Số máy nhánh 1001 đã tồn tại."}]
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1x", "secret": "ngan"})
    assert r.status_code == 422
    errs = {e["field"]: e["message"] for e in r.json()["errors"]}
    assert errs == {"number": "Số máy nhánh gồm 2–10 chữ số.", "secret": "Cần ít nhất 8 ký tự."}
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1002", "secret": "12345678",
                                                          "permit": ["10.0.0.0/33"]})
    assert r.status_code == 422 and "không phải địa chỉ IP" in r.json()["errors"][0]["message"]

    r = client.patch(f"{API}/extensions/{ext['id']}", headers=h, json={"display_name": "Trực ban", "enabled": False})
    assert r.status_code == 200 and r.json()["display_name"] == "Trực ban" and r.json()["enabled"] is False
    page = client.get(f"{API}/extensions?q=trực&sort=-number", headers=h).json()
    assert page["total"] == 1 and page["items"][0]["number"] == "1001"
    r = client.get(f"{API}/extensions?sort=secret", headers=h)
    assert r.status_code == 422 and "Không thể sắp xếp theo 'secret'" in r.json()["detail"]
    assert client.delete(f"{API}/extensions/{ext['id']}", headers=h).status_code == 204
    assert client.get(f"{API}/extensions/{ext['id']}", headers=h).status_code == 404


def test_trunks_routes_pins_and_apply(client, world, admin):
    h = login(client, "tongdai")
    ext = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "secret": "demo1001"}).json()
    r = client.post(f"{API}/trunks", headers=h, json={"name": "VNPT", "host": "sip.vnpt.vn", "username": "ketnoi"})
    assert r.status_code == 422 and r.json()["errors"] == [{"field": "password", "message": "Trunk đăng ký cần mật khẩu."}]
    vnpt = client.post(f"{API}/trunks", headers=h, json={"name": "VNPT", "host": "sip.vnpt.vn", "username": "ketnoi",
                                                         "password": "mk-vnpt-2026"}).json()
    assert vnpt["password_set"] and vnpt["status"] == "unknown" and "mk-vnpt" not in str(vnpt)
    viettel = client.post(f"{API}/trunks", headers=h, json={"name": "Viettel", "kind": "peer",
                                                            "allowed_networks": ["203.0.113.5"],
                                                            "host": "203.0.113.5"}).json()
    assert viettel["allowed_networks"] == ["203.0.113.5/32"]
    pins = client.post(f"{API}/pin-sets", headers=h, json={"name": "Lãnh đạo", "pins": ["1234", "9876"]}).json()
    r = client.post(f"{API}/pin-sets", headers=h, json={"name": "Sai", "pins": ["12"]})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "Mã PIN gồm 3–12 chữ số."

    r = client.post(f"{API}/outbound-routes", headers=h, json={
        "name": "Di động", "patterns": [{"prefix": "9", "match": "_0[35789]XXXXXXXX"}],
        "trunk_ids": [viettel["id"], vnpt["id"]], "pin_set_id": pins["id"]})
    assert r.status_code == 201, r.text
    route = r.json()
    assert route["trunk_ids"] == [viettel["id"], vnpt["id"]] and route["position"] == 1
    r = client.post(f"{API}/outbound-routes", headers=h, json={"name": "Sai", "patterns": [{"match": "_0.X"}],
                                                               "trunk_ids": [vnpt["id"]]})
    assert r.status_code == 422 and "chỉ được đứng ở cuối" in r.json()["errors"][0]["message"]
    r = client.post(f"{API}/outbound-routes", headers=h, json={"name": "Khác", "patterns": [{"match": "_X."}],
                                                               "trunk_ids": ["khong-co"]})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "trunk_ids"
    second = client.post(f"{API}/outbound-routes", headers=h, json={"name": "Còn lại", "patterns": [{"match": "_X."}],
                                                                    "trunk_ids": [vnpt["id"]]}).json()
    moved = client.post(f"{API}/outbound-routes/{second['id']}/move", headers=h, json={"position": 1}).json()
    assert moved["position"] == 1
    assert [x["name"] for x in client.get(f"{API}/outbound-routes", headers=h).json()["items"]] == ["Còn lại", "Di động"]

    r = client.post(f"{API}/inbound-routes", headers=h, json={"name": "Hotline", "did_pattern": "1022",
                                                              "destination": {"kind": "extension", "ref": "1001"}})
    assert r.status_code == 201, r.text  # an extension may be named by number; its id is stored
    inbound = r.json()
    assert inbound["destination"] == {"kind": "extension", "ref": ext["id"], "label": "Máy nhánh 1001"}
    r = client.post(f"{API}/inbound-routes", headers=h, json={"name": "Sai", "did_pattern": "_10[",
                                                              "destination": {"kind": "hangup"}})
    assert r.status_code == 422 and "thiếu dấu ']'" in r.json()["errors"][0]["message"]
    r = client.post(f"{API}/inbound-routes", headers=h, json={"name": "Trùng", "did_pattern": "1022",
                                                              "destination": {"kind": "extension", "ref": "1009"}})
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "destination.ref",
                                                              "message": "Không tìm thấy máy nhánh 1009."}

    status = client.get(f"{API}/status", headers=h).json()
    assert status["dirty"] is True and status["applied_revision"] == 0
    assert client.get(f"{API}/check", headers=h).json() == {"ok": True, "errors": []}
    r = client.post(f"{API}/apply", headers=h)
    assert r.status_code == 200 and "Đã áp dụng" in r.json()["message"]
    applied = client.get(f"{API}/applied", headers=h).json()
    assert {t["name"]: t["password"] for t in applied["trunks"]} == {"VNPT": "***", "Viettel": ""}
    assert applied["inbound_routes"][0]["destination"] == {"kind": "extension", "ref": "1001", "next": None}

    # an overlapping second hotline makes apply refuse, with the reason
    client.post(f"{API}/inbound-routes", headers=h, json={"name": "Hotline 2", "did_pattern": "1022",
                                                          "destination": {"kind": "hangup"}})
    r = client.post(f"{API}/apply", headers=h)
    body = r.json()
    assert r.status_code == 422 and r.headers["content-type"].startswith("application/problem+json")
    assert "chưa được áp dụng" in body["detail"] and body["errors"][0]["field"].startswith("inbound_routes.")
    assert client.get(f"{API}/status", headers=h).json()["dirty"] is True


def test_settings_api(client, world, admin):
    h = login(client, "tongdai")
    s = client.get(f"{API}/settings", headers=h).json()
    assert (s["sip_udp_port"], s["codecs"], s["prompt_language"]) == (5060, ["PCMA", "PCMU"], "vi")
    r = client.patch(f"{API}/settings", headers=h, json={"codecs": ["PCMU"], "public_address": "ketnoi.demo.gov.vn",
                                                         "local_networks": ["192.168.0.0/16"]})
    assert r.status_code == 200 and r.json()["codecs"] == ["PCMU"]
    r = client.patch(f"{API}/settings", headers=h, json={"codecs": []})
    assert r.status_code == 422
    r = client.patch(f"{API}/settings", headers=h, json={"public_address": "không hợp lệ"})
    assert r.status_code == 422 and r.json()["errors"][0]["message"] == "Địa chỉ máy chủ phải là tên miền hoặc địa chỉ IP."


def test_organizations_do_not_see_each_other(client, world, database, admin, pbx, pbx_b):
    b_ext = pbx_b.ext("2001")
    b_trunk = pbx_b.trunk("Nhà mạng B")
    b_route = pbx_b.inbound("Tuyến B", "2022", ref=b_ext)
    b_pins = pbx_b.pin_set("Bộ B", ["1111"])
    b_out = pbx_b.outbound("Ra B", [{"match": "_X."}], [b_trunk])
    b_sound = pbx_b.sound("Âm thanh B")
    pbx.ext("1001")
    h = login(client, "tongdai")
    for path in ("extensions", "trunks", "inbound-routes", "pin-sets", "outbound-routes", "sounds"):
        items = client.get(f"{API}/{path}?page_size=200&organization_id={world.org_b}", headers=h).json()["items"]
        assert all(i["organization_id"] == world.org_a for i in items), path
    for path, oid in (("extensions", b_ext), ("trunks", b_trunk), ("inbound-routes", b_route), ("pin-sets", b_pins),
                      ("outbound-routes", b_out), ("sounds", b_sound)):
        assert client.get(f"{API}/{path}/{oid}", headers=h).status_code == 404, path
        assert client.patch(f"{API}/{path}/{oid}", headers=h, json={}).status_code == 404, path
        assert client.delete(f"{API}/{path}/{oid}", headers=h).status_code == 404, path
    assert client.get(f"{API}/sounds/{b_sound}/audio", headers=h).status_code == 404
    assert client.get(f"{API}/settings?organization_id={world.org_b}", headers=h).status_code == 404
    # a route of A cannot point at B's objects
    r = client.post(f"{API}/inbound-routes", headers=h, json={"name": "Mượn", "destination": {"kind": "extension",
                                                                                               "ref": b_ext}})
    assert r.status_code == 422
    r = client.post(f"{API}/outbound-routes", headers=h, json={"name": "Mượn", "patterns": [{"match": "_X."}],
                                                               "trunk_ids": [b_trunk]})
    assert r.status_code == 422
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1009", "secret": "12345678",
                                                          "organization_id": world.org_b})
    assert r.status_code == 403


def test_system_administrator_chooses_the_organization(client, world):
    h = login(client, "root")
    r = client.get(f"{API}/settings", headers=h)
    assert r.status_code == 422 and r.json()["errors"][0] == {"field": "organization_id",
                                                              "message": "Chọn tổ chức (organization_id)."}
    assert client.get(f"{API}/settings?organization_id={world.org_b}", headers=h).status_code == 200
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "secret": "12345678"})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "organization_id"
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "secret": "12345678",
                                                          "organization_id": world.org_b})
    assert r.status_code == 201 and r.json()["organization_id"] == world.org_b
    assert client.post(f"{API}/apply?organization_id={world.org_b}", headers=h).status_code == 200


def test_trunk_status_is_runtime_state(client, world, database, admin, pbx):
    from ketnoi.events import bus
    from ketnoi.telephony.pbx import service

    tid = pbx.trunk("VNPT")
    pbx.apply()
    seen = []
    bus.subscribe(seen.append)
    try:
        with database.session() as s:
            assert service.set_trunk_status(s, tid, "registered", "200 OK") is True
        with database.session() as s:
            assert service.set_trunk_status(s, tid, "registered", "200 OK") is False
    finally:
        bus.unsubscribe(seen.append)
    assert [e.data["status"] for e in seen if e.type == "pbx.trunk_status"] == ["registered"]
    assert pbx.status().dirty is False  # not a configuration change
    h = login(client, "tongdai")
    t = client.get(f"{API}/trunks/{tid}", headers=h).json()
    assert t["status"] == "registered" and t["status_detail"] == "200 OK" and t["status_at"]
    assert client.get(f"{API}/trunks?status=registered", headers=h).json()["total"] == 1
    assert client.get(f"{API}/trunks?status=khac", headers=h).status_code == 422


def test_read_roles_do_not_write(client, world):
    world.user("xem", roles=[r.replace(".write", ".read") for r in TELEPHONY_ROLES if r.endswith(".write")])
    h = login(client, "xem")
    assert client.get(f"{API}/extensions", headers=h).status_code == 200
    r = client.post(f"{API}/extensions", headers=h, json={"number": "1001", "secret": "12345678"})
    assert r.status_code == 403 and r.json()["detail"] == "Bạn không có quyền thực hiện chức năng này."
    assert client.post(f"{API}/apply", headers=h).status_code == 403
