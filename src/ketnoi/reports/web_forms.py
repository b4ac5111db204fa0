"""Console pages to take in, edit and delete a citizen report (CRM-11, 31): the report form with its
province/ward picker and the optimistic-lock check on edit."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import ValidationError
from sqlalchemy.orm.exc import StaleDataError

from ketnoi.catalog.models import Area
from ketnoi.core.errors import Conflict, DomainError, Forbidden
from ketnoi.identity.models import Department
from ketnoi.identity.principal import Principal
from ketnoi.reports import schemas as S
from ketnoi.reports import service
from ketnoi.reports.models import Report
from ketnoi.reports.schemas import CHANNEL_LABELS, PRIORITY_LABELS
from ketnoi.reports.web_common import (
    SECTION,
    STALE,
    area_descendants,
    category_options,
    org_options,
    provinces,
)
from ketnoi.reports.workflow import Status
from ketnoi.web.crud import Field, field_errors, form_data
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import done_redirect as _done
from ketnoi.web.pages import render

router = APIRouter()


def _province_of(db, area_id: str | None) -> str | None:
    a = db.get(Area, area_id) if area_id else None
    if a is None:
        return None
    ids = [i for i in a.path.strip("/").split("/") if i]
    return ids[0] if ids else a.id


def _report_fields(db, p: Principal, r: Report | None = None) -> list[Field]:
    org_id = r.organization_id if r else p.organization_id
    fields = []
    if p.is_sysadmin and r is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=org_options(db)))
    fields += [
        Field("title", "Tiêu đề", required=True, wide=True, maxlength=300),
        Field("content", "Nội dung phản ánh", "textarea", required=True),
        Field("channel", "Kênh tiếp nhận", "select", required=True, options=list(CHANNEL_LABELS.items())),
        Field("priority", "Mức độ ưu tiên", "select", required=True, options=list(PRIORITY_LABELS.items()),
              default="normal"),
        Field("category_id", "Lĩnh vực", "select",
              options=category_options(db, org_id, r.category_id if r else None)),
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
                  provinces=provinces(db), province=province, wards=area_descendants(db, province))


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
