"""Dialogs (RFC 3261 §12): ids, route sets (loose and strict), CSeq rules, target refresh on
re-INVITE (hold/resume), termination. CC-04."""

from __future__ import annotations

from ketnoi.telephony.sip import (
    Dialog,
    DialogState,
    NameAddr,
    address_of,
    build_request,
    make_response,
    parse_message,
    parse_uri,
    session_timer_answer,
)


def invite_through_proxies():
    return parse_message(
        b"INVITE sip:bob@biloxi.example.com SIP/2.0\r\n"
        b"Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bK2\r\nVia: SIP/2.0/UDP pc33.atlanta.com;branch=z9hG4bK1\r\n"
        b"Record-Route: <sip:p2.example.com;lr>\r\nRecord-Route: <sip:p1.example.com;lr>\r\n"
        b"From: Alice <sip:alice@atlanta.com>;tag=1928301774\r\nTo: Bob <sip:bob@biloxi.com>\r\n"
        b"Call-ID: a84b4c76e66710\r\nCSeq: 314159 INVITE\r\nContact: <sip:alice@pc33.atlanta.com>\r\n"
        b"Content-Length: 0\r\n\r\n")


def test_uas_and_uac_views_of_one_dialog():
    invite = invite_through_proxies()
    ok = make_response(invite, 200, to_tag="a6c85cf", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    uas = Dialog.from_uas(invite, ok)
    assert uas.id.local_tag == "a6c85cf" and uas.id.remote_tag == "1928301774"
    assert uas.route_set == ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]
    assert str(uas.remote_target) == "sip:alice@pc33.atlanta.com" and uas.remote_seq == 314159
    assert uas.state is DialogState.CONFIRMED
    uac = Dialog.from_uac(invite, ok)
    assert uac.id.local_tag == "1928301774" and uac.id.remote_tag == "a6c85cf"
    assert uac.route_set == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]  # reversed (§12.1.2)
    assert str(uac.remote_target) == "sip:bob@192.0.2.4" and uac.local_seq == 314159
    assert uac.matches(ok, incoming=True) and uas.matches(invite, incoming=True) is False  # no To tag yet


def test_in_dialog_requests_loose_routing_and_cseq():
    invite = invite_through_proxies()
    ok = make_response(invite, 200, to_tag="b", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    uac = Dialog.from_uac(invite, ok)
    bye = uac.create_request("BYE")
    assert str(bye.uri) == "sip:bob@192.0.2.4"
    assert bye.headers.get_all("route") == ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]
    assert bye.cseq.seq == 314160 and bye.from_addr.tag == "1928301774" and bye.to_addr.tag == "b"
    assert str(uac.next_hop()) == "sip:p1.example.com;lr"
    ack = uac.create_ack(invite)
    assert ack.cseq.seq == 314159 and ack.cseq.method == "ACK" and uac.local_seq == 314160


def test_strict_router_becomes_the_request_uri():
    invite = invite_through_proxies()
    invite.headers.set("Record-Route", "<sip:strict.example.com>")
    ok = make_response(invite, 200, to_tag="b", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    uac = Dialog.from_uac(invite, ok)
    req = uac.create_request("INFO")
    assert str(req.uri) == "sip:strict.example.com"
    assert req.headers.get_all("route") == ["<sip:bob@192.0.2.4>"]  # §12.2.1.1: target goes last


def test_reinvite_hold_refreshes_target_and_rejects_old_cseq():
    invite = invite_through_proxies()
    ok = make_response(invite, 200, to_tag="b", headers=[("Contact", "<sip:bob@192.0.2.4>")])
    uas = Dialog.from_uas(invite, ok)
    hold = invite.copy()
    hold.headers.set("To", str(invite.to_addr.with_tag("b")))
    hold.headers.set("CSeq", "314160 INVITE")
    hold.headers.set("Contact", "<sip:alice@198.51.100.7>")
    hold.body = b"v=0\r\na=sendonly\r\n"
    assert uas.receive_request(hold) is None
    assert str(uas.remote_target) == "sip:alice@198.51.100.7"  # target refresh (§12.2.2)
    assert uas.receive_request(hold) == 500  # same CSeq again: out of order
    resume = uas.create_request("INVITE", body=b"v=0\r\na=sendrecv\r\n", content_type="application/sdp")
    assert resume.cseq.method == "INVITE" and resume.headers.get("content-type") == "application/sdp"


def test_responses_move_the_dialog_state():
    invite = invite_through_proxies()
    ringing = make_response(invite, 180, to_tag="b")
    early = Dialog.from_uac(invite, ringing)
    assert early.state is DialogState.EARLY
    early.receive_response(make_response(invite, 200, to_tag="b", headers=[("Contact", "<sip:bob@x>")]))
    assert early.state is DialogState.CONFIRMED and str(early.remote_target) == "sip:bob@x"
    refused = Dialog.from_uac(invite, ringing)
    refused.receive_response(make_response(invite, 486, to_tag="b"))
    assert refused.state is DialogState.TERMINATED
    gone = Dialog.from_uac(invite, make_response(invite, 200, to_tag="b"))
    bye = gone.create_request("BYE")
    gone.receive_response(make_response(bye, 481))
    assert gone.state is DialogState.TERMINATED


def test_build_request_and_address_of():
    req = build_request("INVITE", "sip:1022@127.0.0.1:5070", from_addr=NameAddr(parse_uri("sip:0901@trunk")),
                        to_addr=NameAddr(parse_uri("sip:1022@ketnoi")), contact=parse_uri("sip:0901@10.0.0.1"),
                        route=["<sip:sbc.example;lr>"], body=b"v=0\r\n", content_type="application/sdp")
    assert req.from_addr.tag and req.cseq.seq == 1 and req.headers.get("route") == "<sip:sbc.example;lr>"
    assert address_of(parse_uri("sip:a@10.0.0.1")) == ("udp", "10.0.0.1", 5060)
    assert address_of(parse_uri("sip:a@10.0.0.1:5070;transport=TCP")) == ("tcp", "10.0.0.1", 5070)
    assert address_of(parse_uri("sips:a@[2001:db8::1]")) == ("tls", "2001:db8::1", 5061)
    assert address_of(parse_uri("sip:a@h;maddr=10.0.0.9")).host == "10.0.0.9"


def test_session_timers_are_tolerated():
    invite = invite_through_proxies()
    assert session_timer_answer(invite) == []
    invite.headers.add("Session-Expires", "1800;refresher=uas")
    assert session_timer_answer(invite) == []  # the caller cannot refresh: timers are ignored
    invite.headers.add("Supported", "replaces, timer")
    assert session_timer_answer(invite) == [("Session-Expires", "1800;refresher=uac"), ("Require", "timer")]
    invite.headers.set("Session-Expires", "x")
    assert session_timer_answer(invite) == []
