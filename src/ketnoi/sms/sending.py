"""The SMS outbox's database side (SMS-04): claiming due messages for one sender, recording what each
send did, giving claims back, and taking over claims of a sender that died.

Safe for several senders on one database: a claim is the conditional transition queued → sending
(``UPDATE … WHERE status = 'queued'``; on PostgreSQL the candidates are picked ``FOR UPDATE SKIP
LOCKED``), and every later write is conditional on the claim still being the sender's own.

Delivery is at-least-once. A message found ``sending`` after its lease ran out (its sender crashed)
is sent again, because the crash may have come before the provider saw it; the provider ids and the
status are written in one transaction, so a message whose ids were recorded is never re-sent. The
window for a duplicate is only a crash between the provider's answer and that commit; OutgoingSms
carries our message id so that providers which can pass a client reference let the peer spot it.
A message is never silently dropped, which matters more for a citizen than a rare duplicate.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ketnoi.db.base import new_id, utcnow
from ketnoi.events import Event, queue_event
from ketnoi.settings import get_settings
from ketnoi.sms import service
from ketnoi.sms.models import SmsMessage, SmsPart, SmsStatusHistory
from ketnoi.sms.providers.base import SubmitResult

M = SmsMessage


@dataclass(frozen=True)
class Claimed:
    id: str
    organization_id: str | None
    phone: str
    text: str
    sender: str
    attempts: int


@dataclass
class Outcome:
    """What one send did: ``result`` when a provider took it, else the failure."""

    id: str
    result: SubmitResult | None = None
    provider: str = ""
    error: str = ""
    permanent: bool = False
    tried: list[str] = field(default_factory=list)


def backoff(attempts: int) -> timedelta:
    """Exponential: the configured first delay, doubled per attempt, at most an hour."""
    base = get_settings().sms_retry_seconds
    return timedelta(seconds=min(3600.0, base * 2 ** max(0, attempts - 1)))


def _history(db: Session, rows: list[dict]) -> None:
    if rows:
        db.execute(insert(SmsStatusHistory), [{"id": new_id(), **r} for r in rows])


def claim(db: Session, worker: str, limit: int, now: datetime | None = None) -> list[Claimed]:
    """Take up to ``limit`` due queued messages, most urgent first, for ``worker``."""
    now = now or utcnow()
    pick = (select(M.id).where(M.status == "queued", M.next_attempt_at <= now)
            .order_by(M.priority, M.next_attempt_at).limit(limit))
    if db.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    ids = list(db.scalars(pick))
    if not ids:
        return []
    rows = db.execute(update(M).where(M.id.in_(ids), M.status == "queued")
                      .values(status="sending", claimed_by=worker, claimed_at=now, attempts=M.attempts + 1,
                              changes=M.changes + 1, updated_at=now)
                      .returning(M.id, M.organization_id, M.phone, M.text, M.short_code, M.attempts, M.changes,
                                 M.priority, M.next_attempt_at)
                      .execution_options(synchronize_session=False)).all()
    _history(db, [{"message_id": r.id, "seq": r.changes, "at": now, "from_status": "queued", "to_status": "sending",
                   "provider": "", "note": f"Lần gửi thứ {r.attempts}"} for r in rows])
    rows.sort(key=lambda r: (r.priority, r.next_attempt_at))
    return [Claimed(r.id, r.organization_id, r.phone, r.text, r.short_code, r.attempts) for r in rows]


def _mine(worker: str, message_id: str):
    return and_(M.id == message_id, M.status == "sending", M.claimed_by == worker)


def record(db: Session, worker: str, outcomes: list[Outcome], now: datetime | None = None) -> int:
    """Write the outcomes of sends in one transaction; returns how many were still this worker's."""
    now = now or utcnow()
    max_attempts = get_settings().sms_max_attempts
    mine = {m.id: m for m in db.scalars(select(M).where(M.id.in_([o.id for o in outcomes]), M.status == "sending",
                                                        M.claimed_by == worker))}
    accepted = [o for o in outcomes if o.result is not None]
    _record_parts(db, accepted)
    for o in outcomes:
        m = mine.get(o.id)
        if m is None:  # the lease ran out meanwhile and another sender has it (ids, if any, are kept)
            continue
        if o.result is not None:
            note = f"{o.result.parts} phần tin, {o.result.encoding.upper()}"
            if getattr(o.result, "resent_in_doubt", 0):
                note += (f"; {o.result.resent_in_doubt} phần gửi lại vì mất kết nối trước khi SMSC trả lời "
                         "(người nhận có thể nhận trùng)")
            service.set_status(db, m, "accepted", provider=o.provider, note=note)
            m.provider, m.parts, m.encoding = o.provider, o.result.parts, o.result.encoding
            m.sent_at, m.last_error = now, ""
        elif o.permanent or m.attempts >= max_attempts:
            reason = o.error if o.permanent else f"Hết {max_attempts} lần thử. {o.error}"
            service.set_status(db, m, "failed", provider=o.provider, note=reason)
            m.last_error = reason[:500]
            if m.organization_id:
                queue_event(db, Event(type="sms.status", org_id=m.organization_id, permission="sms.history",
                                      data={"id": m.id, "status": "failed", "status_label": "Thất bại"}))
        else:
            when = now + backoff(m.attempts)
            service.set_status(db, m, "queued", provider=o.provider,
                               note=f"{o.error} Thử lại lúc {when.strftime('%H:%M:%S')} UTC.")
            m.next_attempt_at, m.last_error = when, o.error[:500]
        m.claimed_by, m.claimed_at = "", None
    by_provider: dict[str, list[str]] = {}
    for o in accepted:
        by_provider.setdefault(o.provider, []).extend(o.result.provider_message_ids)  # type: ignore[union-attr]
    for provider, pids in by_provider.items():  # receipts that came before the submit's answer
        service.apply_unmatched(db, provider, pids)
    return len(mine)


