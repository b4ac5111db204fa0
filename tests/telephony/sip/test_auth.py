"""Digest authentication (RFC 7616 §3.4, RFC 8760): published test vectors, server challenge/verify
with expiry, stale and replay checks, and the client side used by registering trunks. CC-06, CC-09."""

from __future__ import annotations

import pytest

from ketnoi.telephony.sip import (
    DigestClient,
    DigestServer,
    NameAddr,
    Response,
    build_request,
    parse_message,
    parse_uri,
)
from ketnoi.telephony.sip.auth import (
    RFC8760_ORDER,
    digest_ha1,
    digest_response,
    digest_response_from_ha1,
)
from ketnoi.telephony.sip.headers import format_auth, parse_auth

RFC7616 = {"username": "Mufasa", "realm": "http-auth@example.org", "password": "Circle of Life",
           "method": "GET", "uri": "/dir/index.html", "nonce": "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v",
           "nc": "00000001", "cnonce": "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ", "qop": "auth"}
PASSWORDS = {"1001": "demo1001"}


def test_published_vectors():
    assert digest_response(algorithm="MD5", **RFC7616) == "8ca523f5e9506fed4657c9700eebdbec"
    assert digest_response(algorithm="SHA-256", **RFC7616) == (
        "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")
    # RFC 2617 §3.5
    assert digest_response(algorithm="MD5", username="Mufasa", realm="testrealm@host.com",
                           password="Circle Of Life", method="GET", uri="/dir/index.html",
                           nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc="00000001", cnonce="0a4f113b",
                           qop="auth") == "6629fae49393a05397450978507c4ef1"


def register(cseq: int = 1):
    return build_request("REGISTER", "sip:ketnoi.test", from_addr=NameAddr(parse_uri("sip:1001@ketnoi.test")),
                         to_addr=NameAddr(parse_uri("sip:1001@ketnoi.test")), cseq=cseq,
                         contact=parse_uri("sip:1001@127.0.0.1:5090"), call_id="reg-1")


def challenge_response(server: DigestServer, now: float, **kw) -> Response:
    return Response(401, None, server.challenge(now, **kw))


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_client_and_server_agree(algorithm):
    server = DigestServer("ketnoi.test", algorithms=RFC8760_ORDER)
    client = DigestClient("1001", "demo1001", algorithms=[algorithm])
    request = register()
    assert server.verify(request, PASSWORDS.get, 0).reason == "no credentials"
    retry = client.authorize(request, challenge_response(server, 0))
    assert retry.cseq.seq == 2 and "via" not in retry.headers
    _, params = parse_auth(retry.headers.get("authorization"))
    assert params["algorithm"] == algorithm and params["qop"] == "auth" and params["nc"] == "00000001"
    result = server.verify(retry, PASSWORDS.get, 1)
    assert result.ok and result.username == "1001"


def test_challenge_order_and_one_nonce():
    assert [parse_auth(v)[1]["algorithm"] for _, v in DigestServer("ketnoi.test").challenge(0)] == [
        "MD5"]  # compatible default: see auth.ALGORITHMS
    headers = DigestServer("ketnoi.test", algorithms=RFC8760_ORDER).challenge(0)
    algorithms = [parse_auth(v)[1]["algorithm"] for _, v in headers]
    assert algorithms == ["SHA-256", "MD5"]
    # Our own client picks the strongest algorithm offered, whatever the order.
    both = DigestServer("x", algorithms=("MD5", "SHA-256"))
    retry = DigestClient("1001", "demo1001").authorize(register(), challenge_response(both, 0))
    assert parse_auth(retry.headers.get("authorization"))[1]["algorithm"] == "SHA-256"
    nonces = {parse_auth(v)[1]["nonce"] for _, v in headers}
    assert len(nonces) == 1 and all(parse_auth(v)[1]["qop"] == "auth" for _, v in headers)


def test_wrong_password_unknown_user_and_tampering():
    server = DigestServer("ketnoi.test")
    bad = DigestClient("1001", "wrong").authorize(register(), challenge_response(server, 0))
    assert server.verify(bad, PASSWORDS.get, 1).reason == "wrong response"
    ghost = DigestClient("9999", "x").authorize(register(), challenge_response(server, 0))
    assert server.verify(ghost, PASSWORDS.get, 1).reason == "unknown user"
    good = DigestClient("1001", "demo1001").authorize(register(), challenge_response(server, 0))
    forged = good.copy()
    forged.headers.set("Authorization", good.headers.get("authorization").replace('nonce="', 'nonce="A'))
    assert not server.verify(forged, PASSWORDS.get, 1).ok
    other_server = DigestServer("ketnoi.test")  # another secret: the nonce is not its own
    assert other_server.verify(good, PASSWORDS.get, 1).reason in ("unknown nonce", "opaque mismatch")
    moved = good.copy()
    moved.uri = parse_uri("sip:elsewhere.test")
    assert server.verify(moved, PASSWORDS.get, 1).reason == "digest uri does not match the Request-URI"


