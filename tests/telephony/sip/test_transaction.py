"""Transaction state machines and timers A–M (RFC 3261 §17, RFC 6026) on an injected clock. CC-04."""

from __future__ import annotations

from ketnoi.telephony.sip import (
    Address,
    ClientInviteTransaction,
    ClientNonInviteTransaction,
    Request,
    ResponseReceived,
    ServerInviteTransaction,
    ServerNonInviteTransaction,
    State,
    TimerConfig,
    TransactionTimeout,
    make_response,
)
from ketnoi.telephony.sip.transaction import Send

UDP = Address("udp", "127.0.0.1", 5080)
TCP = Address("tcp", "127.0.0.1", 5080)
T = TimerConfig()


def request(method: str = "INVITE") -> Request:
    return Request(method, "sip:bob@127.0.0.1:5080", [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKtest;rport"), ("From", "<sip:a@x>;tag=a1"),
        ("To", "<sip:bob@127.0.0.1>"), ("Call-ID", "tx-1"), ("CSeq", f"1 {method}"), ("Max-Forwards", "70")])


def sends(actions):
    return [a for a in actions if isinstance(a, Send)]


def run_until(tx, end: float):
    """Fire the transaction's timers up to ``end``; returns [(time, actions)]."""
    fired = []
    while (deadline := tx.get_timer()) is not None and deadline <= end:
        fired.append((deadline, tx.handle_timer(deadline)))
    return fired


def test_invite_client_timer_a_doubles_until_timer_b():
    tx = ClientInviteTransaction(request(), UDP, T, "z9hG4bKtest")
    assert len(sends(tx.start(0.0))) == 1 and tx.state is State.CALLING
    fired = run_until(tx, 100)
    retransmits = [t for t, actions in fired if sends(actions)]
    assert retransmits == [0.5, 1.5, 3.5, 7.5, 15.5, 31.5]  # Timer A: T1, 2T1, 4T1… (§17.1.1.2)
    last_time, last = fired[-1]
    assert last_time == 32.0 and isinstance(last[0], TransactionTimeout)  # Timer B = 64*T1
    assert tx.state is State.TERMINATED and tx.get_timer() is None


def test_invite_client_over_tcp_does_not_retransmit():
    tx = ClientInviteTransaction(request(), TCP, T, "z9hG4bKtest")
    tx.start(0.0)
    fired = run_until(tx, 100)
    assert [t for t, _ in fired] == [32.0] and isinstance(fired[0][1][0], TransactionTimeout)


def test_invite_client_error_response_gets_ack_and_timer_d():
    req = request()
    tx = ClientInviteTransaction(req, UDP, T, "z9hG4bKtest")
    tx.start(0.0)
    ringing = make_response(req, 180, to_tag="b1")
    actions = tx.receive_response(ringing, 0.2)
    assert tx.state is State.PROCEEDING and isinstance(actions[0], ResponseReceived)
    assert tx.get_timer() is None  # Proceeding: neither A nor B runs
    busy = make_response(req, 486, to_tag="b1")
    actions = tx.receive_response(busy, 1.0)
    ack = sends(actions)[0].message
    assert ack.method == "ACK" and ack.cseq.method == "ACK" and ack.cseq.seq == 1
    assert ack.to_addr.tag == "b1" and ack.top_via.branch == "z9hG4bKtest"  # §17.1.1.3
    assert tx.state is State.COMPLETED and tx.get_timer() == 33.0  # Timer D = 32 s
    assert sends(tx.receive_response(busy, 2.0))[0].message is ack  # retransmitted 486 → ACK again
    assert tx.receive_response(busy, 2.0)[-1:] != [ResponseReceived(busy, tx)]  # TU not bothered again
    run_until(tx, 40)
    assert tx.state is State.TERMINATED


def test_invite_client_accepted_state_passes_every_2xx():
    req = request()
    tx = ClientInviteTransaction(req, UDP, T, "z9hG4bKtest")
    tx.start(0.0)
    ok1 = make_response(req, 200, to_tag="fork1")
    ok2 = make_response(req, 200, to_tag="fork2")
    assert isinstance(tx.receive_response(ok1, 0.1)[0], ResponseReceived)
    assert tx.state is State.ACCEPTED and tx.get_timer() == 0.1 + 32.0  # Timer M (RFC 6026)
    assert tx.receive_response(ok2, 0.2)[0].response is ok2
    run_until(tx, 40)
    assert tx.state is State.TERMINATED


