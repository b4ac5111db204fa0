"""Participants on the call channel (VC-06, 07, 08, 14, 15): what each party reports over signalling
(media state, reconnects, camera switches, quality figures), the live status both parties see, the
reconnect grace period, and the call's API record (VC-12)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.db.base import utcnow
from ketnoi.settings import get_settings
from ketnoi.videocall import config, signing
from ketnoi.videocall.models import (
    CALL_STATUS_LABELS,
    VcAgent,
    VcCall,
    VcCallEvent,
    VcHotline,
    VcMediaFile,
    VcParticipant,
    VcQueue,
)
from ketnoi.videocall.runtime import Runtime
from ketnoi.videocall.service import END_REASONS, ROLE_LABELS, add_event, end_call, notify

MEDIA_STATES = ("connecting", "connected", "reconnecting")
HOW_LABELS = {"ice_restart": "khởi động lại ICE", "rejoin": "vào lại phòng", "spontaneous": "tự phục hồi",
              "signal": "kết nối lại kênh tín hiệu"}
QUALITY_KEYS = ("rtt_ms", "jitter_ms", "packets_lost", "fps", "in_kbps", "out_kbps", "frames_decoded",
                "audio_energy", "available_kbps", "mode")


def _role(p: VcParticipant) -> str:
    return ROLE_LABELS.get(p.role, p.role)


def peer_of(db: Session, p: VcParticipant) -> VcParticipant | None:
    return db.scalar(select(VcParticipant).where(VcParticipant.call_id == p.call_id, VcParticipant.id != p.id,
                                                 VcParticipant.role != p.role).order_by(VcParticipant.created_at.desc()))


# --- signalling connection life -------------------------------------------------------------------
def signal_online(db: Session, p: VcParticipant, online: bool) -> None:
    call = db.get(VcCall, p.call_id)
    now = utcnow()
    if p.signal_online == online:
        return
    p.signal_online, p.signal_changed_at = online, now
    if call.status == "ended":
        return
    if online and p.joined_at is None:
        p.joined_at = now
        add_event(db, call, "joined", f"{_role(p)} đã vào kênh tín hiệu", actor=p.role)
    elif online:
        add_event(db, call, "signal_restored", f"{_role(p)} đã kết nối lại kênh tín hiệu", actor=p.role)
    else:
        add_event(db, call, "signal_lost", f"{_role(p)} mất kết nối kênh tín hiệu", actor=p.role)
    notify(db, call)


def when(body: dict[str, Any], now: datetime) -> datetime:
    """When a reported change happened: the client's ``at`` (ms) for a report queued while its channel
    was down, trusted only within the reconnect grace period; else now."""
    at = body.get("at")
    if isinstance(at, (int, float)) and not isinstance(at, bool):
        try:
            t = datetime.fromtimestamp(at / 1000, tz=UTC)
        except (OverflowError, OSError, ValueError):
            return now
        grace = timedelta(seconds=get_settings().videocall_reconnect_grace_seconds + 5)
        if now - grace <= t <= now:
            return t
    return now


def report_media(db: Session, rt: Runtime, p: VcParticipant, state: str, body: dict[str, Any]) -> None:
    """A party's media state: connecting → connected, connected → reconnecting → connected (VC-08, 14)."""
    if state not in MEDIA_STATES:
        return
    call = db.get(VcCall, p.call_id)
    if call.status == "ended" or p.media_state == state:
        return
    now = when(body, utcnow())
    previous, p.media_state, p.media_changed_at = p.media_state, state, now
    reason = str(body.get("reason", ""))[:100]
    if state == "reconnecting":
        p.reconnects += 1
        call.reconnects += 1
        add_event(db, call, "reconnecting", f"{_role(p)} mất kết nối hình/tiếng ({reason or 'không rõ'}), "
                                            "đang kết nối lại", actor=p.role, at=now, reason=reason)
        if call.status == "connected":
            call.status = "reconnecting"
    elif state == "connected" and (previous == "reconnecting" or (previous == "connecting" and p.reconnects)):
        how, ms = str(body.get("how", ""))[:30], body.get("ms")
        add_event(db, call, "reconnected", f"{_role(p)} đã kết nối lại ({HOW_LABELS.get(how, how or 'không rõ')}"
                  + (f", {int(ms)} ms" if isinstance(ms, (int, float)) else "") + ")", actor=p.role, at=now, how=how,
                  ms=ms if isinstance(ms, (int, float)) else None)
    peer = peer_of(db, p)
    both = state == "connected" and peer is not None and peer.media_state == "connected"
    if both and call.status in ("answered", "reconnecting"):
        if call.connected_at is None:
            call.connected_at = now
            add_event(db, call, "media_connected", "Đã thông hình và tiếng hai chiều")
        call.status, call.next_action_at = "connected", None
    notify(db, call)


