"""Console configuration pages of the video switchboard (VC-11, 16, 17, 18): a user with
videocall.config creates a group with conditions and members, a queue with a waiting file uploaded
through the page, a hotline and an agent; forms re-render with Vietnamese field errors; deletions are
refused while something uses the object; partner keys show their secret once and rotate."""

from __future__ import annotations

import re

from sqlalchemy import select

from ketnoi.videocall import config
from ketnoi.videocall.models import VcAgent, VcGroup, VcHotline, VcMediaFile, VcPartner, VcQueue
from tests.web.test_console import console_login, csrf_of

ADMIN = "/videocall/admin"


def _session(client, world, username="cauhinh", roles=("videocall.config",)):
    world.user(username, roles=list(roles))
    assert console_login(client, username).status_code == 303
    return csrf_of(client.get(f"{ADMIN}/hotlines").text)


def _post(client, url, csrf, data=None, files=None):
    return client.post(url, data={"csrf_token": csrf, **(data or {})}, files=files, follow_redirects=False)


def test_build_switchboard_through_the_console(client, world, database):
    dtv = world.user("dtv-mot", roles=["videocall.answer"])
    csrf = _session(client, world)
    # an agent first (no groups yet)
    r = _post(client, f"{ADMIN}/agents/new", csrf, {"user_id": dtv, "display_name": "ĐTV Một", "is_active": "1"})
    assert r.status_code == 303, r.text
    with database.session() as s:
        agent_id = s.scalar(select(VcAgent.id).where(VcAgent.user_id == dtv))
    # a group with conditions and the agent as member
    r = _post(client, f"{ADMIN}/groups/new", csrf, {
        "code": "HN", "name": "Nhóm Hà Nội", "strategy": "round_robin", "agent_ring_seconds": "15",
        "overflow_seconds": "40", "cond_unit": "HN, HN2", "cond_vip": "true", "cond_hours": "07:30-17:00",
        "cond_weekdays": ["1", "2", "3"], "cond_attributes": '{"segment": ["b2b"]}', "agent_ids": [agent_id],
        "is_active": "1"})
    assert r.status_code == 303, r.text
    with database.session() as s:
        g = s.scalar(select(VcGroup).where(VcGroup.code == "HN"))
        assert g.strategy == "round_robin" and g.agent_ring_seconds == 15 and g.overflow_seconds == 40
        assert g.conditions == {"unit": ["HN", "HN2"], "vip": True, "hours": "07:30-17:00", "weekdays": [1, 2, 3],
                                "attributes": {"segment": ["b2b"]}}
        group_id = g.id
    page = client.get(f"{ADMIN}/groups/{group_id}").text
    assert 'value="HN, HN2"' in page and "Nhóm Hà Nội" in page
    assert "HN" in client.get(f"{ADMIN}/agents").text
    # a bad condition re-renders the form with the message
    r = _post(client, f"{ADMIN}/groups/new", csrf, {"code": "X", "name": "X", "strategy": "ring_all",
                                                     "cond_hours": "25:00-26:00"})
    assert r.status_code == 422 and "has-error" in r.text and "không hợp lệ" in r.text and "07:30-11:30" in r.text
    r = _post(client, f"{ADMIN}/groups/new", csrf, {"code": "HN", "name": "Trùng", "strategy": "ring_all"})
    assert r.status_code == 409 and "đã được dùng" in r.text
    # a waiting file uploaded through the page
    r = _post(client, f"{ADMIN}/media", csrf, {"name": "Nhạc chờ"},
              files={"file": ("cho.ogg", b"OggS\x00\x02" + b"\x00" * 40, "audio/ogg")})
    assert r.status_code == 303 and "msg=" in r.headers["location"]
    r = _post(client, f"{ADMIN}/media", csrf, {}, files={"file": ("x.txt", b"hello", "text/plain")})
    assert "err=" in r.headers["location"]
    assert "Nhạc chờ" in client.get(f"{ADMIN}/media").text
    with database.session() as s:
        media_id = s.scalar(select(VcMediaFile.id))
    # a queue using the group and the waiting file, then a hotline
    r = _post(client, f"{ADMIN}/queues/new", csrf, {"code": "Q1", "name": "Hàng đợi 1", "max_wait_seconds": "90",
                                                     "waiting_file_id": media_id, "group_ids": [group_id],
                                                     "is_active": "1"})
    assert r.status_code == 303, r.text
    with database.session() as s:
        q = s.scalar(select(VcQueue))
        assert q.group_ids == [group_id] and q.waiting_file_id == media_id and q.max_wait_seconds == 90
        queue_id = q.id
    r = _post(client, f"{ADMIN}/hotlines/new", csrf, {"number": "1022", "name": "Tổng đài", "queue_id": queue_id,
                                                       "greeting_start_id": media_id, "is_active": "1"})
    assert r.status_code == 303
    with database.session() as s:
        h = s.scalar(select(VcHotline))
        assert (h.number, h.queue_id, h.greeting_start_id) == ("1022", queue_id, media_id)
    lst = client.get(f"{ADMIN}/hotlines?q=1022").text
    assert "Tổng đài" in lst and "Hàng đợi 1" in lst
    # deleting the queue is refused while the hotline uses it
    r = _post(client, f"{ADMIN}/queues/{queue_id}/delete", csrf)
    assert r.status_code == 303 and "err=" in r.headers["location"]
    assert _post(client, f"{ADMIN}/hotlines/{h.id}/delete", csrf).headers["location"].startswith(
        f"{ADMIN}/hotlines?msg=")
    assert "msg=" in _post(client, f"{ADMIN}/queues/{queue_id}/delete", csrf).headers["location"]
    # removing the member through the group form
    r = _post(client, f"{ADMIN}/groups/{group_id}", csrf, {"code": "HN", "name": "Nhóm Hà Nội",
                                                             "strategy": "ring_all", "is_active": "1"})
    assert r.status_code == 303
    with database.session() as s:
        g = s.get(VcGroup, group_id)
        assert g.conditions == {} and g.strategy == "ring_all"
        assert config.agent_ids_of(s, group_id) == []


