"""Queries of the video-call reports (VC-19…28), shared by the console pages, their .xlsx exports and
the JSON API: the event log with failure causes (VC-19, 27), call detail (VC-20, 28), support-team
members (VC-21), statistics by unit/group/agent/hotline/period (VC-22, 25), agents' online/offline time
(VC-23, from VcAgentStatusLog), agent performance (VC-26) and the live board (VC-24).

Figures are computed in Python from the selected columns of the filtered calls, so that periods are
cut in the organization's local time zone the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from ketnoi.core.errors import ValidationFailed
from ketnoi.core.listing import apply_search
from ketnoi.db.base import utcnow
from ketnoi.identity.principal import Principal
from ketnoi.settings import get_settings
from ketnoi.videocall.models import (
    ACTIVE_STATUSES,
    AGENT_STATUS_LABELS,
    CALL_STATUS_LABELS,
    VcAgent,
    VcAgentStatusLog,
    VcAuthFailure,
    VcCall,
    VcCallEvent,
    VcGroup,
    VcHotline,
    VcMembership,
    VcRing,
)
from ketnoi.videocall.service import END_REASONS

FAILED_REASONS = ("media_failed", "media_unavailable", "network", "session_replaced")
OUTCOME_LABELS = {"answered": "Thành công", "missed": "Nhỡ", "failed": "Lỗi", "active": "Đang diễn ra"}
ERROR_EVENTS = ("ring_timeout", "declined", "reconnecting", "signal_lost", "recording_failed")
DIMENSIONS = {"unit": "Đơn vị người gọi", "group": "Nhóm trực", "agent": "Điều phối viên", "hotline": "Hotline",
              "hour": "Giờ trong ngày", "day": "Ngày", "week": "Tuần", "month": "Tháng"}
BUCKETS = ("hour", "day", "week", "month")
MAX_CALLS = 200_000  # a report reads at most this many calls (the period should be narrowed beyond)
ONLINE = ("available", "paused", "busy")


@dataclass
class VcFilters:
    """The filters every report takes (unit, group, agent, hotline, period); ``partner_id`` narrows a
    partner's signed request to its own calls."""

    organization_id: str = ""
    unit: str = ""
    group_id: str = ""
    agent_id: str = ""
    hotline_id: str = ""
    since: datetime | None = None
    until: datetime | None = None
    partner_id: str = ""
    q: str = ""
    extra: dict[str, str] = field(default_factory=dict)

    def check(self) -> VcFilters:
        for name in ("since", "until"):
            v = getattr(self, name)
            if v is not None and v.tzinfo is None:
                setattr(self, name, v.replace(tzinfo=tz()))
        if self.since and self.until and self.until <= self.since:
            raise ValidationFailed.field("until", "Thời điểm kết thúc phải sau thời điểm bắt đầu.")
        return self


def tz() -> ZoneInfo:
    return ZoneInfo(get_settings().timezone)


def outcome(status: str, answered_at: datetime | None, end_reason: str) -> str:
    """answered (thành công), missed (nhỡ: không ai nhận, người gọi hủy), failed (lỗi), active."""
    if status != "ended":
        return "active"
    if end_reason in FAILED_REASONS:
        return "failed"
    return "answered" if answered_at is not None else "missed"


def seconds(start: datetime | None, end: datetime | None) -> float | None:
    return round((end - start).total_seconds(), 1) if start and end else None


# --- selections -----------------------------------------------------------------------------------
def _org(stmt, column, p: Principal, f: VcFilters):
    if not p.is_sysadmin:
        return stmt.where(column == p.organization_id)
    return stmt.where(column == f.organization_id) if f.organization_id else stmt


def calls_stmt(p: Principal, f: VcFilters, *columns):
    stmt = _org(select(*columns) if columns else select(VcCall), VcCall.organization_id, p, f)
    if f.partner_id:
        stmt = stmt.where(VcCall.partner_id == f.partner_id)
    if f.unit:
        stmt = stmt.where(VcCall.caller_unit == f.unit)
    if f.group_id:
        stmt = stmt.where(VcCall.group_id == f.group_id)
    if f.agent_id:
        stmt = stmt.where(VcCall.agent_id == f.agent_id)
    if f.hotline_id:
        stmt = stmt.where(VcCall.hotline_id == f.hotline_id)
    if f.since:
        stmt = stmt.where(VcCall.created_at >= f.since)
    if f.until:
        stmt = stmt.where(VcCall.created_at < f.until)
    if f.q:
        stmt = apply_search(stmt, f.q, [VcCall.code, VcCall.caller_ref, VcCall.caller_name, VcCall.caller_phone,
                                        VcCall.caller_user, VcCall.caller_unit])
    return stmt


