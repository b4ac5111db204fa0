"""Console pages of the knowledge base: the coordinator's search tab with search-as-you-type and
"copy for SMS" (CRM-10), the administration of procedures, answers, attachments and events
(KB-12…20, 22), API keys and the call log (KB-01), and the public look-up page for citizens
(KB-21, APP-02). Pages parse, call service/signing, and render; the rules live there."""

from __future__ import annotations

import html
from datetime import datetime, timedelta
from html.parser import HTMLParser
from typing import Any
from urllib.parse import quote, urlencode
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import select
from starlette.datastructures import UploadFile

from ketnoi.catalog.models import Area
from ketnoi.core.errors import DomainError, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.knowledge import schemas as S
from ketnoi.knowledge import service, signing
from ketnoi.knowledge.models import STATUS_LABELS, ApiKey, Procedure
from ketnoi.web.crud import Action, Column, Field, Filter, Row, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, client_ip, console
from ketnoi.web.pages import env, render

router = APIRouter()
SECTION = "Thủ tục hành chính"
STATUS_OPTIONS = [(k, v) for k, v in STATUS_LABELS.items()]
PUBLIC_PAGE_SIZE = 10


# --- template helpers ----------------------------------------------------------------------------
class _Marks(HTMLParser):
    """Text of a search snippet with only its <mark> tags kept, everything else escaped."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.depth = 0

    def handle_starttag(self, tag, attrs):
        if tag == "mark":
            self.depth += 1
            self.out.append("<mark>")

    def handle_endtag(self, tag):
        if tag == "mark" and self.depth:
            self.depth -= 1
            self.out.append("</mark>")

    def handle_data(self, data):
        self.out.append(html.escape(data, quote=False))


def marks(snippet: str | None) -> Markup:
    m = _Marks()
    m.feed(snippet or "")
    m.close()
    return Markup("".join(m.out) + "</mark>" * m.depth)


env.filters["kb_marks"] = marks
env.filters["kb_rich"] = lambda content: Markup(service.sanitize_html(content or ""))
env.globals["KB_STATUS"] = STATUS_LABELS


def _done(url: str, msg: str, *, error: bool = False) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{'err' if error else 'msg'}={quote(msg)}", status_code=303)


def _tz(request: Request) -> ZoneInfo:
    return ZoneInfo(request.app.state.settings.timezone)


def _org_options(db) -> list[tuple[str, str]]:
    return [(o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))]


def _org_scope(request: Request, db, p: Principal) -> str:
    """The organization a page works in: one's own; a system administrator picks one (first by default)."""
    if not p.is_sysadmin:
        return p.organization_id or ""
    chosen = request.query_params.get("organization_id", "")[:64]
    options = _org_options(db)
    return chosen if chosen in {o for o, _ in options} else (options[0][0] if options else "")


def _provinces(db) -> list[Area]:
    rows = list(db.scalars(select(Area).where(Area.parent_id.is_(None), Area.scheme == "2025", Area.is_active.is_(True))
                           .order_by(Area.name)))
    return rows or list(db.scalars(select(Area).where(Area.parent_id.is_(None)).order_by(Area.name)))


def _children(db, parent_id: str) -> list[Area]:
    if not parent_id:
        return []
    return list(db.scalars(select(Area).where(Area.parent_id == parent_id[:64], Area.is_active.is_(True))
                           .order_by(Area.name)))


async def _upload(request: Request, name: str = "file") -> tuple[str, bytes] | None:
    form = await request.form()
    f = form.get(name)
    if not isinstance(f, UploadFile) or not f.filename:
        return None
    limit = request.app.state.settings.attachment_max_mb * 1024 * 1024
    return f.filename, await f.read(limit + 1)


# --- the coordinator's tab (CRM-10) --------------------------------------------------------------
def _search_args(request: Request) -> dict[str, Any]:
    qp = request.query_params
    try:
        page = min(max(1, int(qp.get("page", 1))), 10_000)
    except ValueError:
        page = 1
    return {"q": qp.get("q", "")[:200], "mode": "exact" if qp.get("mode") == "exact" else "approximate",
            "province": qp.get("province", "")[:64], "district": qp.get("district", "")[:64],
            "type_doc": qp.get("type_doc", "")[:100], "page": page}


def _run_search(db, org_id: str, args: dict[str, Any], status: str = "published", page_size: int = 20):
    if not args["q"].strip() or not org_id:
        return None
    return service.search_procedures(db, org_id, args["q"], mode=args["mode"], type_doc=args["type_doc"],
                                     area_id=args["district"] or args["province"], status=status,
                                     page=args["page"], page_size=page_size)


