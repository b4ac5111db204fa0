"""Sealing of PBX secrets at rest (trunk passwords, extension secrets), standard library only.

Encrypt-then-MAC from HMAC-SHA256 alone: the keystream is HMAC-SHA256(k_enc, nonce ‖ counter) (HMAC used
as a PRF in counter mode, as in NIST SP 800-108's KDF in counter mode), the tag is
HMAC-SHA256(k_mac, "v1" ‖ nonce ‖ ciphertext). Both keys are derived from the server secret key
(settings.secret_key or data_dir/secret_key), so a database dump alone does not reveal them; losing
the server key means trunk passwords must be typed again (extensions keep working: the registrar
uses the stored HA1). With the ``cryptography`` package as a runtime dependency this would become
AES-GCM; the token's "v1." prefix leaves room for that.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

PREFIX = "v1."
NONCE = 16
TAG = 32


class SecretUnavailable(Exception):
    """The token was not sealed with this server's key (key changed) or was altered."""


def _keys(master: str | None) -> tuple[bytes, bytes]:
    if master is None:
        from ketnoi.settings import get_settings

        master = get_settings().effective_secret_key()
    root = master.encode()
    return (hmac.new(root, b"ketnoi-pbx-secretbox:enc", hashlib.sha256).digest(),
            hmac.new(root, b"ketnoi-pbx-secretbox:mac", hashlib.sha256).digest())


def _stream(key: bytes, nonce: bytes, n: int) -> bytes:
    out = bytearray()
    counter = 0
    while len(out) < n:
        out += hmac.new(key, nonce + counter.to_bytes(8, "big"), hashlib.sha256).digest()
        counter += 1
    return bytes(out[:n])


def seal(plain: str, master: str | None = None) -> str:
    enc, mac = _keys(master)
    data = plain.encode()
    nonce = secrets.token_bytes(NONCE)
    ct = bytes(a ^ b for a, b in zip(data, _stream(enc, nonce, len(data))))
    tag = hmac.new(mac, b"v1" + nonce + ct, hashlib.sha256).digest()
    return PREFIX + base64.urlsafe_b64encode(nonce + ct + tag).decode()


def unseal(token: str, master: str | None = None) -> str:
    if not token.startswith(PREFIX):
        raise SecretUnavailable("unknown format")
    try:
        raw = base64.urlsafe_b64decode(token[len(PREFIX):].encode())
    except (ValueError, TypeError):
        raise SecretUnavailable("bad encoding") from None
    if len(raw) < NONCE + TAG:
        raise SecretUnavailable("too short")
    nonce, ct, tag = raw[:NONCE], raw[NONCE:-TAG], raw[-TAG:]
    enc, mac = _keys(master)
    if not hmac.compare_digest(tag, hmac.new(mac, b"v1" + nonce + ct, hashlib.sha256).digest()):
        raise SecretUnavailable("tag mismatch")
    return bytes(a ^ b for a, b in zip(ct, _stream(enc, nonce, len(ct)))).decode()


def ha1(username: str, realm: str, secret: str) -> tuple[str, str]:
    """Digest HA1 for MD5 and SHA-256 (RFC 8760 §3, RFC 7616 §3.4.2: H(username:realm:password))."""
    a1 = f"{username}:{realm}:{secret}".encode()
    return hashlib.md5(a1).hexdigest(), hashlib.sha256(a1).hexdigest()
