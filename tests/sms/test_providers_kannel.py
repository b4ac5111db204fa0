"""Kannel provider against real Kannel (bearerbox + smsbox) with its fake SMSC (SMS-01, SMS-02, SMS-04):
Vietnamese out in UCS-2 parts with UDH, delivery reports back through the dlr-url, incoming messages
from fakesmsc through the get-url into the inbox; the callbacks' authentication and parsing."""

from __future__ import annotations

import asyncio
import secrets
import time

import pytest
from sqlalchemy import select

from ketnoi.sms import config as sms_config
from ketnoi.sms import schemas as S
from ketnoi.sms import service
from ketnoi.sms.models import SmsMessage, SmsPart, SmsUnmatchedReceipt
from ketnoi.sms.providers import kannel as kp
from ketnoi.sms.providers.config import validate_config
from ketnoi.sms.worker import SmsChannel
from tests.factory import SYSTEM

VI = ("Kính gửi ông/bà: phản ánh về việc ngập úng tại phường Cầu Giấy đã được tiếp nhận và chuyển đến Ủy ban "
      "nhân dân quận xử lý trong 05 ngày làm việc. Mã phản ánh: PA-2026-000123.")
SECRET = secrets.token_urlsafe(24)


def kannel_config(sendsms_url: str, base_url: str) -> dict:
    return {"sendsms_url": sendsms_url, "username": "ketnoi", "password": "kannel-pw", "smsc_id": "FAKE",
            "callback_base_url": base_url, "inbound_secret": SECRET}


def add_kannel_provider(database, org_id: str, cfg: dict) -> str:
    with database.session() as s:
        return sms_config.create_provider(s, SYSTEM, S.ProviderIn(
            name="kannel-1", kind="kannel", config=cfg, organization_id=org_id, is_default=True)).id


async def until(pred, timeout: float = 20.0, what="condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")
        await asyncio.sleep(0.1)


def start_kannel(kannel, database, world, live_server) -> str:
    cfg = kannel_config(kannel.sendsms_url, live_server)
    pid = add_kannel_provider(database, world.org_a, cfg)
    kannel.mo_get_url = kp.mo_get_url(pid, validate_config("kannel", cfg))  # type: ignore[arg-type]
    kannel.start()
    return pid


async def test_vietnamese_reply_reaches_fakesmsc_in_ucs2_parts_and_the_report_marks_it_delivered(
        kannel, database, world, live_server):
    start_kannel(kannel, database, world, live_server)
    channel = SmsChannel(database, reload_seconds=0.2)
    await channel.start()
    try:
        with database.session() as s:
            mid = service.queue_sms(s, organization_id=world.org_a, phone="0901234567", text=VI, sender="1022").id
        got = await asyncio.to_thread(kannel.wait_received, 3)
        assert len(got) == 3
        ref = got[0].udh[3]
        for i, r in enumerate(got, 1):
            assert (r.sender, r.to, r.kind) == ("1022", "84901234567", "udh")
            assert r.udh == bytes([5, 0, 3, ref, 3, i])
        assert b"".join(r.data for r in got).decode("utf-16-be") == VI

        def status():
            with database.session() as s:
                return s.get(SmsMessage, mid).status

        def state() -> str:
            with database.session() as s:
                parts = [(p.provider_message_id, p.status) for p in s.scalars(select(SmsPart))]
                unmatched = [(u.provider_message_id, u.status) for u in s.scalars(select(SmsUnmatchedReceipt))]
            return f"message {status()}, parts {parts}, unmatched receipts {unmatched}"

        await until(lambda: status() == "delivered", what=lambda: f"the delivery reports ({state()})")
        with database.session() as s:
            parts = s.scalars(select(SmsPart).where(SmsPart.message_id == mid).order_by(SmsPart.seq)).all()
            assert [(p.provider_message_id, p.status) for p in parts] == [
                (f"{mid}.{i}", "delivered") for i in (1, 2, 3)]
    finally:
        await channel.stop()


async def test_gsm_text_goes_as_plain_text(kannel, database, world, live_server):
    start_kannel(kannel, database, world, live_server)
    channel = SmsChannel(database, reload_seconds=0.2)
    await channel.start()
    try:
        with database.session() as s:
            service.queue_sms(s, organization_id=world.org_a, phone="0901234567", text="Ma PA-1 {ok} 5€",
                              sender="1022")
        (r,) = await asyncio.to_thread(kannel.wait_received, 1)
        assert r.kind == "text" and r.data.decode() == "Ma PA-1 {ok} 5€"
    finally:
        await channel.stop()