def test_non_invite_client_timer_e_caps_at_t2_then_f():
    tx = ClientNonInviteTransaction(request("OPTIONS"), UDP, T, "z9hG4bKtest")
    tx.start(0.0)
    fired = run_until(tx, 100)
    times = [t for t, actions in fired if sends(actions)]
    assert times[:5] == [0.5, 1.5, 3.5, 7.5, 11.5]  # T1, 2T1, 4T1, then every T2=4 s
    assert isinstance(fired[-1][1][0], TransactionTimeout) and fired[-1][0] == 32.0


def test_non_invite_client_proceeding_retransmits_every_t2_and_timer_k():
    req = request("BYE")
    tx = ClientNonInviteTransaction(req, UDP, T, "z9hG4bKtest")
    tx.start(0.0)
    tx.receive_response(make_response(req, 100), 0.1)
    assert tx.state is State.PROCEEDING
    fired = run_until(tx, 9)
    assert [t for t, a in fired if sends(a)] == [0.5, 4.5, 8.5]
    final = make_response(req, 200, to_tag="x")
    assert isinstance(tx.receive_response(final, 9.0)[0], ResponseReceived)
    assert tx.get_timer() == 14.0  # Timer K = T4
    assert tx.receive_response(final, 10.0) == []  # absorbed
    run_until(tx, 20)
    assert tx.state is State.TERMINATED


def server(method: str, source: Address = UDP):
    req = request(method)
    cls = ServerInviteTransaction if method == "INVITE" else ServerNonInviteTransaction
    return req, cls(("k",), req, source, source, T)


def test_invite_server_error_response_timer_g_and_h():
    req, tx = server("INVITE")
    tx.send_response(make_response(req, 100), 0.0)
    assert sends(tx.receive_request(req, 0.3))[0].message.status == 100  # retransmitted INVITE
    tx.send_response(make_response(req, 404, to_tag="s"), 1.0)
    assert tx.state is State.COMPLETED
    fired = run_until(tx, 100)
    assert [t for t, a in fired if sends(a)] == [1.5, 2.5, 4.5, 8.5, 12.5, 16.5, 20.5, 24.5, 28.5, 32.5]
    assert isinstance(fired[-1][1][0], TransactionTimeout) and fired[-1][0] == 33.0  # Timer H


def test_invite_server_ack_confirms_then_timer_i():
    req, tx = server("INVITE")
    tx.send_response(make_response(req, 486, to_tag="s"), 0.0)
    ack = Request("ACK", req.uri, req.headers.copy())
    assert tx.receive_request(ack, 0.2) == []
    assert tx.state is State.CONFIRMED and tx.get_timer() == 5.2  # Timer I = T4
    assert tx.receive_request(ack, 1.0) == []  # absorbed
    run_until(tx, 10)
    assert tx.state is State.TERMINATED


def test_invite_server_2xx_retransmitted_until_acknowledged():
    req, tx = server("INVITE")
    tx.send_response(make_response(req, 200, to_tag="s"), 0.0)
    assert tx.state is State.ACCEPTED
    fired = run_until(tx, 2)
    assert [t for t, a in fired if sends(a)] == [0.5, 1.5]  # §13.3.1.4: T1, 2T1…
    assert tx.receive_request(req, 2.0) == []  # RFC 6026: INVITE retransmission absorbed
    tx.acknowledge(2.1)
    fired = run_until(tx, 100)
    assert [t for t, a in fired if sends(a)] == []
    assert fired[-1][0] == 32.0 and fired[-1][1] == []  # Timer L ends quietly after an ACK
    assert tx.state is State.TERMINATED


def test_invite_server_2xx_without_ack_times_out():
    req, tx = server("INVITE")
    tx.send_response(make_response(req, 200, to_tag="s"), 0.0)
    fired = run_until(tx, 100)
    assert isinstance(fired[-1][1][0], TransactionTimeout)


def test_non_invite_server_timer_j_and_retransmissions():
    req, tx = server("OPTIONS")
    assert tx.receive_request(req, 0.1) == []  # Trying: nothing to resend yet
    tx.send_response(make_response(req, 200, to_tag="s"), 0.2)
    assert sends(tx.receive_request(req, 0.5))[0].message.status == 200
    assert tx.get_timer() == 0.2 + 32.0  # Timer J = 64*T1
    run_until(tx, 40)
    assert tx.state is State.TERMINATED
    _, reliable = server("OPTIONS", TCP)
    reliable.send_response(make_response(reliable.request, 200), 1.0)
    assert reliable.get_timer() == 1.0  # J = 0 on reliable transports