def test_expired_nonce_is_stale_and_client_retries():
    server = DigestServer("ketnoi.test", nonce_ttl=60)
    client = DigestClient("1001", "demo1001")
    request = client.authorize(register(), challenge_response(server, 0))
    result = server.verify(request, PASSWORDS.get, 61)
    assert not result.ok and result.stale  # correct digest, old nonce → stale=true (RFC 7616 §3.3)
    stale = challenge_response(server, 61, stale=True)
    assert all(v.endswith("stale=true") for _, v in stale.headers)
    again = client.authorize(request, stale)
    assert again is not None and server.verify(again, PASSWORDS.get, 62).ok


def test_nonce_count_replay_is_refused():
    server = DigestServer("ketnoi.test")
    client = DigestClient("1001", "demo1001")
    challenge = challenge_response(server, 0)
    first = client.authorize(register(), challenge)
    assert server.verify(first, PASSWORDS.get, 1).ok
    assert server.verify(first, PASSWORDS.get, 2).reason == "nonce count replayed"
    # The same nonce with a higher nc (a client reusing its credentials) is fine.
    header, _ = client.authorization(register(3), challenge_response(server, 0)) or ("", "")
    assert header == "Authorization"


def test_client_gives_up_on_a_repeated_challenge_and_unsupported_qop():
    server = DigestServer("ketnoi.test")
    client = DigestClient("1001", "wrong")
    challenge = challenge_response(server, 0)
    assert client.authorize(register(), challenge) is not None
    assert client.authorize(register(2), challenge) is None  # same nonce, not stale: stop the loop
    auth_int = Response(401, None, [("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-int"')])
    assert DigestClient("a", "b").authorize(register(), auth_int) is None
    proxy = Response(407, None, [("Proxy-Authenticate", 'Digest realm="r", nonce="n2", qop="auth"')])
    retry = DigestClient("a", "b").authorize(register(), proxy)
    assert "proxy-authorization" in retry.headers


def test_verify_survives_garbage_credentials():
    server = DigestServer("ketnoi.test")
    bad_nc = ('Digest realm="ketnoi.test", nc=zz, response="1", username="1001", nonce="x", '
              'uri="sip:ketnoi.test", qop=auth, cnonce="c"')
    for value in ['Digest realm="ketnoi.test", nonce', bad_nc, 'Basic dXNlcjpwYXNz',
                  'Digest realm="ketnoi.test", username="1001"']:
        request = register()
        request.headers.add("Authorization", value)
        assert not server.verify(request, PASSWORDS.get, 0).ok


# ---------------------------------------------------------------- verification from a stored HA1
RFC2617_HA1 = "939e7578ed9e3c518a452acee763bce9"  # H("Mufasa:testrealm@host.com:Circle Of Life"), RFC 2617 §3.5


def test_published_vectors_from_ha1():
    assert digest_ha1("MD5", "Mufasa", "testrealm@host.com", "Circle Of Life") == RFC2617_HA1
    assert digest_response_from_ha1(algorithm="MD5", ha1=RFC2617_HA1.upper(), method="GET", uri="/dir/index.html",
                                    nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", nc="00000001", cnonce="0a4f113b",
                                    qop="auth") == "6629fae49393a05397450978507c4ef1"
    vector = {k: v for k, v in RFC7616.items() if k not in ("username", "realm", "password")}
    for algorithm, expected in (("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
                                ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1")):
        ha1 = digest_ha1(algorithm, "Mufasa", "http-auth@example.org", "Circle of Life")
        assert digest_response_from_ha1(algorithm=algorithm, ha1=ha1, **vector) == expected
        # -sess (RFC 7616 §3.4.2): the stored HA1 is hashed again with nonce:cnonce.
        sess = digest_response_from_ha1(algorithm=f"{algorithm}-sess", ha1=ha1, **vector)
        assert sess == digest_response(algorithm=f"{algorithm}-sess", **RFC7616) != expected


class HA1Store:
    """What the PBX keeps per extension: HA1 per algorithm, never the password (RFC 8760 §3)."""

    def __init__(self, realm: str) -> None:
        self.ha1 = {(a, "1001"): digest_ha1(a, "1001", realm, "demo1001") for a in ("MD5", "SHA-256")}
        self.asked: list[tuple[str, str]] = []

    def __call__(self, username: str, algorithm: str) -> str | None:
        self.asked.append((username, algorithm))
        return self.ha1.get((algorithm, username))


@pytest.mark.parametrize("algorithm", ["SHA-256", "MD5"])
def test_verify_from_ha1_against_our_client(algorithm):
    server = DigestServer("ketnoi.test", algorithms=RFC8760_ORDER)
    store = HA1Store("ketnoi.test")
    good = DigestClient("1001", "demo1001", algorithms=[algorithm]).authorize(register(),
                                                                             challenge_response(server, 0))
    result = server.verify(good, None, 1, ha1_lookup=store)
    assert result.ok and result.username == "1001" and store.asked == [("1001", algorithm)]
    assert server.verify(good, None, 2, ha1_lookup=store).reason == "nonce count replayed"
    bad = DigestClient("1001", "wrong", algorithms=[algorithm]).authorize(register(), challenge_response(server, 0))
    assert server.verify(bad, None, 1, ha1_lookup=store).reason == "wrong response"
    ghost = DigestClient("9999", "x", algorithms=[algorithm]).authorize(register(), challenge_response(server, 0))
    assert server.verify(ghost, None, 1, ha1_lookup=store).reason == "unknown user"
    late = DigestClient("1001", "demo1001", algorithms=[algorithm]).authorize(register(),
                                                                             challenge_response(server, 0))
    assert server.verify(late, None, 301, ha1_lookup=store).stale  # expiry as with a password


def signed_by_hand(server: DigestServer, algorithm: str, *, uri: str = "sip:ketnoi.test",
                   password: str = "demo1001") -> object:
    """A REGISTER answering ``server``'s challenge with ``algorithm`` written by hand: no client here
    sends -sess (our DigestServer only offers the base algorithms, which is all RFC 8760 registers
    for SIP), yet RFC 7616 clients may answer with it."""
    nonce = parse_auth(server.challenge(0)[0][1])[1]["nonce"]
    params = {"username": "1001", "realm": server.realm, "nonce": nonce, "uri": uri, "nc": "00000001",
              "cnonce": "c0ffee", "qop": "auth", "algorithm": algorithm, "opaque": server.opaque}
    params["response"] = digest_response(algorithm=algorithm, username="1001", realm=server.realm,
                                         password=password, method="REGISTER", uri=uri, nonce=nonce,
                                         nc="00000001", cnonce="c0ffee", qop="auth")
    request = register()
    request.headers.add("Authorization", format_auth("Digest", params,
                                                     unquoted=frozenset({"algorithm", "nc", "qop"})))
    return request


@pytest.mark.parametrize("algorithm", ["MD5-sess", "SHA-256-sess"])
def test_verify_sess_variants_from_ha1(algorithm):
    server = DigestServer("ketnoi.test", algorithms=RFC8760_ORDER)
    store = HA1Store("ketnoi.test")
    assert server.verify(signed_by_hand(server, algorithm), None, 1, ha1_lookup=store).ok
    assert store.asked == [("1001", algorithm.removesuffix("-sess"))]  # the base algorithm's HA1
    assert server.verify(signed_by_hand(server, algorithm), PASSWORDS.get, 1).ok  # same with a password
    wrong = signed_by_hand(server, algorithm, password="nope")
    assert server.verify(wrong, None, 1, ha1_lookup=store).reason == "wrong response"
    md5_only = DigestServer("ketnoi.test", server.secret)
    if algorithm.startswith("SHA"):
        assert md5_only.verify(signed_by_hand(md5_only, algorithm), None, 1,
                               ha1_lookup=store).reason == "algorithm not offered"


def test_one_lookup_is_required_and_uri_without_user_is_opt_in():
    server = DigestServer("ketnoi.test")
    with pytest.raises(ValueError):
        server.verify(register(), None, 0)
    with pytest.raises(ValueError):
        server.verify(register(), PASSWORDS.get, 0, ha1_lookup=HA1Store("ketnoi.test"))
    store = HA1Store("ketnoi.test")
    invite = build_request("INVITE", "sip:1002@127.0.0.1:5060", from_addr=NameAddr(parse_uri("sip:1001@x")),
                           to_addr=NameAddr(parse_uri("sip:1002@x")))
    nonce = parse_auth(server.challenge(0)[0][1])[1]["nonce"]
    for uri, strict, lenient in (("sip:127.0.0.1:5060", False, True), ("sip:127.0.0.1", False, False),
                                 ("sip:1003@127.0.0.1:5060", False, False), ("sips:127.0.0.1:5060", False, False)):
        params = {"username": "1001", "realm": "ketnoi.test", "nonce": nonce, "uri": uri, "nc": "00000001",
                  "cnonce": "c", "qop": "auth", "algorithm": "MD5"}
        params["response"] = digest_response(password="demo1001", method="INVITE", **{
            k: params[k] for k in ("algorithm", "username", "realm", "uri", "nonce", "nc", "cnonce", "qop")})
        request = invite.copy()
        request.headers.add("Proxy-Authorization", format_auth("Digest", params, unquoted=frozenset({"nc", "qop"})))
        for flag, expected in ((False, strict), (True, lenient)):
            checker = DigestServer("ketnoi.test", server.secret, uri_without_user=flag)
            checker.opaque = server.opaque
            assert checker.verify(request, None, 1, proxy=True, ha1_lookup=store).ok is expected, (uri, flag)


def test_undecodable_credentials_are_refused_not_raised():
    server = DigestServer("ketnoi.test")
    good = DigestClient("1001", "demo1001").authorize(register(), challenge_response(server, 0))
    good.headers.prepend("Via", "SIP/2.0/UDP 127.0.0.1:5090;branch=z9hG4bK-undecodable")
    wire = good.to_bytes()
    for old, new in ((b'username="1001"', b'username="1001\xff"'), (b'response="', b'response="\xc3\xa9')):
        request = parse_message(wire.replace(old, new))  # raw bytes kept as surrogates / non-ASCII
        result = server.verify(request, lambda user: "demo1001", 1)  # any user: reach the hashing
        assert result.reason in ("malformed credentials", "wrong response")
