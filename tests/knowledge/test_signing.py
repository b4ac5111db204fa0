"""The KB-01 signature scheme without a server: the worked example of docs/KNOWLEDGE_API.md byte for
byte, canonical forms, and every refusal of ``check_request``."""

from __future__ import annotations

from pathlib import Path

import pytest

from ketnoi.knowledge.signing import (
    HEADER_BODY,
    HEADER_NONCE,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    MAX_SKEW,
    SignatureRefused,
    body_sha256,
    canonical_path,
    canonical_query,
    canonical_request,
    check_request,
    derive_secret,
    sign,
    signed_headers,
)

DOC = (Path(__file__).resolve().parents[2] / "docs" / "KNOWLEDGE_API.md").read_text()

SERVER_KEY = "server-secret-for-docs-only"
KEY_ID = "kn_0123456789abcdef"
SALT = "00112233445566778899aabbccddeeff"
SECRET = "b1978a03d7c448b7e082efe7d3b2c719a670982e3badae6ac4dd5f74696a5802"
TS = 1795305600
SEARCH_QUERY = "q=c%E1%BA%A5p+l%E1%BA%A1i+c%C4%83n+c%C6%B0%E1%BB%9Bc&mode=approximate&page=1"
SEARCH_CANONICAL = ("GET\n/api/v1/knowledge/search\n"
                    "mode=approximate&page=1&q=c%E1%BA%A5p%20l%E1%BA%A1i%20c%C4%83n%20c%C6%B0%E1%BB%9Bc\n"
                    "1795305600\n4f1c2a9e7b3d4c5a\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
SEARCH_SIGNATURE = "75538fdcabcc3c30353cde07a7fdb8710b4149279e7b6257cfd5ee74efe96a24"
BODY = ('{"code":"1.000894","title":"Cấp lại Giấy chứng nhận","answer":{"content":'
        '"<p>Nộp hồ sơ tại bộ phận một cửa.</p>"}}').encode()
BODY_HASH = "0977eab6eb8e0173a5bdf2becfc08de3abdabd6adcb4609a38b29e1d5a35c30b"
POST_SIGNATURE = "6542e39921f20fd616467ca4f65856260eada45278c38c0f73099a811859cfbc"


def test_worked_example_secret():
    assert derive_secret(SERVER_KEY, KEY_ID, SALT) == SECRET
    assert SECRET in DOC


def test_worked_example_search():
    canonical = canonical_request("GET", "/api/v1/knowledge/search", SEARCH_QUERY, str(TS), "4f1c2a9e7b3d4c5a",
                                  body_sha256(b""))
    assert canonical == SEARCH_CANONICAL
    assert sign(SECRET, canonical) == SEARCH_SIGNATURE
    assert "```\n" + SEARCH_CANONICAL + "\n```" in DOC
    assert f"X-Ketnoi-Signature: {SEARCH_SIGNATURE}" in DOC


def test_worked_example_create():
    assert len(BODY) == 139 and body_sha256(BODY) == BODY_HASH
    headers = signed_headers(KEY_ID, SECRET, "POST", "/api/v1/knowledge/procedures", "", BODY, timestamp=TS,
                             nonce="9d8e7f6a5b4c3d2e")
    assert headers == {"X-Ketnoi-Key": KEY_ID, "X-Ketnoi-Timestamp": str(TS), "X-Ketnoi-Nonce": "9d8e7f6a5b4c3d2e",
                       "X-Ketnoi-Content-SHA256": BODY_HASH, "X-Ketnoi-Signature": POST_SIGNATURE}
    assert BODY.decode() in DOC and POST_SIGNATURE in DOC and BODY_HASH in DOC


def test_canonical_forms():
    # sorted by name then value; + and %20 mean the same; reserved characters are encoded
    assert canonical_query("b=2&a=1&a=0") == "a=0&a=1&b=2"
    assert canonical_query("q=a+b") == canonical_query("q=a%20b") == "q=a%20b"
    assert canonical_query("q=x%26y%3Dz&empty=") == "empty=&q=x%26y%3Dz"
    assert canonical_query("") == ""
    assert canonical_path("/api/v1/knowledge/procedures/abc") == "/api/v1/knowledge/procedures/abc"
    assert canonical_path("/a b/đ") == "/a%20b/%C4%91"


NOW = float(TS)


def _headers(**changes):
    h = signed_headers(KEY_ID, SECRET, "GET", "/api/v1/knowledge/search", SEARCH_QUERY, b"", timestamp=TS,
                       nonce="4f1c2a9e7b3d4c5a")
    h.update(changes)
    return {k: v for k, v in h.items() if v is not None}


def _check(headers, *, now=NOW, body=b"", query=SEARCH_QUERY, secret=SECRET):
    def find(key_id):
        if key_id != KEY_ID:
            raise SignatureRefused("unknown_key", "Khóa API không tồn tại.")
        return secret
    return check_request(headers, "GET", "/api/v1/knowledge/search", query, body, now, find)


def test_a_good_request_passes():
    assert _check(_headers()) == (KEY_ID, "4f1c2a9e7b3d4c5a")
    # at the edges of the freshness window
    assert _check(_headers(), now=NOW + MAX_SKEW)
    assert _check(_headers(), now=NOW - MAX_SKEW)


@pytest.mark.parametrize("change, kw, outcome", [
    ({HEADER_NONCE: None}, {}, "missing_headers"),
    ({HEADER_SIGNATURE: ""}, {}, "missing_headers"),
    ({"X-Ketnoi-Key": "kn_other"}, {}, "unknown_key"),
    ({"X-Ketnoi-Key": "kn bad id"}, {}, "unknown_key"),
    ({HEADER_TIMESTAMP: "hôm qua"}, {}, "bad_timestamp"),
    ({}, {"now": NOW + MAX_SKEW + 1}, "stale"),
    ({}, {"now": NOW - MAX_SKEW - 1}, "stale"),
    ({HEADER_NONCE: "ngan"}, {}, "bad_nonce"),
    ({}, {"body": b"x"}, "bad_body_hash"),
    ({HEADER_BODY: "0" * 64}, {}, "bad_body_hash"),
    ({}, {"query": SEARCH_QUERY + "&page_size=200"}, "bad_signature"),
    ({}, {"secret": "0" * 64}, "bad_signature"),
    ({HEADER_SIGNATURE: SEARCH_SIGNATURE[:-1] + "0"}, {}, "bad_signature"),
])
def test_refusals(change, kw, outcome):
    with pytest.raises(SignatureRefused) as e:
        _check(_headers(**change), **kw)
    assert e.value.outcome == outcome and e.value.status == 401
    assert e.value.detail and e.value.detail[0].isupper()


def test_the_signature_covers_method_path_timestamp_and_nonce():
    base = canonical_request("GET", "/p", "", "1", "n" * 8, body_sha256(b""))
    for other in (canonical_request("POST", "/p", "", "1", "n" * 8, body_sha256(b"")),
                  canonical_request("GET", "/q", "", "1", "n" * 8, body_sha256(b"")),
                  canonical_request("GET", "/p", "", "2", "n" * 8, body_sha256(b"")),
                  canonical_request("GET", "/p", "", "1", "m" * 8, body_sha256(b""))):
        assert sign(SECRET, other) != sign(SECRET, base)
