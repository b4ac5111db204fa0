"""Writing call records (CC-21, CRM-08): the functions the call engine calls as a call progresses.

Each function takes a session, writes one small change and commits, so that a finished call is
durable the moment ``end_call`` returns and a crash loses at most the live calls, which
``close_stale_calls`` marks failed when the engine starts again. Call them from a worker thread
(``asyncio.to_thread``): they do blocking database I/O. Hub events (events.py) follow the commit.

    call = start_call(s, organization_id=org, direction="inbound", caller="0912345678", called="1022",
                      trunk_id=t.id, trunk_name=t.name, sip_call_id=cid)
    leg = add_leg(s, call, role="callee", endpoint_kind="extension", endpoint="1001", number="1001")
    ringing(s, call, leg)                   # 180 from the extension
    answer(s, call, leg_id=leg, extension="1001", codec="PCMA")
    end_leg(s, leg, disposition="answered", quality=LegQuality(packets_received=1500, ...))
    end_call(s, call, disposition="answered", hangup_by="caller", sip_cause=200,
             recording_path="<org>/2026/11/22/<call>.wav")
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.db.base import new_id, utcnow
from ketnoi.events import queue_event
from ketnoi.telephony.pbx import events
from ketnoi.telephony.pbx.models import CallLeg, CallRecord

DIRECTIONS = ("inbound", "outbound", "internal")
DISPOSITIONS = ("answered", "busy", "no_answer", "failed", "cancelled")
HANGUP_BY = ("caller", "callee", "system", "")
ROLES = ("caller", "callee")
ENDPOINT_KINDS = ("extension", "trunk")


@dataclass(frozen=True)
class LegQuality:
    """RTCP figures of one leg (RFC 3550 §6.4): what we received, and the RTT from the peer's reports."""

    packets_sent: int = 0
    packets_received: int = 0
    packets_lost: int = 0
    jitter_ms: float | None = None
    rtt_ms: float | None = None


def recordings_root(data_dir: Path | None = None) -> Path:
    """Where the engine writes recordings: data_dir/telephony/recordings/<organization id>/…"""
    if data_dir is None:
        from ketnoi.settings import get_settings

        data_dir = get_settings().data_dir
    return Path(data_dir) / "telephony" / "recordings"


def recording_dir(organization_id: str, data_dir: Path | None = None) -> Path:
    return recordings_root(data_dir) / organization_id


def _relative_recording(path: str | Path, data_dir: Path | None = None) -> str:
    root = recordings_root(data_dir).resolve()
    p = Path(path)
    full = (p if p.is_absolute() else root / p).resolve()
    if root not in full.parents:
        raise ValueError(f"recording {path} is outside {root}")
    return str(full.relative_to(root))


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}")


def _call(db: Session, call_id: str) -> CallRecord:
    call = db.get(CallRecord, call_id)
    if call is None:
        raise LookupError(f"no call record {call_id}")
    return call


def start_call(db: Session, *, organization_id: str, direction: str, caller: str, called: str,
               caller_name: str = "", sip_call_id: str = "", extension: str = "", trunk_id: str = "",
               trunk_name: str = "", route_name: str = "", started_at: datetime | None = None) -> str:
    """A new call (the first INVITE was accepted for routing). Returns the call record id."""
    _check(direction, DIRECTIONS, "direction")
    call = CallRecord(id=new_id(), organization_id=organization_id, direction=direction, caller=caller[:64],
                      caller_name=caller_name[:200], called=called[:64], sip_call_id=sip_call_id[:255],
                      extension=extension[:20], trunk_id=trunk_id[:32], trunk_name=trunk_name[:100],
                      route_name=route_name[:100], started_at=started_at or utcnow())
    db.add(call)
    db.flush()
    queue_event(db, events.call_event(events.CALL_STARTED, call))
    db.commit()
    return call.id


def add_leg(db: Session, call_id: str, *, role: str, endpoint_kind: str, endpoint: str, number: str = "",
            trunk_id: str = "", sip_call_id: str = "", remote_address: str = "", codec: str = "",
            started_at: datetime | None = None) -> str:
    """A leg of the call: the caller's own dialog, or each callee tried (failover adds one per trunk)."""
    _check(role, ROLES, "role")
    _check(endpoint_kind, ENDPOINT_KINDS, "endpoint_kind")
    call = _call(db, call_id)
    seq = len(call.legs)
    leg = CallLeg(id=new_id(), call_id=call.id, seq=seq, role=role, endpoint_kind=endpoint_kind,
                  endpoint=endpoint[:100], number=number[:64], trunk_id=trunk_id[:32], sip_call_id=sip_call_id[:255],
                  remote_address=remote_address[:64], codec=codec[:10], started_at=started_at or utcnow())
    db.add(leg)
    db.commit()
    return leg.id


