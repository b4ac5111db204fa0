"""The sans-I/O SMPP 3.4 session (SMS-02): exact PDU bytes, framing, responses, timers, rate limit,
delivery receipt parsing — no sockets, a hand-driven clock."""

from __future__ import annotations

import struct

from ketnoi.sms.providers import smpp_session as ss
from tests.sms.peers.smsc import Reader, cstr, pdu


def bound_session(now: float = 0.0, **kw) -> ss.SmppSession:
    s = ss.SmppSession(mode="trx", system_id="ketnoi", password="secret", now=now, **kw)
    s.bind(now)
    s.data_to_send()
    assert s.receive(pdu(0x80000009, 0, 1, cstr("SMSC")), now) == [ss.Bound("SMSC")]
    return s


def test_bind_transceiver_bytes():
    s = ss.SmppSession(mode="trx", system_id="ketnoi", password="secret", system_type="VMA")
    s.bind(0.0)
    body = cstr("ketnoi") + cstr("secret") + cstr("VMA") + bytes([0x34, 0, 0]) + cstr("")
    assert s.data_to_send() == pdu(0x00000009, 0, 1, body)
    assert s.state == "binding"


def test_bind_refused_closes():
    s = ss.SmppSession(mode="tx", system_id="x")
    s.bind(0.0)
    events = s.receive(pdu(0x80000002, 0x0E, 1), 0.0)
    assert events == [ss.BindFailed(0x0E), ss.Closed("bind refused: 0x0000000E Invalid Password")]


def test_submit_sm_fields_and_response_split_across_reads():
    s = bound_session()
    seq = s.submit(0.0, source_addr_ton=5, source_addr_npi=0, source_addr="UBND", dest_addr_ton=1,
                   dest_addr_npi=1, destination_addr="84901234567", esm_class=0x40, registered_delivery=1,
                   data_coding=8, short_message=b"\x05\x00\x03\x01\x02\x01\x00A")
    raw = s.data_to_send()
    assert struct.unpack(">LLLL", raw[:16])[1:] == (4, 0, seq)
    r = Reader(raw[16:])
    assert r.cstr(6) == "" and (r.int(1), r.int(1), r.cstr(21)) == (5, 0, "UBND")
    assert (r.int(1), r.int(1), r.cstr(21)) == (1, 1, "84901234567")
    assert (r.int(1), r.int(1), r.int(1), r.cstr(17), r.cstr(17)) == (0x40, 0, 0, "", "")
    assert (r.int(1), r.int(1), r.int(1), r.int(1)) == (1, 0, 8, 0)
    n = r.int(1)
    assert r.octets(n) == b"\x05\x00\x03\x01\x02\x01\x00A" and r.i == len(raw) - 16
    assert s.in_flight == 1
    resp = pdu(0x80000004, 0, seq, cstr("ABC123"))
    assert s.receive(resp[:5], 0.1) == [] and s.receive(resp[5:17], 0.1) == []
    assert s.receive(resp[17:], 0.1) == [ss.Response("submit_sm", seq, 0, "ABC123")]
    assert s.in_flight == 0


def test_generic_nack_answers_a_submit():
    s = bound_session()
    seq = s.submit(0.0, destination_addr="1", short_message=b"x")
    assert s.receive(pdu(0x80000000, 0x58, seq), 0.0) == [ss.Response("submit_sm", seq, 0x58, None)]


def test_peer_requests_enquire_link_unbind_and_unknown_commands():
    s = bound_session()
    assert s.receive(pdu(0x15, 0, 77), 1.0) == []
    assert s.data_to_send() == pdu(0x80000015, 0, 77)
    assert s.receive(pdu(0x07, 0, 78, b"\x00" * 8), 1.0) == []  # replace_sm: not implemented here
    assert s.data_to_send() == pdu(0x80000000, ss.ESME_RINVCMDID, 78)
    assert s.receive(pdu(0x06, 0, 79), 1.0) == [ss.Closed("peer unbound")]
    assert s.data_to_send() == pdu(0x80000006, 0, 79)


