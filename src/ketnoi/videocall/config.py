"""Switchboard configuration of the video-call module (VC-11, 17, 18): partners and their API keys,
hotlines, queues, groups with conditions and strategies, agents and their group memberships,
waiting/greeting files, and their deletion (refused while in use or once they have call history).
Every change is audited in the same transaction; the console pages and the partner API share these."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.identity.models import Organization, User
from ketnoi.identity.principal import Principal
from ketnoi.settings import get_settings
from ketnoi.videocall import routing
from ketnoi.videocall import schemas as S
from ketnoi.videocall.models import (
    ACTIVE_STATUSES,
    VcAgent,
    VcAgentStatusLog,
    VcCall,
    VcGroup,
    VcHotline,
    VcMediaFile,
    VcMembership,
    VcPartner,
    VcQueue,
)
from ketnoi.videocall.signing import new_partner_key, partner_secret

MEDIA_TYPES = {"audio/mpeg": ".mp3", "audio/ogg": ".ogg", "audio/wav": ".wav", "audio/x-wav": ".wav",
               "audio/webm": ".weba", "video/webm": ".webm", "video/mp4": ".mp4", "audio/mp4": ".m4a"}
MAX_MEDIA_BYTES = 20 * 1024 * 1024


def org_for_write(db: Session, p: Principal, requested: str | None) -> str:
    """The organization a new object belongs to: the actor's own; system administrators choose one
    that exists."""
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        if len(requested) > 64 or db.get(Organization, requested) is None:
            raise ValidationFailed.field("organization_id", "Tổ chức không tồn tại.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo dữ liệu cho tổ chức khác.")
    assert p.organization_id
    return p.organization_id


def _get(db: Session, p: Principal, model, object_id: str, what: str):
    obj = db.get(model, object_id) if object_id and len(object_id) <= 64 else None
    if obj is None or not p.sees_organization(obj.organization_id):
        raise NotFound(f"Không tìm thấy {what}.")
    return obj


def _ref(db: Session, model, object_id: str | None, org: str, field: str, what: str) -> str | None:
    if not object_id:
        return None
    obj = db.get(model, object_id) if len(object_id) <= 64 else None
    if obj is None or obj.organization_id != org:
        raise ValidationFailed.field(field, f"{what} không tồn tại.")
    return obj.id


def _unique(db: Session, model, org: str, column, value: str, field: str, exclude: str | None = None) -> None:
    stmt = select(model.id).where(model.organization_id == org, column == value)
    if exclude:
        stmt = stmt.where(model.id != exclude)
    if db.scalar(stmt) is not None:
        raise Conflict(f"Mã '{value}' đã được dùng.") if field != "number" else Conflict(
            f"Hotline '{value}' đã tồn tại.")


# --- partners -------------------------------------------------------------------------------------
def create_partner(db: Session, p: Principal, data: S.PartnerIn) -> tuple[VcPartner, str]:
    """A partner application and its key; the secret is returned once and never stored."""
    org = org_for_write(db, p, data.organization_id)
    _unique(db, VcPartner, org, VcPartner.code, data.code, "code")
    key_id, salt = new_partner_key()
    partner = VcPartner(organization_id=org, code=data.code, name=data.name, key_id=key_id, salt=salt)
    db.add(partner)
    db.flush()
    record(db, p, "videocall.partner.created", "vc_partner", partner.id, organization_id=org,
           after=snapshot(partner, ["code", "name", "key_id"]), summary=f"Tạo ứng dụng đối tác {data.name}")
    return partner, partner_secret(partner)


def rotate_partner_key(db: Session, p: Principal, partner_id: str) -> tuple[VcPartner, str]:
    partner = _get(db, p, VcPartner, partner_id, "ứng dụng đối tác")
    old = partner.key_id
    partner.key_id, partner.salt = new_partner_key()
    record(db, p, "videocall.partner.rotated", "vc_partner", partner.id, organization_id=partner.organization_id,
           summary=f"Đổi khóa API của {partner.name}: {old} → {partner.key_id}")
    return partner, partner_secret(partner)


def set_partner_active(db: Session, p: Principal, partner_id: str, active: bool) -> VcPartner:
    partner = _get(db, p, VcPartner, partner_id, "ứng dụng đối tác")
    partner.is_active = active
    record(db, p, "videocall.partner." + ("enabled" if active else "disabled"), "vc_partner", partner.id,
           organization_id=partner.organization_id, summary=("Mở" if active else "Khóa") + f" khóa {partner.key_id}")
    return partner


# --- media files (VC-16, 18) ------------------------------------------------------------------
def media_dir() -> Path:
    path = get_settings().data_dir / "videocall" / "media"
    path.mkdir(parents=True, exist_ok=True)
    return path


def add_media_file(db: Session, p: Principal, name: str, content_type: str, content: bytes,
                   organization_id: str | None = None) -> VcMediaFile:
    org = org_for_write(db, p, organization_id)
    ext = MEDIA_TYPES.get((content_type or "").split(";")[0].strip().lower())
    if ext is None:
        raise ValidationFailed.field("file", "Chỉ nhận tệp âm thanh/video: mp3, ogg, wav, webm, mp4, m4a.")
    if not content or len(content) > MAX_MEDIA_BYTES:
        raise ValidationFailed.field("file", "Tệp rỗng hoặc lớn hơn 20 MB.")
    storage = secrets.token_hex(16) + ext
    (media_dir() / storage).write_bytes(content)
    f = VcMediaFile(organization_id=org, name=(name or "tep")[:200], content_type=content_type.split(";")[0],
                    size=len(content), storage_name=storage)
    db.add(f)
    db.flush()
    record(db, p, "videocall.media.created", "vc_media_file", f.id, organization_id=org,
           summary=f"Tải lên tệp chờ/lời chào {f.name}")
    return f


def media_path(f: VcMediaFile) -> Path:
    return media_dir() / f.storage_name


# --- queues, hotlines, groups ---------------------------------------------------------------------
def save_group(db: Session, p: Principal, data: S.GroupIn, group_id: str | None = None,
               organization_id: str | None = None) -> VcGroup:
    errors = routing.validate_conditions(data.conditions)
    if errors:
        raise ValidationFailed(" ".join(errors), [{"field": "conditions", "message": e} for e in errors])
    g = _get(db, p, VcGroup, group_id, "nhóm") if group_id else None
    org = g.organization_id if g else org_for_write(db, p, organization_id)
    _unique(db, VcGroup, org, VcGroup.code, data.code, "code", exclude=group_id)
    fallback = _ref(db, VcGroup, data.fallback_group_id, org, "fallback_group_id", "Nhóm dự phòng")
    if fallback and fallback == group_id:
        raise ValidationFailed.field("fallback_group_id", "Nhóm dự phòng phải khác nhóm này.")
    before = snapshot(g, GROUP_FIELDS) if g else None
    if g is None:
        g = VcGroup(organization_id=org)
        db.add(g)
    g.code, g.name, g.strategy, g.conditions = data.code, data.name, data.strategy.value, dict(data.conditions)
    g.agent_ring_seconds, g.overflow_seconds, g.fallback_group_id = (data.agent_ring_seconds, data.overflow_seconds,
                                                                     fallback)
    g.is_active = data.is_active
    db.flush()
    record(db, p, "videocall.group." + ("updated" if before else "created"), "vc_group", g.id, organization_id=org,
           before=before, after=snapshot(g, GROUP_FIELDS), summary=f"Nhóm trực video {g.code} – {g.name}")
    return g


GROUP_FIELDS = ["code", "name", "strategy", "conditions", "agent_ring_seconds", "overflow_seconds",
                "fallback_group_id", "is_active"]
QUEUE_FIELDS = ["code", "name", "max_wait_seconds", "waiting_file_id", "group_ids", "is_active"]
HOTLINE_FIELDS = ["number", "name", "queue_id", "greeting_start_id", "greeting_end_id", "is_active"]


def save_queue(db: Session, p: Principal, data: S.QueueIn, queue_id: str | None = None,
               organization_id: str | None = None) -> VcQueue:
    q = _get(db, p, VcQueue, queue_id, "hàng đợi") if queue_id else None
    org = q.organization_id if q else org_for_write(db, p, organization_id)
    _unique(db, VcQueue, org, VcQueue.code, data.code, "code", exclude=queue_id)
    group_ids = []
    for gid in data.group_ids:
        ref = _ref(db, VcGroup, gid, org, "group_ids", "Nhóm")
        if ref not in group_ids:
            group_ids.append(ref)
    waiting = _ref(db, VcMediaFile, data.waiting_file_id, org, "waiting_file_id", "Tệp chờ")
    before = snapshot(q, QUEUE_FIELDS) if q else None
    if q is None:
        q = VcQueue(organization_id=org)
        db.add(q)
    q.code, q.name, q.max_wait_seconds, q.waiting_file_id = data.code, data.name, data.max_wait_seconds, waiting
    q.group_ids, q.is_active = group_ids, data.is_active
    db.flush()
    record(db, p, "videocall.queue." + ("updated" if before else "created"), "vc_queue", q.id, organization_id=org,
           before=before, after=snapshot(q, QUEUE_FIELDS), summary=f"Hàng đợi video {q.code} – {q.name}")
    return q


def save_hotline(db: Session, p: Principal, data: S.HotlineIn, hotline_id: str | None = None,
                 organization_id: str | None = None) -> VcHotline:
    h = _get(db, p, VcHotline, hotline_id, "hotline") if hotline_id else None
    org = h.organization_id if h else org_for_write(db, p, organization_id)
    _unique(db, VcHotline, org, VcHotline.number, data.number, "number", exclude=hotline_id)
    queue = _ref(db, VcQueue, data.queue_id, org, "queue_id", "Hàng đợi")
    start = _ref(db, VcMediaFile, data.greeting_start_id, org, "greeting_start_id", "Lời chào đầu")
    end = _ref(db, VcMediaFile, data.greeting_end_id, org, "greeting_end_id", "Lời chào cuối")
    before = snapshot(h, HOTLINE_FIELDS) if h else None
    if h is None:
        h = VcHotline(organization_id=org)
        db.add(h)
    h.number, h.name, h.queue_id, h.greeting_start_id, h.greeting_end_id = data.number, data.name, queue, start, end
    h.is_active = data.is_active
    db.flush()
    record(db, p, "videocall.hotline." + ("updated" if before else "created"), "vc_hotline", h.id,
           organization_id=org, before=before, after=snapshot(h, HOTLINE_FIELDS),
           summary=f"Hotline video {h.number} – {h.name}")
    return h


# --- agents ---------------------------------------------------------------------------------------
def save_agent(db: Session, p: Principal, data: S.AgentIn, agent_id: str | None = None) -> VcAgent:
    a = _get(db, p, VcAgent, agent_id, "điều phối viên") if agent_id else None
    user = db.get(User, data.user_id) if len(data.user_id) <= 64 else None
    if user is None or not p.sees_organization(user.organization_id) or user.organization_id is None:
        raise ValidationFailed.field("user_id", "Người dùng không tồn tại.")
    org = user.organization_id
    if a is not None and a.user_id != user.id:
        raise ValidationFailed.field("user_id", "Không đổi được người dùng của điều phối viên.")
    other = db.scalar(select(VcAgent).where(VcAgent.user_id == user.id))
    if a is None and other is not None:
        raise Conflict("Người dùng này đã là điều phối viên video.")
    groups = [_ref(db, VcGroup, gid, org, "group_ids", "Nhóm") for gid in dict.fromkeys(data.group_ids)]
    created = a is None
    if a is None:
        a = VcAgent(organization_id=org, user_id=user.id, status="offline")
        db.add(a)
    a.display_name = data.display_name or user.full_name
    a.is_active = data.is_active
    db.flush()
    _set_groups(db, a, groups)
    record(db, p, "videocall.agent." + ("created" if created else "updated"), "vc_agent", a.id, organization_id=org,
           after={"user": user.username, "display_name": a.display_name, "groups": groups, "is_active": a.is_active},
           summary=f"Điều phối viên video {a.display_name}")
    return a


def _set_groups(db: Session, a: VcAgent, groups: list[str]) -> None:
    """The agent's memberships become ``groups``: kept ones keep their place in their group, new ones
    go to the end of that group's order (positions count within a group, as in add_member)."""
    current = {m.group_id: m for m in db.scalars(select(VcMembership).where(VcMembership.agent_id == a.id))}
    for gid, m in current.items():
        if gid not in groups:
            db.delete(m)
    db.flush()
    for gid in groups:
        if gid not in current:
            db.add(VcMembership(group_id=gid, agent_id=a.id, position=_next_position(db, gid)))
            db.flush()


