"""The contract between the SMS core (storage, outbox, inbox) and the providers that move messages.

The core owns durability: it stores every message before a provider sees it and records every
outcome. A provider only submits, and reports what arrives (incoming messages, delivery receipts)
to a ``ProviderSink`` that stores them before returning, so a provider may acknowledge upstream
only after ``await sink.incoming(...)`` / ``await sink.receipt(...)`` has returned.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol

ReceiptStatus = Literal["accepted", "delivered", "failed", "expired"]


@dataclass(frozen=True)
class OutgoingSms:
    message_id: str  # ketnoi's id of the message; providers that can carry a client reference use it
    to: str  # E.164, e.g. +84901234567 (providers format it for their peer, e.g. 84901234567)
    text: str
    sender: str  # brandname or short code (source address)
    want_receipt: bool = True


@dataclass(frozen=True)
class SubmitResult:
    provider_message_ids: list[str]  # one per part, in part order
    parts: int
    encoding: Literal["gsm7", "ucs2"]
    # Parts submitted again because the connection dropped before the SMSC answered (the first
    # copy may have been accepted too); the core records it in the message's history. See smpp.py.
    resent_in_doubt: int = 0


class SendFailure(Exception):
    """A send that did not go through; ``reason`` is kept with the message."""

    def __init__(self, reason: str, code: str | None = None):
        super().__init__(reason)
        self.reason, self.code = reason, code


class TemporaryFailure(SendFailure):
    """Retry later (throttled, peer down, timeout, window full)."""


class PermanentFailure(SendFailure):
    """Never retry (invalid destination, rejected content, refused sender)."""


@dataclass(frozen=True)
class IncomingSms:
    provider: str  # provider name (ProviderConfig.name)
    provider_message_id: str  # unique per provider; duplicates are stored once
    sender: str  # the citizen's number as received (the core normalizes it to E.164)
    to: str  # the number or short code it was sent to
    text: str
    received_at: datetime
    parts: int = 1


@dataclass(frozen=True)
class DeliveryReceipt:
    provider: str
    provider_message_id: str  # the id the provider returned in SubmitResult
    status: ReceiptStatus
    error: str | None = None
    done_at: datetime | None = None


class ProviderSink(Protocol):
    async def incoming(self, sms: IncomingSms) -> None: ...

    async def receipt(self, receipt: DeliveryReceipt) -> None: ...


@dataclass(frozen=True)
class ProviderConfig:
    """One configured provider, as stored by the core (table ``sms_providers``)."""

    id: str
    name: str
    kind: Literal["smpp", "kannel", "http"]
    config: dict = field(default_factory=dict)  # kind-specific, validated by CONFIG_SCHEMAS[kind]
    brandnames: tuple[str, ...] = ()  # senders this provider may carry; empty = any
    is_default: bool = False
    priority: int = 100  # lower first when several can carry a brandname (failover order)
    enabled: bool = True


class Provider(Protocol):
    name: str

    async def start(self, sink: ProviderSink) -> None: ...

    async def stop(self) -> None: ...

    async def send(self, sms: OutgoingSms) -> SubmitResult:
        """Submit all parts; raise TemporaryFailure or PermanentFailure."""
        ...

    def status(self) -> dict:
        """Connection state and counters for the console (e.g. {"state": "bound", "in_flight": 3})."""
        ...
