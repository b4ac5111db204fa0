"""The call channel (VC-06, 07, 08): every message signed with the participant's secret; wrong tokens,
forged or replayed messages are refused and logged; state reaches both parties; reports land in the
timeline; a hang-up over the channel ends the call; an agent's login elsewhere ends the call (VC-10)."""

from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from ketnoi.videocall import signing
from ketnoi.videocall.models import VcAuthFailure
from tests.conftest import login

SIGNAL = "/api/v1/videocall/signal"


class Party:
    """A participant on the call channel, speaking the protocol of docs/VIDEOCALL.md."""

    def __init__(self, ws, creds: dict, call_id: str):
        self.ws, self.creds, self.call_id, self.seq = ws, creds, call_id, 0

    def message(self, type_: str, body: dict, *, secret: str | None = None, seq: int | None = None, ts=None):
        if seq is None:
            self.seq += 1
            seq = self.seq
        return signing.sign_message(secret or self.creds["secret"], self.call_id, self.creds["participant_id"], seq,
                                    type_, json.dumps(body), ts=ts)

    def send(self, type_: str, body: dict, **kw) -> dict:
        msg = self.message(type_, body, **kw)
        self.ws.send_text(json.dumps(msg))
        return msg

    def hello(self, token: str | None = None) -> dict:
        self.send("hello", {"token": token or self.creds["token"]})
        return self.receive("welcome")

    def receive(self, *types: str) -> dict:
        last_seq = getattr(self, "server_seq", 0)
        while True:
            msg = self.ws.receive_json()
            if msg.get("type") == "refused":
                return msg
            seq = signing.check_message({**msg}, self.creds["secret"], self.call_id, "server", last_seq)
            last_seq = self.server_seq = seq
            if not types or msg["type"] in types:
                return {"type": msg["type"], **json.loads(msg["body"])}


@pytest.fixture
def answered(desk_factory):
    desk = desk_factory(agents={"anh": ["HN"]})
    h = desk.agent("anh")
    started = desk.start("NV-1").json()
    call_id = started["call"]["id"]
    accepted = desk.client.post(f"/api/v1/videocall/calls/{call_id}/accept", headers=h).json()
    return desk, call_id, started["participant"], accepted["participant"], h


def test_both_parties_see_the_call_and_reports_reach_the_timeline(answered):
    desk, call_id, caller_creds, agent_creds, _ = answered
    with desk.client.websocket_connect(SIGNAL) as wc, desk.client.websocket_connect(SIGNAL) as wa:
        caller, agent = Party(wc, caller_creds, call_id), Party(wa, agent_creds, call_id)
        welcome = caller.hello()
        assert welcome["call"]["status"] == "answered" and welcome["you"]["role"] == "caller"
        assert welcome["call"]["hotline"]["number"] == "1022" and welcome["call"]["agent"]["name"] == "ĐTV anh"
        assert welcome["media"]["room"].startswith("call-") and welcome["media"]["token"]
        agent.hello()
        for _ in range(5):  # pushes of the caller's own arrival may come first
            if caller.receive("state")["peer"]["signal_online"]:
                break
        else:
            raise AssertionError("the caller never saw the agent arrive")
        caller.send("media", {"state": "connected"})
        agent.send("media", {"state": "connected"})
        assert agent.receive("state")["call"]["status"] in ("answered", "connected")
        caller.send("camera", {"facing": "environment"})
        caller.send("quality", {"rtt_ms": 12, "fps": 24.5, "frames_decoded": 300, "mode": "video"})
        caller.send("media", {"state": "reconnecting", "reason": "ice-disconnected"})
        caller.send("media", {"state": "connected", "how": "ice_restart", "ms": 1800})
        caller.send("ping", {})
        assert caller.receive("pong")["server_time"]
        agent.send("hangup", {"reason": "xong"})
        ended = caller.receive("ended")
        assert ended["call"]["status"] == "ended" and ended["call"]["end_reason"] == "agent_hangup"
    record = desk.signed("GET", f"/api/v1/videocall/calls/{call_id}").json()
    types = [e["type"] for e in record["timeline"]]
    for t in ("joined", "media_connected", "camera", "reconnecting", "reconnected", "ended"):
        assert t in types, types
    assert record["reconnects"] == 1 and record["quality"]["caller"]["rtt_ms_avg"] == 12
    reconnected = next(e for e in record["timeline"] if e["type"] == "reconnected")
    assert reconnected["data"] == {"how": "ice_restart", "ms": 1800}


