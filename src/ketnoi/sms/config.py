"""Configuration of the SMS channel per organization: providers (secrets write-only), templates with
{variables}, and keyword rules; every change audited (SMS-08, CRM-06)."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.catalog import service as catalog
from ketnoi.core.errors import Conflict, DomainError, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.sms import schemas as S
from ketnoi.sms import service
from ketnoi.sms.models import SmsKeywordRule, SmsProvider, SmsTemplate

SECRET_KEY_RE = re.compile(r"(pass|secret|token|api_?key|headers)", re.IGNORECASE)


def organization_for_write(db: Session, p: Principal, requested: str | None) -> str:
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        if not service.organization_exists(db, requested):
            raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo dữ liệu cho tổ chức khác.")
    if not p.organization_id:
        raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
    return p.organization_id


def _scoped(stmt, model, p: Principal):
    return stmt if p.is_sysadmin else stmt.where(model.organization_id == p.organization_id)


# --- providers ----------------------------------------------------------------------------------
def is_secret(key: str) -> bool:
    return bool(SECRET_KEY_RE.search(key))


def public_config(config: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """The config without its secrets, and the secret keys that hold a value."""
    shown = {k: v for k, v in (config or {}).items() if not is_secret(k)}
    return shown, sorted(k for k, v in (config or {}).items() if is_secret(k) and v)


def validated_config(kind: str, config: dict[str, Any]) -> dict[str, Any]:
    from ketnoi.sms.providers.registry import validate_config

    return validate_config(kind, config).model_dump(mode="json")


def _provider_snapshot(pr: SmsProvider) -> dict[str, Any]:
    shown, secrets = public_config(pr.config)
    return {"name": pr.name, "kind": pr.kind, "config": shown, "secrets_set": secrets,
            "brandnames": list(pr.brandnames or []), "is_default": pr.is_default, "priority": pr.priority,
            "enabled": pr.enabled}


def provider_out(pr: SmsProvider, status: dict[str, Any] | None = None) -> S.ProviderOut:
    shown, secrets = public_config(pr.config)
    return S.ProviderOut(id=pr.id, organization_id=pr.organization_id, name=pr.name, kind=pr.kind, config=shown,
                         secrets_set=secrets, brandnames=list(pr.brandnames or []), is_default=pr.is_default,
                         priority=pr.priority, enabled=pr.enabled,
                         status=status or {"state": "disabled" if not pr.enabled else "stopped"},
                         created_at=pr.created_at, updated_at=pr.updated_at)


def list_providers(db: Session, p: Principal, params: ListParams) -> Page:
    stmt = _scoped(select(SmsProvider), SmsProvider, p)
    if params.q:
        stmt = apply_search(stmt, params.q, [SmsProvider.name, SmsProvider.kind])
    return paginate(db, stmt, params, {"name": SmsProvider.name, "priority": SmsProvider.priority,
                                       "kind": SmsProvider.kind, "created_at": SmsProvider.created_at}, "priority")


def get_provider(db: Session, p: Principal, provider_id: str) -> SmsProvider:
    pr = db.get(SmsProvider, provider_id)
    if pr is None or not p.sees_organization(pr.organization_id):
        raise NotFound("Không tìm thấy nhà cung cấp SMS.")
    return pr


def _unique_name(db: Session, name: str, exclude: str | None = None) -> None:
    stmt = select(SmsProvider.id).where(func.lower(SmsProvider.name) == name.lower())
    if exclude:
        stmt = stmt.where(SmsProvider.id != exclude)
    if db.scalar(stmt):
        raise ValidationFailed.field("name", "Tên nhà cung cấp đã được dùng; chọn tên khác.")


def _brandnames(values: list[str]) -> list[str]:
    out: list[str] = []
    for i, b in enumerate(values):
        service.check_sender(b, f"brandnames.{i}")
        if b.lower() not in {x.lower() for x in out}:
            out.append(b)
    return out


def _one_default(db: Session, pr: SmsProvider) -> None:
    if pr.is_default:
        for other in db.scalars(select(SmsProvider).where(SmsProvider.organization_id == pr.organization_id,
                                                          SmsProvider.id != pr.id, SmsProvider.is_default.is_(True))):
            other.is_default = False


def create_provider(db: Session, p: Principal, data: S.ProviderIn) -> SmsProvider:
    org_id = organization_for_write(db, p, data.organization_id)
    _unique_name(db, data.name)
    pr = SmsProvider(organization_id=org_id, name=data.name, kind=data.kind,
                     config=validated_config(data.kind, data.config), brandnames=_brandnames(data.brandnames),
                     is_default=data.is_default, priority=data.priority, enabled=data.enabled)
    db.add(pr)
    db.flush()
    _one_default(db, pr)
    db.info["sms_providers_changed"] = True
    record(db, p, "sms_provider.created", "sms_provider", pr.id, after=_provider_snapshot(pr), organization_id=org_id,
           summary=f"Thêm nhà cung cấp SMS {pr.name} ({pr.kind})")
    return pr


def update_provider(db: Session, p: Principal, provider_id: str, data: S.ProviderPatch) -> SmsProvider:
    pr = get_provider(db, p, provider_id)
    before = _provider_snapshot(pr)
    if data.name is not None and data.name != pr.name:
        _unique_name(db, data.name, pr.id)
        pr.name = data.name
    if data.config is not None:
        merged = dict(data.config)
        for k, v in (pr.config or {}).items():  # secrets are write-only: empty or absent = keep
            if is_secret(k) and merged.get(k) in (None, "", {}):
                merged[k] = v
        pr.config = validated_config(pr.kind, merged)
    if data.brandnames is not None:
        pr.brandnames = _brandnames(data.brandnames)
    for f in ("is_default", "priority", "enabled"):
        if getattr(data, f) is not None:
            setattr(pr, f, getattr(data, f))
    pr.updated_at = service.utcnow()
    db.flush()
    _one_default(db, pr)
    db.info["sms_providers_changed"] = True
    record(db, p, "sms_provider.updated", "sms_provider", pr.id, before=before, after=_provider_snapshot(pr),
           organization_id=pr.organization_id, summary=f"Sửa nhà cung cấp SMS {pr.name}")
    return pr


def delete_provider(db: Session, p: Principal, provider_id: str) -> None:
    pr = get_provider(db, p, provider_id)
    record(db, p, "sms_provider.deleted", "sms_provider", pr.id, before=_provider_snapshot(pr),
           organization_id=pr.organization_id, summary=f"Xóa nhà cung cấp SMS {pr.name}")
    db.delete(pr)
    db.info["sms_providers_changed"] = True


# --- templates ----------------------------------------------------------------------------------
def template_out(t: SmsTemplate) -> S.TemplateOut:
    out = S.TemplateOut.model_validate(t)
    try:
        out.variables = service.template_variables(t.body)
    except DomainError:
        out.variables = []
    return out


def list_templates(db: Session, p: Principal, params: ListParams, *, is_active: bool | None = None) -> Page:
    stmt = _scoped(select(SmsTemplate), SmsTemplate, p)
    if is_active is not None:
        stmt = stmt.where(SmsTemplate.is_active == is_active)
    if params.q:
        stmt = apply_search(stmt, params.q, [SmsTemplate.code, SmsTemplate.name, SmsTemplate.body])
    return paginate(db, stmt, params, {"code": SmsTemplate.code, "name": SmsTemplate.name,
                                       "updated_at": SmsTemplate.updated_at}, "code")


def get_template(db: Session, p: Principal, template_id: str) -> SmsTemplate:
    t = db.get(SmsTemplate, template_id)
    if t is None or not p.sees_organization(t.organization_id):
        raise NotFound("Không tìm thấy mẫu tin nhắn.")
    return t


def template_by_code(db: Session, p: Principal, organization_id: str | None, code: str) -> SmsTemplate:
    t = service.find_template(db, organization_id, code)
    if t is None:
        raise ValidationFailed.field("template_code", f"Không có mẫu tin nhắn đang dùng với mã '{code}'.")
    return t


def _check_template(db: Session, org_id: str, code: str, body: str, brandname: str, exclude: str | None = None):
    service.template_variables(body)
    service.check_sender(brandname, "brandname")
    stmt = select(SmsTemplate.id).where(SmsTemplate.organization_id == org_id, SmsTemplate.code == code)
    if exclude:
        stmt = stmt.where(SmsTemplate.id != exclude)
    if db.scalar(stmt):
        raise ValidationFailed.field("code", "Mã mẫu tin đã tồn tại trong tổ chức.")


def _template_snapshot(t: SmsTemplate) -> dict[str, Any]:
    return {"code": t.code, "name": t.name, "body": t.body, "brandname": t.brandname, "is_active": t.is_active}


def create_template(db: Session, p: Principal, data: S.TemplateIn) -> SmsTemplate:
    org_id = organization_for_write(db, p, data.organization_id)
    _check_template(db, org_id, data.code, data.body, data.brandname)
    t = SmsTemplate(organization_id=org_id, code=data.code, name=data.name, body=data.body, brandname=data.brandname,
                    is_active=data.is_active)
    db.add(t)
    db.flush()
    record(db, p, "sms_template.created", "sms_template", t.id, after=_template_snapshot(t), organization_id=org_id,
           summary=f"Thêm mẫu tin nhắn {t.code}")
    return t


def update_template(db: Session, p: Principal, template_id: str, data: S.TemplatePatch) -> SmsTemplate:
    t = get_template(db, p, template_id)
    before = _template_snapshot(t)
    _check_template(db, t.organization_id, data.code or t.code, data.body or t.body,
                    t.brandname if data.brandname is None else data.brandname, t.id)
    for f in ("code", "name", "body", "brandname", "is_active"):
        if getattr(data, f) is not None:
            setattr(t, f, getattr(data, f))
    db.flush()
    record(db, p, "sms_template.updated", "sms_template", t.id, before=before, after=_template_snapshot(t),
           organization_id=t.organization_id, summary=f"Sửa mẫu tin nhắn {t.code}")
    return t


def delete_template(db: Session, p: Principal, template_id: str) -> None:
    t = get_template(db, p, template_id)
    used = db.scalar(select(SmsKeywordRule.keyword).where(SmsKeywordRule.ack_template_id == t.id).limit(1))
    if used:
        raise Conflict(f"Mẫu tin đang dùng để trả lời từ khóa {used}; đổi quy tắc đó trước khi xóa.")
    record(db, p, "sms_template.deleted", "sms_template", t.id, before=_template_snapshot(t),
           organization_id=t.organization_id, summary=f"Xóa mẫu tin nhắn {t.code}")
    db.delete(t)


# --- keyword rules ------------------------------------------------------------------------------
def list_rules(db: Session, p: Principal, params: ListParams) -> Page:
    stmt = _scoped(select(SmsKeywordRule), SmsKeywordRule, p)
    if params.q:
        stmt = apply_search(stmt, params.q, [SmsKeywordRule.keyword, SmsKeywordRule.description])
    return paginate(db, stmt, params, {"keyword": SmsKeywordRule.keyword, "updated_at": SmsKeywordRule.updated_at},
                    "keyword")


def get_rule(db: Session, p: Principal, rule_id: str) -> SmsKeywordRule:
    r = db.get(SmsKeywordRule, rule_id)
    if r is None or not p.sees_organization(r.organization_id):
        raise NotFound("Không tìm thấy quy tắc từ khóa.")
    return r


def _check_rule(db: Session, p: Principal, org_id: str, keyword: str, category_id: str | None,
                ack_template_id: str | None, exclude: str | None = None) -> None:
    stmt = select(SmsKeywordRule.id).where(SmsKeywordRule.organization_id == org_id, SmsKeywordRule.keyword == keyword)
    if exclude:
        stmt = stmt.where(SmsKeywordRule.id != exclude)
    if db.scalar(stmt):
        raise ValidationFailed.field("keyword", f"Từ khóa {keyword} đã có quy tắc.")
    if category_id:
        try:
            c = catalog.get_category(db, service.system_principal(org_id), category_id)
        except DomainError:
            c = None
        if c is None or c.organization_id != org_id or not c.is_active:
            raise ValidationFailed.field("category_id", "Lĩnh vực không tồn tại hoặc đã ngừng sử dụng.")
    if ack_template_id:
        t = db.get(SmsTemplate, ack_template_id)
        if t is None or t.organization_id != org_id:
            raise ValidationFailed.field("ack_template_id", "Mẫu tin trả lời không tồn tại.")


def _rule_snapshot(r: SmsKeywordRule) -> dict[str, Any]:
    return {"keyword": r.keyword, "action": r.action, "category_id": r.category_id,
            "ack_template_id": r.ack_template_id, "description": r.description, "is_active": r.is_active}


def create_rule(db: Session, p: Principal, data: S.KeywordRuleIn) -> SmsKeywordRule:
    org_id = organization_for_write(db, p, data.organization_id)
    _check_rule(db, p, org_id, data.keyword, data.category_id, data.ack_template_id)
    r = SmsKeywordRule(organization_id=org_id, keyword=data.keyword, action=data.action, category_id=data.category_id,
                       ack_template_id=data.ack_template_id, description=data.description, is_active=data.is_active)
    db.add(r)
    db.flush()
    record(db, p, "sms_keyword.created", "sms_keyword_rule", r.id, after=_rule_snapshot(r), organization_id=org_id,
           summary=f"Thêm quy tắc từ khóa SMS {r.keyword}")
    return r


def update_rule(db: Session, p: Principal, rule_id: str, data: S.KeywordRulePatch) -> SmsKeywordRule:
    r = get_rule(db, p, rule_id)
    before = _rule_snapshot(r)
    fields = data.model_fields_set
    keyword = data.keyword or r.keyword
    category = data.category_id if "category_id" in fields else None
    ack = data.ack_template_id if "ack_template_id" in fields else None
    _check_rule(db, p, r.organization_id, keyword, category, ack, r.id)
    r.keyword = keyword
    for f in ("category_id", "ack_template_id"):
        if f in fields:
            setattr(r, f, getattr(data, f) or None)
    for f in ("action", "description", "is_active"):
        if getattr(data, f) is not None:
            setattr(r, f, getattr(data, f))
    db.flush()
    record(db, p, "sms_keyword.updated", "sms_keyword_rule", r.id, before=before, after=_rule_snapshot(r),
           organization_id=r.organization_id, summary=f"Sửa quy tắc từ khóa SMS {r.keyword}")
    return r


def delete_rule(db: Session, p: Principal, rule_id: str) -> None:
    r = get_rule(db, p, rule_id)
    record(db, p, "sms_keyword.deleted", "sms_keyword_rule", r.id, before=_rule_snapshot(r),
           organization_id=r.organization_id, summary=f"Xóa quy tắc từ khóa SMS {r.keyword}")
    db.delete(r)