async def test_incoming_message_from_fakesmsc_reaches_the_inbox(kannel, database, world, live_server):
    start_kannel(kannel, database, world, live_server)
    kannel.inject_mo("84912345678", "1022", "PA Đường Láng ngập sâu 50cm 😟")

    def inbox():
        with database.session() as s:
            return s.scalars(select(SmsMessage).where(SmsMessage.direction == "in")).all()

    await until(lambda: len(inbox()) == 1, what="the incoming message")
    (m,) = inbox()
    assert (m.phone, m.short_code, m.text, m.provider) == ("+84912345678", "1022",
                                                           "PA Đường Láng ngập sâu 50cm 😟", "kannel-1")


# --- callbacks without Kannel ---------------------------------------------------------------------
@pytest.fixture
def kannel_id(database, world):
    return add_kannel_provider(database, world.org_a, kannel_config("http://127.0.0.1:9/cgi-bin/sendsms",
                                                                   "http://127.0.0.1:8000"))


def test_callbacks_refuse_a_wrong_or_missing_secret(client, kannel_id):
    base = f"/api/v1/sms/gateway/kannel/{kannel_id}"
    for path in ("/mo?id=1&from=84912345678&to=1022&text=x", "/dlr?id=m.1&s=1"):
        for key in ("", "&k=wrong-secret-000000"):
            r = client.get(base + path + key)
            assert r.status_code == 403 and r.json()["detail"] == "Khóa xác thực của Kannel không đúng."
    assert client.get(f"/api/v1/sms/gateway/kannel/khong-co/mo?k={SECRET}").status_code == 404


def test_mo_callback_stores_once(client, kannel_id, database):
    url = f"/api/v1/sms/gateway/kannel/{kannel_id}/mo?k={SECRET}&id=k-1&from=84912345678&to=1022" \
          "&text=Xin+ch%C3%A0o&coding=0&charset=UTF-8&t=1795321719"
    for _ in range(2):  # Kannel retrying: stored once
        r = client.get(url)
        assert r.status_code == 200 and r.content == b""
    with database.session() as s:
        (m,) = s.scalars(select(SmsMessage).where(SmsMessage.direction == "in")).all()
        assert (m.text, m.phone) == ("Xin chào", "+84912345678")
    r = client.get(f"/api/v1/sms/gateway/kannel/{kannel_id}/mo?k={SECRET}&to=1022&text=x")
    assert r.status_code == 422 and "Thiếu id" in r.json()["detail"]


def test_dlr_callback_types(client, kannel_id, database):
    base = f"/api/v1/sms/gateway/kannel/{kannel_id}/dlr?k={SECRET}"
    assert client.get(base + "&id=m1.1&s=8&a=ACK%2F").status_code == 200  # SMSC accepted: nothing to record
    assert client.get(base + "&id=m1.2&s=16&a=NACK%2F0x0000000b").status_code == 200
    assert client.get(base + "&id=m1.3&s=2&a=id%3A1+stat%3AEXPIRED+err%3A000").status_code == 200
    assert client.get(base + "&id=m1.4&s=1").status_code == 200
    assert client.get(base + "&id=m1.5&s=3").status_code == 422
    with database.session() as s:
        rows = {u.provider_message_id: (u.status, u.error)
                for u in s.scalars(select(SmsUnmatchedReceipt)).all()}
    assert rows == {"m1.2": ("failed", "NACK/0x0000000b"), "m1.3": ("expired", "id:1 stat:EXPIRED err:000"),
                    "m1.4": ("delivered", "")}


def test_urls_built_for_kannel():
    cfg = validate_config("kannel", kannel_config("http://127.0.0.1:13013/cgi-bin/sendsms", "https://ketnoi.example/"))
    assert kp.mo_get_url("abc", cfg) == (
        f"https://ketnoi.example/api/v1/sms/gateway/kannel/abc/mo?k={SECRET}&id=%I&from=%p&to=%P&text=%a"
        "&coding=%c&charset=%C&t=%T")
    assert kp.dlr_url("abc", cfg, "m 1.2") == (
        f"https://ketnoi.example/api/v1/sms/gateway/kannel/abc/dlr?k={SECRET}&id=m%201.2&s=%d&a=%A&t=%T")
    with pytest.raises(Exception, match="Khóa chỉ gồm"):
        validate_config("kannel", {**kannel_config("http://a.b/c", "http://a.b"), "inbound_secret": "a%20" * 8})
