"""Console pages that administer citizen reports: auto-dispatch rules (CRM-37), deadlines and the
holiday calendar (PERM-11), and one's own SMS notification settings (PERM-10)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy import select

from ketnoi.catalog.models import Area, Category
from ketnoi.core.errors import DomainError, NotFound, ValidationFailed
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.reports import notify, rules
from ketnoi.reports import schemas as S
from ketnoi.reports.web_common import (
    SECTION,
    area_label,
    category_options,
    names,
    org_options,
    provinces,
    unit_options,
)
from ketnoi.web.crud import Action as RowAction
from ketnoi.web.crud import Column, Field, Filter, Row, bool_filter, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import done_redirect as _done
from ketnoi.web.exports import local_tz as _tz
from ketnoi.web.pages import render

router = APIRouter()


def _area_names(areas) -> str:
    return ", ".join(a.name for a in sorted(areas, key=lambda a: (a.level, a.code)))


# --- dispatch rules (CRM-37) --------------------------------------------------------------------
def _rule_org(db, p: Principal, request: Request, rule=None) -> str | None:
    if rule is not None:
        return rule.organization_id
    if p.organization_id:
        return p.organization_id
    wanted = request.query_params.get("organization_id", "")
    orgs = org_options(db)
    return wanted if any(o == wanted for o, _ in orgs) else (orgs[0][0] if orgs else None)


def _rule_fields(db, p: Principal, org_id: str | None) -> list[Field]:
    return [Field("name", "Tên quy tắc", required=True, maxlength=200),
            Field("department_id", "Đơn vị nhận", "select", required=True, options=unit_options(db, org_id)),
            Field("priority", "Thứ tự áp dụng", "number", default=100,
                  help="Số nhỏ được áp dụng trước khi nhiều quy tắc cùng khớp."),
            Field("is_active", "Đang bật", "checkbox", default=True),
            Field("category_ids", "Lĩnh vực (chọn một hoặc nhiều)", "multiselect", required=True,
                  options=category_options(db, org_id))]


def _rule_form(request, db, p, title, org_id, values, action, errors=None, form_error="", status=200):
    chosen = [a for a in db.scalars(select(Area).where(Area.id.in_(values.get("area_ids") or [])))]
    return render(request, "reports_rule_form.html", p, status=status, title=title, section=SECTION,
                  fields=_rule_fields(db, p, org_id), values=values, errors=errors or {}, form_error=form_error,
                  action=action, cancel_url="/reports/dispatch-rules", org_id=org_id, provinces=provinces(db),
                  orgs=org_options(db) if p.is_sysadmin and action.startswith("/reports/dispatch-rules/new")
                  else [],
                  chosen_areas=[(a.id, area_label(db, a.id)) for a in sorted(chosen, key=lambda a: a.path)])


async def _rule_data(request: Request, fields: list[Field]) -> dict[str, Any]:
    data = await form_data(request, fields)
    form = await request.form()
    data["area_ids"] = list(dict.fromkeys(str(v) for v in form.getlist("area_ids") if v))
    if data.get("department_id") is None:
        data.pop("department_id")
    if not str(data.get("priority") or "").strip():
        data.pop("priority", None)
    return data


def _rule_errors(e: Exception) -> tuple[dict[str, str], str]:
    errors, msg = field_errors(e)
    if "category_ids" in errors and isinstance(e, ValidationError):
        errors["category_ids"] = "Chọn ít nhất một lĩnh vực."
    return errors, msg


@router.get("/reports/dispatch-rules")
def rule_list(request: Request, db: DbDep, p: Principal = console("reports.rules")):
    params = list_params(request)
    page = rules.list_rules(db, p, params, is_active=bool_filter(request.query_params.get("is_active")))
    units = names(db, Department, [x.department_id for x in page.items])
    rows = []
    for x in page.items:
        d = units.get(x.department_id)
        rows.append(Row([x.name, ", ".join(c.name for c in x.categories), _area_names(x.areas) or "Mọi khu vực",
                         f"{d.code} – {d.name}" if d else "", str(x.priority),
                         "Đang bật" if x.is_active else "Đã tắt"],
                        url=f"/reports/dispatch-rules/{x.id}",
                        actions=[RowAction("Sửa", f"/reports/dispatch-rules/{x.id}"),
                                 RowAction("Tắt" if x.is_active else "Bật",
                                           f"/reports/dispatch-rules/{x.id}/toggle", "post"),
                                 RowAction("Xóa", f"/reports/dispatch-rules/{x.id}/delete", "post", cls="danger",
                                           confirm=f"Xóa quy tắc điều phối \"{x.name}\"?")]))
    return render(request, "crud_list.html", p, title="Quy tắc điều phối tự động", section=SECTION, page=page,
                  rows=rows, sort=params.sort or "priority", row_actions=True, search_hint="Tên quy tắc",
                  filters=[Filter("is_active", "Trạng thái", [("1", "Đang bật"), ("0", "Đã tắt")])],
                  columns=[Column("Tên", "name"), Column("Lĩnh vực"), Column("Khu vực"), Column("Đơn vị nhận"),
                           Column("Thứ tự", "priority"), Column("Trạng thái")],
                  new_url="/reports/dispatch-rules/new")


@router.get("/reports/dispatch-rules/new")
def rule_new(request: Request, db: DbDep, p: Principal = console("reports.rules")):
    org_id = _rule_org(db, p, request)
    return _rule_form(request, db, p, "Thêm quy tắc điều phối", org_id, {"is_active": True, "priority": 100},
                      "/reports/dispatch-rules/new" + (f"?organization_id={org_id}" if p.is_sysadmin else ""))


@router.post("/reports/dispatch-rules/new")
async def rule_create(request: Request, db: DbDep, p: Principal = console("reports.rules")):
    org_id = _rule_org(db, p, request)
    fields = _rule_fields(db, p, org_id)
    data = await _rule_data(request, fields)
    try:
        rule = rules.create_rule(db, p, S.DispatchRuleIn.model_validate({**data, "organization_id": org_id}))
    except (ValidationError, DomainError) as e:
        errors, msg = _rule_errors(e)
        db.rollback()
        return _rule_form(request, db, p, "Thêm quy tắc điều phối", org_id, data, str(request.url.path) + (
            f"?organization_id={org_id}" if p.is_sysadmin else ""), errors, msg, 422)
    return _done("/reports/dispatch-rules", f"Đã tạo quy tắc \"{rule.name}\".")


@router.get("/reports/dispatch-rules/{rule_id}")
def rule_edit(rule_id: str, request: Request, db: DbDep, p: Principal = console("reports.rules")):
    rule = rules.get_rule(db, p, rule_id)
    values = {"name": rule.name, "department_id": rule.department_id, "priority": rule.priority,
              "is_active": rule.is_active, "category_ids": [c.id for c in rule.categories],
              "area_ids": [a.id for a in rule.areas]}
    return _rule_form(request, db, p, f"Sửa quy tắc {rule.name}", rule.organization_id, values,
                      f"/reports/dispatch-rules/{rule.id}")


@router.post("/reports/dispatch-rules/{rule_id}")
async def rule_update(rule_id: str, request: Request, db: DbDep, p: Principal = console("reports.rules")):
    rule = rules.get_rule(db, p, rule_id)
    org_id, name = rule.organization_id, rule.name
    data = await _rule_data(request, _rule_fields(db, p, org_id))
    try:
        rules.update_rule(db, p, rule.id, S.DispatchRulePatch.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = _rule_errors(e)
        db.rollback()
        return _rule_form(request, db, p, f"Sửa quy tắc {name}", org_id, data,
                          f"/reports/dispatch-rules/{rule_id}", errors, msg, 422)
    return _done("/reports/dispatch-rules", "Đã lưu quy tắc điều phối.")


@router.post("/reports/dispatch-rules/{rule_id}/toggle")
def rule_toggle(rule_id: str, db: DbDep, p: Principal = console("reports.rules")):
    rule = rules.get_rule(db, p, rule_id)
    rule = rules.update_rule(db, p, rule.id, S.DispatchRulePatch(is_active=not rule.is_active))
    return _done("/reports/dispatch-rules", f"Đã {'bật' if rule.is_active else 'tắt'} quy tắc \"{rule.name}\".")


@router.post("/reports/dispatch-rules/{rule_id}/delete")
def rule_delete(rule_id: str, db: DbDep, p: Principal = console("reports.rules")):
    rules.delete_rule(db, p, rule_id)
    return _done("/reports/dispatch-rules", "Đã xóa quy tắc điều phối.")


# --- deadlines and holidays (PERM-11) -----------------------------------------------------------
def _sla_fields(db, p: Principal, rule=None) -> list[Field]:
    org_id = rule.organization_id if rule else p.organization_id
    fields = []
    if p.is_sysadmin and rule is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db)))
    fields += [Field("category_id", "Lĩnh vực", "select", required=True, readonly=rule is not None,
                     options=category_options(db, org_id, rule.category_id if rule else None)),
               Field("department_id", "Đơn vị xử lý", "select", readonly=rule is not None,
                     options=unit_options(db, org_id), help="Để trống: áp dụng cho mọi đơn vị."),
               Field("hours", "Thời hạn xử lý (giờ)", "number", required=True,
                     help="Số giờ, từ 1 đến 8760. Ví dụ lĩnh vực A: 24 giờ, lĩnh vực B: 8 giờ."),
               Field("working_hours", "Tính theo giờ làm việc (bỏ ngoài giờ, ngày nghỉ, ngày lễ)", "checkbox")]
    return fields


def _sla_form(request, p, title, fields, values, action, errors=None, form_error="", status=200, extras=None):
    return render(request, "crud_form.html", p, status=status, title=title, section=SECTION, fields=fields,
                  values=values, errors=errors or {}, form_error=form_error, action=action,
                  cancel_url="/reports/sla", extras=extras or [])


async def _sla_data(request: Request, fields: list[Field]) -> dict[str, Any]:
    data = await form_data(request, fields)
    for f in fields:
        if f.required and not f.readonly and (data.get(f.name) is None or data.get(f.name) == ""):
            data.pop(f.name, None)
    return data


def _sla_page(request: Request, db, p: Principal, *, errors=None, form_error="", values=None, status=200):
    params = list_params(request, 50)
    page = rules.list_sla(db, p, params, category_id=request.query_params.get("category_id", "")[:64])
    cats = names(db, Category, [x.category_id for x in page.items])
    units = names(db, Department, [x.department_id for x in page.items])
    try:
        year = min(max(int(request.query_params.get("year", "")), 2000), 2100)
    except ValueError:
        year = datetime.now(_tz(request)).year
    holidays = rules.list_holidays(db, p, year)
    return render(request, "reports_sla.html", p, status=status, title="Thời hạn xử lý, lịch làm việc",
                  section=SECTION, page=page, items=page.items, cats=cats, units=units, year=year,
                  holidays=holidays, errors=errors or {}, form_error=form_error, values=values or {},
                  sort=params.sort or "created_at",
                  default_hours=request.app.state.settings.report_default_sla_hours,
                  working=request.app.state.settings.working_hours)


@router.get("/reports/sla")
def sla_page(request: Request, db: DbDep, p: Principal = console("reports.sla")):
    return _sla_page(request, db, p)


@router.post("/reports/sla/holidays")
async def holiday_add(request: Request, db: DbDep, p: Principal = console("reports.sla")):
    form = await request.form()
    values = {"day": str(form.get("day") or "").strip(), "name": str(form.get("name") or "").strip()}
    try:
        h = rules.add_holiday(db, p, S.HolidayIn.model_validate(values))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        if "day" in errors and isinstance(e, ValidationError):
            errors["day"] = "Chọn ngày (định dạng năm-tháng-ngày)."
        return _sla_page(request, db, p, errors=errors, form_error=msg if errors else getattr(e, "detail", msg),
                         values=values, status=422 if isinstance(e, ValidationError) else e.status)
    return _done(f"/reports/sla?year={h.day[:4]}#holidays", f"Đã thêm ngày nghỉ {h.day}.")


@router.post("/reports/sla/holidays/{holiday_id}/delete")
def holiday_delete(holiday_id: str, db: DbDep, p: Principal = console("reports.sla")):
    try:
        rules.delete_holiday(db, p, holiday_id)
    except NotFound as e:
        db.rollback()
        return _done("/reports/sla#holidays", e.detail, error=True)
    return _done("/reports/sla#holidays", "Đã xóa ngày nghỉ.")


@router.get("/reports/sla/new")
def sla_new(request: Request, db: DbDep, p: Principal = console("reports.sla")):
    return _sla_form(request, p, "Thêm thời hạn xử lý", _sla_fields(db, p), {}, "/reports/sla/new")


@router.post("/reports/sla/new")
async def sla_create(request: Request, db: DbDep, p: Principal = console("reports.sla")):
    fields = _sla_fields(db, p)
    data = await _sla_data(request, fields)
    try:
        rules.create_sla(db, p, S.SlaRuleIn.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _sla_form(request, p, "Thêm thời hạn xử lý", fields, data, "/reports/sla/new", errors, msg, 422)
    return _done("/reports/sla", "Đã lưu thời hạn xử lý.")


def _sla_extras(rule) -> list[dict[str, str]]:
    return [{"title": "Xóa thời hạn", "text": "Phản ánh mới của lĩnh vực sẽ theo thời hạn chung hoặc mặc định.",
             "label": "Xóa", "url": f"/reports/sla/{rule.id}/delete", "cls": "danger",
             "confirm": "Xóa thời hạn xử lý này?"}]


@router.get("/reports/sla/{rule_id}")
def sla_edit(rule_id: str, request: Request, db: DbDep, p: Principal = console("reports.sla")):
    rule = rules.get_sla(db, p, rule_id)
    values = {"category_id": rule.category_id, "department_id": rule.department_id, "hours": rule.hours,
              "working_hours": rule.working_hours}
    return _sla_form(request, p, "Sửa thời hạn xử lý", _sla_fields(db, p, rule), values, f"/reports/sla/{rule.id}",
                     extras=_sla_extras(rule))


@router.post("/reports/sla/{rule_id}")
async def sla_update(rule_id: str, request: Request, db: DbDep, p: Principal = console("reports.sla")):
    rule = rules.get_sla(db, p, rule_id)
    fields = _sla_fields(db, p, rule)
    data = await _sla_data(request, fields)
    try:
        if "hours" not in data:  # the patch model reads a missing value as "unchanged"
            raise ValidationFailed.field("hours", "Bắt buộc nhập.")
        rules.update_sla(db, p, rule.id, S.SlaRulePatch.model_validate(data))
        db.flush()
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        rule = rules.get_sla(db, p, rule_id)
        data.update(category_id=rule.category_id, department_id=rule.department_id)
        return _sla_form(request, p, "Sửa thời hạn xử lý", fields, data, f"/reports/sla/{rule_id}", errors, msg,
                         422, extras=_sla_extras(rule))
    return _done("/reports/sla", "Đã lưu thời hạn xử lý.")


@router.post("/reports/sla/{rule_id}/delete")
def sla_delete(rule_id: str, db: DbDep, p: Principal = console("reports.sla")):
    rules.delete_sla(db, p, rule_id)
    return _done("/reports/sla", "Đã xóa thời hạn xử lý.")


# --- my SMS notification settings (PERM-10) -----------------------------------------------------
NOTIFY_FIELDS = [
    Field("on_assignment", "Nhận SMS khi có phản ánh chờ tôi phân công", "checkbox"),
    Field("on_processing", "Nhận SMS khi có phản ánh chờ tôi xử lý", "checkbox"),
    Field("on_approval", "Nhận SMS khi có phản ánh chờ tôi phê duyệt", "checkbox"),
    Field("template", "Nội dung tin nhắn", "textarea", maxlength=320,
          help="Để trống để dùng mẫu mặc định: " + notify.DEFAULT_TEMPLATE
               + " Các biến dùng được: {code}, {title}, {task}, {due}, {unit}."),
]


def _notify_page(request, p, values, errors=None, form_error="", status=200):
    return render(request, "crud_form.html", p, status=status, title="Cài đặt nhận SMS thông báo",
                  section="Tài khoản",
                  fields=NOTIFY_FIELDS, values=values, errors=errors or {}, form_error=form_error,
                  action="/account/notifications", cancel_url="/",
                  notice="SMS được gửi tới số điện thoại trong thông tin cá nhân của bạn.")


@router.get("/account/notifications")
def notifications_page(request: Request, db: DbDep, p: Principal = console(None)):
    s = rules.get_notification_setting(db, p)
    return _notify_page(request, p, {f.name: getattr(s, f.name) for f in NOTIFY_FIELDS})


@router.post("/account/notifications")
async def notifications_save(request: Request, db: DbDep, p: Principal = console(None)):
    data = await form_data(request, NOTIFY_FIELDS)
    try:
        rules.save_notification_setting(db, p, S.NotificationSettingIn.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _notify_page(request, p, data, errors, msg, 422)
    return _done("/account/notifications", "Đã lưu cài đặt nhận SMS thông báo.")
