"""Real-time hub: delivery to the right users, session replacement (VC-10), and fan-out across
nodes through a real redis-server."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time

import pytest

from ketnoi.events import Event, EventBus
from ketnoi.hub.broker import Hub
from ketnoi.identity.principal import Principal
from tests.conftest import login
from tests.pg import free_port


def principal(user="u1", org="A", perms=(), unit="/d1/", sysadmin=False, session="s1") -> Principal:
    return Principal(user_id=user, username=user, full_name=user, organization_id=None if sysadmin else org,
                     department_id=None, is_sysadmin=sysadmin, permissions=frozenset(perms), unit_path=unit,
                     session_id=session)


@pytest.mark.parametrize("event,who,expected", [
    (Event("x", org_id="A"), principal(), True),
    (Event("x", org_id="B"), principal(), False),
    (Event("x", org_id="B"), principal(sysadmin=True), True),
    (Event("x", org_id="A", permission="reports.read"), principal(), False),
    (Event("x", org_id="A", permission="reports.read"), principal(perms=["reports.read"]), True),
    (Event("x", org_id="A", unit_path="/d1/d2/"), principal(unit="/d1/"), True),
    (Event("x", org_id="A", unit_path="/d9/"), principal(unit="/d1/"), False),
    (Event("x", org_id="A", unit_path="/d9/"), principal(unit=None), True),
    (Event("x", org_id="A", user_ids=["u2"]), principal(), False),
    (Event("x", org_id="A", session_ids=["s1"]), principal(), True),
    (Event("x", org_id="A", session_ids=["s2"]), principal(), False),
    (Event("x"), principal(), False),  # system-wide notices reach system administrators only
    (Event("x"), principal(sysadmin=True), True),
])
def test_audience_rules(event, who, expected):
    hub = Hub(EventBus())
    conn = hub.connect(who)
    assert hub.deliver_local(event) == (1 if expected else 0)
    assert conn.queue.qsize() == (1 if expected else 0)


def test_websocket_receives_session_replaced(client, world):
    world.user("minh")
    token = login(client, "minh")["Authorization"].split()[1]
    with client.websocket_connect(f"/api/v1/hub?token={token}") as ws:
        assert ws.receive_json()["type"] == "hub.ready"
        login(client, "minh")  # the same account signs in elsewhere
        ev = ws.receive_json()
        assert ev["type"] == "session.replaced"
        assert "thiết bị khác" in ev["data"]["message"]


def test_websocket_refuses_bad_token_and_foreign_origin(client, world):
    with client.websocket_connect("/api/v1/hub?token=khong-hop-le") as ws:
        assert ws.receive_json()["type"] == "hub.unauthenticated"
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect):
        with client.websocket_connect("/api/v1/hub", headers={"origin": "http://evil.example"}) as ws:
            ws.receive_json()


def test_event_is_published_only_after_commit(database):
    from ketnoi.events import bus, queue_event

    seen: list[str] = []

    def listener(ev):
        seen.append(ev.type)

    bus.subscribe(listener)
    try:
        with pytest.raises(RuntimeError):
            with database.session() as s:
                queue_event(s, Event("rolled.back", org_id="A"))
                raise RuntimeError("boom")
        with database.session() as s:
            queue_event(s, Event("committed", org_id="A"))
            assert seen == []  # not before the commit
        assert seen == ["committed"]
    finally:
        bus.unsubscribe(listener)


@pytest.fixture
def redis_url():
    exe = shutil.which("redis-server")
    if exe is None:
        pytest.fail("redis-server is not installed (make test installs it)")
    port = free_port()
    proc = subprocess.Popen([exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    import socket

    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.1).close()
            break
        except OSError:
            time.sleep(0.05)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(5)


@pytest.mark.redis
async def test_redis_fans_out_between_nodes(redis_url):
    bus_a, bus_b = EventBus(), EventBus()
    node_a, node_b = Hub(bus_a, redis_url), Hub(bus_b, redis_url)
    await node_a.start()
    await node_b.start()
    try:
        on_b = node_b.connect(principal(user="u-b", org="A"))
        other_org = node_b.connect(principal(user="u-c", org="B"))
        await asyncio.sleep(0.2)  # let both subscriptions settle
        bus_a.publish(Event("report.created", data={"code": "PA-2026-000001"}, org_id="A"))
        got = await asyncio.wait_for(on_b.queue.get(), 5)
        assert got == {"type": "report.created", "data": {"code": "PA-2026-000001"}}
        await asyncio.sleep(0.2)
        assert other_org.queue.empty()
    finally:
        await node_a.stop()
        await node_b.stop()
