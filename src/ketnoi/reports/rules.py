"""Auto-dispatch rules (CRM-37/38), deadlines per category and unit (PERM-11), the working
calendar's holidays, and per-user SMS notification settings (PERM-10)."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.catalog.models import Area, Category
from ketnoi.core.errors import Conflict, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.identity.service import organization_for_write
from ketnoi.reports import notify
from ketnoi.reports import schemas as S
from ketnoi.reports.models import DispatchRule, Holiday, NotificationSetting, Report, SlaRule
from ketnoi.reports.workflow import Action, Status


# --- auto-dispatch ------------------------------------------------------------------------------
def _ancestors(db: Session, model, obj_id: str | None) -> list[str]:
    out = []
    while obj_id and obj_id not in out:
        out.append(obj_id)
        obj = db.get(model, obj_id)
        obj_id = obj.parent_id if obj else None
    return out


def matching_rule(db: Session, r: Report) -> DispatchRule | None:
    """The first active rule (by priority) naming the report's category (or a parent category)
    and, when the rule lists areas, the report's area (or an area containing it)."""
    if not r.category_id:
        return None
    cats = set(_ancestors(db, Category, r.category_id))
    areas = set(_ancestors(db, Area, r.area_id))
    rules = db.scalars(select(DispatchRule).where(DispatchRule.organization_id == r.organization_id,
                                                  DispatchRule.is_active.is_(True))
                       .order_by(DispatchRule.priority, DispatchRule.created_at)).all()
    for rule in rules:
        if not cats & {c.id for c in rule.categories}:
            continue
        if rule.areas and not areas & {a.id for a in rule.areas}:
            continue
        return rule
    return None


def auto_dispatch(db: Session, r: Report) -> DispatchRule | None:
    if r.status != Status.NEW.value:
        return None
    rule = matching_rule(db, r)
    if rule is None:
        return None
    from ketnoi.reports.service import transition

    transition(db, None, r, S.TransitionIn(action=Action.DISPATCH, unit_id=rule.department_id,
                                           note=f"Theo quy tắc điều phối tự động \"{rule.name}\""))
    return rule


def _rule_out(rule: DispatchRule) -> S.DispatchRuleOut:
    out = S.DispatchRuleOut.model_validate(rule)
    out.category_ids = [c.id for c in rule.categories]
    out.area_ids = [a.id for a in rule.areas]
    return out


def _rule_snapshot(rule: DispatchRule) -> dict:
    d = snapshot(rule, ("name", "department_id", "is_active", "priority"))
    d["category_ids"] = sorted(c.id for c in rule.categories)
    d["area_ids"] = sorted(a.id for a in rule.areas)
    return d


def _resolve(db: Session, org_id: str, department_id: str | None, category_ids: list[str] | None,
             area_ids: list[str] | None):
    dept = None
    if department_id is not None:
        dept = db.get(Department, department_id)
        if dept is None or dept.organization_id != org_id:
            raise ValidationFailed.field("department_id", "Đơn vị nhận không hợp lệ.")
    cats = None
    if category_ids is not None:
        ids = list(dict.fromkeys(category_ids))
        cats = list(db.scalars(select(Category).where(Category.id.in_(ids), Category.organization_id == org_id)))
        if len(cats) != len(ids):
            raise ValidationFailed.field("category_ids", "Có lĩnh vực không tồn tại.")
    areas = None
    if area_ids is not None:
        ids = list(dict.fromkeys(area_ids))
        areas = list(db.scalars(select(Area).where(Area.id.in_(ids)))) if ids else []
        if len(areas) != len(ids):
            raise ValidationFailed.field("area_ids", "Có khu vực không tồn tại.")
    return dept, cats, areas


def list_rules(db: Session, p: Principal, params: ListParams, *, is_active: bool | None = None) -> Page:
    stmt = select(DispatchRule)
    if not p.is_sysadmin:
        stmt = stmt.where(DispatchRule.organization_id == p.organization_id)
    if is_active is not None:
        stmt = stmt.where(DispatchRule.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [DispatchRule.name])
    return paginate(db, stmt, params, {"name": DispatchRule.name, "priority": DispatchRule.priority,
                                       "created_at": DispatchRule.created_at}, "priority")


def get_rule(db: Session, p: Principal, rule_id: str) -> DispatchRule:
    rule = db.get(DispatchRule, rule_id)
    if rule is None or not p.sees_organization(rule.organization_id):
        raise NotFound("Không tìm thấy quy tắc điều phối.")
    return rule


