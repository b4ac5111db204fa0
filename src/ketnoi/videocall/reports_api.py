"""JSON twins of the video-call reports (VC-19…28) under /api/v1/videocall/reports/…, with the same
filters as the console pages (unit, group, agent, hotline, period), and the live board (VC-24).
A partner's signed request sees only the calls it started."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter

from ketnoi.videocall import reports as R
from ketnoi.videocall.api import Actor, signed_or_user
from ketnoi.videocall.reports_web import REPORTS, describe, filters_q
from ketnoi.web.deps import DbDep
from ketnoi.web.schemas import PROBLEMS

router = APIRouter(prefix="/api/v1/videocall/reports", responses=PROBLEMS, tags=["videocall-reports"])


def _narrow(actor: Actor, f: R.VcFilters) -> R.VcFilters:
    if actor.partner is not None:
        f.partner_id = actor.partner.id
    return f


def _endpoint(kind: str):
    report = REPORTS[kind]

    def get(db: DbDep, actor: Annotated[Actor, signed_or_user("videocall.reports")],
            f: Annotated[R.VcFilters, filters_q]) -> dict[str, Any]:
        f = _narrow(actor, f)
        p = actor.principal
        rows, total = report.rows(db, p, f, False)
        out: dict[str, Any] = {"report": kind, "title": report.title, "features": report.features,
                               "filters": describe(db, f), "total": total, "rows": rows,
                               "columns": [{"key": c.key, "header": c.header, "kind": c.kind} for c in report.cols]}
        if kind == "events":
            out["causes"] = R.failure_causes(db, p, f)
        if kind in ("stats", "performance"):
            out["totals"] = R.totals(rows)
        return out

    get.__name__ = f"videocall_report_{kind}"
    return get


for _kind, _report in REPORTS.items():
    router.add_api_route(f"/{_kind}", _endpoint(_kind), methods=["GET"], response_model=dict[str, Any],
                         summary=f"{_report.title} ({_report.features})")


@router.get("/live", response_model=dict[str, Any],
            summary="Giám sát trực tiếp: cuộc gọi đang diễn ra và trạng thái điều phối viên (VC-24)")
def live(db: DbDep, actor: Annotated[Actor, signed_or_user("videocall.monitor")],
         f: Annotated[R.VcFilters, filters_q]) -> dict[str, Any]:
    return R.live(db, actor.principal, _narrow(actor, f))
