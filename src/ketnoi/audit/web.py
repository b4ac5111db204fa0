"""Console page of the audit log: filter by action, object, person and period; see before/after."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request

from ketnoi.audit import service
from ketnoi.audit.models import AuditEntry
from ketnoi.core.errors import NotFound
from ketnoi.identity.principal import Principal
from ketnoi.web.crud import Column, Filter, Row, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import _local, render

router = APIRouter(prefix="/admin/audit")

ENTITY_LABELS = {"user": "Người dùng", "organization": "Tổ chức", "department": "Đơn vị", "role": "Vai trò",
                 "permission_group": "Nhóm quyền"}


def _day(value: str, tz: str) -> datetime | None:
    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=ZoneInfo(tz))
    except ValueError:
        return None


@router.get("")
def audit_list(request: Request, db: DbDep, p: Principal = console("audit.read")):
    params = list_params(request, 50)
    qp = request.query_params
    tz = request.app.state.settings.timezone
    since = _day(qp.get("since", ""), tz)
    until = _day(qp.get("until", ""), tz)
    page = service.list_entries(db, p, params, action=qp.get("action", ""), entity_type=qp.get("entity_type", ""),
                                entity_id=qp.get("entity_id", "")[:64], actor_id=qp.get("actor_id", "")[:64],
                                since=since, until=until + timedelta(days=1) if until else None)
    rows = [Row([_local(e.at, "%H:%M:%S %d/%m/%Y"), e.actor_name, e.action,
                 ENTITY_LABELS.get(e.entity_type, e.entity_type), e.summary, e.ip], url=f"/admin/audit/{e.id}")
            for e in page.items]
    filters = [Filter("action", "Hành động", [(a, a) for a in service.distinct_values(db, p, "action")]),
               Filter("entity_type", "Đối tượng", [(t, ENTITY_LABELS.get(t, t))
                                                   for t in service.distinct_values(db, p, "entity_type")])]
    return render(request, "audit_list.html", p, title="Nhật ký thay đổi", page=page, rows=rows,
                  sort=params.sort or "-at", filters=filters, row_actions=False,
                  search_hint="Nội dung, người thực hiện, mã đối tượng",
                  columns=[Column("Thời điểm", "at"), Column("Người thực hiện", "actor_name"),
                           Column("Hành động", "action"), Column("Đối tượng", "entity_type"), Column("Nội dung"),
                           Column("IP")])


@router.get("/{entry_id}")
def audit_detail(entry_id: str, request: Request, db: DbDep, p: Principal = console("audit.read")):
    e = db.get(AuditEntry, entry_id)
    if e is None or not (p.is_sysadmin or e.organization_id == p.organization_id):
        raise NotFound("Không tìm thấy bản ghi nhật ký.")
    keys = sorted(set((e.before or {}).keys()) | set((e.after or {}).keys()))
    return render(request, "audit_detail.html", p, title="Chi tiết nhật ký", e=e, keys=keys,
                  entity_label=ENTITY_LABELS.get(e.entity_type, e.entity_type))
