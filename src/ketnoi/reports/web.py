"""Console pages of citizen reports: the lists with their views, filters and export (CRM-03, 30, 34…36),
create/edit/delete (CRM-11, 31), the detail with the workflow actions, map and attachments and the
processing progress (CRM-04, 12…19, 32, 33, 38), auto-dispatch rules (CRM-37), deadlines and the
holiday calendar (PERM-11), one's SMS settings (PERM-10) and the dashboard. Each page parses the
request, calls service/queries/rules/stats, and renders; the rules live there."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from ketnoi.catalog.models import Area, Category
from ketnoi.core import listing
from ketnoi.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import Page
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Department, Organization, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import permissions_of
from ketnoi.reports import attachments, notify, queries, rules, service, stats
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report
from ketnoi.reports.schemas import CHANNEL_LABELS, PRIORITY_LABELS
from ketnoi.reports.workflow import ACTION_LABELS, FINAL, STATUS_LABELS, TRANSITIONS, Action, Status
from ketnoi.web.crud import Action as RowAction
from ketnoi.web.crud import Column, Field, Filter, Row, bool_filter, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import done_redirect as _done
from ketnoi.web.exports import local_tz as _tz
from ketnoi.web.exports import parse_day as _day
from ketnoi.web.pages import render

router = APIRouter()
SECTION = "Phản ánh, kiến nghị"
SCHEME_LABELS = {"2025": "Đơn vị hành chính từ 2025", "legacy": "Đơn vị hành chính trước 2025"}
LIST_COLUMNS = [Column("Mã", "code"), Column("Tiếp nhận", "received_at"), Column("Tiêu đề", "title"),
                Column("Lĩnh vực"), Column("Khu vực"), Column("Đơn vị xử lý"), Column("Trạng thái", "status"),
                Column("Hạn xử lý", "due_at"), Column("Ưu tiên", "priority")]
STALE = "Phản ánh vừa được người khác cập nhật; hãy tải lại trang rồi thử lại."


# --- small helpers ------------------------------------------------------------------------------
def _tree(rows: list, key=lambda x: x.code.lower()) -> list[tuple[Any, int]]:
    """Rows with ``id``/``parent_id`` in tree order with their depth (parents before children)."""
    ids = {r.id for r in rows}
    children: dict[str | None, list] = {}
    for r in rows:
        children.setdefault(r.parent_id if r.parent_id in ids else None, []).append(r)
    out: list[tuple[Any, int]] = []

    def walk(parent: str | None, depth: int) -> None:
        for r in sorted(children.get(parent, []), key=key):
            out.append((r, depth))
            walk(r.id, depth + 1)

    walk(None, 0)
    return out


def _org_codes(db) -> dict[str, str]:
    return {o.id: o.code for o in db.scalars(select(Organization))}


def _org_options(db) -> list[tuple[str, str]]:
    return [(o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))]


def _category_options(db, org_id: str | None, keep: str | None = None) -> list[tuple[str, str]]:
    """Active categories of the organization (all organizations for a system administrator), as a tree."""
    stmt = select(Category)
    if org_id:
        stmt = stmt.where(Category.organization_id == org_id)
    orgs = {} if org_id else _org_codes(db)
    out = []
    for c, depth in _tree(list(db.scalars(stmt)), key=lambda c: (c.sort_order, c.code.lower())):
        if c.is_active or c.id == keep:
            prefix = f"[{orgs.get(c.organization_id, '')}] " if orgs and depth == 0 else ""
            out.append((c.id, "— " * depth + prefix + c.name + ("" if c.is_active else " (ngừng sử dụng)")))
    return out


def _unit_options(db, org_id: str | None, *, under: str = "", exclude: tuple = ()) -> list[tuple[str, str]]:
    stmt = select(Department).where(Department.is_active.is_(True))
    if org_id:
        stmt = stmt.where(Department.organization_id == org_id)
    if under:
        stmt = stmt.where(Department.path.startswith(under))
    orgs = {} if org_id else _org_codes(db)
    return [(d.id, "— " * depth + (f"[{orgs.get(d.organization_id, '')}] " if orgs and depth == 0 else "")
             + f"{d.code} – {d.name}") for d, depth in _tree(list(db.scalars(stmt))) if d.id not in exclude]


def _specialist_options(db, r: Report) -> list[tuple[str, str]]:
    """Active users of the handling unit's subtree who hold reports.process."""
    users = db.scalars(select(User).join(Department, User.department_id == Department.id).where(
        User.organization_id == r.organization_id, User.is_active.is_(True),
        Department.path.startswith(r.unit_path or "/-/")).order_by(User.full_name))
    return [(u.id, f"{u.full_name} ({u.username})") for u in users if "reports.process" in permissions_of(db, u)]


