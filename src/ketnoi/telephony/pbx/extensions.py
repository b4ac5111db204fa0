"""Extensions (CC-06) and SIP trunks (CC-09): list, create, edit, delete. Every change is staged
(service.touch) and audited; secrets are sealed and never returned."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.service import snapshot
from ketnoi.core.errors import Conflict, ValidationFailed
from ketnoi.core.listing import ListParams, Page
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import secretbox, service
from ketnoi.telephony.pbx.models import Extension, InboundRoute, OutboundRoute, OutboundRouteTrunk, Trunk
from ketnoi.telephony.pbx.objects import Audited, Listing, ensure_unique

EXTENSION_FIELDS = ("number", "display_name", "caller_id_name", "caller_id_number", "codecs", "recording",
                    "max_contacts", "permit", "enabled", "secret")
TRUNK_FIELDS = ("name", "kind", "host", "port", "transport", "username", "password", "realm", "register_interval",
                "allowed_networks", "caller_id_mode", "caller_id_number", "max_channels", "codecs", "enabled")
EXTENSION_AUDIT = Audited("extension", "pbx_extension")
TRUNK_AUDIT = Audited("trunk", "pbx_trunk")
EXTENSION_LIST = Listing(Extension, (Extension.number, Extension.display_name, Extension.caller_id_number),
                         {"number": Extension.number, "display_name": Extension.display_name,
                          "enabled": Extension.enabled, "updated_at": Extension.updated_at}, "number", ("enabled",))
TRUNK_LIST = Listing(Trunk, (Trunk.name, Trunk.host, Trunk.username),
                     {"name": Trunk.name, "kind": Trunk.kind, "host": Trunk.host, "status": Trunk.status,
                      "updated_at": Trunk.updated_at}, "name", ("kind", "status", "enabled"))


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
    return EXTENSION_LIST.page(db, p, params, organization_id, enabled=enabled)


def _check_number(db: Session, org_id: str, number: str, exclude: str | None = None) -> None:
    ensure_unique(db, Extension.number, org_id, number, f"Số máy nhánh {number} đã tồn tại.", exclude=exclude,
                  field="number", ignore_case=False)


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
    EXTENSION_AUDIT.created(db, p, e, extension_snapshot(e), f"Tạo máy nhánh {e.number}")
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
    EXTENSION_AUDIT.updated(db, p, e, before, extension_snapshot(e), f"Sửa máy nhánh {e.number}"
                            + (" (đổi mật khẩu SIP)" if data.secret else ""),
                            changed=bool("secret" in data.model_fields_set and data.secret))
    return e


def delete_extension(db: Session, p: Principal, extension_id: str) -> None:
    e = get_extension(db, p, extension_id)
    used = list(db.scalars(select(InboundRoute.name).where(
        InboundRoute.organization_id == e.organization_id, InboundRoute.dest_kind == "extension",
        InboundRoute.dest_ref == e.id)))
    if used:
        raise Conflict(f"Máy nhánh {e.number} đang là đích đến của tuyến gọi vào {', '.join(used)}; hãy đổi đích "
                       "đến của các tuyến này trước khi xóa (hoặc tắt máy nhánh).")
    EXTENSION_AUDIT.deleted(db, p, e, extension_snapshot(e), f"Xóa máy nhánh {e.number}")


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
    return TRUNK_LIST.page(db, p, params, organization_id, kind=kind, status=status, enabled=enabled)


def _check_trunk_name(db: Session, org_id: str, name: str, exclude: str | None = None) -> None:
    ensure_unique(db, Trunk.name, org_id, name, f"Đã có trunk tên «{name}».", exclude=exclude)


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
    TRUNK_AUDIT.created(db, p, t, trunk_snapshot(t), f"Tạo trunk SIP {t.name}")
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
    TRUNK_AUDIT.updated(db, p, t, before, trunk_snapshot(t),
                        f"Sửa trunk SIP {t.name}" + (" (đổi mật khẩu)" if password else ""), changed=bool(password))
    return t


def delete_trunk(db: Session, p: Principal, trunk_id: str) -> None:
    t = get_trunk(db, p, trunk_id)
    used = list(db.scalars(select(OutboundRoute.name).join(OutboundRouteTrunk, OutboundRouteTrunk.route_id ==
                                                           OutboundRoute.id).where(OutboundRouteTrunk.trunk_id == t.id)))
    if used:
        raise Conflict(f"Trunk {t.name} đang được dùng bởi tuyến gọi ra {', '.join(used)}; hãy bỏ trunk khỏi các "
                       "tuyến này trước khi xóa (hoặc tắt trunk).")
    TRUNK_AUDIT.deleted(db, p, t, trunk_snapshot(t), f"Xóa trunk SIP {t.name}")
