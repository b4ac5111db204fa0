"""PBX rules shared by every object, the general settings (CC-05), staging and Apply (CC-05…14), and
the functions the call engine calls: ``load_applied_config``, ``applied_configs``,
``set_trunk_status``. Objects live in extensions.py (extensions, trunks), routes.py (inbound and
outbound routes, PIN sets), sounds.py (CC-12) and cdr.py (CC-21).

Staging: every change of a PBX object bumps ``PbxState.revision`` in the same transaction; the
running engine keeps the last applied snapshot until someone applies. ``apply`` validates the whole
configuration (snapshot.build + validation.validate), stores the immutable snapshot and, after the
commit, publishes ``pbx.applied`` so the engine swaps it in without dropping live calls.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Forbidden, NotFound, ValidationFailed
from ketnoi.db.base import new_id, utcnow
from ketnoi.events import Event, queue_event
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.telephony.pbx import config as C
from ketnoi.telephony.pbx import schemas as S
from ketnoi.telephony.pbx import secretbox
from ketnoi.telephony.pbx.models import Extension, PbxSettings, PbxState, Trunk

log = logging.getLogger(__name__)

SETTINGS_FIELDS = ("sip_udp_port", "sip_tcp_port", "rtp_port_min", "rtp_port_max", "codecs", "public_address",
                   "local_networks", "sip_realm", "recording_enabled", "recording_mode", "prompt_language")
TRUNK_STATUSES = ("registered", "reachable", "unreachable", "rejected", "unknown")
TRUNK_STATUS_LABELS = {"registered": "Đã đăng ký", "reachable": "Kết nối tốt", "unreachable": "Mất kết nối",
                       "rejected": "Bị từ chối", "unknown": "Chưa rõ"}


class ApplyRefused(ValidationFailed):
    """The configuration has errors; nothing was applied. ``errors`` lists them, one per problem."""

    def __init__(self, errors: list[dict[str, str]]):
        super().__init__(f"Cấu hình tổng đài có {len(errors)} lỗi nên chưa được áp dụng. Hãy sửa các lỗi "
                         "được liệt kê rồi áp dụng lại.", errors)


# --- organization scope -------------------------------------------------------------------------
def org_for_write(db: Session, p: Principal, requested: str | None) -> str:
    """The organization a new object belongs to: the actor's own, or the one a system admin chose."""
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        if db.get(Organization, requested) is None:
            raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo dữ liệu cho tổ chức khác.")
    if not p.organization_id:
        raise Forbidden("Tài khoản không thuộc tổ chức nào.")
    return p.organization_id


def org_for_read(db: Session, p: Principal, requested: str | None) -> str:
    """The organization whose one-per-organization data (settings, status) is read or applied."""
    if p.is_sysadmin and not requested:
        raise ValidationFailed.field("organization_id", "Chọn tổ chức (organization_id).")
    if p.is_sysadmin:
        if db.get(Organization, requested) is None:
            raise NotFound("Không tìm thấy tổ chức.")
        return requested  # type: ignore[return-value]
    if requested and requested != p.organization_id:
        raise NotFound("Không tìm thấy tổ chức.")
    if not p.organization_id:
        raise Forbidden("Tài khoản không thuộc tổ chức nào.")
    return p.organization_id


def list_scope(p: Principal, requested: str = "") -> str | None:
    """Lists: one's own organization; a system administrator sees all, or the one asked for."""
    if p.is_sysadmin:
        return requested or None
    return p.organization_id or "-"


def get_owned(db: Session, p: Principal, model, object_id: str, missing: str):
    """An object of the actor's organization (another organization's is 'not found')."""
    obj = db.get(model, object_id)
    if obj is None or not p.sees_organization(obj.organization_id):
        raise NotFound(missing)
    return obj


# --- staging ------------------------------------------------------------------------------------
def state(db: Session, org_id: str, *, lock: bool = False) -> PbxState:
    stmt = select(PbxState).where(PbxState.organization_id == org_id)
    st = db.scalar(stmt.with_for_update() if lock else stmt)
    if st is None:
        st = PbxState(id=new_id(), organization_id=org_id, revision=0, applied_revision=0)
        db.add(st)
        db.flush()
    return st


def touch(db: Session, org_id: str) -> None:
    """A staged change: the running configuration differs from the database until applied."""
    st = state(db, org_id, lock=True)
    st.revision += 1
    st.changed_at = utcnow()


