"""RTP packets and sequence numbering (RFC 3550 §5.1, §A.1): hand-built vectors and real captures."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ketnoi.telephony.media import g711
from ketnoi.telephony.media.rtp import (
    RtpError,
    RtpPacket,
    SequenceTracker,
    build_packet,
    is_rtcp,
    parse_header,
    payload_bounds,
    seq_delta,
    ts_delta,
)
from tests.telephony.media.helpers import SIPP_PCAPS, peak_frequency, read_pcap_udp

VECTORS = Path(__file__).parent / "vectors"


def read_vector(name: str) -> list[bytes]:
    data = (VECTORS / name).read_bytes()
    out, off = [], 0
    while off < len(data):
        n = int.from_bytes(data[off:off + 2], "big")
        out.append(data[off + 2:off + 2 + n])
        off += 2 + n
    return out


def test_minimal_header_by_hand():
    # V=2 P=0 X=0 CC=0 | M=1 PT=0 | seq 0x1234 | ts 0x11223344 | SSRC 0xDEADBEEF | "abc"
    raw = bytes.fromhex("80801234 11223344 deadbeef") + b"abc"
    p = RtpPacket.parse(raw)
    assert (p.payload_type, p.marker, p.sequence_number, p.timestamp, p.ssrc, p.payload) == (
        0, True, 0x1234, 0x11223344, 0xDEADBEEF, b"abc")
    assert p.serialize() == raw
    assert build_packet(0, 0x1234, 0x11223344, 0xDEADBEEF, b"abc", marker=True) == raw
    assert parse_header(raw) == (0, True, 0x1234, 0x11223344, 0xDEADBEEF)


def test_csrc_extension_and_padding_by_hand():
    # V=2 P=1 X=1 CC=2 = 0xB2 | PT 8 | two CSRCs | extension profile 0xBEDE, 1 word | "xyz" | 4 bytes padding
    raw = (bytes.fromhex("b2080001 00000010 00000042") + bytes.fromhex("00000001 00000002")
           + bytes.fromhex("bede0001 10aa0000") + b"xyz" + bytes.fromhex("00000004"))
    p = RtpPacket.parse(raw)
    assert p.csrc == (1, 2) and p.extension_profile == 0xBEDE and p.extension == bytes.fromhex("10aa0000")
    assert p.payload == b"xyz" and p.padding == 4 and p.payload_type == 8 and not p.marker
    assert p.serialize() == raw
    assert payload_bounds(raw) == (28, 31)


@pytest.mark.parametrize("raw", [
    b"", bytes(11), bytes.fromhex("40000000 00000000 00000000"),  # version 1
    bytes.fromhex("82000000 00000000 00000000 00000001"),  # CC=2 but one CSRC word
    bytes.fromhex("90000000 00000000 00000000 bede0002 00000000"),  # extension longer than packet
    bytes.fromhex("a0000000 00000000 00000000 00"),  # padding count 0
    bytes.fromhex("a0000000 00000000 00000000 0009"),  # padding beyond payload
])
def test_invalid_packets(raw):
    with pytest.raises(RtpError):
        RtpPacket.parse(raw)


@given(st.binary(max_size=80))
def test_parse_raises_only_rtp_error(data):
    try:
        p = RtpPacket.parse(data)
    except RtpError:
        return
    assert RtpPacket.parse(p.serialize()) == p


def test_sipp_capture_is_a_clean_20ms_stream_of_the_tone():
    packets = [RtpPacket.parse(d) for d in read_vector("sipp_rtp_stream_pcmu_1khz.bin")]
    assert len(packets) == 50 and {p.payload_type for p in packets} == {0}
    assert all(seq_delta(b.sequence_number, a.sequence_number) == 1 for a, b in itertools.pairwise(packets))
    assert all(ts_delta(b.timestamp, a.timestamp) == 160 for a, b in itertools.pairwise(packets))
    pcm = g711.ulaw_to_pcm16(b"".join(p.payload for p in packets))
    assert abs(peak_frequency(pcm) - 1000) < 10


def test_baresip_capture_marks_the_first_packet():
    packets = [RtpPacket.parse(d) for d in read_vector("baresip_rtp_pcmu_700hz.bin")]
    assert packets[0].marker and not any(p.marker for p in packets[1:])
    assert len({p.ssrc for p in packets}) == 1
    assert abs(peak_frequency(g711.ulaw_to_pcm16(b"".join(p.payload for p in packets))) - 700) < 10


def test_sipp_g711a_pcap_30ms_packets():
    packets = [RtpPacket.parse(d) for _, d in read_pcap_udp(SIPP_PCAPS / "g711a.pcap")]
    assert packets[0].marker and {p.payload_type for p in packets} == {8}
    assert {len(p.payload) for p in packets} == {240}
    tracker = SequenceTracker(packets[0].sequence_number)
    for p in packets:
        tracker.update(p.sequence_number)
    assert tracker.lost == 0 and tracker.received == len(packets) - 1  # §A.1: the first is probation


def test_sequence_wraps_into_the_extended_number():
    t = SequenceTracker(65530)
    for s in list(range(65530, 65536)) + list(range(10)):
        t.update(s)
    assert t.cycles == 65536 and t.extended_max == 65536 + 9
    assert t.lost == 0 and t.expected == 15  # from the second packet (probation) to 65545


def test_sequence_loss_reorder_duplicate_and_restart():
    t = SequenceTracker(100)
    for s in (100, 101, 102, 104, 103, 105, 105, 108):
        assert t.update(s) or s == 100
    assert t.extended_max == 108
    # counted from 101 (the first packet is probation): 106 and 107 missing, 105 twice
    assert t.expected == 8 and t.received == 7 and t.lost == 1
    assert t.interval_fraction_lost() == (1 << 8) // 8
    for s in (109, 112):
        t.update(s)
    assert t.interval_fraction_lost() == (2 << 8) // 4  # 110, 111 lost of 4 expected in the interval
    # a jump of 20000 is doubted once, accepted when the next one follows it (source restarted)
    assert not t.update(30000)
    assert t.update(30001)
    assert t.base_seq == 30001 and t.received == 1


def test_deltas_and_demux():
    assert seq_delta(2, 65534) == 4 and seq_delta(65534, 2) == -4
    assert ts_delta(100, 0xFFFFFF00) == 356 and ts_delta(0xFFFFFF00, 100) == -356
    assert is_rtcp(bytes([0x80, 200])) and not is_rtcp(bytes([0x80, 0x00]))
    with pytest.raises(RtpError):
        parse_header(b"\x00" * 12)
