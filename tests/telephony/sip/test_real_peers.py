"""The SIP layer against real peers on loopback: SIPp (calls, loss, CANCEL, re-INVITE, REGISTER with
digest, TCP, SIPp as callee of our client side) and baresip (register + call), plus malformed and
oversized datagrams that must be answered 400/413 or dropped without disturbing live calls.
CC-04, CC-06 (see shared/testing/REAL_PEERS.md)."""

from __future__ import annotations

import asyncio
import shutil
import socket
from pathlib import Path

import pytest

from ketnoi.telephony.sip import (
    NameAddr,
    SipEndpoint,
    SipStack,
    TimerConfig,
    address_of,
    build_request,
    parse_uri,
)
from ketnoi.telephony.sip.dialog import Dialog

from .uas import MiniUas

HERE = Path(__file__).parent
SCENARIOS = HERE / "scenarios"
RFC4475 = HERE / "vectors" / "rfc4475"

pytestmark = pytest.mark.skipif(shutil.which("sipp") is None, reason="SIPp not installed (make system-test-deps)")


def free_port(kind: int = socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def sipp(*args: str, cwd: Path, timeout: float = 60) -> tuple[int, str]:
    """Run SIPp in the foreground (REAL_PEERS.md); bounded by its own -timeout and ours."""
    argv = ["sipp", *args, "-i", "127.0.0.1", "-nostdin", "-timeout", "30", "-timeout_error"]
    if "-p" not in args:
        argv += ["-p", str(free_port())]
    proc = await asyncio.create_subprocess_exec(*argv, cwd=cwd, stdin=asyncio.subprocess.DEVNULL,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    try:
        out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    return proc.returncode, out.decode(errors="replace")


@pytest.fixture
async def uas():
    server = MiniUas(passwords={"1001": "demo1001"}, ring_only={"ring"})  # default challenge order
    await server.start()
    yield server
    await server.close()


async def test_sipp_calls_with_invite_200_ack_bye(uas, tmp_path):
    port = uas.endpoint.address().port
    rc, out = await sipp("-sn", "uac", f"127.0.0.1:{port}", "-m", "10", "-r", "10", "-l", "5", "-d", "200",
                         cwd=tmp_path)
    assert rc == 0, out[-2000:]
    assert uas.counts["INVITE"] == 10 and uas.counts["ACK"] == 10 and uas.counts["BYE"] == 10
    assert uas.dialogs == {}


async def test_sipp_calls_survive_packet_loss(uas, tmp_path):
    """SIPp drops 10 % of its packets at random (-lost 10) and we drop the first 200 OK of every
    transaction on our side, so SIPp must retransmit its INVITE and BYE and our stack must resend
    the 200 from its server transactions (and keep retransmitting the 2xx by Timer G)."""
    udp = uas.endpoint.transports["udp"]
    send = udp.send
    first_200_dropped: set[tuple[bytes, bytes]] = set()

    def lossy_send(data: bytes, destination) -> None:
        if data.startswith(b"SIP/2.0 200"):
            key = (data.split(b"Call-ID: ", 1)[1].split(b"\r\n", 1)[0], data.split(b"CSeq: ", 1)[1][:12])
            if key not in first_200_dropped:
                first_200_dropped.add(key)
                return
        send(data, destination)

    udp.send = lossy_send
    port = uas.endpoint.address().port
    rc, out = await sipp("-sn", "uac", f"127.0.0.1:{port}", "-m", "10", "-r", "10", "-l", "10", "-d", "100",
                         "-lost", "10", cwd=tmp_path, timeout=120)
    assert rc == 0, out[-2000:]
    assert len(first_200_dropped) >= 20  # one INVITE 200 and one BYE 200 per call
    assert uas.counts["INVITE"] == 10 and uas.counts["BYE"] == 10  # the TU saw each request once
    assert uas.stack.stats["retransmissions"] >= 10  # absorbed by the server transactions


async def test_sipp_cancel_before_answer(uas, tmp_path):
    port = uas.endpoint.address().port
    rc, out = await sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "cancel.xml"), "-s", "ring", "-m", "3",
                         cwd=tmp_path)
    assert rc == 0, out[-2000:]
    assert uas.counts["CANCELLED"] == 3 and uas.counts.get("ACK", 0) == 0  # ACKs for 487 stay in the stack


async def test_sipp_reinvite_hold_and_resume(uas, tmp_path):
    port = uas.endpoint.address().port
    rc, out = await sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "reinvite.xml"), "-s", "1022", "-m", "2",
                         cwd=tmp_path)
    assert rc == 0, out[-2000:]
    assert uas.counts["REINVITE"] == 4 and uas.counts["BYE"] == 2


async def test_sipp_register_with_digest_and_unregister(uas, tmp_path):
    port = uas.endpoint.address().port
    rc, out = await sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register.xml"), "-s", "1001",
                         "-au", "1001", "-ap", "demo1001", "-m", "1", cwd=tmp_path)
    assert rc == 0, out[-2000:]
    assert uas.counts["REGISTER"] == 4 and uas.counts["CHALLENGED"] == 2
    assert uas.registrar.aors() == []  # registered, then unregistered with '*'
    rc, _ = await sipp(f"127.0.0.1:{port}", "-sf", str(SCENARIOS / "register.xml"), "-s", "1001",
                       "-au", "1001", "-ap", "wrong-password", "-m", "1", cwd=tmp_path)
    assert rc != 0 and uas.registrar.aors() == []


async def test_sipp_over_tcp(uas, tmp_path):
    port = uas.endpoint.address("tcp").port
    rc, out = await sipp("-sn", "uac", f"127.0.0.1:{port}", "-t", "t1", "-m", "5", "-r", "5", "-d", "100",
                         "-p", str(free_port(socket.SOCK_STREAM)), cwd=tmp_path)
    assert rc == 0, out[-2000:]
    assert uas.counts["INVITE"] == 5 and uas.counts["BYE"] == 5


