"""Extensions (CC-06) and SIP trunks (CC-09): list, create, edit, delete. Every change is staged
(service.touch) and audited; secrets are sealed and never returned."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Conflict, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import secretbox, service
from ketnoi.telephony.pbx.models import Extension, InboundRoute, OutboundRoute, OutboundRouteTrunk, Trunk

EXTENSION_FIELDS = ("number", "display_name", "caller_id_name", "caller_id_number", "codecs", "recording",
                    "max_contacts", "permit", "enabled", "secret")
TRUNK_FIELDS = ("name", "kind", "host", "port", "transport", "username", "password", "realm", "register_interval",
                "allowed_networks", "caller_id_mode", "caller_id_number", "max_channels", "codecs", "enabled")


# --- extensions ---------------------------------------------------------------------------------
def extension_snapshot(e: Extension) -> dict:
    d = snapshot(e, [f for f in EXTENSION_FIELDS if f != "secret"])
    d["secret"] = "***" if e.secret_sealed else ""
    return d


def extension_out(e: Extension) -> S.ExtensionOut:
    return S.ExtensionOut.model_validate({**{f: getattr(e, f) for f in S.ExtensionOut.model_fields
                                            if f != "secret_set"}, "secret_set": bool(e.ha1_md5)})


def get_extension(db: Session, p: Principal, extension_id: str) -> Extension:
    return service.get_owned(db, p, Extension, extension_id, "Không tìm thấy máy nhánh.")


def list_extensions(db: Session, p: Principal, params: ListParams, *, organization_id: str = "",
                    enabled: bool | None = None) -> Page:
    stmt = select(Extension)
    org = service.list_scope(p, organization_id)
    if org:
        stmt = stmt.where(Extension.organization_id == org)
    if enabled is not None:
        stmt = stmt.where(Extension.enabled == enabled)
    if params.q:
        stmt = apply_search(stmt, params.q, [Extension.number, Extension.display_name, Extension.caller_id_number])
    return paginate(db, stmt, params, {"number": Extension.number, "display_name": Extension.display_name,
                                       "enabled": Extension.enabled, "updated_at": Extension.updated_at}, "number")


def _check_number(db: Session, org_id: str, number: str, exclude: str | None = None) -> None:
    stmt = select(Extension.id).where(Extension.organization_id == org_id, Extension.number == number)
    if exclude:
        stmt = stmt.where(Extension.id != exclude)
    if db.scalar(stmt):
        msg = f"Số máy nhánh {number} đã tồn tại."
        raise Conflict(msg, [{"field": "number", "message": msg}])


def _set_secret(db: Session, e: Extension, secret: str) -> None:
    if secret == e.number:
        raise ValidationFailed.field("secret", "Mật khẩu SIP không được trùng số máy nhánh.")
    realm = service.get_settings_row(db, e.organization_id).sip_realm
    e.secret_sealed = secretbox.seal(secret)
    e.ha1_md5, e.ha1_sha256 = secretbox.ha1(e.number, realm, secret)
    e.ha1_realm = realm


def create_extension(db: Session, p: Principal, data: S.ExtensionIn) -> Extension:
    org_id = service.org_for_write(db, p, data.organization_id)
    _check_number(db, org_id, data.number)
    e = Extension(id=new_id(), organization_id=org_id, **data.model_dump(exclude={"secret", "organization_id"}))
    _set_secret(db, e, data.secret)
    db.add(e)
    db.flush()
    service.touch(db, org_id)
    record(db, p, "pbx.extension_created", "pbx_extension", e.id, after=extension_snapshot(e),
           organization_id=org_id, summary=f"Tạo máy nhánh {e.number}")
    return e


def update_extension(db: Session, p: Principal, extension_id: str, data: S.ExtensionPatch) -> Extension:
    e = get_extension(db, p, extension_id)
    before = extension_snapshot(e)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    secret = changes.pop("secret", None)
    if "number" in changes and changes["number"] != e.number:
        _check_number(db, e.organization_id, changes["number"], exclude=e.id)
        if secret is None:  # the username is part of HA1: recompute it from the sealed secret
            try:
                secret = secretbox.unseal(e.secret_sealed)
            except secretbox.SecretUnavailable:
                raise ValidationFailed.field("secret", "Đổi số máy nhánh cần nhập lại mật khẩu SIP.") from None
    for k, v in changes.items():
        setattr(e, k, v)
    if secret is not None:
        _set_secret(db, e, secret)
    db.flush()
    after = extension_snapshot(e)
    if after != before or "secret" in data.model_fields_set and data.secret:
        service.touch(db, e.organization_id)
        record(db, p, "pbx.extension_updated", "pbx_extension", e.id, before=before, after=after,
               organization_id=e.organization_id, summary=f"Sửa máy nhánh {e.number}"
               + (" (đổi mật khẩu SIP)" if data.secret else ""))
    return e


def delete_extension(db: Session, p: Principal, extension_id: str) -> None:
    e = get_extension(db, p, extension_id)
    used = list(db.scalars(select(InboundRoute.name).where(
        InboundRoute.organization_id == e.organization_id, InboundRoute.dest_kind == "extension",
        InboundRoute.dest_ref == e.id)))
    if used:
        raise Conflict(f"Máy nhánh {e.number} đang là đích đến của tuyến gọi vào {', '.join(used)}; hãy đổi đích "
                       "đến của các tuyến này trước khi xóa (hoặc tắt máy nhánh).")
    record(db, p, "pbx.extension_deleted", "pbx_extension", e.id, before=extension_snapshot(e),
           organization_id=e.organization_id, summary=f"Xóa máy nhánh {e.number}")
    db.delete(e)
    db.flush()
    service.touch(db, e.organization_id)


# --- trunks -------------------------------------------------------------------------------------
def trunk_snapshot(t: Trunk) -> dict:
    d = snapshot(t, [f for f in TRUNK_FIELDS if f != "password"])
    d["password"] = "***" if t.password_sealed else ""
    return d


def trunk_out(t: Trunk) -> S.TrunkOut:
    return S.TrunkOut.model_validate({**{f: getattr(t, f) for f in S.TrunkOut.model_fields if f != "password_set"},
                                      "password_set": bool(t.password_sealed)})


def get_trunk(db: Session, p: Principal, trunk_id: str) -> Trunk:
    return service.get_owned(db, p, Trunk, trunk_id, "Không tìm thấy trunk SIP.")


def list_trunks(db: Session, p: Principal, params: ListParams, *, organization_id: str = "", kind: str = "",
                status: str = "", enabled: bool | None = None) -> Page:
    stmt = select(Trunk)
    org = service.list_scope(p, organization_id)
    if org:
        stmt = stmt.where(Trunk.organization_id == org)
    if kind:
        stmt = stmt.where(Trunk.kind == kind)
    if status:
        stmt = stmt.where(Trunk.status == status)
    if enabled is not None:
        stmt = stmt.where(Trunk.enabled == enabled)
    if params.q:
        stmt = apply_search(stmt, params.q, [Trunk.name, Trunk.host, Trunk.username])
    return paginate(db, stmt, params, {"name": Trunk.name, "kind": Trunk.kind, "host": Trunk.host,
                                       "status": Trunk.status, "updated_at": Trunk.updated_at}, "name")


def _check_trunk_name(db: Session, org_id: str, name: str, exclude: str | None = None) -> None:
    stmt = select(Trunk.id).where(Trunk.organization_id == org_id, func.lower(Trunk.name) == name.lower())
    if exclude:
        stmt = stmt.where(Trunk.id != exclude)
    if db.scalar(stmt):
        msg = f"Đã có trunk tên «{name}»."
        raise Conflict(msg, [{"field": "name", "message": msg}])


def _check_trunk(t: Trunk) -> None:
    """What a trunk of its kind cannot work without (checked on save; apply checks again)."""
    if t.kind == "register":
        for field, label in (("host", "địa chỉ nhà cung cấp"), ("username", "tên đăng nhập")):
            if not getattr(t, field):
                raise ValidationFailed.field(field, f"Trunk đăng ký cần {label}.")
        if not t.password_sealed:
            raise ValidationFailed.field("password", "Trunk đăng ký cần mật khẩu.")
    elif not t.allowed_networks:
        raise ValidationFailed.field("allowed_networks", "Trunk xác thực theo IP cần ít nhất một địa chỉ IP hoặc "
                                                         "dải mạng được phép.")
    if t.caller_id_mode == "fixed" and not t.caller_id_number:
        raise ValidationFailed.field("caller_id_number", "Chọn 'số cố định' thì cần nhập số hiển thị.")


def create_trunk(db: Session, p: Principal, data: S.TrunkIn) -> Trunk:
    org_id = service.org_for_write(db, p, data.organization_id)
    _check_trunk_name(db, org_id, data.name)
    t = Trunk(id=new_id(), organization_id=org_id, status="unknown",
              **data.model_dump(exclude={"password", "organization_id"}))
    t.password_sealed = secretbox.seal(data.password) if data.password else ""
    _check_trunk(t)
    db.add(t)
    db.flush()
    service.touch(db, org_id)
    record(db, p, "pbx.trunk_created", "pbx_trunk", t.id, after=trunk_snapshot(t), organization_id=org_id,
           summary=f"Tạo trunk SIP {t.name}")
    return t


def update_trunk(db: Session, p: Principal, trunk_id: str, data: S.TrunkPatch) -> Trunk:
    t = get_trunk(db, p, trunk_id)
    before = trunk_snapshot(t)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    password = changes.pop("password", None)
    if "name" in changes and changes["name"] != t.name:
        _check_trunk_name(db, t.organization_id, changes["name"], exclude=t.id)
    for k, v in changes.items():
        setattr(t, k, v)
    if password:
        t.password_sealed = secretbox.seal(password)
    _check_trunk(t)
    db.flush()
    after = trunk_snapshot(t)
    if after != before or password:
        service.touch(db, t.organization_id)
        record(db, p, "pbx.trunk_updated", "pbx_trunk", t.id, before=before, after=after,
               organization_id=t.organization_id,
               summary=f"Sửa trunk SIP {t.name}" + (" (đổi mật khẩu)" if password else ""))
    return t


def delete_trunk(db: Session, p: Principal, trunk_id: str) -> None:
    t = get_trunk(db, p, trunk_id)
    used = list(db.scalars(select(OutboundRoute.name).join(OutboundRouteTrunk, OutboundRouteTrunk.route_id ==
                                                           OutboundRoute.id).where(OutboundRouteTrunk.trunk_id == t.id)))
    if used:
        raise Conflict(f"Trunk {t.name} đang được dùng bởi tuyến gọi ra {', '.join(used)}; hãy bỏ trunk khỏi các "
                       "tuyến này trước khi xóa (hoặc tắt trunk).")
    record(db, p, "pbx.trunk_deleted", "pbx_trunk", t.id, before=trunk_snapshot(t), organization_id=t.organization_id,
           summary=f"Xóa trunk SIP {t.name}")
    db.delete(t)
    db.flush()
    service.touch(db, t.organization_id)
