"""Typed domain events, queued on the DB session and published only after it commits (STYLE.md).

Subscribers (the real-time hub, later SMS notifications and webhooks) receive an Event once the
transaction that produced it is durable; a rollback drops the queued events.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

log = logging.getLogger(__name__)


@dataclass
class Event:
    """An event for browsers and other subscribers.

    The audience fields narrow who receives it on the hub; all that are set must match:
    ``org_id`` (None = any organization, used for system-wide notices to system administrators),
    ``user_ids``, ``session_ids``, ``permission`` (the receiver must hold it) and ``unit_path``
    (the receiver's unit scope must cover this unit).
    """

    type: str
    data: dict[str, Any] = field(default_factory=dict)
    org_id: str | None = None
    user_ids: list[str] | None = None
    session_ids: list[str] | None = None
    permission: str | None = None
    unit_path: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Event:
        return cls(**{k: d.get(k) for k in cls.__dataclass_fields__ if k in d})


Subscriber = Callable[[Event], None]


class EventBus:
    """Fan-out of committed events to subscribers in this process."""

    def __init__(self) -> None:
        self._subs: list[Subscriber] = []
        self._lock = threading.Lock()

    def subscribe(self, fn: Subscriber) -> None:
        with self._lock:
            self._subs.append(fn)

    def unsubscribe(self, fn: Subscriber) -> None:
        with self._lock:
            if fn in self._subs:
                self._subs.remove(fn)

    def publish(self, ev: Event) -> None:
        for fn in list(self._subs):
            try:
                fn(ev)
            except Exception:  # a broken subscriber must not break the caller's request
                log.exception("event subscriber failed for %s", ev.type)


bus = EventBus()


def queue_event(session: Session, ev: Event) -> None:
    """Publish ``ev`` when (and only if) ``session`` commits."""
    session.info.setdefault("pending_events", []).append(ev)


@sa_event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pending = session.info.pop("pending_events", None)
    for ev in pending or ():
        bus.publish(ev)


@sa_event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:
        session.info.pop("pending_events", None)
