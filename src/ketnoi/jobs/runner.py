"""The in-process job runner: a thread that claims queued jobs from the database and runs the
handler registered for their kind. Several processes or nodes may run one each on the same queue.
Tests call ``run_once`` inline instead of starting the thread."""

from __future__ import annotations

import importlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ketnoi.core.errors import DomainError, Forbidden
from ketnoi.db.session import Database
from ketnoi.identity.models import User
from ketnoi.identity.principal import Principal
from ketnoi.identity.rbac import principal_for
from ketnoi.jobs import service
from ketnoi.jobs.service import KIND_LABELS

log = logging.getLogger("ketnoi.jobs")

# Modules whose import registers job handlers (like identity.permissions.load_all).
HANDLER_MODULES = ["ketnoi.reports.export", "ketnoi.sms.export", "ketnoi.videocall.recording"]


class JobInterrupted(Exception):
    """The runner is stopping, or the job was taken away from this worker; it goes back to the queue."""


@dataclass
class JobResult:
    name: str  # file name offered on download
    message: str = "Hoàn tất."


@dataclass
class JobContext:
    """What a handler sees: its parameters, a way to report progress, where to write its file."""

    job_id: str
    kind: str
    params: dict[str, Any]
    organization_id: str | None
    created_by_id: str | None
    database: Database
    runner: JobRunner
    output: Path | None = None
    min_interval: float = 0.5  # progress is committed at most this often
    _last: float = field(default=0.0, repr=False)

    def principal(self, db: Session) -> Principal:
        """The creator as they are now: a job runs with the creator's current rights and unit scope."""
        user = db.get(User, self.created_by_id) if self.created_by_id else None
        if user is None or not user.is_active:
            raise Forbidden("Tài khoản tạo tác vụ không còn hoạt động.")
        return principal_for(db, user)

    def output_path(self, suffix: str) -> Path:
        """A file to write the result into; it is published only when the handler succeeds."""
        self.output = service.exports_dir() / f"{self.job_id}{suffix}.part"
        return self.output

    def progress(self, done: int, total: int | None = None, message: str | None = None, *,
                 force: bool = False) -> None:
        if self.runner.stopping:
            raise JobInterrupted()
        now = time.monotonic()
        if not force and now - self._last < self.min_interval:
            return
        self._last = now
        with self.database.session() as db:
            if not service.report_progress(db, self.job_id, self.runner.worker_id, done, total, message):
                raise JobInterrupted()


Handler = Callable[[JobContext], JobResult]
HANDLERS: dict[str, Handler] = {}


def register(kind: str, label: str) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        KIND_LABELS[kind] = label
        return fn

    return deco


def load_handlers() -> None:
    for name in HANDLER_MODULES:
        importlib.import_module(name)


class JobRunner:
    def __init__(self, database: Database, *, poll_interval: float = 1.0, stale_after: float = 120.0,
                 sweep_every: float = 30.0, retention_days: int = 7):
        self.database = database
        self.poll_interval, self.stale_after = poll_interval, stale_after
        self.sweep_every, self.retention_days = sweep_every, retention_days
        self.worker_id = service.new_worker_id()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    # --- one step, used inline by tests -----------------------------------------------------------
    def recover(self) -> int:
        with self.database.session() as db:
            n = service.recover(db, self.worker_id, self.stale_after)
        if n:
            log.warning("re-queued %d job(s) left running by a stopped worker", n)
        return n

    def run_once(self) -> str | None:
        """Claim one queued job and run it to its end; the job's id, or None when none was waiting."""
        load_handlers()
        with self.database.session() as db:
            job = service.claim_next(db, self.worker_id)
            if job is None:
                return None
            ctx = JobContext(job.id, job.kind, dict(job.params or {}), job.organization_id, job.created_by_id,
                             self.database, self)
        handler = HANDLERS.get(ctx.kind)
        try:
            if handler is None:
                raise DomainError(f"Loại tác vụ '{ctx.kind}' không được hỗ trợ.")
            result = handler(ctx)
        except JobInterrupted:
            self._discard(ctx)
            with self.database.session() as db:
                service.release(db, ctx.job_id, self.worker_id)
            log.info("job %s returned to the queue", ctx.job_id)
        except DomainError as e:
            self._discard(ctx)
            with self.database.session() as db:
                service.fail(db, ctx.job_id, self.worker_id, e.detail)
        except Exception:
            log.exception("job %s (%s) failed", ctx.job_id, ctx.kind)
            self._discard(ctx)
            with self.database.session() as db:
                service.fail(db, ctx.job_id, self.worker_id,
                             "Đã có lỗi hệ thống khi chạy tác vụ; sự cố đã được ghi lại.")
        else:
            stored = ""
            if ctx.output is not None and ctx.output.exists():
                final = ctx.output.with_name(ctx.output.name.removesuffix(".part"))
                ctx.output.replace(final)
                stored = final.name
            with self.database.session() as db:
                if not service.finish(db, ctx.job_id, self.worker_id, result_file=stored, result_name=result.name,
                                      message=result.message):
                    log.warning("job %s finished here but was re-queued meanwhile", ctx.job_id)
        return ctx.job_id

    @staticmethod
    def _discard(ctx: JobContext) -> None:
        if ctx.output is not None:
            ctx.output.unlink(missing_ok=True)

    def sweep(self) -> None:
        self.recover()
        with self.database.session() as db:
            service.purge_files(db, self.retention_days)

    # --- the background thread --------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="ketnoi-jobs", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        last_sweep = 0.0
        while not self._stop.is_set():
            ran = None
            try:
                if time.monotonic() - last_sweep >= self.sweep_every:
                    last_sweep = time.monotonic()
                    self.sweep()
                ran = self.run_once()
            except Exception:
                log.exception("job runner round failed")
            if ran is None:
                self._stop.wait(self.poll_interval)
