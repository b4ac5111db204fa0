"""JSON API of the SMS channel (/api/v1/sms/…): send and reply (SMS-02, 04), the inbox threaded by
phone and report creation from a message (SMS-01, 03, CRM-06), message detail with its status
history, the history with filters and its Excel export (SMS-05…07, 09, CRM-09), and the
configuration: providers (secrets write-only), templates and keyword rules."""

from __future__ import annotations

import os
import tempfile
from datetime import datetime
from pathlib import Path as FsPath
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask

from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.jobs import service as jobs
from ketnoi.jobs.api import media_type
from ketnoi.jobs.schemas import JobOut
from ketnoi.reports.export import aware
from ketnoi.sms import config, export, inbox
from ketnoi.sms import schemas as S
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

router = APIRouter(prefix="/api/v1/sms", responses=PROBLEMS)
ListQ = Annotated[ListParams, list_query()]


def sms_filters(phone: Annotated[str, Query(max_length=20, description="Số điện thoại (đầy đủ hoặc một phần)")] = "",
                direction: S.Direction | None = None,
                status: Annotated[str, Query(max_length=100, description="Trạng thái, nhiều giá trị cách nhau "
                                                                         "bằng dấu phẩy")] = "",
                since: datetime | None = None, until: datetime | None = None) -> inbox.SmsFilters:
    return inbox.SmsFilters(phone=phone, direction=direction or "", status=status,
                            since=aware(since, "since"), until=aware(until, "until"))


FiltersQ = Annotated[inbox.SmsFilters, Depends(sms_filters)]


def _status(request: Request) -> dict[str, dict]:
    channel = getattr(request.app.state, "sms", None)
    return channel.status() if channel is not None else {}


# --- messages -----------------------------------------------------------------------------------
@router.post("/messages", response_model=S.MessageOut, status_code=201, tags=["sms"],
             summary="Gửi SMS qua hàng đợi gửi (SMS-02, SMS-04)")
def send(data: S.SendIn, db: DbDep, p: Principal = requires("sms.send")):
    return inbox.message_out(db, inbox.send(db, p, data), p)


@router.get("/messages", response_model=Paged[S.MessageOut], tags=["sms"],
            summary="Lịch sử SMS đến và đi: lọc, phân trang, sắp xếp (SMS-06, 07, 09, CRM-09)")
def list_messages(db: DbDep, params: ListQ, f: FiltersQ, p: Principal = requires("sms.history")):
    page = inbox.list_messages(db, p, params, f)
    out = page.as_dict(lambda m: m)
    out["items"] = inbox.messages_out(db, page.items, p)
    return out


