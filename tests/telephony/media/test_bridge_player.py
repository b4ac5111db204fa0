"""Bridge (relay, µ⇄A transcoding, RFC 4733 pass-through, recording) and Player on loopback sockets.

Audio is checked by signal (FFT peak), stream continuity by header fields."""

from __future__ import annotations

import asyncio
import itertools

import pytest

from ketnoi.telephony.media import Bridge, MediaError, Player, Prompt, Recorder, g711, load_prompt, tone
from ketnoi.telephony.media.dtmf import event_packets
from ketnoi.telephony.media.rtp import RtpPacket, build_packet
from ketnoi.telephony.sdp import PCMA, PCMU, Direction
from tests.telephony.media.conftest import params_for, wait_for
from tests.telephony.media.helpers import band_energy, peak_frequency, read_wav, write_wav


async def stream(phone, to, pcm_payload: bytes, *, pt: int, ssrc: int, seq0: int = 0, ts0: int = 0):
    for i in range(len(pcm_payload) // 160):
        phone.send(build_packet(pt, seq0 + i, ts0 + i * 160, ssrc, pcm_payload[i * 160:(i + 1) * 160], i == 0), to)
        await asyncio.sleep(0.002)


async def collect(phone, count: int) -> list[RtpPacket]:
    got: list[bytes] = []
    await wait_for(lambda: got.extend(d for d, _ in phone.drain()) or len(got) >= count)
    return [RtpPacket.parse(d) for d in got]


@pytest.fixture
async def call(open_endpoint, phones):
    """Caller phone (PCMU) — leg a ⇄ bridge ⇄ leg b — callee phone (PCMA, telephone-event 96)."""
    a, b = await open_endpoint(), await open_endpoint()
    caller, callee = phones(), phones()
    a.configure(params_for(caller.addr, PCMU, te=101))
    b.configure(params_for(callee.addr, PCMA, te=96))
    return a, b, caller, callee


async def test_tones_cross_both_ways_with_transcoding(call, tmp_path):
    a, b, caller, callee = call
    rec = Recorder(tmp_path / "call.wav")
    bridge = Bridge(a, b, recorder=rec)
    bridge.start()
    await stream(caller, a.local_addr, g711.pcm16_to_ulaw(tone.sine(1000, 1.0)), pt=0, ssrc=0x1111)
    await stream(callee, b.local_addr, g711.pcm16_to_alaw(tone.sine(440, 1.0)), pt=8, ssrc=0x2222, ts0=9000)
    at_callee = await collect(callee, 50)
    at_caller = await collect(caller, 50)
    assert len(at_callee) == 50 and len(at_caller) == 50
    # the callee gets A-law with leg b's own SSRC, a continuous sequence and the marker on the first
    assert {p.payload_type for p in at_callee} == {8} and {p.ssrc for p in at_callee} == {b.ssrc}
    assert [p.marker for p in at_callee[:2]] == [True, False]
    assert all((q.sequence_number - p.sequence_number) % 65536 == 1 for p, q in itertools.pairwise(at_callee))
    assert all((q.timestamp - p.timestamp) % 2**32 == 160 for p, q in itertools.pairwise(at_callee))
    assert abs(peak_frequency(g711.alaw_to_pcm16(b"".join(p.payload for p in at_callee))) - 1000) < 10
    assert {p.payload_type for p in at_caller} == {0} and {p.ssrc for p in at_caller} == {a.ssrc}
    assert abs(peak_frequency(g711.ulaw_to_pcm16(b"".join(p.payload for p in at_caller))) - 440) < 10
    assert bridge.stats == {"relayed_ab": 50, "relayed_ba": 50, "transcoded": 100, "dropped": 0}
    bridge.stop()
    _, channels, x = read_wav(rec.close())
    assert channels == 2
    assert band_energy(x[:, 0], 1000) > 0.8 and band_energy(x[:, 1], 440) > 0.8


async def test_same_codec_relays_bytes_unchanged_and_rtcp_counts(open_endpoint, phones):
    a, b = await open_endpoint(), await open_endpoint()
    p1, p2 = phones(), phones()
    a.configure(params_for(p1.addr))
    b.configure(params_for(p2.addr))
    Bridge(a, b).start()
    payload = bytes(range(160))
    p1.send(build_packet(0, 7, 1234, 99, payload), a.local_addr)
    [out] = await collect(p2, 1)
    assert out.payload == payload and out.ssrc == b.ssrc
    assert b.stats().packets_sent == 1 and b.stats().octets_sent == 160
    assert a.stats().packets_received == 0  # RFC 3550 §A.1: the first packet is on probation


async def test_player_then_bridge_keeps_one_stream(call):
    """Prompt to the callee, then the bridge takes over: same SSRC, next sequence number, later timestamp."""
    a, b, caller, callee = call
    player = Player(b, tone.sine(700, 0.2))
    assert await player.play() is True
    prompt_packets = await collect(callee, 10)
    bridge = Bridge(a, b)
    bridge.start()
    await stream(caller, a.local_addr, g711.pcm16_to_ulaw(tone.sine(1000, 0.1)), pt=0, ssrc=5, seq0=60000,
                 ts0=4_000_000_000)
    relayed = await collect(callee, 5)
    last, first = prompt_packets[-1], relayed[0]
    assert first.ssrc == last.ssrc == b.ssrc
    assert first.sequence_number == (last.sequence_number + 1) % 65536
    assert 0 < (first.timestamp - last.timestamp) % 2**32 < 8000  # forward, by about the pause
    assert first.marker  # a new talkspurt for the receiver's jitter buffer
    # music on hold after the bridge stops continues the same way
    bridge.stop()
    moh = Player(b, Prompt(tone.sine(400, 0.1)), loop=True)
    moh.start()
    held = await collect(callee, 8)
    moh.stop()
    assert await moh.wait() is False
    assert held[0].sequence_number == (relayed[-1].sequence_number + 1) % 65536 and held[0].ssrc == b.ssrc


async def test_dtmf_passes_through_with_the_payload_type_remapped(call):
    a, b, caller, callee = call
    keys: list[str] = []
    a.on_dtmf = keys.append
    Bridge(a, b).start()
    for i, p in enumerate(event_packets("9", 60)):
        caller.send(build_packet(101, 300 + i, 8000, 77, p.payload, p.marker), a.local_addr)
    out = await collect(callee, 5)
    assert len(out) == 5 and {p.payload_type for p in out} == {96}  # the callee's number
    assert [p.payload for p in out] == [p.payload for p in event_packets("9", 60)]  # not transcoded
    assert len({p.timestamp for p in out}) == 1
    assert keys == ["9"]  # detected on the way (IVR features during a call)


async def test_unknown_payload_types_hold_and_odd_headers(call):
    a, b, caller, callee = call
    bridge = Bridge(a, b)
    bridge.start()
    caller.send(build_packet(18, 1, 0, 1, b"\x00" * 20), a.local_addr)  # G.729 first: not even latched
    assert await wait_for(lambda: a.rx_invalid == 1)
    # CSRC + padding: relayed with the padding removed and the payload transcoded
    odd = RtpPacket(0, 2, 160, 1, g711.pcm16_to_ulaw(tone.sine(1000, 0.02)), csrc=(7,), padding=4).serialize()
    caller.send(odd, a.local_addr)
    [out] = await collect(callee, 1)
    assert out.csrc == (7,) and out.padding == 0 and out.payload_type == 8
    assert out.payload == g711.ulaw_to_alaw(g711.pcm16_to_ulaw(tone.sine(1000, 0.02)))
    caller.send(build_packet(18, 3, 0, 1, b"\x00" * 20), a.local_addr)  # from the latched phone: dropped
    assert await wait_for(lambda: bridge.stats["dropped"] == 1)
    b.configure(params_for(callee.addr, PCMA, te=96, direction=Direction.RECVONLY))  # callee holds
    caller.send(build_packet(0, 4, 320, 1, b"\xff" * 160), a.local_addr)
    assert await wait_for(lambda: bridge.stats["dropped"] == 2)
    assert not callee.drain()


async def test_bridge_misuse(call, open_endpoint):
    a, b, _, _ = call
    with pytest.raises(MediaError):
        Bridge(a, a)
    Bridge(a, b).start()
    c = await open_endpoint()
    with pytest.raises(MediaError):
        Bridge(a, c).start()
    a.close()  # closing a leg stops its bridge
    assert b.bridge is None and b.handler is None


async def test_player_packets_timestamps_and_content(open_endpoint, phones, tmp_path):
    ep = await open_endpoint()
    phone = phones()
    ep.configure(params_for(phone.addr, PCMA, ptime=30))
    path = write_wav(tmp_path / "prompt.wav", tone.sine(500, 0.3))
    prompt = load_prompt(path)
    assert load_prompt(path) is prompt and prompt.duration == pytest.approx(0.3)
    player = Player(ep, path)
    assert await player.play() is True and player.packets_sent == 10
    packets = await collect(phone, 10)
    assert [len(p.payload) for p in packets] == [240] * 10  # 30 ms frames as the remote asked
    assert [p.marker for p in packets] == [True] + [False] * 9
    assert all((q.timestamp - p.timestamp) % 2**32 == 240 for p, q in itertools.pairwise(packets))
    assert b"".join(p.payload for p in packets) == prompt.encoded("PCMA")


async def test_player_on_hold_sends_nothing_and_stop_ends_it(open_endpoint, phones):
    ep = await open_endpoint()
    phone = phones()
    ep.configure(params_for(phone.addr, direction=Direction.RECVONLY))
    assert await Player(ep, tone.sine(500, 0.1)).play() is True
    assert not phone.drain()
    ep.configure(params_for(phone.addr))
    looping = Player(ep, tone.sine(500, 0.04), loop=True)
    looping.start()
    assert await wait_for(lambda: looping.packets_sent >= 5)
    assert looping.playing
    looping.stop()
    assert await looping.wait() is False and not looping.playing