async def test_malformed_and_oversized_input_is_answered_or_dropped(uas, tmp_path):
    port = uas.endpoint.address().port
    loop = asyncio.get_running_loop()
    answers: list[bytes] = []

    class Probe(asyncio.DatagramProtocol):
        def datagram_received(self, data, addr):
            answers.append(data)

    transport, _ = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
    try:
        bad = ["lwsstart", "trws", "ltgtruri", "escruri", "mismatch01", "clerr", "baddn", "badvers"]
        for name in bad:
            transport.sendto((RFC4475 / f"{name}.dat").read_bytes(), ("127.0.0.1", port))
        for name in ("insuf", "bigcode", "scalarlg"):
            transport.sendto((RFC4475 / f"{name}.dat").read_bytes(), ("127.0.0.1", port))
        huge = (RFC4475 / "lwsdisp.dat").read_bytes() + b"x" * 40_000  # over the 32 KiB limit
        transport.sendto(huge, ("127.0.0.1", port))
        transport.sendto(bytes(range(256)) * 20, ("127.0.0.1", port))
        for _ in range(50):
            if len(answers) >= len(bad) + 1:
                break
            await asyncio.sleep(0.05)
        statuses = sorted(int(a.split(b" ")[1]) for a in answers)
        assert statuses == sorted([400] * (len(bad) - 1) + [505, 413])
        # …and real calls still go through afterwards.
        rc, out = await sipp("-sn", "uac", f"127.0.0.1:{port}", "-m", "3", "-r", "3", "-d", "100", cwd=tmp_path)
        assert rc == 0, out[-2000:]
        assert uas.stack.stats.get("internal_errors", 0) == 0
    finally:
        transport.close()


async def test_our_client_side_against_sipp_uas(tmp_path):
    """Our UAC (client INVITE/BYE transactions, dialog, ACK) calling SIPp's built-in callee."""
    sipp_port = free_port()
    callee = asyncio.ensure_future(sipp("-sn", "uas", "-p", str(sipp_port), "-m", "1", cwd=tmp_path))
    endpoint = SipEndpoint(SipStack(timers=TimerConfig(t1=0.1)))
    await endpoint.start("127.0.0.1", 0)
    try:
        target = parse_uri(f"sip:service@127.0.0.1:{sipp_port}")
        contact = endpoint.stack.contact_uri("ketnoi")
        invite = build_request("INVITE", target, from_addr=NameAddr(parse_uri("sip:ketnoi@127.0.0.1")),
                               to_addr=NameAddr(target), contact=contact, body=b"v=0\r\n",
                               content_type="application/sdp")
        provisional = []
        for _ in range(40):  # SIPp needs a moment to bind; our INVITE retransmits meanwhile
            final = await endpoint.request(invite.copy(), address_of(target), on_response=provisional.append)
            if final.status != 408:
                break
        assert final.status == 200 and 180 in [r.status for r in provisional]
        dialog = Dialog.from_uac(invite, final)
        endpoint.send_ack(dialog.create_ack(invite), address_of(dialog.next_hop()))
        bye = await endpoint.request(dialog.create_request("BYE"), address_of(dialog.next_hop()))
        assert bye.status == 200
        rc, out = await asyncio.wait_for(callee, 60)
        assert rc == 0, out[-2000:]
    finally:
        if not callee.done():
            callee.cancel()
        await endpoint.close()


def baresip_config(path: Path, port: int) -> None:
    (path / "config").write_text(
        "poll_method epoll\nsip_listen 127.0.0.1:0\naudio_player null\naudio_source null\n"
        "module_path /usr/lib/baresip/modules\nmodule g711.so\nmodule_tmp account.so\nmodule_app menu.so\n")
    (path / "accounts").write_text(
        f"<sip:1001@127.0.0.1:{port}>;auth_pass=demo1001;regint=60;audio_codecs=PCMU\n")


async def run_baresip(path: Path, *args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        "baresip", "-f", str(path), *args, cwd=path, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise


@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip not installed")
@pytest.mark.parametrize("algorithms", [("SHA-256", "MD5"), ("MD5", "SHA-256")])
async def test_baresip_gives_up_when_sha256_is_offered(tmp_path, algorithms):
    """Why the default challenge is MD5 only (auth.ALGORITHMS): baresip 1.0 refuses the whole 401
    when any of its challenges is SHA-256, in either order, and never registers."""
    server = MiniUas(passwords={"1001": "demo1001"}, algorithms=algorithms)
    port = await server.start()
    try:
        baresip_config(tmp_path, port)
        await run_baresip(tmp_path, "-t", "2")
        assert server.counts["CHALLENGED"] == 1 and server.counts["REGISTER"] == 1
        assert server.registrar.aors() == []
    finally:
        await server.close()


@pytest.mark.skipif(shutil.which("baresip") is None, reason="baresip not installed")
async def test_baresip_registers_and_calls(tmp_path):
    """baresip registers through the default (MD5) challenge, calls, hangs up and unregisters."""
    server = MiniUas(passwords={"1001": "demo1001"})
    port = await server.start()
    try:
        baresip_config(tmp_path, port)
        await run_baresip(tmp_path, "-e", f"/dial sip:2000@127.0.0.1:{port}", "-t", "4")
        assert server.counts["CHALLENGED"] >= 1 and server.counts["REGISTER"] >= 3
        assert server.counts["INVITE"] == 1 and server.counts["ACK"] == 1
        assert server.registrar.aors() == []  # baresip unregistered on exit
    finally:
        await server.close()
