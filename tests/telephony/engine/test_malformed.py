"""Malformed and oversized input never takes the engine down (RFC 3261 §8.2, §18.3, §21.4.1):
SIPp sends broken requests that must be answered 400/483/505 or dropped; raw garbage and an
oversized stream message follow over UDP and TCP; the engine keeps answering and taking calls."""

from __future__ import annotations

import asyncio
import os
import socket

from tests.telephony.engine.conftest import SECRETS, needs_peers
from tests.telephony.peers import Sipp

pytestmark = needs_peers


async def test_malformed_requests_are_answered_or_dropped(harness):
    harness.extensions("1001")
    await harness.start()
    result = await Sipp("malformed", remote=harness.address, service="1002", timeout=30).run()
    assert result.ok, result.explain()
    for line in ("c1=400", "c2=400", "c3=483", "c4=505", "c5=400", "c6=400", "alive=200"):
        assert line in result.logs, result.logs
    # c7 (a line without a colon) and c8 (a broken Via) may be answered 400 or dropped: either is fine
    stats = harness.tenant.endpoint.stack.stats
    assert stats["malformed"] >= 7 and stats.get("internal_errors", 0) == 0


async def test_garbage_and_oversized_messages_over_udp_and_tcp(harness):
    harness.extensions("1001")
    await harness.start()
    target = ("127.0.0.1", harness.sip_port)
    junk = [b"", b"\r\n\r\n", b"\x00" * 64, os.urandom(1200), b"INVITE", b"SIP/2.0 200 OK\r\n\r\n",
            b"INVITE sip:x SIP/2.0\r\n" + b"Via: " + b"a" * 60000 + b"\r\n\r\n",
            "INVITE sip:\u00e9@127.0.0.1 SIP/2.0\r\nVia: \ud800\r\n\r\n".encode("utf-8", "surrogatepass")]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        for data in junk:
            udp.sendto(data, target)
    loop = asyncio.get_running_loop()

    def tcp_flood() -> bytes:
        with socket.create_connection(target, timeout=5) as tcp:
            tcp.sendall(b"REGISTER sip:127.0.0.1 SIP/2.0\r\nX-Big: " + b"b" * 70000 + b"\r\n")
            tcp.settimeout(5)
            try:
                return tcp.recv(100)  # the engine closes a stream it cannot frame (413)
            except (ConnectionResetError, TimeoutError):
                return b""

    assert await loop.run_in_executor(None, tcp_flood) == b""

    def answer(data: bytes) -> bytes:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(3)
            s.sendto(data, target)
            return s.recv(4000).split(b"\r\n")[0]

    mismatch = (b"INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKmm\r\n"
                b"From: <sip:1001@127.0.0.1>;tag=a\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: mm@x\r\n"
                b"CSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n")
    assert await loop.run_in_executor(None, answer, mismatch) == b"SIP/2.0 400 Bad Request"
    await asyncio.sleep(0.3)
    # still alive: a phone registers over UDP and over a new TCP connection
    for transport in ("u1", "t1"):
        result = await Sipp("register_only", remote=harness.address, user="1001", password=SECRETS["1001"],
                            transport=transport, keys={"ext": "1001", "expires": "60"}, timeout=15).run()
        assert result.ok, result.explain()
    assert harness.tenant.endpoint.stack.stats.get("internal_errors", 0) == 0
