"""Console pages of the SMS configuration: providers with their live status (forms built from each
kind's settings schema, secrets write-only), templates and keyword rules (SMS-08, CRM-06)."""

from __future__ import annotations

import json
import types
import typing
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy import select

from ketnoi.catalog import service as catalog
from ketnoi.core.errors import DomainError
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.sms import config
from ketnoi.sms import schemas as S
from ketnoi.sms.keywords import ACTIONS
from ketnoi.sms.models import SmsTemplate
from ketnoi.sms.providers.registry import CONFIG_SCHEMAS, KIND_LABELS
from ketnoi.web.crud import Action, Column, Field, Row, field_errors, form_data, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/sms")
SECTION = "Tin nhắn SMS"
TABS = [{"url": "/sms/providers", "label": "Nhà cung cấp"}, {"url": "/sms/templates", "label": "Mẫu tin nhắn"},
        {"url": "/sms/keyword-rules", "label": "Quy tắc từ khóa"}]
STATE_LABELS = {"bound": "Đã kết nối", "connected": "Đã kết nối", "ready": "Sẵn sàng", "running": "Đang chạy",
                "connecting": "Đang kết nối", "reconnecting": "Đang kết nối lại", "disconnected": "Mất kết nối",
                "error": "Lỗi", "stopped": "Chưa chạy", "disabled": "Đã tắt"}
CONFIG_LABELS = {
    "host": "Máy chủ SMSC", "port": "Cổng", "system_id": "System ID (tài khoản SMPP)", "password": "Mật khẩu",
    "system_type": "System type", "bind_mode": "Kiểu kết nối (bind)", "binds": "Số kết nối song song",
    "window": "Cửa sổ gửi (số tin chờ phản hồi)", "rate": "Tốc độ tối đa (tin/giây mỗi kết nối)",
    "enquire_link_interval": "Chu kỳ enquire_link (giây)", "response_timeout": "Thời gian chờ phản hồi (giây)",
    "reconnect_min": "Chờ kết nối lại tối thiểu (giây)", "reconnect_max": "Chờ kết nối lại tối đa (giây)",
    "throttle_backoff": "Tạm dừng khi bị giới hạn tốc độ (giây)", "registered_delivery": "Yêu cầu báo cáo phát",
    "address_format": "Định dạng số điện thoại", "force_ucs2": "Luôn mã hóa UCS-2",
    "max_parts": "Số phần tin tối đa", "source_ton": "Source TON", "source_npi": "Source NPI",
    "in_doubt": "Phần tin chưa rõ kết quả khi mất kết nối", "mo_hold_seconds": "Giữ phần tin đến (giây)",
    "mo_timeout_seconds": "Chờ đủ các phần tin đến (giây)", "sendsms_url": "Địa chỉ sendsms",
    "username": "Tên đăng nhập", "smsc_id": "SMSC ID", "callback_base_url": "Địa chỉ ketnoi để cổng gọi lại",
    "inbound_secret": "Khóa bí mật cho tin đến", "dlr_mask": "DLR mask", "timeout": "Thời gian chờ (giây)",
    "url": "Địa chỉ API gửi tin", "format": "Định dạng yêu cầu", "headers": "Tiêu đề HTTP (JSON)",
    "extra_fields": "Trường bổ sung (JSON)", "signing_secret": "Khóa ký yêu cầu",
    "status_map": "Bảng trạng thái (JSON)", "response_ok_values": "Giá trị thành công (JSON)",
}


def _done(url: str, msg: str, *, error: bool = False) -> RedirectResponse:
    sep = "&" if "?" in url else "?"
    return RedirectResponse(f"{url}{sep}{'err' if error else 'msg'}={quote(msg)}", status_code=303)


def _org_field(db) -> Field:
    return Field("organization_id", "Tổ chức", "select", required=True, options=[
        (o.id, f"{o.code} – {o.name}") for o in db.scalars(select(Organization).order_by(Organization.code))])


