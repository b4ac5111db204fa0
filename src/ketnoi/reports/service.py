"""Rules of citizen reports: create, edit, delete, the workflow transitions and their effects,
visibility by organization and unit scope (CRM-11…19, 31…33; PERM-10, 11)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import ColumnElement, not_, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.catalog.models import Area, Category
from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import path_startswith, unindexed
from ketnoi.core.phone import normalize_phone
from ketnoi.db.base import new_id, utcnow
from ketnoi.identity.models import Department, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import permissions_of
from ketnoi.reports import notify, sla
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report, ReportHistory, ReportSequence, ReportSupportUnit
from ketnoi.reports.workflow import (
    ACTION_LABELS,
    EXTRA_HISTORY_LABELS,
    FINAL,
    RUNNING,
    STATUS_LABELS,
    TRANSITIONS,
    Action,
    Actor,
    IllegalTransition,
    Status,
    available_actions,
    next_status,
)
from ketnoi.settings import get_settings

EDITABLE_FIELDS = ("title", "content", "channel", "priority", "citizen_name", "citizen_phone", "citizen_email",
                   "citizen_address", "area_id", "category_id", "latitude", "longitude")
ACTION_PERMISSION = {
    Action.ASSIGN_SPECIALIST: "reports.assign", Action.ASSIGN_SUBUNIT: "reports.assign",
    Action.APPROVE: "reports.approve", Action.RETURN_FOR_REWORK: "reports.approve",
    Action.APPROVE_PROPOSAL: "reports.approve", Action.REJECT_PROPOSAL: "reports.approve",
}


# --- visibility ---------------------------------------------------------------------------------
def live_in_organization(p: Principal, narrow: bool = False) -> list[ColumnElement[bool]]:
    """Not deleted, and in the principal's organization (any for the system administrator).
    ``narrow``: a part of a count driven by a small index of its own (a user's reports, the
    supported ones), which the organization's indexes must not take over on SQLite."""
    out: list[ColumnElement[bool]] = [Report.deleted_at.is_(None)]
    if not p.is_sysadmin:
        out.append((unindexed(Report.organization_id) if narrow else Report.organization_id) == p.organization_id)
    return out


@dataclass
class Either:
    """A condition in two forms: ``either`` for a page walked in the order of the list's index
    (no index on the unit path may drive it), and ``parts``, disjoint conjunctions whose rows
    together are the same, for a count where each part is served by its own index. A part is
    (conditions, narrow): narrow parts are driven by a user's or the support table's index."""

    either: ColumnElement[bool]
    parts: list[tuple[list[ColumnElement[bool]], bool]]


def unit_scope(p: Principal, narrow: bool = False) -> Either | None:
    """For a unit-scoped user: their unit subtree, what is assigned to them, what they created,
    and where a unit of their subtree supports (None: the whole organization). ``narrow``: the
    subtree part as a narrow count part must write it (no index on the unit path)."""
    if p.unit_path is None:
        return None
    subtree = path_startswith(Report.unit_path, p.unit_path, indexed=not narrow)
    mine, created = Report.assignee_id == p.user_id, Report.created_by_id == p.user_id
    supported = Report.id.in_(select(ReportSupportUnit.report_id)
                              .join(Department, Department.id == ReportSupportUnit.department_id)
                              .where(path_startswith(Department.path, p.unit_path)))
    outside, not_mine = not_(subtree), Report.assignee_id.is_distinct_from(p.user_id)
    return Either(or_(path_startswith(Report.unit_path, p.unit_path, indexed=False), mine, created, supported), [
        ([subtree], False), ([outside, mine], True), ([outside, not_mine, created], True),
        ([outside, not_mine, Report.created_by_id.is_distinct_from(p.user_id), supported], True)])


def scope_filter(stmt, p: Principal):
    """Reports the principal may see: their organization, and for unit-scoped users their unit
    subtree, what is assigned to them, what they created, and where their unit supports."""
    stmt = stmt.where(*live_in_organization(p))
    scope = unit_scope(p)
    return stmt.where(scope.either) if scope else stmt


def get_report(db: Session, p: Principal, report_id: str) -> Report:
    r = db.scalar(scope_filter(select(Report).where(Report.id == report_id), p))
    if r is None:
        raise NotFound("Không tìm thấy phản ánh.")
    return r