def test_wrong_token_is_refused_and_logged(answered, database):
    desk, call_id, caller_creds, agent_creds, _ = answered
    with desk.client.websocket_connect(SIGNAL) as ws:
        refused = Party(ws, caller_creds, call_id).hello(token=agent_creds["token"])
        assert refused["type"] == "refused" and refused["reason"] == "bad_token"
    with desk.client.websocket_connect(SIGNAL) as ws:  # the right token, the wrong secret
        p = Party(ws, caller_creds, call_id)
        p.send("hello", {"token": caller_creds["token"]}, secret="f" * 64)
        assert ws.receive_json()["reason"] == "bad_signature"
    with desk.client.websocket_connect(SIGNAL) as ws:  # a participant of this call cannot speak for another
        p = Party(ws, dict(caller_creds, participant_id=agent_creds["participant_id"]), call_id)
        assert p.hello()["reason"] == "bad_token"
    with database.session() as s:
        outcomes = [(f.channel, f.outcome, f.call_id) for f in s.scalars(select(VcAuthFailure).order_by(VcAuthFailure.at))]
    assert outcomes == [("signal", "bad_token", call_id), ("signal", "bad_signature", call_id),
                        ("signal", "bad_token", call_id)]


def test_forged_replayed_and_stale_messages_are_refused(answered, database):
    desk, call_id, caller_creds, _, _ = answered
    with desk.client.websocket_connect(SIGNAL) as ws:
        p = Party(ws, caller_creds, call_id)
        p.hello()
        forged = p.message("hangup", {})
        forged["body"] = json.dumps({"reason": "changed"})
        ws.send_text(json.dumps(forged))
        assert p.receive("error")["reason"] == "bad_signature"
        p.send("camera", {"facing": "user"})
        p.send("camera", {"facing": "user"}, seq=p.seq)  # the same seq again
        assert p.receive("error")["reason"] == "replay"
        p.send("hangup", {}, ts=int(time.time()) - 3600)
        assert p.receive("error")["reason"] == "stale"
        p.send("ping", {})
        assert p.receive("pong")
    record = desk.signed("GET", f"/api/v1/videocall/calls/{call_id}").json()
    assert record["status"] != "ended"  # none of the refused hang-ups went through
    with database.session() as s:
        assert {f.outcome for f in s.scalars(select(VcAuthFailure))} == {"bad_signature", "replay", "stale"}


def test_hello_cannot_be_replayed(answered):
    desk, call_id, caller_creds, _, _ = answered
    with desk.client.websocket_connect(SIGNAL) as ws:
        p = Party(ws, caller_creds, call_id)
        hello = p.send("hello", {"token": caller_creds["token"]})
        p.receive("welcome")
    with desk.client.websocket_connect(SIGNAL) as ws:
        ws.send_text(json.dumps(hello))
        assert ws.receive_json()["reason"] == "replay"


def test_agent_login_elsewhere_ends_the_call(answered):
    """VC-10: the agent's console session ends when the account logs in on another device; so does their call."""
    desk, call_id, caller_creds, _, _ = answered
    with desk.client.websocket_connect(SIGNAL) as ws:
        caller = Party(ws, caller_creds, call_id)
        caller.hello()
        login(desk.client, "anh")  # the second device
        ended = caller.receive("ended")
    assert ended["call"]["end_reason"] == "session_replaced"
    assert ended["call"]["end_reason_label"] == "Tài khoản đăng nhập trên thiết bị khác"


def test_a_party_gone_longer_than_the_grace_period_ends_the_call(answered):
    """VC-14: the channel drops; within the grace period the call waits, after it the call ends."""
    from datetime import timedelta

    from ketnoi.db.base import utcnow
    from ketnoi.settings import get_settings
    from ketnoi.videocall import service

    desk, call_id, caller_creds, _, _ = answered
    with desk.client.websocket_connect(SIGNAL) as ws:
        Party(ws, caller_creds, call_id).hello()
    deadline = time.monotonic() + 10  # the server notices the closed socket on its own loop
    while "signal_lost" not in [e["type"] for e in desk.signed("GET", f"/api/v1/videocall/calls/{call_id}")
                                .json()["timeline"]]:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    grace = get_settings().videocall_reconnect_grace_seconds
    service.tick(desk.runtime, now=utcnow() + timedelta(seconds=grace - 5))
    assert desk.signed("GET", f"/api/v1/videocall/calls/{call_id}").json()["status"] != "ended"
    service.tick(desk.runtime, now=utcnow() + timedelta(seconds=grace + 2))
    record = desk.signed("GET", f"/api/v1/videocall/calls/{call_id}").json()
    assert record["end_reason"] == "network" and "kênh tín hiệu" in record["timeline"][-1]["message"]