def _status(request: Request) -> dict[str, dict]:
    channel = getattr(request.app.state, "sms", None)
    return channel.status() if channel is not None else {}


# --- providers ----------------------------------------------------------------------------------
def _state(status: dict[str, Any] | None, enabled: bool) -> str:
    if not enabled:
        return "Đã tắt"
    if not status:
        return "Chưa chạy"
    label = STATE_LABELS.get(str(status.get("state", "")), str(status.get("state", "")))
    extra = [f"{k}: {v}" for k, v in status.items() if k in ("in_flight", "sent", "received", "binds_up", "error")]
    return label + (f" ({', '.join(extra)})" if extra else "")


@router.get("/providers")
def provider_list(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    params = list_params(request)
    page = config.list_providers(db, p, params)
    status = _status(request)
    rows = [Row([x.name, KIND_LABELS.get(x.kind, x.kind), ", ".join(x.brandnames or []) or "Mọi brandname",
                 "Có" if x.is_default else "", str(x.priority), _state(status.get(x.name), x.enabled)],
                url=f"/sms/providers/{x.id}",
                actions=[Action("Sửa", f"/sms/providers/{x.id}"),
                         Action("Xóa", f"/sms/providers/{x.id}/delete", "post", cls="danger",
                                confirm=f"Xóa nhà cung cấp SMS \"{x.name}\"?")]) for x in page.items]
    return render(request, "crud_list.html", p, title="Nhà cung cấp SMS", section=SECTION, page=page, rows=rows,
                  sort=params.sort or "priority", row_actions=True, search_hint="Tên, loại", filters=[],
                  columns=[Column("Tên", "name"), Column("Loại", "kind"), Column("Brandname"), Column("Mặc định"),
                           Column("Thứ tự", "priority"), Column("Trạng thái")],
                  new_url="/sms/providers/new", extra_links=TABS[1:])


def _annotation(info) -> tuple[Any, bool]:
    """The field's type without Optional, and whether None is allowed."""
    ann = info.annotation
    if typing.get_origin(ann) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(ann) if a is not type(None)]
        return (args[0] if len(args) == 1 else ann), True
    return ann, False


def _config_fields(kind: str, editing: bool) -> list[Field]:
    out = []
    for name, info in CONFIG_SCHEMAS[kind].model_fields.items():
        ann, _ = _annotation(info)
        label = CONFIG_LABELS.get(name, name)
        key = f"config.{name}"
        help_text = info.description or ""
        if config.is_secret(name) and typing.get_origin(ann) is not dict:
            out.append(Field(key, label, "password", required=info.is_required() and not editing,
                             help="Để trống để giữ nguyên." if editing else help_text))
        elif ann is bool:
            out.append(Field(key, label, "checkbox", default=info.default))
        elif typing.get_origin(ann) is Literal:
            out.append(Field(key, label, "select", required=True, options=[(str(v), str(v)) for v in typing.get_args(ann)],
                             default=str(info.default)))
        elif typing.get_origin(ann) in (dict, list):
            out.append(Field(key, label, "textarea", help=("Để trống để giữ nguyên. " if editing and config.is_secret(
                name) else "") + "Dạng JSON."))
        else:
            default = None if info.is_required() or info.default is None else info.default
            out.append(Field(key, label, "number" if ann is int else "text", required=info.is_required(),
                             default=default, help=help_text))
    return out


def _provider_fields(db, p: Principal, kind: str, editing: bool) -> list[Field]:
    fields = [_org_field(db)] if p.is_sysadmin and not editing else []
    fields += [Field("name", "Tên (không dấu, duy nhất)", required=True, maxlength=40,
                     help="Tên này xuất hiện trong lịch sử tin nhắn và trạng thái kết nối."),
               Field("brandnames", "Brandname / đầu số được gửi", help="Cách nhau bằng dấu phẩy; để trống = mọi "
                                                                      "brandname."),
               Field("priority", "Thứ tự ưu tiên (nhỏ trước)", "number", required=True, default=100),
               Field("is_default", "Nhà cung cấp mặc định", "checkbox"),
               Field("enabled", "Đang dùng", "checkbox", default=True)]
    return fields + _config_fields(kind, editing)


