"""RTP endpoints on real loopback sockets: ports, symmetric RTP latching, hold, DTMF, RTCP (RFC 3550).

The far ends are bare UDP sockets (``UdpPhone``) where a test needs to forge source addresses or
inspect raw bytes; real SIPp and baresip peers are in test_real_peers.py.
"""

from __future__ import annotations

import asyncio
import socket
from dataclasses import replace

import pytest

from ketnoi.telephony.media import session
from ketnoi.telephony.media.dtmf import TelephoneEvent
from ketnoi.telephony.media.rtcp import Bye, ReceiverReport, SenderReport, parse_compound
from ketnoi.telephony.media.rtp import RtpPacket, build_packet
from ketnoi.telephony.media.session import MediaError, PortAllocator, PortsExhausted, RtpEndpoint
from ketnoi.telephony.sdp import PCMA, Direction
from tests.telephony.media.conftest import params_for, wait_for
from tests.telephony.media.helpers import free_port_block


def test_port_allocator_hands_out_even_pairs_fifo():
    ports = PortAllocator(20001, 20010)
    got = [ports.acquire() for _ in range(4)]
    assert got == [20002, 20004, 20006, 20008] and all(p % 2 == 0 for p in got)
    with pytest.raises(PortsExhausted):
        ports.acquire()
    ports.release(20004)
    ports.release(20004)  # twice: harmless
    assert ports.acquire() == 20004 and ports.available == 0
    with pytest.raises(ValueError):
        PortAllocator(100, 200)


async def test_open_skips_ports_taken_by_others():
    base = free_port_block(12)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind(("127.0.0.1", base + 1))  # the RTCP port of the first pair
    try:
        ports = PortAllocator(base, base + 11)
        ep = await RtpEndpoint.open(ports)
        assert ep.port == base + 2 and ep.rtcp_port == base + 3
        ep.close()
        assert base + 2 in ports._free
        ep.close()  # idempotent
    finally:
        blocker.close()


async def test_symmetric_rtp_latches_to_the_real_source(open_endpoint, phones):
    ep = await open_endpoint()
    sdp_addr, real, intruder = phones(), phones(), phones()
    ep.configure(params_for(sdp_addr.addr))
    assert ep.remote == sdp_addr.addr and not ep.latched
    assert ep.send(b"\xff" * 160)
    assert await wait_for(lambda: sdp_addr.drain())  # before latching: the SDP address
    real.send(build_packet(0, 1, 160, 42, b"\xff" * 160), ep.local_addr)  # behind NAT: another address
    assert await wait_for(lambda: ep.latched)
    assert ep.remote == real.addr
    ep.send(b"\x7f" * 160)
    assert await wait_for(lambda: real.drain())
    intruder.send(build_packet(0, 9, 1, 666, b"\x00" * 160), ep.local_addr)  # another source meanwhile
    real.send(build_packet(0, 2, 320, 42, b"\xff" * 160), ep.local_addr)
    assert await wait_for(lambda: ep.reporter.stats().packets_received >= 1 and ep.rx_foreign == 1)
    assert ep.remote == real.addr
    intruder.send(build_packet(18, 1, 1, 5, b"\x00" * 20), ep.local_addr)  # not negotiated: never latches
    assert await wait_for(lambda: ep.rx_invalid == 1)
    intruder.send(b"\x00" * 20, ep.local_addr)  # not RTP at all
    assert await wait_for(lambda: ep.rx_invalid == 2)


async def test_relatch_after_the_latched_source_goes_quiet(open_endpoint, phones, monkeypatch):
    monkeypatch.setattr(session, "RELATCH_AFTER", 0.2)
    ep = await open_endpoint()
    first, second = phones(), phones()
    ep.configure(params_for(first.addr))
    first.send(build_packet(0, 1, 0, 1, b"\xff" * 160), ep.local_addr)
    assert await wait_for(lambda: ep.latched and ep.remote == first.addr)
    await asyncio.sleep(0.3)  # NAT rebinding: the phone's public port changes after a pause
    second.send(build_packet(0, 2, 160, 1, b"\xff" * 160), ep.local_addr)
    assert await wait_for(lambda: ep.remote == second.addr)
    # a re-INVITE with the same SDP address keeps the latch; a new address resets it
    ep.configure(params_for(first.addr, direction=Direction.SENDONLY))
    assert ep.latched and ep.remote == second.addr
    third = phones()
    ep.configure(params_for(third.addr))
    assert not ep.latched and ep.remote == third.addr


