"""Who hears about a report change: hub events for consoles (toasts), SMS through the outbox for
officials who asked for them (PERM-10), and the citizen at milestones (received, result)."""

from __future__ import annotations

import logging

from sqlalchemy import Select, and_, bindparam, literal_column, or_, select
from sqlalchemy.orm import Session, aliased

from ketnoi.core.errors import ValidationFailed
from ketnoi.core.phone import normalize_phone
from ketnoi.events import Event, queue_event
from ketnoi.identity.models import Department, Role, User, group_roles, organization_groups, user_groups
from ketnoi.identity.permissions import CATALOG
from ketnoi.outbox.service import enqueue_message
from ketnoi.reports.models import NotificationSetting, Report
from ketnoi.reports.workflow import ACTION_LABELS, STATUS_LABELS, Action, Status

log = logging.getLogger(__name__)

DEFAULT_TEMPLATE = "ketnoi 1022: Phản ánh {code} \"{title}\" đang chờ bạn {task}. Hạn xử lý: {due}."
TEMPLATE_FIELDS = {"code", "title", "task", "due", "unit"}
TASKS = {"assignment": "phân công", "processing": "xử lý", "approval": "phê duyệt"}


def check_template(template: str) -> None:
    import string

    try:
        names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    except ValueError:
        raise ValidationFailed.field("template", "Mẫu tin nhắn sai cú pháp (dấu ngoặc nhọn chưa đóng).")
    unknown = names - TEMPLATE_FIELDS
    if unknown:
        raise ValidationFailed.field("template", "Biến không hỗ trợ: " + ", ".join(sorted(unknown))
                                     + ". Dùng: {code}, {title}, {task}, {due}, {unit}.")


def _due_text(r: Report) -> str:
    from ketnoi.web.pages import _local

    return _local(r.due_at) if r.due_at else "chưa đặt"


def _implying(permission: str) -> set[str]:
    """Role codes that grant ``permission``: itself and the roles below it (rbac.permissions_of:
    a chosen child implies its parent)."""
    out = {permission}
    for code, spec in CATALOG.items():
        while spec and spec.parent:
            if spec.parent == permission:
                out.add(code)
                break
            spec = CATALOG.get(spec.parent)
    return out


_HOLDERS: dict[tuple[str, int], Select] = {}


def _holders_query(permission: str) -> Select:
    """Users of the unit ``:unit_id`` and of each unit above it (``depth`` 0, 1, …) who are active
    and hold ``permission`` through a group enabled in their organization (``rbac.permissions_of``).
    Built once per permission (and role catalogue): building it costs more than running it."""
    key = (permission, len(CATALOG))
    if key in _HOLDERS:
        return _HOLDERS[key]
    up = select(Department.id, Department.parent_id, literal_column("0").label("depth")).where(
        Department.id == bindparam("unit_id")).cte("up", recursive=True)
    up = up.union_all(select(Department.id, Department.parent_id, (up.c.depth + 1).label("depth"))
                      .join(up, Department.id == up.c.parent_id))
    member = aliased(User)
    granted = (select(user_groups.c.user_id)
               .join(group_roles, group_roles.c.group_id == user_groups.c.group_id)
               .join(Role, Role.id == group_roles.c.role_id)
               .join(member, member.id == user_groups.c.user_id)
               .outerjoin(organization_groups, and_(organization_groups.c.group_id == user_groups.c.group_id,
                                                    organization_groups.c.organization_id == member.organization_id))
               .where(Role.code.in_(sorted(_implying(permission))),
                      or_(member.organization_id.is_(None), organization_groups.c.group_id.is_not(None))))
    holds = User.id.in_(granted)
    if permission in CATALOG:
        holds = or_(User.is_sysadmin.is_(True), holds)
    stmt = _HOLDERS[key] = (select(User, up.c.depth).join(up, User.department_id == up.c.id)
                            .where(User.is_active.is_(True), holds).order_by(up.c.depth, User.username))
    return stmt


def unit_holders(db: Session, unit_id: str | None, permission: str) -> list[User]:
    """Active users of the unit holding ``permission``; if none, those of the nearest parent unit.
    One statement: the unit and its ancestors by a recursive walk up ``parent_id``."""
    if not unit_id:
        return []
    rows = db.execute(_holders_query(permission), {"unit_id": unit_id}).all()
    return [u for u, depth in rows if depth == rows[0][1]]