def test_deliver_sm_is_answered_only_when_the_glue_says_so():
    s = bound_session()
    body = (cstr("") + bytes([1, 1]) + cstr("84901234567") + bytes([0, 1]) + cstr("1022") + bytes([0, 0, 0])
            + cstr("") + cstr("") + bytes([0, 0, 8, 0, 4]) + "Dạ".encode("utf-16-be"))
    (ev,) = s.receive(pdu(0x05, 0, 500, body), 0.0)
    assert isinstance(ev, ss.Deliver) and ev.seq == 500 and s.data_to_send() == b""
    info = ss.parse_deliver(ev.pdu)
    assert (info.source, info.destination, info.is_receipt, info.payload) == ("84901234567", "1022", False,
                                                                               "Dạ".encode("utf-16-be"))
    s.respond(500, "deliver_sm_resp", 0)
    assert s.data_to_send() == pdu(0x80000005, 0, 500, b"\x00")


def test_deliver_sm_with_tlvs_smpplib_does_not_list_is_parsed():
    s = bound_session()
    body = (cstr("") + bytes([1, 1]) + cstr("849") + bytes([0, 1]) + cstr("1022") + bytes([0, 0, 0]) + cstr("")
            + cstr("") + bytes([0, 0, 0, 0, 2]) + b"hi" + struct.pack(">HHB", 0x0005, 1, 1)  # dest_addr_subunit
            + struct.pack(">HH", 0x1401, 2) + b"zz")  # a vendor TLV
    (ev,) = s.receive(pdu(0x05, 0, 9, body), 0.0)
    assert ss.parse_deliver(ev.pdu).payload == b"hi"


def test_bad_command_length_nacks_and_closes():
    s = bound_session()
    assert s.receive(struct.pack(">LLLL", 8, 4, 0, 1), 0.0) == [ss.Closed("invalid command_length 8")]
    assert s.data_to_send() == pdu(0x80000000, ss.ESME_RINVCMDLEN, 0)


def test_enquire_link_when_idle_and_silence_closes():
    s = bound_session(now=0.0, enquire_interval=30, response_timeout=5)
    assert s.tick(10.0) == [] and s.data_to_send() == b""
    assert s.tick(30.0) == []
    raw = s.data_to_send()
    assert struct.unpack(">LLLL", raw[:16])[1] == 0x15
    assert s.tick(34.0) == []
    assert s.tick(35.5) == [ss.Closed("no enquire_link_resp in 5s")]


def test_unanswered_submit_closes_after_the_response_timeout():
    s = bound_session(response_timeout=2)
    s.submit(0.0, destination_addr="1", short_message=b"x")
    assert s.tick(1.9) == []
    assert s.tick(2.1) == [ss.Closed("no submit_sm_resp in 2s")]


def test_token_bucket_spaces_reservations():
    b = ss.TokenBucket(rate=10, capacity=1, now=0.0)
    waits = [b.reserve(0.0) for _ in range(5)]
    assert [round(w, 6) for w in waits] == [0.0, 0.1, 0.2, 0.3, 0.4]
    b = ss.TokenBucket(rate=10, capacity=1, now=0.0)
    assert b.reserve(0.0) == 0.0
    b.pause(0.0, 2.0)
    assert round(b.reserve(0.5), 6) == 1.6  # the pause ends at 2.0, then one token interval


def test_receipt_text_and_tlvs():
    f = ss.parse_receipt_text("id:0A1B sub:001 dlvrd:001 submit date:2611221010 done date:2611221011 "
                              "stat:DELIVRD err:000 text:Xin chao")
    assert f == {"id": "0A1B", "sub": "001", "dlvrd": "001", "submit date": "2611221010",
                 "done date": "2611221011", "stat": "DELIVRD", "err": "000", "text": "Xin chao"}
    s = bound_session()
    text = b"id:77 sub:001 dlvrd:000 submit date:2611221010 done date:2611221130 stat:EXPIRED err:027 text:"
    body = (cstr("") + bytes([1, 1]) + cstr("84901234567") + bytes([0, 1]) + cstr("UBND") + bytes([0x04, 0, 0])
            + cstr("") + cstr("") + bytes([0, 0, 0, 0, len(text)]) + text)
    (ev,) = s.receive(pdu(0x05, 0, 3, body), 0.0)
    info = ss.parse_deliver(ev.pdu)
    assert info.is_receipt and (info.receipt_id, info.receipt_status) == ("77", "expired")
    assert info.receipt_error == "EXPIRED err:027"
    assert info.receipt_done.isoformat() == "2026-11-22T11:30:00+07:00"
