"""Calls between SIPp peers through the engine (CC-04, CC-06, CC-21; RFC 3261 §13–15, §9, §22):
INVITE–200–ACK–BYE with RTP, CANCEL before answer, re-INVITE hold/resume, unauthenticated and
wrongly authenticated INVITEs refused, 488 for no common codec, and retransmissions under loss."""

from __future__ import annotations

import asyncio

import pytest

from tests.telephony.engine.conftest import SECRETS, needs_peers
from tests.telephony.peers import Sipp, free_port

pytestmark = needs_peers


async def registered_uas(harness, number: str, scenario: str, audio, *, transport: str = "u1", **kw) -> Sipp:
    """Register ``number`` from a port with SIPp, then start a SIPp UAS on that port."""
    reg = Sipp("register_only", remote=harness.address, user=number, password=SECRETS[number],
               keys={"ext": number, "expires": "300"}, timeout=15, transport=transport)
    result = await reg.run()
    assert result.ok, result.explain()
    reg.cleanup()
    uas = Sipp(scenario, port=reg.port, audio=audio, transport=transport, **kw)
    await uas.start()
    await asyncio.sleep(0.3)  # let it bind before the call arrives
    return uas


def caller(harness, scenario: str, called: str, audio=None, *, ext: str = "1001", **kw) -> Sipp:
    return Sipp(scenario, remote=harness.address, service=called, user=ext, password=SECRETS.get(ext, "x"),
                keys={"ext": ext}, audio=audio, **kw)


@pytest.mark.parametrize("transport", ["u1", "t1"])
async def test_invite_200_ack_bye_with_media(harness, audio_dir, transport):
    harness.extensions("1001", "1002")
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_answer", audio_dir / "tone1100.ul", timeout=30,
                               transport=transport)
    try:
        result = await caller(harness, "call_uac", "1002", audio_dir / "tone700.ul", duration_ms=2000,
                              timeout=20, transport=transport).run()
        assert result.ok, result.explain()
        callee = await uas.wait()
        assert callee.ok, callee.explain()
        assert "invite INVITE sip:1002" in callee.logs and "from sip:1001" in callee.logs
    finally:
        await uas.stop()
        uas.cleanup()
    [call] = await harness.calls(1)
    assert (call.direction, call.caller, call.called, call.extension) == ("internal", "1001", "1002", "1002")
    assert call.disposition == "answered" and call.hangup_by == "caller" and call.answered_at is not None
    roles = {leg.role: leg for leg in call.legs}
    assert set(roles) == {"caller", "callee"}
    # RTP crossed the bridge both ways: each leg received the other side's stream (~50 packets/s).
    assert roles["caller"].packets_received > 40 and roles["callee"].packets_received > 40
    assert roles["callee"].codec == "PCMU"


