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

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core import idempotency
from ketnoi.core.listing import ListParams, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.videocall import config
from ketnoi.videocall import schemas as S
from ketnoi.videocall.config_routes import (
    ConfigActor,
    Filter,
    Resource,
    add_resource_routes,
    scope_of,
    scoped,
)
from ketnoi.videocall.models import (
    VcAgent,
    VcGroup,
    VcHotline,
    VcPartner,
    VcQueue,
)
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

PREFIX = "/api/v1/videocall"
router = APIRouter(prefix=PREFIX, responses=PROBLEMS, tags=["videocall-config"])
# every POST/PUT/PATCH/DELETE below accepts the header ``Idempotency-Key: "<unique string>"`` (kept 24 hours):
# the same key and request replay the first answer, another request → 422, while the first runs → 409


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
def group_out(db: Session, g: VcGroup) -> dict[str, Any]:
    return {**GroupOut.model_validate(g).model_dump(exclude={"agent_ids"}), "agent_ids": config.agent_ids_of(db, g.id)}


def agent_out(db: Session, a: VcAgent) -> dict[str, Any]:
    return {**AgentOut.model_validate(a).model_dump(exclude={"group_ids"}), "group_ids": config.group_ids_of(db, a.id)}


def fields_of(names: list[str]):
    """The PATCH base of an object whose input fields are all columns of the same name."""
    return lambda db, row: {f: getattr(row, f) for f in names}


def agent_current(db: Session, a: VcAgent) -> dict[str, Any]:
    return {"user_id": a.user_id, "display_name": a.display_name, "is_active": a.is_active,
            "group_ids": config.group_ids_of(db, a.id)}


# --- hotlines, queues, groups (VC-17), agents: list / create / get / put / patch / delete ----------
add_resource_routes(router, Resource(
    "/hotlines", "vc_hotline_id", "hotline", "hotlines", VcHotline, "hotline", HotlineOut, S.HotlineIn,
    search=[VcHotline.number, VcHotline.name], default_sort="number",
    sort={"number": VcHotline.number, "name": VcHotline.name, "created_at": VcHotline.created_at},
    save=config.save_hotline, delete=config.delete_hotline, current=fields_of(config.HOTLINE_FIELDS),
    summaries={"list": "Danh sách hotline video (VC-11, 18)",
               "create": "Tạo hotline video: số, tên, hàng đợi, lời chào đầu/cuối",
               "get": "Một hotline video", "put": "Thay toàn bộ cấu hình một hotline",
               "patch": "Sửa một số trường của hotline",
               "delete": "Xóa hotline chưa có cuộc gọi (hotline đã có cuộc gọi: tạm ngừng thay vì xóa)"}))

add_resource_routes(router, Resource(
    "/queues", "vc_queue_id", "queue", "queues", VcQueue, "hàng đợi", QueueOut, S.QueueIn,
    search=[VcQueue.code, VcQueue.name], default_sort="code",
    sort={"code": VcQueue.code, "name": VcQueue.name, "created_at": VcQueue.created_at},
    save=config.save_queue, delete=config.delete_queue, current=fields_of(config.QUEUE_FIELDS),
    summaries={"list": "Danh sách hàng đợi video",
               "create": "Tạo hàng đợi: thời gian chờ tối đa, tệp chờ, các nhóm theo thứ tự thử",
               "get": "Một hàng đợi video", "put": "Thay toàn bộ cấu hình một hàng đợi",
               "patch": "Sửa một số trường của hàng đợi",
               "delete": "Xóa hàng đợi không còn hotline nào dùng"}))

add_resource_routes(router, Resource(
    "/groups", "vc_group_id", "group", "groups", VcGroup, "nhóm", GroupOut, S.GroupIn,
    search=[VcGroup.code, VcGroup.name], default_sort="code",
    sort={"code": VcGroup.code, "name": VcGroup.name, "created_at": VcGroup.created_at},
    save=config.save_group, delete=config.delete_group, current=fields_of(config.GROUP_FIELDS), to_out=group_out,
    summaries={"list": "Danh sách nhóm trực video",
               "create": "Tạo nhóm: điều kiện phân tuyến, cách đổ chuông, chuyển nhóm dự phòng (VC-17)",
               "get": "Một nhóm trực video", "put": "Thay toàn bộ cấu hình một nhóm",
               "patch": "Sửa một số trường của nhóm",
               "delete": "Xóa nhóm không còn hàng đợi nào dùng và không là nhóm dự phòng của nhóm khác"}))


# --- memberships ----------------------------------------------------------------------------------
@router.get("/groups/{vc_group_id}/members", response_model=list[MemberOut],
            summary="Điều phối viên của một nhóm, theo thứ tự đổ chuông")
def list_members(vc_group_id: str, db: DbDep, actor: ConfigActor):
    g = config._get(db, actor.principal, VcGroup, vc_group_id, "nhóm")
    return [{"group_id": g.id, "agent_id": a.id, "position": m.position, "display_name": a.display_name,
             "status": a.status} for m, a in config.group_members(db, g.id)]


@router.put("/groups/{vc_group_id}/members/{vc_agent_id}", response_model=MemberOut,
            openapi_extra=idempotency.idempotency_doc(),
            summary="Thêm điều phối viên vào nhóm (đã có: giữ nguyên)")
def put_member(request: Request, vc_group_id: str, vc_agent_id: str, db: DbDep, actor: ConfigActor):
    def run():
        m = config.add_member(db, actor.principal, vc_group_id, vc_agent_id)
        a = db.get(VcAgent, m.agent_id)
        return {"group_id": m.group_id, "agent_id": m.agent_id, "position": m.position,
                "display_name": a.display_name, "status": a.status}

    return idempotency.run(request, db, scope_of(actor), None, run, out=MemberOut)


@router.delete("/groups/{vc_group_id}/members/{vc_agent_id}", status_code=204,
               openapi_extra=idempotency.idempotency_doc(),
               summary="Bỏ điều phối viên khỏi nhóm")
def delete_member(request: Request, vc_group_id: str, vc_agent_id: str, db: DbDep, actor: ConfigActor):
    return idempotency.run(request, db, scope_of(actor), None, lambda: config.remove_member(
        db, actor.principal, vc_group_id, vc_agent_id[:64]), status_code=204)


# agents are declared for the whole organization of their ketnoi user: no ?organization_id= on create
add_resource_routes(router, Resource(
    "/agents", "vc_agent_id", "agent", "agents", VcAgent, "điều phối viên", AgentOut, S.AgentIn,
    search=[VcAgent.display_name], default_sort="display_name",
    sort={"display_name": VcAgent.display_name, "status": VcAgent.status, "created_at": VcAgent.created_at},
    save=config.save_agent, delete=config.delete_agent, current=agent_current, to_out=agent_out,
    filters=[Filter("status", Annotated[str, Query(max_length=10)], "", VcAgent.status)],
    organization_on_create=False,
    summaries={"list": "Danh sách điều phối viên video",
               "create": "Khai báo người dùng ketnoi là điều phối viên video, với các nhóm của họ",
               "get": "Một điều phối viên video", "put": "Thay tên, trạng thái dùng và các nhóm",
               "patch": "Sửa một số trường của điều phối viên",
               "delete": "Xóa điều phối viên chưa có cuộc gọi (đã có: ngừng dùng thay vì xóa)"}))


# --- waiting files and greetings (VC-16, 18) --------------------------------------------------------
@router.post("/media", response_model=MediaOut, status_code=201,
             openapi_extra=idempotency.idempotency_doc(),
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
    stmt = scoped(select(VcPartner), VcPartner, p, "")
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
