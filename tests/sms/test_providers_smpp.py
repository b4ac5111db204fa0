"""SMPP provider against an SMPP 3.4 peer (SMS-01, SMS-02, SMS-04).

The peer is the hand-written, spec-following SMSC in tests/sms/peers/smsc.py: no SMPP server runs
here from Debian or the installed Python packages (Kannel is an SMPP client; its test/drive_smpp is
bearerbox's throughput driver, answers "Unhandled SMPP PDU" to bind_transceiver and needs a
bearerbox). Its codec is independent of smpplib, which the provider uses.
Assertions are on what the peer received (bytes, counts, order), never on durations.
"""

from __future__ import annotations

import asyncio

import pytest

from ketnoi.sms.providers.base import OutgoingSms, PermanentFailure, ProviderConfig, TemporaryFailure
from ketnoi.sms.providers.registry import build_provider
from tests.sms.peers.smsc import RTHROTTLED

VI = ("Kính gửi ông/bà: phản ánh về việc ngập úng tại phường Cầu Giấy đã được tiếp nhận và chuyển đến Ủy ban "
      "nhân dân quận xử lý trong 05 ngày làm việc. Mã phản ánh: PA-2026-000123. Cảm ơn ông/bà đã liên hệ.")


def provider(smsc, **over):
    cfg = {"host": "127.0.0.1", "port": smsc.port, "system_id": "ketnoi", "password": "secret", "rate": 500,
           "window": 10, "reconnect_min": 0.05, "reconnect_max": 0.2, "response_timeout": 3,
           "throttle_backoff": 0.2, "mo_hold_seconds": 2, **over}
    return build_provider(ProviderConfig(id="p1", name="smpp-test", kind="smpp", config=cfg))


def sms(i: int | str = 1, text: str = "Xin chao", sender: str = "UBND-HN") -> OutgoingSms:
    to = f"+8490{int(i):07d}" if str(i).isdigit() else str(i)
    return OutgoingSms(message_id=f"m-{i}", to=to, text=text, sender=sender)


async def until(pred, timeout: float = 10.0):
    for _ in range(int(timeout / 0.02)):
        if pred():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("timed out")


@pytest.fixture
async def started(smsc, sink):
    made = []

    async def make(**over):
        p = provider(smsc, **over)
        await p.start(sink)
        made.append(p)
        await until(lambda: p.status()["state"] == "bound")
        return p

    yield make
    for p in made:
        await p.stop()


async def test_long_vietnamese_message_split_into_ucs2_parts_and_delivered(smsc, sink, started):
    p = await started()
    result = await p.send(sms(1, VI))
    parts = smsc.accepted
    assert result.parts == len(parts) == 3 and result.encoding == "ucs2"
    assert result.provider_message_ids == [s.message_id for s in parts]
    ref = parts[0].short_message[3]
    for i, s in enumerate(parts, 1):
        assert (s.esm_class, s.data_coding, s.registered_delivery) == (0x40, 8, 1)
        assert s.short_message[:6] == bytes([5, 0, 3, ref, 3, i])
        assert (s.source, s.source_ton, s.source_npi, s.dest, s.dest_ton) == ("UBND-HN", 5, 0, "84900000001", 1)
    assert b"".join(s.short_message[6:] for s in parts).decode("utf-16-be") == VI
    await until(lambda: len(sink.receipts) == 3)
    assert {(r.provider_message_id, r.status) for r in sink.receipts} == {(i, "delivered") for i in
                                                                          result.provider_message_ids}


async def test_plain_text_goes_as_gsm7_unpacked(smsc, started):
    p = await started()
    result = await p.send(sms(2, "Ma PA-2026-1: {da tiep nhan} 100€", sender="1022"))
    (s,) = smsc.accepted
    assert result.encoding == "gsm7" and (s.data_coding, s.esm_class) == (0, 0)
    assert s.short_message == b"Ma PA-2026-1: \x1b\x28da tiep nhan\x1b\x29 100\x1b\x65"
    assert (s.source_ton, s.source_npi) == (0, 1)  # a short code


async def test_permanent_error_is_not_retried(smsc, started):
    p = await started()
    with pytest.raises(PermanentFailure) as exc:
        await p.send(sms("+8412"))
    assert exc.value.code == "0x0000000B" and "Invalid Destination Address" in exc.value.reason
    assert len(smsc.submits) == 1


async def test_disconnect_mid_send_reconnects_and_nothing_is_lost_or_sent_twice(smsc, started):
    p = await started(window=5)
    smsc.drop_after = 7  # bind + 5 submits answered; the 6th submit_sm arrives and the SMSC goes away
    results = await asyncio.gather(*(p.send(sms(i, f"Tin so {i}")) for i in range(20)))
    accepted = [s.dest for s in smsc.accepted]
    assert sorted(accepted) == sorted(f"8490{i:07d}" for i in range(20))  # each exactly once
    assert len(smsc.sessions) >= 2 and p.status()["binds"][0]["reconnects"] >= 1
    assert all(r.parts == 1 for r in results)
    # The unanswered submit(s) were resent, and said so (the peer dropped them before accepting).
    assert sum(r.resent_in_doubt for r in results) == p.status()["resent_in_doubt"] >= 1


async def test_lost_response_is_resent_and_flagged(smsc, started):
    p = await started(window=1)
    smsc.drop_after_accept = 3  # the 3rd submit is accepted but its response never leaves
    results = [await p.send(sms(i)) for i in range(5)]
    dests = [s.dest for s in smsc.accepted]
    assert dests.count("84900000002") == 2 and len(dests) == 6  # at-least-once, the copy is known:
    assert [r.resent_in_doubt for r in results] == [0, 0, 1, 0, 0]