def _next_position(db: Session, group_id: str) -> int:
    last = db.scalar(select(VcMembership.position).where(VcMembership.group_id == group_id)
                     .order_by(VcMembership.position.desc()).limit(1))
    return last + 1 if last is not None else 0


def add_member(db: Session, p: Principal, group_id: str, agent_id: str) -> VcMembership:
    g = _get(db, p, VcGroup, group_id, "nhóm")
    a = _get(db, p, VcAgent, agent_id, "điều phối viên")
    if a.organization_id != g.organization_id:
        raise ValidationFailed.field("agent_id", "Điều phối viên không thuộc tổ chức của nhóm.")
    m = db.get(VcMembership, (g.id, a.id))
    if m is None:
        m = VcMembership(group_id=g.id, agent_id=a.id, position=_next_position(db, g.id))
        db.add(m)
        db.flush()
        record(db, p, "videocall.member.added", "vc_group", g.id, organization_id=g.organization_id,
               summary=f"Thêm {a.display_name} vào nhóm {g.code}")
    return m


def remove_member(db: Session, p: Principal, group_id: str, agent_id: str) -> None:
    g = _get(db, p, VcGroup, group_id, "nhóm")
    n = db.execute(delete(VcMembership).where(VcMembership.group_id == g.id, VcMembership.agent_id == agent_id))
    if n.rowcount:
        record(db, p, "videocall.member.removed", "vc_group", g.id, organization_id=g.organization_id,
               summary=f"Bỏ điều phối viên {agent_id} khỏi nhóm {g.code}")