def status(db: Session, org_id: str) -> S.StatusOut:
    st = state(db, org_id)
    return S.StatusOut(organization_id=org_id, revision=st.revision, applied_revision=st.applied_revision,
                       dirty=st.revision != st.applied_revision, changed_at=st.changed_at,
                       applied_at=st.applied_at, applied_by=st.applied_by)


# --- general settings (CC-05) -------------------------------------------------------------------
def get_settings_row(db: Session, org_id: str) -> PbxSettings:
    row = db.scalar(select(PbxSettings).where(PbxSettings.organization_id == org_id))
    if row is None:
        row = PbxSettings(id=new_id(), organization_id=org_id, codecs=["PCMA", "PCMU"], local_networks=[])
        db.add(row)
        db.flush()
    return row


def update_settings(db: Session, p: Principal, org_id: str, data: S.SettingsPatch) -> PbxSettings:
    row = get_settings_row(db, org_id)
    before = snapshot(row, SETTINGS_FIELDS)
    changes = data.model_dump(exclude_unset=True, exclude_none=True)
    lo = changes.get("rtp_port_min", row.rtp_port_min)
    hi = changes.get("rtp_port_max", row.rtp_port_max)
    if lo >= hi:
        raise ValidationFailed.field("rtp_port_max", "Cổng RTP cuối phải lớn hơn cổng RTP đầu.")
    if hi - lo < 20:
        raise ValidationFailed.field("rtp_port_max", "Dải cổng RTP cần ít nhất 20 cổng (mỗi cuộc gọi dùng 2 cổng "
                                                     "cho mỗi bên).")
    for name in ("sip_udp_port", "sip_tcp_port"):
        port = changes.get(name, getattr(row, name))
        if lo <= port <= hi:
            raise ValidationFailed.field(name, f"Cổng SIP {port} nằm trong dải cổng RTP {lo}–{hi}.")
    old_realm = row.sip_realm
    for k, v in changes.items():
        setattr(row, k, v)
    if row.sip_realm != old_realm:
        _rehash_extensions(db, org_id, row.sip_realm)
    db.flush()
    after = snapshot(row, SETTINGS_FIELDS)
    if after != before:
        touch(db, org_id)
        record(db, p, "pbx.settings_updated", "pbx_settings", row.id, before=before, after=after,
               organization_id=org_id, summary="Sửa cài đặt chung tổng đài")
    return row


def _rehash_extensions(db: Session, org_id: str, realm: str) -> None:
    """HA1 depends on the realm: recompute it from the sealed secret of every extension."""
    for ext in db.scalars(select(Extension).where(Extension.organization_id == org_id)):
        try:
            secret = secretbox.unseal(ext.secret_sealed)
        except secretbox.SecretUnavailable:
            log.warning("extension %s: secret cannot be unsealed; HA1 left for realm %s", ext.number, ext.ha1_realm)
            continue
        ext.ha1_md5, ext.ha1_sha256 = secretbox.ha1(ext.number, realm, secret)
        ext.ha1_realm = realm


def general_config(row: PbxSettings) -> C.GeneralConfig:
    return C.GeneralConfig(
        sip_udp_port=row.sip_udp_port, sip_tcp_port=row.sip_tcp_port, rtp_port_min=row.rtp_port_min,
        rtp_port_max=row.rtp_port_max, codecs=tuple(row.codecs or ("PCMA", "PCMU")),
        public_address=row.public_address, local_networks=tuple(row.local_networks or ()), realm=row.sip_realm,
        recording_enabled=row.recording_enabled, recording_mode=row.recording_mode,
        prompt_language=row.prompt_language)


# --- apply --------------------------------------------------------------------------------------
def check(db: Session, org_id: str) -> list[dict[str, str]]:
    """Every problem that would stop ``apply``, without applying."""
    from ketnoi.telephony.pbx import snapshot, validation

    st = state(db, org_id)
    draft, errors = snapshot.build(db, org_id, st.revision, utcnow().isoformat())
    return errors + validation.validate(draft) + _port_conflicts(db, org_id, draft.settings)


