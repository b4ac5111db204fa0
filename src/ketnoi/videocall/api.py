"""JSON API of video calls under /api/v1/videocall (VC-01, 02, 06, 09, 10, 12, 13).

Callers start calls with a request signed by their partner's backend (HMAC), a one-time call token
(JWT) or their own login; agents accept/decline/hang up from the console; partners and supervisors
fetch a call with its timeline and recording. Configuration endpoints live in config_api."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request
from fastapi.responses import FileResponse
from sqlalchemy import select
from starlette.concurrency import run_in_threadpool

from ketnoi.core.errors import Forbidden, NotAuthenticated, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, apply_search, paginate
from ketnoi.identity.principal import Principal
from ketnoi.videocall import participants, runtime, service, signing
from ketnoi.videocall import schemas as S
from ketnoi.videocall.models import AGENT_STATUS_LABELS, VcCall, VcHotline, VcMediaFile, VcPartner, VcRing
from ketnoi.videocall.runtime import Runtime
from ketnoi.web.deps import DbDep, api_principal, client_ip, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

PREFIX = "/api/v1/videocall"
router = APIRouter(prefix=PREFIX, responses=PROBLEMS, tags=["videocall"])
DENIED = "Bạn không có quyền thực hiện chức năng này."
CALL_TOKEN_HEADER = "X-Ketnoi-Call-Token"
SIGNAL_PATH = PREFIX + "/signal"
SDK_PATH = "/static/videocall/ketnoi-video.js"
# what a partner's signed request may do, as permission codes shared with console users
PARTNER_PERMISSIONS = frozenset({"videocall.call", "videocall.read", "videocall.recordings", "videocall.config",
                                 "videocall.monitor", "videocall.reports"})


@dataclass
class Actor:
    principal: Principal
    partner: VcPartner | None = None
    claims: dict[str, Any] | None = None  # of a call token (JWT)


def partner_principal(partner: VcPartner, ip: str) -> Principal:
    return Principal(user_id="", username=f"partner:{partner.key_id}", full_name=f"Đối tác {partner.name}",
                     organization_id=partner.organization_id, department_id=None, is_sysadmin=False,
                     permissions=PARTNER_PERMISSIONS, session_kind="partner", ip=ip)


async def rt_dep(request: Request) -> Runtime:
    return await runtime.for_app(request.app)


RtDep = Annotated[Runtime, Depends(rt_dep)]


def _refuse(request: Request, channel: str, e: signing.SignatureRefused, key: str) -> None:
    with request.app.state.database.session() as db:
        signing.log_failure(db, channel=channel, outcome=e.outcome, detail=e.detail,
                            organization_id=getattr(e, "organization_id", None), key_id=key, ip=client_ip(request),
                            path=request.url.path)


def signed_or_user(permission: str, *, call_token: bool = False):
    """A partner's signed request (VC-13), a call token when ``call_token`` (VC-01), or a logged-in
    user holding ``permission``. Refused signatures and tokens answer 401 and are logged."""

    async def dep(request: Request, db: DbDep) -> Actor:
        ip = client_ip(request)
        token = request.headers.get(CALL_TOKEN_HEADER, "").strip() if call_token else ""
        if token:
            def verify_jwt() -> dict[str, Any]:
                with request.app.state.database.session() as s:
                    claims = signing.verify_call_token(s, token)
                    s.commit()
                    return claims

            try:
                claims = await run_in_threadpool(verify_jwt)
            except signing.SignatureRefused as e:
                await run_in_threadpool(_refuse, request, "jwt", e, "")
                raise
            p = Principal(user_id=claims.get("uid") or "", username="call-token", full_name="Mã gọi",
                          organization_id=claims.get("org"), department_id=None, is_sysadmin=False,
                          permissions=frozenset({"videocall.call"}), session_kind="call_token", ip=ip)
            return Actor(p, None, claims)
        if signing.is_signed(request.headers):
            body = await request.body()

            def verify() -> str:
                with request.app.state.database.session() as s:
                    partner = signing.verify_partner(s, request.headers, request.method, request.url.path,
                                                     request.url.query, body)
                    s.commit()
                    return partner.id

            try:
                partner_id = await run_in_threadpool(verify)
            except signing.SignatureRefused as e:
                await run_in_threadpool(_refuse, request, "http", e, request.headers.get(signing.HEADER_KEY, ""))
                raise
            partner = db.get(VcPartner, partner_id)
            principal = partner_principal(partner, ip)
            if not principal.has(permission):
                raise Forbidden(DENIED)
            return Actor(principal, partner)
        principal = await api_principal(request, db)
        if not principal.has(permission):
            raise Forbidden(DENIED)
        return Actor(principal)

    dep.ketnoi_permission = permission  # type: ignore[attr-defined]
    dep.__qualname__ = "requires.<locals>.signed_or_user"  # declares itself like requires() (permission matrix)
    return Depends(dep)


def credentials(part, call: VcCall) -> dict[str, Any]:
    return {"participant_id": part.id, "role": part.role, "token": signing.participant_token(part),
            "secret": signing.participant_secret(part), "expires_at": part.expires_at, "signal_url": SIGNAL_PATH,
            "sdk_url": SDK_PATH}


# --- starting calls -------------------------------------------------------------------------------
@router.post("/call-tokens", response_model=S.CallTokenOut, status_code=201,
             summary="Cấp mã gọi dùng một lần (JWT, 2 phút) cho ứng dụng của người gọi (VC-01)")
def issue_call_token(data: S.CallTokenIn, db: DbDep, actor: Annotated[Actor, signed_or_user("videocall.call")]):
    p = actor.principal
    if actor.partner is not None:
        if data.caller is None:
            raise NotFound("Thiếu thông tin người gọi (caller).")
        caller = data.caller.model_dump()
    else:
        if not p.organization_id:
            raise Forbidden("Tài khoản quản trị hệ thống không gọi video được.")
        caller = {"id": p.user_id, "name": p.full_name, "user": p.username, "unit": p.department_id or ""}
    claims = {"hotline": data.hotline, "caller": caller, "language": data.language, "vip": data.vip,
              "partner": actor.partner.id if actor.partner else None}
    token, exp = signing.issue_call_token(p.organization_id, claims, partner_id=claims["partner"],
                                          user_id=p.user_id or None)
    return {"token": token, "expires_at": exp}


@router.post("/calls", response_model=S.StartCallOut, status_code=201,
             summary="Bắt đầu cuộc gọi video: yêu cầu ký HMAC của đối tác, mã gọi JWT hoặc phiên đăng nhập")
def start_call(db: DbDep, rt: RtDep, actor: Annotated[Actor, signed_or_user("videocall.call", call_token=True)],
               data: Annotated[S.StartCallIn | None, Body()] = None,
               call_token: Annotated[str | None, Header(alias=CALL_TOKEN_HEADER, max_length=4000,
                                                        description="Mã gọi (JWT) thay cho chữ ký")] = None):
    p = actor.principal
    if actor.claims is not None:
        c = actor.claims["call"]
        data = S.StartCallIn(hotline=c["hotline"], caller=S.CallerIn(**c["caller"]), language=c.get("language", "vi"),
                             vip=bool(c.get("vip")))
        partner = db.get(VcPartner, c["partner"]) if c.get("partner") else None
        key = f"{partner.id if partner else 'user'}:{data.caller.id}"
        method = "jwt"
    elif actor.partner is not None:
        if data is None:
            raise NotAuthenticated("Thiếu nội dung yêu cầu gọi.")
        partner, key, method = actor.partner, f"{actor.partner.id}:{data.caller.id}", "hmac"
    else:  # a logged-in user calls as themselves: the caller's id and name are the account's
        if data is None:
            raise ValidationFailed.field("hotline", "Chọn hotline cần gọi.")
        if not p.organization_id:
            raise Forbidden("Tài khoản quản trị hệ thống không gọi video được.")
        data = data.model_copy(update={"caller": data.caller.model_copy(update={
            "id": p.user_id, "name": data.caller.name or p.full_name, "user": p.username})})
        partner, key, method = None, f"user:{p.user_id}", "session"
    call, part = service.start_call(db, rt, organization_id=p.organization_id, data=data, partner=partner,
                                    auth_method=method, caller_key=key)
    return {"call": participants.call_out(db, call), "participant": credentials(part, call)}


# --- reading calls (VC-12, 19, 27) -----------------------------------------------------------------
@router.get("/calls", response_model=Paged[S.CallOut], summary="Danh sách cuộc gọi video, lọc theo trạng thái, "
            "hotline, điều phối viên, thời gian")
def list_calls(db: DbDep, params: Annotated[ListParams, list_query()],
               actor: Annotated[Actor, signed_or_user("videocall.read")],
               status: Annotated[str, Query(max_length=15)] = "", hotline: Annotated[str, Query(max_length=30)] = "",
               agent_id: Annotated[str, Query(max_length=64)] = "", since: datetime | None = None,
               until: datetime | None = None):
    p = actor.principal
    stmt = select(VcCall)
    if not p.is_sysadmin:
        stmt = stmt.where(VcCall.organization_id == p.organization_id)
    if actor.partner is not None:
        stmt = stmt.where(VcCall.partner_id == actor.partner.id)
    if status:
        stmt = stmt.where(VcCall.status == status)
    if hotline:
        stmt = stmt.join(VcHotline, VcHotline.id == VcCall.hotline_id).where(VcHotline.number == hotline)
    if agent_id:
        stmt = stmt.where(VcCall.agent_id == agent_id)
    if since:
        stmt = stmt.where(VcCall.created_at >= since)
    if until:
        stmt = stmt.where(VcCall.created_at < until)
    if params.q:
        stmt = apply_search(stmt, params.q, [VcCall.code, VcCall.caller_name, VcCall.caller_ref, VcCall.caller_phone])
    page = paginate(db, stmt, params, {"created_at": VcCall.created_at, "code": VcCall.code}, "-created_at")
    return page.as_dict(lambda c: participants.call_out(db, c, detail=False))


def _call_for(db, actor: Actor, call_id: str) -> VcCall:
    call = service.get_call(db, actor.principal, call_id)
    if actor.partner is not None and call.partner_id != actor.partner.id:
        raise NotFound("Không tìm thấy cuộc gọi.")
    return call


@router.get("/calls/{video_call_id}", response_model=S.CallOut,
            summary="Một cuộc gọi: người tham gia, đường phân tuyến, dòng thời gian, chất lượng, bản ghi (VC-12)")
def get_call(video_call_id: str, db: DbDep, actor: Annotated[Actor, signed_or_user("videocall.read")]):
    return participants.call_out(db, _call_for(db, actor, video_call_id))


@router.get("/calls/{video_call_id}/recording", summary="Tải bản ghi cuộc gọi (webm: hình hai bên, tiếng trộn)",
            response_class=FileResponse)
def get_recording(video_call_id: str, db: DbDep, actor: Annotated[Actor, signed_or_user("videocall.recordings")]):
    from ketnoi.videocall import recording

    call = _call_for(db, actor, video_call_id)
    path = recording.ready_path(call)
    return FileResponse(path, filename=f"{call.code}.webm", media_type="video/webm")


@router.post("/calls/{video_call_id}/end", response_model=S.CallOut, summary="Kết thúc một cuộc gọi (đối tác, giám sát)")
def end_call(video_call_id: str, db: DbDep, rt: RtDep, actor: Annotated[Actor, signed_or_user("videocall.monitor")],
             data: S.HangupIn | None = None):
    call = _call_for(db, actor, video_call_id)
    service.end_call(db, rt, call, "partner" if actor.partner else "admin", "partner" if actor.partner else "system",
                     detail=(data.reason if data else "") or actor.principal.full_name)
    return participants.call_out(db, call)


# --- agents (VC-09) -------------------------------------------------------------------------------
@router.post("/calls/{video_call_id}/accept", response_model=S.AcceptOut,
             summary="Điều phối viên nhận cuộc gọi đang đổ chuông; người nhận đầu tiên được cuộc gọi")
def accept(video_call_id: str, db: DbDep, rt: RtDep, p: Annotated[Principal, requires("videocall.answer")]):
    call, part = service.accept(db, rt, p, video_call_id)
    return {"call": participants.call_out(db, call), "participant": credentials(part, call)}


@router.post("/calls/{video_call_id}/decline", status_code=204, summary="Từ chối cuộc gọi đang đổ chuông")
def decline(video_call_id: str, db: DbDep, rt: RtDep, p: Annotated[Principal, requires("videocall.answer")]):
    service.decline(db, rt, p, video_call_id)


@router.post("/calls/{video_call_id}/hangup", response_model=S.CallOut, summary="Điều phối viên kết thúc cuộc gọi")
def agent_hangup(video_call_id: str, db: DbDep, rt: RtDep, p: Annotated[Principal, requires("videocall.answer")]):
    return participants.call_out(db, service.hangup_by_agent(db, rt, p, video_call_id))


def agent_me(db, p: Principal) -> dict[str, Any]:
    agent = service.agent_of(db, p.user_id)
    if agent is None:
        return {"agent_id": None, "display_name": p.full_name, "status": "offline",
                "status_label": AGENT_STATUS_LABELS["offline"], "ringing": [], "current_call": None}
    rings = db.execute(select(VcRing, VcCall).join(VcCall, VcCall.id == VcRing.call_id).where(
        VcRing.agent_id == agent.id, VcRing.ended_at.is_(None)))
    current = db.scalar(select(VcCall.id).where(VcCall.agent_id == agent.id, VcCall.status.in_(
        ("answered", "connected", "reconnecting"))))
    return {"agent_id": agent.id, "display_name": agent.display_name, "status": agent.status,
            "status_label": AGENT_STATUS_LABELS.get(agent.status, agent.status), "current_call": current,
            "ringing": [{"call_id": c.id, "code": c.code, "caller": c.caller_name or c.caller_ref,
                         "unit": c.caller_unit, "until": r.ends_at} for r, c in rings]}


@router.get("/agent/me", response_model=S.AgentMe, summary="Trạng thái của tôi (điều phối viên video)")
def get_agent_me(db: DbDep, p: Annotated[Principal, requires("videocall.answer")]):
    return agent_me(db, p)


@router.post("/agent/status", response_model=S.AgentMe,
             summary="Đặt trạng thái sẵn sàng/tạm nghỉ/ngoại tuyến; gọi định kỳ để báo đang trực")
def set_agent_status(db: DbDep, p: Annotated[Principal, requires("videocall.answer")],
                     data: S.AgentStatusIn | None = None):
    service.agent_presence(db, p, data.status.value if data else None)
    return agent_me(db, p)


# --- files and health -------------------------------------------------------------------------------
@router.get("/media/{media_file_id}", summary="Tệp chờ hoặc lời chào (VC-16, 18)", response_class=FileResponse)
def media_file(media_file_id: str, db: DbDep):
    from ketnoi.videocall.config import media_path

    f = db.get(VcMediaFile, media_file_id) if len(media_file_id) <= 64 else None
    if f is None or not media_path(f).is_file():
        raise NotFound("Không tìm thấy tệp.")
    return FileResponse(media_path(f), media_type=f.content_type, headers={"Cache-Control": "private, max-age=300"})


media_file.ketnoi_public = True  # type: ignore[attr-defined]  # unguessable ids; played before a call is answered


@router.get("/health", summary="Tình trạng các máy chủ Janus")
async def health(rt: RtDep, p: Annotated[Principal, requires("videocall.read")]) -> list[dict[str, Any]]:
    return await rt.health()
