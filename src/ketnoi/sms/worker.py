"""The SMS channel of one process (SMS-01…05): the providers (``ProviderSet``), the sink that stores
what they receive before they acknowledge it, and the durable outbox sender with failover and
back-off. Registered in app.py's SERVICE_MODULES; asyncio glue only, the rules are in
sms/service.py and the database side of sending in sms/sending.py (its docstring states the
at-least-once choice).

On by default only when at least one enabled provider is configured (``KETNOI_SMS_ENABLED`` unset);
the set of providers is re-read when they change, here or on another node, without a restart."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import func, select

from ketnoi.db.base import utcnow
from ketnoi.db.session import Database
from ketnoi.settings import Settings, get_settings
from ketnoi.sms import sending, service
from ketnoi.sms.models import SmsProvider
from ketnoi.sms.providers.base import (
    DeliveryReceipt,
    IncomingSms,
    OutgoingSms,
    PermanentFailure,
    Provider,
    ProviderConfig,
    TemporaryFailure,
)

log = logging.getLogger("ketnoi.sms")
SEND_TIMEOUT = 60.0  # a provider that has not answered by then is counted as a temporary failure
RELOAD_SECONDS = 5.0  # how often the provider table is checked for changes made on other nodes
RECEIPT_SWEEP_SECONDS = 2.0  # how often receipts that raced their message's ids are matched again


class DbSink:
    """``ProviderSink``: stores each incoming message / receipt in its own transaction, in a thread,
    and returns only once it is committed, so that the provider may acknowledge upstream."""

    def __init__(self, database: Database):
        self.database = database

    async def incoming(self, sms: IncomingSms) -> None:
        await asyncio.to_thread(self._incoming, sms)

    async def receipt(self, receipt: DeliveryReceipt) -> None:
        await asyncio.to_thread(self._receipt, receipt)

    def _incoming(self, sms: IncomingSms) -> None:
        with self.database.session() as s:
            service.store_incoming(s, sms)

    def _receipt(self, receipt: DeliveryReceipt) -> None:
        with self.database.session() as s:
            service.apply_receipt(s, receipt)


def provider_configs(db) -> tuple[list[ProviderConfig], dict[str, str]]:
    """The enabled providers as the registry takes them, and provider name → organization."""
    rows = db.scalars(select(SmsProvider).where(SmsProvider.enabled.is_(True)).order_by(SmsProvider.name)).all()
    return ([ProviderConfig(id=r.id, name=r.name, kind=r.kind, config=dict(r.config or {}),  # type: ignore[arg-type]
                            brandnames=tuple(r.brandnames or ()), is_default=r.is_default, priority=r.priority,
                            enabled=True) for r in rows],
            {r.name: r.organization_id for r in rows})


def _signature(db) -> tuple:
    return tuple(db.execute(select(func.count(SmsProvider.id), func.max(SmsProvider.updated_at))).one())


def _default_factory(configs: list[ProviderConfig]):
    from ketnoi.sms.providers.registry import ProviderSet

    return ProviderSet(configs)


class OutboxSender:
    """Claims due messages, sends each through the candidates in failover order, records outcomes in
    batches. Claims it never handed to a provider are given back on stop."""

    def __init__(self, channel: SmsChannel, *, worker_id: str, concurrency: int, lease_seconds: float,
                 poll_seconds: float = 2.0):
        self.channel, self.database = channel, channel.database
        self.worker_id, self.concurrency = worker_id, max(1, concurrency)
        self.lease_seconds, self.poll_seconds = lease_seconds, poll_seconds
        self.wake = asyncio.Event()
        self._claimed: dict[str, asyncio.Task] = {}  # claimed and not yet recorded
        self._handed: set[str] = set()  # given to a provider: outcome unknown until it answers
        self._done: list[sending.Outcome] = []
        self._flush = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self._stopping = False
        self.sent = 0

    # -- database side, in threads (subclasses in tests wrap these) --------------------------------
    def _claim(self, n: int) -> list[sending.Claimed]:
        with self.database.session() as s:
            return sending.claim(s, self.worker_id, n)

    def _record(self, batch: list[sending.Outcome]) -> None:
        with self.database.session() as s:
            sending.record(s, self.worker_id, batch)

    def _recover(self) -> int:
        with self.database.session() as s:
            return sending.recover(s, self.lease_seconds, worker=self.worker_id)

    def _next_due(self):
        with self.database.session() as s:
            return sending.next_due(s)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._stopping = False
        await asyncio.to_thread(self._recover)
        self._tasks = [asyncio.create_task(self._run(), name="sms-sender"),
                       asyncio.create_task(self._flusher(), name="sms-recorder"),
                       asyncio.create_task(self._janitor(), name="sms-janitor")]

    async def stop(self, timeout: float = 10.0) -> None:
        """Let sends in flight finish (up to ``timeout``), record them, give back the rest."""
        self._stopping = True
        self.wake.set()
        runner = self._tasks[0] if self._tasks else None
        if runner:
            runner.cancel()
            with contextlib.suppress(BaseException):
                await runner
        pending = [t for t in self._claimed.values() if not t.done()]
        if pending:
            await asyncio.wait(pending, timeout=timeout)
        for t in pending:
            t.cancel()
        with contextlib.suppress(BaseException):
            await asyncio.gather(*pending, return_exceptions=True)
        for t in self._tasks[1:]:
            t.cancel()
            with contextlib.suppress(BaseException):
                await t
        self._tasks = []
        if self._done:
            batch, self._done = self._done, []
            await asyncio.to_thread(self._record, batch)
            for o in batch:
                self._claimed.pop(o.id, None)
        unsent = [i for i in self._claimed if i not in self._handed]
        if unsent:
            def give_back() -> None:
                with self.database.session() as s:
                    sending.release(s, self.worker_id, unsent)

            await asyncio.to_thread(give_back)
        self._claimed.clear()
        self._handed.clear()

    # -- loops -------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while not self._stopping:
            self.wake.clear()  # before claiming: a wake-up from now on is not lost
            try:
                free = self.concurrency - len(self._claimed)
                claimed = await asyncio.to_thread(self._claim, free) if free > 0 else []
            except Exception:
                log.exception("claiming SMS to send failed")
                claimed = []
                await asyncio.sleep(self.poll_seconds)
            for c in claimed:
                self._claimed[c.id] = asyncio.create_task(self._send(c), name=f"sms-send-{c.id}")
            if claimed and len(claimed) == free:
                await asyncio.sleep(0)
                continue
            timeout = self.poll_seconds
            if not claimed:
                with contextlib.suppress(Exception):
                    due = await asyncio.to_thread(self._next_due)
                    if due is not None:
                        timeout = max(0.01, min(timeout, (due - utcnow()).total_seconds()))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout)

    async def _send(self, c: sending.Claimed) -> None:
        outcome = sending.Outcome(id=c.id)
        candidates = self.channel.candidates(c)
        if not candidates:
            outcome.error = (f"Chưa có nhà cung cấp SMS nào gửi được tin này (người gửi {c.sender})."
                             if self.channel.providers is not None else "Kênh SMS chưa chạy.")
        sms = OutgoingSms(message_id=c.id, to=c.phone, text=c.text, sender=c.sender)
        errors = []
        for provider in candidates:
            outcome.tried.append(provider.name)
            outcome.provider = provider.name
            self._handed.add(c.id)
            try:
                outcome.result = await asyncio.wait_for(provider.send(sms), SEND_TIMEOUT)
                break
            except PermanentFailure as e:
                outcome.error, outcome.permanent = f"{provider.name}: {e.reason}", True
                break
            except TemporaryFailure as e:
                errors.append(f"{provider.name}: {e.reason}")
            except TimeoutError:
                errors.append(f"{provider.name}: không trả lời sau {SEND_TIMEOUT:.0f} giây")
            except asyncio.CancelledError:
                raise
            except Exception as e:  # a provider bug must not take the sender down: retried later
                log.exception("SMS provider %s failed on message %s", provider.name, c.id)
                errors.append(f"{provider.name}: lỗi {type(e).__name__}")
        if outcome.result is None and not outcome.permanent and errors:
            outcome.error = "; ".join(errors)[:480]
        if outcome.result is not None:
            self.sent += 1
        self._done.append(outcome)
        self._flush.set()

    async def _flusher(self) -> None:
        while True:
            await self._flush.wait()
            self._flush.clear()
            batch, self._done = self._done, []
            if not batch:
                continue
            try:
                await asyncio.to_thread(self._record, batch)
            except Exception:
                log.exception("recording SMS outcomes failed; retrying")
                self._done = batch + self._done
                await asyncio.sleep(1)
                self._flush.set()
                continue
            for o in batch:
                self._claimed.pop(o.id, None)
                self._handed.discard(o.id)
            self.wake.set()  # room for more claims

    async def _janitor(self) -> None:
        """Applies receipts that raced their message's ids, takes over claims of senders that died
        (lease), and applies the log retention."""
        settings = get_settings()
        last_recover = last_purge = None
        every = max(1.0, min(60.0, self.lease_seconds / 2))
        while True:
            await asyncio.sleep(RECEIPT_SWEEP_SECONDS)
            now = utcnow()
            with contextlib.suppress(Exception):
                await asyncio.to_thread(self._late_receipts)
            if last_recover is None or (now - last_recover).total_seconds() >= every:
                last_recover = now
                with contextlib.suppress(Exception):
                    if await asyncio.to_thread(self._recover):
                        self.wake.set()
            if settings.sms_retention_days > 0 and (last_purge is None or now - last_purge > timedelta(days=1)):
                last_purge = now
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.channel.purge, settings.sms_retention_days)

    def _late_receipts(self) -> int:
        with self.database.session() as s:
            return service.apply_late_matches(s)


class SmsChannel:
    """Providers, sink and sender of this process; ``app.state.sms``."""

    def __init__(self, database: Database, settings: Settings | None = None, *,
                 provider_set_factory: Callable[[list[ProviderConfig]], Any] | None = None,
                 worker_id: str | None = None, reload_seconds: float = RELOAD_SECONDS):
        self.database = database
        self.settings = settings or get_settings()
        self.factory = provider_set_factory or _default_factory
        self.worker_id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.sink = DbSink(database)
        self.providers: Any = None
        self.org_of: dict[str, str] = {}
        self.sender = OutboxSender(self, worker_id=self.worker_id, concurrency=self.settings.sms_concurrency,
                                   lease_seconds=self.settings.sms_lease_seconds)
        self.reload_seconds = reload_seconds
        self._signature: tuple | None = None
        self._changed = asyncio.Event()
        self._supervisor: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def running(self) -> bool:
        return self.providers is not None

    def candidates(self, c: sending.Claimed) -> list[Provider]:
        """Failover order from the registry, limited to the message's organization's providers."""
        if self.providers is None:
            return []
        found = list(self.providers.candidates(c.sender))
        if c.organization_id is None:
            return found
        return [p for p in found if self.org_of.get(p.name) == c.organization_id]

    def status(self) -> dict[str, dict]:
        if self.providers is None:
            return {}
        try:
            return dict(self.providers.status())
        except Exception:
            log.exception("provider status failed")
            return {}

    def purge(self, days: int) -> int:
        with self.database.session() as s:
            return service.purge_log(s, utcnow() - timedelta(days=days))

    # -- wake-ups from other threads (after commit) --------------------------------------------------
    def _threadsafe(self, event: asyncio.Event) -> Callable[[], None]:
        def hook() -> None:
            loop = self._loop
            if loop is not None and not loop.is_closed():
                loop.call_soon_threadsafe(event.set)
        return hook

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._wake_hook = self._threadsafe(self.sender.wake)
        self._changed_hook = self._threadsafe(self._changed)
        service.WAKE_HOOKS.append(self._wake_hook)
        service.PROVIDER_HOOKS.append(self._changed_hook)
        await self.refresh(force=True)
        self._supervisor = asyncio.create_task(self._supervise(), name="sms-providers")

    async def stop(self) -> None:
        for hooks, hook in ((service.WAKE_HOOKS, getattr(self, "_wake_hook", None)),
                            (service.PROVIDER_HOOKS, getattr(self, "_changed_hook", None))):
            if hook in hooks:
                hooks.remove(hook)
        if self._supervisor:
            self._supervisor.cancel()
            with contextlib.suppress(BaseException):
                await self._supervisor
        await self._deactivate()

    async def _supervise(self) -> None:
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._changed.wait(), self.reload_seconds)
            self._changed.clear()
            try:
                await self.refresh()
            except Exception:
                log.exception("reloading SMS providers failed")

    async def refresh(self, force: bool = False) -> None:
        """Re-read the providers when they changed; start or stop the channel accordingly."""
        def read():
            with self.database.session() as s:
                sig = _signature(s)
                if not force and sig == self._signature:
                    return sig, None
                return sig, provider_configs(s)

        sig, loaded = await asyncio.to_thread(read)
        if loaded is None:
            return
        configs, orgs = loaded
        enabled = self.settings.sms_enabled
        active = enabled if enabled is not None else bool(configs)
        if active and self.providers is None:
            providers = self.factory(configs)
            await providers.start(self.sink)
            self.providers, self.org_of = providers, orgs
            await self.sender.start()
            log.info("SMS channel started with %d provider(s)", len(configs))
        elif active:
            await self.providers.reload(configs)
            self.org_of = orgs
            self.sender.wake.set()
        elif self.providers is not None:
            await self._deactivate()
            log.info("SMS channel stopped: no provider configured")
        self._signature = sig

    async def _deactivate(self) -> None:
        if self.providers is None:
            return
        await self.sender.stop()
        providers, self.providers = self.providers, None
        await providers.stop()


async def start(app) -> Callable | None:
    """SERVICE_MODULES hook: the SMS channel for this app, and the outbox's SMS sender."""
    from ketnoi.sms import outbox_bridge

    settings = app.state.settings
    channel = SmsChannel(app.state.database, settings)
    app.state.sms = channel
    if settings.sms_enabled is False:
        return None
    outbox_bridge.install()
    await channel.start()

    async def stop() -> None:
        outbox_bridge.uninstall()
        await channel.stop()

    return stop