@dataclass
class Names:
    """Display names of hotlines, groups and agents, loaded once per report."""

    hotlines: dict[str, str]
    groups: dict[str, str]
    agents: dict[str, str]

    @classmethod
    def load(cls, db: Session, p: Principal, f: VcFilters) -> Names:
        def pairs(model, label):
            return {i: lab for i, lab in db.execute(_org(select(model.id, label), model.organization_id, p, f))}

        return cls(pairs(VcHotline, VcHotline.number), pairs(VcGroup, VcGroup.name), pairs(VcAgent, VcAgent.display_name))


_CALL_COLS = (VcCall.id, VcCall.code, VcCall.status, VcCall.created_at, VcCall.answered_at, VcCall.ended_at,
              VcCall.end_reason, VcCall.caller_unit, VcCall.group_id, VcCall.agent_id, VcCall.hotline_id)


def _call_facts(db: Session, p: Principal, f: VcFilters) -> list[Any]:
    return list(db.execute(calls_stmt(p, f, *_CALL_COLS).order_by(VcCall.created_at).limit(MAX_CALLS)))


def call_detail(db: Session, p: Principal, f: VcFilters, *, limit: int | None = None, offset: int = 0):
    """VC-20/28: the calls, newest first, with their outcome and times; (rows, total)."""
    total = db.scalar(select(func.count()).select_from(calls_stmt(p, f).subquery())) or 0
    stmt = calls_stmt(p, f).order_by(VcCall.created_at.desc()).offset(offset)
    if limit:
        stmt = stmt.limit(limit)
    names = Names.load(db, p, f)
    rows = []
    for c in db.scalars(stmt):
        oc = outcome(c.status, c.answered_at, c.end_reason)
        rows.append({"id": c.id, "code": c.code, "created_at": c.created_at, "hotline": names.hotlines.get(c.hotline_id, ""),
                     "caller_ref": c.caller_ref, "caller_name": c.caller_name, "caller_phone": c.caller_phone,
                     "caller_unit": c.caller_unit, "caller_team": c.caller_team, "caller_group": c.caller_group,
                     "group": names.groups.get(c.group_id, ""), "agent": names.agents.get(c.agent_id, ""),
                     "status": c.status, "status_label": CALL_STATUS_LABELS.get(c.status, c.status),
                     "outcome": oc, "outcome_label": OUTCOME_LABELS[oc], "answered_at": c.answered_at,
                     "ended_at": c.ended_at, "wait_seconds": seconds(c.created_at, c.answered_at or c.ended_at),
                     "talk_seconds": seconds(c.answered_at, c.ended_at) if c.answered_at else None,
                     "end_reason": c.end_reason, "end_reason_label": END_REASONS.get(c.end_reason, c.end_reason),
                     "reconnects": c.reconnects, "recording_status": c.recording_status})
    return rows, total


# --- statistics (VC-22, 25) ------------------------------------------------------------------------
def _bucket(dt: datetime, bucket: str) -> str:
    local = dt.astimezone(tz())
    if bucket == "hour":
        return f"{local:%H}:00"
    if bucket == "day":
        return f"{local:%Y-%m-%d}"
    if bucket == "week":
        iso = local.isocalendar()
        return f"{iso.year}-W{iso.week:02d}"
    return f"{local:%Y-%m}"


def _empty() -> dict[str, Any]:
    return {"total": 0, "answered": 0, "missed": 0, "failed": 0, "active": 0, "_wait": [], "_talk": []}


def _finish(key: str, label: str, acc: dict[str, Any]) -> dict[str, Any]:
    wait, talk = acc.pop("_wait"), acc.pop("_talk")
    done = acc["total"] - acc["active"]
    return {"key": key, "label": label, **acc,
            "answer_rate": round(100 * acc["answered"] / done, 1) if done else None,
            "avg_wait_seconds": round(sum(wait) / len(wait), 1) if wait else None,
            "avg_talk_seconds": round(sum(talk) / len(talk), 1) if talk else None,
            "talk_seconds": round(sum(talk), 1)}


