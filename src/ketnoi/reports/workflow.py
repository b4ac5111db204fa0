"""The report handling workflow as an explicit state machine (STYLE.md; CRM-12…19, 32, 33).

``TRANSITIONS`` is the one table of what may happen: for each action, the states it may start
from, the state it leads to, the actor allowed to take it and whether a note is required. The
service consults it for every change and writes a history row in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ASSIGNED = "assigned"
    IN_PROGRESS = "in_progress"
    AWAITING_APPROVAL = "awaiting_approval"
    APPROVED = "approved"
    CLOSED = "closed"
    SPAM_PROPOSED = "spam_proposed"
    SPAM_CONFIRMED = "spam_confirmed"
    SPAM = "spam"
    OUT_OF_AREA_PROPOSED = "out_of_area_proposed"
    OUT_OF_AREA = "out_of_area"
    SUPPORT_PROPOSED = "support_proposed"


STATUS_LABELS = {
    Status.NEW: "Mới tiếp nhận",
    Status.DISPATCHED: "Đã điều phối, chờ phân công",
    Status.ASSIGNED: "Đã phân công",
    Status.IN_PROGRESS: "Đang xử lý",
    Status.AWAITING_APPROVAL: "Chờ phê duyệt kết quả",
    Status.APPROVED: "Đã phê duyệt, chờ trả lời công dân",
    Status.CLOSED: "Đã xử lý xong",
    Status.SPAM_PROPOSED: "Đề xuất tin rác",
    Status.SPAM_CONFIRMED: "Tin rác đã duyệt, chờ tổng đài",
    Status.SPAM: "Tin rác",
    Status.OUT_OF_AREA_PROPOSED: "Đề xuất ngoài khu vực",
    Status.OUT_OF_AREA: "Ngoài khu vực, chờ điều phối lại",
    Status.SUPPORT_PROPOSED: "Đề xuất đơn vị hỗ trợ",
}

# States in which the report is finished (no deadline runs).
FINAL = {Status.CLOSED, Status.SPAM}
# States in which the handling unit's clock runs.
RUNNING = {Status.DISPATCHED, Status.ASSIGNED, Status.IN_PROGRESS, Status.AWAITING_APPROVAL, Status.SPAM_PROPOSED,
           Status.OUT_OF_AREA_PROPOSED, Status.SUPPORT_PROPOSED}


class Actor(str, Enum):
    """Who may take an action: derived from the user's roles and their relation to the report."""

    COORDINATOR = "coordinator"  # call center: permission reports.coordinate, same organization
    MANAGER = "manager"  # unit leader: reports.assign / reports.approve, report's unit in their scope
    SPECIALIST = "specialist"  # reports.process and the report is assigned to them


ACTOR_LABELS = {Actor.COORDINATOR: "Điều phối viên", Actor.MANAGER: "Lãnh đạo đơn vị", Actor.SPECIALIST: "Chuyên viên"}


class Action(str, Enum):
    DISPATCH = "dispatch"
    MARK_SPAM = "mark_spam"
    ASSIGN_SPECIALIST = "assign_specialist"
    ASSIGN_SUBUNIT = "assign_subunit"
    START = "start"
    SUBMIT_RESULT = "submit_result"
    APPROVE = "approve"
    RETURN_FOR_REWORK = "return_for_rework"
    PROPOSE_SPAM = "propose_spam"
    PROPOSE_OUT_OF_AREA = "propose_out_of_area"
    PROPOSE_SUPPORT = "propose_support"
    APPROVE_PROPOSAL = "approve_proposal"
    REJECT_PROPOSAL = "reject_proposal"
    CLOSE_SPAM = "close_spam"
    REDISPATCH = "redispatch"
    CLOSE = "close"
    REOPEN = "reopen"


ACTION_LABELS = {
    Action.DISPATCH: "Điều phối tới đơn vị",
    Action.MARK_SPAM: "Đánh dấu tin rác",
    Action.ASSIGN_SPECIALIST: "Phân công chuyên viên",
    Action.ASSIGN_SUBUNIT: "Giao đơn vị cấp dưới",
    Action.START: "Bắt đầu xử lý",
    Action.SUBMIT_RESULT: "Gửi kết quả xử lý",
    Action.APPROVE: "Phê duyệt kết quả",
    Action.RETURN_FOR_REWORK: "Trả lại để xử lý lại",
    Action.PROPOSE_SPAM: "Đề xuất tin rác",
    Action.PROPOSE_OUT_OF_AREA: "Đề xuất ngoài khu vực",
    Action.PROPOSE_SUPPORT: "Đề xuất đơn vị hỗ trợ",
    Action.APPROVE_PROPOSAL: "Duyệt đề xuất",
    Action.REJECT_PROPOSAL: "Từ chối đề xuất",
    Action.CLOSE_SPAM: "Đóng tin rác",
    Action.REDISPATCH: "Điều phối lại khu vực khác",
    Action.CLOSE: "Hoàn tất, đã trả lời công dân",
    Action.REOPEN: "Mở lại",
    # not transitions, but history entries too
}
EXTRA_HISTORY_LABELS = {"create": "Tiếp nhận", "update": "Cập nhật thông tin", "auto_dispatch": "Điều phối tự động",
                        "delete": "Xóa"}