def agent_ids_of(db: Session, group_id: str) -> list[str]:
    """The group's agents in ring order."""
    return [a.id for _, a in group_members(db, group_id)]


def group_ids_of(db: Session, agent_id: str) -> list[str]:
    return list(db.scalars(select(VcMembership.group_id).where(VcMembership.agent_id == agent_id)
                           .order_by(VcMembership.group_id)))


# --- deletions (console pages and partner API) ----------------------------------------------------
def _gone(db: Session, p: Principal, obj, kind: str, label: str) -> None:
    record(db, p, f"videocall.{kind}.deleted", f"vc_{kind}", obj.id, organization_id=obj.organization_id,
           summary=f"Xóa {label}")
    db.delete(obj)
    db.flush()


def _has_calls(db: Session, column, value: str) -> bool:
    return db.scalar(select(VcCall.id).where(column == value).limit(1)) is not None


def delete_hotline(db: Session, p: Principal, hotline_id: str) -> None:
    h = _get(db, p, VcHotline, hotline_id, "hotline")
    if _has_calls(db, VcCall.hotline_id, h.id):
        raise Conflict(f"Hotline {h.number} đã có cuộc gọi, cần giữ cho báo cáo; hãy tạm ngừng "
                       "(is_active = false) thay vì xóa.")
    _gone(db, p, h, "hotline", f"hotline video {h.number} – {h.name}")


