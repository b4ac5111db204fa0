"""Live call events for the hub (CC-20 monitor, CC-21): the one place their payload is built.

Types: ``call.started``, ``call.ringing``, ``call.answered``, ``call.ended``. cdr.py publishes
started/answered/ended after the row is committed; the engine publishes ``call.ringing`` with
``publish_ringing`` (nothing is written for it). Receivers: users of the call's organization holding
``telephony.calls.read``. Payload (``data``), every key always present:

  call_id      call record id (opaque)       sip_call_id  Call-ID of the first leg
  direction    inbound | outbound | internal caller, caller_name, called
  extension    extension that placed/answered it ("" if none yet)
  trunk        trunk name ("" for internal calls)
  started_at, answered_at, ended_at          ISO 8601 UTC or null
  disposition  answered | busy | no_answer | failed | cancelled ("" while live)
  hangup_by    caller | callee | system ("")  sip_cause  int or null
  duration, billsec                          seconds (0 while live)
  leg          null, or for ringing/answered: {"id", "role", "endpoint_kind", "endpoint", "number"}
"""

from __future__ import annotations

from typing import Any

from ketnoi.events import Event, bus

CALL_STARTED, CALL_RINGING, CALL_ANSWERED, CALL_ENDED = "call.started", "call.ringing", "call.answered", "call.ended"
PERMISSION = "telephony.calls.read"


def _iso(dt) -> str | None:
    return dt.isoformat() if dt is not None else None


def call_payload(call, leg=None) -> dict[str, Any]:
    """``call`` is a CallRecord (or anything with its attributes), ``leg`` a CallLeg or None."""
    return {
        "call_id": call.id, "sip_call_id": call.sip_call_id, "direction": call.direction, "caller": call.caller,
        "caller_name": call.caller_name, "called": call.called, "extension": call.extension,
        "trunk": call.trunk_name, "started_at": _iso(call.started_at), "answered_at": _iso(call.answered_at),
        "ended_at": _iso(call.ended_at), "disposition": call.disposition, "hangup_by": call.hangup_by,
        "sip_cause": call.sip_cause, "duration": call.duration, "billsec": call.billsec,
        "leg": None if leg is None else {"id": leg.id, "role": leg.role, "endpoint_kind": leg.endpoint_kind,
                                         "endpoint": leg.endpoint, "number": leg.number},
    }


def call_event(kind: str, call, leg=None) -> Event:
    return Event(kind, call_payload(call, leg), org_id=call.organization_id, permission=PERMISSION)


def publish(ev: Event) -> None:
    """Publish now (no transaction involved), from any thread."""
    bus.publish(ev)


def publish_ringing(call, leg) -> None:
    """The engine calls this when a callee leg answers 180/183 (the call record is read, not written)."""
    publish(call_event(CALL_RINGING, call, leg))