def statistics(db: Session, p: Principal, f: VcFilters, by: str) -> list[dict[str, Any]]:
    """Calls counted by ``by`` (DIMENSIONS): total, answered, missed, failed, active, answer rate,
    average wait before answer and average talk time of answered calls."""
    if by not in DIMENSIONS:
        raise ValidationFailed.field("by", "Chọn tiêu chí: " + ", ".join(DIMENSIONS) + ".")
    names = Names.load(db, p, f)
    accs: dict[str, dict[str, Any]] = defaultdict(_empty)
    for c in _call_facts(db, p, f):
        if by in BUCKETS:
            key = _bucket(c.created_at, by)
        else:
            key = {"unit": c.caller_unit, "group": c.group_id, "agent": c.agent_id, "hotline": c.hotline_id}[by] or ""
        acc = accs[key]
        oc = outcome(c.status, c.answered_at, c.end_reason)
        acc["total"] += 1
        acc[oc] += 1
        if c.answered_at:
            acc["_wait"].append((c.answered_at - c.created_at).total_seconds())
            if c.ended_at:
                acc["_talk"].append((c.ended_at - c.answered_at).total_seconds())
    label = {"group": names.groups, "agent": names.agents, "hotline": names.hotlines}.get(by, {})
    rows = [_finish(k, label.get(k, k) or "(không xác định)", a) for k, a in accs.items()]
    if by in BUCKETS:
        return sorted(rows, key=lambda r: r["key"])
    return sorted(rows, key=lambda r: (-r["total"], r["label"]))


def totals(rows: list[dict[str, Any]]) -> dict[str, Any]:
    out = {k: sum(r[k] for r in rows) for k in ("total", "answered", "missed", "failed", "active")}
    done = out["total"] - out["active"]
    out["answer_rate"] = round(100 * out["answered"] / done, 1) if done else None
    return out


# --- agents (VC-21, 23, 26) -------------------------------------------------------------------------
def agents_in_scope(db: Session, p: Principal, f: VcFilters) -> list[VcAgent]:
    stmt = _org(select(VcAgent), VcAgent.organization_id, p, f).order_by(VcAgent.display_name, VcAgent.id)
    if f.agent_id:
        stmt = stmt.where(VcAgent.id == f.agent_id)
    if f.group_id:
        stmt = stmt.where(VcAgent.id.in_(select(VcMembership.agent_id).where(VcMembership.group_id == f.group_id)))
    return list(db.scalars(stmt))


def agent_performance(db: Session, p: Principal, f: VcFilters) -> list[dict[str, Any]]:
    """Per agent: calls offered (rung), answered, missed (rang out or declined), failed after answer,
    average and total handling time (answer → end)."""
    agents = agents_in_scope(db, p, f)
    ids = [a.id for a in agents]
    acc = {a: {"offered": 0, "answered": 0, "missed": 0, "declined": 0, "failed": 0, "_talk": []} for a in ids}
    if ids:
        scope = calls_stmt(p, VcFilters(**{**f.__dict__, "agent_id": ""}), VcCall.id).subquery()
        rings = db.execute(select(VcRing.agent_id, VcRing.call_id, VcRing.outcome).where(
            VcRing.agent_id.in_(ids), VcRing.call_id.in_(select(scope.c.id))))
        offered = defaultdict(set)
        for agent_id, call_id, ring_outcome in rings:
            offered[agent_id].add(call_id)
            if ring_outcome in ("timeout", "declined"):
                acc[agent_id]["missed"] += 1
                acc[agent_id]["declined"] += ring_outcome == "declined"
        for agent_id, calls in offered.items():
            acc[agent_id]["offered"] = len(calls)
        for c in _call_facts(db, p, f):
            if c.agent_id in acc and c.answered_at is not None:
                a = acc[c.agent_id]
                a["answered"] += 1
                a["failed"] += outcome(c.status, c.answered_at, c.end_reason) == "failed"
                if c.ended_at:
                    a["_talk"].append((c.ended_at - c.answered_at).total_seconds())
    out = []
    for a in agents:
        x = acc[a.id]
        talk = x.pop("_talk")
        out.append({"agent_id": a.id, "agent": a.display_name, "status": a.status,
                    "status_label": AGENT_STATUS_LABELS.get(a.status, a.status), **x,
                    "answer_rate": round(100 * x["answered"] / x["offered"], 1) if x["offered"] else None,
                    "avg_handle_seconds": round(sum(talk) / len(talk), 1) if talk else None,
                    "handle_seconds": round(sum(talk), 1)})
    return out


