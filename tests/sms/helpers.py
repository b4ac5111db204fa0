"""Helpers of the SMS core tests: an in-memory provider implementing ``base.Provider`` (for the
sender's own logic: retry, failover, restart — the real peers are tested with the providers), a
channel built on the real ``ProviderSet`` with those fakes, and data builders."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from datetime import UTC, datetime

from sqlalchemy import select

from ketnoi.sms import config
from ketnoi.sms import schemas as S
from ketnoi.sms.models import SmsMessage
from ketnoi.sms.providers.base import (
    DeliveryReceipt,
    IncomingSms,
    OutgoingSms,
    PermanentFailure,
    ProviderConfig,
    ProviderSink,
    SubmitResult,
    TemporaryFailure,
)
from ketnoi.sms.providers.registry import ProviderSet
from ketnoi.sms.worker import SmsChannel
from tests.factory import SYSTEM

HTTP_CONFIG = {"url": "http://127.0.0.1:9/send"}  # valid for the registry's schema; never reached


class FakeProvider:
    """Accepts (or fails) sends in memory, numbering parts; ``script`` decides per send."""

    def __init__(self, cfg: ProviderConfig, world: FakeWorld):
        self.name, self.cfg, self.world = cfg.name, cfg, world
        self.sink: ProviderSink | None = None
        self.sent: list[OutgoingSms] = []
        self.calls = 0

    async def start(self, sink: ProviderSink) -> None:
        self.sink = sink

    async def stop(self) -> None:
        self.sink = None

    async def send(self, sms: OutgoingSms) -> SubmitResult:
        self.calls += 1
        action = self.world.script.get(self.name, "ok")
        if callable(action):
            action = await action(sms) if asyncio.iscoroutinefunction(action) else action(sms)
        if action == "temporary":
            raise TemporaryFailure("SMSC bận (throttled)", "0x58")
        if action == "permanent":
            raise PermanentFailure("Số thuê bao không tồn tại", "0x0B")
        parts = 2 if len(sms.text) > 70 else 1
        ids = [f"{self.name}-{next(self.world.ids)}" for _ in range(parts)]
        self.sent.append(sms)
        self.world.log.append((self.name, sms.message_id))
        return SubmitResult(provider_message_ids=ids, parts=parts, encoding="ucs2")

    def status(self) -> dict:
        return {"state": "bound", "sent": len(self.sent)}


class FakeWorld:
    """The fakes of one test: per-provider behaviour and a log of every accepted send."""

    def __init__(self):
        self.script: dict[str, object] = {}
        self.log: list[tuple[str, str]] = []
        self.ids = itertools.count(1)
        self.providers: dict[str, FakeProvider] = {}

    def factory(self, configs: list[ProviderConfig]) -> ProviderSet:
        def make(cfg: ProviderConfig) -> FakeProvider:
            p = FakeProvider(cfg, self)
            self.providers[cfg.name] = p
            return p

        return ProviderSet(configs, factory=make)

    def sent_ids(self) -> list[str]:
        return [mid for _, mid in self.log]


def add_provider(database, org_id: str, name: str, *, brandnames: list[str] | None = None, default: bool = False,
                 priority: int = 100, enabled: bool = True) -> str:
    with database.session() as s:
        return config.create_provider(s, SYSTEM, S.ProviderIn(
            name=name, kind="http", config=HTTP_CONFIG, brandnames=brandnames or [], is_default=default,
            priority=priority, enabled=enabled, organization_id=org_id)).id


def channel(database, fakes: FakeWorld, **kw) -> SmsChannel:
    ch = SmsChannel(database, provider_set_factory=fakes.factory, reload_seconds=kw.pop("reload_seconds", 0.2), **kw)
    ch.sender.poll_seconds = 0.05
    return ch


async def wait_for(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    """Poll ``predicate`` (bounded in time; never asserts a duration)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def statuses(database) -> dict[str, str]:
    with database.session() as s:
        return {m.id: m.status for m in s.scalars(select(SmsMessage).where(SmsMessage.direction == "out"))}


def incoming(provider: str, pid: str, sender: str = "0912345678", text: str = "Xin chào", to: str = "1022",
             at: datetime | None = None) -> IncomingSms:
    return IncomingSms(provider=provider, provider_message_id=pid, sender=sender, to=to, text=text,
                       received_at=at or datetime.now(UTC))


def receipt(provider: str, pid: str, status: str = "delivered", error: str | None = None) -> DeliveryReceipt:
    return DeliveryReceipt(provider=provider, provider_message_id=pid, status=status, error=error)  # type: ignore[arg-type]


def sms_objects(database, org_id: str) -> dict[str, str]:
    """One of each SMS object of an organization, for the permission matrix's path parameters."""
    from ketnoi.sms import service

    provider_id = add_provider(database, org_id, f"matrix-{org_id[:6]}", default=True)
    with database.session() as s:
        t = config.create_template(s, SYSTEM, S.TemplateIn(code="matrix", name="Mẫu", body="Mã {code}",
                                                          organization_id=org_id))
        rule = config.create_rule(s, SYSTEM, S.KeywordRuleIn(keyword="MX", ack_template_id=t.id,
                                                            organization_id=org_id))
        m = service.store_incoming(s, incoming(f"matrix-{org_id[:6]}", "matrix-1", sender="0912345670",
                                               text="Hỏi về thủ tục"))
        return {"message_id": m.id, "provider_id": provider_id, "template_id": t.id,
                "keyword-rules.rule_id": rule.id, "phone": m.phone}
