"""Partner configuration API (VC-11, 17, 18): hotlines, queues, groups, agents and memberships created,
listed, searched, read, replaced, patched and deleted by a partner's signed requests or a console user
with videocall.config; validation answers 4xx in Vietnamese; organizations stay apart."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from ketnoi.audit.models import AuditEntry
from ketnoi.videocall.models import VcGroup, VcMembership
from tests.conftest import login
from tests.videocall.config_helpers import API, partner_client


@pytest.fixture
def pc(client, database, world):
    return partner_client(client, database, world.org_a)


def _ok(r, status=200):
    assert r.status_code == status, r.text
    return r.json() if r.content else None


def test_partner_builds_a_switchboard_end_to_end(pc, world, database):
    g = _ok(pc("POST", f"{API}/groups", {"code": "HN", "name": "Nhóm Hà Nội", "strategy": "round_robin",
                                         "conditions": {"unit": ["HN"], "hours": "07:30-17:00"},
                                         "overflow_seconds": 30}), 201)
    fb = _ok(pc("POST", f"{API}/groups", {"code": "DUPHONG", "name": "Nhóm dự phòng"}), 201)
    g = _ok(pc("PATCH", f"{API}/groups/{g['id']}", {"fallback_group_id": fb["id"]}))
    assert g["fallback_group_id"] == fb["id"] and g["strategy"] == "round_robin"
    assert g["conditions"] == {"unit": ["HN"], "hours": "07:30-17:00"} and g["organization_id"] == world.org_a
    q = _ok(pc("POST", f"{API}/queues", {"code": "Q1", "name": "Hàng đợi 1", "group_ids": [g["id"], fb["id"]],
                                         "max_wait_seconds": 90}), 201)
    h = _ok(pc("POST", f"{API}/hotlines", {"number": "1022", "name": "Tổng đài", "queue_id": q["id"]}), 201)
    users = [world.user(n, roles=["videocall.answer"]) for n in ("anh", "binh")]
    agents = [_ok(pc("POST", f"{API}/agents", {"user_id": u, "display_name": f"ĐTV {i}", "group_ids": [g["id"]]}),
                  201) for i, u in enumerate(users)]
    assert agents[0]["group_ids"] == [g["id"]] and agents[0]["status"] == "offline"
    # memberships
    _ok(pc("PUT", f"{API}/groups/{fb['id']}/members/{agents[1]['id']}"))
    members = _ok(pc("GET", f"{API}/groups/{g['id']}/members"))
    assert {m["agent_id"] for m in members} == {agents[0]["id"], agents[1]["id"]}
    assert set(_ok(pc("GET", f"{API}/agents/{agents[1]['id']}"))["group_ids"]) == {g["id"], fb["id"]}
    assert pc("DELETE", f"{API}/groups/{g['id']}/members/{agents[0]['id']}").status_code == 204
    assert [m["agent_id"] for m in _ok(pc("GET", f"{API}/groups/{g['id']}/members"))] == [agents[1]["id"]]
    # list, search, paging
    page = _ok(pc("GET", f"{API}/groups?page_size=1&sort=code"))
    assert page["total"] == 2 and [x["code"] for x in page["items"]] == ["DUPHONG"]
    assert [x["code"] for x in _ok(pc("GET", f"{API}/groups?q=n%E1%BB%99i"))["items"]] == ["HN"]  # "nội"
    assert _ok(pc("GET", f"{API}/hotlines?q=1022"))["items"][0]["id"] == h["id"]
    assert _ok(pc("GET", f"{API}/agents?q=%C4%90TV%201"))["total"] == 1  # "ĐTV 1"
    # PUT replaces everything
    h2 = _ok(pc("PUT", f"{API}/hotlines/{h['id']}", {"number": "1022", "name": "Tổng đài mới"}))
    assert h2["name"] == "Tổng đài mới" and h2["queue_id"] is None
    # deletes, in an order that respects what uses what
    r = pc("DELETE", f"{API}/groups/{fb['id']}")
    assert r.status_code == 409 and "hàng đợi Q1" in r.json()["detail"]
    _ok(pc("PATCH", f"{API}/queues/{q['id']}", {"group_ids": [g["id"]]}))
    r = pc("DELETE", f"{API}/groups/{fb['id']}")
    assert r.status_code == 409 and "dự phòng" in r.json()["detail"]
    _ok(pc("PATCH", f"{API}/groups/{g['id']}", {"fallback_group_id": None}))
    assert pc("DELETE", f"{API}/groups/{fb['id']}").status_code == 204
    assert pc("GET", f"{API}/groups/{fb['id']}").status_code == 404
    assert pc("DELETE", f"{API}/agents/{agents[1]['id']}").status_code == 204
    assert pc("DELETE", f"{API}/hotlines/{h['id']}").status_code == 204
    assert pc("DELETE", f"{API}/queues/{q['id']}").status_code == 204
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(VcMembership).where(
            VcMembership.agent_id == agents[1]["id"])) == 0
        actions = set(s.scalars(select(AuditEntry.action).where(AuditEntry.action.like("videocall.%"))))
    assert {"videocall.group.created", "videocall.group.updated", "videocall.group.deleted",
            "videocall.agent.deleted", "videocall.hotline.deleted", "videocall.member.added"} <= actions


def test_validation_answers_4xx_in_vietnamese(pc, world):
    g = _ok(pc("POST", f"{API}/groups", {"code": "HN", "name": "Nhóm"}), 201)
    cases = [
        ("POST", f"{API}/groups", {"code": "HN", "name": "Trùng mã"}, 409, "đã được dùng"),
        ("POST", f"{API}/groups", {"code": "có dấu", "name": "x"}, 422, None),
        ("POST", f"{API}/groups", {"code": "X", "name": "x", "strategy": "random"}, 422, None),
        ("POST", f"{API}/groups", {"code": "X", "name": "x", "conditions": {"hours": "25:00-26:00"}}, 422, None),
        ("PATCH", f"{API}/groups/{g['id']}", {"colour": "red"}, 422, "Trường không được phép"),
        ("PATCH", f"{API}/groups/{g['id']}", {"overflow_seconds": 1}, 422, "Dữ liệu không hợp lệ"),
        ("PATCH", f"{API}/groups/{g['id']}", {"fallback_group_id": g["id"]}, 422, "Nhóm dự phòng"),
        ("POST", f"{API}/queues", {"code": "Q", "name": "Q", "group_ids": ["khongco"]}, 422, "Nhóm không tồn tại"),
        ("POST", f"{API}/agents", {"user_id": "khongco"}, 422, "Người dùng không tồn tại"),
        ("GET", f"{API}/groups?sort=colour", None, 422, "Không thể sắp xếp"),
        ("GET", f"{API}/queues/khongco", None, 404, "Không tìm thấy"),
    ]
    for method, path, body, status, text in cases:
        r = pc(method, path, body)
        assert r.status_code == status, (path, body, r.text)
        problem = r.json()
        assert problem["detail"] and r.headers["content-type"].startswith("application/problem+json")
        if text:
            assert text in problem["detail"], problem
    r = pc("POST", f"{API}/groups", {"code": "Y", "name": "y"}, tamper=True)
    assert r.status_code == 401


def test_organizations_and_permissions_stay_apart(client, database, world, pc):
    g = _ok(pc("POST", f"{API}/groups", {"code": "HN", "name": "Nhóm A"}), 201)
    pb = partner_client(client, database, world.org_b, code="BPARTNER")
    assert pb("GET", f"{API}/groups/{g['id']}").status_code == 404
    assert pb("PATCH", f"{API}/groups/{g['id']}", {"name": "Bị sửa"}).status_code == 404
    assert pb("DELETE", f"{API}/groups/{g['id']}").status_code == 404
    assert _ok(pb("GET", f"{API}/groups"))["items"] == []
    user_a = world.user("nguoi-a", roles=["videocall.answer"])
    r = pb("POST", f"{API}/agents", {"user_id": user_a})
    assert r.status_code == 422
    assert pb("PUT", f"{API}/groups/{g['id']}/members/x1").status_code == 404
    # partners may not manage partner keys
    assert pc("GET", f"{API}/partners").status_code == 401  # a console login is needed
    # a console user with videocall.config works on their organization only
    world.user("cauhinh", roles=["videocall.config"])
    h = login(client, "cauhinh")
    r = client.post(f"{API}/groups", json={"code": "KHAC", "name": "Nhóm khác"}, headers=h)
    assert r.status_code == 201 and r.json()["organization_id"] == world.org_a
    assert {x["code"] for x in client.get(f"{API}/groups", headers=h).json()["items"]} == {"HN", "KHAC"}
    world.user("khongquyen", roles=["videocall.read"])
    assert client.get(f"{API}/groups", headers=login(client, "khongquyen")).status_code == 403
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(VcGroup)) == 2


def test_partner_keys_secret_shown_once_and_rotation(client, world):
    world.user("doitac", roles=["videocall.partners"])
    h = login(client, "doitac")
    r = client.post(f"{API}/partners", json={"code": "APP", "name": "Ứng dụng bán hàng"}, headers=h)
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["secret"] and created["key_id"].startswith("vc_")
    listed = client.get(f"{API}/partners", headers=h).json()["items"]
    assert [x["secret"] for x in listed] == [None]
    rotated = client.post(f"{API}/partners/{created['id']}/rotate", headers=h).json()
    assert rotated["key_id"] != created["key_id"] and rotated["secret"] != created["secret"]
    # the new key signs, the old one is refused
    from tests.videocall.config_helpers import PartnerClient

    new = PartnerClient(client, rotated["key_id"], rotated["secret"], created["id"])
    old = PartnerClient(client, created["key_id"], created["secret"], created["id"])
    assert new("GET", f"{API}/groups").status_code == 200
    assert old("GET", f"{API}/groups").status_code == 401


def test_media_upload_and_queue_waiting_file(pc, client, world):
    """A console user uploads a waiting file (multipart); the partner points a queue at it."""
    world.user("cauhinh", roles=["videocall.config"])
    h = login(client, "cauhinh")
    r = client.post(f"{API}/media", files={"file": ("cho.wav", b"RIFF0000WAVEfmt ", "audio/wav")},
                    data={"name": "Nhạc chờ"}, headers=h)
    assert r.status_code == 201, r.text
    media = r.json()
    assert media["name"] == "Nhạc chờ" and media["size"] == 16
    q = _ok(pc("POST", f"{API}/queues", {"code": "Q", "name": "Q", "waiting_file_id": media["id"]}), 201)
    assert q["waiting_file_id"] == media["id"]
    assert client.get(media["url"]).content == b"RIFF0000WAVEfmt "
    r = client.post(f"{API}/media", files={"file": ("x.exe", b"MZ", "application/octet-stream")}, headers=h)
    assert r.status_code == 422 and "Chỉ nhận tệp" in r.json()["detail"]
