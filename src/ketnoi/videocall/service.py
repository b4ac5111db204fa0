"""Life of a video call (VC-01…10, 13, 14): start (signed), route and ring, accept (first wins), end,
and the ticker that drives routing timeouts and reconnect grace periods.

Every state change writes a VcCallEvent in the same transaction (the call's timeline) and queues a
``videocall.call`` event that the runtime turns into signalling pushes after the commit; agents'
consoles are rung with ``videocall.ringing`` hub events (VC-09)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ketnoi.core.errors import Conflict, DomainError, NotFound, ValidationFailed
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import new_id, utcnow
from ketnoi.events import Event, queue_event
from ketnoi.identity.principal import Principal
from ketnoi.settings import get_settings
from ketnoi.videocall import config, routing, signing
from ketnoi.videocall import schemas as S
from ketnoi.videocall.janus import JanusError
from ketnoi.videocall.models import (
    ACTIVE_STATUSES,
    VcAgent,
    VcCall,
    VcCallEvent,
    VcGroup,
    VcHotline,
    VcParticipant,
    VcPartner,
    VcQueue,
    VcRing,
)
from ketnoi.videocall.runtime import Runtime, recordings_root

log = logging.getLogger("ketnoi.videocall")

END_REASONS = {
    "caller_hangup": "Người gọi kết thúc", "agent_hangup": "Điều phối viên kết thúc",
    "cancelled": "Người gọi hủy trước khi được nhận", "no_agent": "Không có điều phối viên trực",
    "no_answer": "Không ai nhận cuộc gọi", "no_route": "Không có nhóm phù hợp với cuộc gọi",
    "network": "Mất kết nối quá thời gian cho phép", "media_failed": "Không thiết lập được hình/tiếng",
    "media_unavailable": "Máy chủ video không sẵn sàng", "session_replaced": "Tài khoản đăng nhập trên thiết bị khác",
    "partner": "Ứng dụng đối tác kết thúc", "admin": "Quản trị viên kết thúc",
}
ROLE_LABELS = {"caller": "Người gọi", "agent": "Điều phối viên", "system": "Hệ thống", "partner": "Đối tác"}
MEDIA_CONNECT_SECONDS = 60  # an answered call whose media never connects is ended (media_failed)


class Unavailable(DomainError):
    status = 503
    title = "Tạm thời không phục vụ được"


# --- helpers --------------------------------------------------------------------------------------
def local(dt: datetime) -> datetime:
    return dt.astimezone(ZoneInfo(get_settings().timezone))


def add_event(db: Session, call: VcCall, type_: str, message: str, *, actor: str = "system",
              agent_id: str | None = None, at: datetime | None = None, **data) -> VcCallEvent:
    seq = (db.scalar(select(func.max(VcCallEvent.seq)).where(VcCallEvent.call_id == call.id)) or 0) + 1
    ev = VcCallEvent(call_id=call.id, seq=seq, at=at or utcnow(), type=type_, actor=actor, agent_id=agent_id,
                     message=message[:500], data=data)
    db.add(ev)
    db.flush()
    return ev


def notify(db: Session, call: VcCall, what: str = "state") -> None:
    """Signalling pushes after commit (an internal event: no browser receives it through the hub)."""
    queue_event(db, Event(type="videocall.call", data={"call_id": call.id, "what": what}, user_ids=[]))


def get_call(db: Session, p: Principal, call_id: str) -> VcCall:
    call = db.get(VcCall, call_id) if call_id and len(call_id) <= 64 else None
    if call is None or not p.sees_organization(call.organization_id):
        raise NotFound("Không tìm thấy cuộc gọi.")
    return call


def agent_of(db: Session, user_id: str) -> VcAgent | None:
    return db.scalar(select(VcAgent).where(VcAgent.user_id == user_id)) if user_id else None


def _load(db: Session, rt: Runtime) -> dict[str, int]:
    rows = db.execute(select(VcCall.janus_instance, func.count()).where(VcCall.status.in_(ACTIVE_STATUSES))
                      .group_by(VcCall.janus_instance))
    return {name: n for name, n in rows}


def new_participant(db: Session, call: VcCall, role: str, name: str, **kw) -> VcParticipant:
    minutes = get_settings().videocall_participant_minutes
    p = VcParticipant(id=new_id(), call_id=call.id, role=role, display_name=name[:200], salt=secrets.token_hex(16),
                      created_at=utcnow(), expires_at=utcnow() + timedelta(minutes=minutes), **kw)
    db.add(p)
    db.flush()
    return p


# --- start (VC-01, 02, 06, 13) --------------------------------------------------------------------
def start_call(db: Session, rt: Runtime, *, organization_id: str, data: S.StartCallIn, partner: VcPartner | None,
               auth_method: str, caller_key: str) -> tuple[VcCall, VcParticipant]:
    now = utcnow()
    hotline = db.scalar(select(VcHotline).where(VcHotline.organization_id == organization_id,
                                                VcHotline.number == data.hotline))
    if hotline is None or not hotline.is_active:
        raise ValidationFailed.field("hotline", f"Hotline '{data.hotline}' không tồn tại hoặc đang tạm ngừng.")
    queue = db.get(VcQueue, hotline.queue_id) if hotline.queue_id else None
    if queue is None or not queue.is_active:
        raise ValidationFailed.field("hotline", "Hotline chưa được gán hàng đợi đang hoạt động.")
    phone = normalize_phone(data.caller.phone, "caller.phone") if data.caller.phone else ""
    busy = db.scalar(select(VcCall.id).where(VcCall.caller_key == caller_key, VcCall.status.in_(ACTIVE_STATUSES)))
    if busy is not None:
        raise Conflict("Tài khoản này đang có một cuộc gọi video khác; mỗi tài khoản chỉ một cuộc gọi cùng lúc.")
    call = VcCall(id=new_id(), organization_id=organization_id, partner_id=partner.id if partner else None,
                  hotline_id=hotline.id, queue_id=queue.id, status="queued", caller_key=caller_key[:200],
                  caller_ref=data.caller.id, caller_name=data.caller.name, caller_phone=phone,
                  caller_user=data.caller.user, caller_team=data.caller.team, caller_group=data.caller.group,
                  caller_unit=data.caller.unit, language=data.language, vip=data.vip,
                  attributes=dict(data.attributes), auth_method=auth_method, created_at=now, routing_path=[])
    call.code = f"VC-{local(now):%y%m%d}-{call.id[:6].upper()}"
    db.add(call)
    db.flush()
    source = f"ứng dụng đối tác {partner.name}" if partner else "người dùng đăng nhập"
    add_event(db, call, "created", f"Cuộc gọi đến hotline {hotline.number} từ {source} ({auth_method.upper()})",
              actor="partner" if partner else "caller", hotline=hotline.number, auth=auth_method)
    caller = new_participant(db, call, "caller", data.caller.name or data.caller.id)
    # media: a recorded two-party room on the least loaded Janus instance, open to the caller's token
    client = rt.pick_instance(_load(db, rt))
    try:
        if client is None:
            raise JanusError("no Janus instance configured")
        call.janus_instance, call.janus_room = client.name, "call-" + call.id
        rec_dir = recordings_root() / call.id
        rec_dir.mkdir(parents=True, exist_ok=True)
        token = signing.janus_token(caller)
        rt.janus(lambda c: c.add_token(token), client.name)
        rt.janus(lambda c: c.create_room(call.janus_room, secret=signing.room_secret(call.id), allowed=[token],
                                         rec_dir=str(rec_dir), description=call.code,
                                         bitrate=get_settings().videocall_video_bitrate), client.name)
    except JanusError as e:
        log.error("call %s: media server unavailable: %s", call.code, e)
        _finish(db, rt, call, "media_unavailable", "system", detail=str(e), release_media=False)
        db.commit()
        raise Unavailable("Máy chủ video tạm thời không sẵn sàng; vui lòng gọi lại sau ít phút.") from None
    add_event(db, call, "queued", f"Vào hàng đợi {queue.name}", queue=queue.code)
    advance(db, rt, call, now)
    notify(db, call)
    return call, caller


# --- routing and ringing (VC-04, 09, 17) ---------------------------------------------------------
def facts(call: VcCall, now: datetime) -> routing.CallFacts:
    return routing.CallFacts(unit=call.caller_unit, team=call.caller_team, group=call.caller_group,
                             user=call.caller_user, language=call.language, vip=call.vip,
                             attributes=dict(call.attributes or {}), local_time=local(now))


def _enter_group(db: Session, call: VcCall, group: VcGroup, now: datetime, why: str) -> None:
    call.group_id, call.group_entered_at = group.id, now
    call.routing_path = [*(call.routing_path or []), {"group_id": group.id, "group": group.code, "name": group.name,
                                                      "at": now.isoformat(), "why": why}]
    text = {"match": f"Phân tuyến đến nhóm {group.name} (điều kiện: {routing.describe(group.conditions)})",
            "overflow": f"Chuyển sang nhóm dự phòng {group.name}"}[why]
    add_event(db, call, "routed", text, group=group.code, why=why, strategy=group.strategy)


def _free_agents(db: Session, group: VcGroup, now: datetime) -> list[routing.Candidate]:
    seen_after = now - timedelta(seconds=get_settings().videocall_agent_seen_seconds)
    ringing_elsewhere = select(VcRing.agent_id).where(VcRing.ended_at.is_(None))
    day = local(now).replace(hour=0, minute=0, second=0, microsecond=0)
    out = []
    for m, a in config.group_members(db, group.id):
        if not a.is_active or a.status != "available" or not a.last_seen_at or a.last_seen_at < seen_after:
            continue
        if db.scalar(ringing_elsewhere.where(VcRing.agent_id == a.id).limit(1)) is not None:
            continue
        today = db.scalar(select(func.count()).select_from(VcCall).where(
            VcCall.agent_id == a.id, VcCall.answered_at >= day)) or 0
        out.append(routing.Candidate(a.id, m.position, a.last_call_ended_at, today))
    return out


def _ring(db: Session, call: VcCall, group: VcGroup, agent_ids: list[str], now: datetime) -> None:
    ends = now + timedelta(seconds=group.agent_ring_seconds if group.strategy != "ring_all" else group.overflow_seconds)
    names, users = [], []
    for aid in agent_ids:
        a = db.get(VcAgent, aid)
        db.add(VcRing(call_id=call.id, agent_id=aid, group_id=group.id, started_at=now, ends_at=ends))
        names.append(a.display_name)
        users.append(a.user_id)
    db.flush()
    hotline = db.get(VcHotline, call.hotline_id) if call.hotline_id else None
    add_event(db, call, "ringing", "Đổ chuông: " + ", ".join(names), agents=agent_ids, group=group.code)
    queue_event(db, Event(type="videocall.ringing", org_id=call.organization_id, user_ids=users, data={
        "call_id": call.id, "code": call.code, "caller": call.caller_name or call.caller_ref,
        "unit": call.caller_unit, "hotline": hotline.number if hotline else "", "group": group.name,
        "sound": "/static/videocall/ring.wav", "until": ends.isoformat(),
        "message": f"Cuộc gọi video từ {call.caller_name or call.caller_ref} ({hotline.number if hotline else ''})"}))


def _stop_rings(db: Session, call: VcCall, outcome: str, now: datetime, only: list[VcRing] | None = None,
                keep: str | None = None) -> list[VcRing]:
    rings = only if only is not None else list(db.scalars(select(VcRing).where(VcRing.call_id == call.id,
                                                                               VcRing.ended_at.is_(None))))
    stopped = [r for r in rings if r.agent_id != keep]
    for r in stopped:
        r.ended_at, r.outcome = now, outcome
    if stopped:
        users = [db.get(VcAgent, r.agent_id).user_id for r in stopped]
        queue_event(db, Event(type="videocall.ring_stopped", org_id=call.organization_id, user_ids=users,
                              data={"call_id": call.id, "reason": outcome}))
    return stopped


def advance(db: Session, rt: Runtime, call: VcCall, now: datetime) -> None:
    """One routing step: group choice, overflow, expired rings, who rings next, the next deadline."""
    if call.status not in ("queued", "ringing"):
        return
    queue = db.get(VcQueue, call.queue_id) if call.queue_id else None
    rang_anyone = db.scalar(select(VcRing.id).where(VcRing.call_id == call.id).limit(1)) is not None
    if queue is None or now >= call.created_at + timedelta(seconds=queue.max_wait_seconds):
        _finish(db, rt, call, "no_answer" if rang_anyone else "no_agent", "system",
                detail=f"quá {queue.max_wait_seconds if queue else 0} giây chờ")
        return
    group = db.get(VcGroup, call.group_id) if call.group_id else None
    if group is None:
        groups = [g for g in (db.get(VcGroup, gid) for gid in (queue.group_ids or [])) if g is not None]
        group = routing.choose_group(groups, facts(call, now))
        if group is None:
            _finish(db, rt, call, "no_route", "system")
            return
        _enter_group(db, call, group, now, "match")
    # expired rings
    open_rings = list(db.scalars(select(VcRing).where(VcRing.call_id == call.id, VcRing.ended_at.is_(None))))
    expired = [r for r in open_rings if r.ends_at <= now]
    if expired:
        _stop_rings(db, call, "timeout", now, only=expired)
        names = ", ".join(db.get(VcAgent, r.agent_id).display_name for r in expired)
        add_event(db, call, "ring_timeout", f"Không nhận máy: {names}", agents=[r.agent_id for r in expired])
    open_rings = [r for r in open_rings if r not in expired]
    # overflow to the fallback group
    if now >= call.group_entered_at + timedelta(seconds=group.overflow_seconds) and group.fallback_group_id:
        fallback = db.get(VcGroup, group.fallback_group_id)
        if fallback is not None and fallback.is_active and fallback.id not in {s["group_id"] for s in call.routing_path}:
            if open_rings:
                _stop_rings(db, call, "cancelled", now, only=open_rings)
                open_rings = []
            add_event(db, call, "overflow", f"Sau {group.overflow_seconds} giây không ai nhận ở nhóm {group.name}",
                      group=group.code, fallback=fallback.code)
            group = fallback
            _enter_group(db, call, group, now, "overflow")
    # who rings next
    members = config.group_members(db, group.id)
    if not members and not group.fallback_group_id and not open_rings:
        _finish(db, rt, call, "no_agent", "system", detail=f"nhóm {group.code} không có điều phối viên")
        return
    if group.strategy == "ring_all" or not open_rings:
        free = _free_agents(db, group, now)
        ringing = {r.agent_id for r in open_rings}
        free = [c for c in free if c.agent_id not in ringing]
        tried = set(db.scalars(select(VcRing.agent_id).where(VcRing.call_id == call.id, VcRing.group_id == group.id)))
        pick, cursor = routing.pick_agents(group.strategy, free, tried, group.rr_cursor, [a.id for _, a in members])
        if pick:
            group.rr_cursor = cursor
            _ring(db, call, group, pick, now)
            open_rings = list(db.scalars(select(VcRing).where(VcRing.call_id == call.id, VcRing.ended_at.is_(None))))
    call.status = "ringing" if open_rings else "queued"
    deadlines = [r.ends_at for r in open_rings] + [call.created_at + timedelta(seconds=queue.max_wait_seconds)]
    if group.fallback_group_id:
        deadlines.append(call.group_entered_at + timedelta(seconds=group.overflow_seconds))
    if not open_rings or group.strategy == "ring_all":
        deadlines.append(now + timedelta(seconds=2))  # look for agents who became free
    call.next_action_at = min(deadlines)


# --- accept, decline (VC-09) -----------------------------------------------------------------------
def accept(db: Session, rt: Runtime, p: Principal, call_id: str) -> tuple[VcCall, VcParticipant]:
    """The first agent to accept gets the call; the others stop ringing."""
    now = utcnow()
    call = get_call(db, p, call_id)
    agent = agent_of(db, p.user_id)
    if agent is None:
        raise NotFound("Bạn chưa được khai báo là điều phối viên video.")
    ring = db.scalar(select(VcRing).where(VcRing.call_id == call.id, VcRing.agent_id == agent.id,
                                          VcRing.ended_at.is_(None)))
    if ring is None:
        raise Conflict("Cuộc gọi không còn đổ chuông cho bạn (đã có người nhận, đã hết giờ hoặc đã kết thúc).")
    won = db.execute(update(VcCall).where(VcCall.id == call.id, VcCall.status.in_(("queued", "ringing")))
                     .values(status="answered", agent_id=agent.id, answered_at=now, group_id=ring.group_id,
                             next_action_at=now + timedelta(seconds=MEDIA_CONNECT_SECONDS)))
    if won.rowcount != 1:
        raise Conflict("Cuộc gọi đã được người khác nhận hoặc đã kết thúc.")
    db.refresh(call)
    ring.ended_at, ring.outcome = now, "accepted"
    _stop_rings(db, call, "cancelled", now, keep=agent.id)
    set_status(db, agent, "busy", now)
    part = new_participant(db, call, "agent", agent.display_name, agent_id=agent.id, user_id=p.user_id,
                           session_id=p.session_id or None)
    add_event(db, call, "answered", f"{agent.display_name} nhận cuộc gọi", actor="agent", agent_id=agent.id,
              wait_seconds=round((now - call.created_at).total_seconds(), 1))
    token = signing.janus_token(part)
    try:
        rt.janus(lambda c: c.add_token(token), call.janus_instance)
        allowed = rt.janus(lambda c: c.allow(call.janus_room, signing.room_secret(call.id), [token]),
                           call.janus_instance)
        log.info("call %s room %s allows %d tokens", call.code, call.janus_room, len(allowed))
    except JanusError as e:
        _finish(db, rt, call, "media_unavailable", "system", detail=str(e))
        db.commit()
        raise Unavailable("Máy chủ video không phản hồi; cuộc gọi đã kết thúc.") from None
    notify(db, call, "answered")
    return call, part


def decline(db: Session, rt: Runtime, p: Principal, call_id: str) -> None:
    now = utcnow()
    call = get_call(db, p, call_id)
    agent = agent_of(db, p.user_id)
    ring = agent and db.scalar(select(VcRing).where(VcRing.call_id == call.id, VcRing.agent_id == agent.id,
                                                    VcRing.ended_at.is_(None)))
    if not ring:
        raise Conflict("Cuộc gọi không còn đổ chuông cho bạn.")
    ring.ended_at, ring.outcome = now, "declined"
    add_event(db, call, "declined", f"{agent.display_name} từ chối", actor="agent", agent_id=agent.id)
    advance(db, rt, call, now)


# --- ending ---------------------------------------------------------------------------------------
def _finish(db: Session, rt: Runtime, call: VcCall, reason: str, by: str, *, detail: str = "",
            release_media: bool = True) -> bool:
    """Ends the call once (compare-and-set); releases rings, agent, tokens and room; queues the recording."""
    now = utcnow()
    done = db.execute(update(VcCall).where(VcCall.id == call.id, VcCall.status != "ended")
                      .values(status="ended", ended_at=now, end_reason=reason, ended_by=by, next_action_at=None))
    if done.rowcount != 1:
        return False
    db.refresh(call)
    _stop_rings(db, call, "cancelled", now)
    parts = list(db.scalars(select(VcParticipant).where(VcParticipant.call_id == call.id)))
    for part in parts:
        part.revoked_at = part.revoked_at or now
        part.left_at = part.left_at or now
        part.media_state = "left"
    if call.agent_id:
        agent = db.get(VcAgent, call.agent_id)
        if agent is not None and agent.status == "busy":
            set_status(db, agent, "available", now)
        if agent is not None:
            agent.last_call_ended_at = now
    label = END_REASONS.get(reason, reason)
    add_event(db, call, "ended", f"Kết thúc: {label} ({ROLE_LABELS.get(by, by)})" + (f" – {detail}" if detail else ""),
              actor=by, reason=reason, detail=detail[:300])
    if release_media and call.janus_instance and call.janus_room:
        tokens = [signing.janus_token(x) for x in parts]
        try:
            rt.janus(lambda c: c.destroy_room(call.janus_room, signing.room_secret(call.id)), call.janus_instance)
            for t in tokens:
                rt.janus(lambda c, t=t: c.remove_token(t), call.janus_instance)
        except JanusError as e:
            log.warning("call %s: releasing media failed: %s", call.code, e)
    if call.answered_at is not None:
        from ketnoi.videocall import recording

        recording.schedule(db, call)
    notify(db, call, "ended")
    return True


def end_call(db: Session, rt: Runtime, call: VcCall, reason: str, by: str, detail: str = "") -> VcCall:
    if call.status == "ended":
        return call
    if reason == "caller_hangup" and call.answered_at is None:
        reason = "cancelled"
    _finish(db, rt, call, reason, by, detail=detail)
    return call


def hangup_by_agent(db: Session, rt: Runtime, p: Principal, call_id: str) -> VcCall:
    call = get_call(db, p, call_id)
    agent = agent_of(db, p.user_id)
    if agent is None or call.agent_id != agent.id:
        raise Conflict("Bạn không phải điều phối viên của cuộc gọi này.")
    return end_call(db, rt, call, "agent_hangup", "agent")


# --- agents' availability (VC-23) ------------------------------------------------------------------
def set_status(db: Session, agent: VcAgent, status: str, now: datetime | None = None) -> None:
    now = now or utcnow()
    if agent.status != status:
        agent.status, agent.status_since = status, now
        config.log_status(db, agent, status, now)
        # VC-24: the live monitor redraws on this (relayed by videocall/monitor.py after the commit)
        queue_event(db, Event(type="videocall.agent_status", org_id=agent.organization_id,
                              permission="videocall.monitor", data={"agent_id": agent.id, "status": status}))


def agent_presence(db: Session, p: Principal, status: str | None = None) -> VcAgent:
    """The agent page's heartbeat (and status change): the agent is seen now."""
    agent = agent_of(db, p.user_id)
    if agent is None or not agent.is_active:
        raise NotFound("Bạn chưa được khai báo là điều phối viên video.")
    now = utcnow()
    agent.last_seen_at = now
    if status is not None:
        busy = db.scalar(select(VcCall.id).where(VcCall.agent_id == agent.id, VcCall.status.in_(ACTIVE_STATUSES)))
        if busy is not None and status != "offline":
            raise Conflict("Bạn đang trong một cuộc gọi; trạng thái sẽ trở lại Sẵn sàng khi cuộc gọi kết thúc.")
        set_status(db, agent, status, now)
    return agent


