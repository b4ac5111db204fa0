"""SMS core rules: validation and queueing (SMS-02, 04), incoming storage and hand-over to the core
with keyword rules (SMS-01, 03, CRM-06), delivery receipts and the append-only history (SMS-05)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select

from ketnoi.core.errors import ValidationFailed
from ketnoi.events import bus
from ketnoi.outbox.models import OutboxMessage
from ketnoi.sms import config, sending, service
from ketnoi.sms import schemas as S
from ketnoi.sms.models import SmsMessage, SmsPart, SmsStatusHistory, SmsUnmatchedReceipt
from ketnoi.sms.providers.base import SubmitResult
from tests.factory import SYSTEM
from tests.sms.helpers import add_provider, incoming, receipt


@pytest.fixture
def events():
    seen = []
    bus.subscribe(seen.append)
    yield seen
    bus.unsubscribe(seen.append)


def queue(database, org, **kw):
    with database.session() as s:
        m = service.queue_sms(s, organization_id=org, **kw)
        return m.id


def history(database, message_id):
    with database.session() as s:
        return [(h.from_status, h.to_status) for h in s.scalars(
            select(SmsStatusHistory).where(SmsStatusHistory.message_id == message_id).order_by(SmsStatusHistory.seq))]


# --- queueing -----------------------------------------------------------------------------------
def test_queue_normalizes_phone_and_picks_encoding(database, world):
    mid = queue(database, world.org_a, phone="0912 345 678", text="Phản ánh của bạn đã được tiếp nhận")
    with database.session() as s:
        m = s.get(SmsMessage, mid)
        assert (m.phone, m.direction, m.status, m.encoding, m.parts) == ("+84912345678", "out", "queued", "ucs2", 1)
        assert m.short_code == "1022"  # no provider yet: the configured default sender
    assert history(database, mid) == [("", "queued")]
    plain = queue(database, world.org_a, phone="84987654321", text="x" * 161)
    with database.session() as s:
        m = s.get(SmsMessage, plain)
        assert (m.encoding, m.parts) == ("gsm7", 2)


@pytest.mark.parametrize("phone, text, field, message", [
    ("", "Xin chào", "phone", "Nhập số điện thoại di động nhận tin."),
    ("02363822222", "Xin chào", "phone", "Không phải số di động Việt Nam hợp lệ."),
    ("0912abc", "Xin chào", "phone", "Số điện thoại chỉ gồm chữ số (có thể bắt đầu bằng +)."),
    ("0912345678", "   ", "text", "Nội dung tin nhắn không được để trống."),
    ("0912345678", "ă" * 537, "text", ("Tin nhắn quá dài: 537 ký tự, cần 9 phần tin (tối đa 8). Tiếng Việt có dấu "
                                      "tối đa 536 ký tự, không dấu tối đa 1224 ký tự.")),
])
def test_queue_refuses_with_clear_vietnamese_messages(database, world, phone, text, field, message):
    with pytest.raises(ValidationFailed) as e, database.session() as s:
        service.queue_sms(s, organization_id=world.org_a, phone=phone, text=text)
    assert e.value.errors == [{"field": field, "message": message}]


def test_templates_render_variables_and_refuse_missing_ones(database, world):
    with database.session() as s:
        t = config.create_template(s, SYSTEM, S.TemplateIn(
            code="hen", name="Hẹn", body="Phản ánh {code}: hẹn {gio}.", brandname="UBND-A",
            organization_id=world.org_a))
        m = service.queue_sms(s, organization_id=world.org_a, phone="0912345678", template=t,
                              variables={"code": "PA-2026-000001", "gio": "8h"})
        assert (m.text, m.short_code, m.template_id) == ("Phản ánh PA-2026-000001: hẹn 8h.", "UBND-A", t.id)
        with pytest.raises(ValidationFailed) as e:
            service.queue_sms(s, organization_id=world.org_a, phone="0912345678", template=t, variables={"code": "x"})
        assert e.value.errors[0]["message"] == "Thiếu giá trị cho biến: {gio}."
    with pytest.raises(ValidationFailed) as e, database.session() as s:
        config.create_template(s, SYSTEM, S.TemplateIn(code="sai", name="Sai", body="Mã {code",
                                                       organization_id=world.org_a))
    assert e.value.errors[0]["field"] == "body" and "ngoặc nhọn" in e.value.errors[0]["message"]


def test_default_sender_is_the_default_providers_brandname(database, world):
    add_provider(database, world.org_a, "vt", brandnames=["UBND-TINH"], default=True)
    mid = queue(database, world.org_a, phone="0912345678", text="Xin chào")
    with database.session() as s:
        assert s.get(SmsMessage, mid).short_code == "UBND-TINH"


# --- incoming -----------------------------------------------------------------------------------
def test_incoming_is_stored_once_and_announced_to_the_inbox(database, world, events):
    add_provider(database, world.org_a, "kannel-a")
    with database.session() as s:
        m = service.store_incoming(s, incoming("kannel-a", "mo-1", sender="84912345678", text="Đèn đường hỏng"))
        assert m is not None
    with database.session() as s:
        assert service.store_incoming(s, incoming("kannel-a", "mo-1", text="Đèn đường hỏng")) is None
    with database.session() as s:
        rows = s.scalars(select(SmsMessage)).all()
        assert len(rows) == 1
        m = rows[0]
        assert (m.direction, m.phone, m.short_code, m.status, m.organization_id) == (
            "in", "+84912345678", "1022", "received", world.org_a)
        assert s.scalar(select(SmsPart.provider_message_id).where(SmsPart.message_id == m.id)) == "mo-1"
    received = [e for e in events if e.type == "sms.received"]
    assert len(received) == 1
    assert received[0].org_id == world.org_a and received[0].permission == "sms.inbox"
    assert received[0].data["phone"] == "+84912345678" and "Đèn đường hỏng" in received[0].data["message"]


def test_incoming_from_unknown_provider_or_odd_sender_is_kept(database, world, events):
    with database.session() as s:
        m = service.store_incoming(s, incoming("khong-ro", "x-1", sender="VIETTEL", text="Khuyến mãi"))
        assert (m.phone, m.organization_id) == ("VIETTEL", None)
    assert not [e for e in events if e.type == "sms.received"]  # nobody's inbox: no organization


# --- receipts -----------------------------------------------------------------------------------
def _accepted(database, world, ids=("p-1",), provider="vt"):
    mid = queue(database, world.org_a, phone="0912345678", text="Thông báo")
    with database.session() as s:
        (c,) = sending.claim(s, "w1", 10)
    with database.session() as s:
        sending.record(s, "w1", [sending.Outcome(id=c.id, provider=provider, result=SubmitResult(
            provider_message_ids=list(ids), parts=len(ids), encoding="ucs2"))])
    return mid


def test_receipt_updates_status_with_history_and_is_idempotent(database, world, events):
    mid = _accepted(database, world)
    for _ in range(2):
        with database.session() as s:
            assert service.apply_receipt(s, receipt("vt", "p-1", "delivered"))
    with database.session() as s:
        m = s.get(SmsMessage, mid)
        assert m.status == "delivered" and m.delivered_at is not None
    assert history(database, mid) == [("", "queued"), ("queued", "sending"), ("sending", "accepted"),
                                      ("accepted", "delivered")]
    assert [e.data["status"] for e in events if e.type == "sms.status"] == ["delivered"]


def test_multipart_message_is_delivered_when_every_part_is(database, world):
    mid = _accepted(database, world, ids=("a-1", "a-2"))
    with database.session() as s:
        service.apply_receipt(s, receipt("vt", "a-1", "delivered"))
    assert dict(history(database, mid))["sending"] == "accepted"
    with database.session() as s:
        assert s.get(SmsMessage, mid).status == "accepted"
        service.apply_receipt(s, receipt("vt", "a-2", "failed", "Máy tắt quá lâu"))
    with database.session() as s:
        m = s.get(SmsMessage, mid)
        assert m.status == "failed" and m.last_error == "Máy tắt quá lâu"


def test_receipt_before_the_ids_are_recorded_is_applied_later(database, world):
    mid = queue(database, world.org_a, phone="0912345678", text="Nhanh hơn cả phản hồi")
    with database.session() as s:
        (c,) = sending.claim(s, "w1", 10)
    with database.session() as s:
        assert service.apply_receipt(s, receipt("vt", "early-1", "delivered")) is False
        assert service.apply_receipt(s, receipt("vt", "early-1", "delivered")) is False  # stored once
    with database.session() as s:
        assert s.scalar(select(func.count(SmsUnmatchedReceipt.id))) == 1
        sending.record(s, "w1", [sending.Outcome(id=c.id, provider="vt", result=SubmitResult(
            provider_message_ids=["early-1"], parts=1, encoding="ucs2"))])
    with database.session() as s:
        assert s.get(SmsMessage, mid).status == "delivered"
        assert s.scalar(select(func.count(SmsUnmatchedReceipt.id))) == 0


def test_a_receipt_that_raced_the_ids_is_matched_by_the_sweep(database, world):
    """The receipt's transaction read 'no such id' before the submit's answer committed and stored it
    as unmatched after: the sender's periodic sweep applies it."""
    mid = _accepted(database, world, ids=("race-1",))
    with database.session() as s:
        s.add(SmsUnmatchedReceipt(provider="vt", provider_message_id="race-1", status="delivered"))
    with database.session() as s:
        assert service.apply_late_matches(s) == 1
    with database.session() as s:
        assert s.get(SmsMessage, mid).status == "delivered"
        assert service.apply_late_matches(s) == 0