def get_by_code(db: Session, p: Principal, code: str) -> Report:
    r = db.scalar(scope_filter(select(Report).where(Report.code == code.strip().upper()), p))
    if r is None:
        raise NotFound("Không tìm thấy phản ánh.")
    return r


# --- codes --------------------------------------------------------------------------------------
def next_code(db: Session, when: datetime) -> str:
    """PA-<year>-<6-digit sequence>, one counter per year, safe under concurrent creation."""
    year = when.year
    for _ in range(3):
        value = db.scalar(update(ReportSequence).where(ReportSequence.year == year)
                          .values(value=ReportSequence.value + 1).returning(ReportSequence.value))
        if value is not None:
            return f"PA-{year}-{value:06d}"
        try:
            with db.begin_nested():
                db.add(ReportSequence(year=year, value=1))
            return f"PA-{year}-000001"
        except IntegrityError:
            continue
    raise Conflict("Không cấp được mã phản ánh, vui lòng thử lại.")


# --- validation helpers -------------------------------------------------------------------------
def _check_refs(db: Session, org_id: str, area_id: str | None, category_id: str | None) -> None:
    if area_id and db.get(Area, area_id) is None:
        raise ValidationFailed.field("area_id", "Khu vực không tồn tại.")
    if category_id:
        c = db.get(Category, category_id)
        if c is None or c.organization_id != org_id:
            raise ValidationFailed.field("category_id", "Lĩnh vực không tồn tại.")
        if not c.is_active:
            raise ValidationFailed.field("category_id", "Lĩnh vực đã ngừng sử dụng.")


def _clean_contacts(phone: str | None, email: str | None) -> tuple[str | None, str | None]:
    if phone:
        phone = normalize_phone(phone, "citizen_phone")
    if email:
        try:
            email = validate_email(email, check_deliverability=False).normalized
        except EmailNotValidError:
            raise ValidationFailed.field("citizen_email", "Email không hợp lệ.")
    return phone, email


def _unit(db: Session, org_id: str, unit_id: str | None, field: str = "unit_id") -> Department:
    d = db.get(Department, unit_id) if unit_id else None
    if d is None or d.organization_id != org_id:
        raise ValidationFailed.field(field, "Đơn vị không hợp lệ.")
    if not d.is_active:
        raise ValidationFailed.field(field, "Đơn vị đã ngừng hoạt động.")
    return d


def _history(db: Session, r: Report, p: Principal | None, action: str, from_status: str, note: str = "") -> None:
    seq = len(r.history) + 1
    unit = db.get(Department, r.unit_id) if r.unit_id else None
    assignee = db.get(User, r.assignee_id) if r.assignee_id else None
    h = ReportHistory(report_id=r.id, seq=seq, actor_id=p.user_id if p and p.user_id else None,
                      actor_name=p.full_name if p else "Hệ thống", action=action, from_status=from_status,
                      to_status=r.status, unit_id=r.unit_id, unit_name=unit.name if unit else "",
                      assignee_id=r.assignee_id, assignee_name=assignee.full_name if assignee else "", note=note)
    r.history.append(h)


# --- create / edit / delete ---------------------------------------------------------------------
def create_report(db: Session, p: Principal, data: S.ReportIn, *, received_at: datetime | None = None) -> Report:
    if p.is_sysadmin:
        if not data.organization_id:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        org_id = data.organization_id
    else:
        if data.organization_id and data.organization_id != p.organization_id:
            raise Forbidden("Không thể tạo phản ánh cho tổ chức khác.")
        org_id = p.organization_id  # type: ignore[assignment]
    phone, email = _clean_contacts(data.citizen_phone, data.citizen_email)
    _check_refs(db, org_id, data.area_id, data.category_id)
    now = received_at or utcnow()
    r = Report(id=new_id(), organization_id=org_id, code=next_code(db, now), title=data.title, content=data.content,
               channel=data.channel.value, priority=data.priority.value, status=Status.NEW.value,
               citizen_name=data.citizen_name, citizen_phone=phone or "", citizen_email=email or "",
               citizen_address=data.citizen_address, area_id=data.area_id, category_id=data.category_id,
               latitude=data.latitude, longitude=data.longitude, source_call_id=data.source_call_id,
               source_sms_id=data.source_sms_id, created_by_id=p.user_id or None, received_at=now, unit_path="")
    db.add(r)
    db.flush()
    _history(db, r, p, "create", "", "")
    record(db, p, "report.created", "report", r.id, organization_id=org_id, summary=f"Tiếp nhận phản ánh {r.code}")
    notify.on_created(db, r)
    from ketnoi.reports.rules import auto_dispatch

    auto_dispatch(db, r)
    return r