def _provinces(db) -> list[tuple[str, list[tuple[str, str]]]]:
    rows = db.scalars(select(Area).where(Area.parent_id.is_(None), Area.is_active.is_(True))
                      .order_by(Area.scheme, Area.code)).all()
    groups: dict[str, list[tuple[str, str]]] = {}
    for a in rows:
        groups.setdefault(a.scheme, []).append((a.id, a.name))
    return [(SCHEME_LABELS.get(s, s), opts) for s, opts in sorted(groups.items())]


@dataclass
class _AreaNode:
    id: str
    parent_id: str | None  # None for the province's own children: the roots of the picker's tree
    area: Area


def _area_descendants(db, province_id: str | None) -> list[tuple[str, str]]:
    """Districts and wards of a province, indented, for the pickers."""
    prov = db.get(Area, province_id) if province_id else None
    if prov is None or prov.parent_id is not None:
        return []
    inside = Area.path.startswith(prov.path) if prov.path else Area.parent_id == prov.id
    rows = list(db.scalars(select(Area).where(inside, Area.id != prov.id, Area.is_active.is_(True))))
    tree = _tree([_AreaNode(a.id, None if a.parent_id == prov.id else a.parent_id, a) for a in rows],
                 key=lambda n: n.area.code)
    return [(n.id, "— " * depth + n.area.name) for n, depth in tree]


def _province_of(db, area_id: str | None) -> str | None:
    a = db.get(Area, area_id) if area_id else None
    if a is None:
        return None
    ids = [i for i in a.path.strip("/").split("/") if i]
    return ids[0] if ids else a.id


def _area_label(db, area_id: str | None) -> str:
    a = db.get(Area, area_id) if area_id else None
    if a is None:
        return ""
    ids = [i for i in a.path.strip("/").split("/") if i] or [a.id]
    by_id = {x.id: x.name for x in db.scalars(select(Area).where(Area.id.in_(ids)))}
    return ", ".join(by_id[i] for i in reversed(ids) if i in by_id)


def _area_names(areas) -> str:
    return ", ".join(a.name for a in sorted(areas, key=lambda a: (a.level, a.code)))


# --- area pickers (HTMX) ------------------------------------------------------------------------
def _area_options_response(request: Request, db, multi: bool) -> HTMLResponse:
    qp = request.query_params
    province = qp.get("area_province") or qp.get("pick_province") or ""
    prov = db.get(Area, province) if province else None
    return render(request, "reports_area_options.html", None, multi=multi, province=prov,
                  options=_area_descendants(db, province), selected=qp.getlist("area_ids"))


@router.get("/reports/areas/options")
def area_options(request: Request, db: DbDep, p: Principal = console("reports.read")):
    """Wards (and districts) of a province for the report form."""
    return _area_options_response(request, db, multi=False)


@router.get("/reports/dispatch-rules/areas")
def rule_area_options(request: Request, db: DbDep, p: Principal = console("reports.rules")):
    """Checkboxes of a province and its wards for a dispatch rule."""
    return _area_options_response(request, db, multi=True)