def report_quality(db: Session, p: VcParticipant, body: dict[str, Any]) -> None:
    figures = {k: body[k] for k in QUALITY_KEYS if isinstance(body.get(k), (int, float, str))}
    if not figures:
        return
    call = db.get(VcCall, p.call_id)
    previous_mode = (p.quality or {}).get("mode") or "video"
    p.quality = {**figures, "at": utcnow().isoformat()}
    q = dict(call.quality or {})
    mine = dict(q.get(p.role) or {})
    for key in ("rtt_ms", "jitter_ms", "fps", "in_kbps"):
        if isinstance(figures.get(key), (int, float)):
            samples = mine.get("samples", 0)
            mine[key + "_avg"] = round((mine.get(key + "_avg", 0) * samples + figures[key]) / (samples + 1), 1)
    mine["samples"] = mine.get("samples", 0) + 1
    for key in ("packets_lost", "frames_decoded"):
        if isinstance(figures.get(key), (int, float)):
            mine[key] = figures[key]
    q[p.role] = mine
    call.quality = q
    mode = figures.get("mode")
    if mode and mode != previous_mode and call.status != "ended":
        label = {"audio": "chỉ âm thanh", "low": "hình chất lượng thấp", "video": "hình bình thường"}.get(mode, mode)
        add_event(db, call, "quality_mode", f"{_role(p)} chuyển sang {label} theo đường truyền", actor=p.role,
                  mode=mode)


def report_camera(db: Session, p: VcParticipant, body: dict[str, Any]) -> None:
    call = db.get(VcCall, p.call_id)
    facing = str(body.get("facing", ""))[:20]
    label = {"user": "camera trước", "environment": "camera sau"}.get(facing, facing or "camera khác")
    add_event(db, call, "camera", f"{_role(p)} đổi sang {label}", actor=p.role, facing=facing)
    notify(db, call)


def hangup(db: Session, rt: Runtime, p: VcParticipant, body: dict[str, Any]) -> None:
    call = db.get(VcCall, p.call_id)
    end_call(db, rt, call, f"{p.role}_hangup", p.role, detail=str(body.get("reason", ""))[:200])


def check_grace(rt: Runtime, now: datetime) -> None:
    """Ends calls whose party stayed disconnected (signalling or media) past the grace period."""
    grace = timedelta(seconds=get_settings().videocall_reconnect_grace_seconds)
    with rt.database.session() as db:
        rows = db.execute(select(VcParticipant, VcCall).join(VcCall, VcCall.id == VcParticipant.call_id).where(
            VcCall.status.in_(("answered", "connected", "reconnecting")), VcParticipant.revoked_at.is_(None)))
        late = []
        for p, call in rows:
            offline = p.joined_at is not None and not p.signal_online and p.signal_changed_at \
                and now - p.signal_changed_at > grace
            stuck = p.media_state == "reconnecting" and p.media_changed_at and now - p.media_changed_at > grace
            if offline or stuck:
                late.append((call.id, p.role, "kênh tín hiệu" if offline else "hình/tiếng"))
    for call_id, role, what in late:
        with rt.database.session() as db:
            call = db.get(VcCall, call_id)
            end_call(db, rt, call, "network", "system",
                     detail=f"{ROLE_LABELS.get(role, role)} mất {what} quá {grace.seconds} giây")


# --- what the parties see (VC-07) ------------------------------------------------------------------
def _file(db: Session, file_id: str | None) -> str | None:
    f = db.get(VcMediaFile, file_id) if file_id else None
    return (config.describe_media(f) or {}).get("url")


