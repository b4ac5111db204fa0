"""Starting, routing, ringing, answering and ending calls through the API against a real Janus
(VC-01, 02, 04, 09, 10, 13, 17): signatures, replays, one call per account, first accept wins,
the two-token room, overflow, maximum wait, and the timeline."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import timedelta

from sqlalchemy import select

from ketnoi.db.base import utcnow
from ketnoi.videocall import service, signing
from ketnoi.videocall.janus import JanusClient
from ketnoi.videocall.models import VcAuthFailure, VcCall, VcParticipant
from tests.conftest import login

CALLS = "/api/v1/videocall/calls"


def timeline(desk, call_id: str) -> list[str]:
    r = desk.signed("GET", f"{CALLS}/{call_id}")
    assert r.status_code == 200, r.text
    return [e["type"] for e in r.json()["timeline"]]


def failures(database) -> list[tuple[str, str]]:
    with database.session() as s:
        return [(f.channel, f.outcome) for f in s.scalars(select(VcAuthFailure).order_by(VcAuthFailure.at))]


def janus_allowed(desk, call_id: str) -> list[str]:
    rt = desk.runtime
    with desk.world.db.session() as s:
        call = s.get(VcCall, call_id)
        room, instance = call.janus_room, call.janus_instance
    return rt.janus(lambda c: c.room_request({"request": "allowed", "room": room, "action": "enable",
                                               "secret": signing.room_secret(call_id)}), instance)["allowed"]


def test_signed_start_routes_rings_and_first_accept_wins(desk_factory, database):
    desk = desk_factory(agents={"anh": ["HN"], "binh": ["HN"], "cuong": ["KHAC"]})
    h_an, h_binh, h_cuong = desk.agent("anh"), desk.agent("binh"), desk.agent("cuong")
    r = desk.start("NV-7", unit="HN", vip=True, attributes={"segment": "b2b"})
    assert r.status_code == 201, r.text
    out = r.json()
    call_id, creds = out["call"]["id"], out["participant"]
    assert out["call"]["status"] == "ringing" and out["call"]["caller"]["unit"] == "HN"
    assert creds["role"] == "caller" and creds["token"] and creds["secret"] and creds["signal_url"]
    assert len(janus_allowed(desk, call_id)) == 1  # the caller's token only, until someone answers

    for h in (h_an, h_binh):  # ring_all in group HN; cuong (group KHAC) does not ring
        assert [x["call_id"] for x in desk.client.get("/api/v1/videocall/agent/me", headers=h).json()["ringing"]] \
            == [call_id]
    assert desk.client.get("/api/v1/videocall/agent/me", headers=h_cuong).json()["ringing"] == []

    won = desk.client.post(f"{CALLS}/{call_id}/accept", headers=h_binh)
    assert won.status_code == 200, won.text
    assert won.json()["participant"]["role"] == "agent"
    lost = desk.client.post(f"{CALLS}/{call_id}/accept", headers=h_an)
    assert lost.status_code == 409 and "không còn đổ chuông" in lost.json()["detail"]
    assert desk.client.get("/api/v1/videocall/agent/me", headers=h_an).json()["ringing"] == []
    assert sorted(janus_allowed(desk, call_id)) == sorted(
        signing.janus_token(p) for p in _participants(database, call_id))  # exactly the two parties

    record = desk.signed("GET", f"{CALLS}/{call_id}").json()
    assert record["status"] == "answered" and record["agent_name"] == "ĐTV binh"
    assert record["routing_path"][0]["group"] == "HN" and record["vip"] is True
    types = [e["type"] for e in record["timeline"]]
    assert types[:4] == ["created", "queued", "routed", "ringing"] and "answered" in types

    ended = desk.client.post(f"{CALLS}/{call_id}/hangup", headers=h_binh)
    assert ended.status_code == 200 and ended.json()["end_reason"] == "agent_hangup"
    assert ended.json()["recording_status"] == "pending"
    with database.session() as s:
        assert all(p.revoked_at is not None for p in s.scalars(select(VcParticipant)))
    me = desk.client.get("/api/v1/videocall/agent/me", headers=h_binh).json()
    assert me["status"] == "available" and me["current_call"] is None


def _participants(database, call_id):
    with database.session() as s:
        return list(s.scalars(select(VcParticipant).where(VcParticipant.call_id == call_id)))


def test_tampered_stale_and_replayed_requests_are_refused_and_logged(desk_factory, database):
    desk = desk_factory(agents={"anh": ["HN"]})
    payload = {"hotline": "1022", "caller": {"id": "NV-9", "unit": "HN"}}
    body = json.dumps(payload).encode()
    path = CALLS

    headers = signing.signed_headers(desk.board.key_id, desk.board.secret, "POST", path, "", body)
    tampered = body.replace(b"NV-9", b"NV-8")
    r = desk.client.post(path, content=tampered, headers={**headers, "Content-Type": "application/json"})
    assert r.status_code == 401 and r.json()["title"] == "Chữ ký không hợp lệ"

    forged = dict(headers, **{"X-Ketnoi-Content-SHA256": signing.body_sha256(tampered)})
    r = desk.client.post(path, content=tampered, headers={**forged, "Content-Type": "application/json"})
    assert r.status_code == 401 and "Chữ ký" in r.json()["detail"]

    old = signing.signed_headers(desk.board.key_id, desk.board.secret, "POST", path, "", body,
                                 timestamp=int(time.time()) - 3600)
    r = desk.client.post(path, content=body, headers={**old, "Content-Type": "application/json"})
    assert r.status_code == 401 and "quá hạn" in r.json()["detail"]

    wrong_key = signing.signed_headers(desk.board.key_id, "0" * 64, "POST", path, "", body)
    assert desk.client.post(path, content=body, headers=wrong_key).status_code == 401

    good = {**signing.signed_headers(desk.board.key_id, desk.board.secret, "POST", path, "", body),
            "Content-Type": "application/json"}
    assert desk.client.post(path, content=body, headers=good).status_code == 201
    replay = desk.client.post(path, content=body, headers=good)
    assert replay.status_code == 401 and "nonce" in replay.json()["detail"]

    assert failures(database) == [("http", "bad_body_hash"), ("http", "bad_signature"), ("http", "stale"),
                                  ("http", "bad_signature"), ("http", "replay")]


def test_one_call_at_a_time_per_account(desk_factory):
    desk = desk_factory(agents={"anh": ["HN"]})
    assert desk.start("NV-1").status_code == 201
    second = desk.start("NV-1")
    assert second.status_code == 409 and "một cuộc gọi" in second.json()["detail"]
    assert desk.start("NV-2").status_code == 201  # another account may call


def test_call_token_jwt_is_single_use(desk_factory, database):
    desk = desk_factory(agents={"anh": ["HN"]})
    r = desk.signed("POST", "/api/v1/videocall/call-tokens", {"hotline": "1022", "caller": {"id": "APP-1", "unit": "HN"}})
    assert r.status_code == 201, r.text
    token = r.json()["token"]
    started = desk.client.post(CALLS, headers={"X-Ketnoi-Call-Token": token})
    assert started.status_code == 201, started.text
    assert started.json()["call"]["auth_method"] == "jwt" and started.json()["call"]["caller"]["id"] == "APP-1"
    again = desk.client.post(CALLS, headers={"X-Ketnoi-Call-Token": token})
    assert again.status_code == 401 and "một lần" in again.json()["detail"]
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert desk.client.post(CALLS, headers={"X-Ketnoi-Call-Token": forged}).status_code == 401
    assert [f for f in failures(database) if f[0] == "jwt"] == [("jwt", "replay"), ("jwt", "bad_signature")]


def test_logged_in_user_calls_as_themselves(desk_factory):
    desk = desk_factory(agents={"anh": ["HN"]})
    desk.world.user("dan", roles=["videocall.call"])
    h = login(desk.client, "dan")
    r = desk.client.post(CALLS, json={"hotline": "1022", "caller": {"id": "spoofed", "unit": "HN"}}, headers=h)
    assert r.status_code == 201, r.text
    caller = r.json()["call"]["caller"]
    assert caller["id"] != "spoofed" and caller["user"] == "dan" and r.json()["call"]["auth_method"] == "session"


def test_wrong_tokens_cannot_reach_the_media_room(desk_factory, janus):
    """VC-13 at the media server: Janus refuses unknown tokens, and a participant's token opens only its room."""
    desk = desk_factory(agents={"anh": ["HN"]})
    first = desk.start("NV-1").json()
    second = desk.start("NV-2").json()
    with desk.world.db.session() as s:
        caller = s.get(VcParticipant, first["participant"]["participant_id"])
        token = signing.janus_token(caller)
        room2 = s.get(VcCall, second["call"]["id"]).janus_room

    async def probe():
        from websockets.asyncio.client import connect

        async with connect(janus.config.url, subprotocols=["janus-protocol"]) as ws:
            async def ask(msg):
                await ws.send(json.dumps({**msg, "transaction": "t" + str(time.monotonic_ns())}))
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("janus") != "ack":
                        return reply

            bad = await ask({"janus": "create", "token": "not-a-token"})
            ok = await ask({"janus": "create", "token": token})
            sid = ok["data"]["id"]
            handle = (await ask({"janus": "attach", "plugin": "janus.plugin.videoroom", "session_id": sid,
                                 "token": token}))["data"]["id"]
            other_room = await ask({"janus": "message", "session_id": sid, "handle_id": handle, "token": token,
                                    "body": {"request": "join", "ptype": "publisher", "room": room2,
                                             "token": token}})
            create = await ask({"janus": "message", "session_id": sid, "handle_id": handle, "token": token,
                                "body": {"request": "create", "room": "rogue"}})
            return bad, other_room, create

    bad, other_room, create = asyncio.run(probe())
    assert bad["janus"] == "error" and bad["error"]["code"] == 403
    assert other_room["plugindata"]["data"]["error_code"] == 433  # not in that room's allowed list
    assert create["plugindata"]["data"]["error_code"] in (429, 433)  # rooms need ketnoi's admin key


