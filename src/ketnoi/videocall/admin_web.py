"""Console pages of the video switchboard configuration (VC-11, 16, 17, 18): hotlines, queues,
groups (conditions, ring strategy, overflow, members), agents, waiting/greeting files, and partner
applications with their API keys (the secret is shown once). Changes go through videocall/config.py
(audited), deletions too, with the same checks as the partner API (config_api)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.core.errors import DomainError
from ketnoi.core.listing import apply_search, paginate
from ketnoi.identity.models import Organization, User
from ketnoi.identity.principal import Principal
from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.models import (
    AGENT_STATUS_LABELS,
    STRATEGY_LABELS,
    VcAgent,
    VcGroup,
    VcHotline,
    VcMediaFile,
    VcPartner,
    VcQueue,
)
from ketnoi.web.crud import Action, Column, Field, Row, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/videocall/admin")
SECTION = "Gọi video / Cấu hình"
TABS = [{"url": "/videocall/admin/hotlines", "label": "Hotline"}, {"url": "/videocall/admin/queues", "label": "Hàng đợi"},
        {"url": "/videocall/admin/groups", "label": "Nhóm trực"}, {"url": "/videocall/admin/agents",
                                                                   "label": "Điều phối viên"},
        {"url": "/videocall/admin/media", "label": "Tệp chờ, lời chào"},
        {"url": "/videocall/admin/partners", "label": "Đối tác, khóa API"}]
WEEKDAYS = [(str(i), n) for i, n in enumerate(("Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy",
                                                "Chủ nhật"), start=1)]
LISTS = (("unit", "đơn vị"), ("team", "đội"), ("group", "nhóm"), ("user", "tài khoản"), ("language", "ngôn ngữ"))


def _done(url: str, msg: str, *, error: bool = False) -> RedirectResponse:
    return RedirectResponse(f"{url}?{'err' if error else 'msg'}={quote(msg)}", status_code=303)


def _scoped(db: Session, p: Principal, model, *order):
    stmt = select(model).order_by(*order)
    return list(db.scalars(stmt if p.is_sysadmin else stmt.where(model.organization_id == p.organization_id)))


def _org_field(db: Session) -> Field:
    return Field("organization_id", "Tổ chức", "select", required=True, options=[
        (o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))])


def _media(db, p) -> list[tuple[str, str]]:
    return [(m.id, m.name) for m in _scoped(db, p, VcMediaFile, VcMediaFile.name)]


def _csv(v: Any) -> list[str]:
    return [x.strip() for x in str(v or "").split(",") if x.strip()]


# --- one definition per kind of object --------------------------------------------------------------
@dataclass
class Kind:
    key: str
    title: str  # plural, for the list
    one: str  # singular, for forms and messages
    model: type
    search: Callable[[], list]
    columns: list[Column]
    sortable: Callable[[], dict[str, Any]]
    row: Callable[[Session, Any], list[Any]]
    fields: Callable[[Session, Principal, bool], list[Field]]
    values: Callable[[Session, Any], dict[str, Any]]
    payload: Callable[[dict[str, Any]], dict[str, Any]]
    save: Callable[[Session, Principal, dict[str, Any], str | None, str | None], Any]
    delete: Callable[[Session, Principal, str], None]


def _hotline_fields(db, p, editing):
    queues = [(q.id, f"{q.code} – {q.name}") for q in _scoped(db, p, VcQueue, VcQueue.code)]
    return [Field("number", "Số / mã hotline", required=True, maxlength=30, help="Ví dụ 1022, SALES."),
            Field("name", "Tên", required=True, maxlength=200),
            Field("queue_id", "Hàng đợi", "select", options=queues),
            Field("greeting_start_id", "Lời chào đầu cuộc gọi", "select", options=_media(db, p)),
            Field("greeting_end_id", "Lời chào cuối cuộc gọi", "select", options=_media(db, p)),
            Field("is_active", "Đang hoạt động", "checkbox", default=True)]


def _queue_fields(db, p, editing):
    groups = [(g.id, f"{g.code} – {g.name}") for g in _scoped(db, p, VcGroup, VcGroup.code)]
    return [Field("code", "Mã", required=True, maxlength=50), Field("name", "Tên", required=True, maxlength=200),
            Field("max_wait_seconds", "Thời gian chờ tối đa (giây)", "number", required=True, default=120),
            Field("waiting_file_id", "Tệp chờ (phát khi đang kết nối)", "select", options=_media(db, p)),
            Field("group_ids", "Các nhóm, theo thứ tự thử", "multiselect", options=groups),
            Field("is_active", "Đang hoạt động", "checkbox", default=True)]


def _group_fields(db, p, editing):
    groups = [(g.id, f"{g.code} – {g.name}") for g in _scoped(db, p, VcGroup, VcGroup.code)]
    agents = [(a.id, a.display_name) for a in _scoped(db, p, VcAgent, VcAgent.display_name)]
    return [Field("code", "Mã", required=True, maxlength=50), Field("name", "Tên", required=True, maxlength=200),
            Field("strategy", "Cách đổ chuông", "select", required=True, options=list(STRATEGY_LABELS.items()),
                  default="ring_all"),
            Field("agent_ring_seconds", "Đổ chuông mỗi người (giây, cách lần lượt)", "number", default=20),
            Field("overflow_seconds", "Chuyển nhóm dự phòng sau (giây)", "number", default=45),
            Field("fallback_group_id", "Nhóm dự phòng", "select", options=groups),
            *[Field(f"cond_{k}", f"Điều kiện: {label} của người gọi", help="Cách nhau bằng dấu phẩy; để trống = mọi "
                    + label + ".") for k, label in LISTS],
            Field("cond_vip", "Điều kiện: khách VIP", "select", options=[("true", "Chỉ VIP"), ("false", "Không VIP")]),
            Field("cond_hours", "Điều kiện: khung giờ", help="Ví dụ 07:30-11:30,13:30-17:00."),
            Field("cond_weekdays", "Điều kiện: ngày trong tuần", "multiselect", options=WEEKDAYS),
            Field("cond_attributes", "Điều kiện: thuộc tính khác (JSON)", "textarea",
                  help='Ví dụ {"segment": ["b2b"]}.'),
            Field("agent_ids", "Điều phối viên của nhóm", "multiselect", options=agents),
            Field("is_active", "Đang hoạt động", "checkbox", default=True)]


def _group_values(db, g):
    c = g.conditions or {}
    out = {f: getattr(g, f) for f in config.GROUP_FIELDS if f != "conditions"}
    out.update({f"cond_{k}": ", ".join(c.get(k, [])) for k, _ in LISTS})
    out["cond_vip"] = "" if "vip" not in c else ("true" if c["vip"] else "false")
    out["cond_hours"] = c.get("hours", "")
    out["cond_weekdays"] = [str(d) for d in c.get("weekdays", [])]
    out["cond_attributes"] = json.dumps(c["attributes"], ensure_ascii=False) if c.get("attributes") else ""
    out["agent_ids"] = config.agent_ids_of(db, g.id)
    return out


def _group_payload(v):
    cond: dict[str, Any] = {k: _csv(v.get(f"cond_{k}")) for k, _ in LISTS if _csv(v.get(f"cond_{k}"))}
    if v.get("cond_vip") in ("true", "false"):
        cond["vip"] = v["cond_vip"] == "true"
    if (v.get("cond_hours") or "").strip():
        cond["hours"] = v["cond_hours"].strip()
    if v.get("cond_weekdays"):
        cond["weekdays"] = [int(d) for d in v["cond_weekdays"] if d.isdigit()]
    if (v.get("cond_attributes") or "").strip():
        try:
            cond["attributes"] = json.loads(v["cond_attributes"])
        except ValueError:
            cond["attributes"] = "JSON không hợp lệ"  # refused by the conditions' validation
    data = {k: v.get(k) for k in ("code", "name", "strategy", "fallback_group_id", "is_active")}
    for k, default in (("agent_ring_seconds", 20), ("overflow_seconds", 45)):
        data[k] = v.get(k) or default
    return {**data, "conditions": cond, "_agents": v.get("agent_ids") or []}


def _save_group(db, p, payload, obj_id, org):
    agents = payload.pop("_agents")
    g = config.save_group(db, p, S.GroupIn.model_validate(payload), obj_id, organization_id=org)
    current = set(config.agent_ids_of(db, g.id))
    for aid in agents:
        if aid not in current:
            config.add_member(db, p, g.id, aid)
    for aid in current - set(agents):
        config.remove_member(db, p, g.id, aid)
    return g


def _agent_fields(db, p, editing):
    stmt = select(User).where(User.organization_id.is_not(None), User.is_active.is_(True))
    if not p.is_sysadmin:
        stmt = stmt.where(User.organization_id == p.organization_id)
    users = db.scalars(stmt.order_by(User.username).limit(2000))
    groups = [(g.id, f"{g.code} – {g.name}") for g in _scoped(db, p, VcGroup, VcGroup.code)]
    return [Field("user_id", "Tài khoản", "select", required=True, readonly=editing,
                  options=[(u.id, f"{u.username} – {u.full_name}") for u in users]),
            Field("display_name", "Tên hiển thị", maxlength=200, help="Để trống: họ tên của tài khoản."),
            Field("group_ids", "Nhóm trực", "multiselect", options=groups),
            Field("is_active", "Đang trực video", "checkbox", default=True)]


KINDS: dict[str, Kind] = {k.key: k for k in (
    Kind("hotlines", "Hotline video", "hotline", VcHotline, lambda: [VcHotline.number, VcHotline.name],
         [Column("Số", "number"), Column("Tên", "name"), Column("Hàng đợi"), Column("Lời chào"), Column("Trạng thái")],
         lambda: {"number": VcHotline.number, "name": VcHotline.name},
         lambda db, h: [h.number, h.name, (db.get(VcQueue, h.queue_id).name if h.queue_id else ""),
                        "Có" if h.greeting_start_id or h.greeting_end_id else "",
                        "Hoạt động" if h.is_active else "Tạm ngừng"],
         _hotline_fields, lambda db, h: {f: getattr(h, f) for f in config.HOTLINE_FIELDS}, lambda v: v,
         lambda db, p, d, i, o: config.save_hotline(db, p, S.HotlineIn.model_validate(d), i, organization_id=o),
         config.delete_hotline),
    Kind("queues", "Hàng đợi video", "hàng đợi", VcQueue, lambda: [VcQueue.code, VcQueue.name],
         [Column("Mã", "code"), Column("Tên", "name"), Column("Chờ tối đa"), Column("Số nhóm"), Column("Tệp chờ"),
          Column("Trạng thái")], lambda: {"code": VcQueue.code, "name": VcQueue.name},
         lambda db, q: [q.code, q.name, f"{q.max_wait_seconds} giây", len(q.group_ids or []),
                        "Có" if q.waiting_file_id else "", "Hoạt động" if q.is_active else "Tạm ngừng"],
         _queue_fields, lambda db, q: {f: getattr(q, f) for f in config.QUEUE_FIELDS},
         lambda v: {**v, "max_wait_seconds": v.get("max_wait_seconds") or 120},
         lambda db, p, d, i, o: config.save_queue(db, p, S.QueueIn.model_validate(d), i, organization_id=o),
         config.delete_queue),
    Kind("groups", "Nhóm trực video", "nhóm", VcGroup, lambda: [VcGroup.code, VcGroup.name],
         [Column("Mã", "code"), Column("Tên", "name"), Column("Cách đổ chuông"), Column("Điều kiện"),
          Column("Số người"), Column("Trạng thái")], lambda: {"code": VcGroup.code, "name": VcGroup.name},
         lambda db, g: [g.code, g.name, STRATEGY_LABELS.get(g.strategy, g.strategy),
                        json.dumps(g.conditions, ensure_ascii=False) if g.conditions else "Mọi cuộc gọi",
                        len(config.agent_ids_of(db, g.id)), "Hoạt động" if g.is_active else "Tạm ngừng"],
         _group_fields, _group_values, _group_payload, _save_group, config.delete_group),
    Kind("agents", "Điều phối viên video", "điều phối viên", VcAgent, lambda: [VcAgent.display_name],
         [Column("Tên", "display_name"), Column("Tài khoản"), Column("Nhóm"), Column("Trạng thái", "status"),
          Column("Đang trực")], lambda: {"display_name": VcAgent.display_name, "status": VcAgent.status},
         lambda db, a: [a.display_name, db.get(User, a.user_id).username,
                        ", ".join(db.get(VcGroup, g).code for g in config.group_ids_of(db, a.id)),
                        AGENT_STATUS_LABELS.get(a.status, a.status), "Có" if a.is_active else "Không"],
         _agent_fields, lambda db, a: {"user_id": a.user_id, "display_name": a.display_name,
                                       "is_active": a.is_active, "group_ids": config.group_ids_of(db, a.id)},
         lambda v: v, lambda db, p, d, i, o: config.save_agent(db, p, S.AgentIn.model_validate(d), i),
         config.delete_agent),
)}


# --- pages --------------------------------------------------------------------------------------------
def _form(request, p, kind: Kind, fields, values, action, errors=None, form_error="", status=200, extras=None):
    return render(request, "crud_form.html", p, status=status, title=kind.one.capitalize(), section=SECTION,
                  fields=fields, values=values, errors=errors or {}, form_error=form_error, action=action,
                  cancel_url=f"/videocall/admin/{kind.key}", extras=extras or [])


def _list(kind: Kind):
    def page(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
        params = list_params(request)
        stmt = select(kind.model) if p.is_sysadmin else select(kind.model).where(
            kind.model.organization_id == p.organization_id)
        if params.q:
            stmt = apply_search(stmt, params.q, kind.search())
        sortable = kind.sortable()
        result = paginate(db, stmt, params, sortable, next(iter(sortable)))
        url = f"/videocall/admin/{kind.key}"
        rows = [Row(kind.row(db, o), url=f"{url}/{o.id}", actions=[
            Action("Sửa", f"{url}/{o.id}"), Action("Xóa", f"{url}/{o.id}/delete", "post", cls="danger",
                                                   confirm=f"Xóa {kind.one} này?")]) for o in result.items]
        return render(request, "crud_list.html", p, title=kind.title, section=SECTION, page=result, rows=rows,
                      sort=params.sort or next(iter(sortable)), row_actions=True, filters=[], columns=kind.columns,
                      new_url=f"{url}/new", extra_links=[t for t in TABS if t["url"] != url])

    return page


def _new(kind: Kind):
    def page(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
        fields = ([_org_field(db)] if p.is_sysadmin else []) + kind.fields(db, p, False)
        return _form(request, p, kind, fields, {}, f"/videocall/admin/{kind.key}/new")

    return page


def _edit(kind: Kind):
    def page(obj_id: str, request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
        obj = config._get(db, p, kind.model, obj_id, kind.one)
        return _form(request, p, kind, kind.fields(db, p, True), kind.values(db, obj),
                     f"/videocall/admin/{kind.key}/{obj.id}")

    return page


def _save(kind: Kind):
    async def action(obj_id: str | None, request: Request, db: DbDep,
                     p: Annotated[Principal, console("videocall.config")]):
        obj = config._get(db, p, kind.model, obj_id, kind.one) if obj_id else None
        fields = ([_org_field(db)] if p.is_sysadmin and obj is None else []) + kind.fields(db, p, obj is not None)
        values = await form_data(request, fields)
        if obj is not None and kind.key == "agents":
            values["user_id"] = obj.user_id
        url = f"/videocall/admin/{kind.key}"
        try:
            payload = kind.payload({k: v for k, v in values.items() if k != "organization_id"})
            saved = kind.save(db, p, payload, obj_id, values.get("organization_id"))
        except (ValidationError, DomainError) as e:
            db.rollback()
            errors, msg = field_errors(e)
            errors = {("cond_hours" if k == "conditions" else k): v for k, v in errors.items()}
            return _form(request, p, kind, fields, values, f"{url}/{obj_id}" if obj_id else f"{url}/new", errors,
                         msg, 422 if isinstance(e, ValidationError) else e.status)
        return _done(url, f"Đã lưu {kind.one} {getattr(saved, 'code', None) or getattr(saved, 'number', '') or ''}.")

    return action


def _delete(kind: Kind):
    def action(obj_id: str, request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
        url = f"/videocall/admin/{kind.key}"
        try:
            kind.delete(db, p, obj_id)
        except DomainError as e:
            db.rollback()
            return _done(url, f"Không xóa được: {e.detail}", error=True)
        return _done(url, f"Đã xóa {kind.one}.")

    return action


def _with_param(fn, param: str | None):
    """``fn(obj_id, …)`` as a route function whose path parameter is named ``param`` (None: a route
    without one, obj_id = None); FastAPI reads the rewritten signature."""
    import inspect

    sig = inspect.signature(fn)
    params = [x for x in sig.parameters.values() if x.name != "obj_id"]
    if param:
        params.insert(0, inspect.Parameter(param, inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=str))

    if inspect.iscoroutinefunction(fn):
        async def target(**kw):
            return await fn(kw.pop(param) if param else None, **kw)
    else:
        def target(**kw):
            return fn(kw.pop(param) if param else None, **kw)
    target.__signature__ = sig.replace(parameters=params)
    target.__name__ = fn.__name__
    return target


PARAMS = {"hotlines": "vc_hotline_id", "queues": "vc_queue_id", "groups": "vc_group_id", "agents": "vc_agent_id"}
for _key, _kind in KINDS.items():
    _param = PARAMS[_key]
    router.add_api_route(f"/{_key}", _list(_kind), methods=["GET"])
    router.add_api_route(f"/{_key}/new", _new(_kind), methods=["GET"])
    router.add_api_route(f"/{_key}/new", _with_param(_save(_kind), None), methods=["POST"])
    router.add_api_route(f"/{_key}/{{{_param}}}", _with_param(_edit(_kind), _param), methods=["GET"])
    router.add_api_route(f"/{_key}/{{{_param}}}", _with_param(_save(_kind), _param), methods=["POST"])
    router.add_api_route(f"/{_key}/{{{_param}}}/delete", _with_param(_delete(_kind), _param), methods=["POST"])


@router.get("")
def admin_home(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
    """The menu entry of ``videocall.config``: each configuration list with how many rows it holds."""
    sections = []
    for kind in (*KINDS.values(), None):
        model = kind.model if kind else VcMediaFile
        stmt = select(func.count()).select_from(model)
        if not p.is_sysadmin:
            stmt = stmt.where(model.organization_id == p.organization_id)
        sections.append({"url": f"/videocall/admin/{kind.key}" if kind else "/videocall/admin/media",
                         "label": kind.title if kind else "Tệp chờ và lời chào", "count": db.scalar(stmt) or 0})
    return render(request, "vc_admin_index.html", p, title="Cấu hình tổng đài video", section="Gọi video",
                  sections=sections, partners=p.has("videocall.partners"))


# --- waiting files and greetings ------------------------------------------------------------------------
@router.get("/media")
def media_list(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
    files = _scoped(db, p, VcMediaFile, VcMediaFile.created_at.desc())
    return render(request, "vc_admin_media.html", p, title="Tệp chờ và lời chào", section=SECTION, files=files,
                  tabs=TABS, organizations=[(o.id, o.name) for o in db.scalars(select(Organization))]
                  if p.is_sysadmin else [])


@router.post("/media")
async def media_upload(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.config")]):
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return _done("/videocall/admin/media", "Chọn tệp cần tải lên.", error=True)
    content = await upload.read(config.MAX_MEDIA_BYTES + 1)
    try:
        f = config.add_media_file(db, p, str(form.get("name") or upload.filename or ""), upload.content_type or "",
                                  content, str(form.get("organization_id") or "") or None)
    except DomainError as e:
        db.rollback()
        return _done("/videocall/admin/media", e.detail, error=True)
    return _done("/videocall/admin/media", f"Đã tải lên {f.name}.")


# --- partner applications and API keys --------------------------------------------------------------------
@router.get("/partners")
def partner_list(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.partners")]):
    params = list_params(request)
    stmt = select(VcPartner) if p.is_sysadmin else select(VcPartner).where(VcPartner.organization_id == p.organization_id)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcPartner.code, VcPartner.name, VcPartner.key_id])
    result = paginate(db, stmt, params, {"code": VcPartner.code, "name": VcPartner.name}, "code")
    url = "/videocall/admin/partners"
    rows = [Row([x.code, x.name, x.key_id, "Đang dùng" if x.is_active else "Đã khóa",
                 x.last_used_at.strftime("%d/%m/%Y %H:%M") if x.last_used_at else ""], actions=[
        Action("Cấp khóa mới", f"{url}/{x.id}/rotate", "post", confirm="Khóa cũ sẽ hết hiệu lực ngay. Tiếp tục?"),
        Action("Mở khóa" if not x.is_active else "Khóa", f"{url}/{x.id}/{'enable' if not x.is_active else 'disable'}",
               "post", cls="" if not x.is_active else "danger")]) for x in result.items]
    return render(request, "crud_list.html", p, title="Ứng dụng đối tác và khóa API", section=SECTION, page=result,
                  rows=rows, sort=params.sort or "code", row_actions=True, filters=[], new_url=f"{url}/new",
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Mã khóa (key id)"),
                           Column("Trạng thái"), Column("Dùng lần cuối")],
                  extra_links=[t for t in TABS if t["url"] != url])


def _partner_fields(db, p) -> list[Field]:
    return ([_org_field(db)] if p.is_sysadmin else []) + [
        Field("code", "Mã", required=True, maxlength=50), Field("name", "Tên ứng dụng", required=True, maxlength=200)]


@router.get("/partners/new")
def partner_new(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.partners")]):
    return render(request, "crud_form.html", p, title="Thêm ứng dụng đối tác", section=SECTION,
                  fields=_partner_fields(db, p), values={}, errors={}, action="/videocall/admin/partners/new",
                  cancel_url="/videocall/admin/partners")


def _secret_page(request, p, partner: VcPartner, secret: str):
    return render(request, "vc_admin_secret.html", p, title=f"Khóa API của {partner.name}", section=SECTION,
                  partner=partner, secret=secret)


@router.post("/partners/new")
async def partner_create(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.partners")]):
    fields = _partner_fields(db, p)
    values = await form_data(request, fields)
    try:
        partner, secret = config.create_partner(db, p, S.PartnerIn.model_validate(values))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return render(request, "crud_form.html", p, status=422, title="Thêm ứng dụng đối tác", section=SECTION,
                      fields=fields, values=values, errors=errors, form_error=msg,
                      action="/videocall/admin/partners/new", cancel_url="/videocall/admin/partners")
    return _secret_page(request, p, partner, secret)


@router.post("/partners/{vc_partner_id}/rotate")
def partner_rotate(vc_partner_id: str, request: Request, db: DbDep,
                   p: Annotated[Principal, console("videocall.partners")]):
    partner, secret = config.rotate_partner_key(db, p, vc_partner_id)
    return _secret_page(request, p, partner, secret)


@router.post("/partners/{vc_partner_id}/{action}")
def partner_toggle(vc_partner_id: str, action: str, db: DbDep,
                   p: Annotated[Principal, console("videocall.partners")]):
    if action not in ("enable", "disable"):
        return _done("/videocall/admin/partners", "Thao tác không hợp lệ.", error=True)
    partner = config.set_partner_active(db, p, vc_partner_id, action == "enable")
    return _done("/videocall/admin/partners", ("Đã mở khóa " if partner.is_active else "Đã khóa ") + partner.key_id)