def _results_ctx(db, org_id: str, args: dict[str, Any]) -> dict[str, Any]:
    error = ""
    if args["district"]:
        district = db.get(Area, args["district"])
        if district is None or district.parent_id != args["province"]:
            args["district"] = ""  # left over from the previously chosen province
    try:
        result = _run_search(db, org_id, args)
    except DomainError as e:
        db.rollback()
        result, error = None, e.detail
    pages = max(1, (result.total + result.page_size - 1) // result.page_size) if result else 1
    return {"result": result, "args": args, "pages": pages, "search_error": error}


@router.get("/knowledge")
def search_page(request: Request, db: DbDep, p: Principal = console("knowledge.search")):
    org_id = _org_scope(request, db, p)
    args = _search_args(request)
    return render(request, "knowledge_search.html", p, title="Tra cứu thủ tục hành chính", section=SECTION,
                  provinces=_provinces(db), districts=_children(db, args["province"]),
                  folders=service.facet_values(db, org_id, "type_doc"), org_id=org_id,
                  orgs=_org_options(db) if p.is_sysadmin else [], **_results_ctx(db, org_id, args))


@router.get("/knowledge/results")
def search_results(request: Request, db: DbDep, p: Principal = console("knowledge.search")):
    """The results fragment for search-as-you-type; the address bar follows the query."""
    org_id = _org_scope(request, db, p)
    args = _search_args(request)
    resp = render(request, "knowledge_results.html", p, org_id=org_id, **_results_ctx(db, org_id, args))
    kept = [(k, v) for k, v in request.query_params.multi_items() if v and (k, v) != ("page", "1")]
    resp.headers["HX-Replace-Url"] = "/knowledge" + ("?" + urlencode(kept) if kept else "")
    return resp


@router.get("/knowledge/areas")
def area_options(request: Request, db: DbDep, p: Principal = console("knowledge.search")):
    return render(request, "knowledge_area_options.html", p,
                  areas=_children(db, request.query_params.get("province", "")))


def _sms_answers(proc: Procedure) -> list[dict[str, Any]]:
    return [{"a": a, "sms": service.sms_text(a)} for a in service.published_answers(proc)]


@router.get("/knowledge/procedures/{procedure_id}")
def procedure_view(procedure_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.search")):
    """A procedure with its published answers, each with the one-click copy for an SMS."""
    proc = service.get_procedure(db, p, procedure_id)
    if proc.status != "published" and not p.has("knowledge.read"):
        raise NotFound("Không tìm thấy thủ tục.")
    ctx = {"proc": proc, "answers": _sms_answers(proc), "sms_limit": service.SMS_LIMIT,
           "back": request.query_params.get("back", "")}
    if request.headers.get("HX-Request"):
        return render(request, "knowledge_detail_body.html", p, **ctx)
    return render(request, "knowledge_detail.html", p, title=proc.title, section=SECTION, **ctx)


@router.get("/knowledge/attachments/{attachment_id}")
def attachment_download(attachment_id: str, db: DbDep, p: Principal = console("knowledge.search")):
    if p.has("knowledge.read"):
        att = service.get_attachment(db, p, attachment_id)
    else:  # coordinators see what is published
        att = service.published_attachment(db, p.organization_id or "", attachment_id)
    return FileResponse(service.attachment_path(att), media_type=att.content_type, filename=att.filename)


# --- administration of procedures (KB-12…20) -----------------------------------------------------
def _procedure_fields(db, p: Principal, proc: Procedure | None = None) -> list[Field]:
    fields = []
    if p.is_sysadmin and proc is None:
        fields.append(Field("organization_id", "Tổ chức", "select", required=True, options=_org_options(db)))
    return fields + [
        Field("code", "Mã thủ tục", required=True, maxlength=50, help="Ví dụ 1.000894"),
        Field("title", "Tên thủ tục", required=True, maxlength=1000, wide=True),
        Field("status", "Trạng thái", "select", required=True, options=STATUS_OPTIONS, default="published"),
        Field("type_doc", "Thư mục tài liệu", maxlength=100, help="Nhóm tài liệu (typeDoc), ví dụ bo-tu-phap"),
        Field("field", "Lĩnh vực", maxlength=300), Field("level", "Cấp thực hiện", maxlength=200),
        Field("agency", "Cơ quan thực hiện", maxlength=1000), Field("authority", "Cơ quan có thẩm quyền", maxlength=1000),
        Field("procedure_type", "Loại thủ tục", maxlength=300), Field("subjects", "Đối tượng thực hiện", maxlength=1000),
        Field("decision_no", "Số quyết định", maxlength=200), Field("source_url", "Nguồn (địa chỉ web)", maxlength=500),
    ]


ANSWER_FIELDS = [Field("answer_title", "Tiêu đề câu trả lời", maxlength=500),
                 Field("answer_status", "Trạng thái câu trả lời", "select", required=True, options=STATUS_OPTIONS,
                       default="published"),
                 Field("answer_content", "Nội dung câu trả lời", "textarea", required=True,
                       help="Được dùng: đoạn văn, xuống dòng, danh sách, in đậm/nghiêng, liên kết, bảng, tiêu đề "
                            "nhỏ. Văn bản thường: dòng trống tách đoạn.")]


def _area_ids(form) -> list[str]:
    ids = [str(v)[:64] for v in form.getlist("area_ids") if v]
    pick = str(form.get("area_district") or form.get("area_province") or "")[:64]
    return list(dict.fromkeys(ids + ([pick] if pick else [])))


def _admin_form(request, p, db, *, proc=None, values=None, errors=None, form_error="", status=200):
    title = f"Sửa thủ tục {proc.code}" if proc else "Thêm thủ tục hành chính"
    return render(request, "knowledge_procedure_form.html", p, status=status, title=title, section=SECTION,
                  proc=proc, fields=_procedure_fields(db, p, proc), answer_fields=ANSWER_FIELDS,
                  values=values or {}, errors=errors or {}, form_error=form_error, provinces=_provinces(db),
                  areas=sorted(proc.areas, key=lambda a: a.code) if proc else [],
                  can_write=p.has("knowledge.write"))


def _errors_of(exc: Exception) -> tuple[dict[str, str], str]:
    errors, msg = field_errors(exc)
    renamed = {("answer_" + k.split(".", 1)[1].split(".")[0] if k.startswith("answer.") else k): v
               for k, v in errors.items()}
    if any(k.startswith("answer_attachment") for k in renamed):
        renamed["file"] = next(v for k, v in renamed.items() if k.startswith("answer_attachment"))
    return renamed, msg


@router.get("/knowledge/admin")
def admin_list(request: Request, db: DbDep, p: Principal = console("knowledge.read")):
    params = list_params(request)
    qp = request.query_params
    org_id = _org_scope(request, db, p) if p.is_sysadmin else p.organization_id or ""
    status = qp.get("status", "") if qp.get("status", "") in STATUS_LABELS else ""
    f = service.ProcedureFilters(type_doc=qp.get("type_doc", "")[:100], field=qp.get("field", "")[:300],
                                 status=status, organization_id=org_id)
    try:
        page = service.list_procedures(db, p, params, f)
    except DomainError as e:
        db.rollback()
        return _done("/knowledge/admin", e.detail, error=True)
    can_write = p.has("knowledge.write")
    rows = [Row([x.code, x.title, x.type_doc, x.field, STATUS_LABELS.get(x.status, x.status),
                 x.updated_at.astimezone(_tz(request)).strftime("%d/%m/%Y %H:%M")],
                url=f"/knowledge/admin/{x.id}",
                actions=[Action("Sửa", f"/knowledge/admin/{x.id}"),
                         Action("Xóa", f"/knowledge/admin/{x.id}/delete", "post", cls="danger",
                                confirm=f"Xóa thủ tục {x.code} cùng mọi câu trả lời? Thao tác không hoàn tác được.")]
                if can_write else []) for x in page.items]
    filters = [Filter("type_doc", "Thư mục", [(v, v) for v in service.facet_values(db, org_id, "type_doc")]),
               Filter("field", "Lĩnh vực", [(v, v) for v in service.facet_values(db, org_id, "field")]),
               Filter("status", "Trạng thái", STATUS_OPTIONS)]
    if p.is_sysadmin:
        filters.insert(0, Filter("organization_id", "Tổ chức", _org_options(db)))
    links = [{"url": "/knowledge/events", "label": "Sự kiện"}]
    if p.has("knowledge.keys"):
        links.append({"url": "/knowledge/api-keys", "label": "Khóa API đối tác"})
    return render(request, "crud_list.html", p, title="Cơ sở tri thức thủ tục hành chính", section=SECTION,
                  page=page, rows=rows, sort=params.sort or "code", filters=filters, row_actions=can_write,
                  columns=[Column("Mã", "code"), Column("Tên thủ tục", "title"), Column("Thư mục"),
                           Column("Lĩnh vực"), Column("Trạng thái", "status"), Column("Cập nhật", "updated_at")],
                  search_hint="Mã hoặc tên thủ tục…", new_url="/knowledge/admin/new" if can_write else "",
                  extra_links=links)


@router.get("/knowledge/admin/areas")
def admin_area_options(request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    return render(request, "knowledge_area_options.html", p,
                  areas=_children(db, request.query_params.get("area_province", "")))


@router.get("/knowledge/admin/new")
def admin_new(request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    return _admin_form(request, p, db, values={"status": "published", "answer_status": "published"})


@router.post("/knowledge/admin/new")
async def admin_create(request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    fields = _procedure_fields(db, p) + ANSWER_FIELDS
    values = await form_data(request, fields)
    form = await request.form()
    try:
        upload = await _upload(request)
        data = S.ProcedureIn.model_validate({
            **{k: v for k, v in values.items() if not k.startswith("answer_")}, "area_ids": _area_ids(form),
            "answer": {"title": values["answer_title"], "content": values["answer_content"],
                       "status": values["answer_status"] or "published"}})
        proc = service.create_procedure(db, p, data, upload=upload)
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = _errors_of(e)
        return _admin_form(request, p, db, values=values, errors=errors, form_error=msg, status=422)
    return _done(f"/knowledge/admin/{proc.id}", f"Đã tạo thủ tục {proc.code}.")


def _procedure_page(request, p, db, proc, *, values=None, errors=None, form_error="", open_form="", status=200):
    vals = values if values is not None else {f.name: getattr(proc, f.name, "") for f in _procedure_fields(db, p, proc)}
    return render(request, "knowledge_procedure.html", p, status=status, title=f"Thủ tục {proc.code}", section=SECTION,
                  proc=proc, fields=_procedure_fields(db, p, proc), answer_fields=ANSWER_FIELDS, values=vals,
                  errors=errors or {}, form_error=form_error, open_form=open_form, provinces=_provinces(db),
                  areas=sorted(proc.areas, key=lambda a: a.code), can_write=p.has("knowledge.write"),
                  max_mb=request.app.state.settings.attachment_max_mb)


@router.get("/knowledge/admin/{procedure_id}")
def admin_procedure(procedure_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.read")):
    return _procedure_page(request, p, db, service.get_procedure(db, p, procedure_id))


@router.post("/knowledge/admin/{procedure_id}")
async def admin_update(procedure_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    proc = service.get_procedure(db, p, procedure_id)
    fields = _procedure_fields(db, p, proc)
    values = await form_data(request, fields)
    form = await request.form()
    try:
        service.update_procedure(db, p, proc.id, S.ProcedurePatch.model_validate({**values,
                                                                                  "area_ids": _area_ids(form)}))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        proc = service.get_procedure(db, p, procedure_id)
        return _procedure_page(request, p, db, proc, values=values, errors=errors, form_error=msg,
                               open_form="procedure", status=422)
    return _done(f"/knowledge/admin/{proc.id}", "Đã lưu thủ tục.")


@router.post("/knowledge/admin/{procedure_id}/delete")
def admin_delete(procedure_id: str, db: DbDep, p: Principal = console("knowledge.write")):
    try:
        proc = service.get_procedure(db, p, procedure_id)
        code = proc.code
        service.delete_procedure(db, p, procedure_id)
    except DomainError as e:
        db.rollback()
        return _done("/knowledge/admin", "Không xóa được: " + e.detail, error=True)
    return _done("/knowledge/admin", f"Đã xóa thủ tục {code} cùng các câu trả lời.")


async def _answer_form(request: Request) -> dict[str, Any]:
    form = await request.form()
    out = {"title": str(form.get("answer_title") or ""), "content": str(form.get("answer_content") or ""),
           "status": str(form.get("answer_status") or "published")}
    if form.get("sort_order"):
        out["sort_order"] = str(form.get("sort_order"))
    return out


def _answer_failed(request, p, db, procedure_id: str, e: Exception, values: dict, open_form: str):
    db.rollback()
    errors, msg = field_errors(e)
    errors = {("answer_" + k if k in ("title", "content", "status", "sort_order") else
               "file" if k.startswith(("attachment", "file")) else k): v for k, v in errors.items()}
    proc = service.get_procedure(db, p, procedure_id)
    return _procedure_page(request, p, db, proc, errors=errors, form_error=msg, open_form=open_form, status=422,
                           values={**{f.name: getattr(proc, f.name, "") for f in _procedure_fields(db, p, proc)},
                                   **{"answer_" + k: v for k, v in values.items()}})


@router.post("/knowledge/admin/{procedure_id}/answers")
async def admin_add_answer(procedure_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    values = await _answer_form(request)
    try:
        upload = await _upload(request)
        service.add_answer(db, p, procedure_id, S.AnswerIn.model_validate(values), upload=upload)
    except (ValidationError, DomainError) as e:
        return _answer_failed(request, p, db, procedure_id, e, values, "new-answer")
    return _done(f"/knowledge/admin/{procedure_id}", "Đã thêm câu trả lời.")


@router.post("/knowledge/admin/answers/{answer_id}")
async def admin_update_answer(answer_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    answer = service.get_answer(db, p, answer_id)
    pid = answer.procedure_id
    values = await _answer_form(request)
    try:
        service.update_answer(db, p, answer_id, S.AnswerPatch.model_validate(values))
    except (ValidationError, DomainError) as e:
        return _answer_failed(request, p, db, pid, e, values, f"answer-{answer_id}")
    return _done(f"/knowledge/admin/{pid}", "Đã lưu câu trả lời.")


@router.post("/knowledge/admin/answers/{answer_id}/delete")
def admin_delete_answer(answer_id: str, db: DbDep, p: Principal = console("knowledge.write")):
    pid = service.get_answer(db, p, answer_id).procedure_id
    try:
        service.delete_answer(db, p, answer_id)
    except DomainError as e:
        db.rollback()
        return _done(f"/knowledge/admin/{pid}", "Không xóa được: " + e.detail, error=True)
    return _done(f"/knowledge/admin/{pid}", "Đã xóa câu trả lời.")


@router.post("/knowledge/admin/answers/{answer_id}/attachments")
async def admin_add_attachment(answer_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    pid = service.get_answer(db, p, answer_id).procedure_id
    try:
        upload = await _upload(request)
        if upload is None:
            raise ValidationFailed.field("file", "Chọn tệp cần đính kèm.")
        service.add_attachment(db, p, answer_id, *upload)
    except DomainError as e:
        db.rollback()
        return _done(f"/knowledge/admin/{pid}", "Không đính kèm được: " + e.detail, error=True)
    return _done(f"/knowledge/admin/{pid}", "Đã đính kèm tệp.")


@router.post("/knowledge/admin/attachments/{attachment_id}/delete")
def admin_delete_attachment(attachment_id: str, db: DbDep, p: Principal = console("knowledge.write")):
    att = service.get_attachment(db, p, attachment_id)
    pid = service.get_answer(db, p, att.answer_id).procedure_id
    service.delete_attachment(db, p, attachment_id)
    return _done(f"/knowledge/admin/{pid}", "Đã xóa tệp đính kèm.")


# --- events (KB-22) ------------------------------------------------------------------------------
def _event_fields(db, p: Principal, new: bool) -> list[Field]:
    fields = [Field("organization_id", "Tổ chức", "select", required=True, options=_org_options(db))] \
        if p.is_sysadmin and new else []
    return fields + [Field("title", "Tên sự kiện", required=True, maxlength=500, wide=True),
                     Field("starts_at", "Bắt đầu", "datetime-local"), Field("ends_at", "Kết thúc", "datetime-local"),
                     Field("place", "Địa điểm", maxlength=500),
                     Field("status", "Trạng thái", "select", required=True, options=STATUS_OPTIONS,
                           default="published"),
                     Field("description", "Mô tả", "textarea")]


def _local_times(values: dict[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """datetime-local values (the platform's zone) as aware datetimes; empty = none."""
    out = dict(values)
    for k in ("starts_at", "ends_at"):
        v = (values.get(k) or "").strip()
        try:
            out[k] = datetime.fromisoformat(v).replace(tzinfo=tz) if v else None
        except ValueError:
            out[k] = v  # let validation say it
    return out


def _event_form(request, p, db, *, event=None, values=None, errors=None, form_error="", status=200):
    extras = [{"title": "Xóa sự kiện", "label": "Xóa", "url": f"/knowledge/events/{event.id}/delete", "cls": "danger",
               "confirm": f"Xóa sự kiện {event.title}?"}] if event else []
    return render(request, "crud_form.html", p, status=status, section=SECTION,
                  title="Sửa sự kiện" if event else "Thêm sự kiện", fields=_event_fields(db, p, event is None),
                  values=values or {}, errors=errors or {}, form_error=form_error,
                  action=f"/knowledge/events/{event.id}" if event else "/knowledge/events/new",
                  cancel_url="/knowledge/events", extras=extras)


@router.get("/knowledge/events")
def event_list(request: Request, db: DbDep, p: Principal = console("knowledge.read")):
    params = list_params(request)
    status = request.query_params.get("status", "")
    page = service.list_events(db, p, params, status=status if status in STATUS_LABELS else "",
                               organization_id=_org_scope(request, db, p) if p.is_sysadmin else "")
    can_write = p.has("knowledge.write")
    def fmt(d):
        return d.astimezone(_tz(request)).strftime("%H:%M %d/%m/%Y") if d else ""
    rows = [Row([e.title, fmt(e.starts_at), fmt(e.ends_at), e.place, STATUS_LABELS.get(e.status, e.status)],
                url=f"/knowledge/events/{e.id}" if can_write else "",
                actions=[Action("Sửa", f"/knowledge/events/{e.id}")] if can_write else []) for e in page.items]
    return render(request, "crud_list.html", p, title="Sự kiện", section=SECTION, page=page, rows=rows,
                  sort=params.sort or "-starts_at", row_actions=can_write,
                  filters=[Filter("status", "Trạng thái", STATUS_OPTIONS)],
                  columns=[Column("Tên sự kiện", "title"), Column("Bắt đầu", "starts_at"), Column("Kết thúc"),
                           Column("Địa điểm"), Column("Trạng thái")],
                  new_url="/knowledge/events/new" if can_write else "",
                  extra_links=[{"url": "/knowledge/admin", "label": "Thủ tục"}])


@router.get("/knowledge/events/new")
def event_new(request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    return _event_form(request, p, db, values={"status": "published"})


@router.post("/knowledge/events/new")
async def event_create(request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    values = await form_data(request, _event_fields(db, p, True))
    try:
        service.create_event(db, p, S.EventIn.model_validate(_local_times(values, _tz(request))))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return _event_form(request, p, db, values=values, errors=errors, form_error=msg, status=422)
    return _done("/knowledge/events", "Đã tạo sự kiện.")


def _event_values(e, tz: ZoneInfo) -> dict[str, Any]:
    def local(d):
        return d.astimezone(tz).strftime("%Y-%m-%dT%H:%M") if d else ""
    return {"title": e.title, "starts_at": local(e.starts_at), "ends_at": local(e.ends_at), "place": e.place,
            "status": e.status, "description": e.description}


@router.get("/knowledge/events/{event_id}")
def event_edit(event_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    e = service.get_event(db, p, event_id)
    return _event_form(request, p, db, event=e, values=_event_values(e, _tz(request)))


@router.post("/knowledge/events/{event_id}")
async def event_update(event_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.write")):
    e = service.get_event(db, p, event_id)
    values = await form_data(request, _event_fields(db, p, False))
    try:
        service.update_event(db, p, e.id, S.EventPatch.model_validate(_local_times(values, _tz(request))))
    except (ValidationError, DomainError) as exc:
        db.rollback()
        errors, msg = field_errors(exc)
        return _event_form(request, p, db, event=service.get_event(db, p, event_id), values=values, errors=errors,
                           form_error=msg, status=422)
    return _done("/knowledge/events", "Đã lưu sự kiện.")


@router.post("/knowledge/events/{event_id}/delete")
def event_delete(event_id: str, db: DbDep, p: Principal = console("knowledge.write")):
    service.delete_event(db, p, event_id)
    return _done("/knowledge/events", "Đã xóa sự kiện.")


# --- API keys and the call log (KB-01) -----------------------------------------------------------
def _keys_page(request, p, db, *, issued=None, replaces="", errors=None, values=None, form_error="", status=200):
    params = list_params(request)
    page = signing.list_keys(db, p, params, state=request.query_params.get("state", "")[:10])
    orgs = dict(_org_options(db)) if p.is_sysadmin else {}
    return render(request, "knowledge_keys.html", p, status=status, title="Khóa API đối tác", section=SECTION,
                  page=page, keys=[{"k": k, "state": signing.key_state(k)} for k in page.items],
                  state_labels=signing.KEY_STATE_LABELS, scope_labels=signing.SCOPE_LABELS, issued=issued,
                  replaces=replaces, errors=errors or {}, values=values or {"scopes": ["knowledge.read"]},
                  form_error=form_error, orgs=orgs, grace_hours=int(signing.ROTATION_GRACE.total_seconds() // 3600))


@router.get("/knowledge/api-keys")
def keys_list(request: Request, db: DbDep, p: Principal = console("knowledge.keys")):
    return _keys_page(request, p, db)


@router.post("/knowledge/api-keys")
async def keys_create(request: Request, db: DbDep, p: Principal = console("knowledge.keys")):
    form = await request.form()
    values = {"name": str(form.get("name") or "")[:300], "scopes": [str(s) for s in form.getlist("scopes")],
              "expires_on": str(form.get("expires_on") or ""), "organization_id": str(form.get("organization_id") or "")}
    try:
        expires = None
        if values["expires_on"]:
            try:
                day = datetime.strptime(values["expires_on"], "%Y-%m-%d")
            except ValueError:
                raise ValidationFailed.field("expires_at", "Ngày hết hạn không hợp lệ.")
            expires = (day + timedelta(days=1)).replace(tzinfo=_tz(request))
        issued = signing.create_key(db, p, values["name"], values["scopes"], expires_at=expires,
                                    organization_id=values["organization_id"] or None)
    except DomainError as e:
        db.rollback()
        errors, msg = field_errors(e)
        return _keys_page(request, p, db, errors=errors, values=values, form_error=msg, status=422)
    db.commit()
    return _keys_page(request, p, db, issued=issued)


@router.post("/knowledge/api-keys/{key_id}/rotate")
def keys_rotate(key_id: str, request: Request, db: DbDep, p: Principal = console("knowledge.keys")):
    try:
        issued = signing.rotate_key(db, p, key_id)
    except ValidationFailed as e:
        db.rollback()
        return _done("/knowledge/api-keys", "Không đổi được khóa: " + e.detail, error=True)
    db.commit()
    return _keys_page(request, p, db, issued=issued, replaces=key_id)


@router.post("/knowledge/api-keys/{key_id}/revoke")
def keys_revoke(key_id: str, db: DbDep, p: Principal = console("knowledge.keys")):
    key = signing.revoke_key(db, p, key_id)
    return _done("/knowledge/api-keys", f"Đã thu hồi khóa {key.key_id}.")


PERIODS = {"1": ("24 giờ qua", timedelta(days=1)), "7": ("7 ngày qua", timedelta(days=7)),
           "30": ("30 ngày qua", timedelta(days=30))}


@router.get("/knowledge/api-calls")
def calls_list(request: Request, db: DbDep, p: Principal = console("knowledge.keys")):
    params = list_params(request, 50)
    qp = request.query_params
    period = PERIODS.get(qp.get("period", ""))
    f = signing.CallFilters(key_id=qp.get("key_id", "")[:40], outcome=qp.get("outcome", "")[:40],
                            status=qp.get("status", "") if qp.get("status", "") in ("ok", "error") else "",
                            since=utcnow() - period[1] if period else None)
    page = signing.list_calls(db, p, params, f)
    tz = _tz(request)
    rows = [Row([c.at.astimezone(tz).strftime("%H:%M:%S %d/%m/%Y"), c.key_id or "(phiên đăng nhập)",
                 f"{c.method} {c.path}", str(c.status), signing.OUTCOME_LABELS.get(c.outcome, c.outcome), c.ip,
                 f"{c.duration_ms} ms"]) for c in page.items]
    stmt = select(ApiKey).order_by(ApiKey.created_at.desc())
    keys = db.scalars(stmt if p.is_sysadmin else stmt.where(ApiKey.organization_id == p.organization_id))
    filters = [Filter("key_id", "Khóa", [(k.key_id, f"{k.key_id} – {k.name}") for k in keys]),
               Filter("outcome", "Kết quả", list(signing.OUTCOME_LABELS.items())),
               Filter("status", "Mã trả về", [("ok", "Thành công (< 400)"), ("error", "Lỗi (≥ 400)")]),
               Filter("period", "Thời gian", [(k, v[0]) for k, v in PERIODS.items()])]
    return render(request, "crud_list.html", p, title="Nhật ký gọi API tri thức", section=SECTION, page=page,
                  rows=rows, sort=params.sort or "-at", filters=filters, row_actions=False,
                  columns=[Column("Thời điểm", "at"), Column("Khóa"), Column("Yêu cầu"), Column("Mã", "status"),
                           Column("Kết quả"), Column("Địa chỉ"), Column("Thời gian xử lý", "duration_ms")],
                  search_hint="Đường dẫn, địa chỉ IP, mã khóa…",
                  extra_links=[{"url": "/knowledge/api-keys", "label": "Khóa API"}])


# --- the public look-up page (KB-21, 22; APP-02) --------------------------------------------------
def _public_org(request: Request, db) -> tuple[Organization | None, list[Organization]]:
    """?org=CODE, or the only active organization of the installation."""
    orgs = list(db.scalars(select(Organization).where(Organization.is_active.is_(True)).order_by(Organization.code)))
    code = request.query_params.get("org", "")[:50].lower()
    chosen = next((o for o in orgs if o.code.lower() == code), None) if code else None
    if chosen is None and len(orgs) == 1:
        chosen = orgs[0]
    return chosen, orgs


def _throttle(request: Request) -> None:
    from ketnoi.identity.auth import ip_throttle

    ip_throttle.hit("tra-cuu:" + client_ip(request), 240)


def _public(request: Request, template: str, status: int = 200, **ctx) -> HTMLResponse:
    return render(request, template, None, status=status, **ctx)


@router.get("/tra-cuu-thu-tuc")
def public_search(request: Request, db: DbDep):
    _throttle(request)
    org, orgs = _public_org(request, db)
    qp = request.query_params
    tab = "events" if qp.get("tab") == "events" else "procedures"
    q = qp.get("q", "")[:200].strip()
    try:
        page_no = min(max(1, int(qp.get("page", 1))), 10_000)
    except ValueError:
        page_no = 1
    result, listing, error = None, None, ""
    if org is not None:
        try:
            if q and tab == "events":
                result = service.search_events(db, org.id, q, page=page_no, page_size=PUBLIC_PAGE_SIZE)
            elif q:
                result = service.search_procedures(db, org.id, q, page=page_no, page_size=PUBLIC_PAGE_SIZE)
            elif tab == "events":
                listing = service.list_events(db, None, ListParams(page=page_no, page_size=PUBLIC_PAGE_SIZE),
                                              organization_id=org.id)
            else:
                listing = service.list_procedures(db, None, ListParams(page=page_no, page_size=PUBLIC_PAGE_SIZE),
                                                  service.ProcedureFilters(organization_id=org.id))
        except DomainError as e:
            db.rollback()
            error = e.detail
    total = result.total if result else (listing.total if listing else 0)
    pages = max(1, (total + PUBLIC_PAGE_SIZE - 1) // PUBLIC_PAGE_SIZE)
    return _public(request, "knowledge_public.html", title="Tra cứu thủ tục hành chính", org=org, orgs=orgs, tab=tab,
                   q=q, result=result, listing=listing, page_no=page_no, pages=pages, total=total, error=error)


public_search.ketnoi_public = True  # type: ignore[attr-defined]


@router.get("/tra-cuu-thu-tuc/su-kien/{event_id}")
def public_event(event_id: str, request: Request, db: DbDep):
    _throttle(request)
    org, _ = _public_org(request, db)
    if org is None:
        raise NotFound("Không tìm thấy sự kiện.")
    e = service.published_event(db, org.id, event_id)
    return _public(request, "knowledge_public_detail.html", title=e.title, org=org, event=e, proc=None,
                   back=request.query_params.get("back", ""))


public_event.ketnoi_public = True  # type: ignore[attr-defined]


@router.get("/tra-cuu-thu-tuc/tep/{attachment_id}")
def public_attachment(attachment_id: str, request: Request, db: DbDep):
    _throttle(request)
    org, _ = _public_org(request, db)
    if org is None:
        raise NotFound("Không tìm thấy tệp đính kèm.")
    att = service.published_attachment(db, org.id, attachment_id)
    return FileResponse(service.attachment_path(att), media_type=att.content_type, filename=att.filename)


public_attachment.ketnoi_public = True  # type: ignore[attr-defined]


@router.get("/tra-cuu-thu-tuc/{procedure_id}")
def public_procedure(procedure_id: str, request: Request, db: DbDep):
    _throttle(request)
    org, _ = _public_org(request, db)
    if org is None:
        raise NotFound("Không tìm thấy thủ tục.")
    proc = service.published_procedure(db, org.id, procedure_id)
    return _public(request, "knowledge_public_detail.html", title=proc.title, org=org, proc=proc, event=None,
                   answers=service.published_answers(proc), back=request.query_params.get("back", ""))


public_procedure.ketnoi_public = True  # type: ignore[attr-defined]