def test_partner_secret_shown_once_and_rotated(client, world, database):
    csrf = _session(client, world, "doitac", roles=("videocall.partners", "videocall.config"))
    r = _post(client, f"{ADMIN}/partners/new", csrf, {"code": "MSALE", "name": "mSale Pro"})
    assert r.status_code == 200 and "chỉ hiển thị" in r.text
    secret = re.search(r'id="vc-secret">([0-9a-f]+)<', r.text).group(1)
    with database.session() as s:
        partner = s.scalar(select(VcPartner))
    listing = client.get(f"{ADMIN}/partners").text
    assert partner.key_id in listing and secret not in listing
    r = _post(client, f"{ADMIN}/partners/{partner.id}/rotate", csrf)
    new_secret = re.search(r'id="vc-secret">([0-9a-f]+)<', r.text).group(1)
    assert new_secret != secret
    r = _post(client, f"{ADMIN}/partners/{partner.id}/disable", csrf)
    assert r.status_code == 303
    with database.session() as s:
        assert s.get(VcPartner, partner.id).is_active is False


def test_other_organization_and_permissions(client, world, database):
    from tests.videocall.config_helpers import config_objects

    dtv = world.user("dtv-a", roles=["videocall.answer"])
    ids = config_objects(database, world.org_a, dtv)
    csrf = _session(client, world, "cauhinhb", roles=("videocall.config",))  # org A user, reads fine
    assert client.get(f"{ADMIN}/groups/{ids['vc_group_id']}").status_code == 200
    world.user("quantrib", org="b", dept="B1", roles=["videocall.config", "videocall.partners"])
    client.cookies.clear()
    assert console_login(client, "quantrib").status_code == 303
    csrf = csrf_of(client.get(f"{ADMIN}/hotlines").text)
    for kind, key in (("groups", "vc_group_id"), ("queues", "vc_queue_id"), ("hotlines", "vc_hotline_id"),
                      ("agents", "vc_agent_id")):
        assert client.get(f"{ADMIN}/{kind}/{ids[key]}").status_code == 404
        assert _post(client, f"{ADMIN}/{kind}/{ids[key]}/delete", csrf).status_code in (303, 404)
    assert "CFG" not in client.get(f"{ADMIN}/groups").text
    with database.session() as s:
        assert s.get(VcGroup, ids["vc_group_id"]) is not None