# --- report lists -------------------------------------------------------------------------------
def _filters(request: Request) -> queries.ReportFilters:
    qp = request.query_params
    tz = _tz(request)
    until = _day(qp.get("until"), tz)
    channel = qp.get("channel", "")
    return queries.ReportFilters(
        view=qp.get("view") or "all", status=qp.get("status", "")[:300],
        category_id=qp.get("category_id", "")[:64],
        area_id=qp.get("area_id", "")[:64], unit_id=qp.get("unit_id", "")[:64],
        channel=channel if channel in CHANNEL_LABELS else "", since=_day(qp.get("since"), tz),
        until=until + timedelta(days=1) if until else None, overdue=bool_filter(qp.get("overdue")))


def _names(db, model, ids) -> dict[str, Any]:
    ids = {i for i in ids if i}
    return {x.id: x for x in db.scalars(select(model).where(model.id.in_(ids)))} if ids else {}


def _list_rows(db, items: list[Report]) -> list[dict[str, Any]]:
    cats = _names(db, Category, [r.category_id for r in items])
    areas = _names(db, Area, [r.area_id for r in items])
    units = _names(db, Department, [r.unit_id for r in items])
    now = utcnow()
    out = []
    for r in items:
        overdue, near = service.deadline_flags(r, now)
        out.append({"r": r, "category": cats[r.category_id].name if r.category_id in cats else "",
                    "area": areas[r.area_id].name if r.area_id in areas else "",
                    "unit": units[r.unit_id].name if r.unit_id in units else "",
                    "status": STATUS_LABELS[Status(r.status)],
                    "priority": PRIORITY_LABELS.get(r.priority, r.priority),
                    "overdue": overdue, "near_due": near})
    return out


def _export_params(f: queries.ReportFilters, q: str, sort: str) -> list[tuple[str, str]]:
    """The list's filters as /reports/export.xlsx reads them (the API's names; times with offset)."""
    out = [(k, v) for k, v in (("view", f.view), ("status", f.status), ("category_id", f.category_id),
                               ("area_id", f.area_id), ("unit_id", f.unit_id), ("channel", f.channel),
                               ("since", f.since.isoformat() if f.since else ""),
                               ("until", f.until.isoformat() if f.until else ""),
                               ("overdue", "" if f.overdue is None else str(f.overdue).lower()),
                               ("q", q), ("sort", sort)) if v]
    return out


@router.get("/reports")
def report_list(request: Request, db: DbDep, p: Principal = console("reports.read")):
    params = list_params(request)
    f = _filters(request)
    error = ""
    try:
        page = queries.list_reports(db, p, params, f)
    except DomainError as e:
        db.rollback()
        error, page = e.detail, Page([], 1, params.page_size, 0)
    ctx = {"page": page, "rows": _list_rows(db, page.items), "sort": params.sort or "-received_at",
           "columns": LIST_COLUMNS, "view": f.view, "list_error": error, "can_export": p.has("reports.export")}
    if request.headers.get("HX-Request") and request.headers.get("HX-Target") == "report-list":
        return render(request, "reports_table.html", p, **ctx)
    cap = listing.COUNT_CAP  # the tabs count up to the cap too: "10.000+"
    counts = queries.counts_by_view(db, p, cap=cap)
    views = [(k, label, f"{cap:,}+".replace(",", ".") if counts.get(k, 0) > cap else counts.get(k, 0))
             for k, label in queries.VIEWS.items() if k != "unit" or p.department_id]
    org = p.organization_id
    filters = [
        Filter("status", "Trạng thái", [(s.value, STATUS_LABELS[s]) for s in Status]),
        Filter("category_id", "Lĩnh vực", _category_options(db, org, keep=f.category_id)),
        Filter("unit_id", "Đơn vị", _unit_options(db, org, under=p.unit_path or "")),
        Filter("channel", "Kênh", list(CHANNEL_LABELS.items())),
        Filter("overdue", "Hạn xử lý", [("1", "Quá hạn"), ("0", "Chưa quá hạn")]),
    ]
    title = queries.VIEWS.get(f.view, "Phản ánh")
    export_params = _export_params(f, params.q, params.sort)
    return render(request, "reports_list.html", p, title=title, section=SECTION, views=views, filters=filters,
                  provinces=_provinces(db), area=db.get(Area, f.area_id) if f.area_id else None,
                  export_params=export_params, new_url="/reports/new" if p.has("reports.create") else "", **ctx)


