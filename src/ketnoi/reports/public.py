"""What a citizen may see of their own report: status and milestones, never officials' notes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.core.errors import NotFound
from ketnoi.core.phone import normalize_phone
from ketnoi.reports.models import Report
from ketnoi.reports.workflow import STATUS_LABELS, Status

PUBLIC_STATUS = {
    Status.NEW: "Đã tiếp nhận", Status.DISPATCHED: "Đang xử lý", Status.ASSIGNED: "Đang xử lý",
    Status.IN_PROGRESS: "Đang xử lý", Status.AWAITING_APPROVAL: "Đang xử lý", Status.APPROVED: "Đã có kết quả",
    Status.CLOSED: "Đã xử lý xong", Status.SPAM_PROPOSED: "Đang xử lý", Status.SPAM_CONFIRMED: "Không xử lý",
    Status.SPAM: "Không xử lý", Status.OUT_OF_AREA_PROPOSED: "Đang xử lý",
    Status.OUT_OF_AREA: "Đang chuyển đơn vị phù hợp", Status.SUPPORT_PROPOSED: "Đang xử lý",
}
MILESTONES = {"create": "Tiếp nhận", "dispatch": "Chuyển đơn vị xử lý", "auto_dispatch": "Chuyển đơn vị xử lý",
              "redispatch": "Chuyển đơn vị xử lý", "submit_result": "Có kết quả xử lý",
              "close": "Hoàn tất và trả lời"}


def lookup(db: Session, code: str, phone: str) -> dict:
    e164 = normalize_phone(phone)
    r = db.scalar(select(Report).where(Report.code == code.strip().upper(), Report.citizen_phone == e164,
                                       Report.deleted_at.is_(None)))
    if r is None:
        raise NotFound("Không tìm thấy phản ánh.")
    status = Status(r.status)
    done = status in (Status.APPROVED, Status.CLOSED)
    return {
        "code": r.code, "title": r.title, "status": PUBLIC_STATUS[status].lower().replace(" ", "_"),
        "status_label": PUBLIC_STATUS[status], "received_at": r.received_at, "closed_at": r.closed_at,
        "result": r.result if status == Status.CLOSED else "",
        "history": [{"at": h.at, "step": MILESTONES[h.action]} for h in r.history if h.action in MILESTONES
                    and (h.action != "submit_result" or done)],
    }


__all__ = ["lookup", "STATUS_LABELS"]