async def test_lost_response_with_in_doubt_fail_is_never_resent(smsc, started):
    p = await started(window=1, in_doubt="fail")
    smsc.drop_after_accept = 2
    await p.send(sms(0))
    with pytest.raises(PermanentFailure) as exc:
        await p.send(sms(1))
    assert exc.value.code == "in_doubt"
    await until(lambda: p.status()["state"] == "bound")
    await p.send(sms(2))
    assert [s.dest for s in smsc.accepted] == ["84900000000", "84900000001", "84900000002"]


async def test_throttled_first_part_backs_off_and_fails_temporarily(smsc, started):
    p = await started(window=1, throttle_backoff=0.3)
    smsc.throttle = {2}
    await p.send(sms(0))
    with pytest.raises(TemporaryFailure) as exc:
        await p.send(sms(1))
    assert exc.value.code == "throttled"
    await p.send(sms(1))  # the core's retry
    assert [(s.dest, s.status) for s in smsc.submits] == [
        ("84900000000", 0), ("84900000001", RTHROTTLED), ("84900000001", 0)]
    # Nothing was submitted during the pause that followed the throttling answer.
    assert smsc.submits[2].at - smsc.throttled_at[0] >= 0.3 * 0.8  # a lower bound: slowness only adds
    assert p.status()["throttled"] == 1


async def test_throttled_later_part_is_retried_without_resending_earlier_parts(smsc, started):
    p = await started(window=1, throttle_backoff=0.05)
    smsc.throttle = {2, 3}
    result = await p.send(sms(1, VI))
    seqs = [s.short_message[5] for s in smsc.accepted]
    assert seqs == [1, 2, 3] and result.parts == 3
    assert [s.status for s in smsc.submits] == [0, RTHROTTLED, RTHROTTLED, 0, 0]


async def test_rate_limit_is_respected_as_the_peer_sees_it(smsc, started):
    p = await started(rate=20, window=10)
    await asyncio.gather(*(p.send(sms(i)) for i in range(30)))
    times = sorted(s.at for s in smsc.accepted)
    assert len(times) == 30
    # At 20/s with a bucket of one, any half second holds about 10 submits; unlimited, all 30 would
    # arrive within milliseconds. The margin absorbs the peer reading late, never the limiter failing.
    busiest = max(sum(1 for t in times if t0 <= t < t0 + 0.5) for t0 in times)
    assert busiest <= 15


async def test_incoming_is_acknowledged_only_after_the_sink_stored_it(smsc, sink, started):
    await started()
    sink.gate = asyncio.Event()
    ack = smsc.deliver_mo("84912345678", "1022", "Đường Láng ngập sâu".encode("utf-16-be"), 8)
    await until(lambda: sink.calls == 1)
    await asyncio.sleep(0.1)
    assert not ack.done()  # stored? not yet: no deliver_sm_resp
    sink.gate.set()
    assert await asyncio.wait_for(ack, 5) == 0
    (m,) = sink.incoming_sms
    assert (m.sender, m.to, m.text, m.parts) == ("84912345678", "1022", "Đường Láng ngập sâu", 1)


async def test_concatenated_incoming_is_reassembled_and_acknowledged_after_storing(smsc, sink, started):
    await started()
    data = VI.encode("utf-16-be")
    chunks = [data[i:i + 134] for i in range(0, len(data), 134)]
    acks = {}
    for seq in (2, 3, 1):  # out of order
        udh = bytes([5, 0, 3, 0x99, len(chunks), seq])
        acks[seq] = smsc.deliver_mo("84912345678", "1022", chunks[seq - 1], 8, udh=udh)
        await asyncio.sleep(0.05)
        if seq != 1:
            assert not acks[seq].done()  # held until the whole message is stored
    assert [await asyncio.wait_for(acks[s], 5) for s in (1, 2, 3)] == [0, 0, 0]
    (m,) = sink.incoming_sms
    assert m.text == VI and m.parts == 3


async def test_storage_failure_asks_the_smsc_to_retry(smsc, sink, started):
    await started()
    sink.fail = True
    ack = smsc.deliver_mo("84912345678", "1022", b"PA ngap", 0)
    assert await asyncio.wait_for(ack, 5) == 0x64  # ESME_RX_T_APPN: delivered again later
    sink.fail = False
    again = smsc.deliver_mo("84912345678", "1022", b"PA ngap", 0)
    assert await asyncio.wait_for(again, 5) == 0
    assert [m.text for m in sink.incoming_sms] == ["PA ngap"]


async def test_failed_delivery_receipt(smsc, sink, started):
    smsc.receipt_stat = "UNDELIV"
    p = await started()
    result = await p.send(sms(5))
    await until(lambda: len(sink.receipts) == 1)
    (r,) = sink.receipts
    assert (r.provider_message_id, r.status) == (result.provider_message_ids[0], "failed")
    assert r.error.startswith("UNDELIV")


async def test_separate_transmitter_and_receiver_binds(smsc, sink, started):
    p = await started(bind_mode="tx_rx")
    assert sorted(m for m, _ in smsc.binds) == ["rx", "tx"]
    await p.send(sms(7))
    await until(lambda: len(sink.receipts) == 1)  # the receipt came on the receiver bind
    ack = smsc.deliver_mo("84912345678", "1022", b"hello", 0)
    assert await asyncio.wait_for(ack, 5) == 0


async def test_refused_bind_is_reported_and_sending_fails_temporarily(smsc, sink):
    p = provider(smsc, password="wrong", response_timeout=0.5)
    await p.start(sink)
    try:
        await until(lambda: (p.status()["binds"][0]["error"] or "").find("Invalid Password") >= 0)
        with pytest.raises(TemporaryFailure) as exc:
            await p.send(sms(1))
        assert exc.value.code == "not_bound"
    finally:
        await p.stop()
    assert smsc.submits == []
