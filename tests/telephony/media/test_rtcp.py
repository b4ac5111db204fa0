"""RTCP compound packets, reception statistics, jitter (§A.8) and round-trip time (RFC 3550 §6)."""

from __future__ import annotations

import random
import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketnoi.telephony.media.rtcp import (
    APP,
    Bye,
    ReceiverReport,
    ReceptionStats,
    ReportBlock,
    RtcpError,
    RtcpReporter,
    SenderReport,
    SourceDescription,
    UnknownRtcp,
    ntp_middle,
    ntp_timestamp,
    parse_compound,
    round_trip_time,
    serialize_compound,
)
from tests.telephony.media.test_rtp import read_vector


def test_sender_report_by_hand():
    block = struct.pack("!IIIIII", 0xCAFEBABE, (25 << 24) | 3, 70000, 42, 0x11112222, 0x00018000)
    body = struct.pack("!IIIIII", 0x01020304, 0xE0000000, 0x80000000, 8000, 50, 8000) + block
    raw = struct.pack("!BBH", 0x81, 200, len(body) // 4) + body
    [sr] = parse_compound(raw)
    assert isinstance(sr, SenderReport)
    assert sr.ssrc == 0x01020304 and sr.ntp_timestamp == (0xE0000000 << 32 | 0x80000000)
    assert (sr.rtp_timestamp, sr.packet_count, sr.octet_count) == (8000, 50, 8000)
    [b] = sr.reports
    assert (b.ssrc, b.fraction_lost, b.cumulative_lost, b.highest_sequence, b.jitter) == (0xCAFEBABE, 25, 3, 70000, 42)
    assert (b.lsr, b.dlsr) == (0x11112222, 0x18000)
    assert serialize_compound([sr]) == raw


def test_negative_cumulative_loss_is_24_bit_signed():
    b = ReportBlock(1, 0, -2, 10, 0)
    assert b.pack()[5:8] == b"\xff\xff\xfe"
    assert ReportBlock.unpack(b.pack(), 0).cumulative_lost == -2
    assert ReportBlock.unpack(ReportBlock(1, cumulative_lost=1 << 30).pack(), 0).cumulative_lost == (1 << 23) - 1


def test_compound_rr_sdes_bye_round_trip():
    packets = [ReceiverReport(7, [ReportBlock(9, 12, 5, 1000, 80, 1, 2)]),
               SourceDescription([(7, [(1, b"ketnoi@127.0.0.1"), (6, b"ketnoi")]), (8, [(1, b"x")])]),
               Bye([7, 8], "hết giờ")]
    raw = serialize_compound(packets)
    assert len(raw) % 4 == 0
    assert parse_compound(raw) == packets
    assert parse_compound(raw)[1].cname(8) == "x"


def test_real_baresip_rtcp():
    app, sr_compound, bye_compound = read_vector("baresip_rtcp.bin")
    [ping] = parse_compound(app)
    assert isinstance(ping, UnknownRtcp) and ping.packet_type == APP and ping.body[4:8] == b"PING"
    sr, sdes = parse_compound(sr_compound)
    assert isinstance(sr, SenderReport) and sr.reports == [] and sr.packet_count > 0
    assert sdes.cname(sr.ssrc) == "sip:bob@127.0.0.1:35090"
    bye, sdes2 = parse_compound(bye_compound)
    assert bye == Bye([sr.ssrc], "Adjo") and sdes2.cname(sr.ssrc)
    assert serialize_compound(parse_compound(sr_compound)) == sr_compound


@pytest.mark.parametrize("raw", [
    b"", b"\x80\xc8", bytes.fromhex("40c80000"),  # version 1
    bytes.fromhex("80c80006 00000001"),  # length beyond the datagram
    bytes.fromhex("81c90001 00000001"),  # RR announcing one block, none present
    bytes.fromhex("81ca0001 00000001"),  # SDES chunk without item terminator
    bytes.fromhex("a0c90001 00000000 80c90000"),  # padding in a packet that is not the last
    bytes.fromhex("81cb0001 00000001 05"),  # trailing garbage
])
def test_malformed_rtcp(raw):
    with pytest.raises(RtcpError):
        parse_compound(raw)


@given(st.binary(max_size=120))
def test_parse_raises_only_rtcp_error(data):
    try:
        parse_compound(data)
    except RtcpError:
        pass


def test_interarrival_jitter_matches_rfc3550_a8():
    """Packets sent every 20 ms, delivered with a known delay pattern: the estimator follows the
    recursive formula J += (|D| − J)/16 exactly (computed here independently)."""
    rng = random.Random(5)
    stats = ReceptionStats(ssrc=1, first_seq=0)
    expected_j, prev_transit = 0.0, None
    for i in range(500):
        delay_samples = rng.choice([0, 8, 16, 40])  # 0, 1, 2, 5 ms
        arrival = (i * 160 + delay_samples + 1000) / 8000
        stats.on_rtp(i, i * 160, arrival, 160)
        transit = int(arrival * 8000) - i * 160
        if prev_transit is not None:
            expected_j += (abs(transit - prev_transit) - expected_j) / 16
        prev_transit = transit
    assert stats.jitter == pytest.approx(expected_j, abs=1e-6)
    assert 8 < stats.jitter < 40  # a few milliseconds, in timestamp units


def test_constant_delay_has_no_jitter_and_timestamp_wrap_is_harmless():
    stats = ReceptionStats(1, 0)
    base = 0xFFFFFF00
    for i in range(100):
        stats.on_rtp(i, (base + i * 160) & 0xFFFFFFFF, 10.0 + i * 0.02, 160)
    assert stats.jitter < 1.0


def test_loss_fraction_and_cumulative_in_report_block():
    stats = ReceptionStats(1, 0)
    for i in range(100):
        if i % 10 != 5:  # 10 % loss
            stats.on_rtp(i, i * 160, i * 0.02, 160)
    block = stats.report_block(now=2.0)
    assert block.cumulative_lost == 10 and block.highest_sequence == 99
    assert block.fraction_lost == pytest.approx(256 * 10 / 99, abs=1)
    assert stats.report_block(now=2.1).fraction_lost == 0  # new interval, nothing expected


def test_rtt_from_lsr_and_dlsr():
    t_sr = 1_700_000_000.25
    lsr = ntp_middle(ntp_timestamp(t_sr))
    # the peer held our SR for 0.5 s and its report reached us 0.62 s after we sent the SR
    block = ReportBlock(1, lsr=lsr, dlsr=int(0.5 * 65536))
    assert round_trip_time(block, t_sr + 0.62) == pytest.approx(0.12, abs=0.001)
    assert round_trip_time(ReportBlock(1), t_sr) is None


def test_two_reporters_exchange_reports_and_learn_rtt_loss_and_jitter():
    a, b = RtcpReporter(ssrc=0xA), RtcpReporter(ssrc=0xB)
    wall0, now = 1_800_000_000.0, 100.0
    for i in range(250):  # a sends 5 s of audio; b loses every 25th packet
        a.on_sent(160, i * 160, now + i * 0.02)
        if i % 25 != 3:
            b.on_rtp(0xA, i, i * 160, now + i * 0.02 + 0.01, 160)
    sr = a.build_report(now + 5.0, wall0 + 5.0)
    assert isinstance(parse_compound(sr)[0], SenderReport)
    b.on_rtcp(sr, now + 5.03, wall0 + 5.03)  # 30 ms one way
    rr = b.build_report(now + 5.23, wall0 + 5.23)  # b answers 0.2 s later
    assert isinstance(parse_compound(rr)[0], ReceiverReport)  # b sent nothing: RR
    a.on_rtcp(rr, now + 5.26, wall0 + 5.26)
    q = a.stats()
    assert q.rtt_ms == pytest.approx(60, abs=2)
    assert q.remote_packets_lost == 10 and q.remote_fraction_lost > 0.03
    qb = b.stats()
    assert qb.packets_lost == 10 and qb.packets_received == 239 and qb.loss_ratio == pytest.approx(10 / 249)
    bye = parse_compound(a.build_bye("kết thúc"))
    assert isinstance(bye[-1], Bye) and bye[-1].reason == "kết thúc"
    b.on_rtcp(a.build_bye(), now + 6, wall0 + 6)
    assert b.bye_received


def test_statistics_survive_a_change_of_source():
    r = RtcpReporter(ssrc=1)
    for i in range(10):
        r.on_rtp(0xA, i, i * 160, i * 0.02, 160)
    for i in range(5, 20):
        if i != 9:
            r.on_rtp(0xB, 1000 + i, i * 160, 1 + i * 0.02, 160)
    q = r.stats()
    assert q.packets_received == 9 + 13 and q.packets_lost == 1 and q.packets_expected == 9 + 14
