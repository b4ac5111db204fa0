"""The sans-I/O stack between two UAs on a fake lossy network: matching (§17.1.3/§17.2.3), CANCEL
(§9), 2xx/ACK (§13), UAS checks (§8.2), malformed input, rport (RFC 3581). CC-04, CC-06."""

from __future__ import annotations

from pathlib import Path

from ketnoi.telephony.sip import (
    AckReceived,
    Address,
    Dialog,
    NameAddr,
    RequestCancelled,
    RequestReceived,
    ResponseReceived,
    SipStack,
    TransactionTimeout,
    build_request,
    parse_message,
    parse_uri,
)

from .fakenet import FakeNetwork

RFC4475 = Path(__file__).parent / "vectors" / "rfc4475"


def pair(drop=None):
    net = FakeNetwork(drop)
    alice, bob = SipStack(), SipStack()
    a = net.add(alice, 5070)
    b = net.add(bob, 5080)
    return net, alice, a, bob, b


def invite(to_port: int = 5080, user: str = "bob"):
    return build_request("INVITE", f"sip:{user}@127.0.0.1:{to_port}",
                         from_addr=NameAddr(parse_uri("sip:alice@127.0.0.1:5070")),
                         to_addr=NameAddr(parse_uri(f"sip:{user}@127.0.0.1")),
                         contact=parse_uri("sip:alice@127.0.0.1:5070"), body=b"v=0\r\n",
                         content_type="application/sdp")


def test_options_is_answered_by_the_stack():
    net, alice, a, _, b = pair()
    req = build_request("OPTIONS", "sip:127.0.0.1:5080", from_addr=NameAddr(parse_uri("sip:alice@x")),
                        to_addr=NameAddr(parse_uri("sip:127.0.0.1:5080")))
    tx = alice.send_request(req, b, net.now)
    net.flush()
    (resp,) = net.take(a, ResponseReceived)
    assert resp.transaction is tx and resp.response.status == 200
    assert "INVITE" in resp.response.headers.get("allow") and resp.response.to_addr.tag
    assert net.events[b] == []  # the TU never saw it


def test_invite_answer_ack_bye_with_loss_of_first_invite_and_first_200():
    dropped = {"INVITE": 1, "SIP/2.0 200": 1}

    def drop(data, src, dst):
        for prefix, left in dropped.items():
            if data.startswith(prefix.encode()) and left:
                dropped[prefix] -= 1
                return True
        return False

    net, alice, a, bob, b = pair(drop)
    req = invite()
    client_tx = alice.send_request(req, b, net.now)
    net.run(0.6)  # Timer A retransmits the INVITE after T1
    (incoming,) = net.take(b, RequestReceived)
    assert incoming.request.method == "INVITE" and incoming.source == a
    assert net.take(a, ResponseReceived)[0].response.status == 100  # sent by the stack (§17.2.1)
    server_tx = incoming.transaction
    ok = bob.respond(server_tx, 200, now=net.now, headers=[("Contact", "<sip:bob@127.0.0.1:5080>")])
    uas_dialog = Dialog.from_uas(incoming.request, ok)
    net.run(1.2)  # the first 200 is lost; the stack retransmits it (§13.3.1.4)
    (answer,) = net.take(a, ResponseReceived)
    assert answer.response.status == 200 and answer.transaction is client_tx
    dialog = Dialog.from_uac(req, answer.response)
    assert dialog.id.remote_tag == uas_dialog.id.local_tag and str(dialog.remote_target) == "sip:bob@127.0.0.1:5080"
    alice.send_ack(dialog.create_ack(req), b, net.now, client_tx)
    net.run(5)
    (ack,) = net.take(b, AckReceived)
    assert ack.transaction is server_tx and server_tx.ack_received
    assert len(net.sent(b, b"SIP/2.0 200")) == 2  # original (lost) + one retransmission, then quiet
    bye = dialog.create_request("BYE")
    assert bye.cseq.seq == req.cseq.seq + 1
    alice.send_request(bye, b, net.now)
    net.flush()
    (bye_in,) = net.take(b, RequestReceived)
    assert uas_dialog.receive_request(bye_in.request) is None
    bob.respond(bye_in.transaction, 200, now=net.now)
    net.flush()
    assert net.take(a, ResponseReceived)[0].response.status == 200
    net.run(100)
    assert net.take(b, TransactionTimeout) == [] and net.take(a, TransactionTimeout) == []
    assert not alice._clients and not bob._servers  # every transaction ended and was forgotten