def update_report(db: Session, p: Principal, report_id: str, data: S.ReportPatch) -> Report:
    r = get_report(db, p, report_id)
    if not p.has("reports.create") and not (p.has("reports.process") and r.assignee_id == p.user_id):
        raise Forbidden("Bạn không có quyền sửa phản ánh này.")
    if Status(r.status) in FINAL:
        raise Conflict("Phản ánh đã kết thúc; hãy mở lại trước khi sửa.")
    if data.version is not None and data.version != r.version:
        raise Conflict("Phản ánh vừa được người khác cập nhật; hãy tải lại rồi sửa.")
    fields = data.model_fields_set - {"version"}
    phone, email = _clean_contacts(data.citizen_phone, data.citizen_email)
    _check_refs(db, r.organization_id, data.area_id if "area_id" in fields else None,
                data.category_id if "category_id" in fields else None)
    before, after = {}, {}
    for f in fields:
        value = getattr(data, f)
        if f in ("title", "content", "channel") and value is None:
            raise ValidationFailed.field(f, "Không được để trống.")
        if f == "citizen_phone":
            value = phone or ""
        elif f == "citizen_email":
            value = email or ""
        elif hasattr(value, "value"):
            value = value.value
        elif value is None and f in ("citizen_name", "citizen_address"):
            value = ""
        if getattr(r, f) != value:
            before[f], after[f] = getattr(r, f), value
            setattr(r, f, value)
    if after:
        db.flush()
        _history(db, r, p, "update", r.status, "Cập nhật: " + ", ".join(sorted(after)))
        record(db, p, "report.updated", "report", r.id, before=before, after=after, organization_id=r.organization_id,
               summary=f"Sửa phản ánh {r.code}")
    return r


def delete_report(db: Session, p: Principal, report_id: str) -> None:
    """CRM-31: only a new or spam report may be deleted; it is hidden, its history kept."""
    r = get_report(db, p, report_id)
    if Status(r.status) not in (Status.NEW, Status.SPAM):
        raise Conflict("Chỉ xóa được phản ánh mới tiếp nhận hoặc tin rác; phản ánh đang xử lý không xóa được.")
    r.deleted_at = utcnow()
    _history(db, r, p, "delete", r.status, "")
    record(db, p, "report.deleted", "report", r.id, organization_id=r.organization_id, summary=f"Xóa phản ánh {r.code}")


# --- workflow -----------------------------------------------------------------------------------
def actors_for(p: Principal, r: Report) -> set[Actor]:
    out: set[Actor] = set()
    if not p.sees_organization(r.organization_id):
        return out
    if p.has("reports.coordinate"):
        out.add(Actor.COORDINATOR)
    if (p.has("reports.assign") or p.has("reports.approve")) and r.unit_path and p.covers_unit(r.unit_path):
        out.add(Actor.MANAGER)
    if p.has("reports.process") and r.assignee_id and r.assignee_id == p.user_id:
        out.add(Actor.SPECIALIST)
    return out


def allowed_actions(p: Principal, r: Report) -> list[Action]:
    actors = actors_for(p, r)
    return [a for a in available_actions(Status(r.status), actors)
            if a not in ACTION_PERMISSION or p.has(ACTION_PERMISSION[a])]


def _check_assignee(db: Session, r: Report, user_id: str | None) -> User:
    u = db.get(User, user_id) if user_id else None
    if u is None or u.organization_id != r.organization_id or not u.is_active:
        raise ValidationFailed.field("assignee_id", "Chuyên viên không hợp lệ.")
    if "reports.process" not in permissions_of(db, u):
        raise ValidationFailed.field("assignee_id", "Người được chọn không có quyền xử lý phản ánh.")
    if u.department is None or not u.department.path.startswith(r.unit_path):
        raise ValidationFailed.field("assignee_id", "Chuyên viên phải thuộc đơn vị đang xử lý phản ánh.")
    return u


