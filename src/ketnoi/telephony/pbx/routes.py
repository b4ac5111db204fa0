"""Inbound routes (CC-10) with typed destinations, outbound routes (CC-11) with ordered trunks and
PIN sets (CC-14): list, create, edit, reorder, delete. Every change is staged and audited."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import snapshot
from ketnoi.core.errors import Conflict, ValidationFailed
from ketnoi.core.listing import ListParams, Page
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import service
from ketnoi.telephony.pbx.models import (
    Extension,
    InboundRoute,
    OutboundRoute,
    OutboundRouteTrunk,
    PinSet,
    SoundFile,
    Trunk,
)
from ketnoi.telephony.pbx.objects import Audited, Listing, ensure_unique

INBOUND_FIELDS = ("name", "did_pattern", "caller_pattern", "prompt_sound_id", "dest_kind", "dest_ref", "description",
                  "enabled")
OUTBOUND_FIELDS = ("name", "position", "patterns", "pin_set_id", "caller_id_number", "enabled")
DEST_LABELS = {"extension": "Máy nhánh", "play": "Phát lời chào rồi gác máy", "route": "Như tuyến gọi vào khác",
               "number": "Gọi ra số", "hangup": "Gác máy"}
INBOUND_AUDIT = Audited("inbound", "pbx_inbound_route")
OUTBOUND_AUDIT = Audited("outbound", "pbx_outbound_route")
PIN_SET_AUDIT = Audited("pinset", "pbx_pin_set")
INBOUND_LIST = Listing(InboundRoute, (InboundRoute.name, InboundRoute.did_pattern, InboundRoute.caller_pattern,
                                      InboundRoute.description),
                       {"name": InboundRoute.name, "did_pattern": InboundRoute.did_pattern,
                        "caller_pattern": InboundRoute.caller_pattern, "updated_at": InboundRoute.updated_at},
                       "did_pattern", ("enabled",))
OUTBOUND_LIST = Listing(OutboundRoute, (OutboundRoute.name,),
                        {"position": OutboundRoute.position, "name": OutboundRoute.name,
                         "updated_at": OutboundRoute.updated_at}, "position", ("enabled",))
PIN_SET_LIST = Listing(PinSet, (PinSet.name, PinSet.description),
                       {"name": PinSet.name, "updated_at": PinSet.updated_at}, "name")


def _unique_name(db: Session, model, org_id: str, name: str, what: str, exclude: str | None = None) -> None:
    ensure_unique(db, model.name, org_id, name, f"Đã có {what} tên «{name}».", exclude=exclude)


# --- destinations -------------------------------------------------------------------------------
def check_destination(db: Session, org_id: str, kind: str, ref: str, route_id: str | None = None) -> str:
    """The stored ref for a destination, checked to exist in the organization (apply checks the rest:
    disabled targets, loops, numbers no outbound route takes)."""
    field = "destination.ref"
    if kind == "hangup":
        return ""
    if not ref:
        raise ValidationFailed.field(field, "Chọn đích đến.")
    if kind == "extension":
        ext = db.get(Extension, ref)
        if ext is None or ext.organization_id != org_id:
            ext = db.scalar(select(Extension).where(Extension.organization_id == org_id, Extension.number == ref))
        if ext is None:
            raise ValidationFailed.field(field, f"Không tìm thấy máy nhánh {ref}.")
        return ext.id
    if kind == "play":
        return _sound(db, org_id, ref, field).id
    if kind == "route":
        target = db.get(InboundRoute, ref)
        if target is None or target.organization_id != org_id:
            raise ValidationFailed.field(field, "Không tìm thấy tuyến gọi vào đích.")
        if target.id == route_id:
            raise ValidationFailed.field(field, "Tuyến không thể chuyển tới chính nó.")
        return target.id
    if kind == "number":
        if not ref.lstrip("+").replace("*", "").replace("#", "").isdigit():
            raise ValidationFailed.field(field, "Số gọi ra chỉ gồm chữ số, có thể có + ở đầu.")
        return ref
    raise ValidationFailed.field("destination.kind", "Loại đích đến không hợp lệ.")


def _sound(db: Session, org_id: str, sound_id: str, field: str) -> SoundFile:
    s = db.get(SoundFile, sound_id)
    if s is None or s.organization_id != org_id:
        raise ValidationFailed.field(field, "Không tìm thấy tệp âm thanh.")
    return s


def destination_label(db: Session, kind: str, ref: str) -> str:
    base = DEST_LABELS.get(kind, kind)
    if kind == "extension":
        ext = db.get(Extension, ref)
        return f"{base} {ext.number}" + (f" – {ext.display_name}" if ext and ext.display_name else "") if ext \
            else f"{base} (đã xóa)"
    if kind == "play":
        s = db.get(SoundFile, ref)
        return f"{base}: {s.name}" if s else f"{base} (tệp đã xóa)"
    if kind == "route":
        r = db.get(InboundRoute, ref)
        return f"{base}: {r.name}" if r else f"{base} (đã xóa)"
    if kind == "number":
        return f"{base} {ref}"
    return base


# --- inbound routes -----------------------------------------------------------------------------
def inbound_out(db: Session, r: InboundRoute) -> S.InboundRouteOut:
    return S.InboundRouteOut.model_validate({
        **{f: getattr(r, f) for f in S.InboundRouteOut.model_fields if f != "destination"},
        "destination": S.DestinationOut(kind=r.dest_kind, ref=r.dest_ref,
                                        label=destination_label(db, r.dest_kind, r.dest_ref))})


def get_inbound(db: Session, p: Principal, route_id: str) -> InboundRoute:
    return service.get_owned(db, p, InboundRoute, route_id, "Không tìm thấy tuyến gọi vào.")


def list_inbound(db: Session, p: Principal, params: ListParams, *, organization_id: str = "",
                 enabled: bool | None = None) -> Page:
    return INBOUND_LIST.page(db, p, params, organization_id, enabled=enabled)


def create_inbound(db: Session, p: Principal, data: S.InboundRouteIn) -> InboundRoute:
    org_id = service.org_for_write(db, p, data.organization_id)
    _unique_name(db, InboundRoute, org_id, data.name, "tuyến gọi vào")
    r = InboundRoute(id=new_id(), organization_id=org_id, name=data.name, did_pattern=data.did_pattern,
                     caller_pattern=data.caller_pattern, description=data.description, enabled=data.enabled,
                     dest_kind=data.destination.kind)
    r.dest_ref = check_destination(db, org_id, data.destination.kind, data.destination.ref, r.id)
    r.prompt_sound_id = _sound(db, org_id, data.prompt_sound_id, "prompt_sound_id").id \
        if data.prompt_sound_id else None
    INBOUND_AUDIT.created(db, p, r, snapshot(r, INBOUND_FIELDS), f"Tạo tuyến gọi vào {r.name}")
    return r


def update_inbound(db: Session, p: Principal, route_id: str, data: S.InboundRoutePatch) -> InboundRoute:
    r = get_inbound(db, p, route_id)
    before = snapshot(r, INBOUND_FIELDS)
    changes = data.model_dump(exclude_unset=True, exclude={"destination", "prompt_sound_id"})
    if changes.get("name") and changes["name"] != r.name:
        _unique_name(db, InboundRoute, r.organization_id, changes["name"], "tuyến gọi vào", exclude=r.id)
    for k, v in changes.items():
        if v is not None:
            setattr(r, k, v)
    if data.destination is not None:
        r.dest_ref = check_destination(db, r.organization_id, data.destination.kind, data.destination.ref, r.id)
        r.dest_kind = data.destination.kind
    if "prompt_sound_id" in data.model_fields_set:
        r.prompt_sound_id = _sound(db, r.organization_id, data.prompt_sound_id, "prompt_sound_id").id \
            if data.prompt_sound_id else None
    db.flush()
    INBOUND_AUDIT.updated(db, p, r, before, snapshot(r, INBOUND_FIELDS), f"Sửa tuyến gọi vào {r.name}")
    return r


def delete_inbound(db: Session, p: Principal, route_id: str) -> None:
    r = get_inbound(db, p, route_id)
    used = list(db.scalars(select(InboundRoute.name).where(InboundRoute.dest_kind == "route",
                                                           InboundRoute.dest_ref == r.id)))
    if used:
        raise Conflict(f"Tuyến {r.name} là đích đến của tuyến {', '.join(used)}; hãy đổi đích đến của các tuyến này "
                       "trước khi xóa.")
    INBOUND_AUDIT.deleted(db, p, r, snapshot(r, INBOUND_FIELDS), f"Xóa tuyến gọi vào {r.name}")


# --- PIN sets -----------------------------------------------------------------------------------
def get_pin_set(db: Session, p: Principal, pin_set_id: str) -> PinSet:
    return service.get_owned(db, p, PinSet, pin_set_id, "Không tìm thấy bộ mã PIN.")


def list_pin_sets(db: Session, p: Principal, params: ListParams, *, organization_id: str = "") -> Page:
    return PIN_SET_LIST.page(db, p, params, organization_id)


def _pin_snapshot(s: PinSet) -> dict:
    return {"name": s.name, "description": s.description, "pins": f"{len(s.pins or [])} mã"}


def create_pin_set(db: Session, p: Principal, data: S.PinSetIn) -> PinSet:
    org_id = service.org_for_write(db, p, data.organization_id)
    _unique_name(db, PinSet, org_id, data.name, "bộ mã PIN")
    s = PinSet(id=new_id(), organization_id=org_id, name=data.name, description=data.description, pins=data.pins)
    PIN_SET_AUDIT.created(db, p, s, _pin_snapshot(s), f"Tạo bộ mã PIN {s.name}")
    return s


def update_pin_set(db: Session, p: Principal, pin_set_id: str, data: S.PinSetPatch) -> PinSet:
    s = get_pin_set(db, p, pin_set_id)
    before, old_pins = _pin_snapshot(s), list(s.pins or [])
    if data.name is not None and data.name != s.name:
        _unique_name(db, PinSet, s.organization_id, data.name, "bộ mã PIN", exclude=s.id)
        s.name = data.name
    if data.description is not None:
        s.description = data.description
    if data.pins is not None:
        s.pins = list(data.pins)
    db.flush()
    PIN_SET_AUDIT.updated(db, p, s, before, _pin_snapshot(s), f"Sửa bộ mã PIN {s.name}",
                          changed=list(s.pins) != old_pins)
    return s


def delete_pin_set(db: Session, p: Principal, pin_set_id: str) -> None:
    s = get_pin_set(db, p, pin_set_id)
    used = list(db.scalars(select(OutboundRoute.name).where(OutboundRoute.pin_set_id == s.id)))
    if used:
        raise Conflict(f"Bộ mã PIN {s.name} đang được dùng bởi tuyến gọi ra {', '.join(used)}; hãy bỏ khỏi các "
                       "tuyến này trước khi xóa.")
    PIN_SET_AUDIT.deleted(db, p, s, _pin_snapshot(s), f"Xóa bộ mã PIN {s.name}")


# --- outbound routes ----------------------------------------------------------------------------
def outbound_snapshot(r: OutboundRoute) -> dict:
    d = snapshot(r, OUTBOUND_FIELDS)
    d["trunk_ids"] = r.trunk_ids
    return d


def outbound_out(r: OutboundRoute) -> S.OutboundRouteOut:
    return S.OutboundRouteOut.model_validate({**{f: getattr(r, f) for f in S.OutboundRouteOut.model_fields}})


def get_outbound(db: Session, p: Principal, route_id: str) -> OutboundRoute:
    return service.get_owned(db, p, OutboundRoute, route_id, "Không tìm thấy tuyến gọi ra.")


def list_outbound(db: Session, p: Principal, params: ListParams, *, organization_id: str = "",
                  enabled: bool | None = None) -> Page:
    return OUTBOUND_LIST.page(db, p, params, organization_id, enabled=enabled)


def _links(db: Session, org_id: str, trunk_ids: list[str]) -> list[OutboundRouteTrunk]:
    found = {t.id for t in db.scalars(select(Trunk).where(Trunk.organization_id == org_id,
                                                          Trunk.id.in_(trunk_ids)))} if trunk_ids else set()
    missing = [i for i in trunk_ids if i not in found]
    if missing:
        raise ValidationFailed.field("trunk_ids", "Có trunk không tồn tại trong tổ chức.")
    return [OutboundRouteTrunk(trunk_id=i, position=n) for n, i in enumerate(trunk_ids)]


def _pin_set_ref(db: Session, org_id: str, pin_set_id: str | None) -> str | None:
    if not pin_set_id:
        return None
    s = db.get(PinSet, pin_set_id)
    if s is None or s.organization_id != org_id:
        raise ValidationFailed.field("pin_set_id", "Không tìm thấy bộ mã PIN.")
    return s.id


def create_outbound(db: Session, p: Principal, data: S.OutboundRouteIn) -> OutboundRoute:
    org_id = service.org_for_write(db, p, data.organization_id)
    _unique_name(db, OutboundRoute, org_id, data.name, "tuyến gọi ra")
    last = db.scalar(select(func.max(OutboundRoute.position)).where(OutboundRoute.organization_id == org_id)) or 0
    r = OutboundRoute(id=new_id(), organization_id=org_id, name=data.name, position=last + 1,
                      patterns=[x.model_dump() for x in data.patterns], caller_id_number=data.caller_id_number,
                      enabled=data.enabled, pin_set_id=_pin_set_ref(db, org_id, data.pin_set_id))
    r.trunk_links = _links(db, org_id, data.trunk_ids)
    OUTBOUND_AUDIT.created(db, p, r, outbound_snapshot(r), f"Tạo tuyến gọi ra {r.name}")
    return r


def update_outbound(db: Session, p: Principal, route_id: str, data: S.OutboundRoutePatch) -> OutboundRoute:
    r = get_outbound(db, p, route_id)
    before = outbound_snapshot(r)
    if data.name is not None and data.name != r.name:
        _unique_name(db, OutboundRoute, r.organization_id, data.name, "tuyến gọi ra", exclude=r.id)
        r.name = data.name
    if data.patterns is not None:
        r.patterns = [x.model_dump() for x in data.patterns]
    if data.trunk_ids is not None and data.trunk_ids != r.trunk_ids:
        new = _links(db, r.organization_id, data.trunk_ids)
        r.trunk_links.clear()
        db.flush()
        r.trunk_links.extend(new)
    if "pin_set_id" in data.model_fields_set:
        r.pin_set_id = _pin_set_ref(db, r.organization_id, data.pin_set_id)
    if data.caller_id_number is not None:
        r.caller_id_number = data.caller_id_number
    if data.enabled is not None:
        r.enabled = data.enabled
    db.flush()
    OUTBOUND_AUDIT.updated(db, p, r, before, outbound_snapshot(r), f"Sửa tuyến gọi ra {r.name}")
    return r


def move_outbound(db: Session, p: Principal, route_id: str, position: int) -> OutboundRoute:
    """Put a route at ``position`` (1 = tried first) and renumber the others 1…n."""
    r = get_outbound(db, p, route_id)
    routes = [x for x in db.scalars(select(OutboundRoute).where(OutboundRoute.organization_id == r.organization_id)
                                    .order_by(OutboundRoute.position, OutboundRoute.name)) if x.id != r.id]
    old = r.position
    routes.insert(min(max(position, 1), len(routes) + 1) - 1, r)
    for n, x in enumerate(routes, start=1):
        x.position = n
    db.flush()
    OUTBOUND_AUDIT.updated(db, p, r, {"position": old}, {"position": r.position},
                           f"Đổi thứ tự tuyến gọi ra {r.name}: {old} → {r.position}", verb="moved")
    return r


def delete_outbound(db: Session, p: Principal, route_id: str) -> None:
    r = get_outbound(db, p, route_id)
    OUTBOUND_AUDIT.deleted(db, p, r, outbound_snapshot(r), f"Xóa tuyến gọi ra {r.name}")
