"""The outbox: messages are kept until a provider accepts them, retried with back-off."""

from __future__ import annotations

from sqlalchemy import select

from ketnoi.outbox import service
from ketnoi.outbox.models import OutboxMessage


def test_embedded_provider_marks_sent(database):
    with database.session() as s:
        service.enqueue_message(s, channel="sms", recipient="+84912345678", body="Xin chào")
    with database.session() as s:
        assert service.deliver_due(s) == 1
    with database.session() as s:
        m = s.scalar(select(OutboxMessage))
        assert m.status == "sent" and m.provider == "log" and m.sent_at is not None


def test_failed_send_is_kept_and_retried_later(database):
    def broken(msg):
        raise ConnectionError("SMSC không phản hồi")

    service.SENDERS["sms"] = broken
    try:
        with database.session() as s:
            service.enqueue_message(s, channel="sms", recipient="+84912345678", body="Thử lại")
        with database.session() as s:
            service.deliver_due(s)
        with database.session() as s:
            m = s.scalar(select(OutboxMessage))
            assert m.status == "pending" and m.attempts == 1 and "SMSC" in m.last_error
            assert m.next_attempt_at > m.created_at
            assert service.deliver_due(s) == 0  # not due yet
    finally:
        service.SENDERS.pop("sms")