def state_for(db: Session, rt: Runtime, p: VcParticipant) -> dict[str, Any]:
    call = db.get(VcCall, p.call_id)
    hotline = db.get(VcHotline, call.hotline_id) if call.hotline_id else None
    queue = db.get(VcQueue, call.queue_id) if call.queue_id else None
    agent = db.get(VcAgent, call.agent_id) if call.agent_id else None
    peer = peer_of(db, p)
    media = None
    client = rt.clients.get(call.janus_instance)
    joinable = call.status in ("answered", "connected", "reconnecting") and p.revoked_at is None
    if joinable and client is not None:
        media = {"url": client.public_url, "room": call.janus_room, "token": signing.janus_token(p),
                 "display": p.role, "bitrate": get_settings().videocall_video_bitrate}
    return {
        "call": {"id": call.id, "code": call.code, "status": call.status,
                 "status_label": CALL_STATUS_LABELS.get(call.status, call.status),
                 "hotline": {"number": hotline.number, "name": hotline.name} if hotline else None,
                 "caller": {"name": call.caller_name or call.caller_ref, "unit": call.caller_unit,
                            "team": call.caller_team, "group": call.caller_group},
                 "agent": {"name": agent.display_name} if agent else None,
                 "created_at": call.created_at.isoformat(), "answered_at": _iso(call.answered_at),
                 "connected_at": _iso(call.connected_at), "ended_at": _iso(call.ended_at),
                 "end_reason": call.end_reason, "end_reason_label": END_REASONS.get(call.end_reason, ""),
                 "ended_by": call.ended_by, "server_time": utcnow().isoformat()},
        "you": {"id": p.id, "role": p.role, "name": p.display_name, "media_state": p.media_state},
        "peer": ({"role": peer.role, "name": peer.display_name, "media_state": peer.media_state,
                  "signal_online": peer.signal_online} if peer else None),
        "media": media,
        "files": {"waiting": _file(db, queue.waiting_file_id) if queue else None,
                  "greeting_start": _file(db, hotline.greeting_start_id) if hotline else None,
                  "greeting_end": _file(db, hotline.greeting_end_id) if hotline else None},
        "grace_seconds": get_settings().videocall_reconnect_grace_seconds,
    }


def _iso(dt: datetime | None) -> str | None:
    return dt.isoformat() if dt else None


# --- the call's record (VC-12, 19, 27) --------------------------------------------------------------
def call_out(db: Session, call: VcCall, *, detail: bool = True) -> dict[str, Any]:
    hotline = db.get(VcHotline, call.hotline_id) if call.hotline_id else None
    agent = db.get(VcAgent, call.agent_id) if call.agent_id else None
    out = {
        "id": call.id, "code": call.code, "status": call.status,
        "status_label": CALL_STATUS_LABELS.get(call.status, call.status),
        "hotline": hotline.number if hotline else None, "hotline_name": hotline.name if hotline else None,
        "caller": {"id": call.caller_ref, "name": call.caller_name, "phone": call.caller_phone,
                   "user": call.caller_user, "team": call.caller_team, "group": call.caller_group,
                   "unit": call.caller_unit},
        "language": call.language, "vip": call.vip, "attributes": call.attributes or {},
        "auth_method": call.auth_method, "queue_id": call.queue_id, "group_id": call.group_id,
        "agent_id": call.agent_id, "agent_name": agent.display_name if agent else None,
        "routing_path": call.routing_path or [], "janus_instance": call.janus_instance,
        "created_at": call.created_at, "answered_at": call.answered_at, "connected_at": call.connected_at,
        "ended_at": call.ended_at, "ended_by": call.ended_by, "end_reason": call.end_reason,
        "end_reason_label": END_REASONS.get(call.end_reason, ""),
        "wait_seconds": _seconds(call.created_at, call.answered_at or call.ended_at),
        "talk_seconds": _seconds(call.answered_at, call.ended_at) if call.answered_at else None,
        "reconnects": call.reconnects, "quality": call.quality or {}, "recording_status": call.recording_status,
        "recording_url": f"/api/v1/videocall/calls/{call.id}/recording" if call.recording_status == "ready" else None,
        "recording_seconds": call.recording_seconds, "participants": [], "timeline": [],
    }
    if detail:
        out["participants"] = [{"id": p.id, "role": p.role, "name": p.display_name, "agent_id": p.agent_id,
                                "joined_at": p.joined_at, "left_at": p.left_at, "media_state": p.media_state,
                                "reconnects": p.reconnects, "quality": p.quality or {}}
                               for p in db.scalars(select(VcParticipant).where(VcParticipant.call_id == call.id)
                                                   .order_by(VcParticipant.created_at))]
        out["timeline"] = [{"seq": e.seq, "at": e.at, "type": e.type, "actor": e.actor, "message": e.message,
                            "data": e.data or {}}
                           for e in db.scalars(select(VcCallEvent).where(VcCallEvent.call_id == call.id)
                                               .order_by(VcCallEvent.at, VcCallEvent.seq))]
    return out


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 1) if a and b else None