def test_overflow_to_fallback_then_no_answer(desk_factory, database):
    desk = desk_factory(agents={"anh": ["HN"], "cuong": ["KHAC"]}, overflow=10, max_wait=60,
                        fallback={"HN": "KHAC"})
    desk.agent("anh")
    desk.agent("cuong")
    call_id = desk.start("NV-3").json()["call"]["id"]
    rt = desk.runtime
    with database.session() as s:
        created = s.get(VcCall, call_id).created_at
    service.tick(rt, now=created + timedelta(seconds=11))  # HN had its 10 s: on to KHAC
    r = desk.signed("GET", f"{CALLS}/{call_id}").json()
    assert [p["group"] for p in r["routing_path"]] == ["HN", "KHAC"]
    assert r["status"] == "ringing"
    rings = [e for e in r["timeline"] if e["type"] == "ringing"]
    assert rings[-1]["data"]["agents"] == [desk.board.agents["cuong"]]
    service.tick(rt, now=created + timedelta(seconds=61))
    r = desk.signed("GET", f"{CALLS}/{call_id}").json()
    assert r["status"] == "ended" and r["end_reason"] == "no_answer" and r["ended_by"] == "system"
    assert {"overflow", "ring_timeout", "ended"} <= {e["type"] for e in r["timeline"]}