def ringing(db: Session, call_id: str, leg_id: str | None = None) -> None:
    """A callee is ringing: publishes ``call.ringing`` (nothing is written)."""
    call = _call(db, call_id)
    leg = db.get(CallLeg, leg_id) if leg_id else None
    events.publish_ringing(call, leg)


def answer(db: Session, call_id: str, *, leg_id: str | None = None, at: datetime | None = None,
           extension: str | None = None, codec: str | None = None) -> None:
    """The call is answered (by ``leg_id`` when given). The first answer counts for billing."""
    call = _call(db, call_id)
    at = at or utcnow()
    leg = None
    if leg_id:
        leg = db.get(CallLeg, leg_id)
        if leg is None or leg.call_id != call.id:
            raise LookupError(f"no leg {leg_id} in call {call_id}")
        leg.answered_at = leg.answered_at or at
        if codec:
            leg.codec = codec[:10]
    if call.answered_at is None:
        call.answered_at = at
    if extension:
        call.extension = extension[:20]
    db.flush()
    queue_event(db, events.call_event(events.CALL_ANSWERED, call, leg))
    db.commit()


def end_leg(db: Session, leg_id: str, *, disposition: str, sip_cause: int | None = None,
            at: datetime | None = None, quality: LegQuality | None = None, codec: str | None = None,
            note: str = "") -> None:
    _check(disposition, DISPOSITIONS, "disposition")
    leg = db.get(CallLeg, leg_id)
    if leg is None:
        raise LookupError(f"no leg {leg_id}")
    if leg.ended_at is None:
        leg.ended_at = at or utcnow()
        leg.disposition = disposition
        leg.sip_cause = sip_cause
    if codec:
        leg.codec = codec[:10]
    if note:
        leg.note = note[:2000]
    if quality is not None:
        _set_quality(leg, quality)
    db.commit()


def _set_quality(leg: CallLeg, q: LegQuality) -> None:
    leg.packets_sent, leg.packets_received, leg.packets_lost = q.packets_sent, q.packets_received, q.packets_lost
    leg.jitter_ms, leg.rtt_ms = q.jitter_ms, q.rtt_ms


def end_call(db: Session, call_id: str, *, disposition: str, hangup_by: str = "", sip_cause: int | None = None,
             at: datetime | None = None, recording_path: str | Path = "",
             quality: dict[str, LegQuality] | None = None) -> bool:
    """The call is over. Legs still open are closed with it (answered legs as answered, the others as
    cancelled); ``quality`` maps leg ids to their final RTCP figures. Duration runs from start to end,
    billable seconds from answer to end. Idempotent: a second call returns False and changes nothing."""
    _check(disposition, DISPOSITIONS, "disposition")
    _check(hangup_by, HANGUP_BY, "hangup_by")
    call = _call(db, call_id)
    if call.ended_at is not None:
        return False
    at = at or utcnow()
    call.ended_at = max(at, call.started_at)
    call.disposition, call.hangup_by, call.sip_cause = disposition, hangup_by, sip_cause
    call.duration = int((call.ended_at - call.started_at).total_seconds())
    call.billsec = int((call.ended_at - call.answered_at).total_seconds()) \
        if call.answered_at and disposition == "answered" else 0
    if recording_path:
        call.recording_path = _relative_recording(recording_path)
    for leg in call.legs:
        if leg.ended_at is None:
            leg.ended_at = call.ended_at
            leg.disposition = "answered" if leg.answered_at else ("cancelled" if disposition == "answered"
                                                                  else disposition)
        if quality and leg.id in quality:
            _set_quality(leg, quality[leg.id])
    db.flush()
    queue_event(db, events.call_event(events.CALL_ENDED, call))
    db.commit()
    return True


def close_stale_calls(db: Session, *, older_than: timedelta = timedelta(0), now: datetime | None = None) -> int:
    """At engine start: calls left open by a crash are ended as failed, hung up by the system (their
    real end is unknown, so nothing is billed)."""
    now = now or utcnow()
    ids = list(db.scalars(select(CallRecord.id).where(CallRecord.ended_at.is_(None),
                                                      CallRecord.started_at <= now - older_than)))
    for call_id in ids:
        end_call(db, call_id, disposition="failed", hangup_by="system", at=now)
    return len(ids)
