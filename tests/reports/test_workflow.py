"""The workflow state machine: every (state, action, actor) triple. Allowed ones succeed and write
history; the rest answer 409 (wrong state) or 403 (wrong actor) and change nothing. A unit-scoped
actor who cannot see the report at all (a new report not yet dispatched to their unit) gets 404,
which reveals nothing either."""

from __future__ import annotations

import pytest

from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.reports.models import Report
from ketnoi.reports.service import transition
from ketnoi.reports.workflow import TRANSITIONS, Action, Actor, Status, available_actions, next_status
from tests.reports.factory import ReportWorld


@pytest.fixture
def rw(world):
    return ReportWorld(world)


def _snapshot(db, rid):
    with db.session() as s:
        r = s.get(Report, rid)
        return r.status, len(r.history), r.unit_id, r.assignee_id, r.version


def test_every_state_action_actor_triple(rw):
    db = rw.db
    checked = allowed = 0
    for status in Status:
        shared = rw.report_in(status)  # reused for the refused attempts, which must change nothing
        assert _snapshot(db, shared)[0] == status.value
        for action in Action:
            t = TRANSITIONS[action]
            for actor in Actor:
                checked += 1
                ok = status in t.moves and actor == t.actor
                rid = rw.report_in(status) if ok else shared
                before = _snapshot(db, rid)
                try:
                    with db.session() as s:
                        transition(s, rw.actor(actor.value), rid, rw.payload(action))
                except Conflict:
                    assert status not in t.moves, (status, action, actor)
                    assert _snapshot(db, rid) == before
                    continue
                except Forbidden:
                    assert status in t.moves and actor != t.actor, (status, action, actor)
                    assert _snapshot(db, rid) == before
                    continue
                except NotFound:
                    assert actor != Actor.COORDINATOR and before[2] is None, (status, action, actor)
                    assert _snapshot(db, rid) == before
                    continue
                assert ok, f"{actor.value} could {action.value} from {status.value}"
                allowed += 1
                after = _snapshot(db, rid)
                assert after[0] == t.moves[status].value
                assert after[1] == before[1] + 1  # one history row, same transaction
    assert checked == len(Status) * len(Action) * len(Actor)
    assert allowed == sum(len(t.moves) for t in TRANSITIONS.values())


def test_history_row_names_actor_transition_and_note(rw):
    rid = rw.report_in(Status.ASSIGNED)
    with rw.db.session() as s:
        r = s.get(Report, rid)
        h = r.history[-1]
        assert (h.action, h.from_status, h.to_status) == ("assign_specialist", "dispatched", "assigned")
        assert h.actor_name == "Người dùng lanhdao" and h.assignee_name == "Người dùng chuyenvien"
        assert h.unit_name == "Sở A" and h.note == "Ghi chú thao tác"


def test_note_is_required_where_the_form_asks(rw):
    rid = rw.report_in(Status.IN_PROGRESS)
    from ketnoi.reports import schemas as S

    with pytest.raises(ValidationFailed) as e:
        with rw.db.session() as s:
            transition(s, rw.actor("specialist"), rid, S.TransitionIn(action=Action.PROPOSE_SPAM))
    assert e.value.errors[0]["field"] == "note"
    assert _snapshot(rw.db, rid)[0] == "in_progress"


def test_assignee_must_belong_to_the_handling_unit(rw):
    rid = rw.report_in(Status.DISPATCHED)
    from ketnoi.reports import schemas as S

    with pytest.raises(ValidationFailed) as e:
        with rw.db.session() as s:
            transition(s, rw.actor("manager"), rid, S.TransitionIn(action=Action.ASSIGN_SPECIALIST,
                                                                  assignee_id=rw.other_specialist))
    assert "thuộc đơn vị" in e.value.errors[0]["message"]


def test_subunit_assignment_then_the_subunit_handles(rw):
    from ketnoi.reports import schemas as S

    rid = rw.report_in(Status.DISPATCHED)
    with rw.db.session() as s:
        transition(s, rw.actor("manager"), rid, rw.payload(Action.ASSIGN_SUBUNIT))
    with rw.db.session() as s:
        r = s.get(Report, rid)
        assert r.status == "dispatched" and r.unit_id == rw.world.dept["A-CHILD"]
    # the parent unit's specialist is outside the sub-unit now
    with pytest.raises(ValidationFailed):
        with rw.db.session() as s:
            transition(s, rw.actor("manager"), rid, S.TransitionIn(action=Action.ASSIGN_SPECIALIST,
                                                                  assignee_id=rw.specialist))


def test_support_unit_is_added_on_approval(rw):
    rid = rw.report_in(Status.SUPPORT_PROPOSED)
    with rw.db.session() as s:
        transition(s, rw.actor("manager"), rid, rw.payload(Action.APPROVE_PROPOSAL))
    with rw.db.session() as s:
        r = s.get(Report, rid)
        assert r.status == "in_progress"
        assert [u.department_id for u in r.support_units] == [rw.world.dept["A-OTHER"]]


def test_out_of_area_is_redispatched_elsewhere(rw):
    rid = rw.report_in(Status.OUT_OF_AREA)
    with rw.db.session() as s:
        transition(s, rw.actor("coordinator"), rid, rw.payload(Action.REDISPATCH))
    with rw.db.session() as s:
        r = s.get(Report, rid)
        assert r.status == "dispatched" and r.unit_id == rw.world.dept["A-OTHER"] and r.assignee_id is None


def test_available_actions_match_table():
    assert available_actions(Status.NEW, {Actor.COORDINATOR}) == [Action.DISPATCH, Action.MARK_SPAM]
    assert available_actions(Status.NEW, {Actor.SPECIALIST}) == []
    assert next_status(Action.REOPEN, Status.SPAM) == Status.NEW