def test_retransmitted_2xx_answered_with_the_same_ack():
    drop_acks = {"n": 1}

    def drop(data, src, dst):  # lose the first ACK: the UAS retransmits its 200
        if data.startswith(b"ACK") and drop_acks["n"]:
            drop_acks["n"] -= 1
            return True
        return False

    net, alice, a, bob, b = pair(drop)
    req = invite()
    client_tx = alice.send_request(req, b, net.now)
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    bob.respond(incoming.transaction, 200, now=net.now, headers=[("Contact", "<sip:bob@127.0.0.1:5080>")])
    net.flush()
    ok = next(e for e in net.take(a, ResponseReceived) if e.response.status == 200)
    alice.send_ack(Dialog.from_uac(req, ok.response).create_ack(req), b, net.now, client_tx)
    net.run(3)
    assert len(net.sent(a, b"ACK")) == 2  # resent by the stack when the 2xx came again
    assert net.take(a, ResponseReceived) == []  # the TU saw the 2xx once
    assert len(net.take(b, AckReceived)) == 1


def test_cancel_before_answer():
    net, alice, a, bob, b = pair()
    req = invite()
    client_tx = alice.send_request(req, b, net.now)
    alice.cancel(client_tx, net.now)  # still Calling: sent once a provisional arrives (§9.1)
    assert net.sent(a, b"CANCEL") == []
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    (cancelled,) = net.take(b, RequestCancelled)
    assert cancelled.transaction is incoming.transaction and cancelled.cancel.method == "CANCEL"
    statuses = sorted((e.response.cseq.method, e.response.status) for e in net.take(a, ResponseReceived))
    assert statuses == [("CANCEL", 200), ("INVITE", 100), ("INVITE", 487)]
    (ack,) = net.sent(a, b"ACK")
    assert b"branch=" + client_tx.key[0].encode() in ack  # ACK for 487 shares the INVITE branch
    bob.respond(incoming.transaction, 200, now=net.now)  # too late: the transaction is completed
    net.flush()
    assert [d for d in net.sent(b, b"SIP/2.0 200") if b" INVITE\r\n" in d] == []


def test_cancel_without_invite_gets_481_and_after_final_gets_200_only():
    net, alice, a, bob, b = pair()
    stray = parse_message((RFC4475 / "badbranch.dat").read_bytes())
    stray.method = "CANCEL"
    stray.headers.set("CSeq", "8 CANCEL")
    stray.headers.pop_first("via")
    alice.send_request(stray, b, net.now)
    net.flush()
    assert net.take(a, ResponseReceived)[0].response.status == 481
    req = invite()
    tx = alice.send_request(req, b, net.now)
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    bob.respond(incoming.transaction, 486, now=net.now)
    net.flush()
    alice._send_cancel(tx, net.now)  # force a CANCEL although the INVITE is completed
    net.flush()
    assert net.take(b, RequestCancelled) == []
    assert [e.response.status for e in net.take(a, ResponseReceived)][-1] == 200


def raw(stack: SipStack, data: bytes, port: int = 5999) -> list[bytes]:
    src = Address("udp", "127.0.0.2", port)
    stack.local_addresses.setdefault("udp", ("127.0.0.1", 5080))
    stack.receive_datagram(data, src, 0.0)
    out = stack.datagrams_to_send()
    assert all(o.destination == src for o in out)
    return [o.data for o in out]


def status_of(data: bytes) -> int:
    assert data.startswith(b"SIP/2.0 ")
    return int(data.split(b" ", 2)[1])


