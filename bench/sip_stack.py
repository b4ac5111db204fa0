"""Benchmark of the SIP core alone (no sockets): parse + serialize of a real SIPp INVITE, and whole
calls (INVITE/100/200/ACK … BYE/200, with dialogs on both sides) between two SipStacks in memory.
The call engine's end-to-end figures (SIPp driving real calls) are in bench/telephony.

    .venv/bin/python bench/sip_stack.py [--seconds 3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.telephony.sip.fakenet import FakeNetwork

from ketnoi.telephony.sip import (
    Dialog,
    NameAddr,
    RequestReceived,
    ResponseReceived,
    SipStack,
    build_request,
    parse_message,
    parse_uri,
)

INVITE = Path(__file__).resolve().parent.parent / "tests/telephony/sip/vectors/captured/sipp-uac-00-INVITE.bin"


def bench_parse(seconds: float) -> tuple[float, float]:
    data = INVITE.read_bytes()
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            parse_message(data)
        n += 200
    parse_rate = n / (time.perf_counter() - start)
    message = parse_message(data)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(200):
            message.to_bytes()
        n += 200
    return parse_rate, n / (time.perf_counter() - start)


def one_call(net: FakeNetwork, alice: SipStack, a, bob: SipStack, b) -> None:
    invite = build_request("INVITE", "sip:bob@127.0.0.1:5080", from_addr=NameAddr(parse_uri("sip:alice@127.0.0.1")),
                           to_addr=NameAddr(parse_uri("sip:bob@127.0.0.1")), body=b"v=0\r\n" * 20,
                           contact=parse_uri("sip:alice@127.0.0.1:5070"), content_type="application/sdp")
    tx = alice.send_request(invite, b, net.now)
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    ok = bob.respond(incoming.transaction, 200, now=net.now, body=b"v=0\r\n" * 20, content_type="application/sdp",
                     headers=[("Contact", "<sip:bob@127.0.0.1:5080>")])
    uas = Dialog.from_uas(incoming.request, ok)
    net.flush()
    final = next(e for e in net.take(a, ResponseReceived) if e.response.status == 200)
    uac = Dialog.from_uac(invite, final.response)
    alice.send_ack(uac.create_ack(invite), b, net.now, tx)
    alice.send_request(uac.create_request("BYE"), b, net.now)
    net.flush()
    (bye,) = net.take(b, RequestReceived)
    uas.receive_request(bye.request)
    bob.respond(bye.transaction, 200, now=net.now)
    net.flush()
    net.events[a].clear()
    net.events[b].clear()


def bench_calls(seconds: float) -> float:
    net = FakeNetwork()
    alice, bob = SipStack(), SipStack()
    a, b = net.add(alice, 5070), net.add(bob, 5080)
    n, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        one_call(net, alice, a, bob, b)
        n += 1
        if n % 100 == 0:
            net.run(net.now + 40)  # let timers end the finished transactions
    return n / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    parse_rate, serialize_rate = bench_parse(args.seconds)
    calls = bench_calls(args.seconds)
    print(f"parse SIPp INVITE:        {parse_rate:10,.0f} messages/s ({1e6 / parse_rate:.1f} µs each)")
    print(f"serialize it:             {serialize_rate:10,.0f} messages/s ({1e6 / serialize_rate:.1f} µs each)")
    print(f"calls through two stacks: {calls:10,.0f} calls/s (INVITE/100/200/ACK/BYE/200, both sides' CPU)")


if __name__ == "__main__":
    main()