def _record_parts(db: Session, accepted: list[Outcome]) -> None:
    """The provider ids of the accepted messages, in bulk; an id already stored (a peer reusing ids)
    stays with its first message."""
    rows, seen = [], set()
    for o in accepted:
        for seq, pid in enumerate(o.result.provider_message_ids, 1):  # type: ignore[union-attr]
            key = (o.provider, pid[:100])
            if key not in seen:
                seen.add(key)
                rows.append({"id": new_id(), "message_id": o.id, "seq": seq, "provider": o.provider,
                             "provider_message_id": key[1], "status": "accepted", "error": "", "updated_at": utcnow()})
    if not rows:
        return
    taken = set(db.execute(select(SmsPart.provider, SmsPart.provider_message_id).where(
        SmsPart.provider_message_id.in_([r["provider_message_id"] for r in rows]))).tuples())
    rows = [r for r in rows if (r["provider"], r["provider_message_id"]) not in taken]
    try:
        with db.begin_nested():
            if rows:
                db.execute(insert(SmsPart), rows)
    except IntegrityError:  # stored concurrently: one by one, keeping the first
        for r in rows:
            try:
                with db.begin_nested():
                    db.execute(insert(SmsPart), [r])
            except IntegrityError:
                pass


def release(db: Session, worker: str, ids: list[str], now: datetime | None = None) -> int:
    """Give back claims that were never handed to a provider (an orderly stop)."""
    n = 0
    for message_id in ids:
        m = db.scalar(select(M).where(_mine(worker, message_id)))
        if m is None:
            continue
        service.set_status(db, m, "queued", note="Trả lại hàng đợi khi dừng tiến trình gửi.")
        m.claimed_by, m.claimed_at, m.next_attempt_at = "", None, now or utcnow()
        m.attempts = max(0, m.attempts - 1)
        n += 1
    return n


def recover(db: Session, lease_seconds: float, now: datetime | None = None, *, worker: str = "") -> int:
    """Claims older than the lease go back to the queue (at-least-once, see the module docstring);
    a message whose provider ids were recorded is accepted, never sent again."""
    now = now or utcnow()
    stale = db.scalars(select(M).where(M.status == "sending", M.claimed_at < now - timedelta(seconds=lease_seconds),
                                       M.claimed_by != worker)).all()
    for m in stale:
        has_ids = db.scalar(select(SmsPart.id).where(SmsPart.message_id == m.id).limit(1)) is not None
        if has_ids:
            service.set_status(db, m, "accepted", note="Đã có mã của nhà cung cấp; không gửi lại.")
        else:
            service.set_status(db, m, "queued", note=f"Tiến trình gửi {m.claimed_by} không phản hồi; gửi lại.")
            m.next_attempt_at = now
        m.claimed_by, m.claimed_at = "", None
    if stale:
        db.info["sms_wake"] = True
    return len(stale)


def next_due(db: Session) -> datetime | None:
    """When the earliest queued message becomes due (to sleep exactly that long)."""
    return db.scalar(select(M.next_attempt_at).where(M.status == "queued").order_by(M.next_attempt_at).limit(1))
