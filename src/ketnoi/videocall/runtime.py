"""The video-call runtime of one app process: the Janus instances (started here or configured), the
ticker that drives routing timeouts and reconnect grace periods, and the signalling connections.

``start(app)`` is the SERVICE_MODULES hook (``make run`` starts Janus with the app). An app started
without background services (tests) creates the runtime on first use with the configured instances
only (``for_app``). Services are synchronous (worker threads); ``Runtime.janus`` runs a coroutine on
the runtime's event loop and waits for it, so no Janus call ever blocks the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

from ketnoi.events import Event, bus
from ketnoi.settings import Settings, get_settings
from ketnoi.videocall.janus import (
    JanusClient,
    JanusConfig,
    JanusError,
    JanusProcess,
    client_for,
    default_ice_ip,
    derived_secret,
    rtp_slices,
)

log = logging.getLogger("ketnoi.videocall")
T = TypeVar("T")
TICK_SECONDS = 1.0


def janus_secrets(settings: Settings) -> tuple[str, str, str]:
    key = settings.effective_secret_key()
    return (settings.videocall_janus_api_secret or derived_secret(key, "api"),
            settings.videocall_janus_admin_secret or derived_secret(key, "admin"),
            settings.videocall_janus_room_key or derived_secret(key, "room"))


def recordings_root(settings: Settings | None = None) -> Path:
    settings = settings or get_settings()
    path = settings.data_dir / "recordings" / "videocall"
    path.mkdir(parents=True, exist_ok=True)
    return path


def managed_configs(settings: Settings) -> list[JanusConfig]:
    """The instances ketnoi starts itself: consecutive loopback ports, disjoint RTP ranges."""
    api, admin, room = janus_secrets(settings)
    n = max(1, settings.videocall_janus_count)
    ice = settings.videocall_janus_ice_ip or default_ice_ip()
    return [JanusConfig(name=f"janus-{i + 1}", ws_port=settings.videocall_janus_ws_port + i,
                        admin_port=settings.videocall_janus_admin_port + i, api_secret=api, admin_secret=admin,
                        room_key=room, rtp_ports=rng, ice_ip=ice, rec_root=str(recordings_root(settings)))
            for i, rng in enumerate(rtp_slices(settings.videocall_janus_rtp_ports, n))]


class Runtime:
    def __init__(self, app, settings: Settings):
        self.app, self.settings = app, settings
        self.loop: asyncio.AbstractEventLoop | None = None
        self.clients: dict[str, JanusClient] = {}
        self.processes: list[JanusProcess] = []
        self.ticker: asyncio.Task | None = None
        self.signals: dict[str, set] = {}  # call id -> signalling connections on this node
        self._listeners: list[Callable[[Event], None]] = []

    @property
    def database(self):
        return self.app.state.database

    # --- life cycle -------------------------------------------------------------------------------
    async def start(self, *, spawn: bool) -> None:
        self.loop = asyncio.get_running_loop()
        s = self.settings
        instances = list(s.videocall_janus_instances)
        if not instances and spawn and s.videocall_janus_autostart:
            for i, cfg in enumerate(managed_configs(s)):
                proc = JanusProcess(cfg, s.data_dir / "janus" / cfg.name, s.videocall_janus_binary)
                try:
                    await run_in_threadpool(proc.start)
                except JanusError as e:
                    log.error("could not start %s: %s", cfg.name, e)
                    continue
                self.processes.append(proc)
                public = s.videocall_janus_public_url if i == 0 else ""
                instances.append({"name": cfg.name, "url": cfg.url, "admin_url": cfg.admin_url,
                                  "public_url": public})
        api, admin, room = janus_secrets(s)
        for inst in instances:
            c = client_for(inst, api, admin, room)
            self.clients[c.name] = c
            try:
                await c.info()
            except JanusError as e:
                log.warning("janus %s is not answering: %s", c.name, e)
        bus.subscribe(self._on_event)
        self.ticker = asyncio.create_task(self._tick_loop())

    async def stop(self) -> None:
        bus.unsubscribe(self._on_event)
        if self.ticker is not None:
            self.ticker.cancel()
            with contextlib.suppress(BaseException):
                await self.ticker
        for conns in list(self.signals.values()):
            for conn in list(conns):
                await conn.close(4001)
        for c in self.clients.values():
            await c.close()
        for p in self.processes:
            await run_in_threadpool(p.stop)

    # --- Janus ------------------------------------------------------------------------------------
    def janus(self, fn: Callable[[JanusClient], Awaitable[T]], instance: str, timeout: float = 20.0) -> T:
        """Runs ``fn(client)`` on the runtime loop from a worker thread and returns its result."""
        client = self.clients.get(instance)
        if client is None or self.loop is None:
            raise JanusError(f"unknown Janus instance {instance!r}")
        fut = asyncio.run_coroutine_threadsafe(fn(client), self.loop)
        try:
            return fut.result(timeout)
        except TimeoutError:
            fut.cancel()
            raise JanusError("Janus did not answer in time") from None

    def pick_instance(self, load: dict[str, int]) -> JanusClient | None:
        """The least loaded healthy instance (active calls on it, from the database)."""
        healthy = [c for c in self.clients.values() if c.healthy] or list(self.clients.values())
        if not healthy:
            return None
        return min(healthy, key=lambda c: (load.get(c.name, 0), list(self.clients).index(c.name)))

    async def health(self) -> list[dict[str, Any]]:
        out = []
        for c in self.clients.values():
            try:
                await c.info()
            except JanusError:
                pass
            out.append({"name": c.name, "healthy": c.healthy, "error": c.last_error})
        return out

    # --- the ticker -------------------------------------------------------------------------------
    async def _tick_loop(self) -> None:
        from ketnoi.videocall import service

        last_error = ("", 0.0)
        while True:
            await asyncio.sleep(TICK_SECONDS)
            try:
                await run_in_threadpool(service.tick, self)
            except Exception as e:  # the ticker must survive any round
                now, text = time.monotonic(), f"{type(e).__name__}: {e}"
                if text != last_error[0] or now - last_error[1] > 60:  # the same failure once a minute
                    log.exception("video-call ticker round failed")
                    last_error = (text, now)

    # --- committed events → signalling connections, session replacements (VC-10) ---------------
    def _on_event(self, ev: Event) -> None:
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        if ev.type == "videocall.call" or ev.type in ("session.replaced", "session.ended"):
            loop.call_soon_threadsafe(lambda: loop.create_task(self._dispatch(ev)))

    async def _dispatch(self, ev: Event) -> None:
        from ketnoi.videocall import service, signalling

        try:
            if ev.type == "videocall.call":
                await signalling.push_state(self, ev.data.get("call_id", ""), ev.data.get("what", "state"))
            else:
                await run_in_threadpool(service.sessions_ended, self, list(ev.session_ids or []))
        except Exception:
            log.exception("video-call event %s failed", ev.type)


async def for_app(app) -> Runtime:
    """The app's runtime, created on first use when the app was started without background services."""
    rt = getattr(app.state, "videocall", None)
    if rt is None:
        lock = app.state.__dict__.setdefault("_videocall_lock", asyncio.Lock())
        async with lock:
            rt = getattr(app.state, "videocall", None)
            if rt is None:
                rt = Runtime(app, get_settings())
                await rt.start(spawn=False)
                app.state.videocall = rt
                app.state.__dict__.setdefault("shutdown_hooks", []).append(rt.stop)
    return rt


async def start(app):
    """SERVICE_MODULES hook: starts Janus (unless instances are configured) and the ticker."""
    rt = Runtime(app, get_settings())
    await rt.start(spawn=True)
    app.state.videocall = rt
    return rt.stop
