"""Outbox API: what left (or is waiting to leave) the platform."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.identity.schemas import OutboxOut
from ketnoi.outbox import service
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

router = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["outbox"])


@router.get("/outbox", response_model=Paged[OutboxOut], summary="Hộp thư đi (SMS, email)")
def list_outbox(db: DbDep, params: Annotated[ListParams, list_query()],
                status: Annotated[str, Query(pattern="^(|pending|sent|failed)$")] = "",
                channel: Annotated[str, Query(pattern="^(|sms|email)$")] = "",
                p: Principal = requires("outbox.read")):
    def out(m):
        o = OutboxOut.model_validate(m)
        o.body = service.visible_body(m, p)
        return o

    return service.list_messages(db, p, params, status=status, channel=channel).as_dict(out)
