"""The 'Gọi video' console menu (PERM-04, VC-18, 20…26, 24): each entry shows for its role holder and
opens a page that renders; an agent's status change (VC-23) reaches the live monitor (VC-24) as a hub
event relayed by videocall/monitor.py."""

from __future__ import annotations

import pytest

from ketnoi.events import Event, EventBus, bus
from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.monitor import relay_for
from tests.conftest import login
from tests.factory import SYSTEM
from tests.web.test_console import console_login

ENTRIES = [("videocall.config", "/videocall/admin", "Cấu hình tổng đài video"),
           ("videocall.partners", "/videocall/admin/partners", "Ứng dụng đối tác và khóa API"),
           ("videocall.monitor", "/videocall/monitor", "Giám sát cuộc gọi video"),
           ("videocall.reports", "/videocall/reports", "Báo cáo gọi video"),
           ("videocall.read", "/videocall/calls", "Cuộc gọi video")]


@pytest.mark.parametrize(("role", "url", "text"), ENTRIES)
def test_menu_entry_shows_for_its_holder_and_renders(client, world, role, url, text):
    world.user("menu.vc", roles=[role])
    assert console_login(client, "menu.vc").status_code == 303
    home = client.get("/").text
    assert f'href="{url}"' in home
    others = [u for r, u, _ in ENTRIES if r != role]
    assert not [u for u in others if f'href="{u}"' in home]  # no role, no menu entry
    page = client.get(url, follow_redirects=False)
    assert page.status_code == 200, page.text[:300]
    assert text in page.text


def test_config_home_counts_the_organizations_rows(client, world, database):
    with database.session() as s:
        config.save_group(s, SYSTEM, S.GroupIn(code="A1", name="Nhóm A1"), organization_id=world.org_a)
        config.save_group(s, SYSTEM, S.GroupIn(code="B1", name="Nhóm B1"), organization_id=world.org_b)
        s.commit()
    world.user("cauhinh", roles=["videocall.config"])
    console_login(client, "cauhinh")
    page = client.get("/videocall/admin").text
    assert 'href="/videocall/admin/groups">Nhóm trực video</a> <span class="muted">(1)</span>' in page
    assert "/videocall/admin/partners" not in page.split("<main", 1)[-1]  # partners need videocall.partners


def test_agent_status_change_reaches_the_live_monitor(client, world, database):
    uid = world.user("dtv.tt", roles=["videocall.answer"])
    with database.session() as s:
        g = config.save_group(s, SYSTEM, S.GroupIn(code="TT", name="Nhóm trạng thái"), organization_id=world.org_a)
        agent = config.save_agent(s, SYSTEM, S.AgentIn(user_id=uid, display_name="ĐTV trạng thái", group_ids=[g.id]))
        agent_id = agent.id
        s.commit()
    monitor_events: list[Event] = []
    target = EventBus()
    target.subscribe(monitor_events.append)
    relay = relay_for(database, target)
    relayed = []

    def tap(ev: Event) -> None:
        relayed.append(relay(ev))

    bus.subscribe(tap)
    try:
        h = login(client, "dtv.tt")
        for status in ("available", "available", "paused"):  # the repeat is no change: no event
            r = client.post("/api/v1/videocall/agent/status", json={"status": status}, headers=h)
            assert r.status_code == 200, r.text
        client.post("/api/v1/videocall/agent/status", headers=h)  # a heartbeat alone changes nothing
    finally:
        bus.unsubscribe(tap)
    for f in relayed:
        if f is not None:
            f.result(10)
    got = [(e.org_id, e.permission, e.data["agent_id"], e.data["status"], e.data["cause"]) for e in monitor_events]
    assert got == [(world.org_a, "videocall.monitor", agent_id, s, "videocall.agent_status")
                   for s in ("available", "paused")]
