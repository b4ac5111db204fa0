"""Live-monitor relay (VC-24): turns the video-call service's committed events into ``videocall.monitor``
hub events for the users of the call's organization who hold ``videocall.monitor``.

``videocall.call`` events carry only the call id and reach no browser (the runtime turns them into
signalling pushes); this relay looks the call up once and re-publishes a small notice. Ringing events
and agents' status changes (``videocall.agent_status``, VC-23/24) already carry their organization."""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from ketnoi.events import Event, EventBus, bus
from ketnoi.videocall.models import VcCall

log = logging.getLogger("ketnoi.videocall")
SOURCES = ("videocall.call", "videocall.ringing", "videocall.ring_stopped", "videocall.agent_status")


def relay_for(database, target: EventBus) -> Callable[[Event], Future | None]:
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
        data = {"call_id": call_id, "cause": ev.type, "what": ev.data.get("what", ""), "status": status}
        if ev.type == "videocall.agent_status":
            data.update(agent_id=str(ev.data.get("agent_id") or ""), status=str(ev.data.get("status") or ""))
        target.publish(Event(type="videocall.monitor", org_id=org, permission="videocall.monitor", data=data))

    def relay(ev: Event) -> Future | None:
        """Never queries the database on the caller's thread (which may be the event loop): one worker
        thread does the look-ups, in the order the events came."""
        if ev.type not in SOURCES:
            return None
        return _POOL.submit(_safe, lookup_and_publish, ev)

    return relay


_POOL = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vc-monitor")  # its thread starts on first use


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