# --- the ticker -----------------------------------------------------------------------------------
def tick(rt: Runtime, now: datetime | None = None) -> None:
    """Routing deadlines, media that never connected, reconnect grace periods (VC-14)."""
    from ketnoi.videocall import participants

    now = now or utcnow()
    with rt.database.session() as db:
        due = list(db.scalars(select(VcCall.id).where(VcCall.next_action_at <= now,
                                                      VcCall.status.in_(("queued", "ringing", "answered")))
                              .order_by(VcCall.created_at).limit(200)))
    for call_id in due:
        with rt.database.session() as db:
            call = db.get(VcCall, call_id)
            if call.status in ("queued", "ringing"):
                advance(db, rt, call, now)
            elif call.status == "answered" and call.next_action_at and call.next_action_at <= now:
                _finish(db, rt, call, "media_failed", "system", detail=f"quá {MEDIA_CONNECT_SECONDS} giây")
    participants.check_grace(rt, now)


def sessions_ended(rt: Runtime, session_ids: list[str]) -> None:
    """A login on another device ended these sessions (VC-10): their agents' calls end too."""
    if not session_ids:
        return
    with rt.database.session() as db:
        rows = db.scalars(select(VcParticipant).where(VcParticipant.session_id.in_(session_ids),
                                                      VcParticipant.revoked_at.is_(None)))
        for part in list(rows):
            call = db.get(VcCall, part.call_id)
            end_call(db, rt, call, "session_replaced", "system",
                     detail=f"{part.display_name} đăng nhập trên thiết bị khác")
