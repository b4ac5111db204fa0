"""Partner configuration API of the video switchboard (VC-11, 17, 18) under /api/v1/videocall:
create, update (PUT replaces, PATCH merges), list (paged, searched), get and delete hotlines, queues,
groups (conditions, strategy, overflow), agents and group memberships, and waiting/greeting files.

Callers: the partner's backend with its signed requests (HMAC, as for starting calls) or a console
user holding ``videocall.config``; partner applications and their keys need ``videocall.partners``.
Every POST/PUT/PATCH/DELETE honours ``Idempotency-Key`` (core/idempotency.py)."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core import idempotency
from ketnoi.core.errors import ValidationFailed
from ketnoi.core.listing import ListParams, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.api import Actor, signed_or_user
from ketnoi.videocall.models import (
    VcAgent,
    VcGroup,
    VcHotline,
    VcPartner,
    VcQueue,
)
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.problems import validation_errors
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

PREFIX = "/api/v1/videocall"
router = APIRouter(prefix=PREFIX, responses=PROBLEMS, tags=["videocall-config"])
# every POST/PUT/PATCH/DELETE below accepts the header ``Idempotency-Key: "<unique string>"`` (kept 24 hours):
# the same key and request replay the first answer, another request → 422, while the first runs → 409
ConfigActor = Annotated[Actor, signed_or_user("videocall.config")]
Patch = Annotated[dict[str, Any], Body(description="Các trường cần đổi; các trường khác giữ nguyên")]


# --- shapes ---------------------------------------------------------------------------------------
class _Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    organization_id: str
    is_active: bool
    created_at: datetime
    updated_at: datetime


class HotlineOut(_Out):
    number: str
    name: str
    queue_id: str | None
    greeting_start_id: str | None
    greeting_end_id: str | None


class QueueOut(_Out):
    code: str
    name: str
    max_wait_seconds: int
    waiting_file_id: str | None
    group_ids: list[str]


class GroupOut(_Out):
    code: str
    name: str
    strategy: str
    conditions: dict[str, Any]
    agent_ring_seconds: int
    overflow_seconds: int
    fallback_group_id: str | None
    agent_ids: list[str] = []


class AgentOut(_Out):
    user_id: str
    display_name: str
    status: str
    group_ids: list[str] = []


class MemberOut(BaseModel):
    group_id: str
    agent_id: str
    position: int
    display_name: str
    status: str


class MediaOut(BaseModel):
    id: str
    name: str
    content_type: str
    size: int
    url: str


# --- helpers --------------------------------------------------------------------------------------
def scope_of(actor: Actor) -> str:
    """Idempotency keys belong to the partner application, or to the console user."""
    if actor.partner is not None:
        return f"vc-partner:{actor.partner.id}"
    return f"user:{actor.principal.user_id or actor.principal.username}"


def _scoped(stmt, model, p: Principal, organization_id: str):
    if not p.is_sysadmin:
        return stmt.where(model.organization_id == p.organization_id)
    return stmt.where(model.organization_id == organization_id) if organization_id else stmt


def _merge(model: type[BaseModel], current: dict[str, Any], patch: dict[str, Any]) -> BaseModel:
    unknown = sorted(set(patch) - set(model.model_fields))
    if unknown:
        raise ValidationFailed("Trường không được phép: " + ", ".join(unknown) + ".",
                               [{"field": f, "message": "Trường không được phép."} for f in unknown])
    try:
        return model.model_validate({**current, **patch})
    except ValidationError as e:
        errors = validation_errors(list(e.errors()))
        raise ValidationFailed("Dữ liệu không hợp lệ: " + "; ".join(x["message"] for x in errors), errors) from None


def group_out(db: Session, g: VcGroup) -> dict[str, Any]:
    return {**GroupOut.model_validate(g).model_dump(exclude={"agent_ids"}), "agent_ids": config.agent_ids_of(db, g.id)}


def agent_out(db: Session, a: VcAgent) -> dict[str, Any]:
    return {**AgentOut.model_validate(a).model_dump(exclude={"group_ids"}), "group_ids": config.group_ids_of(db, a.id)}


# --- hotlines -------------------------------------------------------------------------------------
def hotline_current(h: VcHotline) -> dict[str, Any]:
    return {f: getattr(h, f) for f in config.HOTLINE_FIELDS}


@router.get("/hotlines", response_model=Paged[HotlineOut], summary="Danh sách hotline video (VC-11, 18)")
def list_hotlines(db: DbDep, actor: ConfigActor, params: Annotated[ListParams, list_query()],
                  organization_id: Annotated[str, Query(max_length=64)] = "", active: bool | None = None):
    stmt = _scoped(select(VcHotline), VcHotline, actor.principal, organization_id)
    if active is not None:
        stmt = stmt.where(VcHotline.is_active == active)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcHotline.number, VcHotline.name])
    page = paginate(db, stmt, params, {"number": VcHotline.number, "name": VcHotline.name,
                                       "created_at": VcHotline.created_at}, "number")
    return page.as_dict(lambda h: HotlineOut.model_validate(h))


@router.post("/hotlines", response_model=HotlineOut, status_code=201,
             summary="Tạo hotline video: số, tên, hàng đợi, lời chào đầu/cuối")
def create_hotline(request: Request, data: S.HotlineIn, db: DbDep, actor: ConfigActor,
                   organization_id: Annotated[str | None, Query(max_length=64)] = None):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: config.save_hotline(
        db, actor.principal, data, organization_id=organization_id), status_code=201, out=HotlineOut)


@router.get("/hotlines/{vc_hotline_id}", response_model=HotlineOut, summary="Một hotline video")
def get_hotline(vc_hotline_id: str, db: DbDep, actor: ConfigActor):
    return config._get(db, actor.principal, VcHotline, vc_hotline_id, "hotline")


@router.put("/hotlines/{vc_hotline_id}", response_model=HotlineOut, summary="Thay toàn bộ cấu hình một hotline")
def put_hotline(request: Request, vc_hotline_id: str, data: S.HotlineIn, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: config.save_hotline(
        db, actor.principal, data, vc_hotline_id), out=HotlineOut)


@router.patch("/hotlines/{vc_hotline_id}", response_model=HotlineOut, summary="Sửa một số trường của hotline")
def patch_hotline(request: Request, vc_hotline_id: str, patch: Patch, db: DbDep, actor: ConfigActor):
    def run():
        h = config._get(db, actor.principal, VcHotline, vc_hotline_id, "hotline")
        return config.save_hotline(db, actor.principal, _merge(S.HotlineIn, hotline_current(h), patch), h.id)

    return idempotency.run(request, db, scope_of(actor), patch, run, out=HotlineOut)


@router.delete("/hotlines/{vc_hotline_id}", status_code=204,
               summary="Xóa hotline chưa có cuộc gọi (hotline đã có cuộc gọi: tạm ngừng thay vì xóa)")
def delete_hotline(request: Request, vc_hotline_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.delete_hotline(
        db, actor.principal, vc_hotline_id), status_code=204)


# --- queues ---------------------------------------------------------------------------------------
@router.get("/queues", response_model=Paged[QueueOut], summary="Danh sách hàng đợi video")
def list_queues(db: DbDep, actor: ConfigActor, params: Annotated[ListParams, list_query()],
                organization_id: Annotated[str, Query(max_length=64)] = "", active: bool | None = None):
    stmt = _scoped(select(VcQueue), VcQueue, actor.principal, organization_id)
    if active is not None:
        stmt = stmt.where(VcQueue.is_active == active)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcQueue.code, VcQueue.name])
    page = paginate(db, stmt, params, {"code": VcQueue.code, "name": VcQueue.name,
                                       "created_at": VcQueue.created_at}, "code")
    return page.as_dict(lambda q: QueueOut.model_validate(q))


@router.post("/queues", response_model=QueueOut, status_code=201,
             summary="Tạo hàng đợi: thời gian chờ tối đa, tệp chờ, các nhóm theo thứ tự thử")
def create_queue(request: Request, data: S.QueueIn, db: DbDep, actor: ConfigActor,
                 organization_id: Annotated[str | None, Query(max_length=64)] = None):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: config.save_queue(
        db, actor.principal, data, organization_id=organization_id), status_code=201, out=QueueOut)


@router.get("/queues/{vc_queue_id}", response_model=QueueOut, summary="Một hàng đợi video")
def get_queue(vc_queue_id: str, db: DbDep, actor: ConfigActor):
    return config._get(db, actor.principal, VcQueue, vc_queue_id, "hàng đợi")


@router.put("/queues/{vc_queue_id}", response_model=QueueOut, summary="Thay toàn bộ cấu hình một hàng đợi")
def put_queue(request: Request, vc_queue_id: str, data: S.QueueIn, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: config.save_queue(
        db, actor.principal, data, vc_queue_id), out=QueueOut)


@router.patch("/queues/{vc_queue_id}", response_model=QueueOut, summary="Sửa một số trường của hàng đợi")
def patch_queue(request: Request, vc_queue_id: str, patch: Patch, db: DbDep, actor: ConfigActor):
    def run():
        q = config._get(db, actor.principal, VcQueue, vc_queue_id, "hàng đợi")
        current = {f: getattr(q, f) for f in config.QUEUE_FIELDS}
        return config.save_queue(db, actor.principal, _merge(S.QueueIn, current, patch), q.id)

    return idempotency.run(request, db, scope_of(actor), patch, run, out=QueueOut)


@router.delete("/queues/{vc_queue_id}", status_code=204, summary="Xóa hàng đợi không còn hotline nào dùng")
def delete_queue(request: Request, vc_queue_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.delete_queue(
        db, actor.principal, vc_queue_id), status_code=204)


# --- groups ---------------------------------------------------------------------------------------
@router.get("/groups", response_model=Paged[GroupOut], summary="Danh sách nhóm trực video")
def list_groups(db: DbDep, actor: ConfigActor, params: Annotated[ListParams, list_query()],
                organization_id: Annotated[str, Query(max_length=64)] = "", active: bool | None = None):
    stmt = _scoped(select(VcGroup), VcGroup, actor.principal, organization_id)
    if active is not None:
        stmt = stmt.where(VcGroup.is_active == active)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcGroup.code, VcGroup.name])
    page = paginate(db, stmt, params, {"code": VcGroup.code, "name": VcGroup.name,
                                       "created_at": VcGroup.created_at}, "code")
    return page.as_dict(lambda g: group_out(db, g))


@router.post("/groups", response_model=GroupOut, status_code=201,
             summary="Tạo nhóm: điều kiện phân tuyến, cách đổ chuông, chuyển nhóm dự phòng (VC-17)")
def create_group(request: Request, data: S.GroupIn, db: DbDep, actor: ConfigActor,
                 organization_id: Annotated[str | None, Query(max_length=64)] = None):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: group_out(db, config.save_group(
        db, actor.principal, data, organization_id=organization_id)), status_code=201, out=GroupOut)


@router.get("/groups/{vc_group_id}", response_model=GroupOut, summary="Một nhóm trực video")
def get_group(vc_group_id: str, db: DbDep, actor: ConfigActor):
    return group_out(db, config._get(db, actor.principal, VcGroup, vc_group_id, "nhóm"))


@router.put("/groups/{vc_group_id}", response_model=GroupOut, summary="Thay toàn bộ cấu hình một nhóm")
def put_group(request: Request, vc_group_id: str, data: S.GroupIn, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: group_out(db, config.save_group(
        db, actor.principal, data, vc_group_id)), out=GroupOut)


@router.patch("/groups/{vc_group_id}", response_model=GroupOut, summary="Sửa một số trường của nhóm")
def patch_group(request: Request, vc_group_id: str, patch: Patch, db: DbDep, actor: ConfigActor):
    def run():
        g = config._get(db, actor.principal, VcGroup, vc_group_id, "nhóm")
        current = {f: getattr(g, f) for f in config.GROUP_FIELDS}
        return group_out(db, config.save_group(db, actor.principal, _merge(S.GroupIn, current, patch), g.id))

    return idempotency.run(request, db, scope_of(actor), patch, run, out=GroupOut)


@router.delete("/groups/{vc_group_id}", status_code=204,
               summary="Xóa nhóm không còn hàng đợi nào dùng và không là nhóm dự phòng của nhóm khác")
def delete_group(request: Request, vc_group_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.delete_group(
        db, actor.principal, vc_group_id), status_code=204)


# --- memberships ----------------------------------------------------------------------------------
@router.get("/groups/{vc_group_id}/members", response_model=list[MemberOut],
            summary="Điều phối viên của một nhóm, theo thứ tự đổ chuông")
def list_members(vc_group_id: str, db: DbDep, actor: ConfigActor):
    g = config._get(db, actor.principal, VcGroup, vc_group_id, "nhóm")
    return [{"group_id": g.id, "agent_id": a.id, "position": m.position, "display_name": a.display_name,
             "status": a.status} for m, a in config.group_members(db, g.id)]


@router.put("/groups/{vc_group_id}/members/{vc_agent_id}", response_model=MemberOut,
            summary="Thêm điều phối viên vào nhóm (đã có: giữ nguyên)")
def put_member(request: Request, vc_group_id: str, vc_agent_id: str, db: DbDep, actor: ConfigActor):
    def run():
        m = config.add_member(db, actor.principal, vc_group_id, vc_agent_id)
        a = db.get(VcAgent, m.agent_id)
        return {"group_id": m.group_id, "agent_id": m.agent_id, "position": m.position,
                "display_name": a.display_name, "status": a.status}

    return idempotency.run(request, db, scope_of(actor), None, run, out=MemberOut)


@router.delete("/groups/{vc_group_id}/members/{vc_agent_id}", status_code=204,
               summary="Bỏ điều phối viên khỏi nhóm")
def delete_member(request: Request, vc_group_id: str, vc_agent_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.remove_member(
        db, actor.principal, vc_group_id, vc_agent_id[:64]), status_code=204)


# --- agents ---------------------------------------------------------------------------------------
@router.get("/agents", response_model=Paged[AgentOut], summary="Danh sách điều phối viên video")
def list_agents(db: DbDep, actor: ConfigActor, params: Annotated[ListParams, list_query()],
                organization_id: Annotated[str, Query(max_length=64)] = "", active: bool | None = None,
                status: Annotated[str, Query(max_length=10)] = ""):
    stmt = _scoped(select(VcAgent), VcAgent, actor.principal, organization_id)
    if active is not None:
        stmt = stmt.where(VcAgent.is_active == active)
    if status:
        stmt = stmt.where(VcAgent.status == status)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcAgent.display_name])
    page = paginate(db, stmt, params, {"display_name": VcAgent.display_name, "status": VcAgent.status,
                                       "created_at": VcAgent.created_at}, "display_name")
    return page.as_dict(lambda a: agent_out(db, a))


@router.post("/agents", response_model=AgentOut, status_code=201,
             summary="Khai báo người dùng ketnoi là điều phối viên video, với các nhóm của họ")
def create_agent(request: Request, data: S.AgentIn, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: agent_out(db, config.save_agent(
        db, actor.principal, data)), status_code=201, out=AgentOut)


@router.get("/agents/{vc_agent_id}", response_model=AgentOut, summary="Một điều phối viên video")
def get_agent(vc_agent_id: str, db: DbDep, actor: ConfigActor):
    return agent_out(db, config._get(db, actor.principal, VcAgent, vc_agent_id, "điều phối viên"))


@router.put("/agents/{vc_agent_id}", response_model=AgentOut, summary="Thay tên, trạng thái dùng và các nhóm")
def put_agent(request: Request, vc_agent_id: str, data: S.AgentIn, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), data.model_dump(), lambda: agent_out(db, config.save_agent(
        db, actor.principal, data, vc_agent_id)), out=AgentOut)


@router.patch("/agents/{vc_agent_id}", response_model=AgentOut, summary="Sửa một số trường của điều phối viên")
def patch_agent(request: Request, vc_agent_id: str, patch: Patch, db: DbDep, actor: ConfigActor):
    def run():
        a = config._get(db, actor.principal, VcAgent, vc_agent_id, "điều phối viên")
        current = {"user_id": a.user_id, "display_name": a.display_name, "is_active": a.is_active,
                   "group_ids": config.group_ids_of(db, a.id)}
        return agent_out(db, config.save_agent(db, actor.principal, _merge(S.AgentIn, current, patch), a.id))

    return idempotency.run(request, db, scope_of(actor), patch, run, out=AgentOut)


@router.delete("/agents/{vc_agent_id}", status_code=204,
               summary="Xóa điều phối viên chưa có cuộc gọi (đã có: ngừng dùng thay vì xóa)")
def delete_agent(request: Request, vc_agent_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.delete_agent(
        db, actor.principal, vc_agent_id), status_code=204)


# --- waiting files and greetings (VC-16, 18) --------------------------------------------------------
@router.post("/media", response_model=MediaOut, status_code=201,
             summary="Tải lên tệp chờ hoặc lời chào (mp3, ogg, wav, webm, mp4, m4a; tối đa 20 MB)")
async def upload_media(request: Request, db: DbDep, actor: ConfigActor, file: Annotated[UploadFile, File()],
                       name: Annotated[str, Form(max_length=200)] = "",
                       organization_id: Annotated[str | None, Form(max_length=64)] = None):
    content = await file.read(config.MAX_MEDIA_BYTES + 1)
    kind = file.content_type or ""
    payload = {"name": name or file.filename or "", "type": kind, "sha256": hashlib.sha256(content).hexdigest()}

    def run():
        f = config.add_media_file(db, actor.principal, name or file.filename or "", kind, content,
                                  organization_id)
        return {**config.describe_media(f), "size": f.size}

    return idempotency.run(request, db, scope_of(actor), payload, run, status_code=201, out=MediaOut)


# --- partner applications and their keys (console users) -------------------------------------------
def partner_out(p: VcPartner, secret: str | None = None) -> dict[str, Any]:
    return {"id": p.id, "code": p.code, "name": p.name, "key_id": p.key_id, "is_active": p.is_active,
            "organization_id": p.organization_id, "secret": secret}


@router.get("/partners", response_model=Paged[S.PartnerOut], summary="Ứng dụng đối tác và khóa API")
def list_partners(db: DbDep, p: Annotated[Principal, requires("videocall.partners")],
                  params: Annotated[ListParams, list_query()]):
    stmt = _scoped(select(VcPartner), VcPartner, p, "")
    if params.q:
        stmt = apply_search(stmt, params.q, [VcPartner.code, VcPartner.name, VcPartner.key_id])
    return paginate(db, stmt, params, {"code": VcPartner.code, "name": VcPartner.name}, "code").as_dict(partner_out)


@router.post("/partners", response_model=S.PartnerOut, status_code=201,
             summary="Tạo ứng dụng đối tác; khóa bí mật chỉ trả về một lần")
def create_partner(data: S.PartnerIn, db: DbDep, p: Annotated[Principal, requires("videocall.partners")]):
    return partner_out(*config.create_partner(db, p, data))


@router.post("/partners/{vc_partner_id}/rotate", response_model=S.PartnerOut,
             summary="Cấp khóa API mới cho đối tác (khóa cũ hết hiệu lực ngay); khóa bí mật trả về một lần")
def rotate_partner(vc_partner_id: str, db: DbDep, p: Annotated[Principal, requires("videocall.partners")]):
    return partner_out(*config.rotate_partner_key(db, p, vc_partner_id))
