"""Live-monitor relay (VC-24): turns the video-call service's committed events into ``videocall.monitor``
hub events for the users of the call's organization who hold ``videocall.monitor``.

``videocall.call`` events carry only the call id and reach no browser (the runtime turns them into
signalling pushes); this relay looks the call up once and re-publishes a small notice. Ringing events
already carry their organization."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from ketnoi.events import Event, EventBus, bus
from ketnoi.videocall.models import VcCall

log = logging.getLogger("ketnoi.videocall")
SOURCES = ("videocall.call", "videocall.ringing", "videocall.ring_stopped")


def relay_for(database, target: EventBus) -> Callable[[Event], None]:
    def lookup_and_publish(ev: Event) -> None:
        call_id = str(ev.data.get("call_id") or "")
        org, status = ev.org_id, ""
        if call_id:
            with database.session() as s:
                call = s.get(VcCall, call_id) if len(call_id) <= 64 else None
                if call is None:
                    return
                org, status = call.organization_id, call.status
        if not org:
            return
        target.publish(Event(type="videocall.monitor", org_id=org, permission="videocall.monitor",
                             data={"call_id": call_id, "cause": ev.type, "what": ev.data.get("what", ""),
                                   "status": status}))

    def relay(ev: Event) -> None:
        if ev.type not in SOURCES:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None:  # never query the database on the event loop
            loop.run_in_executor(None, _safe, lookup_and_publish, ev)
        else:
            _safe(lookup_and_publish, ev)

    return relay


def _safe(fn, ev: Event) -> None:
    try:
        fn(ev)
    except Exception:
        log.exception("monitor relay failed for %s", ev.type)


async def start(app):
    relay = relay_for(app.state.database, bus)
    bus.subscribe(relay)

    async def stop() -> None:
        bus.unsubscribe(relay)

    return stop
