"""Rules of the job queue: enqueue, who may see a job and its file, claiming, progress, finishing
and recovering the work of crashed workers. Every write by a worker is guarded by its worker id, so
a job another node has re-queued can never be finished twice."""

from __future__ import annotations

import os
import socket
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ketnoi.core.errors import NotFound
from ketnoi.db.base import utcnow
from ketnoi.identity.models import Organization
from ketnoi.identity.principal import Principal
from ketnoi.jobs.models import Job
from ketnoi.settings import get_settings

QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
STATUS_LABELS = {QUEUED: "Đang chờ", RUNNING: "Đang chạy", DONE: "Hoàn tất", FAILED: "Thất bại"}
# kind -> label shown in the console; filled by the modules that register handlers
KIND_LABELS: dict[str, str] = {}
MAX_ATTEMPTS = 3  # a job that took its worker down this many times is failed, not retried forever


def exports_dir() -> Path:
    path = get_settings().data_dir / "exports"
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_dir() -> Path:
    """Files written during a request and streamed at once (small exports); swept after a day."""
    path = exports_dir() / "tmp"
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- creating and reading -----------------------------------------------------------------------
def enqueue(db: Session, p: Principal, kind: str, params: dict[str, Any], *, message: str = "",
            organization_id: str | None = None) -> Job:
    job = Job(kind=kind, params=params, status=QUEUED, message=message or "Đang chờ đến lượt xử lý.",
              organization_id=organization_id if organization_id is not None else p.organization_id,
              created_by_id=p.user_id or None, created_at=utcnow())
    db.add(job)
    db.flush()
    return job


def can_see(db: Session, p: Principal, job: Job) -> bool:
    """The creator, system administrators, and the administrators of the job's organization (its
    manager or a holder of identity.users.write there)."""
    if p.is_sysadmin or (job.created_by_id and job.created_by_id == p.user_id):
        return True
    if job.organization_id is None or job.organization_id != p.organization_id:
        return False
    if p.has("identity.users.write"):
        return True
    org = db.get(Organization, job.organization_id)
    return org is not None and org.manager_id == p.user_id


def get_job(db: Session, p: Principal, job_id: str) -> Job:
    job = db.get(Job, job_id) if len(job_id) <= 64 else None
    if job is None or not can_see(db, p, job):
        raise NotFound("Không tìm thấy tác vụ.")
    return job


def result_path(job: Job) -> Path:
    """The finished job's file, or NotFound with the reason."""
    if job.status != DONE:
        raise NotFound("Tác vụ chưa hoàn tất nên chưa có tệp kết quả.")
    path = exports_dir() / job.result_file if job.result_file else None
    if path is None or not path.is_file():
        raise NotFound("Tệp kết quả không còn (đã hết hạn lưu giữ). Hãy xuất lại.")
    return path