async def test_hold_stops_sending_and_resume_continues_the_timeline(open_endpoint, phones):
    ep = await open_endpoint()
    phone = phones()
    ep.configure(params_for(phone.addr))
    assert ep.send(b"\xff" * 160, marker=True)
    ts_before = ep.tx_ts
    ep.configure(params_for(phone.addr, direction=Direction.RECVONLY))  # we were put on hold
    assert not ep.send(b"\xff" * 160)
    await asyncio.sleep(0.1)
    ep.configure(params_for(phone.addr))
    assert ep.send(b"\xff" * 160)
    got: list[bytes] = []
    assert await wait_for(lambda: got.extend(d for d, _ in phone.drain()) or len(got) == 2)
    first, resumed = (RtpPacket.parse(d) for d in got)
    assert resumed.sequence_number == first.sequence_number + 1 and resumed.ssrc == first.ssrc
    assert 800 <= (resumed.timestamp - ts_before) % 2**32 < 8000 * 5  # advanced by the elapsed time


async def test_address_family_mismatch_is_refused(open_endpoint):
    ep = await open_endpoint()
    with pytest.raises(MediaError):
        ep.configure(params_for(("2001:db8::1", 4000)))


async def test_ipv6_endpoint():
    if not socket.has_ipv6:
        pytest.skip("no IPv6")
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
        probe.bind(("::1", 0))
        probe.close()
    except OSError:
        pytest.skip("::1 not configured")
    base = free_port_block(10)
    ports = PortAllocator(base, base + 9)
    a = await RtpEndpoint.open(ports, "::1")
    b = await RtpEndpoint.open(ports, "::1")
    try:
        a.configure(params_for(("::1", b.port)))
        b.configure(params_for(("::1", a.port)))
        got = []
        b.handler = lambda data, *rest: got.append(data)
        a.send(b"\xff" * 160)
        assert await wait_for(lambda: got)
        assert b.latched and b.remote[:2] == ("::1", a.port)
    finally:
        a.close()
        b.close()


async def test_dtmf_sent_and_detected_once(open_endpoint):
    a, b = await open_endpoint(), await open_endpoint()
    a.configure(params_for(b.local_addr, te=96, rx_te=101))  # a sends with b's number 96
    b.configure(params_for(a.local_addr, te=101, rx_te=96))
    keys: list[str] = []
    b.on_dtmf = keys.append
    raw: list[bytes] = []
    b.handler = lambda data, pt, *rest: raw.append(data) if pt == 96 else None
    await a.send_dtmf("7", 80)
    await a.send_dtmf("#", 40)
    assert await wait_for(lambda: len(raw) == 10)  # 3 updates + 3 ends, then 1 update + 3 ends
    assert keys == ["7", "#"]
    packets = [RtpPacket.parse(d) for d in raw]
    assert [p.marker for p in packets[:1]] == [True] and all(p.payload_type == 96 for p in packets)
    ends = [p for p in packets if TelephoneEvent.parse(p.payload).end]
    assert len(ends) == 6  # three end packets per press (RFC 4733 §2.5.1.4)
    with pytest.raises(MediaError):
        b.configure(params_for(a.local_addr, te=None))
        await b.send_dtmf("1")


async def test_rtcp_reports_give_rtt_loss_and_bye(open_endpoint):
    a = await open_endpoint(rtcp_interval=0.15)
    b = await open_endpoint(rtcp_interval=0.15)
    a.configure(params_for(b.local_addr, PCMA))
    b.configure(params_for(a.local_addr, PCMA))
    byes = []
    b.on_rtcp_bye = lambda: byes.append(True)
    for _ in range(20):
        a.send(b"\xd5" * 160)
        b.send(b"\xd5" * 160)
        await asyncio.sleep(0.02)
    assert await wait_for(lambda: a.stats().rtt_ms is not None and b.stats().rtt_ms is not None)
    qa = a.stats()
    assert qa.packets_sent == 20 and qa.packets_received >= 18 and qa.packets_lost == 0
    assert qa.reports_received > 0 and qa.remote_packets_lost == 0 and 0 <= qa.rtt_ms < 1000
    a.close("hết giờ")
    assert await wait_for(lambda: byes)


async def test_reports_on_the_wire(open_endpoint, phones):
    ep = await open_endpoint(rtcp_interval=None)
    phone, rtcp = phones(), phones()
    ep.configure(replace(params_for(phone.addr), remote_rtcp_port=rtcp.addr[1]))
    received: list[bytes] = []

    async def next_compound():
        assert await wait_for(lambda: received.extend(d for d, _ in rtcp.drain()) or received)
        return parse_compound(received.pop(0))

    assert ep.send_rtcp_report()
    first = await next_compound()
    assert isinstance(first[0], ReceiverReport) and first[1].cname(ep.ssrc)  # nothing sent yet: RR
    ep.send(b"\xff" * 160)
    ep.send_rtcp_report()
    sr = (await next_compound())[0]
    assert isinstance(sr, SenderReport) and sr.packet_count == 1 and sr.octet_count == 160
    ep.close()
    assert isinstance((await next_compound())[-1], Bye)
