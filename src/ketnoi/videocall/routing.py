"""Routing decisions of video calls (VC-04, 17), free of the database and the clock: which group a
call goes to and which agents ring next. ``service.advance`` feeds these the rows and the time.

Conditions of a group (all given keys must hold; an empty dict matches every call):
  unit / team / group / user : lists of the caller's values that match (case-insensitive)
  language                  : list of languages ("vi", "en")
  vip                       : true = only VIP callers, false = only non-VIP callers
  hours                     : "07:30-11:30,13:30-17:00" in the platform's time zone
  weekdays                  : ISO weekdays, Monday = 1
  attributes                : {"name": [values]} on the partner's free-form attributes
Strategies (Asterisk queue semantics): ring_all rings every free agent at once; the others ring one
agent at a time for ``agent_ring_seconds``: least_recent (longest since their last call), round_robin
(in membership order, after the last one rung), fewest_calls (fewest answered calls today).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

CONDITION_KEYS = ("unit", "team", "group", "user", "language", "vip", "hours", "weekdays", "attributes")
CALLER_FIELDS = ("unit", "team", "group", "user")


@dataclass
class CallFacts:
    """What routing may look at: the caller's attributes and the local time of the call."""

    unit: str = ""
    team: str = ""
    group: str = ""
    user: str = ""
    language: str = "vi"
    vip: bool = False
    attributes: dict[str, Any] = field(default_factory=dict)
    local_time: datetime | None = None


@dataclass
class Candidate:
    agent_id: str
    position: int = 0
    last_call_ended_at: datetime | None = None
    calls_today: int = 0


def _norm(v: Any) -> str:
    return str(v).strip().casefold()


def _in(value: str, allowed: Iterable[Any]) -> bool:
    return _norm(value) in {_norm(a) for a in allowed}


def parse_hours(spec: str) -> list[tuple[int, int]]:
    """"07:30-11:30,13:30-17:00" → [(450, 690), (810, 1020)] in minutes; ValueError when malformed."""
    out = []
    for part in (spec or "").split(","):
        part = part.strip()
        if not part:
            continue
        a, b = part.split("-", 1)
        start, end = _minutes(a), _minutes(b)
        if end <= start:
            raise ValueError(f"khoảng giờ {part} không hợp lệ")
        out.append((start, end))
    return out


def _minutes(hhmm: str) -> int:
    h, m = hhmm.strip().split(":", 1)
    hours, mins = int(h), int(m)
    if not (0 <= hours <= 24 and 0 <= mins < 60) or hours * 60 + mins > 1440:
        raise ValueError(f"giờ {hhmm} không hợp lệ")
    return hours * 60 + mins


def validate_conditions(cond: dict[str, Any]) -> list[str]:
    """Problems with a group's conditions, in Vietnamese (empty = valid)."""
    errors = []
    for key, value in (cond or {}).items():
        if key not in CONDITION_KEYS:
            errors.append(f"Điều kiện '{key}' không được hỗ trợ; dùng: {', '.join(CONDITION_KEYS)}.")
        elif key in (*CALLER_FIELDS, "language"):
            if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
                errors.append(f"Điều kiện '{key}' phải là danh sách chuỗi không rỗng.")
        elif key == "vip" and not isinstance(value, bool):
            errors.append("Điều kiện 'vip' phải là true hoặc false.")
        elif key == "hours":
            try:
                if not isinstance(value, str) or not parse_hours(value):
                    raise ValueError("rỗng")
            except ValueError as e:
                errors.append(f"Điều kiện 'hours' không hợp lệ ({e}); ví dụ: 07:30-11:30,13:30-17:00.")
        elif key == "weekdays":
            if not isinstance(value, list) or not value or not all(isinstance(d, int) and 1 <= d <= 7 for d in value):
                errors.append("Điều kiện 'weekdays' là danh sách ngày trong tuần từ 1 (thứ Hai) đến 7 (Chủ nhật).")
        elif key == "attributes" and (not isinstance(value, dict)
                                      or not all(isinstance(v, list) for v in value.values())):
            errors.append("Điều kiện 'attributes' có dạng {\"tên\": [giá trị, …]}.")
    return errors


def matches(cond: dict[str, Any] | None, facts: CallFacts) -> bool:
    cond = cond or {}
    for key in CALLER_FIELDS:
        if key in cond and not _in(getattr(facts, key), cond[key]):
            return False
    if "language" in cond and not _in(facts.language, cond["language"]):
        return False
    if "vip" in cond and bool(cond["vip"]) != facts.vip:
        return False
    t = facts.local_time
    if "weekdays" in cond and (t is None or t.isoweekday() not in cond["weekdays"]):
        return False
    if "hours" in cond:
        if t is None:
            return False
        minute = t.hour * 60 + t.minute
        if not any(a <= minute < b for a, b in parse_hours(cond["hours"])):
            return False
    for name, allowed in (cond.get("attributes") or {}).items():
        if not _in(str(facts.attributes.get(name, "")), allowed):
            return False
    return True


def describe(cond: dict[str, Any] | None) -> str:
    """A short Vietnamese summary for the timeline, e.g. 'đơn vị HN; giờ 07:30-17:00'."""
    labels = {"unit": "đơn vị", "team": "tổ", "group": "nhóm", "user": "người dùng", "language": "ngôn ngữ",
              "hours": "giờ", "weekdays": "thứ"}
    parts = []
    for key, value in (cond or {}).items():
        if key == "vip":
            parts.append("khách VIP" if value else "khách thường")
        elif key == "attributes":
            parts += [f"{k} ∈ {', '.join(map(str, v))}" for k, v in value.items()]
        elif key in labels:
            parts.append(f"{labels[key]} {value if isinstance(value, str) else ', '.join(map(str, value))}")
    return "; ".join(parts) or "mọi cuộc gọi"


def choose_group(groups: Sequence[Any], facts: CallFacts) -> Any | None:
    """The first active group, in queue order, whose conditions match."""
    for g in groups:
        if getattr(g, "is_active", True) and matches(getattr(g, "conditions", None), facts):
            return g
    return None


def pick_agents(strategy: str, free: Sequence[Candidate], tried: set[str], rr_cursor: int,
                members_in_order: Sequence[str]) -> tuple[list[str], int]:
    """Agents to ring now among the ``free`` ones, and the new round-robin cursor.

    ``tried`` are agents already rung for this call in this group: one-by-one strategies move on to
    the others first and start a new round once everyone free has been tried."""
    if not free:
        return [], rr_cursor
    if strategy == "ring_all":
        return [c.agent_id for c in sorted(free, key=lambda c: (c.position, c.agent_id))], rr_cursor
    pool = [c for c in free if c.agent_id not in tried] or list(free)
    if strategy == "least_recent":
        never = datetime.min
        best = min(pool, key=lambda c: ((c.last_call_ended_at.replace(tzinfo=None) if c.last_call_ended_at
                                         else never), c.position, c.agent_id))
        return [best.agent_id], rr_cursor
    if strategy == "fewest_calls":
        best = min(pool, key=lambda c: (c.calls_today, c.position, c.agent_id))
        return [best.agent_id], rr_cursor
    # round_robin: the next member after the cursor (membership order) who is in the pool
    n = len(members_in_order)
    ids = {c.agent_id for c in pool}
    for step in range(1, n + 1):
        idx = (rr_cursor + step) % n
        if members_in_order[idx] in ids:
            return [members_in_order[idx]], idx
    return [pool[0].agent_id], rr_cursor