def presence(db: Session, p: Principal, f: VcFilters, now: datetime | None = None) -> list[dict[str, Any]]:
    """VC-23: seconds each agent spent in each status within the period (default: the last 24 hours),
    from the status log; an agent with no entry before the period is counted offline until its first."""
    now = now or utcnow()
    until = min(f.until or now, now)
    since = f.since or (until - timedelta(days=1))
    agents = agents_in_scope(db, p, f)
    out = []
    for a in agents:
        before = db.scalar(select(VcAgentStatusLog.status).where(VcAgentStatusLog.agent_id == a.id,
                                                                 VcAgentStatusLog.at < since)
                           .order_by(VcAgentStatusLog.at.desc()).limit(1)) or "offline"
        logs = list(db.execute(select(VcAgentStatusLog.at, VcAgentStatusLog.status).where(
            VcAgentStatusLog.agent_id == a.id, VcAgentStatusLog.at >= since, VcAgentStatusLog.at < until)
            .order_by(VcAgentStatusLog.at)))
        spent = dict.fromkeys(("offline", "available", "paused", "busy"), 0.0)
        state, t, logins, first_online, last_online = before, since, 0, None, None
        for at, status in [*logs, (until, None)]:
            spent[state] = spent.get(state, 0.0) + (at - t).total_seconds()
            if state in ONLINE:
                last_online = at
            if status is None:
                break
            if status in ONLINE and state not in ONLINE:
                logins += 1
                first_online = first_online or at
            state, t = status, at
        if before in ONLINE:
            first_online = since
        online = spent["available"] + spent["paused"] + spent["busy"]
        out.append({"agent_id": a.id, "agent": a.display_name, "status": a.status,
                    "status_label": AGENT_STATUS_LABELS.get(a.status, a.status),
                    "online_seconds": round(online, 1), "offline_seconds": round(spent["offline"], 1),
                    **{f"{k}_seconds": round(v, 1) for k, v in spent.items() if k != "offline"},
                    "logins": logins, "first_online": first_online, "last_online": last_online,
                    "since": since, "until": until})
    return out


def team(db: Session, p: Principal, f: VcFilters) -> list[dict[str, Any]]:
    """VC-21: each group with its members, their state, calls answered and online time in the period."""
    perf = {r["agent_id"]: r for r in agent_performance(db, p, VcFilters(**{**f.__dict__, "group_id": ""}))}
    online = {r["agent_id"]: r for r in presence(db, p, VcFilters(**{**f.__dict__, "group_id": ""}))}
    groups = _org(select(VcGroup), VcGroup.organization_id, p, f).order_by(VcGroup.code)
    if f.group_id:
        groups = groups.where(VcGroup.id == f.group_id)
    out = []
    for g in db.scalars(groups):
        members = db.execute(select(VcMembership, VcAgent).join(VcAgent, VcAgent.id == VcMembership.agent_id)
                             .where(VcMembership.group_id == g.id).order_by(VcMembership.position, VcAgent.display_name))
        rows = []
        for m, a in members:
            if f.agent_id and a.id != f.agent_id:
                continue
            pr, on = perf.get(a.id, {}), online.get(a.id, {})
            rows.append({"agent_id": a.id, "agent": a.display_name, "position": m.position, "is_active": a.is_active,
                         "status": a.status, "status_label": AGENT_STATUS_LABELS.get(a.status, a.status),
                         "offered": pr.get("offered", 0), "answered": pr.get("answered", 0),
                         "missed": pr.get("missed", 0), "online_seconds": on.get("online_seconds", 0.0)})
        out.append({"group_id": g.id, "code": g.code, "name": g.name, "strategy": g.strategy,
                    "is_active": g.is_active, "members": rows})
    return out


# --- the event log and failure causes (VC-19, 27) ------------------------------------------------------
def events_stmt(p: Principal, f: VcFilters, errors_only: bool = False, type_: str = ""):
    scope = calls_stmt(p, VcFilters(**{**f.__dict__, "q": ""}), VcCall.id).subquery()
    stmt = (select(VcCallEvent, VcCall.code, VcCall.caller_name, VcCall.caller_ref, VcCall.end_reason,
                   VcCall.answered_at)
            .join(VcCall, VcCall.id == VcCallEvent.call_id).where(VcCallEvent.call_id.in_(select(scope.c.id))))
    if type_:
        stmt = stmt.where(VcCallEvent.type == type_)
    if errors_only:
        stmt = stmt.where(or_(VcCallEvent.type.in_(ERROR_EVENTS),
                              and_(VcCallEvent.type == "ended", VcCall.answered_at.is_(None)),
                              and_(VcCallEvent.type == "ended", VcCall.end_reason.in_(FAILED_REASONS))))
    if f.q:
        stmt = apply_search(stmt, f.q, [VcCall.code, VcCall.caller_ref, VcCall.caller_name, VcCallEvent.message])
    return stmt