def _tell(db: Session, r: Report, users: list[User], kind: str) -> None:
    if not users:
        return
    task = TASKS[kind]
    queue_event(db, Event(type="report.awaiting", org_id=r.organization_id, user_ids=[u.id for u in users],
                          data={"id": r.id, "code": r.code, "title": r.title, "task": kind,
                                "url": f"/reports/{r.id}",
                                "message": f"Phản ánh {r.code} đang chờ bạn {task}: {r.title}"}))
    settings = {n.user_id: n for n in db.scalars(select(NotificationSetting).where(
        NotificationSetting.user_id.in_([u.id for u in users]), getattr(NotificationSetting, f"on_{kind}").is_(True)))}
    unit = db.get(Department, r.unit_id) if r.unit_id and settings else None
    for u in users:
        setting = settings.get(u.id)
        if not setting or not u.phone:
            continue
        text = (setting.template or DEFAULT_TEMPLATE).format(code=r.code, title=r.title[:60], task=task,
                                                             due=_due_text(r), unit=unit.name if unit else "")
        enqueue_message(db, organization_id=r.organization_id, channel="sms", recipient=u.phone, body=text[:640],
                        purpose=f"report_{kind}")


def _changed(db: Session, r: Report, action: str) -> None:
    queue_event(db, Event(type="report.changed", org_id=r.organization_id, permission="reports.read",
                          unit_path=r.unit_path or "",
                          data={"id": r.id, "code": r.code, "status": r.status, "action": action,
                                "status_label": STATUS_LABELS[Status(r.status)]}))


def _citizen(db: Session, r: Report, purpose: str, text: str) -> None:
    if not r.citizen_phone:
        return
    try:
        normalize_phone(r.citizen_phone, mobile_only=True)
    except ValidationFailed:
        return  # landline: the call center calls back instead
    enqueue_message(db, organization_id=r.organization_id, channel="sms", recipient=r.citizen_phone, body=text,
                    purpose=purpose)


def on_created(db: Session, r: Report) -> None:
    _changed(db, r, "create")
    queue_event(db, Event(type="report.created", org_id=r.organization_id, permission="reports.coordinate",
                          data={"id": r.id, "code": r.code, "title": r.title, "channel": r.channel}))
    _citizen(db, r, "report_received",
             f"Tổng đài 1022 đã tiếp nhận phản ánh của bạn, mã {r.code}. Tra cứu tiến độ bằng mã này và số điện thoại.")


def on_transition(db: Session, r: Report, action: Action, previous: Status) -> None:
    _changed(db, r, action.value)
    status = Status(r.status)
    if status == Status.DISPATCHED:
        _tell(db, r, unit_holders(db, r.unit_id, "reports.assign"), "assignment")
        queue_event(db, Event(type="report.dispatched", org_id=r.organization_id, permission="reports.assign",
                              unit_path=r.unit_path,
                              data={"id": r.id, "code": r.code, "title": r.title, "url": f"/reports/{r.id}",
                                    "latitude": r.latitude, "longitude": r.longitude,
                                    "message": f"Đơn vị nhận phản ánh mới {r.code}: {r.title}"}))
    elif status in (Status.ASSIGNED, Status.IN_PROGRESS) and action != Action.START and r.assignee_id:
        assignee = db.get(User, r.assignee_id)
        _tell(db, r, [assignee] if assignee else [], "processing")
    elif status in (Status.AWAITING_APPROVAL, Status.SPAM_PROPOSED, Status.OUT_OF_AREA_PROPOSED,
                    Status.SUPPORT_PROPOSED):
        _tell(db, r, unit_holders(db, r.unit_id, "reports.approve"), "approval")
    elif status in (Status.APPROVED, Status.SPAM_CONFIRMED, Status.OUT_OF_AREA):
        queue_event(db, Event(type="report.for_call_center", org_id=r.organization_id,
                              permission="reports.coordinate",
                              data={"id": r.id, "code": r.code, "status_label": STATUS_LABELS[status],
                                    "message": f"{r.code}: {STATUS_LABELS[status]}"}))
    if status == Status.CLOSED:
        result = r.result.strip()
        _citizen(db, r, "report_result", f"Phản ánh {r.code} đã được xử lý. Kết quả: {result[:300]}")
    log.debug("report %s: %s → %s (%s)", r.code, previous.value, status.value, ACTION_LABELS[action])
