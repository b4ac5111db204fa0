"""Audit log API: filterable, read-only."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from ketnoi.audit import service
from ketnoi.core.listing import ListParams
from ketnoi.identity.principal import Principal
from ketnoi.identity.schemas import AuditOut
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS, Paged, list_query

router = APIRouter(prefix="/api/v1", responses=PROBLEMS, tags=["audit"])


@router.get("/audit", response_model=Paged[AuditOut], summary="Nhật ký thay đổi (ai, khi nào, gì, trước/sau)")
def list_audit(db: DbDep, params: Annotated[ListParams, list_query()],
               action: Annotated[str, Query(max_length=60)] = "",
               entity_type: Annotated[str, Query(max_length=60)] = "",
               entity_id: Annotated[str, Query(max_length=64)] = "",
               actor_id: Annotated[str, Query(max_length=64)] = "",
               since: datetime | None = None, until: datetime | None = None,
               organization_id: Annotated[str, Query(max_length=64)] = "",
               p: Principal = requires("audit.read")):
    page = service.list_entries(db, p, params, action=action, entity_type=entity_type, entity_id=entity_id,
                                actor_id=actor_id, since=since, until=until, organization_id=organization_id)
    return page.as_dict(AuditOut.model_validate)