@dataclass(frozen=True)
class Transition:
    action: Action
    moves: dict[Status, Status]  # from → to
    actor: Actor
    note_required: bool = False
    needs: tuple[str, ...] = ()  # payload fields that must be present (unit_id, assignee_id, result, ...)


_WORKING = (Status.ASSIGNED, Status.IN_PROGRESS)

TRANSITIONS: dict[Action, Transition] = {t.action: t for t in [
    Transition(Action.DISPATCH, {Status.NEW: Status.DISPATCHED}, Actor.COORDINATOR, needs=("unit_id",)),
    Transition(Action.MARK_SPAM, {Status.NEW: Status.SPAM}, Actor.COORDINATOR, note_required=True),
    Transition(Action.ASSIGN_SPECIALIST, {Status.DISPATCHED: Status.ASSIGNED}, Actor.MANAGER, needs=("assignee_id",)),
    Transition(Action.ASSIGN_SUBUNIT, {Status.DISPATCHED: Status.DISPATCHED}, Actor.MANAGER, needs=("unit_id",)),
    Transition(Action.START, {Status.ASSIGNED: Status.IN_PROGRESS}, Actor.SPECIALIST),
    Transition(Action.SUBMIT_RESULT, {s: Status.AWAITING_APPROVAL for s in _WORKING}, Actor.SPECIALIST,
               needs=("result",)),
    Transition(Action.APPROVE, {Status.AWAITING_APPROVAL: Status.APPROVED}, Actor.MANAGER),
    Transition(Action.RETURN_FOR_REWORK, {Status.AWAITING_APPROVAL: Status.IN_PROGRESS}, Actor.MANAGER,
               note_required=True),
    Transition(Action.PROPOSE_SPAM, {s: Status.SPAM_PROPOSED for s in _WORKING}, Actor.SPECIALIST, note_required=True),
    Transition(Action.PROPOSE_OUT_OF_AREA, {s: Status.OUT_OF_AREA_PROPOSED for s in _WORKING}, Actor.SPECIALIST,
               note_required=True),
    Transition(Action.PROPOSE_SUPPORT, {s: Status.SUPPORT_PROPOSED for s in _WORKING}, Actor.SPECIALIST,
               note_required=True, needs=("support_unit_id",)),
    Transition(Action.APPROVE_PROPOSAL, {Status.SPAM_PROPOSED: Status.SPAM_CONFIRMED,
                                         Status.OUT_OF_AREA_PROPOSED: Status.OUT_OF_AREA,
                                         Status.SUPPORT_PROPOSED: Status.IN_PROGRESS}, Actor.MANAGER),
    Transition(Action.REJECT_PROPOSAL, {Status.SPAM_PROPOSED: Status.IN_PROGRESS,
                                        Status.OUT_OF_AREA_PROPOSED: Status.IN_PROGRESS,
                                        Status.SUPPORT_PROPOSED: Status.IN_PROGRESS}, Actor.MANAGER,
               note_required=True),
    Transition(Action.CLOSE_SPAM, {Status.SPAM_CONFIRMED: Status.SPAM}, Actor.COORDINATOR),
    Transition(Action.REDISPATCH, {Status.OUT_OF_AREA: Status.DISPATCHED}, Actor.COORDINATOR, needs=("unit_id",)),
    Transition(Action.CLOSE, {Status.APPROVED: Status.CLOSED}, Actor.COORDINATOR),
    Transition(Action.REOPEN, {Status.CLOSED: Status.NEW, Status.SPAM: Status.NEW}, Actor.COORDINATOR,
               note_required=True),
]}


class IllegalTransition(Exception):
    def __init__(self, action: Action, status: Status):
        self.action, self.status = action, status
        super().__init__(f"Không thể '{ACTION_LABELS[action]}' khi phản ánh đang ở trạng thái "
                         f"'{STATUS_LABELS[status]}'.")


def next_status(action: Action, status: Status) -> Status:
    """The state ``action`` leads to from ``status``, or IllegalTransition."""
    t = TRANSITIONS[action]
    if status not in t.moves:
        raise IllegalTransition(action, status)
    return t.moves[status]


def available_actions(status: Status, actors: set[Actor]) -> list[Action]:
    """Actions the given actor kinds may take now (for buttons in the console)."""
    return [a for a, t in TRANSITIONS.items() if status in t.moves and t.actor in actors]