# --- keyword rules (CRM-06) ---------------------------------------------------------------------
def _keyword_world(database, world, *, ack=True, category=None):
    add_provider(database, world.org_a, "kannel-a")
    with database.session() as s:
        t = config.create_template(s, SYSTEM, S.TemplateIn(
            code="xac_nhan", name="Xác nhận", body="Đã nhận phản ánh {code}. Cảm ơn bạn!",
            organization_id=world.org_a)) if ack else None
        config.create_rule(s, SYSTEM, S.KeywordRuleIn(keyword="pa", ack_template_id=t.id if t else None,
                                                     category_id=category, organization_id=world.org_a))


def test_pa_keyword_creates_a_linked_report_and_one_acknowledgement(database, world):
    from ketnoi.reports.models import Report

    _keyword_world(database, world)
    with database.session() as s:
        service.store_incoming(s, incoming("kannel-a", "mo-9", sender="0912345678", to="8077",
                                           text="PA: Rác tràn ra đường Lê Lợi\nđã 3 ngày"))
    with database.session() as s:
        r = s.scalar(select(Report))
        m_in = s.scalar(select(SmsMessage).where(SmsMessage.direction == "in"))
        assert (r.channel, r.citizen_phone, r.source_sms_id, r.title) == (
            "sms", "+84912345678", m_in.id, "Rác tràn ra đường Lê Lợi")
        assert r.content == "Rác tràn ra đường Lê Lợi\nđã 3 ngày"
        assert m_in.report_id == r.id and m_in.handled_at is not None
        outs = s.scalars(select(SmsMessage).where(SmsMessage.direction == "out")).all()
        assert [(o.text, o.short_code, o.phone, o.report_id, o.reply_to_id) for o in outs] == [
            (f"Đã nhận phản ánh {r.code}. Cảm ơn bạn!", "8077", "+84912345678", r.id, m_in.id)]
        notice = s.scalar(select(OutboxMessage).where(OutboxMessage.purpose == "report_received"))
        assert (notice.status, notice.provider) == ("sent", "sms") and outs[0].outbox_id == notice.id


