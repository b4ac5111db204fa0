"""Console page of the outbox (SMS, email): what was sent, what waits, what failed and why."""

from __future__ import annotations

from fastapi import APIRouter, Request

from ketnoi.identity.principal import Principal
from ketnoi.outbox import service
from ketnoi.web.crud import Column, Filter, Row, list_params
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import _local, render

router = APIRouter(prefix="/admin/outbox")
STATUS = {"pending": "Chờ gửi", "sent": "Đã gửi", "failed": "Thất bại"}


@router.get("")
def outbox_list(request: Request, db: DbDep, p: Principal = console("outbox.read")):
    params = list_params(request)
    qp = request.query_params
    page = service.list_messages(db, p, params, status=qp.get("status", "") if qp.get("status") in STATUS else "",
                                 channel=qp.get("channel", "") if qp.get("channel") in ("sms", "email") else "")
    rows = [Row([_local(m.created_at, "%H:%M:%S %d/%m/%Y"), m.channel.upper(), m.recipient, service.visible_body(m, p),
                 STATUS.get(m.status, m.status), m.provider, m.last_error]) for m in page.items]
    return render(request, "crud_list.html", p, title="Hộp thư đi", page=page, rows=rows, row_actions=False,
                  sort=params.sort or "-created_at", search_hint="Người nhận, nội dung",
                  filters=[Filter("status", "Trạng thái", list(STATUS.items())),
                           Filter("channel", "Kênh", [("sms", "SMS"), ("email", "Email")])],
                  columns=[Column("Thời điểm", "created_at"), Column("Kênh"), Column("Người nhận", "recipient"),
                           Column("Nội dung"), Column("Trạng thái", "status"), Column("Nhà cung cấp"), Column("Lỗi")])
