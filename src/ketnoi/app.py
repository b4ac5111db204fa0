"""FastAPI factory: mounts every domain's API router and console pages, the hub and static files."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from ketnoi import __version__
from ketnoi.db.session import Database, init_database
from ketnoi.events import bus
from ketnoi.hub.broker import Hub
from ketnoi.jobs.runner import JobRunner
from ketnoi.settings import Settings, get_settings
from ketnoi.web import problems
from ketnoi.web.guards import InputGuard

log = logging.getLogger("ketnoi")
STATIC = Path(__file__).resolve().parent / "web" / "static"

# Every domain's JSON routers and console pages, mounted in this order.
API_MODULES = ["ketnoi.identity.api", "ketnoi.audit.api", "ketnoi.outbox.api", "ketnoi.hub.api",
               "ketnoi.catalog.api", "ketnoi.reports.export_web", "ketnoi.reports.api", "ketnoi.reports.open311",
               "ketnoi.jobs.api", "ketnoi.knowledge.api", "ketnoi.sms.api",
               "ketnoi.sms.gateway_api", "ketnoi.telephony.pbx.api", "ketnoi.videocall.api",
               "ketnoi.videocall.signalling", "ketnoi.videocall.config_api",
               "ketnoi.videocall.reports_api"]
PAGE_MODULES = ["ketnoi.identity.web", "ketnoi.identity.web_admin", "ketnoi.audit.web", "ketnoi.outbox.web",
                "ketnoi.catalog.web", "ketnoi.reports.web", "ketnoi.jobs.web", "ketnoi.knowledge.web",
                "ketnoi.sms.web", "ketnoi.sms.web_admin", "ketnoi.telephony.pbx.web", "ketnoi.videocall.web",
                "ketnoi.videocall.reports_web", "ketnoi.videocall.admin_web"]
# Long-running services started with the app when background work is on. Each module has
# ``async def start(app) -> stop`` where ``stop`` is an async callable (or None when the service
# is disabled by settings). They start in this order and stop in reverse.
SERVICE_MODULES: list[str] = ["ketnoi.sms.worker", "ketnoi.videocall.runtime", "ketnoi.videocall.monitor",
                              "ketnoi.telephony.engine.service"]


async def _outbox_worker(db: Database, interval: float = 2.0) -> None:
    """Embedded job runner for the outbox: delivers due messages every few seconds."""
    from ketnoi.outbox.service import deliver_due

    def run_once() -> int:
        with db.session() as s:
            return deliver_due(s)

    while True:
        try:
            await run_in_threadpool(run_once)
        except Exception:
            log.exception("outbox worker round failed")
        await asyncio.sleep(interval)


def create_app(settings: Settings | None = None, database: Database | None = None, *,
               background: bool = True) -> FastAPI:
    settings = settings or get_settings()
    settings.effective_secret_key()
    db = database or init_database(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        hub = Hub(bus, settings.redis_url)
        await hub.start()
        app.state.hub = hub
        worker = asyncio.create_task(_outbox_worker(db)) if background else None
        app.state.jobs = JobRunner(db) if background else None
        if app.state.jobs:
            app.state.jobs.start()
        stops = []
        if background:
            import importlib

            for name in SERVICE_MODULES:
                stop = await importlib.import_module(name).start(app)
                if stop is not None:
                    stops.append(stop)
        try:
            yield
        finally:
            # services created on first use (e.g. by a request when background work is off) stop too
            stops.extend(getattr(app.state, "shutdown_hooks", []))
            for stop in reversed(stops):
                try:
                    await stop()
                except Exception:
                    log.exception("stopping a service failed")
            if app.state.jobs:
                await run_in_threadpool(app.state.jobs.stop)
            if worker:
                worker.cancel()
                with contextlib.suppress(BaseException):
                    await worker
            await hub.stop()

    app = FastAPI(
        title="ketnoi API",
        version=__version__,
        description="API của nền tảng kết nối Chính quyền – Công dân (tổng đài 1022).",
        openapi_url="/api/openapi.json",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.database = db
    app.add_middleware(InputGuard)
    problems.install(app)

    import importlib

    for name in API_MODULES:
        app.include_router(importlib.import_module(name).router)
    for name in PAGE_MODULES:
        app.include_router(importlib.import_module(name).router, include_in_schema=False)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz():
        from sqlalchemy import text

        with db.session() as s:
            s.execute(text("SELECT 1"))
        return {"status": "ok", "version": __version__}

    healthz.ketnoi_public = True  # type: ignore[attr-defined]
    return app
