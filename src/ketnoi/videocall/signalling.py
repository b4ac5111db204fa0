"""The call channel: ``/api/v1/videocall/signal``, one WebSocket per participant (VC-06, 07, 08).

Media never goes through here (browsers talk to Janus); this channel carries the call's state, the
parties' reports and hang-ups. Every message in both directions is an envelope signed with the
participant's secret (signing.sign_message); the first one from the client is ``hello`` with the
participant's token. Refusals are logged (VcAuthFailure) and close the socket with code 4401.
Protocol reference for native apps: docs/VIDEOCALL.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from ketnoi.core.errors import NotAuthenticated
from ketnoi.db.base import utcnow
from ketnoi.identity.models import AuthSession
from ketnoi.videocall import participants, runtime, signing
from ketnoi.videocall.models import VcParticipant

log = logging.getLogger("ketnoi.videocall")
router = APIRouter()
HELLO_SECONDS = 10
_pending: set[asyncio.Task] = set()
MAX_MESSAGE = 16_384


class Connection:
    def __init__(self, ws: WebSocket, participant_id: str, call_id: str, secret: str):
        self.ws, self.participant_id, self.call_id, self.secret = ws, participant_id, call_id, secret
        self.seq_out = 0
        self.lock = asyncio.Lock()
        self.closed = False

    async def send(self, type_: str, body: dict[str, Any]) -> None:
        async with self.lock:
            if self.closed:
                return
            self.seq_out += 1
            msg = signing.sign_message(self.secret, self.call_id, "server", self.seq_out, type_,
                                       json.dumps(body, ensure_ascii=False, default=str))
            try:
                await self.ws.send_text(json.dumps(msg, ensure_ascii=False))
            except (RuntimeError, OSError, WebSocketDisconnect):
                self.closed = True

    async def close(self, code: int = 1000) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(Exception):
                await self.ws.close(code)


def _state(rt, participant_id: str) -> dict[str, Any] | None:
    with rt.database.session() as db:
        p = db.get(VcParticipant, participant_id)
        return participants.state_for(db, rt, p) if p else None


async def push_state(rt, call_id: str, what: str) -> None:
    """After a committed change: every connection of the call gets its own view of the state."""
    for conn in list(rt.signals.get(call_id, ())):
        state = await run_in_threadpool(_state, rt, conn.participant_id)
        if state is None:
            continue
        await conn.send("ended" if what == "ended" else "state", state)
        if what == "ended":
            await conn.close(1000)


def _log_refusal(rt, outcome: str, detail: str, call_id: str | None, key: str, ip: str) -> None:
    with rt.database.session() as db:
        org = None
        if call_id:
            from ketnoi.videocall.models import VcCall

            call = db.get(VcCall, call_id) if len(call_id) <= 64 else None
            org = call.organization_id if call else None
            call_id = call.id if call else None
        signing.log_failure(db, channel="signal", outcome=outcome, detail=detail, organization_id=org, key_id=key,
                            call_id=call_id, ip=ip, path="/api/v1/videocall/signal")


def _hello(rt, msg: dict[str, Any]) -> tuple[str, str, str, int]:
    """Checks the first message; returns (participant id, call id, secret, seq). Raises MessageRefused."""
    pid, call_id = str(msg.get("from", ""))[:64], str(msg.get("call", ""))[:64]
    with rt.database.session() as db:
        p = db.get(VcParticipant, pid) if pid else None
        if p is None or p.call_id != call_id:
            raise signing.MessageRefused("unknown_participant", "Người tham gia không thuộc cuộc gọi này.")
        try:
            body = json.loads(str(msg.get("body", "{}")))
            signing.check_participant_token(p, str(body.get("token", "")) if isinstance(body, dict) else "")
        except (ValueError, NotAuthenticated) as e:
            raise signing.MessageRefused("bad_token", str(e) or "Mã tham gia không đúng.") from None
        secret = signing.participant_secret(p)
        seq = signing.check_message(msg, secret, call_id, pid, 0)
        if p.session_id:  # an agent: their console session must still be the live one (VC-10)
            sess = db.get(AuthSession, p.session_id)
            if sess is None or sess.ended_at is not None:
                raise signing.MessageRefused("session_ended", "Phiên đăng nhập của điều phối viên đã kết thúc.")
        if not signing.remember_nonce(db, "s:" + pid, str(msg["nonce"]), timedelta(seconds=2 * signing.MESSAGE_SKEW)):
            raise signing.MessageRefused("replay", "Gói tin chào đã được dùng.")
        db.commit()
        return pid, call_id, secret, seq


def _handle(rt, pid: str, type_: str, body: dict[str, Any]) -> None:
    with rt.database.session() as db:
        p = db.get(VcParticipant, pid)
        if p is None or p.revoked_at is not None:
            return
        if type_ == "media":
            participants.report_media(db, rt, p, str(body.get("state", "")), body)
        elif type_ == "quality":
            participants.report_quality(db, p, body)
        elif type_ == "camera":
            participants.report_camera(db, p, body)
        elif type_ == "hangup":
            participants.hangup(db, rt, p, body)


def _online(rt, pid: str, online: bool) -> None:
    with rt.database.session() as db:
        p = db.get(VcParticipant, pid)
        if p is not None:
            participants.signal_online(db, p, online)


@router.websocket("/api/v1/videocall/signal")
async def signal(ws: WebSocket):
    rt = await runtime.for_app(ws.app)
    await ws.accept()
    ip = ws.client.host if ws.client else ""
    try:
        raw = await asyncio.wait_for(ws.receive_text(), HELLO_SECONDS)
        msg = json.loads(raw) if len(raw) <= MAX_MESSAGE else None
        if not isinstance(msg, dict) or msg.get("type") != "hello":
            raise signing.MessageRefused("malformed", "Gói tin đầu tiên phải là hello.")
        pid, call_id, secret, seq = await run_in_threadpool(_hello, rt, msg)
    except (TimeoutError, WebSocketDisconnect, ValueError):
        with contextlib.suppress(Exception):
            await ws.close(4400)
        return
    except signing.MessageRefused as e:
        await run_in_threadpool(_log_refusal, rt, e.outcome, e.detail, str(msg.get("call", ""))[:64],
                                str(msg.get("from", ""))[:60], ip)
        with contextlib.suppress(Exception):
            await ws.send_json({"type": "refused", "reason": e.outcome, "message": e.detail})
            await ws.close(4401)
        return
    conn = Connection(ws, pid, call_id, secret)
    for old in list(rt.signals.get(call_id, ())):
        if old.participant_id == pid:  # the same participant reconnected: the newer socket wins
            rt.signals[call_id].discard(old)
            await old.close(4409)
    rt.signals.setdefault(call_id, set()).add(conn)
    try:
        state = await run_in_threadpool(_state, rt, pid)
        await conn.send("welcome", state or {})
        await run_in_threadpool(_online, rt, pid, True)
        last = seq
        while True:
            raw = await ws.receive_text()
            try:
                msg = json.loads(raw) if len(raw) <= MAX_MESSAGE else None
                last = signing.check_message(msg, secret, call_id, pid, last)
                body = json.loads(msg["body"] or "{}")
                if not isinstance(body, dict):
                    raise TypeError
            except signing.MessageRefused as e:
                await run_in_threadpool(_log_refusal, rt, e.outcome, e.detail, call_id, pid, ip)
                await conn.send("error", {"reason": e.outcome, "message": e.detail})
                continue
            except (ValueError, TypeError, KeyError):
                await conn.send("error", {"reason": "malformed", "message": "Gói tin không đúng định dạng."})
                continue
            if msg["type"] == "ping":
                await conn.send("pong", {"server_time": utcnow().isoformat()})
            else:
                await run_in_threadpool(_handle, rt, pid, msg["type"], body)
    except (WebSocketDisconnect, RuntimeError):  # the client left, or this socket was closed here
        pass
    finally:
        conns = rt.signals.get(call_id, set())
        conns.discard(conn)
        if not conns:
            rt.signals.pop(call_id, None)
        conn.closed = True
        if not any(c.participant_id == pid for c in rt.signals.get(call_id, ())):
            # a task of its own: recorded even when this handler is being cancelled
            task = asyncio.get_running_loop().create_task(run_in_threadpool(_online, rt, pid, False))
            _pending.add(task)
            task.add_done_callback(_pending.discard)


signal.ketnoi_public = True  # type: ignore[attr-defined]  # authenticated by the participant's token + HMAC
