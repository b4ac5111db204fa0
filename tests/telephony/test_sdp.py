"""SDP (RFC 4566) parsing and RFC 3264 offer/answer for the call engine (CC-04, CC-05)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketnoi.telephony import sdp
from ketnoi.telephony.sdp import (
    PCMA,
    PCMU,
    Direction,
    NoCommonCodec,
    SdpError,
    SdpNegotiationError,
    SdpSession,
    parse,
)

# RFC 4566 §5 example, with LF line ends and extra lines of every kind
RFC4566_EXAMPLE = """v=0
o=jdoe 2890844526 2890842807 IN IP4 10.47.16.5
s=SDP Seminar
i=A Seminar on the session description protocol
u=http://www.example.com/seminars/sdp.pdf
e=j.doe@example.com (Jane Doe)
c=IN IP4 224.2.17.12/127
t=2873397496 2873404696
a=recvonly
m=audio 49170 RTP/AVP 0
m=video 51372 RTP/AVP 99
a=rtpmap:99 h263-1998/90000
"""

# What a Yealink-style phone offers: several codecs, dynamic telephone-event, unknown attributes
PHONE_OFFER = (
    "v=0\r\n"
    "o=- 20518 0 IN IP4 192.0.2.10\r\n"
    "s=SDP data\r\n"
    "c=IN IP4 192.0.2.10\r\n"
    "b=AS:84\r\n"
    "t=0 0\r\n"
    "m=audio 11780 RTP/AVP 9 18 8 0 96\r\n"
    "a=rtpmap:9 G722/8000\r\n"
    "a=rtpmap:18 G729/8000\r\n"
    "a=fmtp:18 annexb=no\r\n"
    "a=rtpmap:8 PCMA/8000\r\n"
    "a=rtpmap:0 PCMU/8000\r\n"
    "a=rtpmap:96 telephone-event/8000\r\n"
    "a=fmtp:96 0-15\r\n"
    "a=ptime:20\r\n"
    "a=x-vendor-thing:42\r\n"
    "a=sendrecv\r\n"
)


def test_parse_rfc4566_example_and_round_trip():
    d = parse(RFC4566_EXAMPLE)
    assert d.origin.username == "jdoe" and d.origin.session_version == 2890842807
    assert d.session_name == "SDP Seminar"
    assert d.connection.host == "224.2.17.12" and d.connection.address == "224.2.17.12/127"
    assert d.direction() == "recvonly"
    assert [m.media for m in d.media] == ["audio", "video"]
    assert d.media[1].rtpmap() == {99: ("h263-1998", 90000, 1)}
    text = d.serialize()
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    # every line survives, in RFC order (i, u, e before c; t after c)
    for line in RFC4566_EXAMPLE.strip().splitlines():
        assert line in text.splitlines()
    assert parse(text).serialize() == text


def test_unknown_lines_are_kept_and_ignored_safely():
    text = PHONE_OFFER.replace("t=0 0\r\n", "t=0 0\r\nz=2882844526 -1h 2898848070 0\r\nk=prompt\r\n")
    d = parse(text + "y=misplaced but harmless\r\nu=http://x\r\n")
    out = d.serialize()
    assert ("y", "misplaced but harmless") in d.media[0].other and "u=http://x" in out
    assert "b=AS:84" in out and "a=x-vendor-thing:42" in out and "a=fmtp:18 annexb=no" in out
    assert out.index("t=0 0") < out.index("z=2882844526") < out.index("k=prompt") < out.index("m=audio")
    assert d.media[0].attribute("x-vendor-thing") == "42" and d.media[0].attribute("sendrecv") == ""


def test_ipv6_connection_and_origin():
    text = ("v=0\r\no=- 1 1 IN IP6 2001:db8::1\r\ns=-\r\nc=IN IP6 2001:db8::2\r\nt=0 0\r\n"
            "m=audio 4000 RTP/AVP 0\r\n")
    d = parse(text)
    assert d.connection.addrtype == "IP6" and d.connection.host == "2001:db8::2"
    answer, params = SdpSession("::1", 5000).receive_offer(d)
    assert params.remote_host == "2001:db8::2" and params.remote_port == 4000
    assert "c=IN IP6 ::1" in answer.serialize() and "o=ketnoi" in answer.serialize()


@pytest.mark.parametrize("text", [
    "", "x", "v=1\r\no=- 1 1 IN IP4 1.2.3.4\r\ns=-\r\n", "o=- 1 1 IN IP4 1.2.3.4\r\n",
    "v=0\r\ns=-\r\n", "v=0\r\no=- x 1 IN IP4 1.2.3.4\r\n", "v=0\r\no=- 1 1 IN\r\n",
    "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4\r\n", "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP4 not_an@address\r\n",
    "v=0\r\no=- 1 1 IN IP4 a\r\nc=IN IP6 1.2.3.4\r\n", "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio\r\n",
    "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 70000 RTP/AVP 0\r\n", "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio x RTP/AVP 0\r\n",
    "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1/z RTP/AVP 0\r\n", "v=0\r\no=- 1 1 IN IP4 a\r\nbad line\r\n",
    "v=0\r\no=- 1 1 IN IP4 a\r\nm=audio 1 RTP/AVP 0\r\no=- 1 1 IN IP4 a\r\n",
    "v=0\r\no=- ²³ 1 IN IP4 a\r\n", b"v=0\r\no=- 1 1 IN IP4 \xff\r\n", "v=0\r\no=- 1 1 IN IP4 a\r\na=\r\n",
])
def test_malformed_descriptions_raise_sdp_error(text):
    with pytest.raises(SdpError):
        parse(text)


def test_oversized_body_refused():
    with pytest.raises(SdpError):
        parse("v=0\r\no=- 1 1 IN IP4 a\r\n" + "a=x\r\n" * 20000)


def test_answer_picks_g711_and_keeps_the_offered_telephone_event_number():
    answer, params = SdpSession("203.0.113.5", 20000).receive_offer(parse(PHONE_OFFER))
    m = answer.media[0]
    assert m.formats == ["8", "96"]  # offerer's order among ours: PCMA first; its PT 96 kept (RFC 3264 §6.1)
    assert m.fmtp() == {96: "0-15"}  # intersection of 0-15 and our 0-16
    assert params.codec == PCMA and params.telephone_event_pt == 96 and params.receive_telephone_event_pt == 96
    assert params.remote_addr == ("192.0.2.10", 11780) and params.remote_rtcp_port == 11781
    assert params.direction is Direction.SENDRECV and not params.remote_on_hold and params.ptime == 20
    assert "a=sendrecv" in answer.serialize() and "c=IN IP4 203.0.113.5" in answer.serialize()


def test_static_payload_types_without_rtpmap_and_no_telephone_event():
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
    answer, params = SdpSession("127.0.0.1", 5000).receive_offer(offer)
    assert params.codec == PCMU and params.telephone_event_pt is None
    assert answer.media[0].formats == ["0"]


def test_no_common_codec_is_a_488():
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                  "m=audio 4000 RTP/AVP 18 101\r\na=rtpmap:18 G729/8000\r\na=rtpmap:101 telephone-event/8000\r\n")
    with pytest.raises(NoCommonCodec) as info:
        SdpSession("127.0.0.1", 5000).receive_offer(offer)
    assert info.value.sip_status == 488 and isinstance(info.value, SdpError)
    # PCMU at 16 kHz is not our PCMU either
    offer16 = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                    "m=audio 4000 RTP/AVP 97\r\na=rtpmap:97 PCMU/16000\r\n")
    with pytest.raises(NoCommonCodec):
        SdpSession("127.0.0.1", 5000).receive_offer(offer16)


def test_local_codec_policy_is_respected():
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\nm=audio 4000 RTP/AVP 8\r\n")
    with pytest.raises(NoCommonCodec):
        SdpSession("127.0.0.1", 5000, codecs=(PCMU,)).receive_offer(offer)


def test_video_and_srtp_streams_rejected_with_port_zero():
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                  "m=video 5000 RTP/AVP 96\r\na=rtpmap:96 VP8/90000\r\n"
                  "m=audio 5002 RTP/SAVP 0\r\n"
                  "m=audio 5004 RTP/AVP 0\r\n")
    answer, params = SdpSession("127.0.0.1", 6000).receive_offer(offer)
    assert [(m.media, m.port) for m in answer.media] == [("video", 0), ("audio", 0), ("audio", 6000)]
    assert answer.media[0].formats == ["96"]
    assert params.remote_port == 5004
    assert parse(answer.serialize()).media[2].port == 6000


@pytest.mark.parametrize(("offered", "answered", "sends", "on_hold"), [
    ("sendrecv", "sendrecv", True, False),
    ("sendonly", "recvonly", False, True),  # RFC 3264 §8.4 hold: we must not send
    ("recvonly", "sendonly", True, False),
    ("inactive", "inactive", False, True),
])
def test_hold_directions(offered, answered, sends, on_hold):
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                  f"m=audio 4000 RTP/AVP 0\r\na={offered}\r\n")
    answer, params = SdpSession("127.0.0.1", 5000).receive_offer(offer)
    assert answer.media[0].direction() == answered
    assert params.direction.sends is sends and params.remote_on_hold is on_hold


def test_old_style_hold_with_zero_address():
    offer = parse("v=0\r\no=- 1 2 IN IP4 h\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 4000 RTP/AVP 0\r\n")
    answer, params = SdpSession("127.0.0.1", 5000).receive_offer(offer)
    assert params.remote_on_hold and not params.direction.sends and params.direction.receives
    assert answer.media[0].direction() == "recvonly"


def test_offer_answer_between_two_sessions_and_versions_on_reoffer():
    caller = SdpSession("127.0.0.1", 4000, session_id=77)
    callee = SdpSession("127.0.0.1", 5000, codecs=(PCMA, PCMU), telephone_event_pt=100)
    offer = caller.create_offer()
    v1 = offer.origin.session_version
    answer, callee_params = callee.receive_offer(parse(offer.serialize()))
    caller_params = caller.receive_answer(parse(answer.serialize()))
    assert callee_params.codec == PCMU  # the offerer's preference among common codecs
    assert caller_params.codec == PCMU and caller_params.remote_port == 5000
    assert caller_params.telephone_event_pt == 101 and caller_params.receive_telephone_event_pt == 101
    assert set(caller_params.receive_payload_types) == {0, 8}
    # unchanged re-offer (session refresh) keeps the version; hold increments it by one (RFC 3264 §8)
    assert caller.create_offer().origin.session_version == v1
    hold = caller.create_offer(Direction.SENDONLY)
    assert hold.origin.session_version == v1 + 1 and hold.origin.session_id == 77
    held_answer, held_params = callee.receive_offer(parse(hold.serialize()))
    assert held_answer.media[0].direction() == "recvonly" and not held_params.direction.sends
    assert held_answer.origin.session_version == answer.origin.session_version + 1
    assert not caller.receive_answer(parse(held_answer.serialize())).direction.receives
    resume = caller.create_offer(Direction.SENDRECV)
    assert resume.origin.session_version == v1 + 2


def test_answer_must_match_the_offer():
    caller = SdpSession("127.0.0.1", 4000)
    with pytest.raises(SdpNegotiationError):
        caller.receive_answer(parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
                                    "m=audio 6000 RTP/AVP 0\r\n"))
    caller.create_offer()
    with pytest.raises(NoCommonCodec):
        caller.receive_answer(parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
                                    "m=audio 0 RTP/AVP 0\r\n"))
    with pytest.raises(SdpNegotiationError):
        caller.receive_answer(parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 1.2.3.4\r\nt=0 0\r\n"
                                    "m=audio 6000 RTP/AVP 0\r\nm=audio 6002 RTP/AVP 0\r\n"))


def test_ptime_and_rtcp_attribute():
    offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 192.0.2.1\r\nt=0 0\r\n"
                  "m=audio 4000 RTP/AVP 0\r\na=ptime:30\r\na=rtcp:4005 IN IP4 192.0.2.1\r\n")
    _, params = SdpSession("127.0.0.1", 5000).receive_offer(offer)
    assert params.ptime == 30 and params.remote_rtcp_port == 4005
    odd = parse(offer.serialize().replace("a=ptime:30", "a=ptime:25"))
    assert SdpSession("127.0.0.1", 5000).receive_offer(odd)[1].ptime == 20


def test_events_ranges():
    assert sdp.parse_events("0-15,66,70-71") == set(range(16)) | {66, 70, 71}
    assert sdp.parse_events(None) == set(range(16))
    assert sdp.parse_events("junk,5") == {5}
    assert sdp.format_events({0, 1, 2, 3, 5, 7, 8}) == "0-3,5,7-8"


sdp_lines = st.one_of(
    st.sampled_from(["v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 10.0.0.1", "c=IN IP6 ::1",
                     "t=0 0", "m=audio 4000 RTP/AVP 0 8 101", "a=rtpmap:101 telephone-event/8000",
                     "a=fmtp:101 0-16", "a=sendonly", "a=ptime:20", "c=IN IP4 0.0.0.0", "m=video 0 RTP/AVP 96",
                     "a=rtcp:9", "r=7d 1h 0 25h", "b=AS:64"]),
    st.text(max_size=40).map(lambda s: s.replace("\r", "").replace("\n", "")),
    st.builds(lambda k, v: f"{k}={v}", st.sampled_from("vosicbtrzkam"), st.text(max_size=30)),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(sdp_lines, max_size=14), st.sampled_from(["\r\n", "\n"]))
def test_fuzz_parse_and_negotiate_raise_only_sdp_error(lines, eol):
    """Short fuzz run in the unit suite; the million-input run is a separate make target."""
    text = eol.join(["v=0", "o=- 1 1 IN IP4 127.0.0.1", *lines]) if lines and lines[0] != "v=0" else eol.join(lines)
    try:
        d = parse(text)
    except SdpError:
        return
    again = parse(d.serialize())  # whatever parses, serializes to something that parses the same
    assert again.serialize() == d.serialize()
    try:
        SdpSession("127.0.0.1", 5000).receive_offer(d)
    except SdpError:
        pass


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_fuzz_bytes(data):
    try:
        parse(data)
    except SdpError:
        pass
