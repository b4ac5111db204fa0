"""RFC 4733 telephone events: SIPp's real captures, the generator's packet train, the detector."""

from __future__ import annotations

import random

import pytest

from ketnoi.telephony.media.dtmf import (
    DtmfDetector,
    DtmfError,
    TelephoneEvent,
    event_code,
    event_packets,
)
from ketnoi.telephony.media.rtp import RtpPacket
from tests.telephony.media.helpers import SIPP_PCAPS, read_pcap_udp

KEYS = {"0": "0", "1": "1", "2": "2", "3": "3", "4": "4", "5": "5", "6": "6", "7": "7", "8": "8", "9": "9",
        "star": "*", "pound": "#"}
pytestmark = pytest.mark.skipif(not SIPP_PCAPS.exists(), reason="sip-tester pcaps not installed")


def pcap_packets(name: str) -> list[RtpPacket]:
    return [RtpPacket.parse(d) for _, d in read_pcap_udp(SIPP_PCAPS / f"dtmf_2833_{name}.pcap")]


def test_payload_by_hand():
    # event 5, E=1, volume 10, duration 800 (RFC 4733 §2.3 layout)
    ev = TelephoneEvent.parse(bytes.fromhex("058a0320"))
    assert (ev.event, ev.end, ev.volume, ev.duration, ev.digit) == (5, True, 10, 800, "5")
    assert ev.serialize() == bytes.fromhex("058a0320")
    with pytest.raises(DtmfError):
        TelephoneEvent.parse(b"\x05")


@pytest.mark.parametrize(("name", "key"), sorted(KEYS.items()))
def test_sipp_captures_decode_to_one_key(name, key):
    packets = pcap_packets(name)
    events = [TelephoneEvent.parse(p.payload) for p in packets]
    assert packets[0].marker and {p.payload_type for p in packets} == {101}
    assert len({p.timestamp for p in packets}) == 1  # one press: one timestamp (§2.5.1.2)
    assert all(e.digit == key for e in events)
    assert [e.end for e in events][-3:] == [True] * 3 and not any(e.end for e in events[:-3])
    assert [e.duration for e in events] == sorted(e.duration for e in events)
    detector = DtmfDetector()
    found = [d for p in packets if (d := detector.feed(p.timestamp, p.payload, p.marker))]
    assert found == [key]
    assert detector.durations[packets[0].timestamp] == events[-1].duration


def test_generator_train():
    train = event_packets("#", 100, volume=10)
    events = [TelephoneEvent.parse(p.payload) for p in train]
    assert [p.marker for p in train] == [True] + [False] * (len(train) - 1)
    assert [e.duration for e in events] == [160, 320, 480, 640, 800, 800, 800]
    assert [e.end for e in events] == [False] * 4 + [True] * 3
    assert all(e.event == 11 and e.volume == 10 for e in events)
    assert [round(p.offset, 3) for p in train] == [0.0, 0.02, 0.04, 0.06, 0.08, 0.1, 0.12]
    # a press shorter than one packet still has its end packets
    short = event_packets("1", 5)
    assert [TelephoneEvent.parse(p.payload).end for p in short] == [True] * 3 and short[0].marker
    assert TelephoneEvent.parse(event_packets("A", 60_000)[-1].payload).duration == 0xFFFF
    with pytest.raises(DtmfError):
        event_code("X")
    assert event_code("flash") == 16 and event_code(7) == 7


def test_detector_with_loss_reordering_and_duplicates():
    rng = random.Random(11)
    keys = "0123456789*#ABCD" * 3
    stream = []
    ts = 1000
    for k in keys:
        for p in event_packets(k, rng.choice([60, 100, 200])):
            stream.append((ts, p.payload, p.marker))
        ts += 8000
    # lose 20 % (but never a whole press), duplicate some, swap neighbours
    noisy = []
    for item in stream:
        if rng.random() < 0.2:
            continue
        noisy.append(item)
        if rng.random() < 0.1:
            noisy.append(item)
    for i in range(0, len(noisy) - 1, 7):
        noisy[i], noisy[i + 1] = noisy[i + 1], noisy[i]
    pressed = {ts for ts, _, _ in noisy}
    detector = DtmfDetector()
    found = [d for t, payload, m in noisy if (d := detector.feed(t, payload, m))]
    expected = [k for i, k in enumerate(keys) if 1000 + i * 8000 in pressed]
    assert found == expected


def test_same_key_twice_is_two_presses_and_long_event_segments_are_one():
    detector = DtmfDetector()
    for ts in (1000, 3000):
        got = [detector.feed(ts, p.payload, p.marker) for p in event_packets("5", 60)]
        assert [g for g in got if g] == ["5"]
    # §2.5.1.3: a long event continues in a new segment (new timestamp, no marker, same event, no E bit)
    first = TelephoneEvent(5, False, 10, 0xFFFF).serialize()
    assert detector.feed(10_000, first, True) == "5"
    assert detector.feed(10_000 + 0xFFFF, TelephoneEvent(5, False, 10, 800).serialize(), False) is None
    assert detector.feed(10_000 + 0xFFFF, TelephoneEvent(5, True, 10, 1600).serialize(), False) is None
    assert detector.feed(200_000, b"\x01", True) is None  # not an event payload
