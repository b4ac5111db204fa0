"""Console detail of a citizen report: one form per allowed workflow action, the filtered processing
history, the popup of the list and attachments (CRM-03, 04, 12…19, 32, 33, 38)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm.exc import StaleDataError

from ketnoi.core.errors import DomainError, Forbidden, NotFound
from ketnoi.identity.models import Department, User
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import permissions_of
from ketnoi.reports import attachments, service
from ketnoi.reports import schemas as S
from ketnoi.reports.models import Report
from ketnoi.reports.schemas import CHANNEL_LABELS, PRIORITY_LABELS
from ketnoi.reports.web_common import SECTION, STALE, area_label, unit_options
from ketnoi.reports.workflow import ACTION_LABELS, FINAL, STATUS_LABELS, TRANSITIONS, Action, Status
from ketnoi.web.crud import Field, field_errors
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import done_redirect as _done
from ketnoi.web.pages import render

router = APIRouter()


def _specialist_options(db, r: Report) -> list[tuple[str, str]]:
    """Active users of the handling unit's subtree who hold reports.process."""
    users = db.scalars(select(User).join(Department, User.department_id == Department.id).where(
        User.organization_id == r.organization_id, User.is_active.is_(True),
        Department.path.startswith(r.unit_path or "/-/")).order_by(User.full_name))
    return [(u.id, f"{u.full_name} ({u.username})") for u in users if "reports.process" in permissions_of(db, u)]


def _action_forms(db, p: Principal, r: Report) -> list[dict[str, Any]]:
    """One small form per action the user may take now (CRM-12…19, 32, 33)."""
    forms = []
    for a in service.allowed_actions(p, r):
        t = TRANSITIONS[a]
        fields: list[Field] = []
        if a in (Action.DISPATCH, Action.REDISPATCH):
            exclude = (r.unit_id,) if a == Action.REDISPATCH else ()
            fields.append(Field("unit_id", "Đơn vị xử lý", "select", required=True,
                                options=unit_options(db, r.organization_id, exclude=exclude)))
        elif a == Action.ASSIGN_SUBUNIT:
            fields.append(Field("unit_id", "Đơn vị cấp dưới", "select", required=True,
                                options=unit_options(db, r.organization_id, under=r.unit_path,
                                                      exclude=(r.unit_id,))))
        elif a == Action.ASSIGN_SPECIALIST:
            fields.append(Field("assignee_id", "Chuyên viên xử lý", "select", required=True,
                                options=_specialist_options(db, r)))
        elif a == Action.SUBMIT_RESULT:
            fields.append(Field("result", "Kết quả xử lý", "textarea", required=True))
        elif a == Action.PROPOSE_SUPPORT:
            fields.append(Field("support_unit_id", "Đơn vị hỗ trợ", "select", required=True,
                                options=unit_options(db, r.organization_id, exclude=(r.unit_id,))))
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


def detail(request: Request, db, p: Principal, r: Report, *, status: int = 200, open_action: str = "",
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
                  r=out, report=r, area_label=area_label(db, r.area_id), progress=progress, entries=shown,
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
                  area_label=area_label(db, r.area_id),
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
        return detail(request, db, p, r, status=status, open_action=act.value, errors=errors, form_error=msg,
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