def create_rule(db: Session, p: Principal, data: S.DispatchRuleIn) -> DispatchRule:
    org_id = organization_for_write(p, data.organization_id)
    dept, cats, areas = _resolve(db, org_id, data.department_id, data.category_ids, data.area_ids)
    rule = DispatchRule(organization_id=org_id, name=data.name, department_id=dept.id, is_active=data.is_active,
                        priority=data.priority, categories=cats, areas=areas)
    db.add(rule)
    db.flush()
    record(db, p, "dispatch_rule.created", "dispatch_rule", rule.id, after=_rule_snapshot(rule),
           organization_id=org_id, summary=f"Tạo quy tắc điều phối {rule.name}")
    return rule


def update_rule(db: Session, p: Principal, rule_id: str, data: S.DispatchRulePatch) -> DispatchRule:
    rule = get_rule(db, p, rule_id)
    before = _rule_snapshot(rule)
    dept, cats, areas = _resolve(db, rule.organization_id, data.department_id, data.category_ids, data.area_ids)
    if dept is not None:
        rule.department_id = dept.id
    if cats is not None:
        rule.categories = cats
    if areas is not None:
        rule.areas = areas
    if data.name is not None:
        rule.name = data.name
    if data.is_active is not None:
        rule.is_active = data.is_active
    if data.priority is not None:
        rule.priority = data.priority
    db.flush()
    record(db, p, "dispatch_rule.updated", "dispatch_rule", rule.id, before=before, after=_rule_snapshot(rule),
           organization_id=rule.organization_id, summary=f"Sửa quy tắc điều phối {rule.name}")
    return rule


def delete_rule(db: Session, p: Principal, rule_id: str) -> None:
    rule = get_rule(db, p, rule_id)
    record(db, p, "dispatch_rule.deleted", "dispatch_rule", rule.id, before=_rule_snapshot(rule),
           organization_id=rule.organization_id, summary=f"Xóa quy tắc điều phối {rule.name}")
    db.delete(rule)


rule_out = _rule_out


# --- SLA rules ----------------------------------------------------------------------------------
def list_sla(db: Session, p: Principal, params: ListParams, *, category_id: str = "") -> Page:
    stmt = select(SlaRule)
    if not p.is_sysadmin:
        stmt = stmt.where(SlaRule.organization_id == p.organization_id)
    if category_id:
        stmt = stmt.where(SlaRule.category_id == category_id)
    return paginate(db, stmt, params, {"hours": SlaRule.hours, "created_at": SlaRule.created_at}, "created_at")


def get_sla(db: Session, p: Principal, rule_id: str) -> SlaRule:
    rule = db.get(SlaRule, rule_id)
    if rule is None or not p.sees_organization(rule.organization_id):
        raise NotFound("Không tìm thấy thời hạn xử lý.")
    return rule


def create_sla(db: Session, p: Principal, data: S.SlaRuleIn) -> SlaRule:
    org_id = organization_for_write(p, data.organization_id)
    cat = db.get(Category, data.category_id)
    if cat is None or cat.organization_id != org_id:
        raise ValidationFailed.field("category_id", "Lĩnh vực không tồn tại.")
    if data.department_id:
        d = db.get(Department, data.department_id)
        if d is None or d.organization_id != org_id:
            raise ValidationFailed.field("department_id", "Đơn vị không hợp lệ.")
    dup = select(SlaRule.id).where(SlaRule.organization_id == org_id, SlaRule.category_id == data.category_id)
    dup = dup.where(SlaRule.department_id == data.department_id) if data.department_id else dup.where(
        SlaRule.department_id.is_(None))
    if db.scalar(dup):
        raise Conflict("Đã có thời hạn cho lĩnh vực và đơn vị này; hãy sửa thời hạn hiện có.")
    rule = SlaRule(organization_id=org_id, category_id=data.category_id, department_id=data.department_id,
                   hours=data.hours, working_hours=data.working_hours)
    db.add(rule)
    db.flush()
    record(db, p, "sla_rule.created", "sla_rule", rule.id,
           after=snapshot(rule, ("category_id", "department_id", "hours", "working_hours")), organization_id=org_id,
           summary=f"Đặt thời hạn {rule.hours} giờ cho lĩnh vực {cat.name}")
    return rule