def transition(db: Session, p: Principal | None, report_id: str | Report, data: S.TransitionIn) -> Report:
    """Take one workflow action. ``p`` None = the system (auto-dispatch)."""
    r = report_id if isinstance(report_id, Report) else get_report(db, p, report_id)  # type: ignore[arg-type]
    action = data.action
    t = TRANSITIONS[action]
    current = Status(r.status)
    try:
        target = next_status(action, current)
    except IllegalTransition as e:
        raise Conflict(str(e))
    if p is not None:
        if t.actor not in actors_for(p, r) or (action in ACTION_PERMISSION and not p.has(ACTION_PERMISSION[action])):
            raise Forbidden(f"Chỉ {_actor_label(t.actor)} phụ trách được '{ACTION_LABELS[action]}'.")
    if t.note_required and not data.note:
        raise ValidationFailed.field("note", "Nhập ghi chú (lý do) cho thao tác này.")
    for field in t.needs:
        if not getattr(data, field):
            raise ValidationFailed.field(field, "Bắt buộc nhập.")
    # the changes reach the database in one UPDATE (one version bump) at the flush below, not
    # early through an autoflush of the look-ups in between (SLA rules, units, assignee)
    with db.no_autoflush:
        now = utcnow()
        if action in (Action.DISPATCH, Action.REDISPATCH):
            unit = _unit(db, r.organization_id, data.unit_id)
            if action == Action.REDISPATCH:
                if unit.id == r.unit_id:
                    raise ValidationFailed.field("unit_id", "Chọn đơn vị khác với đơn vị đã báo ngoài khu vực.")
                if data.area_id:
                    _check_refs(db, r.organization_id, data.area_id, None)
                    r.area_id = data.area_id
            r.unit_id, r.unit_path, r.assignee_id = unit.id, unit.path, None
            r.dispatched_at = now
            r.due_at = sla.due_time(db, r.organization_id, r.category_id, unit.id, now)[0]
            r.pending_note, r.pending_support_unit_id = "", None
        elif action == Action.ASSIGN_SUBUNIT:
            unit = _unit(db, r.organization_id, data.unit_id)
            if unit.id == r.unit_id or not unit.path.startswith(r.unit_path):
                raise ValidationFailed.field("unit_id", "Chọn một đơn vị cấp dưới của đơn vị đang xử lý.")
            r.unit_id, r.unit_path = unit.id, unit.path
        elif action == Action.ASSIGN_SPECIALIST:
            r.assignee_id = _check_assignee(db, r, data.assignee_id).id
        elif action == Action.SUBMIT_RESULT:
            r.result = data.result
            r.resolved_at = now
        elif action in (Action.PROPOSE_SPAM, Action.PROPOSE_OUT_OF_AREA, Action.PROPOSE_SUPPORT):
            r.pending_note = data.note
            if action == Action.PROPOSE_SUPPORT:
                support = _unit(db, r.organization_id, data.support_unit_id, "support_unit_id")
                if support.id == r.unit_id or any(s.department_id == support.id for s in r.support_units):
                    raise ValidationFailed.field("support_unit_id", "Đơn vị này đã tham gia xử lý phản ánh.")
                r.pending_support_unit_id = support.id
        elif action == Action.APPROVE_PROPOSAL:
            if current == Status.SUPPORT_PROPOSED:
                r.support_units.append(ReportSupportUnit(department_id=r.pending_support_unit_id, note=r.pending_note))
                r.pending_note = ""  # spam / out-of-area keep the reason for the call center
            r.pending_support_unit_id = None
        elif action == Action.REJECT_PROPOSAL:
            r.pending_note, r.pending_support_unit_id = "", None
        elif action == Action.RETURN_FOR_REWORK:
            r.resolved_at = None
        elif action in (Action.CLOSE, Action.CLOSE_SPAM, Action.MARK_SPAM):
            r.closed_at = now
        elif action == Action.REOPEN:
            r.closed_at = r.resolved_at = None
            r.assignee_id = None
        r.status = target.value
    db.flush()
    _history(db, r, p, "auto_dispatch" if p is None else action.value, current.value, data.note or data.result[:500])
    record(db, p, f"report.{action.value}", "report", r.id, organization_id=r.organization_id,
           actor_name="" if p else "hệ thống",
           summary=f"{ACTION_LABELS[action]}: {r.code} ({STATUS_LABELS[current]} → {STATUS_LABELS[target]})")
    notify.on_transition(db, r, action, current)
    return r