def test_nobody_on_duty_ends_with_no_agent(desk_factory, database):
    desk = desk_factory(agents={"anh": ["HN"]}, max_wait=30)
    r = desk.start("NV-4").json()  # an is not available
    assert r["call"]["status"] == "queued"
    with database.session() as s:
        created = s.get(VcCall, r["call"]["id"]).created_at
    service.tick(desk.runtime, now=created + timedelta(seconds=31))
    out = desk.signed("GET", f"{CALLS}/{r['call']['id']}").json()
    assert out["end_reason"] == "no_agent" and out["end_reason_label"] == "Không có điều phối viên trực"


def test_unknown_hotline_and_bad_input_are_422(desk_factory):
    desk = desk_factory(agents={"anh": ["HN"]})
    r = desk.signed("POST", CALLS, {"hotline": "9999", "caller": {"id": "x"}})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "hotline"
    r = desk.signed("POST", CALLS, {"hotline": "1022", "caller": {"id": "x", "phone": "12"}})
    assert r.status_code == 422
    r = desk.signed("POST", CALLS, {"hotline": "1022", "caller": {"id": "x", "extra": 1}})
    assert r.status_code == 422


def test_media_server_down_refuses_the_call_and_logs_why(desk_factory, database, monkeypatch):
    desk = desk_factory(agents={"anh": ["HN"]})
    assert desk.start("NV-0").status_code == 201  # the runtime exists, with its Janus client
    client: JanusClient = next(iter(desk.runtime.clients.values()))
    monkeypatch.setattr(client, "url", "ws://127.0.0.1:9")  # nothing listens there
    client.api.url = "ws://127.0.0.1:9"
    desk.runtime.janus(lambda c: c.api.close(), client.name)
    client.session_id = client.handle_id = None
    r = desk.start("NV-5")
    assert r.status_code == 503 and "Máy chủ video" in r.json()["detail"]
    with database.session() as s:
        call = s.scalar(select(VcCall).where(VcCall.caller_ref == "NV-5"))
        assert call.status == "ended" and call.end_reason == "media_unavailable"
    assert utcnow() - call.created_at < timedelta(minutes=1)


