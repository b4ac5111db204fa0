"""`/api/v1/hub`: the WebSocket that carries typed events to a logged-in browser or client.

Browsers authenticate with their session cookie (the Origin must be this site); other clients
pass their bearer token as the ``token`` query parameter.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlparse

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from ketnoi.core.errors import NotAuthenticated
from ketnoi.identity.auth import authenticate
from ketnoi.web.deps import SESSION_COOKIE

router = APIRouter()


def _same_origin(ws: WebSocket) -> bool:
    origin = ws.headers.get("origin")
    if not origin:
        return True  # non-browser client
    return urlparse(origin).netloc == ws.headers.get("host", "")


@router.websocket("/api/v1/hub")
async def hub_socket(ws: WebSocket):
    hub = ws.app.state.hub
    token = ws.query_params.get("token", "")
    if not token:
        token = ws.cookies.get(SESSION_COOKIE, "")
        if not _same_origin(ws):
            await ws.close(code=4403)
            return

    def auth():
        with ws.app.state.database.session() as db:
            return authenticate(db, token, ip=ws.client.host if ws.client else "").principal

    try:
        principal = await run_in_threadpool(auth)
    except NotAuthenticated:
        await ws.accept()
        await ws.send_json({"type": "hub.unauthenticated"})
        await ws.close(code=4401)
        return
    await ws.accept()
    conn = hub.connect(principal)
    await ws.send_json({"type": "hub.ready", "data": {"user_id": principal.user_id}})

    async def pump():
        while True:
            item = await conn.queue.get()
            if item is None:
                break
            await ws.send_json(item)
            if item["type"] in ("session.replaced", "session.ended"):
                await ws.close(code=4401)
                break

    async def drain():
        # clients may send pings; anything else is ignored
        while True:
            msg = await ws.receive_text()
            if msg == "ping":
                await ws.send_json({"type": "pong"})

    tasks = [asyncio.create_task(pump()), asyncio.create_task(drain())]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    except WebSocketDisconnect:
        pass
    finally:
        for t in tasks:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        hub.disconnect(conn)


hub_socket.ketnoi_auth_only = True  # type: ignore[attr-defined]
