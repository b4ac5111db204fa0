"""Acceptance of the SMS channel against real Kannel (bearerbox + smsbox) and its fake SMSC (issue 6):
an incoming message reaches the inbox and becomes a report — by a coordinator (CRM-06) and by the
``PA`` keyword rule with its acknowledgement; the reply goes out and the fake SMSC receives it in
UCS-2; delivery reports update the status. The ketnoi side runs as a real HTTP server (Kannel's
get-url and dlr-url reach it) with the SMS channel (providers, sink, outbox sender) started here."""

from __future__ import annotations

import asyncio
import secrets
import time

import httpx
import pytest
from sqlalchemy import select

from ketnoi.reports.models import Report
from ketnoi.sms import config as sms_config
from ketnoi.sms import schemas as S
from ketnoi.sms.models import SmsMessage
from ketnoi.sms.providers import kannel as kp
from ketnoi.sms.providers.config import validate_config
from ketnoi.sms.worker import SmsChannel
from tests.conftest import PASSWORD
from tests.factory import SYSTEM

ROLES = ["home", "scope.all_units", "sms.inbox", "sms.send", "sms.history", "reports.read", "reports.create"]


def kannel_config(sendsms_url: str, base_url: str) -> dict:
    """Kannel's sendsms account of tests/sms/peers/kannel.py; callbacks to the live server."""
    return {"sendsms_url": sendsms_url, "username": "ketnoi", "password": "kannel-pw", "smsc_id": "FAKE",
            "callback_base_url": base_url, "inbound_secret": secrets.token_urlsafe(24)}


async def until(pred, timeout: float = 30.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


@pytest.fixture
async def gateway(kannel, database, world, live_server):
    """Kannel pointed at the live ketnoi server, the provider configured, the channel running."""
    cfg = kannel_config(kannel.sendsms_url, live_server)
    with database.session() as s:
        pid = sms_config.create_provider(s, SYSTEM, S.ProviderIn(
            name="kannel-1", kind="kannel", config=cfg, organization_id=world.org_a, is_default=True,
            brandnames=["1022"])).id
    kannel.mo_get_url = kp.mo_get_url(pid, validate_config("kannel", cfg))  # type: ignore[arg-type]
    await asyncio.to_thread(kannel.start)
    channel = SmsChannel(database, reload_seconds=0.2)
    channel.sender.poll_seconds = 0.1
    await channel.start()
    try:
        yield kannel
    finally:
        await channel.stop()


def text_of(r) -> str:
    """What the fake SMSC got: UCS-2 octets unless Kannel sent plain text."""
    return r.data.decode() if r.kind == "text" else r.data.decode("utf-16-be")


def messages(database, direction: str) -> list[SmsMessage]:
    with database.session() as s:
        return list(s.scalars(select(SmsMessage).where(SmsMessage.direction == direction)
                              .order_by(SmsMessage.created_at)))


def status(database, message_id: str) -> str:
    with database.session() as s:
        return s.get(SmsMessage, message_id).status


async def test_incoming_sms_becomes_a_report_and_the_ucs2_reply_is_delivered(gateway, database, world, live_server):
    world.user("tongdai", roles=ROLES)
    async with httpx.AsyncClient(base_url=live_server, timeout=15) as api:
        token = (await api.post("/api/v1/auth/login", json={"username": "tongdai", "password": PASSWORD})).json()
        h = {"Authorization": f"Bearer {token['access_token']}"}

        # a citizen texts the hotline: the message reaches the inbox, threaded by phone
        await asyncio.to_thread(gateway.inject_mo, "84912345678", "1022", "Cột điện nghiêng sắp đổ ở ngõ 12 Trần Phú")
        await until(lambda: len(messages(database, "in")) == 1, what="the incoming message")
        threads = (await api.get("/api/v1/sms/threads", headers=h)).json()["items"]
        assert [(t["phone"], t["unhandled"]) for t in threads] == [("+84912345678", 1)]
        thread = (await api.get("/api/v1/sms/threads/0912345678", headers=h)).json()
        (m_in,) = thread["messages"]
        assert (m_in["text"], m_in["short_code"], m_in["provider"]) == (
            "Cột điện nghiêng sắp đổ ở ngõ 12 Trần Phú", "1022", "kannel-1")

        # the coordinator turns it into a report (prefilled phone and text, linked to the SMS)
        r = await api.post(f"/api/v1/sms/messages/{m_in['id']}/report", headers=h, json={"priority": "urgent"})
        assert r.status_code == 201, r.text
        report = (await api.get(f"/api/v1/reports/{r.json()['report_id']}", headers=h)).json()
        assert (report["channel"], report["citizen_phone"], report["content"], report["source_sms_id"]) == (
            "sms", "+84912345678", "Cột điện nghiêng sắp đổ ở ngõ 12 Trần Phú", m_in["id"])

        # and replies: the fake SMSC receives it in UCS-2 from the number the citizen wrote to
        reply = "Tổng đài 1022 đã chuyển phản ánh tới Điện lực, mã " + report["code"] + "."
        r = await api.post(f"/api/v1/sms/messages/{m_in['id']}/reply", headers=h, json={"text": reply})
        assert r.status_code == 201, r.text
        reply_id = r.json()["id"]
        got = await asyncio.to_thread(gateway.wait_received, 1)
        mine = [g for g in got if text_of(g) == reply]
        assert len(mine) == 1, [(g.kind, g.data) for g in got]
        assert (mine[0].sender, mine[0].to) == ("1022", "84912345678")
        assert mine[0].data == reply.encode("utf-16-be")  # UCS-2 on the wire

        # the delivery report comes back through Kannel's dlr-url and updates the status
        await until(lambda: status(database, reply_id) == "delivered", what="the delivery report")
        detail = (await api.get(f"/api/v1/sms/messages/{reply_id}", headers=h)).json()
        assert [x["to_status"] for x in detail["history"]] == ["queued", "sending", "accepted", "delivered"]
        assert detail["provider_ids"][0]["status"] == "delivered"


async def test_pa_keyword_creates_the_report_and_acknowledges_with_its_code(gateway, database, world):
    with database.session() as s:
        ack = sms_config.create_template(s, SYSTEM, S.TemplateIn(
            code="pa_ack", name="Xác nhận PA", body="Đã tiếp nhận phản ánh {code}. Cảm ơn bạn!",
            organization_id=world.org_a))
        sms_config.create_rule(s, SYSTEM, S.KeywordRuleIn(keyword="PA", ack_template_id=ack.id,
                                                         organization_id=world.org_a))
    await asyncio.to_thread(gateway.inject_mo, "84987654321", "1022", "PA Rác ùn ứ trước chợ Hàn 3 ngày nay")
    await until(lambda: len(messages(database, "out")) == 1, what="the acknowledgement")
    with database.session() as s:
        r = s.scalar(select(Report))
        assert (r.channel, r.citizen_phone, r.title) == ("sms", "+84987654321", "Rác ùn ứ trước chợ Hàn 3 ngày nay")
    (ack_msg,) = messages(database, "out")
    expected = f"Đã tiếp nhận phản ánh {r.code}. Cảm ơn bạn!"
    assert ack_msg.text == expected and ack_msg.report_id == r.id
    got = await asyncio.to_thread(gateway.wait_received, 1)
    assert [(g.sender, g.to, text_of(g)) for g in got] == [("1022", "84987654321", expected)]
    assert got[0].kind != "text" and got[0].data == expected.encode("utf-16-be")  # UCS-2
    await until(lambda: status(database, ack_msg.id) == "delivered", what="the delivery report")