def test_keyword_without_ack_template_uses_the_citizen_notice_from_the_short_code(database, world):
    _keyword_world(database, world, ack=False)
    with database.session() as s:
        service.store_incoming(s, incoming("kannel-a", "mo-10", text="pa cây đổ chắn đường", to="8077"))
    with database.session() as s:
        (out,) = s.scalars(select(SmsMessage).where(SmsMessage.direction == "out")).all()
        assert out.short_code == "8077" and "đã tiếp nhận phản ánh của bạn" in out.text


def test_a_failing_keyword_rule_leaves_the_message_in_the_inbox(database, world):
    from ketnoi.catalog.models import Category
    from ketnoi.reports.models import Report

    with database.session() as s:
        c = Category(organization_id=world.org_a, code="X", name="Tạm")
        s.add(c)
        s.flush()
        cid = c.id
    _keyword_world(database, world, category=cid)
    with database.session() as s:
        s.get(Category, cid).is_active = False  # the rule's category is retired afterwards
    with database.session() as s:
        m = service.store_incoming(s, incoming("kannel-a", "mo-11", text="PA ổ gà"))
        assert m is not None
    with database.session() as s:
        m = s.scalar(select(SmsMessage))
        assert m.report_id is None and m.handled_at is None and m.status == "received"
        assert s.scalar(select(func.count(Report.id))) == 0


def test_message_without_keyword_creates_nothing(database, world):
    from ketnoi.reports.models import Report

    _keyword_world(database, world)
    with database.session() as s:
        service.store_incoming(s, incoming("kannel-a", "mo-12", text="Cho hỏi thủ tục cấp lại CCCD"))
        service.store_incoming(s, incoming("kannel-a", "mo-13", text="PA"))  # the keyword alone
    with database.session() as s:
        assert s.scalar(select(func.count(Report.id))) == 0


# --- retention ----------------------------------------------------------------------------------
def test_purge_keeps_queued_messages_and_recent_ones(database, world):
    old = datetime.now(UTC) - timedelta(days=400)
    add_provider(database, world.org_a, "kannel-a")
    with database.session() as s:
        service.store_incoming(s, incoming("kannel-a", "old-1", at=old))
        service.store_incoming(s, incoming("kannel-a", "new-1"))
        waiting = service.queue_sms(s, organization_id=world.org_a, phone="0912345678", text="Chờ gửi")
        waiting.created_at = old
    with database.session() as s:
        assert service.purge_log(s, datetime.now(UTC) - timedelta(days=365)) == 1
    with database.session() as s:
        left = s.scalars(select(SmsMessage)).all()
        assert sorted(m.status for m in left) == ["queued", "received"]
        assert s.scalar(select(func.count(SmsPart.id))) == 1
