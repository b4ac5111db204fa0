"""Console page of a background job: progress refreshed by HTMX every second, then the download."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse

from ketnoi.identity.principal import Principal
from ketnoi.jobs import service
from ketnoi.jobs.api import media_type
from ketnoi.jobs.schemas import JobOut
from ketnoi.web.deps import DbDep, console
from ketnoi.web.pages import render, templates

router = APIRouter(prefix="/jobs")


def local_path(value: str | None) -> str:
    """A link back into the console: a path on this site, never another host (open redirect)."""
    value = (value or "")[:500]
    if not value.startswith("/") or value[1:2] in ("/", "\\") or any(c in value for c in "\\\r\n\t"):
        return ""
    return value


@router.get("/{job_id}")
def job_page(job_id: str, request: Request, db: DbDep, p: Principal = console("home")):
    job = JobOut.of(service.get_job(db, p, job_id))
    back = local_path(request.query_params.get("back"))
    return render(request, "job.html", p, title=job.kind_label, job=job, back=back)


@router.get("/{job_id}/status")
def job_status(job_id: str, request: Request, db: DbDep, p: Principal = console("home")):
    """The progress fragment HTMX swaps in; it stops polling once the job has ended."""
    job = JobOut.of(service.get_job(db, p, job_id))
    return templates.TemplateResponse(request, "_job_status.html", {"request": request, "job": job})


@router.get("/{job_id}/file")
def job_file(job_id: str, db: DbDep, p: Principal = console("home")):
    job = service.get_job(db, p, job_id)
    path = service.result_path(job)
    return FileResponse(path, filename=job.result_name or path.name, media_type=media_type(path))
