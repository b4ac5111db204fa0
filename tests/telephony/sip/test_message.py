"""SIP message parser and serializer (RFC 3261 §7, §18.3, §20) against the RFC 4475 torture messages
and bytes captured from real SIPp and baresip (tests/telephony/sip/vectors/). CC-04."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketnoi.telephony.sip import Headers, ParseError, Request, Response, make_response, parse_message

VECTORS = Path(__file__).parent / "vectors"
RFC4475 = VECTORS / "rfc4475"
CAPTURED = sorted((VECTORS / "captured").glob("*.bin"))

# RFC 4475 §3.1.1 (valid) and §3.3 (valid syntax, application-level checks): must parse.
VALID = ["wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "dblreq", "semiuri",
         "transports", "mpart01", "unreason", "noreason", "bcast", "bext01", "cparam01", "cparam02",
         "inv2543", "invut", "novelsc", "regaut01", "regescrt", "sdp01", "unkscm", "unksm2", "zeromf",
         "badbranch", "baddate"]
# RFC 4475 §3.1.2 and §3.3.x with invalid syntax: must be refused, with the status named there.
INVALID = {"badinv01": 400, "clerr": 400, "ncl": 400, "scalar02": 400, "scalarlg": 400, "quotbal": 400,
           "ltgtruri": 400, "lwsruri": 400, "lwsstart": 400, "trws": 400, "escruri": 400, "regbadct": 400,
           "badaspec": 400, "baddn": 400, "badvers": 505, "mismatch01": 400, "mismatch02": 400,
           "bigcode": 400, "insuf": 400, "mcl01": 400, "multi01": 400}


def load(name: str) -> bytes:
    return (RFC4475 / f"{name}.dat").read_bytes()


def test_every_rfc4475_vector_is_classified():
    assert {p.stem for p in RFC4475.glob("*.dat")} == set(VALID) | set(INVALID) | {"ncl"}
    assert len(list(RFC4475.glob("*.dat"))) == 49


@pytest.mark.parametrize("name", VALID)
def test_rfc4475_valid_messages_parse_and_round_trip(name):
    message = parse_message(load(name))
    wire = message.to_bytes()
    again = parse_message(wire)
    assert again.to_bytes() == wire  # the serializer's output is a fixed point
    assert type(again) is type(message) and again.body == message.body
    def without_length(headers):
        return [(n, v) for n, v in headers if n.lower() not in ("content-length", "l")]

    assert without_length(again.headers) == without_length(message.headers)


@pytest.mark.parametrize("name", sorted(INVALID))
def test_rfc4475_invalid_messages_raise_parse_error(name):
    with pytest.raises(ParseError) as info:
        parse_message(load(name))
    assert info.value.status == INVALID[name]


def test_wsinv_details():
    msg = parse_message(load("wsinv"))
    assert isinstance(msg, Request) and msg.method == "INVITE"
    assert msg.uri.params == {"unknownparam": None}
    assert msg.to_addr.tag == "1918181833n"
    assert msg.from_addr.display == 'J Rosenberg \\"' and msg.from_addr.tag == "98asjd8"
    assert msg.max_forwards == 68 and msg.cseq.seq == 9 and msg.cseq.method == "INVITE"
    assert [v.host for v in msg.vias] == ["192.0.2.2", "spindle.example.com", "192.168.255.111"]
    assert [v.transport for v in msg.vias] == ["UDP", "TCP", "UDP"]
    assert msg.headers.get("s") == "" and msg.headers.get("subject") == ""
    assert msg.headers.get("NewFangledHeader") == "newfangled value continued newfangled value"
    assert msg.headers.get("UnknownHeaderWithUnusualValue") == ";;,,;;,;"
    assert msg.contacts[0].params["q"] == "0.33"
    assert len(msg.body) == 150 and msg.content_type == "application/sdp"


def test_specific_torture_details():
    intmeth = parse_message(load("intmeth"))
    assert intmeth.method == "!interesting-Method0123456789_*+`.%indeed'~"
    assert intmeth.call_id == "intmeth.word%ZK-!.*_+'@word`~)(><:\\/\"][?}{"
    assert intmeth.to_addr.display == "BEL:\x07 NUL:\x00 DEL:\x7f"
    unreason = parse_message(load("unreason"))
    assert isinstance(unreason, Response) and unreason.status == 200 and "простое" in unreason.reason
    assert unreason.to_bytes() == load("unreason")
    noreason = parse_message(load("noreason"))
    assert noreason.status == 100 and noreason.reason == ""
    transports = parse_message(load("transports"))
    assert {v.transport for v in transports.vias} == {"UDP", "SCTP", "TLS", "UNKNOWN", "TCP"}
    unkscm = parse_message(load("unkscm"))
    assert unkscm.uri.scheme == "nobodyknowsthisscheme"
    assert parse_message(load("esc02")).method == "RE%47IST%45R"


def test_datagram_content_length_rules():
    # dblreq: two requests in one datagram, the bytes after Content-Length are dropped (§18.3).
    dbl = parse_message(load("dblreq"))
    assert dbl.method == "REGISTER" and dbl.body == b""
    with pytest.raises(ParseError, match="shorter"):
        parse_message(load("clerr"))
    options = b"OPTIONS sip:a@b SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:x@y>;tag=1\r\n" \
              b"To: <sip:a@b>\r\nCall-ID: c1\r\nCSeq: 1 OPTIONS\r\n\r\nbody-without-length"
    assert parse_message(options).body == b"body-without-length"  # UDP: body runs to the end
    assert parse_message(options, datagram=False).body == b""  # stream framing decides instead
    assert parse_message(b"\r\n\r\n" + options).method == "OPTIONS"  # §7.5 leading CRLFs
    assert parse_message(options.replace(b"\r\n", b"\n")).call_id == "c1"  # bare LF tolerated


def test_size_limit_gives_413():
    big = load("wsinv")[:-150] + b"x" * 150
    with pytest.raises(ParseError) as info:
        parse_message(big + b" " * 40_000)
    assert info.value.status == 413
    many = b"OPTIONS sip:a@b SIP/2.0\r\n" + b"X-H: 1\r\n" * 300 + b"\r\n"
    with pytest.raises(ParseError) as info:
        parse_message(many)
    assert info.value.status == 413


def test_parse_error_carries_what_was_read():
    with pytest.raises(ParseError) as info:
        parse_message(load("lwsstart"))
    assert info.value.method == "INVITE" and info.value.headers.get("call-id").startswith("lwsstart")
    with pytest.raises(ParseError) as info:
        parse_message(load("bigcode"))
    assert info.value.method is None  # a response: never answered


@pytest.mark.parametrize("path", CAPTURED, ids=lambda p: p.stem)
def test_captured_messages_round_trip_byte_exact(path):
    data = path.read_bytes()
    message = parse_message(data)
    assert message.to_bytes() == data
    assert message.call_id and message.cseq.seq > 0 and message.top_via.branch.startswith("z9hG4bK")


def test_captured_peers_include_sipp_and_baresip():
    names = {p.stem for p in CAPTURED}
    assert any(n.startswith("sipp-uac") and n.endswith("INVITE") for n in names)
    assert any(n.startswith("baresip") and n.endswith("REGISTER") for n in names)


def test_headers_api():
    h = Headers([("v", "SIP/2.0/UDP a;branch=z9hG4bK1, SIP/2.0/UDP b;branch=z9hG4bK2"),
                 ("Via", "SIP/2.0/TCP c;branch=z9hG4bK3"), ("i", "abc"), ("Subject", "x, y")])
    assert h.get("Call-ID") == "abc" and "CALL-ID" in h and "i" in h
    assert len(h.get_all("via")) == 3 and h.get_all("subject") == ["x, y"]  # Subject is not a list
    assert h.pop_first("Via") == "SIP/2.0/UDP a;branch=z9hG4bK1"
    assert h.get_all("via") == ["SIP/2.0/UDP b;branch=z9hG4bK2", "SIP/2.0/TCP c;branch=z9hG4bK3"]
    h.replace_first("via", "SIP/2.0/UDP b;branch=z9hG4bK2;received=1.2.3.4")
    assert h.get("via").endswith("received=1.2.3.4")
    h.prepend("Via", "SIP/2.0/UDP top;branch=z9hG4bK0")
    assert h.get_all("v")[0] == "SIP/2.0/UDP top;branch=z9hG4bK0"
    h.set("call-id", "new")
    assert h.get_all("i") == ["new"]
    h.remove("VIA")
    assert "via" not in h


def test_make_response_copies_the_right_headers():
    invite = parse_message(
        b"INVITE sip:bob@b SIP/2.0\r\nVia: SIP/2.0/UDP a:5060;branch=z9hG4bKx\r\nVia: SIP/2.0/UDP p;branch=z9hG4bKy\r\n"
        b"Record-Route: <sip:p;lr>\r\nFrom: <sip:a@a>;tag=1\r\nTo: <sip:bob@b>\r\nCall-ID: k\r\nCSeq: 7 INVITE\r\n"
        b"Timestamp: 54\r\nContent-Length: 0\r\n\r\n")
    trying = make_response(invite, 100, to_tag="zz")
    assert trying.headers.get("timestamp") == "54" and trying.to_addr.tag is None
    ok = make_response(invite, 200, to_tag="zz", body=b"v=0\r\n", content_type="application/sdp")
    assert ok.to_addr.tag == "zz" and ok.headers.get_all("record-route") == ["<sip:p;lr>"]
    assert len(ok.vias) == 2 and ok.cseq.seq == 7 and ok.call_id == "k"
    wire = ok.to_bytes()
    assert wire.startswith(b"SIP/2.0 200 OK\r\n") and b"Content-Length: 5\r\n" in wire
    busy = make_response(invite, 486, to_tag="zz")
    assert "record-route" not in busy.headers and busy.reason == "Busy Here"


def test_serializer_fixes_content_length():
    req = Request("MESSAGE", "sip:a@b", [("Content-Length", "999"), ("l", "3")], body=b"xin chao")
    wire = req.to_bytes()
    assert wire.count(b"Content-Length") == 1 and b"Content-Length: 8\r\n" in wire and b"\r\nl:" not in wire