async def _provider_payload(request: Request, fields: list[Field], kind: str) -> tuple[dict, dict, dict]:
    """(form values, payload, errors)."""
    values = await form_data(request, fields)
    errors: dict[str, str] = {}
    cfg: dict[str, Any] = {}
    for f in fields:
        if not f.name.startswith("config."):
            continue
        key, v = f.name[7:], values.get(f.name)
        if f.kind == "checkbox":
            cfg[key] = bool(v)
        elif v in (None, ""):
            continue
        elif f.kind == "textarea":
            try:
                cfg[key] = json.loads(v)
            except ValueError:
                errors[f.name] = "JSON không hợp lệ."
        else:
            cfg[key] = v
    payload = {k: v for k, v in values.items() if not k.startswith("config.")}
    payload["brandnames"] = [b.strip() for b in str(values.get("brandnames") or "").split(",") if b.strip()]
    payload["priority"] = values.get("priority") or 100
    payload["config"], payload["kind"] = cfg, kind
    return values, payload, errors


def _provider_form(request, p, title, fields, values, action, errors=None, form_error="", status=200, extras=None):
    return render(request, "crud_form.html", p, status=status, title=title, section=SECTION, fields=fields,
                  values=values, errors=errors or {}, form_error=form_error, action=action,
                  cancel_url="/sms/providers", extras=extras or [])