def update_sla(db: Session, p: Principal, rule_id: str, data: S.SlaRulePatch) -> SlaRule:
    rule = get_sla(db, p, rule_id)
    fields = ("hours", "working_hours")
    before = snapshot(rule, fields)
    if data.hours is not None:
        rule.hours = data.hours
    if data.working_hours is not None:
        rule.working_hours = data.working_hours
    record(db, p, "sla_rule.updated", "sla_rule", rule.id, before=before, after=snapshot(rule, fields),
           organization_id=rule.organization_id, summary="Sửa thời hạn xử lý")
    return rule


def delete_sla(db: Session, p: Principal, rule_id: str) -> None:
    rule = get_sla(db, p, rule_id)
    record(db, p, "sla_rule.deleted", "sla_rule", rule.id, before=snapshot(rule, ("category_id", "department_id",
                                                                                  "hours", "working_hours")),
           organization_id=rule.organization_id, summary="Xóa thời hạn xử lý")
    db.delete(rule)


# --- holidays -----------------------------------------------------------------------------------
def ensure_default_holidays(db: Session) -> int:
    from ketnoi.reports.sla import default_holidays

    have = {d for (d,) in db.execute(select(Holiday.day).where(Holiday.organization_id.is_(None)))}
    added = 0
    for day, name in default_holidays():
        if day not in have:
            db.add(Holiday(organization_id=None, day=day, name=name))
            added += 1
    return added


def list_holidays(db: Session, p: Principal, year: int | None = None) -> list[Holiday]:
    stmt = select(Holiday).where((Holiday.organization_id.is_(None)) | (Holiday.organization_id == p.organization_id))
    if year:
        stmt = stmt.where(Holiday.day.startswith(f"{year:04d}-"))
    return list(db.scalars(stmt.order_by(Holiday.day)))


def add_holiday(db: Session, p: Principal, data: S.HolidayIn) -> Holiday:
    try:
        date.fromisoformat(data.day)
    except ValueError:
        raise ValidationFailed.field("day", "Ngày không hợp lệ.")
    org_id = None if p.is_sysadmin else p.organization_id
    q = select(Holiday.id).where(Holiday.day == data.day)
    q = q.where(Holiday.organization_id.is_(None)) if org_id is None else q.where(Holiday.organization_id == org_id)
    if db.scalar(q):
        raise Conflict("Ngày này đã có trong lịch nghỉ.")
    h = Holiday(organization_id=org_id, day=data.day, name=data.name)
    db.add(h)
    db.flush()
    record(db, p, "holiday.created", "holiday", h.id, after={"day": h.day, "name": h.name},
           summary=f"Thêm ngày nghỉ {h.day} ({h.name})")
    return h


def delete_holiday(db: Session, p: Principal, holiday_id: str) -> None:
    h = db.get(Holiday, holiday_id)
    if h is None or (h.organization_id is None and not p.is_sysadmin) or (
            h.organization_id is not None and not p.sees_organization(h.organization_id)):
        raise NotFound("Không tìm thấy ngày nghỉ (ngày nghỉ toàn quốc chỉ quản trị hệ thống xóa được).")
    record(db, p, "holiday.deleted", "holiday", h.id, before={"day": h.day, "name": h.name},
           summary=f"Xóa ngày nghỉ {h.day}")
    db.delete(h)


# --- notification settings (PERM-10) ------------------------------------------------------------
def get_notification_setting(db: Session, p: Principal) -> NotificationSetting:
    s = db.scalar(select(NotificationSetting).where(NotificationSetting.user_id == p.user_id))
    return s or NotificationSetting(user_id=p.user_id, on_assignment=False, on_processing=False, on_approval=False,
                                    template="")


def save_notification_setting(db: Session, p: Principal, data: S.NotificationSettingIn) -> NotificationSetting:
    if data.template:
        notify.check_template(data.template)
    if (data.on_assignment or data.on_processing or data.on_approval):
        from ketnoi.identity.models import User

        if not db.get(User, p.user_id).phone:
            raise ValidationFailed.field("on_assignment", "Cập nhật số điện thoại trong thông tin cá nhân để nhận SMS.")
    s = db.scalar(select(NotificationSetting).where(NotificationSetting.user_id == p.user_id))
    fields = ("on_assignment", "on_processing", "on_approval", "template")
    before = snapshot(s, fields) if s else None
    if s is None:
        s = NotificationSetting(user_id=p.user_id)
        db.add(s)
    for f in fields:
        setattr(s, f, getattr(data, f))
    db.flush()
    record(db, p, "notification_setting.saved", "user", p.user_id, before=before, after=snapshot(s, fields),
           summary="Cập nhật cài đặt nhận SMS thông báo")
    return s
