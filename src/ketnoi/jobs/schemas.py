"""API shapes of background jobs."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from ketnoi.jobs import service
from ketnoi.jobs.models import Job


class JobOut(BaseModel):
    id: str
    kind: str
    kind_label: str
    status: str  # queued | running | done | failed
    status_label: str
    progress: int
    total: int | None
    percent: int
    message: str
    error: str
    result_name: str
    file_url: str | None  # present once the file can be downloaded
    page_url: str  # the console page following the job
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None

    @classmethod
    def of(cls, job: Job) -> JobOut:
        ready = job.status == service.DONE and bool(job.result_file)
        return cls(id=job.id, kind=job.kind, kind_label=service.KIND_LABELS.get(job.kind, job.kind), status=job.status,
                   status_label=service.STATUS_LABELS.get(job.status, job.status), progress=job.progress,
                   total=job.total, percent=service.percent(job), message=job.message, error=job.error,
                   result_name=job.result_name, file_url=f"/api/v1/jobs/{job.id}/file" if ready else None,
                   page_url=f"/jobs/{job.id}", created_at=job.created_at, started_at=job.started_at,
                   finished_at=job.finished_at)