# --- create / edit / delete ---------------------------------------------------------------------
def _report_fields(db, p: Principal, r: Report | None = None) -> list[Field]:
    org_id = r.organization_id if r else p.organization_id
    fields = []
    if p.is_sysadmin and r is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=_org_options(db)))
    fields += [
        Field("title", "Tiêu đề", required=True, wide=True, maxlength=300),
        Field("content", "Nội dung phản ánh", "textarea", required=True),
        Field("channel", "Kênh tiếp nhận", "select", required=True, options=list(CHANNEL_LABELS.items())),
        Field("priority", "Mức độ ưu tiên", "select", required=True, options=list(PRIORITY_LABELS.items()),
              default="normal"),
        Field("category_id", "Lĩnh vực", "select",
              options=_category_options(db, org_id, r.category_id if r else None)),
        Field("citizen_name", "Họ tên người phản ánh", maxlength=200),
        Field("citizen_phone", "Số điện thoại", "tel", maxlength=20, help="Ví dụ 0905123456 hoặc +84905123456."),
        Field("citizen_email", "Email", "email", maxlength=200),
        Field("citizen_address", "Địa chỉ", wide=True, maxlength=500),
        Field("latitude", "Vĩ độ", help="Ví dụ 16.0678 (từ −90 đến 90)."),
        Field("longitude", "Kinh độ", help="Ví dụ 108.2208 (từ −180 đến 180)."),
    ]
    return fields


async def _report_data(request: Request, fields: list[Field]) -> dict[str, Any]:
    data = await form_data(request, fields)
    form = await request.form()
    data["area_province"] = str(form.get("area_province") or "") or None
    data["area_id"] = str(form.get("area_id") or "") or data["area_province"]
    for k in ("latitude", "longitude"):
        v = (data.get(k) or "").strip().replace(",", ".")
        data[k] = v or None
    for f in fields:  # an unchosen required select reads "required", not "not in the list"
        if f.required and f.kind == "select" and data.get(f.name) is None:
            data.pop(f.name, None)
    return data


def _report_form(request, db, p, title, fields, values, action, cancel, errors=None, form_error="", status=200):
    province = values.get("area_province") or _province_of(db, values.get("area_id"))
    return render(request, "reports_form.html", p, status=status, title=title, section=SECTION, fields=fields,
                  values=values, errors=errors or {}, form_error=form_error, action=action, cancel_url=cancel,
                  provinces=_provinces(db), province=province, wards=_area_descendants(db, province))


@router.get("/reports/new")
def report_new(request: Request, db: DbDep, p: Principal = console("reports.create")):
    return _report_form(request, db, p, "Tiếp nhận phản ánh", _report_fields(db, p), {"priority": "normal"},
                        "/reports/new", "/reports")


@router.post("/reports/new")
async def report_create(request: Request, db: DbDep, p: Principal = console("reports.create")):
    fields = _report_fields(db, p)
    data = await _report_data(request, fields)
    try:
        r = service.create_report(db, p, S.ReportIn.model_validate(data))
    except (ValidationError, DomainError) as e:
        errors, msg = field_errors(e)
        db.rollback()
        return _report_form(request, db, p, "Tiếp nhận phản ánh", fields, data, "/reports/new", "/reports", errors,
                            msg, 422 if isinstance(e, ValidationError) else e.status)
    msg = f"Đã tiếp nhận phản ánh {r.code}."
    if r.status == Status.DISPATCHED.value:
        unit = db.get(Department, r.unit_id)
        msg += f" Đã tự động điều phối tới {unit.name if unit else 'đơn vị xử lý'}."
    return _done(f"/reports/{r.id}", msg)