def test_uas_core_checks_from_rfc4475():
    stack = SipStack()
    assert status_of(raw(stack, (RFC4475 / "zeromf.dat").read_bytes())[0]) == 200  # OPTIONS, MF 0
    assert status_of(raw(stack, (RFC4475 / "unkscm.dat").read_bytes())[0]) == 416
    bext = raw(stack, (RFC4475 / "bext01.dat").read_bytes())[0]
    assert status_of(bext) == 420 and b"Unsupported: " in bext
    assert status_of(raw(stack, (RFC4475 / "badvers.dat").read_bytes())[0]) == 505
    for name in ("lwsstart", "trws", "ltgtruri", "escruri", "mismatch01", "mismatch02", "clerr", "baddn"):
        (answer,) = raw(stack, (RFC4475 / f"{name}.dat").read_bytes())
        assert status_of(answer) == 400 and b"Warning: 399 ketnoi" in answer, name
    for name in ("insuf", "bigcode", "scalarlg"):  # no way to answer: dropped
        assert raw(stack, (RFC4475 / f"{name}.dat").read_bytes()) == []
    invite_mf0 = (RFC4475 / "lwsdisp.dat").read_bytes().replace(b"OPTIONS", b"INVITE")
    invite_mf0 = invite_mf0.replace(b"Max-Forwards: 70", b"Max-Forwards: 0")
    assert status_of(raw(stack, invite_mf0)[0]) == 483
    assert stack.stats["malformed"] >= 12 and stack.stats["dropped"] == 3


def test_unknown_method_405_and_oversized_413_and_keepalives():
    stack = SipStack(max_message_size=4096)
    foo = (RFC4475 / "lwsdisp.dat").read_bytes().replace(b"OPTIONS", b"FOO")
    assert status_of(raw(stack, foo)[0]) == 405
    big = (RFC4475 / "lwsdisp.dat").read_bytes() + b"a" * 5000  # a body beyond the limit
    assert status_of(raw(stack, big)[0]) == 413
    assert raw(stack, b"\r\n\r\n") == [] and raw(stack, b"\x00\x00\x00\x00") == []
    assert stack.stats["keepalive"] == 2


def test_rport_and_received_are_filled_in():
    stack = SipStack(force_rport=False)
    data = (RFC4475 / "lwsdisp.dat").read_bytes().replace(b"funky.example.com;branch", b"funky.example.com;rport;branch")
    (answer,) = raw(stack, data, port=40000)
    via = parse_message(answer).top_via
    assert via.params["received"] == "127.0.0.2" and via.params["rport"] == "40000"  # RFC 3581 §4
    plain = (RFC4475 / "lwsdisp.dat").read_bytes().replace(b"z9hG4bKkdjuw", b"z9hG4bKother")
    stack.receive_datagram(plain, Address("udp", "127.0.0.2", 40001), 0.0)
    (out,) = stack.datagrams_to_send()
    assert out.destination == Address("udp", "127.0.0.2", 5060)  # §18.2.2: received + sent-by port


def test_rfc2543_request_matching_absorbs_retransmission():
    stack = SipStack()
    data = (RFC4475 / "inv2543.dat").read_bytes()
    src = Address("udp", "127.0.0.2", 5060)
    stack.local_addresses["udp"] = ("127.0.0.1", 5080)
    stack.receive_datagram(data, src, 0.0)
    stack.receive_datagram(data, src, 0.5)
    events = []
    while (e := stack.next_event()) is not None:
        events.append(e)
    assert [type(e) for e in events] == [RequestReceived]
    assert stack.stats["retransmissions"] == 1


def test_timeout_to_a_silent_peer_and_stray_responses():
    net, alice, a, _, b = pair()
    silent = Address("udp", "127.0.0.1", 5999)
    tx = alice.send_request(invite(5999), silent, net.now)
    net.run(40)
    (timeout,) = net.take(a, TransactionTimeout)
    assert timeout.transaction is tx and len(net.sent(a, b"INVITE")) == 7
    alice.receive_datagram((RFC4475 / "noreason.dat").read_bytes(), b, net.now)
    assert alice.stats["stray_responses"] == 1


def test_forked_2xx_reach_the_tu():
    net, alice, a, bob, b = pair()
    req = invite()
    tx = alice.send_request(req, b, net.now)
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    ok = bob.respond(incoming.transaction, 200, now=net.now)
    fork = ok.copy()
    fork.headers.set("To", str(ok.to_addr.with_tag("other-fork")))
    alice.receive_datagram(fork.to_bytes(), b, net.now)
    net.flush()
    tags = [e.response.to_addr.tag for e in net.take(a, ResponseReceived) if e.response.status == 200]
    assert len(tags) == 2 and "other-fork" in tags and tx.state.value == "accepted"