def percent(job: Job) -> int:
    if job.status == DONE:
        return 100
    if not job.total:
        return 0
    return max(0, min(99, job.progress * 100 // job.total))


# --- the worker side ----------------------------------------------------------------------------
def new_worker_id() -> str:
    return f"{socket.gethostname()[:120]}:{os.getpid()}:{os.urandom(4).hex()}"


def claim_next(db: Session, worker: str) -> Job | None:
    """Take the oldest queued job for ``worker`` and commit, or None when the queue is empty."""
    now = utcnow()
    values = {"status": RUNNING, "worker": worker, "started_at": now, "heartbeat_at": now, "attempts": Job.attempts + 1,
                  "message": "Đang bắt đầu…", "error": ""}
    if db.get_bind().dialect.name == "postgresql":
        job_id = db.scalar(select(Job.id).where(Job.status == QUEUED).order_by(Job.created_at).limit(1)
                           .with_for_update(skip_locked=True))
        if job_id is None:
            db.rollback()
            return None
        db.execute(update(Job).where(Job.id == job_id).values(**values))
        db.commit()
        return db.get(Job, job_id, populate_existing=True)
    # SQLite has one writer at a time: the guarded UPDATE succeeds for exactly one claimant
    for _ in range(5):
        job_id = db.scalar(select(Job.id).where(Job.status == QUEUED).order_by(Job.created_at).limit(1))
        if job_id is None:
            db.rollback()
            return None
        won = db.execute(update(Job).where(Job.id == job_id, Job.status == QUEUED).values(**values)).rowcount
        db.commit()
        if won == 1:
            return db.get(Job, job_id, populate_existing=True)
    return None


def _owned(job_id: str, worker: str):
    return update(Job).where(Job.id == job_id, Job.status == RUNNING, Job.worker == worker)


def report_progress(db: Session, job_id: str, worker: str, progress: int, total: int | None,
                    message: str | None) -> bool:
    """Store progress and the heartbeat; False when the job is no longer this worker's."""
    values: dict[str, Any] = {"progress": progress, "heartbeat_at": utcnow()}
    if total is not None:
        values["total"] = total
    if message is not None:
        values["message"] = message[:500]
    n = db.execute(_owned(job_id, worker).values(**values)).rowcount
    db.commit()
    return n == 1


def finish(db: Session, job_id: str, worker: str, *, result_file: str, result_name: str, message: str) -> bool:
    now = utcnow()
    n = db.execute(_owned(job_id, worker).values(status=DONE, finished_at=now, heartbeat_at=now,
                                                 result_file=result_file, result_name=result_name[:200],
                                                 message=message[:500],
                                                 progress=func.coalesce(Job.total, Job.progress))).rowcount
    db.commit()
    return n == 1


def fail(db: Session, job_id: str, worker: str, error: str) -> bool:
    now = utcnow()
    n = db.execute(_owned(job_id, worker).values(status=FAILED, finished_at=now, heartbeat_at=now,
                                                 error=error[:2000], message="Tác vụ thất bại.")).rowcount
    db.commit()
    return n == 1


def release(db: Session, job_id: str, worker: str) -> bool:
    """Give a job back to the queue (the worker is stopping); the attempt does not count."""
    n = db.execute(_owned(job_id, worker).values(status=QUEUED, worker="", started_at=None, heartbeat_at=None,
                                                 attempts=Job.attempts - 1,
                                                 message="Đang chờ đến lượt xử lý (máy chủ khởi động lại).")
                   ).rowcount
    db.commit()
    return n == 1


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, ValueError):
        return True
    return True


def abandoned(job: Job, me: str, now: datetime, stale_after: float) -> bool:
    """Whether a running job's worker is gone: an earlier process on this host (dead pid, or our own
    pid from a previous boot), or no heartbeat for ``stale_after`` seconds (any host)."""
    if job.worker == me:
        return False
    my_host, my_pid, _ = me.rsplit(":", 2)
    parts = job.worker.rsplit(":", 2)
    if len(parts) == 3 and parts[0] == my_host and parts[1].isdigit():
        pid = int(parts[1])
        if parts[1] == my_pid or not _pid_alive(pid):
            return True
    beat = job.heartbeat_at or job.started_at
    return beat is None or beat < now - timedelta(seconds=stale_after)


def recover(db: Session, me: str, stale_after: float = 120.0) -> int:
    """Re-queue (or fail, after MAX_ATTEMPTS) the running jobs whose worker has crashed."""
    now = utcnow()
    n = 0
    for job in db.scalars(select(Job).where(Job.status == RUNNING)).all():
        if not abandoned(job, me, now, stale_after):
            continue
        guard = update(Job).where(Job.id == job.id, Job.status == RUNNING, Job.worker == job.worker)
        if job.attempts >= MAX_ATTEMPTS:
            values = {"status": FAILED, "finished_at": now, "message": "Tác vụ thất bại.",
                          "error": f"Máy chủ xử lý đã dừng đột ngột {job.attempts} lần khi chạy tác vụ này."}
        else:
            values = {"status": QUEUED, "worker": "", "started_at": None, "heartbeat_at": None, "progress": 0,
                          "message": "Đang chờ chạy lại (máy chủ xử lý trước đã dừng đột ngột)."}
        n += db.execute(guard.values(**values)).rowcount
    db.commit()
    return n


def purge_files(db: Session, retention_days: int) -> int:
    """Delete result files older than the retention period; the job row stays as a record."""
    cutoff = utcnow() - timedelta(days=retention_days)
    n = 0
    stale = time.time() - 86400
    for f in scratch_dir().iterdir():  # left behind when a client went away before the download ended
        if f.is_file() and f.stat().st_mtime < stale:
            f.unlink(missing_ok=True)
    for job in db.scalars(select(Job).where(Job.status == DONE, Job.finished_at < cutoff, Job.result_file != "")):
        (exports_dir() / job.result_file).unlink(missing_ok=True)
        job.result_file = ""
        job.message = "Tệp kết quả đã được xóa sau thời hạn lưu giữ."
        n += 1
    db.commit()
    return n
