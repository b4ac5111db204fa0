"""Routing decisions without a database or clock (VC-04, 17): conditions, group order, strategies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import SimpleNamespace

import pytest

from ketnoi.videocall import routing
from ketnoi.videocall.routing import CallFacts, Candidate

MONDAY_9 = datetime(2026, 11, 23, 9, 0, tzinfo=timezone(timedelta(hours=7)))


def facts(**kw) -> CallFacts:
    return CallFacts(**{"unit": "HN", "team": "T1", "group": "G1", "user": "u1", "local_time": MONDAY_9, **kw})


@pytest.mark.parametrize("cond, expected", [
    ({}, True),
    ({"unit": ["HN", "HCM"]}, True),
    ({"unit": ["hcm"]}, False),
    ({"unit": [" hn "]}, True),  # case and spaces do not matter
    ({"team": ["T1"], "group": ["G2"]}, False),  # every condition must hold
    ({"language": ["en"]}, False),
    ({"vip": True}, False),
    ({"vip": False}, True),
    ({"hours": "07:30-11:30,13:30-17:00"}, True),
    ({"hours": "13:30-17:00"}, False),
    ({"weekdays": [1, 2, 3, 4, 5]}, True),
    ({"weekdays": [6, 7]}, False),
    ({"attributes": {"segment": ["b2b"]}}, False),
])
def test_conditions(cond, expected):
    assert routing.validate_conditions(cond) == []
    assert routing.matches(cond, facts()) is expected


def test_attributes_and_vip_match_the_call():
    f = facts(vip=True, attributes={"segment": "B2B", "tier": 2})
    assert routing.matches({"vip": True, "attributes": {"segment": ["b2b"], "tier": ["2"]}}, f)


@pytest.mark.parametrize("cond", [{"colour": ["red"]}, {"unit": "HN"}, {"unit": [""]}, {"vip": "yes"},
                                  {"hours": "17:00-08:00"}, {"hours": "25:00-26:00"}, {"weekdays": [0]},
                                  {"attributes": {"a": "b"}}])
def test_bad_conditions_are_explained(cond):
    errors = routing.validate_conditions(cond)
    assert errors and all(isinstance(e, str) and e for e in errors)


def test_first_matching_active_group_in_queue_order():
    def g(code, cond, active=True):
        return SimpleNamespace(code=code, conditions=cond, is_active=active)
    groups = [g("VIP", {"vip": True}), g("HN-OFF", {"unit": ["HN"]}, False), g("HN", {"unit": ["HN"]}), g("ALL", {})]
    assert routing.choose_group(groups, facts()).code == "HN"
    assert routing.choose_group(groups, facts(unit="DN")).code == "ALL"
    assert routing.choose_group(groups[:3], facts(unit="DN")) is None


def _cands():
    t = datetime(2026, 11, 23, tzinfo=UTC)
    return [Candidate("a", 0, t - timedelta(minutes=5), 3), Candidate("b", 1, t - timedelta(minutes=30), 5),
            Candidate("c", 2, None, 1)]


def test_ring_all_rings_every_free_agent_in_member_order():
    assert routing.pick_agents("ring_all", _cands(), set(), -1, ["a", "b", "c"]) == (["a", "b", "c"], -1)


def test_least_recent_prefers_who_never_or_longest_ago_had_a_call():
    assert routing.pick_agents("least_recent", _cands(), set(), -1, ["a", "b", "c"])[0] == ["c"]
    assert routing.pick_agents("least_recent", _cands(), {"c"}, -1, ["a", "b", "c"])[0] == ["b"]


def test_fewest_calls_today():
    assert routing.pick_agents("fewest_calls", _cands(), set(), -1, ["a", "b", "c"])[0] == ["c"]
    assert routing.pick_agents("fewest_calls", _cands(), {"c"}, -1, ["a", "b", "c"])[0] == ["a"]


def test_round_robin_goes_on_after_the_last_one_rung():
    members = ["a", "b", "c"]
    picked, cursor = routing.pick_agents("round_robin", _cands(), set(), -1, members)
    assert (picked, cursor) == (["a"], 0)
    picked, cursor = routing.pick_agents("round_robin", _cands(), set(), cursor, members)
    assert (picked, cursor) == (["b"], 1)
    # c is busy elsewhere: the turn passes to a
    picked, cursor = routing.pick_agents("round_robin", _cands()[:2], set(), cursor, members)
    assert (picked, cursor) == (["a"], 0)


def test_one_by_one_strategies_start_a_new_round_when_everyone_was_tried():
    assert routing.pick_agents("least_recent", _cands(), {"a", "b", "c"}, -1, ["a", "b", "c"])[0] == ["c"]
    assert routing.pick_agents("least_recent", [], set(), -1, ["a"]) == ([], -1)


def test_describe_conditions_in_vietnamese():
    assert routing.describe({}) == "mọi cuộc gọi"
    assert routing.describe({"unit": ["HN"], "vip": True}) == "đơn vị HN; khách VIP"
