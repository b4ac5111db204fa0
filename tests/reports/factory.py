"""Report test data: a catalogue, the people of the workflow, and reports brought into any state
through the real workflow."""

from __future__ import annotations

from sqlalchemy import select

from ketnoi.catalog.models import Area, Category
from ketnoi.identity.models import User
from ketnoi.identity.rbac import principal_for
from ketnoi.reports import schemas as S
from ketnoi.reports.service import create_report, transition
from ketnoi.reports.workflow import Action, Status

COORDINATOR_ROLES = ["home", "scope.all_units", "reports.read", "reports.create", "reports.coordinate",
                     "reports.delete", "reports.export"]
MANAGER_ROLES = ["home", "reports.read", "reports.assign", "reports.approve", "reports.export"]
SPECIALIST_ROLES = ["home", "reports.read", "reports.process"]

# the actions that bring a new report into each state
PATHS: dict[Status, list[Action]] = {
    Status.NEW: [],
    Status.DISPATCHED: [Action.DISPATCH],
    Status.ASSIGNED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST],
    Status.IN_PROGRESS: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.START],
    Status.AWAITING_APPROVAL: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.START, Action.SUBMIT_RESULT],
    Status.APPROVED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.SUBMIT_RESULT, Action.APPROVE],
    Status.CLOSED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.SUBMIT_RESULT, Action.APPROVE, Action.CLOSE],
    Status.SPAM_PROPOSED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.PROPOSE_SPAM],
    Status.SPAM_CONFIRMED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.PROPOSE_SPAM, Action.APPROVE_PROPOSAL],
    Status.SPAM: [Action.MARK_SPAM],
    Status.OUT_OF_AREA_PROPOSED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.PROPOSE_OUT_OF_AREA],
    Status.OUT_OF_AREA: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.PROPOSE_OUT_OF_AREA,
                         Action.APPROVE_PROPOSAL],
    Status.SUPPORT_PROPOSED: [Action.DISPATCH, Action.ASSIGN_SPECIALIST, Action.PROPOSE_SUPPORT],
}


class ReportWorld:
    def __init__(self, world):
        self.world = world
        self.db = world.db
        self.coordinator = world.user("dieuphoi", roles=COORDINATOR_ROLES, dept=None, phone="0912000001")
        self.manager = world.user("lanhdao", roles=MANAGER_ROLES, dept="A-ROOT", phone="0912000002")
        self.specialist = world.user("chuyenvien", roles=SPECIALIST_ROLES, dept="A-ROOT", phone="0912000003")
        self.other_specialist = world.user("cv.khac", roles=SPECIALIST_ROLES, dept="A-OTHER")
        with self.db.session() as s:
            province = Area(scheme="2025", code="48", name="Thành phố Đà Nẵng", level=1, path="")
            s.add(province)
            s.flush()
            province.path = f"/{province.id}/"
            ward = Area(scheme="2025", code="20194", name="Phường Hải Châu", level=2, parent_id=province.id,
                        path="")
            s.add(ward)
            s.flush()
            ward.path = province.path + ward.id + "/"
            env = Category(organization_id=world.org_a, code="MT", name="Môi trường")
            s.add(env)
            s.flush()
            waste = Category(organization_id=world.org_a, code="MT-RAC", name="Rác thải", parent_id=env.id)
            s.add(waste)
            s.flush()
            self.province, self.ward, self.env, self.waste = province.id, ward.id, env.id, waste.id

    def principal(self, user_id: str):
        with self.db.session() as s:
            return principal_for(s, s.get(User, user_id))

    def actor(self, kind: str):
        return self.principal({"coordinator": self.coordinator, "manager": self.manager,
                               "specialist": self.specialist}[kind])

    def payload(self, action: Action) -> S.TransitionIn:
        d = self.world.dept
        extra = {
            Action.DISPATCH: {"unit_id": d["A-ROOT"]},
            Action.REDISPATCH: {"unit_id": d["A-OTHER"]},
            Action.ASSIGN_SUBUNIT: {"unit_id": d["A-CHILD"]},
            Action.ASSIGN_SPECIALIST: {"assignee_id": self.specialist},
            Action.SUBMIT_RESULT: {"result": "Đã thu gom rác, vệ sinh khu vực."},
            Action.PROPOSE_SUPPORT: {"support_unit_id": d["A-OTHER"]},
        }.get(action, {})
        return S.TransitionIn(action=action, note="Ghi chú thao tác", **extra)

    def new_report(self, **fields) -> str:
        data = {"title": "Rác thải ùn ứ đường Lê Duẩn", "content": "Rác không được thu gom 3 ngày.",
                "channel": "phone", "citizen_name": "Nguyễn Văn Dân", "citizen_phone": "0905123456",
                "category_id": self.waste, "area_id": self.ward, **fields}
        with self.db.session() as s:
            return create_report(s, self.actor("coordinator"), S.ReportIn(**data)).id

    def report_in(self, status: Status) -> str:
        rid = self.new_report()
        who = {Action.DISPATCH: "coordinator", Action.MARK_SPAM: "coordinator", Action.CLOSE: "coordinator",
               Action.ASSIGN_SPECIALIST: "manager", Action.APPROVE: "manager", Action.APPROVE_PROPOSAL: "manager",
               Action.START: "specialist", Action.SUBMIT_RESULT: "specialist", Action.PROPOSE_SPAM: "specialist",
               Action.PROPOSE_OUT_OF_AREA: "specialist", Action.PROPOSE_SUPPORT: "specialist"}
        for action in PATHS[status]:
            with self.db.session() as s:
                transition(s, self.actor(who[action]), rid, self.payload(action))
        return rid

    def category(self, code: str) -> str:
        with self.db.session() as s:
            return s.scalar(select(Category.id).where(Category.code == code))