def _actor_label(a: Actor) -> str:
    from ketnoi.reports.workflow import ACTOR_LABELS

    return ACTOR_LABELS[a].lower()


# --- presentation helpers -----------------------------------------------------------------------
def deadline_flags(r: Report, now: datetime | None = None) -> tuple[bool, bool]:
    """(overdue, near due) while the unit's clock runs."""
    if r.due_at is None or Status(r.status) not in RUNNING:
        return False, False
    now = now or utcnow()
    near = timedelta(hours=get_settings().report_near_due_hours)
    return r.due_at < now, now <= r.due_at < now + near


def history_label(action: str) -> str:
    try:
        return ACTION_LABELS[Action(action)]
    except ValueError:
        return EXTRA_HISTORY_LABELS.get(action, action)


def to_out(db: Session, r: Report, p: Principal | None = None) -> S.ReportOut:
    area = db.get(Area, r.area_id) if r.area_id else None
    cat = db.get(Category, r.category_id) if r.category_id else None
    unit = db.get(Department, r.unit_id) if r.unit_id else None
    assignee = db.get(User, r.assignee_id) if r.assignee_id else None
    overdue, near = deadline_flags(r)
    out = S.ReportOut.model_validate(r)
    out.status_label = STATUS_LABELS[Status(r.status)]
    out.area_name = area.name if area else ""
    out.category_name = cat.name if cat else ""
    out.unit_name = unit.name if unit else ""
    out.assignee_name = assignee.full_name if assignee else ""
    out.support_units = [S.Ref(id=s.department_id, name=(db.get(Department, s.department_id).name))
                         for s in r.support_units]
    out.overdue, out.near_due = overdue, near
    out.actions = [a.value for a in allowed_actions(p, r)] if p else []
    return out


def history_out(r: Report) -> list[S.HistoryOut]:
    out = []
    for h in r.history:
        item = S.HistoryOut.model_validate(h)
        item.action_label = history_label(h.action)
        out.append(item)
    return out


def progress(db: Session, p: Principal, report_id: str) -> S.ProgressOut:
    """CRM-04: the history as a time-ordered list and as a tree of unit → sub-unit → specialist."""
    r = get_report(db, p, report_id)
    entries = history_out(r)
    roots: list[S.ProgressNode] = []
    units: dict[str, S.ProgressNode] = {}
    specialists: dict[tuple[str, str], S.ProgressNode] = {}
    paths = {d.id: d.path for d in db.scalars(select(Department).where(
        Department.id.in_({e.unit_id for e in entries if e.unit_id})))}
    center = S.ProgressNode(kind="center", id=None, name="Tổng đài tiếp nhận")
    roots.append(center)
    for e in entries:
        if not e.unit_id:
            center.entries.append(e)
            continue
        node = units.get(e.unit_id)
        if node is None:
            node = units[e.unit_id] = S.ProgressNode(kind="unit", id=e.unit_id, name=e.unit_name)
            path = paths.get(e.unit_id, "")
            parent = next((units[u] for u in reversed(list(units)) if u != e.unit_id and path.startswith(
                paths.get(u, "\0"))), None)
            (parent.children if parent else roots).append(node)
        if e.assignee_id and e.action not in ("dispatch", "redispatch", "auto_dispatch", "assign_subunit"):
            key = (e.unit_id, e.assignee_id)
            spec = specialists.get(key)
            if spec is None:
                spec = specialists[key] = S.ProgressNode(kind="specialist", id=e.assignee_id, name=e.assignee_name)
                node.children.append(spec)
            spec.entries.append(e)
        else:
            node.entries.append(e)
    return S.ProgressOut(report_id=r.id, code=r.code, entries=entries, tree=roots)