def events(db: Session, p: Principal, f: VcFilters, *, errors_only: bool = False, type_: str = "",
           limit: int | None = 200, offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    stmt = events_stmt(p, f, errors_only, type_)
    total = db.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    stmt = stmt.order_by(VcCallEvent.at.desc(), VcCallEvent.seq.desc()).offset(offset)
    rows = []
    for ev, code, name, ref, reason, answered in db.execute(stmt.limit(limit) if limit else stmt):
        cause = END_REASONS.get(ev.data.get("reason", ""), "") if ev.type == "ended" else ""
        rows.append({"call_id": ev.call_id, "code": code, "caller": name or ref, "seq": ev.seq, "at": ev.at,
                     "type": ev.type, "actor": ev.actor, "message": ev.message, "cause": cause,
                     "error": ev.type in ERROR_EVENTS or (ev.type == "ended" and (
                         reason in FAILED_REASONS or answered is None))})
    return rows, total


def failure_causes(db: Session, p: Principal, f: VcFilters) -> dict[str, list[dict[str, Any]]]:
    """Why calls failed or were missed (end reasons), and refused signed requests by outcome (VC-13, 19)."""
    counts: dict[str, int] = defaultdict(int)
    for c in _call_facts(db, p, f):
        if outcome(c.status, c.answered_at, c.end_reason) in ("failed", "missed"):
            counts[c.end_reason] += 1
    calls = [{"reason": r, "label": END_REASONS.get(r, r or "(không rõ)"), "calls": n}
             for r, n in sorted(counts.items(), key=lambda x: (-x[1], x[0]))]
    stmt = _org(select(VcAuthFailure.outcome, func.count()), VcAuthFailure.organization_id, p, f)
    if f.since:
        stmt = stmt.where(VcAuthFailure.at >= f.since)
    if f.until:
        stmt = stmt.where(VcAuthFailure.at < f.until)
    refused = [{"outcome": o, "count": n} for o, n in db.execute(stmt.group_by(VcAuthFailure.outcome)
                                                                  .order_by(func.count().desc()))]
    return {"calls": calls, "refused": refused}


# --- the live board (VC-24) -------------------------------------------------------------------------
def live(db: Session, p: Principal, f: VcFilters, now: datetime | None = None) -> dict[str, Any]:
    now = now or utcnow()
    names = Names.load(db, p, f)
    active = calls_stmt(p, VcFilters(organization_id=f.organization_id, partner_id=f.partner_id, unit=f.unit,
                                     group_id=f.group_id, hotline_id=f.hotline_id)).where(
        VcCall.status.in_(ACTIVE_STATUSES)).order_by(VcCall.created_at)
    calls = [{"id": c.id, "code": c.code, "status": c.status, "status_label": CALL_STATUS_LABELS.get(c.status, c.status),
              "caller": c.caller_name or c.caller_ref, "unit": c.caller_unit,
              "hotline": names.hotlines.get(c.hotline_id, ""), "group": names.groups.get(c.group_id, ""),
              "agent": names.agents.get(c.agent_id, ""), "created_at": c.created_at,
              "seconds": seconds(c.created_at, now), "reconnects": c.reconnects} for c in db.scalars(active.limit(500))]
    agents = [{"agent_id": a.id, "agent": a.display_name, "status": a.status,
               "status_label": AGENT_STATUS_LABELS.get(a.status, a.status), "since": a.status_since,
               "seconds": seconds(a.status_since, now), "last_seen_at": a.last_seen_at}
              for a in agents_in_scope(db, p, f) if a.is_active]
    counts = {s: sum(1 for c in calls if c["status"] == s) for s in ACTIVE_STATUSES}
    by_status = {s: sum(1 for a in agents if a["status"] == s) for s in AGENT_STATUS_LABELS}
    return {"at": now, "calls": calls, "agents": agents, "call_counts": counts, "agent_counts": by_status}


def units(db: Session, p: Principal, f: VcFilters) -> list[str]:
    """Callers' units seen in calls (for the filter)."""
    stmt = _org(select(VcCall.caller_unit).distinct(), VcCall.organization_id, p, f).where(VcCall.caller_unit != "")
    return sorted(u for u in db.scalars(stmt.limit(500)))