@router.get("/providers/new")
def provider_new(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    kind = request.query_params.get("kind", "")
    if kind not in CONFIG_SCHEMAS:
        return render(request, "sms_provider_kind.html", p, title="Thêm nhà cung cấp SMS", section=SECTION,
                      kinds=list(KIND_LABELS.items()))
    return _provider_form(request, p, f"Thêm nhà cung cấp SMS – {KIND_LABELS[kind]}",
                          _provider_fields(db, p, kind, False), {"enabled": True, "priority": 100},
                          f"/sms/providers/new?kind={kind}")


@router.post("/providers/new")
async def provider_create(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    kind = request.query_params.get("kind", "")
    if kind not in CONFIG_SCHEMAS:
        return _done("/sms/providers/new", "Chọn loại nhà cung cấp.", error=True)
    fields = _provider_fields(db, p, kind, False)
    title, action = f"Thêm nhà cung cấp SMS – {KIND_LABELS[kind]}", f"/sms/providers/new?kind={kind}"
    values, payload, errors = await _provider_payload(request, fields, kind)
    if errors:
        return _provider_form(request, p, title, fields, values, action, errors, "Vui lòng kiểm tra lại.", 422)
    try:
        pr = config.create_provider(db, p, S.ProviderIn.model_validate(payload))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return _provider_form(request, p, title, fields, values, action, errors, msg,
                              422 if isinstance(e, ValidationError) else e.status)
    return _done("/sms/providers", f"Đã thêm nhà cung cấp {pr.name}.")


def _provider_values(pr) -> dict[str, Any]:
    shown, _ = config.public_config(pr.config)
    values: dict[str, Any] = {"name": pr.name, "brandnames": ", ".join(pr.brandnames or []), "priority": pr.priority,
                              "is_default": pr.is_default, "enabled": pr.enabled}
    for k, v in shown.items():
        values[f"config.{k}"] = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
    return values


@router.get("/providers/{provider_id}")
def provider_edit(provider_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    pr = config.get_provider(db, p, provider_id)
    status = _status(request).get(pr.name)
    extras = [{"title": "Xóa nhà cung cấp", "text": "Tin đang chờ gửi sẽ chuyển sang nhà cung cấp khác.",
               "url": f"/sms/providers/{pr.id}/delete", "label": "Xóa", "cls": "danger",
               "confirm": f"Xóa nhà cung cấp SMS \"{pr.name}\"?"}]
    infos = []
    if pr.kind == "kannel" and (pr.config or {}).get("callback_base_url"):
        from ketnoi.sms.providers.kannel import mo_get_url_for

        infos.append({"title": "Cấu hình tin đến trên Kannel",
                      "text": "Đặt get-url này trong nhóm sms-service của Kannel (thay <KHÓA> bằng khóa nhận "
                              "tin đã nhập ở trên) để tin nhắn đến chuyển về ketnoi; báo cáo phát được "
                              "ketnoi tự gắn vào từng tin gửi đi.",
                      "code": mo_get_url_for(pr.config["callback_base_url"], pr.id, "<KHÓA>")})
    return render(request, "crud_form.html", p, title=f"Nhà cung cấp {pr.name}", section=SECTION,
                  fields=_provider_fields(db, p, pr.kind, True), values=_provider_values(pr), errors={},
                  action=f"/sms/providers/{pr.id}", cancel_url="/sms/providers", extras=extras, infos=infos,
                  notice=f"{KIND_LABELS.get(pr.kind, pr.kind)} · Trạng thái: {_state(status, pr.enabled)}")


@router.post("/providers/{provider_id}")
async def provider_update(provider_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    pr = config.get_provider(db, p, provider_id)
    fields = _provider_fields(db, p, pr.kind, True)
    title, action = f"Nhà cung cấp {pr.name}", f"/sms/providers/{pr.id}"
    values, payload, errors = await _provider_payload(request, fields, pr.kind)
    if errors:
        return _provider_form(request, p, title, fields, values, action, errors, "Vui lòng kiểm tra lại.", 422)
    try:
        config.update_provider(db, p, pr.id, S.ProviderPatch.model_validate(
            {k: v for k, v in payload.items() if k not in ("kind", "organization_id")}))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return _provider_form(request, p, title, fields, values, action, errors, msg,
                              422 if isinstance(e, ValidationError) else e.status)
    return _done("/sms/providers", "Đã lưu nhà cung cấp.")


@router.post("/providers/{provider_id}/delete")
def provider_delete(provider_id: str, db: DbDep, p: Principal = console("sms.admin")):
    config.delete_provider(db, p, provider_id)
    return _done("/sms/providers", "Đã xóa nhà cung cấp.")


# --- templates ----------------------------------------------------------------------------------
def _template_fields(db, p: Principal, editing: bool) -> list[Field]:
    fields = [_org_field(db)] if p.is_sysadmin and not editing else []
    return fields + [
        Field("code", "Mã mẫu", required=True, maxlength=40,
              help="report_received, report_result: lời báo công dân khi tiếp nhận / có kết quả phản ánh."),
        Field("name", "Tên mẫu", required=True, maxlength=200),
        Field("body", "Nội dung", "textarea", required=True,
              help="Biến viết trong ngoặc nhọn, ví dụ {code}, {title}, {result}, {phone}."),
        Field("brandname", "Brandname gửi", maxlength=15, help="Để trống: brandname mặc định."),
        Field("is_active", "Đang dùng", "checkbox", default=True),
    ]


@router.get("/templates")
def template_list(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    params = list_params(request)
    page = config.list_templates(db, p, params)
    rows = [Row([t.code, t.name, t.body[:120], t.brandname, "Đang dùng" if t.is_active else "Đã tắt"],
                url=f"/sms/templates/{t.id}",
                actions=[Action("Sửa", f"/sms/templates/{t.id}"),
                         Action("Xóa", f"/sms/templates/{t.id}/delete", "post", cls="danger",
                                confirm=f"Xóa mẫu tin {t.code}?")]) for t in page.items]
    return render(request, "crud_list.html", p, title="Mẫu tin nhắn SMS", section=SECTION, page=page, rows=rows,
                  sort=params.sort or "code", row_actions=True, search_hint="Mã, tên, nội dung", filters=[],
                  columns=[Column("Mã", "code"), Column("Tên", "name"), Column("Nội dung"), Column("Brandname"),
                           Column("Trạng thái")], new_url="/sms/templates/new", extra_links=[TABS[0], TABS[2]])


async def _save_template(request, db, p, template_id: str | None):
    fields = _template_fields(db, p, template_id is not None)
    values = await form_data(request, fields)
    title = "Thêm mẫu tin nhắn" if template_id is None else "Sửa mẫu tin nhắn"
    action = "/sms/templates/new" if template_id is None else f"/sms/templates/{template_id}"
    try:
        if template_id is None:
            config.create_template(db, p, S.TemplateIn.model_validate(values))
        else:
            config.update_template(db, p, template_id, S.TemplatePatch.model_validate(values))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return render(request, "crud_form.html", p, status=422 if isinstance(e, ValidationError) else e.status,
                      title=title, section=SECTION, fields=fields, values=values, errors=errors, form_error=msg,
                      action=action, cancel_url="/sms/templates")
    return _done("/sms/templates", "Đã lưu mẫu tin nhắn.")


@router.get("/templates/new")
def template_new(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    return render(request, "crud_form.html", p, title="Thêm mẫu tin nhắn", section=SECTION,
                  fields=_template_fields(db, p, False), values={"is_active": True}, errors={},
                  action="/sms/templates/new", cancel_url="/sms/templates")


@router.post("/templates/new")
async def template_create(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    return await _save_template(request, db, p, None)


@router.get("/templates/{template_id}")
def template_edit(template_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    t = config.get_template(db, p, template_id)
    values = {f: getattr(t, f) for f in ("code", "name", "body", "brandname", "is_active")}
    return render(request, "crud_form.html", p, title="Sửa mẫu tin nhắn", section=SECTION,
                  fields=_template_fields(db, p, True), values=values, errors={}, action=f"/sms/templates/{t.id}",
                  cancel_url="/sms/templates")


@router.post("/templates/{template_id}")
async def template_update(template_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    config.get_template(db, p, template_id)
    return await _save_template(request, db, p, template_id)


@router.post("/templates/{template_id}/delete")
def template_delete(template_id: str, db: DbDep, p: Principal = console("sms.admin")):
    try:
        config.delete_template(db, p, template_id)
    except DomainError as e:
        if e.status == 404:
            raise
        db.rollback()
        return _done("/sms/templates", "Không xóa được: " + e.detail, error=True)
    return _done("/sms/templates", "Đã xóa mẫu tin nhắn.")


# --- keyword rules ------------------------------------------------------------------------------
def _rule_fields(db, p: Principal, org_id: str | None, editing: bool) -> list[Field]:
    cats = [(n.category.id, "— " * n.depth + n.category.name)
            for n in catalog.walk(catalog.category_tree(db, p, org_id)) if n.category.is_active]
    stmt = select(SmsTemplate).order_by(SmsTemplate.code)
    if org_id or not p.is_sysadmin:
        stmt = stmt.where(SmsTemplate.organization_id == (org_id or p.organization_id))
    templates = [(t.id, f"{t.code} – {t.name}") for t in db.scalars(stmt)]
    fields = [_org_field(db)] if p.is_sysadmin and not editing else []
    return fields + [
        Field("keyword", "Từ khóa", required=True, maxlength=20, help="Chữ cái và số, ví dụ PA. Tin nhắn "
                                                                      "“PA nội dung” sẽ khớp."),
        Field("action", "Hành động", "select", required=True, options=list(ACTIONS.items()), default="create_report"),
        Field("category_id", "Lĩnh vực của phản ánh", "select", options=cats),
        Field("ack_template_id", "Mẫu tin trả lời", "select", options=templates,
              help="Biến {code}: mã phản ánh. Không chọn: lời báo tiếp nhận thông thường."),
        Field("description", "Mô tả", "textarea"),
        Field("is_active", "Đang dùng", "checkbox", default=True),
    ]


@router.get("/keyword-rules")
def rule_list(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    params = list_params(request)
    page = config.list_rules(db, p, params)
    rows = [Row([r.keyword, ACTIONS.get(r.action, r.action), r.description[:100],
                 "Đang dùng" if r.is_active else "Đã tắt"], url=f"/sms/keyword-rules/{r.id}",
                actions=[Action("Sửa", f"/sms/keyword-rules/{r.id}"),
                         Action("Xóa", f"/sms/keyword-rules/{r.id}/delete", "post", cls="danger",
                                confirm=f"Xóa quy tắc từ khóa {r.keyword}?")]) for r in page.items]
    return render(request, "crud_list.html", p, title="Quy tắc từ khóa SMS", section=SECTION, page=page, rows=rows,
                  sort=params.sort or "keyword", row_actions=True, search_hint="Từ khóa, mô tả", filters=[],
                  columns=[Column("Từ khóa", "keyword"), Column("Hành động"), Column("Mô tả"), Column("Trạng thái")],
                  new_url="/sms/keyword-rules/new", extra_links=TABS[:2])


async def _save_rule(request, db, p, rule_id: str | None, org_id: str | None):
    fields = _rule_fields(db, p, org_id, rule_id is not None)
    values = await form_data(request, fields)
    title = "Thêm quy tắc từ khóa" if rule_id is None else "Sửa quy tắc từ khóa"
    action = "/sms/keyword-rules/new" if rule_id is None else f"/sms/keyword-rules/{rule_id}"
    try:
        if rule_id is None:
            config.create_rule(db, p, S.KeywordRuleIn.model_validate(values))
        else:
            config.update_rule(db, p, rule_id, S.KeywordRulePatch.model_validate(values))
    except (ValidationError, DomainError) as e:
        db.rollback()
        errors, msg = field_errors(e)
        return render(request, "crud_form.html", p, status=422 if isinstance(e, ValidationError) else e.status,
                      title=title, section=SECTION, fields=fields, values=values, errors=errors, form_error=msg,
                      action=action, cancel_url="/sms/keyword-rules")
    return _done("/sms/keyword-rules", "Đã lưu quy tắc từ khóa.")


@router.get("/keyword-rules/new")
def rule_new(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    return render(request, "crud_form.html", p, title="Thêm quy tắc từ khóa", section=SECTION,
                  fields=_rule_fields(db, p, p.organization_id, False), values={"is_active": True,
                                                                                "action": "create_report"},
                  errors={}, action="/sms/keyword-rules/new", cancel_url="/sms/keyword-rules")


@router.post("/keyword-rules/new")
async def rule_create(request: Request, db: DbDep, p: Principal = console("sms.admin")):
    return await _save_rule(request, db, p, None, p.organization_id)


@router.get("/keyword-rules/{rule_id}")
def rule_edit(rule_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    r = config.get_rule(db, p, rule_id)
    values = {f: getattr(r, f) for f in ("keyword", "action", "category_id", "ack_template_id", "description",
                                         "is_active")}
    return render(request, "crud_form.html", p, title="Sửa quy tắc từ khóa", section=SECTION,
                  fields=_rule_fields(db, p, r.organization_id, True), values=values, errors={},
                  action=f"/sms/keyword-rules/{r.id}", cancel_url="/sms/keyword-rules")


@router.post("/keyword-rules/{rule_id}")
async def rule_update(rule_id: str, request: Request, db: DbDep, p: Principal = console("sms.admin")):
    r = config.get_rule(db, p, rule_id)
    return await _save_rule(request, db, p, rule_id, r.organization_id)


@router.post("/keyword-rules/{rule_id}/delete")
def rule_delete(rule_id: str, db: DbDep, p: Principal = console("sms.admin")):
    config.delete_rule(db, p, rule_id)
    return _done("/sms/keyword-rules", "Đã xóa quy tắc từ khóa.")