def test_calls_spread_over_janus_instances(client, world, janus, monkeypatch):
    """Several instances configured: each new call goes to the least loaded healthy one."""
    from tests.videocall.conftest import Desk
    from tests.videocall.harness import start_janus, stop_janus, switchboard, use_janus

    second = start_janus("janus-b")
    try:
        use_janus(monkeypatch, janus, second)
        desk = Desk(client, world, switchboard(world, agents={"anh": ["HN"]}))
        ids = [desk.start(f"NV-{i}").json()["call"]["id"] for i in range(4)]
        records = [desk.signed("GET", f"{CALLS}/{i}").json() for i in ids]
        used = [r["janus_instance"] for r in records]
        assert sorted(used) == ["janus-b", "janus-b", "janus-test", "janus-test"], used
        health = desk.client.get("/api/v1/videocall/health", headers=login(desk.client, "root"))
        assert health.status_code == 200 and {h["name"] for h in health.json() if h["healthy"]} == {
            "janus-test", "janus-b"}
    finally:
        stop_janus(second)


def test_ending_releases_the_room_and_tokens_and_a_call_without_media_has_no_recording(desk_factory, database):
    from ketnoi.jobs.runner import JobRunner

    desk = desk_factory(agents={"anh": ["HN"]})
    h = desk.agent("anh")
    call_id = desk.start("NV-1").json()["call"]["id"]
    desk.client.post(f"{CALLS}/{call_id}/accept", headers=h)
    with database.session() as s:
        call = s.get(VcCall, call_id)
        room, instance = call.janus_room, call.janus_instance
    def exists():
        return desk.runtime.janus(
            lambda c: c.room_request({"request": "exists", "room": room}), instance)["exists"]
    assert exists() is True
    desk.client.post(f"{CALLS}/{call_id}/hangup", headers=h)
    assert exists() is False
    assert JobRunner(database).run_once() is not None  # nobody published: nothing to compose
    record = desk.signed("GET", f"{CALLS}/{call_id}").json()
    assert record["recording_status"] == "failed" and record["timeline"][-1]["type"] == "recording_failed"
    r = desk.signed("GET", f"{CALLS}/{call_id}/recording")
    assert r.status_code == 404 and "không thành công" in r.json()["detail"]
