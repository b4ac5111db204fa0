"""URIs (RFC 3261 §19.1, RFC 3966) and header values (§7.3, §20, §25): CC-04 signalling core."""

from __future__ import annotations

import pytest

from ketnoi.telephony.sip import (
    AbsoluteURI,
    ParseError,
    SipURI,
    TelURI,
    parse_name_addr,
    parse_uri,
    parse_via,
)
from ketnoi.telephony.sip.headers import (
    canonical_name,
    display_name,
    format_auth,
    parse_auth,
    parse_cseq,
    quote,
    split_list,
    unquote,
)


def test_sip_uri_parts_and_round_trip():
    uri = parse_uri("sip:alice:secret@Example.COM:5070;transport=TCP;lr?subject=hi&priority=urgent")
    assert isinstance(uri, SipURI)
    assert (uri.user, uri.password, uri.host, uri.port) == ("alice", "secret", "Example.COM", 5070)
    assert uri.params == {"transport": "TCP", "lr": None}
    assert uri.transport == "tcp"
    assert uri.headers == {"subject": "hi", "priority": "urgent"}
    assert parse_uri(str(uri)) == uri


def test_ipv6_and_sips():
    uri = parse_uri("sips:bob@[2001:db8::9:1]:5061;maddr=[2001:db8::1]")
    assert uri.scheme == "sips" and uri.host == "2001:db8::9:1" and uri.port == 5061
    assert uri.transport == "tls"
    assert str(uri).startswith("sips:bob@[2001:db8::9:1]:5061")
    assert parse_uri("sip:[::1]").host_port == ("::1", 5060)
    assert parse_uri("sips:[::1]").host_port == ("::1", 5061)


def test_user_part_may_hold_reserved_characters():
    # RFC 4475 §3.1.1.2 / §3.1.1.9: ';', '?', ',' and ':' inside the user part.
    uri = parse_uri("sip:user;par=u%40example.net@example.com")
    assert uri.user == "user;par=u%40example.net" and uri.host == "example.com" and uri.params == {}
    weird = parse_uri("sip:1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*:&it+has=1,weird!*pas$wo~d_too."
                      "(doesn't-it)@example.com")
    assert weird.user == "1_unusual.URI~(to-be!sure)&isn't+it$/crazy?,/;;*"
    assert weird.password == "&it+has=1,weird!*pas$wo~d_too.(doesn't-it)"


def test_tel_and_other_schemes():
    tel = parse_uri("tel:+84-24-3825-1022;phone-context=+84")
    assert isinstance(tel, TelURI) and tel.digits == "+842438251022"
    assert tel.equivalent(parse_uri("tel:+842438251022;phone-context=+84"))
    assert isinstance(parse_uri("mailto:watson@bell-telephone.com"), AbsoluteURI)


def test_uri_equivalence_rules():
    # §19.1.4: escapes resolved, host case-insensitive, user case-sensitive, transport must agree.
    a = parse_uri("sip:%61lice@atlanta.com;transport=TCP")
    assert a.equivalent(parse_uri("sip:alice@AtLanTa.CoM;Transport=tcp"))
    assert not parse_uri("sip:ALICE@atlanta.com").equivalent(parse_uri("sip:alice@atlanta.com"))
    assert not parse_uri("sip:bob@biloxi.com").equivalent(parse_uri("sip:bob@biloxi.com:5060"))
    assert not parse_uri("sip:bob@biloxi.com;transport=udp").equivalent(parse_uri("sip:bob@biloxi.com"))
    assert parse_uri("sip:carol@chicago.com").aor == parse_uri("sip:carol@CHICAGO.com;lr").aor


@pytest.mark.parametrize("text", [
    "sip:", "sip:user@", "sip:@host", "sip:host:99999", "sip:host:5x", "sip:[::1", "sip:a b@host",
    "<sip:host>", "nothing", "tel:", "sip:host;=x", "sip:[1.2]",
])
def test_bad_uris_raise_parse_error(text):
    with pytest.raises(ParseError):
        parse_uri(text)


def test_compact_and_canonical_names():
    for short, full in {"i": "call-id", "m": "contact", "f": "from", "t": "to", "v": "via",
                        "l": "content-length", "c": "content-type", "k": "supported", "s": "subject",
                        "e": "content-encoding", "o": "event", "u": "allow-events", "r": "refer-to",
                        "b": "referred-by", "x": "session-expires", "y": "identity"}.items():
        assert canonical_name(short) == full
        assert canonical_name(short.upper()) == full
    assert display_name("call-id") == "Call-ID" and display_name("v") == "Via"
    assert display_name("WWW-AUTHENTICATE") == "WWW-Authenticate" and display_name("cseq") == "CSeq"


