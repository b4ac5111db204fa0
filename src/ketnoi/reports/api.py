"""JSON API of citizen reports: lists, detail, create/edit/delete, workflow transitions,
processing progress, attachments, rules and settings. Creating a report honours ``Idempotency-Key``
(core/idempotency.py; CRM-05, 11: a partner's retry never files the same report twice)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Request, Response, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel

from ketnoi.core import idempotency
from ketnoi.core.errors import NotFound, ValidationFailed
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.reports import attachments, queries, rules, service
from ketnoi.reports import schemas as S
from ketnoi.reports.schemas import Channel
from ketnoi.web.deps import DbDep, client_ip, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]


def idempotency_scope(p: Principal) -> str:
    """Keys belong to the calling account (a user, or a partner's API key)."""
    return f"user:{p.user_id or p.username}"


def filters(view: Annotated[str, Query(max_length=30, description="Danh sách: " + ", ".join(queries.VIEWS))] = "all",
            status: Annotated[str, Query(max_length=300)] = "",
            category_id: Annotated[str, Query(max_length=64)] = "",
            area_id: Annotated[str, Query(max_length=64)] = "",
            unit_id: Annotated[str, Query(max_length=64)] = "",
            channel: Channel | None = None,
            since: datetime | None = None, until: datetime | None = None,
            overdue: bool | None = None) -> queries.ReportFilters:
    from zoneinfo import ZoneInfo

    from ketnoi.settings import get_settings

    zone = ZoneInfo(get_settings().timezone)
    # a time without an offset is read in the platform's zone (API.md: Asia/Ho_Chi_Minh)
    since = since.replace(tzinfo=zone) if since and since.tzinfo is None else since
    until = until.replace(tzinfo=zone) if until and until.tzinfo is None else until
    return queries.ReportFilters(view=view, status=status, category_id=category_id, area_id=area_id,
                                 unit_id=unit_id, channel=channel.value if channel else "", since=since, until=until,
                                 overdue=overdue)


FiltersQ = Annotated[queries.ReportFilters, Depends(filters)]


@router.get("/reports", response_model=Paged[S.ReportOut], tags=["reports"], summary="Danh sách phản ánh (CRM-03)")
def list_reports(db: DbDep, params: ListQ, f: FiltersQ, p: Principal = requires("reports.read")):
    page = queries.list_reports(db, p, params, f)
    return page.as_dict(lambda r: service.to_out(db, r, p))


@router.get("/reports/counts", response_model=dict[str, int], tags=["reports"], summary="Số phản ánh theo danh sách")
def counts(db: DbDep, p: Principal = requires("reports.read")):
    return queries.counts_by_view(db, p)


@router.post("/reports", response_model=S.ReportOut, status_code=201, tags=["reports"],
             summary="Tiếp nhận phản ánh (CRM-05, 06, 11)", openapi_extra=idempotency.idempotency_doc(),
             description="Accepts an optional `Idempotency-Key` header: a retry with the same key and body within "
                         "24 hours answers the first report again (`Idempotent-Replayed: true`) instead of filing "
                         "a duplicate; the same key with another body is 422, while the first still runs 409.")
def create_report(request: Request, data: S.ReportIn, db: DbDep, p: Principal = requires("reports.create")):
    return idempotency.run(request, db, idempotency_scope(p), data.model_dump(),
                           lambda: service.to_out(db, service.create_report(db, p, data), p),
                           status_code=201, out=S.ReportOut)


@router.get("/reports/by-code/{code}", response_model=S.ReportOut, tags=["reports"], summary="Tìm phản ánh theo mã")
def by_code(code: str, db: DbDep, p: Principal = requires("reports.read")):
    return service.to_out(db, service.get_by_code(db, p, code), p)


@router.get("/reports/{report_id}", response_model=S.ReportOut, tags=["reports"], summary="Chi tiết phản ánh")
def get_report(report_id: str, db: DbDep, p: Principal = requires("reports.read")):
    r = service.get_report(db, p, report_id)
    return service.to_out(db, r, p)


@router.patch("/reports/{report_id}", response_model=S.ReportOut, tags=["reports"], summary="Sửa phản ánh (CRM-31)")
def update_report(report_id: str, data: S.ReportPatch, db: DbDep, p: Principal = requires("reports.create")):
    return service.to_out(db, service.update_report(db, p, report_id, data), p)


@router.delete("/reports/{report_id}", status_code=204, tags=["reports"], summary="Xóa phản ánh (CRM-31)")
def delete_report(report_id: str, db: DbDep, p: Principal = requires("reports.delete")):
    service.delete_report(db, p, report_id)
    return Response(status_code=204)


@router.post("/reports/{report_id}/transitions", response_model=S.ReportOut, tags=["reports"],
             summary="Thao tác xử lý: điều phối, phân công, gửi kết quả, phê duyệt… (CRM-12…19)")
def transition(report_id: str, data: S.TransitionIn, db: DbDep, p: Principal = requires("reports.read")):
    r = service.transition(db, p, report_id, data)
    return service.to_out(db, r, p)


@router.get("/reports/{report_id}/progress", response_model=S.ProgressOut, tags=["reports"],
            summary="Tiến độ xử lý: dạng cây và danh sách (CRM-04)")
def progress(report_id: str, db: DbDep, p: Principal = requires("reports.read")):
    return service.progress(db, p, report_id)


@router.post("/reports/{report_id}/attachments", response_model=S.AttachmentOut, status_code=201, tags=["reports"],
             summary="Đính kèm ảnh hoặc tài liệu")
async def add_attachment(report_id: str, db: DbDep, file: Annotated[UploadFile, File()],
                         p: Principal = requires("reports.read")):
    from starlette.concurrency import run_in_threadpool

    data = await file.read(attachments.get_settings().attachment_max_mb * 1024 * 1024 + 1)

    def save():
        r = service.get_report(db, p, report_id)
        if not (p.has("reports.create") or service.actors_for(p, r)):
            from ketnoi.core.errors import Forbidden

            raise Forbidden("Bạn không có quyền đính kèm tệp cho phản ánh này.")
        return attachments.add_attachment(db, p, r, file.filename or "", data)

    return await run_in_threadpool(save)


@router.get("/reports/{report_id}/attachments/{attachment_id}", tags=["reports"], summary="Tải tệp đính kèm",
            response_class=FileResponse)
def get_attachment(report_id: str, attachment_id: str, db: DbDep, p: Principal = requires("reports.read")):
    r = service.get_report(db, p, report_id)
    att, path = attachments.attachment_path(r, attachment_id)
    return FileResponse(path, media_type=att.content_type, filename=att.filename)


# --- dispatch rules -----------------------------------------------------------------------------
@router.get("/dispatch-rules", response_model=Paged[S.DispatchRuleOut], tags=["dispatch rules"],
            summary="Quy tắc điều phối tự động (CRM-37)")
def list_rules(db: DbDep, params: ListQ, is_active: bool | None = None, p: Principal = requires("reports.rules")):
    return rules.list_rules(db, p, params, is_active=is_active).as_dict(rules.rule_out)


@router.post("/dispatch-rules", response_model=S.DispatchRuleOut, status_code=201, tags=["dispatch rules"],
             summary="Tạo quy tắc điều phối")
def create_rule(data: S.DispatchRuleIn, db: DbDep, p: Principal = requires("reports.rules")):
    return rules.rule_out(rules.create_rule(db, p, data))


@router.get("/dispatch-rules/{rule_id}", response_model=S.DispatchRuleOut, tags=["dispatch rules"],
            summary="Chi tiết quy tắc")
def get_rule(rule_id: str, db: DbDep, p: Principal = requires("reports.rules")):
    return rules.rule_out(rules.get_rule(db, p, rule_id))


@router.patch("/dispatch-rules/{rule_id}", response_model=S.DispatchRuleOut, tags=["dispatch rules"],
              summary="Sửa, bật/tắt quy tắc")
def update_rule(rule_id: str, data: S.DispatchRulePatch, db: DbDep, p: Principal = requires("reports.rules")):
    return rules.rule_out(rules.update_rule(db, p, rule_id, data))


@router.delete("/dispatch-rules/{rule_id}", status_code=204, tags=["dispatch rules"], summary="Xóa quy tắc")
def delete_rule(rule_id: str, db: DbDep, p: Principal = requires("reports.rules")):
    rules.delete_rule(db, p, rule_id)
    return Response(status_code=204)


# --- SLA and calendar ---------------------------------------------------------------------------
@router.get("/sla-rules", response_model=Paged[S.SlaRuleOut], tags=["sla"],
            summary="Thời hạn xử lý theo lĩnh vực và đơn vị (PERM-11)")
def list_sla(db: DbDep, params: ListQ, category_id: Annotated[str, Query(max_length=64)] = "",
             p: Principal = requires("reports.sla")):
    return rules.list_sla(db, p, params, category_id=category_id).as_dict(S.SlaRuleOut.model_validate)


@router.post("/sla-rules", response_model=S.SlaRuleOut, status_code=201, tags=["sla"], summary="Đặt thời hạn")
def create_sla(data: S.SlaRuleIn, db: DbDep, p: Principal = requires("reports.sla")):
    return rules.create_sla(db, p, data)


@router.patch("/sla-rules/{rule_id}", response_model=S.SlaRuleOut, tags=["sla"], summary="Sửa thời hạn")
def update_sla(rule_id: str, data: S.SlaRulePatch, db: DbDep, p: Principal = requires("reports.sla")):
    return rules.update_sla(db, p, rule_id, data)


@router.delete("/sla-rules/{rule_id}", status_code=204, tags=["sla"], summary="Xóa thời hạn")
def delete_sla(rule_id: str, db: DbDep, p: Principal = requires("reports.sla")):
    rules.delete_sla(db, p, rule_id)
    return Response(status_code=204)


@router.get("/holidays", response_model=list[S.HolidayOut], tags=["sla"], summary="Ngày nghỉ của lịch làm việc")
def list_holidays(db: DbDep, year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
                  p: Principal = requires("reports.sla")):
    return rules.list_holidays(db, p, year)


@router.post("/holidays", response_model=S.HolidayOut, status_code=201, tags=["sla"], summary="Thêm ngày nghỉ")
def add_holiday(data: S.HolidayIn, db: DbDep, p: Principal = requires("reports.sla")):
    return rules.add_holiday(db, p, data)


@router.delete("/holidays/{holiday_id}", status_code=204, tags=["sla"], summary="Xóa ngày nghỉ")
def delete_holiday(holiday_id: str, db: DbDep, p: Principal = requires("reports.sla")):
    rules.delete_holiday(db, p, holiday_id)
    return Response(status_code=204)


# --- my notification settings (PERM-10) ---------------------------------------------------------
@router.get("/auth/me/notifications", response_model=S.NotificationSettingOut, tags=["auth"],
            summary="Cài đặt nhận SMS khi có phản ánh chờ tôi (PERM-10)")
def get_notifications(db: DbDep, p: Principal = requires(None)):
    return rules.get_notification_setting(db, p)


@router.put("/auth/me/notifications", response_model=S.NotificationSettingOut, tags=["auth"],
            summary="Lưu cài đặt nhận SMS (PERM-10)")
def put_notifications(data: S.NotificationSettingIn, db: DbDep, p: Principal = requires(None)):
    return rules.save_notification_setting(db, p, data)


# --- public lookup for the citizen --------------------------------------------------------------
class LookupOut(BaseModel):
    code: str
    title: str
    status: str
    status_label: str
    received_at: datetime
    closed_at: datetime | None
    result: str
    history: list[dict[str, Any]]


@router.get("/public/reports/lookup", response_model=LookupOut, tags=["public"],
            summary="Công dân tra cứu tiến độ phản ánh bằng mã và số điện thoại")
def public_lookup(request: Request, db: DbDep, code: Annotated[str, Query(min_length=3, max_length=20)],
                  phone: Annotated[str, Query(min_length=8, max_length=20)]):
    from ketnoi.identity.auth import ip_throttle
    from ketnoi.reports.public import lookup

    ip_throttle.hit("lookup:" + client_ip(request), 30)
    try:
        return lookup(db, code, phone)
    except ValidationFailed:
        raise NotFound("Không tìm thấy phản ánh với mã và số điện thoại này.")


public_lookup.ketnoi_public = True  # type: ignore[attr-defined]
