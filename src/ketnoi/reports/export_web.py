"""Routes of the Excel export of report lists (CRM-03, 30, 34…36): the console download, which
answers with the file for small selections and hands large ones to a background job, and the API
that always creates a job."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field, StringConstraints

from ketnoi.identity.principal import Principal
from ketnoi.jobs.schemas import JobOut
from ketnoi.reports import export, queries
from ketnoi.reports.api import FiltersQ
from ketnoi.reports.schemas import Channel
from ketnoi.web.deps import DbDep, console, requires
from ketnoi.web.exports import xlsx_download
from ketnoi.web.schemas import PROBLEMS

router = APIRouter()
Id = Annotated[str, StringConstraints(max_length=64)]


@router.get("/reports/export.xlsx", include_in_schema=False)
def export_xlsx(request: Request, db: DbDep, f: FiltersQ,
                q: Annotated[str, Query(max_length=200)] = "", sort: Annotated[str, Query(max_length=40)] = "",
                ids: Annotated[list[Id] | None, Query(max_length=export.DIRECT_LIMIT)] = None,
                p: Principal = console("reports.export")):
    """The list as .xlsx: written now when it has at most 5,000 rows, otherwise as a job whose
    progress page the browser is sent to."""
    f.ids = ids
    export.localize(f)
    export.selection(db, p, f, q, sort)
    total = export.count(db, p, f, q)
    return xlsx_download(request, "/reports", total=total, limit=export.DIRECT_LIMIT,
                         start_job=lambda: export.start_job(db, p, f, q, sort, total),
                         write=lambda path: export.write_workbook(db, p, f, path, q=q, sort=sort, total=total),
                         audit=lambda n: export.audit(db, p, f, n), file_name=lambda: export.file_name(f))


class ExportIn(BaseModel):
    """The same selection as GET /api/v1/reports, plus chosen rows."""

    view: Annotated[str, StringConstraints(max_length=30)] = Field(
        default="all", description="Danh sách: " + ", ".join(queries.VIEWS))
    status: Annotated[str, StringConstraints(max_length=300)] = ""
    category_id: Id = ""
    area_id: Id = ""
    unit_id: Id = ""
    channel: Channel | None = None
    since: datetime | None = None
    until: datetime | None = None
    overdue: bool | None = None
    q: Annotated[str, StringConstraints(max_length=200)] = ""
    sort: Annotated[str, StringConstraints(max_length=40)] = ""
    ids: list[Id] | None = Field(default=None, max_length=export.DIRECT_LIMIT,
                                 description="Chỉ xuất các phản ánh đã chọn")


@router.post("/api/v1/reports/exports", response_model=JobOut, status_code=202, tags=["reports"],
             responses=PROBLEMS, summary="Xuất Excel danh sách phản ánh thành tác vụ nền (CRM-03, 30, 34…36)")
def create_export(data: ExportIn, response: Response, db: DbDep, p: Principal = requires("reports.export")):
    f = queries.ReportFilters(view=data.view, status=data.status, category_id=data.category_id,
                              area_id=data.area_id, unit_id=data.unit_id,
                              channel=data.channel.value if data.channel else "", since=data.since,
                              until=data.until, overdue=data.overdue, ids=data.ids)
    export.localize(f)
    job = export.start_job(db, p, f, data.q, data.sort)
    response.headers["Location"] = f"/api/v1/jobs/{job.id}"
    return JobOut.of(job)
