"""Console pages of SMS: the inbox threaded by phone, live through the hub, with the citizen's earlier
reports and the 'Tạo phản ánh' / 'Trả lời' actions (SMS-01, 03, CRM-06); sending (SMS-02); the
history with filters, page size and Excel export, and a message's detail (SMS-05…07, 09, CRM-09)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError

from ketnoi.catalog import service as catalog
from ketnoi.core.errors import DomainError
from ketnoi.core.listing import ListParams, Page
from ketnoi.identity.principal import Principal
from ketnoi.reports.schemas import PRIORITY_LABELS
from ketnoi.sms import config, export, inbox, service
from ketnoi.sms import schemas as S
from ketnoi.web.crud import Field, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.exports import done_redirect as _done
from ketnoi.web.exports import local_tz as _tz
from ketnoi.web.exports import parse_day as _day
from ketnoi.web.exports import xlsx_download
from ketnoi.web.pages import render

router = APIRouter(prefix="/sms")
SECTION = "Tin nhắn SMS"
SEND_PRIORITIES = [("1", "Khẩn"), ("3", "Cao"), ("5", "Bình thường"), ("9", "Thấp")]


def _inbox_url(phone: str, **extra: str) -> str:
    return "/sms/inbox?" + urlencode({"phone": phone, **{k: v for k, v in extra.items() if v}})


# --- inbox --------------------------------------------------------------------------------------
def _thread_ctx(db, p: Principal, phone: str) -> dict[str, Any]:
    if not phone:
        return {"thread": None, "thread_error": ""}
    try:
        return {"thread": inbox.thread(db, p, phone), "thread_error": ""}
    except DomainError as e:
        db.rollback()
        return {"thread": None, "thread_error": e.detail}


@router.get("/inbox")
def inbox_page(request: Request, db: DbDep, p: Principal = console("sms.inbox")):
    qp = request.query_params
    params = list_params(request, default_size=50)
    unhandled = qp.get("unhandled") == "1"
    phone = qp.get("phone", "")[:20]
    try:
        threads = inbox.list_threads(db, p, params, unhandled_only=unhandled)
    except DomainError:
        db.rollback()
        threads = Page([], 1, params.page_size, 0)
    ctx = {"threads": threads, "phone": phone, "unhandled": unhandled, "section": SECTION,
           "can_send": p.has("sms.send"), "can_report": p.has("reports.create"),
           "local": service.local_phone, **_thread_ctx(db, p, phone)}
    target = request.headers.get("HX-Target") if request.headers.get("HX-Request") else None
    if target == "sms-threads":
        return render(request, "sms_threads.html", p, **ctx)
    if target == "sms-thread":
        return render(request, "sms_thread.html", p, **ctx)
    return render(request, "sms_inbox.html", p, title="Hộp thư SMS đến", **ctx)


@router.post("/messages/{message_id}/reply")
async def reply(message_id: str, request: Request, db: DbDep, p: Principal = console("sms.send")):
    form = await request.form()
    m = inbox.get_message(db, p, message_id)
    text = str(form.get("text") or "")
    try:
        inbox.reply(db, p, message_id, S.ReplyIn(text=text[:2000]))
    except DomainError as e:
        db.rollback()
        return _done(_inbox_url(m.phone, draft=text[:1000]), "Chưa gửi được: " + e.detail, error=True)
    return _done(_inbox_url(m.phone), f"Đã xếp tin trả lời {service.local_phone(m.phone)} vào hàng đợi gửi.")


# --- a report from a message (CRM-06) -----------------------------------------------------------
def _report_fields(db, p: Principal, org_id: str | None) -> list[Field]:
    cats = [(n.category.id, "— " * n.depth + n.category.name)
            for n in catalog.walk(catalog.category_tree(db, p, org_id)) if n.category.is_active]
    return [
        Field("title", "Tiêu đề", required=True, wide=True, maxlength=300),
        Field("content", "Nội dung phản ánh", "textarea", required=True),
        Field("priority", "Mức độ ưu tiên", "select", required=True, options=list(PRIORITY_LABELS.items()),
              default="normal"),
        Field("category_id", "Lĩnh vực", "select", options=cats),
        Field("citizen_name", "Họ tên người phản ánh", maxlength=200),
        Field("citizen_phone", "Số điện thoại", "tel", readonly=True),
        Field("citizen_address", "Địa chỉ", wide=True, maxlength=500),
    ]


def _report_form(request, db, p, m, values, errors=None, form_error="", status=200):
    return render(request, "crud_form.html", p, status=status, section=SECTION,
                  title=f"Tạo phản ánh từ SMS của {service.local_phone(m.phone)}",
                  fields=_report_fields(db, p, m.organization_id), values=values, errors=errors or {},
                  form_error=form_error, action=f"/sms/messages/{m.id}/report", cancel_url=_inbox_url(m.phone),
                  submit_label="Tạo phản ánh",
                  notice=f"Tin nhắn lúc {m.created_at.astimezone(_tz(request)):%H:%M %d/%m/%Y}: “{m.text[:300]}”")


@router.get("/messages/{message_id}/report")
def report_new(message_id: str, request: Request, db: DbDep, p: Principal = console("sms.inbox")):
    m = inbox.get_message(db, p, message_id)
    if m.report_id:
        return _done(_inbox_url(m.phone), "Tin nhắn này đã được tạo phản ánh.", error=True)
    values = {**inbox.report_prefill(m), "citizen_phone": service.local_phone(m.phone), "priority": "normal"}
    return _report_form(request, db, p, m, values)


@router.post("/messages/{message_id}/report")
async def report_create(message_id: str, request: Request, db: DbDep, p: Principal = console("sms.inbox")):
    m = inbox.get_message(db, p, message_id)
    fields = _report_fields(db, p, m.organization_id)
    data = await form_data(request, fields)
    try:
        r = inbox.create_report(db, p, message_id, S.ReportFromSmsIn.model_validate(
            {k: v for k, v in data.items() if k != "citizen_phone"}))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        data["citizen_phone"] = service.local_phone(m.phone)
        return _report_form(request, db, p, m, data, errors, msg, 422 if isinstance(e, ValidationError) else e.status)
    return RedirectResponse(f"/reports/{r.id}?msg={quote(f'Đã tạo phản ánh {r.code} từ tin nhắn SMS.')}",
                            status_code=303)


# --- sending ------------------------------------------------------------------------------------
def _send_fields(db, p: Principal) -> list[Field]:
    templates = config.list_templates(db, p, ListParams(page_size=200), is_active=True).items
    return [
        Field("phone", "Số di động nhận tin", "tel", required=True, maxlength=20, help="Ví dụ 0912345678."),
        Field("template_code", "Mẫu tin", "select", options=[(t.code, f"{t.code} – {t.name}") for t in templates],
              help="Chọn mẫu thì nội dung lấy từ mẫu; điền giá trị biến dạng ten_bien=giá trị, mỗi dòng một biến."),
        Field("text", "Nội dung", "textarea", help="Tiếng Việt có dấu: 70 ký tự một tin, tin dài được ghép "
                                                   "(67 ký tự mỗi phần)."),
        Field("variables", "Giá trị biến của mẫu", "textarea"),
        Field("sender", "Brandname / đầu số gửi", maxlength=15, help="Để trống: brandname mặc định."),
        Field("priority", "Ưu tiên", "select", required=True, options=SEND_PRIORITIES, default="5"),
    ]


def _variables(raw: str) -> dict[str, str]:
    out = {}
    for line in (raw or "").splitlines():
        if "=" in line:
            k, v = line.split("=", 1)
            out[k.strip()[:40]] = v.strip()[:500]
    return dict(list(out.items())[:30])


@router.get("/send")
def send_form(request: Request, db: DbDep, p: Principal = console("sms.send")):
    values = {"priority": "5", "phone": request.query_params.get("phone", "")[:20]}
    return render(request, "crud_form.html", p, title="Gửi tin nhắn SMS", section=SECTION, fields=_send_fields(db, p),
                  values=values, errors={}, action="/sms/send", cancel_url="/sms/history", submit_label="Gửi")


@router.post("/send")
async def send(request: Request, db: DbDep, p: Principal = console("sms.send")):
    fields = _send_fields(db, p)
    data = await form_data(request, fields)
    try:
        payload = S.SendIn.model_validate({**data, "template_code": data.get("template_code") or "",
                                           "variables": _variables(data.get("variables", ""))})
        m = inbox.send(db, p, payload)
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return render(request, "crud_form.html", p, status=422 if isinstance(e, ValidationError) else e.status,
                      title="Gửi tin nhắn SMS", section=SECTION, fields=fields, values=data, errors=errors,
                      form_error=msg, action="/sms/send", cancel_url="/sms/history", submit_label="Gửi")
    return _done(f"/sms/messages/{m.id}", f"Đã xếp tin nhắn tới {service.local_phone(m.phone)} vào hàng đợi gửi.")


# --- history ------------------------------------------------------------------------------------
def _filters(request: Request) -> inbox.SmsFilters:
    qp = request.query_params
    tz = _tz(request)
    until = _day(qp.get("until"), tz)
    direction = qp.get("direction", "")
    status = qp.get("status", "")
    return inbox.SmsFilters(phone=qp.get("phone", "")[:20], direction=direction if direction in ("in", "out") else "",
                            status=status if status in service.STATUS_LABELS else "", since=_day(qp.get("since"), tz),
                            until=until + timedelta(days=1) if until else None)


@router.get("/history")
def history(request: Request, db: DbDep, p: Principal = console("sms.history")):
    params = list_params(request)
    f = _filters(request)
    error = ""
    try:
        page = inbox.list_messages(db, p, params, f)
    except DomainError as e:
        db.rollback()
        error, page = e.detail, Page([], 1, params.page_size, 0)
    export_query = urlencode([(k, v) for k, v in request.query_params.items() if k not in ("page", "page_size", "msg")])
    return render(request, "sms_history.html", p, title="Lịch sử SMS", section=SECTION, page=page,
                  rows=inbox.messages_out(db, page.items, p) if page.items else [], sort=params.sort or "-created_at",
                  list_error=error, statuses=service.STATUS_LABELS, directions=service.DIRECTION_LABELS,
                  export_query=export_query, local=service.local_phone, can_send=p.has("sms.send"))


@router.get("/history/export.xlsx")
def history_export(request: Request, db: DbDep, p: Principal = console("sms.history")):
    f = _filters(request)
    q = request.query_params.get("q", "")[:200]
    sort = request.query_params.get("sort", "")[:40]
    try:
        export._order(sort)
        total = export.count(db, p, f, q)
    except DomainError as e:
        db.rollback()
        return _done("/sms/history", "Không xuất được: " + e.detail, error=True)
    return xlsx_download(request, "/sms/history", total=total, limit=export.DIRECT_LIMIT,
                         start_job=lambda: export.start_job(db, p, f, q, sort, total),
                         write=lambda path: export.write_workbook(db, p, f, path, q=q, sort=sort, total=total),
                         audit=lambda n: export.audit(db, p, n), file_name=export.file_name)


@router.get("/messages/{message_id}")
def message_detail(message_id: str, request: Request, db: DbDep, p: Principal = console("sms.history")):
    m = inbox.get_message(db, p, message_id)
    out = inbox.message_out(db, m, p, detail=True)
    return render(request, "sms_message.html", p, title=f"Tin nhắn {service.DIRECTION_LABELS[m.direction].lower()} "
                  f"{service.local_phone(m.phone)}", section=SECTION, m=out, local=service.local_phone,
                  directions=service.DIRECTION_LABELS, statuses=service.STATUS_LABELS,
                  purpose=export.PURPOSE_LABELS.get(m.purpose, m.purpose), can_inbox=p.has("sms.inbox"))
