"""The durable SMS outbox sender (SMS-04): failover, back-off, final failure with the reason, several
senders on one database, restart with messages in the outbox (all sent after restart, none twice),
the sink the providers store through, and the platform outbox's hand-over.

The providers here are in-memory fakes implementing ``base.Provider`` behind the real
``ProviderSet``: these tests are about the sender's own logic; the SMPP/Kannel/HTTP providers are
tested against real peers in their own tests."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from ketnoi.settings import get_settings
from ketnoi.sms import outbox_bridge, sending, service
from ketnoi.sms.models import SmsMessage, SmsPart, SmsStatusHistory
from tests.sms.helpers import FakeWorld, add_provider, channel, incoming, receipt, statuses, wait_for


@pytest.fixture
def fakes():
    return FakeWorld()


@pytest.fixture
def fast(monkeypatch):
    s = get_settings()
    monkeypatch.setattr(s, "sms_retry_seconds", 0.05)
    monkeypatch.setattr(s, "sms_max_attempts", 3)
    return s


def queue_many(database, org, n, text="Thông báo số {i}", **kw):
    with database.session() as s:
        return [service.queue_sms(s, organization_id=org, phone=f"09123450{i:02d}", text=text.format(i=i), **kw).id
                for i in range(n)]


async def test_queued_messages_are_sent_once_with_their_provider_ids(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True)
    ids = queue_many(database, world.org_a, 5)
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: set(statuses(database).values()) == {"accepted"}, what="all accepted")
    finally:
        await ch.stop()
    assert sorted(fakes.sent_ids()) == sorted(ids)
    with database.session() as s:
        m = s.get(SmsMessage, ids[0])
        assert (m.provider, m.attempts, m.claimed_by) == ("vt", 1, "")
        assert [h.to_status for h in s.scalars(select(SmsStatusHistory).where(
            SmsStatusHistory.message_id == m.id).order_by(SmsStatusHistory.seq))] == ["queued", "sending", "accepted"]
        assert s.scalar(select(func.count(SmsPart.id))) == 5


async def test_new_message_wakes_the_sender(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True)
    ch = channel(database, fakes)
    ch.sender.poll_seconds = 30  # only the after-commit wake-up can make this prompt
    await ch.start()
    try:
        (mid,) = queue_many(database, world.org_a, 1)
        await wait_for(lambda: statuses(database)[mid] == "accepted", timeout=5, what="woken sender")
    finally:
        await ch.stop()


async def test_failover_to_the_next_candidate_on_a_temporary_failure(database, world, fakes):
    add_provider(database, world.org_a, "brand", brandnames=["UBND-A"], priority=1)
    add_provider(database, world.org_a, "backup", default=True, priority=5)
    fakes.script["brand"] = "temporary"
    (mid,) = queue_many(database, world.org_a, 1, sender="UBND-A")
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "accepted")
    finally:
        await ch.stop()
    assert fakes.providers["brand"].calls == 1 and fakes.log == [("backup", mid)]
    with database.session() as s:
        assert s.get(SmsMessage, mid).provider == "backup"


async def test_temporary_failures_back_off_then_fail_with_the_reason(database, world, fakes, fast):
    add_provider(database, world.org_a, "vt", default=True)
    fakes.script["vt"] = "temporary"
    (mid,) = queue_many(database, world.org_a, 1)
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "failed", what="final failure")
    finally:
        await ch.stop()
    with database.session() as s:
        m = s.get(SmsMessage, mid)
        assert m.attempts == 3 and m.last_error.startswith("Hết 3 lần thử. vt: SMSC bận")
        steps = [(h.to_status, h.at) for h in s.scalars(select(SmsStatusHistory).where(
            SmsStatusHistory.message_id == mid).order_by(SmsStatusHistory.seq))]
    assert [t for t, _ in steps] == ["queued", "sending", "queued", "sending", "queued", "sending", "failed"]
    assert fakes.providers["vt"].calls == 3
    # the waits grew: the second retry came at least twice the base delay after the second failure
    assert (steps[5][1] - steps[4][1]).total_seconds() >= 2 * 0.05 - 0.01


def test_backoff_doubles_up_to_an_hour(monkeypatch):
    monkeypatch.setattr(get_settings(), "sms_retry_seconds", 10.0)
    assert [sending.backoff(n).total_seconds() for n in (1, 2, 3, 12)] == [10, 20, 40, 3600]


async def test_permanent_failure_is_final_at_once(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True, priority=1)
    add_provider(database, world.org_a, "other", priority=2)
    fakes.script["vt"] = "permanent"
    (mid,) = queue_many(database, world.org_a, 1)
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "failed")
    finally:
        await ch.stop()
    with database.session() as s:
        assert s.get(SmsMessage, mid).last_error == "vt: Số thuê bao không tồn tại"
    assert fakes.providers["other"].calls == 0


async def test_a_message_goes_only_through_its_organizations_providers(database, world, fakes, fast):
    add_provider(database, world.org_a, "cua-a", default=True)
    (mid,) = queue_many(database, world.org_b, 1)
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "failed")
    finally:
        await ch.stop()
    assert fakes.log == []
    with database.session() as s:
        assert "Chưa có nhà cung cấp SMS nào gửi được tin này" in s.get(SmsMessage, mid).last_error


# --- restart: all sent after restart, none twice ------------------------------------------------------
async def test_orderly_stop_between_claim_and_send_then_a_new_sender(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True)
    ids = queue_many(database, world.org_a, 8)
    first = channel(database, fakes)
    claimed = asyncio.Event()
    gate = asyncio.Event()
    original_send = first.sender._send

    async def held(c):  # claimed, not yet handed to the provider
        claimed.set()
        await gate.wait()
        await original_send(c)

    first.sender._send = held
    await first.start()
    await asyncio.wait_for(claimed.wait(), 10)
    assert set(statuses(database).values()) == {"sending"}
    await first.stop()  # the claims go back to the queue
    assert set(statuses(database).values()) == {"queued"} and fakes.log == []

    second = channel(database, fakes)
    await second.start()
    try:
        await wait_for(lambda: set(statuses(database).values()) == {"accepted"})
    finally:
        await second.stop()
    assert sorted(fakes.sent_ids()) == sorted(ids)  # every one, once


async def test_crash_between_claim_and_send_is_recovered_after_the_lease(database, world, fakes, monkeypatch):
    add_provider(database, world.org_a, "vt", default=True)
    ids = queue_many(database, world.org_a, 6)
    with database.session() as s:  # a sender claims them and dies before sending (nothing given back)
        assert len(sending.claim(s, "chet:1:abc", 50)) == 6
    monkeypatch.setattr(get_settings(), "sms_lease_seconds", 0)
    second = channel(database, fakes)
    await second.start()
    try:
        await wait_for(lambda: set(statuses(database).values()) == {"accepted"})
    finally:
        await second.stop()
    assert sorted(fakes.sent_ids()) == sorted(ids)
    with database.session() as s:
        notes = s.scalars(select(SmsStatusHistory.note).where(SmsStatusHistory.message_id == ids[0])).all()
        assert any("chet:1:abc" in n for n in notes)


async def test_crash_while_the_provider_holds_the_message_resends_it_once(database, world, fakes, monkeypatch):
    """Killed mid-send (the provider never answered): at-least-once, the message is sent after
    the lease; the provider saw no completed send before, so it is in its log exactly once."""
    add_provider(database, world.org_a, "vt", default=True)
    (mid,) = queue_many(database, world.org_a, 1)
    hang = asyncio.Event()

    async def stuck(sms):
        await hang.wait()
        return "ok"

    fakes.script["vt"] = stuck
    first = channel(database, fakes)
    await first.start()
    await wait_for(lambda: fakes.providers.get("vt") is not None and fakes.providers["vt"].calls == 1)
    for t in first.sender._tasks + list(first.sender._claimed.values()) + [first._supervisor]:
        t.cancel()  # the process dies: no orderly stop
    await asyncio.sleep(0.05)
    service.WAKE_HOOKS.remove(first._wake_hook)  # the dead process's wake-ups go with it
    service.PROVIDER_HOOKS.remove(first._changed_hook)
    assert statuses(database)[mid] == "sending"
    fakes.script["vt"] = "ok"
    monkeypatch.setattr(get_settings(), "sms_lease_seconds", 0)
    second = channel(database, fakes)
    await second.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "accepted")
    finally:
        await second.stop()
    assert fakes.sent_ids() == [mid]


def test_recovery_never_resends_a_message_whose_ids_were_recorded(database, world):
    (mid,) = queue_many(database, world.org_a, 1)
    with database.session() as s:
        sending.claim(s, "w-old", 5)
        s.add(SmsPart(message_id=mid, seq=1, provider="vt", provider_message_id="x-1", status="accepted"))
    with database.session() as s:
        assert sending.recover(s, lease_seconds=0) == 1
    assert statuses(database)[mid] == "accepted"


async def test_two_senders_on_one_database_send_each_message_once(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True)
    ids = queue_many(database, world.org_a, 40)
    a, b = channel(database, fakes), channel(database, fakes)
    a.sender.concurrency = b.sender.concurrency = 4
    await asyncio.gather(a.start(), b.start())
    try:
        await wait_for(lambda: set(statuses(database).values()) == {"accepted"}, timeout=20)
    finally:
        await asyncio.gather(a.stop(), b.stop())
    assert sorted(fakes.sent_ids()) == sorted(ids)


# --- on when a provider exists; reload ------------------------------------------------------------
async def test_channel_turns_on_when_the_first_provider_is_added(database, world, fakes):
    (mid,) = queue_many(database, world.org_a, 1)
    ch = channel(database, fakes)
    await ch.start()
    try:
        assert not ch.running
        add_provider(database, world.org_a, "vt", default=True)
        await wait_for(lambda: ch.running and statuses(database)[mid] == "accepted", what="channel on")
        assert ch.status()["vt"]["state"] == "bound"
        with database.session() as s:
            from ketnoi.sms.models import SmsProvider

            s.scalar(select(SmsProvider)).enabled = False
            s.info["sms_providers_changed"] = True
        await wait_for(lambda: not ch.running, what="channel off")
    finally:
        await ch.stop()


# --- the sink --------------------------------------------------------------------------------------
async def test_sink_stores_before_returning(database, world, fakes):
    add_provider(database, world.org_a, "vt", default=True)
    (mid,) = queue_many(database, world.org_a, 1)
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[mid] == "accepted")
        with database.session() as s:
            pid = s.scalar(select(SmsPart.provider_message_id).where(SmsPart.message_id == mid))
        sink = fakes.providers["vt"].sink
        await sink.receipt(receipt("vt", pid, "delivered"))
        assert statuses(database)[mid] == "delivered"  # committed when receipt() returned
        await sink.incoming(incoming("vt", "mo-1", text="Cảm ơn"))
        await sink.incoming(incoming("vt", "mo-1", text="Cảm ơn"))  # redelivered by the SMSC
        with database.session() as s:
            assert s.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.direction == "in")) == 1
    finally:
        await ch.stop()


# --- the platform outbox hands SMS over ----------------------------------------------------------------
async def test_password_reset_code_leaves_through_the_sms_outbox(database, world, fakes):
    from ketnoi.identity.auth import request_password_reset
    from ketnoi.outbox.models import OutboxMessage
    from ketnoi.outbox.service import deliver_due

    world.user("lan", roles=["home"], phone="0912345678")
    add_provider(database, world.org_a, "vt", default=True, brandnames=["KETNOI"])
    with database.session() as s:
        request_password_reset(s, "lan", "sms")
    outbox_bridge.install()
    try:
        with database.session() as s:
            assert deliver_due(s) == 1
    finally:
        outbox_bridge.uninstall()
    with database.session() as s:
        o = s.scalar(select(OutboxMessage))
        m = s.scalar(select(SmsMessage))
        assert (o.status, o.provider) == ("sent", "sms")
        assert (m.purpose, m.priority, m.outbox_id, m.short_code) == ("password_reset", 1, o.id, "KETNOI")
    ch = channel(database, fakes)
    await ch.start()
    try:
        await wait_for(lambda: statuses(database)[m.id] == "accepted")
    finally:
        await ch.stop()
    assert "Mã khôi phục mật khẩu ketnoi của bạn là" in fakes.providers["vt"].sent[0].text


def test_without_a_provider_the_outbox_keeps_its_embedded_behaviour(database, world):
    from ketnoi.outbox.models import OutboxMessage
    from ketnoi.outbox.service import deliver_due, enqueue_message

    with database.session() as s:
        enqueue_message(s, channel="sms", recipient="+84912345678", body="Xin chào", organization_id=world.org_a)
    outbox_bridge.install()
    try:
        with database.session() as s:
            deliver_due(s)
    finally:
        outbox_bridge.uninstall()
    with database.session() as s:
        assert s.scalar(select(OutboxMessage.provider)) == "log"
        assert s.scalar(select(func.count(SmsMessage.id))) == 0


def test_an_unsendable_notice_is_recorded_as_failed_with_the_reason(database, world):
    from ketnoi.outbox.service import deliver_due, enqueue_message

    add_provider(database, world.org_a, "vt", default=True)
    with database.session() as s:
        enqueue_message(s, channel="sms", recipient="02363822222", body="Thông báo", organization_id=world.org_a)
    outbox_bridge.install()
    try:
        with database.session() as s:
            deliver_due(s)
    finally:
        outbox_bridge.uninstall()
    with database.session() as s:
        m = s.scalar(select(SmsMessage))
        assert (m.status, m.last_error) == ("failed", "Không phải số di động Việt Nam hợp lệ.")


def test_citizen_milestones_use_the_organizations_templates(database, world):
    from ketnoi.outbox.service import deliver_due
    from ketnoi.reports import schemas as RS
    from ketnoi.reports.service import create_report
    from ketnoi.sms import config
    from ketnoi.sms import schemas as S
    from tests.factory import SYSTEM

    add_provider(database, world.org_a, "vt", default=True)
    with database.session() as s:
        config.create_template(s, SYSTEM, S.TemplateIn(
            code="report_received", name="Tiếp nhận", body="UBND tỉnh A đã nhận phản ánh {code} ({title}).",
            organization_id=world.org_a))
        r = create_report(s, SYSTEM, RS.ReportIn(title="Ngập nước", content="Ngập sâu", channel="phone",
                                                 citizen_phone="0912345678", organization_id=world.org_a))
        code, rid = r.code, r.id
    outbox_bridge.install()
    try:
        with database.session() as s:
            deliver_due(s)
    finally:
        outbox_bridge.uninstall()
    with database.session() as s:
        m = s.scalar(select(SmsMessage))
        assert (m.text, m.report_id, m.purpose) == (f"UBND tỉnh A đã nhận phản ánh {code} (Ngập nước).", rid,
                                                    "report_received")
