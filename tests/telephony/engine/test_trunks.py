"""Carrier trunks with real peers (CC-09, CC-10, CC-11, CC-14): a call from the carrier on a DID
hears the welcome prompt and reaches an extension; an outbound call asks for a PIN, leaves through
the first trunk, fails over to the second when the first refuses; a registering trunk registers
with digest; peers are pinged with OPTIONS; Apply during a call does not drop it (CC-05)."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from ketnoi.telephony.pbx import sounds
from ketnoi.telephony.pbx.models import Trunk
from tests.telephony.audio import read_wav, rms, speech_wav, tone_seconds
from tests.telephony.engine.conftest import SECRETS, needs_peers
from tests.telephony.peers import Baresip, Sipp, free_port

pytestmark = needs_peers


def upload_speech(harness, name: str, text: str) -> str:
    wav = speech_wav(harness.tmp / f"{name}.wav", text)
    with harness.database.session() as s:
        return sounds.upload(s, harness.pbx.p, wav.read_bytes(), f"{name}.wav", name=name).id


async def test_carrier_call_on_a_did_hears_the_prompt_then_reaches_the_extension(harness, audio_dir):
    ext = harness.extensions("1001")["1001"]
    carrier_port = free_port()
    harness.pbx.peer("Nhà mạng", ["127.0.0.2/32"], host="127.0.0.2", port=carrier_port)
    welcome = upload_speech(harness, "loi-chao", "Xin chào, đây là tổng đài một không hai hai.")
    harness.pbx.inbound("Đường dây nóng", did="1022", kind="extension", ref=ext, prompt_sound_id=welcome)
    await harness.start()
    agent = Baresip("1001", SECRETS["1001"], harness.address, source_wav=audio_dir / "tone1100.wav")
    # the carrier: a softphone on 127.0.0.2 that is not registered (the trunk is known by its address)
    carrier = Baresip("0912345678", None, harness.address, source_wav=audio_dir / "tone700.wav", register=False,
                      local_ip="127.0.0.2")
    try:
        await agent.start()
        await agent.wait_registered()
        await carrier.start()
        await carrier.dial("1022")
        await carrier.wait_event("CALL_ESTABLISHED", timeout=10)  # answered by the engine for the prompt
        await agent.wait_event("CALL_ESTABLISHED", timeout=20)
        await asyncio.sleep(2.5)
        await carrier.command("hangup")
        await agent.wait_event("CALL_CLOSED", timeout=10)
    finally:
        await agent.stop()
        await carrier.stop()
    frames, rate = read_wav(carrier.recording("dec"))
    heard = frames[:, 0]
    # first the Vietnamese prompt (speech: energy, no single tone), then the agent's 1100 Hz
    assert rms(heard[: rate * 2]) > 300, "the caller heard no prompt"
    assert tone_seconds(heard[: rate * 2], rate, 1100) < 0.3
    assert tone_seconds(heard, rate, 1100) >= 1.5
    frames, rate = read_wav(agent.recording("dec"))
    assert tone_seconds(frames[:, 0], rate, 700) >= 1.5  # the agent heard the caller
    agent.cleanup()
    carrier.cleanup()
    [call] = await harness.calls(1)
    assert (call.direction, call.caller, call.called, call.extension) == ("inbound", "0912345678", "1022", "1001")
    assert call.trunk_name == "Nhà mạng" and call.route_name == "Đường dây nóng"
    assert call.disposition == "answered" and call.hangup_by == "caller"


async def test_outbound_call_with_pin_fails_over_to_the_second_trunk(harness, audio_dir):
    harness.extensions("1001")
    port_a, port_b = free_port(), free_port()
    trunk_a = harness.pbx.peer("Trunk A", ["127.0.0.2/32"], host="127.0.0.2", port=port_a)
    trunk_b = harness.pbx.peer("Trunk B", ["127.0.0.3/32"], host="127.0.0.3", port=port_b)
    pins = harness.pbx.pin_set("Phòng kế toán", ["2468", "1357"])
    harness.pbx.outbound("Di động", [{"prefix": "9", "match": "_0XXXXXXXXX"}], [trunk_a, trunk_b], pin_set_id=pins)
    await harness.start()
    refusing = Sipp("uas_refuse_503", port=port_a, local_ip="127.0.0.2", timeout=40)
    answering = Sipp("uas_answer", port=port_b, local_ip="127.0.0.3", audio=audio_dir / "tone1100.ul", timeout=40)
    phone = Baresip("1001", SECRETS["1001"], harness.address, source_wav=audio_dir / "tone700.wav")
    try:
        await refusing.start()
        await answering.start()
        await phone.start()
        await phone.wait_registered()
        await phone.dial("90912345678")
        await phone.wait_event("CALL_ESTABLISHED", timeout=10)  # the engine answers to ask for the PIN
        await asyncio.sleep(1.0)
        await phone.send_dtmf("2468#")
        for _ in range(200):  # the second trunk answers after the first refused
            if "invite" in answering.result().logs and harness.tenant.b2bua.calls and \
                    next(iter(harness.tenant.b2bua.calls.values())).bridge is not None:
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(2.5)
        await phone.command("hangup")
        await phone.wait_event("CALL_CLOSED", timeout=10)
        r = await refusing.wait()
        assert r.ok, r.explain()
        assert (await answering.wait()).ok
    finally:
        await phone.stop()
        for sipp in (refusing, answering):
            await sipp.stop()
    assert "invite INVITE sip:0912345678" in refusing.result().logs  # prefix 9 stripped
    assert "invite INVITE sip:0912345678" in answering.result().logs
    frames, rate = read_wav(phone.recording("dec"))
    assert tone_seconds(frames[:, 0], rate, 1100) >= 1.5, "the caller did not hear the far end"
    phone.cleanup()
    refusing.cleanup()
    answering.cleanup()
    [call] = await harness.calls(1)
    assert (call.direction, call.caller, call.called, call.disposition) == ("outbound", "1001", "90912345678",
                                                                           "answered")
    callees = [leg for leg in call.legs if leg.role == "callee"]
    assert [(leg.endpoint, leg.sip_cause) for leg in callees] == [("Trunk A", 503), ("Trunk B", None)]
    assert callees[1].answered_at is not None and callees[1].number == "0912345678"


async def test_wrong_pin_never_reaches_a_trunk(harness, audio_dir):
    harness.extensions("1001")
    port_a = free_port()
    trunk_a = harness.pbx.peer("Trunk A", ["127.0.0.2/32"], host="127.0.0.2", port=port_a)
    pins = harness.pbx.pin_set("Kế toán", ["2468"])
    harness.pbx.outbound("Di động", [{"prefix": "9", "match": "_0XXXXXXXXX"}], [trunk_a], pin_set_id=pins)
    await harness.start()
    phone = Baresip("1001", SECRETS["1001"], harness.address, source_wav=audio_dir / "tone700.wav")
    try:
        await phone.start()
        await phone.wait_registered()
        await phone.dial("90912345678")
        await phone.wait_event("CALL_ESTABLISHED", timeout=10)
        for _ in range(3):
            await asyncio.sleep(1.0)
            await phone.send_dtmf("1111#")
            await asyncio.sleep(4.5)  # the "wrong PIN" prompt, then the question again
        await phone.wait_event("CALL_CLOSED", timeout=30)  # the engine hangs up after three tries
    finally:
        await phone.stop()
        phone.cleanup()
    [call] = await harness.calls(1)
    assert call.disposition == "failed" and call.sip_cause == 403 and call.hangup_by == "system"
    assert [leg.role for leg in call.legs] == ["caller"]


async def test_registering_trunk_and_peer_pings_set_the_trunk_status(harness):
    provider_port, peer_port = free_port(), free_port()
    harness.pbx.trunk("Nhà cung cấp", host="127.0.0.2", port=provider_port, username="ketnoi-1022",
                      password="mat-khau-trunk", register_interval=120)
    harness.pbx.peer("Tổng đài láng giềng", ["127.0.0.3/32"], host="127.0.0.3", port=peer_port)
    provider = Sipp("provider_registrar", port=provider_port, local_ip="127.0.0.2", timeout=20,
                    keys={"user": "ketnoi-1022", "pass": "mat-khau-trunk", "expires": "120"})
    neighbour = Sipp("uas_echo", port=peer_port, local_ip="127.0.0.3", timeout=20)
    await provider.start()
    await neighbour.start()
    await asyncio.sleep(0.3)
    harness.settings.sip_trunk_ping_seconds = 60
    try:
        await harness.start()
        statuses = {}
        for _ in range(100):
            await asyncio.to_thread(harness.engine.records.flush)
            with harness.database.session() as s:
                statuses = {t.name: t.status for t in s.scalars(select(Trunk))}
            if statuses == {"Nhà cung cấp": "registered", "Tổng đài láng giềng": "reachable"}:
                break
            await asyncio.sleep(0.1)
        assert statuses == {"Nhà cung cấp": "registered", "Tổng đài láng giềng": "reachable"}
    finally:
        await harness.stop()  # unregisters (Expires: 0) from the provider
        await provider.stop()
        await neighbour.stop()
    logs = provider.result().logs
    assert "registered sip:ketnoi-1022@127.0.0.1" in logs and "expires 120" in logs and "expires 0" in logs
    provider.cleanup()
    neighbour.cleanup()


async def test_apply_during_a_call_keeps_it_up(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    a = Baresip("1001", SECRETS["1001"], harness.address, source_wav=audio_dir / "tone700.wav")
    b = Baresip("1002", SECRETS["1002"], harness.address, source_wav=audio_dir / "tone1100.wav")
    try:
        for p in (a, b):
            await p.start()
            await p.wait_registered()
        await a.dial("1002")
        await b.wait_event("CALL_ESTABLISHED", timeout=10)
        await asyncio.sleep(1.0)
        harness.extensions("1003")
        await harness.apply()  # a new revision while the call is up
        assert harness.tenant.cfg.extension("1003") is not None
        await asyncio.sleep(2.0)
        assert not a.has_event("CALL_CLOSED") and not b.has_event("CALL_CLOSED")
        await a.command("hangup")
        await b.wait_event("CALL_CLOSED", timeout=10)
    finally:
        await a.stop()
        await b.stop()
    frames, rate = read_wav(b.recording("dec"))
    assert tone_seconds(frames[:, 0], rate, 700) >= 2.0  # audio kept flowing across the swap
    a.cleanup()
    b.cleanup()
    [call] = await harness.calls(1)
    assert call.disposition == "answered"


async def test_prompt_then_hangup_destination(harness, audio_dir):
    harness.pbx.peer("Nhà mạng", ["127.0.0.2/32"], host="127.0.0.2", port=free_port())
    notice = upload_speech(harness, "thong-bao", "Tổng đài đã hết giờ làm việc. Xin cảm ơn.")
    harness.pbx.inbound("Ngoài giờ", did="1023", kind="play", ref=notice)
    await harness.start()
    carrier = Baresip("0987654321", None, harness.address, source_wav=audio_dir / "tone700.wav", register=False,
                      local_ip="127.0.0.2")
    try:
        await carrier.start()
        await carrier.dial("1023")
        await carrier.wait_event("CALL_ESTABLISHED", timeout=10)
        await carrier.wait_event("CALL_CLOSED", timeout=20)  # the engine hangs up after the notice
    finally:
        await carrier.stop()
    frames, rate = read_wav(carrier.recording("dec"))
    assert rms(frames[: rate * 2, 0]) > 300  # the spoken notice
    carrier.cleanup()
    [call] = await harness.calls(1)
    assert (call.direction, call.called, call.disposition, call.hangup_by) == ("inbound", "1023", "answered",
                                                                             "system")
    assert [leg.role for leg in call.legs] == ["caller"]
