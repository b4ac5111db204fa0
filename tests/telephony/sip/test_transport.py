"""Transports (RFC 3261 §18): stream framing by Content-Length, CRLF keep-alives (RFC 5626 §3.5.1),
and two SipEndpoints talking over UDP, TCP and TLS on loopback; timeouts and connect failures
reach the TU as 408/503 (§8.1.3.1). CC-04."""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest

from ketnoi.telephony.sip import (
    Address,
    NameAddr,
    RequestReceived,
    SipEndpoint,
    SipStack,
    TimerConfig,
    build_request,
    parse_uri,
)
from ketnoi.telephony.sip.transport import KEEPALIVE_PING, StreamFramer

RFC4475 = Path(__file__).parent / "vectors" / "rfc4475"
FAST = TimerConfig(t1=0.05, t2=0.4, t4=0.5, timer_d=0.5)


def test_framer_cuts_by_content_length_in_any_chunking():
    one = (RFC4475 / "wsinv.dat").read_bytes()  # Content-Length 150 with folded headers
    two = (RFC4475 / "mpart01.dat").read_bytes()
    stream = b"\r\n" + one + KEEPALIVE_PING + two
    for size in (1, 7, 64, len(stream)):
        framer = StreamFramer()
        out = []
        for i in range(0, len(stream), size):
            out += framer.feed(stream[i:i + size])
        assert out == [one, KEEPALIVE_PING, two], size


def test_framer_without_content_length_and_errors():
    bare = b"OPTIONS sip:a@b SIP/2.0\r\nCall-ID: x\r\n\r\n"
    assert StreamFramer().feed(bare + b"\r\n") == [bare]  # missing Content-Length → 0 on a stream
    broken = StreamFramer()
    (error,) = broken.feed(b"OPTIONS sip:a@b SIP/2.0\r\nl: -5\r\n\r\n")
    assert error.status == 400 and broken.broken and broken.feed(bare) == []
    (big,) = StreamFramer(max_size=1000).feed(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: 5000\r\n\r\n")
    assert big.status == 413
    (endless,) = StreamFramer(max_size=100).feed(b"X" * 200)
    assert endless.status == 413


class Recorder:
    def __init__(self):
        self.events = []
        self.endpoint = None

    def __call__(self, event):
        self.events.append(event)
        if isinstance(event, RequestReceived) and event.request.method != "ACK":
            user = getattr(event.request.uri, "user", None)
            if user != "silent":
                self.endpoint.respond(event.transaction, 202 if user == "accept" else 486)


async def endpoints(**kwargs):
    server_events = Recorder()
    server = SipEndpoint(SipStack(timers=FAST), handler=server_events)
    server_events.endpoint = server
    await server.start("127.0.0.1", 0, **kwargs)
    client = SipEndpoint(SipStack(timers=FAST))
    await client.start("127.0.0.1", 0, **{k: v for k, v in kwargs.items() if k != "tls_context"})
    return client, server, server_events


def message(user: str, transport: str, port: int):
    uri = parse_uri(f"sip:{user}@127.0.0.1:{port};transport={transport}")
    return build_request("MESSAGE", uri, from_addr=NameAddr(parse_uri("sip:client@127.0.0.1")),
                         to_addr=NameAddr(uri), body="Xin chào".encode(), content_type="text/plain")


@pytest.mark.parametrize("transport", ["udp", "tcp"])
async def test_endpoints_exchange_requests(transport):
    client, server, events = await endpoints()
    try:
        port = server.address(transport).port
        for user, status in (("accept", 202), ("busy", 486)):
            response = await client.request(message(user, transport, port), Address(transport, "127.0.0.1", port))
            assert response.status == status and response.top_via.transport == transport.upper()
        received = [e.request for e in events.events if isinstance(e, RequestReceived)]
        assert [r.body.decode() for r in received] == ["Xin chào", "Xin chào"]
        if transport == "tcp":
            assert len(server.transports["tcp"].connections) == 1  # one connection reused
    finally:
        await client.close()
        await server.close()


async def test_timeout_and_connect_failure_become_408_and_503():
    client, server, _ = await endpoints()
    try:
        port = server.address("udp").port
        silent = await client.request(message("silent", "udp", port), Address("udp", "127.0.0.1", port))
        assert silent.status == 408  # Timer F fired (64*T1 = 3.2 s with the fast timers)
        with socket.socket() as sock:  # a port where nobody listens
            sock.bind(("127.0.0.1", 0))
            closed = sock.getsockname()[1]
        refused = await client.request(message("x", "tcp", closed), Address("tcp", "127.0.0.1", closed))
        assert refused.status == 503
    finally:
        await client.close()
        await server.close()


async def test_tcp_keepalive_ping_gets_pong_and_garbage_closes_the_connection():
    _, server, _ = await endpoints()
    try:
        port = server.address("tcp").port
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(KEEPALIVE_PING)
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.write(b"INVITE sip:a@b SIP/2.0\r\nContent-Length: nope\r\n\r\n")
        assert await asyncio.wait_for(reader.read(), 5) == b""  # framing lost: connection closed
        assert server.transports["tcp"].framing_errors == 1
        writer.close()
    finally:
        await server.close()


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl CLI needed for a test certificate")
async def test_tls_transport(tmp_path):
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    await asyncio.to_thread(subprocess.run, ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out",
                    str(cert), "-days", "1", "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                   check=True, capture_output=True, timeout=60)
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    server = SipEndpoint(SipStack(timers=FAST), handler=(events := Recorder()))
    events.endpoint = server
    await server.start("127.0.0.1", 0, tls_context=server_ctx)
    client = SipEndpoint(SipStack(timers=FAST))
    await client.start("127.0.0.1", 0, tls_client_context=ssl.create_default_context(cafile=str(cert)))
    try:
        port = server.address("tls").port
        response = await client.request(message("accept", "tls", port), Address("tls", "127.0.0.1", port))
        assert response.status == 202 and response.top_via.transport == "TLS"
    finally:
        await client.close()
        await server.close()


async def test_a_failing_handler_does_not_take_the_endpoint_down():
    client, server, events = await endpoints()
    answer = events.__call__

    def handler(event):
        if isinstance(event, RequestReceived) and event.request.uri.user == "boom":
            raise RuntimeError("TU bug")
        answer(event)

    server.handler = handler
    try:
        port = server.address("udp").port
        client.send_request(message("boom", "udp", port), Address("udp", "127.0.0.1", port))
        ok = await client.request(message("accept", "udp", port), Address("udp", "127.0.0.1", port))
        assert ok.status == 202 and server.stack.stats["handler_errors"] == 1
    finally:
        await client.close()
        await server.close()


async def test_tcp_on_its_own_port():
    endpoint = SipEndpoint()
    await endpoint.start("127.0.0.1", 0, tcp_port=0)
    try:
        udp, tcp = endpoint.address("udp"), endpoint.address("tcp")
        assert udp.port and tcp.port and udp.transport == "udp" and tcp.transport == "tcp"
        reader, writer = await asyncio.open_connection("127.0.0.1", tcp.port)
        writer.write(KEEPALIVE_PING)
        assert await asyncio.wait_for(reader.readexactly(2), 5) == b"\r\n"
        writer.close()
    finally:
        await endpoint.close()