def test_split_list_respects_quotes_and_brackets():
    value = '"Watson, Thomas" <sip:t@x;a=1,2>;q=0.7, <sip:b@y>, sip:c@z'
    assert split_list(value) == ['"Watson, Thomas" <sip:t@x;a=1,2>;q=0.7', "<sip:b@y>", "sip:c@z"]
    assert split_list('"a \\" , b" <sip:a@b>, <sip:c@d>') == ['"a \\" , b" <sip:a@b>', "<sip:c@d>"]
    with pytest.raises(ParseError):
        split_list('"unterminated <sip:a@b>')


def test_quoted_strings():
    assert unquote('"J Rosenberg \\\\\\""') == 'J Rosenberg \\"'
    assert unquote(quote('a "b" \\ c')) == 'a "b" \\ c'


def test_name_addr_forms():
    na = parse_name_addr('"Quoted string \\"\\"" <sip:jdrosen@example.com> ; newparam = newvalue ;'
                         " secondparam ; q = 0.33")
    assert na.display == 'Quoted string ""'
    assert na.params == {"newparam": "newvalue", "secondparam": None, "q": "0.33"}
    assert parse_name_addr(str(na)) == na
    plain = parse_name_addr("sip:caller@example.net;tag=93942939o2")
    assert plain.tag == "93942939o2" and plain.uri.params == {}  # addr-spec: params are the header's
    tokens = parse_name_addr("token1~` token2'+_ <sip:mundane@example.com>;tag=x")
    assert tokens.display == "token1~` token2'+_"
    assert parse_name_addr("<sip:a@b;lr>").uri.params == {"lr": None}


@pytest.mark.parametrize("value", [
    "Bell, Alexander <sip:a.g.bell@example.com>",   # RFC 4475 §3.1.2.14: unquoted non-tokens
    '"Mr. J. User <sip:j.user@example.com>',          # §3.1.2.7: unbalanced quote
    "< sip:t.watson@example.org >",                    # §3.1.2.13: spaces inside <>
    "sip:user@example.com?Route=%3Csip:sip.example.com%3E",  # §3.1.2.11: '?' outside <>
    "<sip:a@b",
    "<sip:a@b> junk",
])
def test_bad_name_addr(value):
    with pytest.raises(ParseError):
        parse_name_addr(value)


def test_via_with_lws_ipv6_and_rport():
    via = parse_via("SIP  /    2.0   / UDP  192.168.255.111   ; branch= z9hG4bK30239")
    assert (via.transport, via.host, via.port, via.branch) == ("UDP", "192.168.255.111", None, "z9hG4bK30239")
    v6 = parse_via("SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;rport;received=2001:db8::9:255")
    assert v6.host == "2001:db8::9:1" and v6.port == 5070 and v6.params["rport"] is None
    assert str(v6) == "SIP/2.0/TCP [2001:db8::9:1]:5070;branch=z9hG4bKas3-111;rport;received=2001:db8::9:255"
    assert v6.sent_by == ("2001:db8::9:1", 5070)
    for bad in ("SIP/2.0/UDP", "SIP/3.0/UDP host", ";", "SIP/2.0/UDP host junk", "SIP/2.0/UDP h:70000"):
        with pytest.raises(ParseError):
            parse_via(bad)


def test_cseq_limits():
    assert parse_cseq("0009\t INVITE").seq == 9
    assert str(parse_cseq("2147483647 BYE")) == "2147483647 BYE"
    for bad in ("2147483648 INVITE", "36893488147419103232 REGISTER", "1", "x INVITE", "-1 BYE"):
        with pytest.raises(ParseError):
            parse_cseq(bad)


def test_auth_params_round_trip():
    value = 'Digest realm="ketnoi, 1022", nonce="abc", qop="auth,auth-int", algorithm=SHA-256, stale=true'
    scheme, params = parse_auth(value)
    assert scheme == "Digest" and params["realm"] == "ketnoi, 1022" and params["qop"] == "auth,auth-int"
    assert params["algorithm"] == "SHA-256" and params["stale"] == "true"
    again = parse_auth(format_auth(scheme, params, unquoted=frozenset({"algorithm", "stale"})))
    assert again == (scheme, params)
    with pytest.raises(ParseError):
        parse_auth("Digest realm")
