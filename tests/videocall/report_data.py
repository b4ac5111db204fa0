"""A small, fully known video-call history for the report tests (VC-19…28), written straight into the
tables: calls with their outcomes, rings, timeline events, agents' status log and refused requests.

Local times (Asia/Ho_Chi_Minh): calls on 10, 11 and 12 November 2026.
  c1 1022 HN  G1 agent A  answered after 10 s, talk 120 s, agent hung up         → answered
  c2 1022 HN  G1 agent B  answered after 20 s, talk 60 s                          → answered
  c3 1022 HCM G1          rang A (timeout) and B (declined), no answer after 45 s → missed
  c4 1900 HCM G2 agent C  answered after 5 s, network lost after 30 s             → failed
  c5 1900 HN  G2 agent C  connected, still going                                  → active
  c6 1022 HN  G1          media server unavailable                                → failed
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.models import VcAgentStatusLog, VcAuthFailure, VcCall, VcCallEvent, VcRing
from tests.factory import SYSTEM

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
BASE = datetime(2026, 11, 10, 9, 0, tzinfo=TZ)


@dataclass
class History:
    org: str
    groups: dict[str, str]
    hotlines: dict[str, str]
    agents: dict[str, str]
    calls: dict[str, str]
    codes: dict[str, str]
    partner_id: str


def build(world, database) -> History:
    users = {n: world.user(f"dtv-{n.lower()}", roles=["videocall.answer"]) for n in ("A", "B", "C")}
    with database.session() as s:
        g1 = config.save_group(s, SYSTEM, S.GroupIn(code="G1", name="Nhóm Một"), organization_id=world.org_a)
        g2 = config.save_group(s, SYSTEM, S.GroupIn(code="G2", name="Nhóm Hai"), organization_id=world.org_a)
        q = config.save_queue(s, SYSTEM, S.QueueIn(code="Q", name="Hàng đợi", group_ids=[g1.id, g2.id]),
                              organization_id=world.org_a)
        h1 = config.save_hotline(s, SYSTEM, S.HotlineIn(number="1022", name="Tổng đài", queue_id=q.id),
                                 organization_id=world.org_a)
        h2 = config.save_hotline(s, SYSTEM, S.HotlineIn(number="1900", name="Bán hàng", queue_id=q.id),
                                 organization_id=world.org_a)
        groups_of = {"A": [g1.id], "B": [g1.id], "C": [g2.id]}
        agents = {n: config.save_agent(s, SYSTEM, S.AgentIn(user_id=u, display_name=f"ĐTV {n}",
                                                           group_ids=groups_of[n])).id for n, u in users.items()}
        partner, _ = config.create_partner(s, SYSTEM, S.PartnerIn(code="APP", name="Ứng dụng",
                                                                   organization_id=world.org_a))
        spec = {  # name: hotline, unit, group, agent, created, answered after, ended after, status, reason
            "c1": (h1, "HN", g1, "A", BASE, 10, 130, "ended", "agent_hangup"),
            "c2": (h1, "HN", g1, "B", BASE + timedelta(hours=1), 20, 80, "ended", "caller_hangup"),
            "c3": (h1, "HCM", g1, None, BASE + timedelta(days=1), None, 45, "ended", "no_answer"),
            "c4": (h2, "HCM", g2, "C", BASE + timedelta(days=1, hours=2), 5, 35, "ended", "network"),
            "c5": (h2, "HN", g2, "C", BASE + timedelta(days=2), 10, None, "connected", ""),
            "c6": (h1, "HN", g1, None, BASE + timedelta(days=2, hours=1), None, 1, "ended", "media_unavailable"),
        }
        calls, codes = {}, {}
        for name, (h, unit, g, agent, created, ans, end, status, reason) in spec.items():
            c = VcCall(organization_id=world.org_a, code=f"VC-TEST-{name.upper()}", hotline_id=h.id, queue_id=q.id,
                       group_id=g.id, agent_id=agents[agent] if agent else None, status=status,
                       caller_key=f"k:{name}", caller_ref=f"KH-{name}", caller_name=f"Khách {name}",
                       caller_unit=unit, created_at=created,
                       answered_at=created + timedelta(seconds=ans) if ans is not None else None,
                       ended_at=created + timedelta(seconds=end) if end is not None else None,
                       end_reason=reason, ended_by="agent" if reason == "agent_hangup" else "system",
                       partner_id=partner.id if name == "c1" else None, routing_path=[])
            s.add(c)
            s.flush()
            calls[name], codes[name] = c.id, c.code
        rings = [("c1", "A", "accepted"), ("c1", "B", "cancelled"), ("c2", "A", "timeout"), ("c2", "B", "accepted"),
                 ("c3", "A", "timeout"), ("c3", "B", "declined"), ("c4", "C", "accepted"), ("c5", "C", "accepted")]
        for call, agent, outcome in rings:
            at = s.get(VcCall, calls[call]).created_at
            s.add(VcRing(call_id=calls[call], agent_id=agents[agent], started_at=at, ends_at=at + timedelta(seconds=20),
                         ended_at=at + timedelta(seconds=5), outcome=outcome))
        timeline = {"c1": [("created", ""), ("answered", ""), ("ended", "agent_hangup")],
                    "c3": [("created", ""), ("ringing", ""), ("ring_timeout", ""), ("declined", ""),
                           ("ended", "no_answer")],
                    "c4": [("created", ""), ("answered", ""), ("reconnecting", ""), ("ended", "network")],
                    "c6": [("created", ""), ("ended", "media_unavailable")]}
        for call, evs in timeline.items():
            at = s.get(VcCall, calls[call]).created_at
            for i, (type_, reason) in enumerate(evs, start=1):
                s.add(VcCallEvent(call_id=calls[call], seq=i, at=at + timedelta(seconds=i), type=type_,
                                  message=f"Sự kiện {type_} của {call}", data={"reason": reason} if reason else {}))
        for status, hours in (("available", -1), ("paused", 2), ("offline", 3)):
            s.add(VcAgentStatusLog(agent_id=agents["A"], status=status, at=BASE + timedelta(hours=hours)))
        for org, outcome in ((world.org_a, "replay"), (world.org_a, "bad_signature"), (world.org_b, "stale")):
            s.add(VcAuthFailure(organization_id=org, at=BASE, channel="http", outcome=outcome))
        s.commit()
        return History(world.org_a, {"G1": g1.id, "G2": g2.id}, {"1022": h1.id, "1900": h2.id}, agents, calls, codes,
                       partner.id)