@router.get("/messages/export.xlsx", tags=["sms"], response_class=FileResponse,
            summary="Xuất Excel lịch sử SMS theo bộ lọc (tối đa 20.000 dòng ngay; nhiều hơn: tác vụ nền)",
            responses={200: {"content": {"application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {}},
                             "description": "Tệp Excel"},
                       202: {"model": JobOut, "description": "Tác vụ nền đã được tạo"}})
def export_xlsx(db: DbDep, f: FiltersQ, q: Annotated[str, Query(max_length=200)] = "",
                sort: Annotated[str, Query(max_length=40)] = "", p: Principal = requires("sms.history")):
    export._order(sort)
    total = export.count(db, p, f, q)
    if total > export.DIRECT_LIMIT:
        job = export.start_job(db, p, f, q, sort, total)
        return JSONResponse(JobOut.of(job).model_dump(mode="json"), status_code=202,
                            headers={"Location": f"/api/v1/jobs/{job.id}"})
    fd, name = tempfile.mkstemp(suffix=".xlsx", dir=jobs.scratch_dir())
    os.close(fd)
    try:
        n = export.write_workbook(db, p, f, FsPath(name), q=q, sort=sort, total=total)
    except BaseException:
        os.unlink(name)
        raise
    export.audit(db, p, n)
    return FileResponse(name, filename=export.file_name(), media_type=media_type(FsPath(name)),
                        background=BackgroundTask(os.unlink, name))


@router.get("/messages/{message_id}", response_model=S.MessageDetailOut, tags=["sms"], summary="Chi tiết tin nhắn: mã của nhà cung cấp, các phần tin, lịch sử trạng thái")
def get_message(message_id: str, db: DbDep, p: Principal = requires("sms.history")):
    return inbox.message_out(db, inbox.get_message(db, p, message_id), p, detail=True)


@router.post("/messages/{message_id}/reply", response_model=S.MessageOut, status_code=201, tags=["sms"],
             summary="Trả lời tin nhắn đến, từ đầu số công dân đã nhắn tới")
def reply(message_id: str, data: S.ReplyIn, db: DbDep, p: Principal = requires("sms.send")):
    return inbox.message_out(db, inbox.reply(db, p, message_id, data), p)


@router.post("/messages/{message_id}/report", response_model=S.ReportCreatedOut, status_code=201, tags=["sms"],
             summary="Tạo phản ánh từ tin nhắn đến (CRM-06); cần thêm quyền tạo phản ánh")
def create_report(message_id: str, data: S.ReportFromSmsIn, db: DbDep, p: Principal = requires("sms.inbox")):
    r = inbox.create_report(db, p, message_id, data)
    m = inbox.get_message(db, p, message_id)
    return S.ReportCreatedOut(report_id=r.id, code=r.code, message=inbox.message_out(db, m, p))


# --- inbox --------------------------------------------------------------------------------------
@router.get("/threads", response_model=Paged[S.ThreadOut], tags=["sms"],
            summary="Hộp thư đến theo số điện thoại, mới nhất trước (SMS-01, SMS-03)")
def list_threads(db: DbDep, params: ListQ, unhandled: bool = False, p: Principal = requires("sms.inbox")):
    return inbox.list_threads(db, p, params, unhandled_only=unhandled).as_dict(lambda t: t)


@router.get("/threads/{phone}", response_model=S.ThreadDetailOut, tags=["sms"],
            summary="Các tin nhắn với một số điện thoại và phản ánh trước đây của công dân")
def get_thread(phone: Annotated[str, Path(max_length=20)], db: DbDep, p: Principal = requires("sms.inbox")):
    return inbox.thread(db, p, phone)


# --- providers ----------------------------------------------------------------------------------
@router.get("/providers", response_model=Paged[S.ProviderOut], tags=["sms config"],
            summary="Nhà cung cấp SMS và trạng thái kết nối")
def list_providers(request: Request, db: DbDep, params: ListQ, p: Principal = requires("sms.admin")):
    status = _status(request)
    return config.list_providers(db, p, params).as_dict(lambda pr: config.provider_out(pr, status.get(pr.name)))


@router.post("/providers", response_model=S.ProviderOut, status_code=201, tags=["sms config"],
             summary="Thêm nhà cung cấp SMS (SMPP, Kannel, HTTP)")
def create_provider(data: S.ProviderIn, db: DbDep, p: Principal = requires("sms.admin")):
    return config.provider_out(config.create_provider(db, p, data))


@router.get("/providers/{provider_id}", response_model=S.ProviderOut, tags=["sms config"],
            summary="Chi tiết nhà cung cấp (không gồm mật khẩu, khóa bí mật)")
def get_provider(provider_id: str, request: Request, db: DbDep, p: Principal = requires("sms.admin")):
    pr = config.get_provider(db, p, provider_id)
    return config.provider_out(pr, _status(request).get(pr.name))


@router.patch("/providers/{provider_id}", response_model=S.ProviderOut, tags=["sms config"],
              summary="Sửa nhà cung cấp; khóa bí mật để trống thì giữ nguyên")
def update_provider(provider_id: str, data: S.ProviderPatch, db: DbDep, p: Principal = requires("sms.admin")):
    return config.provider_out(config.update_provider(db, p, provider_id, data))


@router.delete("/providers/{provider_id}", status_code=204, tags=["sms config"], summary="Xóa nhà cung cấp")
def delete_provider(provider_id: str, db: DbDep, p: Principal = requires("sms.admin")):
    config.delete_provider(db, p, provider_id)
    return Response(status_code=204)


# --- templates ----------------------------------------------------------------------------------
@router.get("/templates", response_model=Paged[S.TemplateOut], tags=["sms config"], summary="Mẫu tin nhắn")
def list_templates(db: DbDep, params: ListQ, is_active: bool | None = None, p: Principal = requires("sms.admin")):
    return config.list_templates(db, p, params, is_active=is_active).as_dict(config.template_out)


@router.post("/templates", response_model=S.TemplateOut, status_code=201, tags=["sms config"],
             summary="Thêm mẫu tin nhắn có biến {ten_bien}")
def create_template(data: S.TemplateIn, db: DbDep, p: Principal = requires("sms.admin")):
    return config.template_out(config.create_template(db, p, data))


@router.get("/templates/{template_id}", response_model=S.TemplateOut, tags=["sms config"],
            summary="Chi tiết mẫu tin nhắn")
def get_template(template_id: str, db: DbDep, p: Principal = requires("sms.admin")):
    return config.template_out(config.get_template(db, p, template_id))


@router.patch("/templates/{template_id}", response_model=S.TemplateOut, tags=["sms config"],
              summary="Sửa mẫu tin nhắn")
def update_template(template_id: str, data: S.TemplatePatch, db: DbDep, p: Principal = requires("sms.admin")):
    return config.template_out(config.update_template(db, p, template_id, data))


@router.delete("/templates/{template_id}", status_code=204, tags=["sms config"], summary="Xóa mẫu tin nhắn")
def delete_template(template_id: str, db: DbDep, p: Principal = requires("sms.admin")):
    config.delete_template(db, p, template_id)
    return Response(status_code=204)


# --- keyword rules ------------------------------------------------------------------------------
@router.get("/keyword-rules", response_model=Paged[S.KeywordRuleOut], tags=["sms config"],
            summary="Quy tắc từ khóa của tin nhắn đến (ví dụ PA <nội dung>)")
def list_rules(db: DbDep, params: ListQ, p: Principal = requires("sms.admin")):
    return config.list_rules(db, p, params).as_dict(S.KeywordRuleOut.model_validate)


@router.post("/keyword-rules", response_model=S.KeywordRuleOut, status_code=201, tags=["sms config"],
             summary="Thêm quy tắc từ khóa")
def create_rule(data: S.KeywordRuleIn, db: DbDep, p: Principal = requires("sms.admin")):
    return config.create_rule(db, p, data)


@router.get("/keyword-rules/{rule_id}", response_model=S.KeywordRuleOut, tags=["sms config"],
            summary="Chi tiết quy tắc từ khóa")
def get_rule(rule_id: str, db: DbDep, p: Principal = requires("sms.admin")):
    return config.get_rule(db, p, rule_id)


@router.patch("/keyword-rules/{rule_id}", response_model=S.KeywordRuleOut, tags=["sms config"],
              summary="Sửa, bật/tắt quy tắc từ khóa")
def update_rule(rule_id: str, data: S.KeywordRulePatch, db: DbDep, p: Principal = requires("sms.admin")):
    return config.update_rule(db, p, rule_id, data)


@router.delete("/keyword-rules/{rule_id}", status_code=204, tags=["sms config"], summary="Xóa quy tắc từ khóa")
def delete_rule(rule_id: str, db: DbDep, p: Principal = requires("sms.admin")):
    config.delete_rule(db, p, rule_id)
    return Response(status_code=204)