def delete_queue(db: Session, p: Principal, queue_id: str) -> None:
    q = _get(db, p, VcQueue, queue_id, "hàng đợi")
    used = list(db.scalars(select(VcHotline.number).where(VcHotline.queue_id == q.id)))
    if used:
        raise Conflict(f"Hàng đợi {q.code} đang được hotline {', '.join(used)} dùng; hãy đổi hàng đợi của "
                       "hotline trước.")
    if db.scalar(select(VcCall.id).where(VcCall.queue_id == q.id, VcCall.status.in_(ACTIVE_STATUSES))):
        raise Conflict(f"Hàng đợi {q.code} đang có cuộc gọi.")
    _gone(db, p, q, "queue", f"hàng đợi video {q.code} – {q.name}")


def delete_group(db: Session, p: Principal, group_id: str) -> None:
    g = _get(db, p, VcGroup, group_id, "nhóm")
    queues = [q.code for q in db.scalars(select(VcQueue).where(VcQueue.organization_id == g.organization_id))
              if g.id in (q.group_ids or [])]
    if queues:
        raise Conflict(f"Nhóm {g.code} đang nằm trong hàng đợi {', '.join(queues)}; hãy bỏ nhóm khỏi hàng đợi trước.")
    fallback_of = list(db.scalars(select(VcGroup.code).where(VcGroup.fallback_group_id == g.id)))
    if fallback_of:
        raise Conflict(f"Nhóm {g.code} là nhóm dự phòng của {', '.join(fallback_of)}.")
    if db.scalar(select(VcCall.id).where(VcCall.group_id == g.id, VcCall.status.in_(ACTIVE_STATUSES))):
        raise Conflict(f"Nhóm {g.code} đang có cuộc gọi.")
    db.execute(delete(VcMembership).where(VcMembership.group_id == g.id))
    _gone(db, p, g, "group", f"nhóm trực video {g.code} – {g.name}")


def delete_agent(db: Session, p: Principal, agent_id: str) -> None:
    a = _get(db, p, VcAgent, agent_id, "điều phối viên")
    if _has_calls(db, VcCall.agent_id, a.id):
        raise Conflict(f"{a.display_name} đã có cuộc gọi, cần giữ cho báo cáo; hãy ngừng dùng "
                       "(is_active = false) thay vì xóa.")
    db.execute(delete(VcMembership).where(VcMembership.agent_id == a.id))
    _gone(db, p, a, "agent", f"điều phối viên video {a.display_name}")


def log_status(db: Session, agent: VcAgent, status: str, at) -> None:
    db.add(VcAgentStatusLog(agent_id=agent.id, status=status, at=at))


def group_members(db: Session, group_id: str) -> list[tuple[VcMembership, VcAgent]]:
    rows = db.execute(select(VcMembership, VcAgent).join(VcAgent, VcAgent.id == VcMembership.agent_id)
                      .where(VcMembership.group_id == group_id).order_by(VcMembership.position, VcAgent.id))
    return [(m, a) for m, a in rows]


def describe_media(f: VcMediaFile | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"id": f.id, "name": f.name, "content_type": f.content_type, "url": f"/api/v1/videocall/media/{f.id}"}