async def test_cancel_before_answer(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_ring", None, timeout=30)
    try:
        result = await caller(harness, "cancel_uac", "1002", audio_dir / "tone700.ul", timeout=20).run()
        assert result.ok, result.explain()
        callee = await uas.wait()
        assert callee.ok and "cancelled" in callee.logs, callee.explain()
    finally:
        await uas.stop()
        uas.cleanup()
    [call] = await harness.calls(1)
    assert call.disposition == "cancelled" and call.hangup_by == "caller" and call.sip_cause == 487
    assert call.answered_at is None and call.billsec == 0


async def test_reinvite_hold_and_resume(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_answer", audio_dir / "tone1100.ul", timeout=30)
    try:
        result = await caller(harness, "hold_uac", "1002", audio_dir / "tone700.ul", timeout=30).run()
        assert result.ok, result.explain()
        assert "hold=a=recvonly" in result.logs or "hold=a=inactive" in result.logs
        assert "resume=a=sendrecv" in result.logs
        assert (await uas.wait()).ok
    finally:
        await uas.stop()
        uas.cleanup()
    [call] = await harness.calls(1)
    assert call.disposition == "answered"


async def test_unauthenticated_invite_is_challenged_and_never_rings(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_answer", audio_dir / "tone1100.ul", timeout=8)
    try:
        result = await caller(harness, "invite_unauthenticated", "1002", audio_dir / "tone700.ul",
                              timeout=10).run()
        assert result.ok, result.explain()
        assert "challenge=407" in result.logs
        bad = Sipp("invite_bad_password", remote=harness.address, service="1002", user="1001",
                   password="wrong-secret", keys={"ext": "1001"}, audio=audio_dir / "tone700.ul", timeout=10)
        result = await bad.run()
        assert result.ok and "refused" in result.logs, result.explain()
        await asyncio.sleep(0.5)
        assert uas.proc.returncode is None  # the phone never received an INVITE
    finally:
        await uas.stop()
        callee = uas.result()
        uas.cleanup()
    assert "invite" not in callee.logs
    assert await harness.calls(0, timeout=0.5) == []  # challenges are not calls


async def test_no_common_codec_is_refused_with_488(harness, audio_dir):
    harness.extensions("1001", "1002")
    await harness.start()
    result = await caller(harness, "call_no_codec", "1002", audio_dir / "tone700.ul", timeout=10).run()
    assert result.ok, result.explain()
    [call] = await harness.calls(1)
    assert call.disposition == "failed" and call.sip_cause == 488


async def test_calls_complete_with_retransmissions_under_loss(harness, audio_dir):
    """One in ten of the caller's INVITEs, ACKs and BYEs and of the responses it gets are lost on purpose
    (call_uac_lossy.xml): both sides' retransmissions (timers A, E, G; the 2xx until ACK) must still
    bring every call to its end. (At 25 % loss SIPp's own retransmission budget is exhausted now and then
    — about one run in ten — which tests SIPp, not us; 10 % keeps the retransmissions and makes that
    a one-in-a-million event.)"""
    harness.extensions("1001", "1002")
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_answer", audio_dir / "tone1100.ul", calls=8, timeout=90)
    try:
        result = await caller(harness, "call_uac_lossy", "1002", audio_dir / "tone700.ul", calls=8, rate=2,
                              limit=4, duration_ms=500, timeout=80).run()
        assert result.ok and result.successful == 8, result.explain()
    finally:
        await uas.stop()
        uas.cleanup()
    calls = await harness.calls(8)
    assert [c.disposition for c in calls] == ["answered"] * 8
    assert harness.tenant.endpoint.stack.stats["retransmissions"] > 0


async def test_busy_trunk_stops_failover_and_an_unregistered_extension_is_unavailable(harness):
    harness.extensions("1001", "1002")
    port_a, port_b = free_port(), free_port()
    trunk_a = harness.pbx.peer("Trunk A", ["127.0.0.2/32"], host="127.0.0.2", port=port_a)
    trunk_b = harness.pbx.peer("Trunk B", ["127.0.0.3/32"], host="127.0.0.3", port=port_b)
    harness.pbx.outbound("Di động", [{"prefix": "9", "match": "_0XXXXXXXXX"}], [trunk_a, trunk_b])
    await harness.start()
    busy = Sipp("uas_busy", port=port_a, local_ip="127.0.0.2", timeout=20)
    spare = Sipp("uas_answer", port=port_b, local_ip="127.0.0.3", timeout=20)
    await busy.start()
    await spare.start()
    await asyncio.sleep(0.3)
    try:
        result = await caller(harness, "call_uac_refused", "90912345678", timeout=15).run()
        assert result.ok and "final=486" in result.logs, result.explain()
        assert (await busy.wait()).ok
        result = await caller(harness, "call_uac_refused", "1002", timeout=15).run()  # 1002 never registered
        assert result.ok and "final=480" in result.logs, result.explain()
    finally:
        await busy.stop()
        await spare.stop()
    assert "invite" not in spare.result().logs  # 486 means busy: no other trunk is tried
    busy.cleanup()
    spare.cleanup()
    first, second = await harness.calls(2)
    assert (first.disposition, first.sip_cause, first.hangup_by) == ("busy", 486, "callee")
    assert (second.disposition, second.sip_cause) == ("failed", 480)


async def test_ring_timeout_cancels_the_phone_and_counts_as_no_answer(harness):
    harness.extensions("1001", "1002")
    harness.settings.sip_ring_timeout_seconds = 2
    await harness.start()
    uas = await registered_uas(harness, "1002", "uas_ring", None, timeout=20)
    try:
        result = await caller(harness, "call_uac_refused", "1002", timeout=15).run()
        assert result.ok and "final=480" in result.logs, result.explain()
        callee = await uas.wait()
        assert callee.ok and "cancelled" in callee.logs, callee.explain()
    finally:
        await uas.stop()
        uas.cleanup()
    [call] = await harness.calls(1)
    assert (call.disposition, call.sip_cause) == ("no_answer", 480)
    [callee_leg] = [leg for leg in call.legs if leg.role == "callee"]
    assert callee_leg.disposition == "no_answer" and callee_leg.sip_cause == 487
