"""Console pages of video calls: the agent's desk (VC-03, 05, 07, 09) where calls ring and are
answered, and the list/detail of calls with their timeline (VC-12, 19, 27)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Request

from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.videocall import participants, service
from ketnoi.videocall.api import agent_me
from ketnoi.videocall.models import CALL_STATUS_LABELS, VcCall
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render

router = APIRouter(prefix="/videocall")


@router.get("/agent")
def agent_desk(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.answer")]):
    return render(request, "videocall_agent.html", p, title="Trực cuộc gọi video", me_agent=agent_me(db, p))


@router.get("/calls")
def calls_page(request: Request, db: DbDep, p: Annotated[Principal, console("videocall.read")],
               status: str = "", q: str = "", page: int = 1):
    from sqlalchemy import select

    from ketnoi.core.listing import apply_search, paginate

    stmt = select(VcCall)
    if not p.is_sysadmin:
        stmt = stmt.where(VcCall.organization_id == p.organization_id)
    if status in CALL_STATUS_LABELS:
        stmt = stmt.where(VcCall.status == status)
    if q:
        stmt = apply_search(stmt, q[:200], [VcCall.code, VcCall.caller_name, VcCall.caller_ref, VcCall.caller_phone])
    result = paginate(db, stmt, ListParams(page=max(1, min(page, 100000)), page_size=20), {"created_at": VcCall.created_at},
                      "-created_at")
    rows = [participants.call_out(db, c, detail=False) for c in result.items]
    return render(request, "videocall_calls.html", p, title="Cuộc gọi video", rows=rows, result=result,
                  statuses=CALL_STATUS_LABELS, status_filter=status, q=q)


@router.get("/calls/{video_call_id}")
def call_page(video_call_id: str, request: Request, db: DbDep, p: Annotated[Principal, console("videocall.read")]):
    call = participants.call_out(db, service.get_call(db, p, video_call_id))
    return render(request, "videocall_call.html", p, title=f"Cuộc gọi {call['code']}", call=call)
