"""JSON API of background jobs: follow a job and download its result.

A job is visible to its creator and to the administrators of its organization; the declared
permission is ``home`` (any console user) and the rest is checked per job.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from ketnoi.identity.principal import Principal
from ketnoi.jobs import service
from ketnoi.jobs.schemas import JobOut
from ketnoi.web.deps import DbDep, requires
from ketnoi.web.schemas import PROBLEMS

router = APIRouter(prefix="/api/v1", responses=PROBLEMS)


@router.get("/jobs/{job_id}", response_model=JobOut, tags=["jobs"], summary="Tiến độ của một tác vụ nền")
def get_job(job_id: str, db: DbDep, p: Principal = requires("home")):
    return JobOut.of(service.get_job(db, p, job_id))


@router.get("/jobs/{job_id}/file", tags=["jobs"], summary="Tải tệp kết quả của tác vụ đã hoàn tất",
            response_class=FileResponse,
            responses={200: {"content": {"application/octet-stream": {}}, "description": "Tệp kết quả"}})
def get_job_file(job_id: str, db: DbDep, p: Principal = requires("home")):
    job = service.get_job(db, p, job_id)
    path = service.result_path(job)
    return FileResponse(path, filename=job.result_name or path.name, media_type=media_type(path))


def media_type(path) -> str:
    return {".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", ".csv": "text/csv",
            ".pdf": "application/pdf"}.get(path.suffix, "application/octet-stream")
