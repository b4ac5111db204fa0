"""Short fuzz runs inside the unit suite (the million-input run is ``make fuzz-sip``): the parser,
serializer, framer and stack let only ParseError escape, and generated messages round-trip. CC-04."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ketnoi.telephony.sip import Address, ParseError, Request, Response, SipStack, parse_message

FUZZ = Path(__file__).resolve().parents[3] / "fuzz" / "sip_fuzz.py"


def load_fuzzer():
    spec = importlib.util.spec_from_file_location("sip_fuzz", FUZZ)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_mutation_fuzz_short_run():
    checker = load_fuzzer().run(4000, seed=2026, quiet=True)
    assert checker.count >= 4000 and checker.parsed > 100  # the mutations do reach the deep paths


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.binary(max_size=400))
def test_random_bytes_only_raise_parse_error(data):
    stack = SipStack()
    stack.local_addresses["udp"] = ("127.0.0.1", 5060)
    for datagram in (True, False):
        try:
            parse_message(data, datagram=datagram)
        except ParseError:
            pass
    stack.receive_datagram(data, Address("udp", "127.0.0.1", 5999), 0.0)


token = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.!%*_+`'~", min_size=1,
                max_size=12)
header_value = st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=0x2fff, exclude_characters="\x7f"),
                       max_size=40).map(str.strip)
hosts = st.one_of(st.sampled_from(["127.0.0.1", "[::1]", "[2001:db8::7]", "ketnoi.example.vn"]),
                st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True))


@st.composite
def messages(draw):
    host = draw(hosts)
    port = draw(st.one_of(st.none(), st.integers(1, 65535)))
    sent_by = host + (f":{port}" if port else "")
    user = draw(token)
    method = draw(st.sampled_from(["INVITE", "ACK", "BYE", "CANCEL", "OPTIONS", "REGISTER", "INFO"]))
    seq = draw(st.integers(0, 2**31 - 1))
    headers = [
        ("Via", f"SIP/2.0/{draw(st.sampled_from(['UDP', 'TCP', 'TLS']))} {sent_by};branch=z9hG4bK{draw(token)}"),
        (draw(st.sampled_from(["From", "f"])), f'"{draw(token)}" <sip:{user}@{host}>;tag={draw(token)}'),
        (draw(st.sampled_from(["To", "t"])), f"<sips:{draw(token)}@{host}>"),
        (draw(st.sampled_from(["Call-ID", "i"])), f"{draw(token)}@{host}"),
        ("CSeq", f"{seq} {method}"),
        ("Max-Forwards", str(draw(st.integers(0, 255)))),
    ]
    for name, value in draw(st.lists(st.tuples(token.map(lambda t: "X-" + t), header_value), max_size=5)):
        headers.append((name, value))
    body = draw(st.binary(max_size=200))
    if draw(st.booleans()):
        return Request(method, f"sip:{user}@{host}", headers, body)
    return Response(draw(st.integers(100, 699)), draw(header_value), headers, body)


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck))
@given(messages())
def test_generated_messages_round_trip(message):
    wire = message.to_bytes()
    for datagram in (True, False):
        parsed = parse_message(wire, datagram=datagram)
        assert parsed.to_bytes() == wire
        assert list(parsed.headers)[:6] == list(message.headers)[:6]
        assert parsed.body == message.body
        assert parsed.cseq == message.cseq and parsed.call_id == message.call_id


FOUND = sorted((Path(__file__).parent / "vectors" / "fuzz").glob("*.bin"))


def test_inputs_found_by_fuzzing_stay_fixed():
    """Each file is an input that once made an exception other than ParseError escape."""
    assert FOUND
    for path in FOUND:
        stack = SipStack()
        stack.local_addresses["udp"] = ("127.0.0.1", 5060)
        stack.receive_datagram(path.read_bytes(), Address("udp", "127.0.0.1", 5999), 0.0)
        for out in stack.datagrams_to_send():
            assert out.data.startswith(b"SIP/2.0 400 "), path.name
        assert not stack._servers  # no transaction left half-open
