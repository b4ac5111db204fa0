"""Delivers committed events to the WebSocket connections whose user may see them.

In-process by default; with KETNOI_REDIS_URL every node publishes to one Redis channel and every
node (itself included) delivers what it receives to its own connections.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

from ketnoi.events import Event, EventBus
from ketnoi.identity.principal import Principal

log = logging.getLogger(__name__)
CHANNEL = "ketnoi:hub"


@dataclass(eq=False)
class Connection:
    principal: Principal
    queue: asyncio.Queue = field(default_factory=lambda: asyncio.Queue(maxsize=1000))
    closed: bool = False

    def wants(self, ev: Event) -> bool:
        p = self.principal
        if ev.session_ids is not None and p.session_id not in ev.session_ids:
            return False
        if ev.user_ids is not None and p.user_id not in ev.user_ids:
            return False
        if ev.org_id is None:
            if ev.session_ids is None and ev.user_ids is None and not p.is_sysadmin:
                return False
        elif not p.sees_organization(ev.org_id):
            return False
        if ev.permission and not p.has(ev.permission):
            return False
        if ev.unit_path is not None and not p.covers_unit(ev.unit_path):
            return False
        return True


class Hub:
    def __init__(self, bus: EventBus, redis_url: str = "") -> None:
        self.bus = bus
        self.redis_url = redis_url
        self.connections: set[Connection] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._redis = None
        self._listener: asyncio.Task | None = None
        self._ready = asyncio.Event()

    async def start(self) -> None:
        self.loop = asyncio.get_running_loop()
        self.bus.subscribe(self.on_committed)
        if self.redis_url:
            import redis.asyncio as aioredis

            self._redis = aioredis.from_url(self.redis_url)
            pubsub = self._redis.pubsub()
            await pubsub.subscribe(CHANNEL)
            self._listener = asyncio.create_task(self._listen(pubsub))
        self._ready.set()

    async def stop(self) -> None:
        self.bus.unsubscribe(self.on_committed)
        if self._listener:
            self._listener.cancel()
            try:
                await self._listener
            except (asyncio.CancelledError, Exception):
                pass
        if self._redis is not None:
            await self._redis.aclose()
        for c in list(self.connections):
            c.closed = True
            c.queue.put_nowait(None)

    # -- publishing -------------------------------------------------------------------------------
    def on_committed(self, ev: Event) -> None:
        """Bus subscriber; may be called from a worker thread (sync endpoints) or the loop."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            loop.create_task(self.publish(ev))
        else:
            asyncio.run_coroutine_threadsafe(self.publish(ev), loop)

    async def publish(self, ev: Event) -> None:
        if self._redis is not None:
            try:
                await self._redis.publish(CHANNEL, json.dumps(ev.to_dict(), ensure_ascii=False))
                return
            except Exception:  # Redis down: still deliver on this node
                log.exception("redis publish failed; delivering locally only")
        self.deliver_local(ev)

    async def _listen(self, pubsub) -> None:
        while True:
            try:
                async for msg in pubsub.listen():
                    if msg.get("type") != "message":
                        continue
                    try:
                        self.deliver_local(Event.from_dict(json.loads(msg["data"])))
                    except (ValueError, TypeError):
                        log.warning("bad hub message on redis")
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("redis listener failed; retrying")
                await asyncio.sleep(1)
                try:
                    await pubsub.subscribe(CHANNEL)
                except Exception:
                    pass

    def deliver_local(self, ev: Event) -> int:
        n = 0
        payload = {"type": ev.type, **({"data": ev.data} if ev.data else {})}
        for c in list(self.connections):
            if not c.closed and c.wants(ev):
                try:
                    c.queue.put_nowait(payload)
                    n += 1
                except asyncio.QueueFull:
                    log.warning("hub queue full for user %s; dropping %s", c.principal.username, ev.type)
        return n

    # -- connections ------------------------------------------------------------------------------
    def connect(self, principal: Principal) -> Connection:
        c = Connection(principal)
        self.connections.add(c)
        return c

    def disconnect(self, c: Connection) -> None:
        c.closed = True
        self.connections.discard(c)

    def online_user_ids(self) -> set[str]:
        return {c.principal.user_id for c in self.connections}
