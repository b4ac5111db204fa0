"""Real softphones (baresip) through the engine: two extensions hear each other (a 700 Hz tone one
way, 1100 Hz the other, found in the received audio by FFT) and the call is recorded with both
parties (CC-04, CC-06, CC-21); hold plays music to the other party (RFC 3264 §8.4)."""

from __future__ import annotations

import asyncio

from ketnoi.events import bus
from tests.telephony.audio import active_part, dominant_frequency, read_wav, tone_seconds
from tests.telephony.engine.conftest import SECRETS, needs_peers
from tests.telephony.peers import Baresip

pytestmark = needs_peers


def phone(harness, number: str, wav, **kw) -> Baresip:
    return Baresip(number, SECRETS[number], harness.address, source_wav=wav, **kw)


async def registered(*phones: Baresip) -> None:
    for p in phones:
        await p.start()
    for p in phones:
        await p.wait_registered()


def received(p: Baresip):
    path = p.recording("dec")
    assert path is not None, f"baresip {p.user} recorded nothing\n{p.tail_log()}"
    frames, rate = read_wav(path)
    return frames[:, 0], rate


async def test_two_extensions_hear_each_other_and_the_call_is_recorded(harness, audio_dir):
    harness.extensions("1001", recording="on")
    harness.extensions("1002")
    await harness.start()
    hub: list[str] = []
    def listener(ev):
        return hub.append(ev.type) if ev.type.startswith("call.") else None
    bus.subscribe(listener)
    a = phone(harness, "1001", audio_dir / "tone700.wav")
    b = phone(harness, "1002", audio_dir / "tone1100.wav")
    try:
        await registered(a, b)
        await a.dial("1002")
        await a.wait_event("CALL_ESTABLISHED", timeout=10)
        await b.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(3)
        await a.command("hangup")
        await b.wait_event("CALL_CLOSED", timeout=10)
    finally:
        await a.stop()
        await b.stop()
    heard_by_a, rate = received(a)
    heard_by_b, _ = received(b)
    assert tone_seconds(heard_by_a, rate, 1100) >= 1.5, "1001 did not hear 1002's 1100 Hz tone"
    assert tone_seconds(heard_by_b, rate, 700) >= 1.5, "1002 did not hear 1001's 700 Hz tone"
    assert tone_seconds(heard_by_a, rate, 700) < 0.3 and tone_seconds(heard_by_b, rate, 1100) < 0.3  # no echo
    a.cleanup()
    b.cleanup()

    [call] = await harness.calls(1)
    bus.unsubscribe(listener)
    assert hub == ["call.started", "call.ringing", "call.answered", "call.ended"]  # live events (CC-20/21)
    assert call.disposition == "answered" and call.hangup_by == "caller" and call.recording_path
    from ketnoi.telephony.pbx.cdr import recordings_root

    wav = recordings_root(harness.settings.data_dir) / call.recording_path
    frames, rate = read_wav(wav)
    assert frames.shape[1] == 2  # stereo: caller left, callee right (CC-21 default)
    caller_side, callee_side = active_part(frames[:, 0], rate), active_part(frames[:, 1], rate)
    assert abs(dominant_frequency(caller_side, rate) - 700) < 5 and abs(dominant_frequency(callee_side, rate) - 1100) < 5
    assert tone_seconds(frames[:, 0], rate, 700) >= 1.5 and tone_seconds(frames[:, 1], rate, 1100) >= 1.5


async def test_mixed_recording_holds_both_parties(harness, audio_dir):
    harness.settings_patch(recording_enabled=True, recording_mode="mixed")
    harness.extensions("1001", "1002")
    await harness.start()
    a = phone(harness, "1001", audio_dir / "tone700.wav")
    b = phone(harness, "1002", audio_dir / "tone1100.wav")
    try:
        await registered(a, b)
        await a.dial("1002")
        await b.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(2.5)
        await b.command("hangup")  # the callee hangs up this time
        await a.wait_event("CALL_CLOSED", timeout=10)
    finally:
        await a.stop()
        await b.stop()
        a.cleanup()
        b.cleanup()
    [call] = await harness.calls(1)
    assert call.hangup_by == "callee" and call.recording_path
    from ketnoi.telephony.pbx.cdr import recordings_root

    frames, rate = read_wav(recordings_root(harness.settings.data_dir) / call.recording_path)
    assert frames.shape[1] == 1
    mixed = frames[:, 0]
    assert tone_seconds(mixed, rate, 700, min_ratio=0.3) >= 1.5 and tone_seconds(mixed, rate, 1100, min_ratio=0.3) >= 1.5


async def test_hold_plays_music_to_the_other_party(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    a = phone(harness, "1001", audio_dir / "tone700.wav")
    b = phone(harness, "1002", audio_dir / "tone1100.wav")
    try:
        await registered(a, b)
        await a.dial("1002")
        await b.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(2)
        await a.command("hold")
        await asyncio.sleep(3)
        await a.command("resume")
        await asyncio.sleep(2)
        await a.command("hangup")
        await b.wait_event("CALL_CLOSED", timeout=10)
    finally:
        await a.stop()
        await b.stop()
    heard_by_b, rate = received(b)
    a.cleanup()
    b.cleanup()
    music = sum(tone_seconds(heard_by_b, rate, f) for f in (440, 554, 659))
    assert music >= 1.5, "the held party heard no music on hold"
    assert tone_seconds(heard_by_b, rate, 700) >= 2.5  # before the hold and after the resume
    [call] = await harness.calls(1)
    assert call.disposition == "answered"


async def test_a_call_rings_every_phone_of_the_extension_and_the_first_answer_wins(harness, audio_dir):
    harness.extensions("1001")
    harness.extensions("1002", max_contacts=3)
    await harness.start()
    a = phone(harness, "1001", audio_dir / "tone700.wav")
    desk = phone(harness, "1002", audio_dir / "tone1100.wav", answer="manual")  # rings, nobody picks up
    mobile = phone(harness, "1002", audio_dir / "tone1100.wav")  # answers at once
    try:
        await registered(a, desk, mobile)
        await harness.wait_registered("1002", contacts=2)
        await a.dial("1002")
        await mobile.wait_event("CALL_ESTABLISHED", timeout=10)
        await desk.wait_event("CALL_INCOMING", timeout=10)
        await desk.wait_event("CALL_CLOSED", timeout=10)  # CANCELled once the other phone answered
        await asyncio.sleep(1.5)
        await a.command("hangup")
        await mobile.wait_event("CALL_CLOSED", timeout=10)
    finally:
        for p in (a, desk, mobile):
            await p.stop()
    heard_by_a, rate = received(a)
    assert tone_seconds(heard_by_a, rate, 1100) >= 0.8
    for p in (a, desk, mobile):
        p.cleanup()
    [call] = await harness.calls(1)
    callees = {(leg.disposition, leg.sip_cause) for leg in call.legs if leg.role == "callee"}
    assert callees == {("answered", None), ("cancelled", 487)}
