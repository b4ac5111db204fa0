"""The call engine as a process-level service (CC-04, CC-05): one PBX (``Tenant``) per organization
with an applied configuration, each on its own SIP ports; a new configuration applied in the console
(``pbx.applied`` on the event bus) is swapped in without dropping live calls; call records are
written by one background thread."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ketnoi.events import Event, bus
from ketnoi.telephony.engine.records import RecordWriter
from ketnoi.telephony.engine.tenant import Tenant
from ketnoi.telephony.pbx.config import PbxConfig

log = logging.getLogger(__name__)


class TelephonyEngine:
    """Start with ``await engine.start()`` (every applied configuration in the database, or the
    ``configs`` given), stop with ``await engine.stop()``. ``tenants`` maps organization ids to PBXs."""

    def __init__(self, settings: Any, database: Any | None) -> None:
        self.settings = settings
        self.database = database
        self.records = RecordWriter(database) if database is not None else None
        self.tenants: dict[str, Tenant] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = asyncio.Lock()
        self._subscribed = False
        self._tasks: set[asyncio.Task] = set()
        self.revisions: dict[str, int] = {}  # organization → applied revision this engine has taken

    def media_bind(self, tenant: Tenant) -> str:
        """Address RTP sockets bind to: the same as SIP (CC-05 public address only goes in SDP)."""
        return self.settings.sip_bind_address

    # ------------------------------------------------------------------ lifecycle
    async def start(self, configs: list[PbxConfig] | None = None, poll_seconds: float = 0.0) -> None:
        """``poll_seconds``: also look for configurations applied by another process this often (an
        engine started on its own, ``python -m ketnoi.telephony.engine``, is not on the console's
        event bus); 0: only the in-process ``pbx.applied`` events."""
        self._loop = asyncio.get_running_loop()
        if self.records is not None:
            self.records.start()
        if configs is None and self.database is not None:
            configs = await asyncio.to_thread(self._load_all)
        for cfg in configs or ():
            self.revisions[cfg.organization_id] = cfg.revision
            await self._start_tenant(cfg)
        bus.subscribe(self._on_bus)
        self._subscribed = True
        if poll_seconds > 0 and self.database is not None:
            task = self._loop.create_task(self._poll(poll_seconds))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _poll(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            try:
                await self.poll_applied()
            except Exception:  # a database hiccup: try again next time
                log.exception("looking for applied PBX configurations failed")

    async def poll_applied(self) -> list[str]:
        """Reload the organizations whose applied revision differs from the one this engine runs
        (applied elsewhere, newly applied, or removed); returns their ids."""
        applied = await asyncio.to_thread(self._applied_revisions)
        changed = [org for org, rev in applied.items() if self.revisions.get(org) != rev]
        changed += [org for org in self.revisions if org not in applied]
        for org in changed:
            await self.reload(org)
        return changed

    def _applied_revisions(self) -> dict[str, int]:
        from sqlalchemy import select

        from ketnoi.telephony.pbx.models import PbxState

        with self.database.session() as s:
            return dict(s.execute(select(PbxState.organization_id, PbxState.applied_revision)
                                  .where(PbxState.applied_config.is_not(None))).all())

    def _load_all(self) -> list[PbxConfig]:
        from ketnoi.telephony.pbx import cdr
        from ketnoi.telephony.pbx.service import applied_configs

        with self.database.session() as s:
            closed = cdr.close_stale_calls(s)
            if closed:
                log.warning("%d calls left open by the previous run were closed as failed", closed)
        with self.database.session() as s:
            return applied_configs(s)

    async def _start_tenant(self, cfg: PbxConfig) -> None:
        if not cfg.settings.sip_udp_port:
            log.info("organization %s has no SIP port: its PBX is not served", cfg.organization_id)
            return
        tenant = Tenant(self, cfg)
        try:
            await tenant.start()
        except OSError as exc:
            log.error("PBX of organization %s cannot listen on SIP port %s: %s", cfg.organization_id,
                      cfg.settings.sip_udp_port, exc)
            await tenant.stop()
            return
        self.tenants[cfg.organization_id] = tenant

    async def stop(self) -> None:
        if self._subscribed:
            bus.unsubscribe(self._on_bus)
            self._subscribed = False
        for task in list(self._tasks):
            task.cancel()
        for tenant in list(self.tenants.values()):
            try:
                await tenant.stop()
            except Exception:
                log.exception("stopping the PBX of %s failed", tenant.org_id)
        self.tenants.clear()
        if self.records is not None:
            await asyncio.to_thread(self.records.stop)

    # ------------------------------------------------------------------ configuration swap
    def _on_bus(self, ev: Event) -> None:
        """Runs in whatever thread committed the Apply: hop onto the engine's loop."""
        if ev.type != "pbx.applied" or self._loop is None:
            return
        org_id = ev.data.get("organization_id") or ev.org_id
        if org_id:
            self._loop.call_soon_threadsafe(self._spawn, org_id)

    def _spawn(self, org_id: str) -> None:
        task = asyncio.get_running_loop().create_task(self.reload(org_id))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def reload(self, org_id: str, cfg: PbxConfig | None = None) -> None:
        """Take the organization's applied configuration (from the database unless given)."""
        if cfg is None:
            if self.database is None:
                return
            cfg = await asyncio.to_thread(self._load_one, org_id)
        async with self._lock:
            tenant = self.tenants.get(org_id)
            if cfg is None:
                self.revisions.pop(org_id, None)
            else:
                self.revisions[org_id] = cfg.revision
            if cfg is None:
                if tenant is not None:
                    await tenant.stop()
                    del self.tenants[org_id]
            elif tenant is None:
                await self._start_tenant(cfg)
            else:
                try:
                    await tenant.swap(cfg)
                except OSError as exc:
                    log.error("PBX of organization %s cannot move to its new SIP ports: %s", org_id, exc)

    def _load_one(self, org_id: str) -> PbxConfig | None:
        from ketnoi.telephony.pbx.service import load_applied_config

        with self.database.session() as s:
            return load_applied_config(s, org_id)