def invite_2xx_sent(net: FakeNetwork, src: Address, after: float = -1.0) -> list[float]:
    """When ``src`` sent a 2xx to an INVITE (first send and retransmissions)."""
    return [t for t, s, _, d in net.wire if s == src and t > after and d.startswith(b"SIP/2.0 2")
            and parse_message(d).cseq.method == "INVITE"]


def answered_with_acks_lost(extra_ok_headers=()):
    """Alice calls Bob, Bob answers, every ACK from Alice is lost on the way."""
    net, alice, a, bob, b = pair(lambda data, src, dst: data.startswith(b"ACK"))
    req = invite()
    client_tx = alice.send_request(req, b, net.now)
    net.flush()
    (incoming,) = net.take(b, RequestReceived)
    bob.respond(incoming.transaction, 200, now=net.now, headers=[("Contact", "<sip:bob@127.0.0.1:5080>")])
    net.flush()
    ok = next(e for e in net.take(a, ResponseReceived) if e.response.status == 200)
    dialog = Dialog.from_uac(req, ok.response)
    alice.send_ack(dialog.create_ack(req), b, net.now, client_tx)
    return net, alice, bob, b, dialog, incoming.transaction


def test_a_bye_after_a_lost_ack_stops_the_2xx_retransmissions():
    # Control: with no BYE the 2xx goes on until Timer L (64·T1), which reports the missing ACK.
    net, _, _, b, _, _ = answered_with_acks_lost()
    net.run(40)
    assert len(invite_2xx_sent(net, b)) > 5 and len(net.take(b, TransactionTimeout)) == 1
    # The same call, hung up by Alice at t=2: the BYE shows the ACK was lost (§13.3.1.4).
    net, alice, bob, b, dialog, server_tx = answered_with_acks_lost()
    net.run(2.0)
    before = len(invite_2xx_sent(net, b))
    assert before >= 3 and not server_tx.ack_received  # first 200 + retransmissions at 0.5, 1.5
    alice.send_request(dialog.create_request("BYE"), b, net.now)
    net.flush()
    (bye,) = net.take(b, RequestReceived)
    assert bye.request.method == "BYE" and server_tx.ack_received and bob.stats["ack_inferred"] == 1
    bob.respond(bye.transaction, 200, now=net.now)
    net.run(40)
    assert invite_2xx_sent(net, b, after=2.0) == []  # not one more 2xx after the BYE
    assert net.take(b, TransactionTimeout) == [] and net.take(b, AckReceived) == []
    assert not bob._servers and not bob._accepted and not bob._accepted_calls  # Timer L still ended it


def test_only_requests_that_prove_the_2xx_arrived_stop_it():
    net, alice, _, b, dialog, server_tx = answered_with_acks_lost()
    # UPDATE may be sent in the early dialog (RFC 3311): it does not prove the 2xx arrived.
    alice.send_request(dialog.create_request("UPDATE"), b, net.now)
    # A BYE of another dialog (other From tag) in the same call does not either.
    stranger = dialog.create_request("BYE")
    stranger.headers.set("From", str(stranger.from_addr.with_tag("someone-else")))
    alice.send_request(stranger, b, net.now)
    net.run(1.0)
    assert not server_tx.ack_received and len(net.take(b, RequestReceived)) == 2
    net.run(5.0)
    assert len(invite_2xx_sent(net, b, after=1.0)) >= 2
    # A re-INVITE does (§14.1: no new INVITE while the first is in progress).
    alice.send_request(dialog.create_request("INVITE"), b, net.now)
    net.flush()
    assert server_tx.ack_received
    net.run(40)
    assert invite_2xx_sent(net, b, after=5.0) == [] and net.take(b, TransactionTimeout) == []


def test_the_tu_can_declare_the_ack_received():
    net, _, bob, b, _, server_tx = answered_with_acks_lost()
    net.run(1.0)
    bob.acknowledged(server_tx, net.now)
    assert bob.get_timer() is not None  # still scheduled: Timer L will end it
    net.run(40)
    assert invite_2xx_sent(net, b, after=1.0) == [] and net.take(b, TransactionTimeout) == []
    assert server_tx.terminated and not bob._servers