def _edit_values(r: Report) -> dict[str, Any]:
    values = {f: getattr(r, f) for f in service.EDITABLE_FIELDS}
    values["version"] = r.version
    return values


@router.get("/reports/{report_id}/edit")
def report_edit(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.create")):
    r = service.get_report(db, p, report_id)
    return _report_form(request, db, p, f"Sửa phản ánh {r.code}", _report_fields(db, p, r), _edit_values(r),
                        f"/reports/{r.id}/edit", f"/reports/{r.id}")


@router.post("/reports/{report_id}/edit")
async def report_update(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.create")):
    r = service.get_report(db, p, report_id)
    fields = _report_fields(db, p, r)
    data = await _report_data(request, fields)
    form = await request.form()
    data["version"] = str(form.get("version") or "") or None
    title, url = f"Sửa phản ánh {r.code}", f"/reports/{r.id}/edit"
    try:
        patch = S.ReportPatch.model_validate({k: v for k, v in data.items() if k != "area_province"})
        service.update_report(db, p, r.id, patch)
        db.flush()
    except (ValidationError, DomainError, StaleDataError) as e:
        db.rollback()
        if isinstance(e, StaleDataError):
            errors, msg, status = {}, STALE, 409
        else:
            errors, msg = field_errors(e)
            status = 422 if isinstance(e, ValidationError) else e.status
        return _report_form(request, db, p, title, fields, data, url, f"/reports/{report_id}", errors, msg, status)
    return _done(f"/reports/{r.id}", "Đã lưu phản ánh.")


@router.post("/reports/{report_id}/delete")
def report_delete(report_id: str, db: DbDep, p: Principal = console("reports.delete")):
    try:
        service.delete_report(db, p, report_id)
    except (Conflict, Forbidden) as e:
        db.rollback()
        return _done(f"/reports/{report_id}", "Không xóa được: " + e.detail, error=True)
    return _done("/reports", "Đã xóa phản ánh.")


# --- detail, popup, workflow actions ------------------------------------------------------------
def _action_forms(db, p: Principal, r: Report) -> list[dict[str, Any]]:
    """One small form per action the user may take now (CRM-12…19, 32, 33)."""
    forms = []
    for a in service.allowed_actions(p, r):
        t = TRANSITIONS[a]
        fields: list[Field] = []
        if a in (Action.DISPATCH, Action.REDISPATCH):
            exclude = (r.unit_id,) if a == Action.REDISPATCH else ()
            fields.append(Field("unit_id", "Đơn vị xử lý", "select", required=True,
                                options=_unit_options(db, r.organization_id, exclude=exclude)))
        elif a == Action.ASSIGN_SUBUNIT:
            fields.append(Field("unit_id", "Đơn vị cấp dưới", "select", required=True,
                                options=_unit_options(db, r.organization_id, under=r.unit_path,
                                                      exclude=(r.unit_id,))))
        elif a == Action.ASSIGN_SPECIALIST:
            fields.append(Field("assignee_id", "Chuyên viên xử lý", "select", required=True,
                                options=_specialist_options(db, r)))
        elif a == Action.SUBMIT_RESULT:
            fields.append(Field("result", "Kết quả xử lý", "textarea", required=True))
        elif a == Action.PROPOSE_SUPPORT:
            fields.append(Field("support_unit_id", "Đơn vị hỗ trợ", "select", required=True,
                                options=_unit_options(db, r.organization_id, exclude=(r.unit_id,))))
        fields.append(Field("note", "Ghi chú, lý do" if t.note_required else "Ghi chú", "textarea",
                            required=t.note_required))
        danger = a in (Action.MARK_SPAM, Action.PROPOSE_SPAM, Action.RETURN_FOR_REWORK, Action.REJECT_PROPOSAL)
        forms.append({"action": a.value, "label": ACTION_LABELS[a], "fields": fields, "danger": danger})
    return forms


def _history_filter(request: Request, entries: list[S.HistoryOut]):
    qp = request.query_params
    actions = sorted({(e.action, e.action_label) for e in entries}, key=lambda x: x[1])
    units = sorted({e.unit_name for e in entries if e.unit_name})
    want_action, want_unit = qp.get("h_action", ""), qp.get("h_unit", "")
    shown = [e for e in entries if (not want_action or e.action == want_action)
             and (not want_unit or e.unit_name == want_unit)]
    return shown, actions, units, want_action, want_unit


def _detail(request: Request, db, p: Principal, r: Report, *, status: int = 200, open_action: str = "",
            errors: dict | None = None, form_error: str = "", values: dict | None = None) -> HTMLResponse:
    out = service.to_out(db, r, p)
    progress = service.progress(db, p, r.id)
    shown, h_actions, h_units, want_action, want_unit = _history_filter(request, progress.entries)
    can_attach = p.has("reports.create") or bool(service.actors_for(p, r))
    pending_support = db.get(Department, r.pending_support_unit_id) if r.pending_support_unit_id else None
    forms = _action_forms(db, p, r)
    if open_action not in {f["action"] for f in forms}:
        open_action = ""  # e.g. refused because the state moved on: the error goes above the actions
    return render(request, "reports_detail.html", p, status=status, title=f"Phản ánh {r.code}", section=SECTION,
                  r=out, report=r, area_label=_area_label(db, r.area_id), progress=progress, entries=shown,
                  h_actions=h_actions, h_units=h_units, want_action=want_action, want_unit=want_unit,
                  action_forms=forms, open_action=open_action, errors=errors or {},
                  form_error=form_error, values=values or {}, attachments=r.attachments, can_attach=can_attach,
                  can_edit=p.has("reports.create") and Status(r.status) not in FINAL,
                  can_delete=p.has("reports.delete") and Status(r.status) in (Status.NEW, Status.SPAM),
                  pending_support=pending_support, channel=CHANNEL_LABELS.get(r.channel, r.channel),
                  priority=PRIORITY_LABELS.get(r.priority, r.priority))


@router.get("/reports/{report_id}/popup")
def report_popup(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.read")):
    """The detail in a modal of the list (CRM-03, 31), with the progress list (CRM-04)."""
    r = service.get_report(db, p, report_id)
    return render(request, "reports_popup.html", p, r=service.to_out(db, r, p),
                  area_label=_area_label(db, r.area_id),
                  can_edit=p.has("reports.create") and Status(r.status) not in FINAL,
                  entries=service.progress(db, p, r.id).entries)


@router.post("/reports/{report_id}/actions/{action}")
async def report_action(report_id: str, action: str, request: Request, db: DbDep,
                        p: Principal = console("reports.read")):
    try:
        act = Action(action)
    except ValueError:
        raise NotFound("Thao tác không tồn tại.") from None
    form = await request.form()
    values = {k: str(form.get(k) or "").strip() for k in ("note", "unit_id", "assignee_id", "support_unit_id",
                                                          "result")}
    try:
        data = S.TransitionIn(action=act, **{k: (v or None) if k.endswith("_id") else v
                                             for k, v in values.items()})
        r = service.transition(db, p, report_id, data)
        db.flush()
    except (ValidationError, DomainError, StaleDataError) as e:
        db.rollback()
        if isinstance(e, NotFound):
            raise
        if isinstance(e, StaleDataError):
            errors, msg, status = {}, STALE, 409
        elif isinstance(e, ValidationError):
            (errors, msg), status = field_errors(e), 422
        else:
            errors, msg = field_errors(e)
            msg, status = (msg if errors else e.detail), e.status
        r = service.get_report(db, p, report_id)
        return _detail(request, db, p, r, status=status, open_action=act.value, errors=errors, form_error=msg,
                       values=values)
    return _done(f"/reports/{r.id}", f"Đã thực hiện: {ACTION_LABELS[act]}. Trạng thái mới: "
                                     f"{STATUS_LABELS[Status(r.status)]}.")


@router.post("/reports/{report_id}/attachments")
async def report_attach(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.read")):
    r = service.get_report(db, p, report_id)
    form = await request.form()
    upload = form.get("file")
    try:
        if not (p.has("reports.create") or service.actors_for(p, r)):
            raise Forbidden("Bạn không có quyền đính kèm tệp cho phản ánh này.")
        if upload is None or isinstance(upload, str):
            filename, content = "", b""
        else:
            filename = upload.filename or ""
            content = await upload.read(attachments.get_settings().attachment_max_mb * 1024 * 1024 + 1)
        att = attachments.add_attachment(db, p, r, filename, content)
    except DomainError as e:
        db.rollback()
        return _done(f"/reports/{report_id}#attachments", "Không đính kèm được: " + e.detail, error=True)
    return _done(f"/reports/{report_id}#attachments", f"Đã đính kèm {att.filename}.")


# --- dispatch rules (CRM-37) --------------------------------------------------------------------
def _rule_org(db, p: Principal, request: Request, rule=None) -> str | None:
    if rule is not None:
        return rule.organization_id
    if p.organization_id:
        return p.organization_id
    wanted = request.query_params.get("organization_id", "")
    orgs = _org_options(db)
    return wanted if any(o == wanted for o, _ in orgs) else (orgs[0][0] if orgs else None)


def _rule_fields(db, p: Principal, org_id: str | None) -> list[Field]:
    return [Field("name", "Tên quy tắc", required=True, maxlength=200),
            Field("department_id", "Đơn vị nhận", "select", required=True, options=_unit_options(db, org_id)),
            Field("priority", "Thứ tự áp dụng", "number", default=100,
                  help="Số nhỏ được áp dụng trước khi nhiều quy tắc cùng khớp."),
            Field("is_active", "Đang bật", "checkbox", default=True),
            Field("category_ids", "Lĩnh vực (chọn một hoặc nhiều)", "multiselect", required=True,
                  options=_category_options(db, org_id))]


def _rule_form(request, db, p, title, org_id, values, action, errors=None, form_error="", status=200):
    chosen = [a for a in db.scalars(select(Area).where(Area.id.in_(values.get("area_ids") or [])))]
    return render(request, "reports_rule_form.html", p, status=status, title=title, section=SECTION,
                  fields=_rule_fields(db, p, org_id), values=values, errors=errors or {}, form_error=form_error,
                  action=action, cancel_url="/reports/dispatch-rules", org_id=org_id, provinces=_provinces(db),
                  orgs=_org_options(db) if p.is_sysadmin and action.startswith("/reports/dispatch-rules/new")
                  else [],
                  chosen_areas=[(a.id, _area_label(db, a.id)) for a in sorted(chosen, key=lambda a: a.path)])


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
    units = _names(db, Department, [x.department_id for x in page.items])
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
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=_org_options(db)))
    fields += [Field("category_id", "Lĩnh vực", "select", required=True, readonly=rule is not None,
                     options=_category_options(db, org_id, rule.category_id if rule else None)),
               Field("department_id", "Đơn vị xử lý", "select", readonly=rule is not None,
                     options=_unit_options(db, org_id), help="Để trống: áp dụng cho mọi đơn vị."),
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
    cats = _names(db, Category, [x.category_id for x in page.items])
    units = _names(db, Department, [x.department_id for x in page.items])
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


# --- dashboard ----------------------------------------------------------------------------------
PERIODS = {"7d": "7 ngày qua", "30d": "30 ngày qua", "month": "Tháng này", "custom": "Tùy chọn"}
PALETTE = ["#b3261e", "#0b57d0", "#1e7d3a", "#a15c00", "#6f42c1", "#00838f", "#c2185b", "#5f6b7a", "#7cb342",
           "#f4511e", "#3949ab", "#8d6e63", "#26a69a"]


def _period(request: Request) -> tuple[str, date, date, str]:
    """(period key, first day, last day inclusive, error) in the platform's time zone. Dates that differ
    from the chosen quick period make it a custom one."""
    qp = request.query_params
    tz = _tz(request)
    today = datetime.now(tz).date()
    key = qp.get("period", "30d")
    quick = {"7d": today - timedelta(days=6), "30d": today - timedelta(days=29), "month": today.replace(day=1)}
    since, until = _day(qp.get("since"), tz), _day(qp.get("until"), tz)
    if key in quick and since and until and (since.date(), until.date()) != (quick[key], today):
        key = "custom"
    if key != "custom":
        key = key if key in quick else "30d"
        return key, quick[key], today, ""
    if since is None or until is None:
        return key, quick["30d"], today, "Chọn ngày bắt đầu và ngày kết thúc."
    if since > until:
        return key, until.date(), since.date(), "Ngày bắt đầu sau ngày kết thúc; đã đổi chỗ hai ngày."
    return key, since.date(), until.date(), ""


def _bars(buckets, width: int = 560) -> dict[str, Any]:
    top = max([b.count for b in buckets] or [1]) or 1
    rows = [{"label": b.label, "short": b.label if len(b.label) <= 30 else b.label[:29] + "…", "count": b.count,
             "w": round(b.count / top * (width - 260), 1), "y": 8 + i * 28, "color": PALETTE[i % len(PALETTE)]}
            for i, b in enumerate(buckets)]
    return {"rows": rows, "width": width, "height": 16 + 28 * len(rows)}


def _pie(buckets, r: float = 90) -> list[dict[str, Any]]:
    total = sum(b.count for b in buckets)
    out, angle = [], -math.pi / 2
    for i, b in enumerate(x for x in buckets if x.count):
        frac = b.count / total
        end = angle + frac * 2 * math.pi
        x1, y1 = 100 + r * math.cos(angle), 100 + r * math.sin(angle)
        x2, y2 = 100 + r * math.cos(end), 100 + r * math.sin(end)
        path = "" if frac >= 0.9999 else (f"M100,100 L{x1:.2f},{y1:.2f} A{r},{r} 0 {1 if frac > 0.5 else 0},1 "
                                          f"{x2:.2f},{y2:.2f} Z")
        out.append({"label": b.label, "count": b.count, "pct": round(frac * 100, 1), "path": path,
                    "color": PALETTE[i % len(PALETTE)]})
        angle = end
    return out


@router.get("/reports/dashboard")
def dashboard(request: Request, db: DbDep, p: Principal = console("reports.dashboard")):
    key, first, last, error = _period(request)
    tz = _tz(request)
    since = datetime.combine(first, datetime.min.time(), tz)
    until = datetime.combine(last + timedelta(days=1), datetime.min.time(), tz)
    s = stats.summary(db, p, since, until)
    rate = s.on_time_rate
    link = urlencode({"since": first.isoformat(), "until": last.isoformat()})
    on_time = [stats.Bucket("on_time", "Đúng hạn", s.on_time),
               stats.Bucket("late", "Trễ hạn", s.processed_with_due - s.on_time)]
    return render(request, "reports_dashboard.html", p, title="Thống kê phản ánh", section=SECTION, s=s,
                  periods=PERIODS, period=key, first=first, last=last, period_error=error, link=link,
                  rate=None if rate is None else round(rate * 100, 1), status_pie=_pie(s.by_status),
                  on_time_pie=_pie(on_time), category_bars=_bars(s.by_category[:12]),
                  unit_bars=_bars(s.by_unit[:12]), status_bars=_bars(s.by_status))


# Last: /reports/{report_id} would otherwise catch /reports/sla, /reports/dashboard and the like.
@router.get("/reports/{report_id}")
def report_detail(report_id: str, request: Request, db: DbDep, p: Principal = console("reports.read")):
    return _detail(request, db, p, service.get_report(db, p, report_id))