def _port_conflicts(db: Session, org_id: str, s: C.GeneralConfig) -> list[dict[str, str]]:
    """One engine serves every organization: their SIP ports must differ."""
    out = []
    rows = db.execute(select(PbxState.applied_config, Organization.name)
                      .join(Organization, Organization.id == PbxState.organization_id)
                      .where(PbxState.organization_id != org_id, PbxState.applied_config.is_not(None))).all()
    for applied, name in rows:
        other = applied.get("settings", {})
        used = {other.get("sip_udp_port"), other.get("sip_tcp_port")}
        for field, port in (("sip_udp_port", s.sip_udp_port), ("sip_tcp_port", s.sip_tcp_port)):
            if port in used:
                out.append({"field": f"settings.{field}",
                            "message": f"Cổng SIP {port} đang được tổ chức «{name}» dùng; chọn cổng khác."})
    return out


def apply(db: Session, p: Principal, org_id: str) -> PbxState:
    """Validate the staged configuration and make it the applied one (CC-05…14 'Apply')."""
    from ketnoi.telephony.pbx import snapshot, validation

    st = state(db, org_id, lock=True)
    now = utcnow()
    draft, errors = snapshot.build(db, org_id, st.revision, now.isoformat())
    errors += validation.validate(draft) + _port_conflicts(db, org_id, draft.settings)
    if errors:
        raise ApplyRefused(errors)
    cfg = draft.enabled_only()
    previous = st.applied_config or {}
    st.applied_config = C.to_dict(cfg, seal=secretbox.seal)
    st.applied_revision, st.applied_at, st.applied_by = st.revision, now, p.full_name or p.username
    db.flush()
    record(db, p, "pbx.applied", "pbx_state", st.id, organization_id=org_id,
           summary=f"Áp dụng cấu hình tổng đài (phiên bản {st.revision})",
           after={"revision": st.revision, "extensions": len(cfg.extensions), "trunks": len(cfg.trunks),
                  "inbound_routes": len(cfg.inbound_routes), "outbound_routes": len(cfg.outbound_routes)})
    # prompt files of deleted sounds go once neither this snapshot nor the one it replaces plays them
    from ketnoi.telephony.pbx import sounds

    keep = {Path(x.path).name for x in cfg.sounds} | {Path(x["path"]).name for x in previous.get("sounds", [])}
    sounds.collect_garbage(db, org_id, keep)
    queue_event(db, Event("pbx.applied", {"organization_id": org_id, "revision": st.revision,
                                          "applied_at": now.isoformat()},
                          org_id=org_id, permission="telephony.settings.read"))
    return st


def load_applied_config(db: Session, organization_id: str) -> C.PbxConfig | None:
    """The applied snapshot of one organization (None before its first apply). Trunk passwords that
    cannot be unsealed (server key changed) come back empty and are logged."""
    st = db.scalar(select(PbxState).where(PbxState.organization_id == organization_id))
    if st is None or not st.applied_config:
        return None
    return C.from_dict(st.applied_config, unseal=_unseal_or_empty)


def applied_configs(db: Session) -> list[C.PbxConfig]:
    """The applied snapshots of every organization (what the engine loads at start)."""
    out = []
    for raw in db.scalars(select(PbxState.applied_config).where(PbxState.applied_config.is_not(None))):
        if raw:
            out.append(C.from_dict(raw, unseal=_unseal_or_empty))
    return out


def _unseal_or_empty(token: str) -> str:
    try:
        return secretbox.unseal(token)
    except secretbox.SecretUnavailable:
        log.warning("a trunk password in the applied PBX configuration cannot be unsealed; re-enter it")
        return ""


# --- runtime state written by the engine --------------------------------------------------------
def set_trunk_status(db: Session, trunk_id: str, status: str, detail: str = "", *,
                     at: datetime | None = None) -> bool:
    """Record a trunk's reachability (from REGISTER results and OPTIONS pings). Not a staged change;
    commits. Publishes ``pbx.trunk_status`` when the status changed. Returns whether it changed."""
    if status not in TRUNK_STATUSES:
        raise ValueError(f"unknown trunk status {status!r}")
    trunk = db.get(Trunk, trunk_id)
    if trunk is None:
        return False
    changed = trunk.status != status or trunk.status_detail != detail[:300]
    trunk.status, trunk.status_detail, trunk.status_at = status, detail[:300], at or utcnow()
    if changed:
        queue_event(db, Event("pbx.trunk_status", {"trunk_id": trunk.id, "name": trunk.name, "status": status,
                                                   "detail": detail[:300],
                                                   "at": trunk.status_at.isoformat()},
                              org_id=trunk.organization_id, permission="telephony.trunks.read"))
    db.commit()
    return changed
