"""Digest authentication of extensions (RFC 3261 §22, RFC 8760) from the HA1 values the PBX stores
(CC-06: the SIP password itself is never kept). Challenges and nonces are those of the SIP core's
``DigestServer``; only the response check is made here, from HA1 instead of a password."""

from __future__ import annotations

import hashlib
import hmac

from ketnoi.telephony.pbx.config import PbxConfig
from ketnoi.telephony.sip.auth import AuthResult, DigestServer
from ketnoi.telephony.sip.errors import ParseError
from ketnoi.telephony.sip.headers import parse_auth
from ketnoi.telephony.sip.message import Request
from ketnoi.telephony.sip.uri import SipURI, parse_uri

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8")).hexdigest()


def _same_target(digest_uri, request_uri) -> bool:
    """The digest-uri names the Request-URI (RFC 7616 §3.4.6). Some clients (SIPp among them) leave
    the user part out: the host and port must still match, and the response hash covers that uri."""
    if digest_uri.equivalent(request_uri):
        return True
    return isinstance(digest_uri, SipURI) and isinstance(request_uri, SipURI) and \
        digest_uri.host.lower() == request_uri.host.lower() and digest_uri.port == request_uri.port


class ExtensionAuth:
    """Challenge and verify requests from extensions of one PBX (REGISTER: 401, INVITE: 407)."""

    def __init__(self, cfg: PbxConfig, *, nonce_ttl: float = 300.0, algorithms: str = "MD5") -> None:
        self.algorithms = tuple(a.strip().upper() for a in algorithms.split(",") if a.strip()) or ("MD5",)
        self.server = DigestServer(cfg.settings.realm, nonce_ttl=nonce_ttl, algorithms=self.algorithms)
        self.cfg = cfg

    def on_config(self, cfg: PbxConfig) -> None:
        """A new applied configuration; the realm may have changed (then old nonces are refused)."""
        self.cfg = cfg
        if cfg.settings.realm != self.server.realm:
            self.server = DigestServer(cfg.settings.realm, nonce_ttl=self.server.nonce_ttl,
                                       algorithms=self.algorithms)

    @property
    def realm(self) -> str:
        return self.server.realm

    def challenge(self, now: float, *, stale: bool = False, proxy: bool = False) -> list[tuple[str, str]]:
        return self.server.challenge(now, stale=stale, proxy=proxy)

    def credentials_user(self, request: Request, *, proxy: bool = False) -> str | None:
        """The username of the request's credentials for our realm, if any."""
        params = self._params(request, proxy)
        return params.get("username") if params else None

    def _params(self, request: Request, proxy: bool) -> dict[str, str] | None:
        header = "proxy-authorization" if proxy else "authorization"
        for value in request.headers.get_all(header):
            try:
                scheme, params = parse_auth(value)
            except ParseError:
                return None
            if scheme.lower() == "digest" and params.get("realm") == self.realm:
                return params
        return None

    def verify(self, request: Request, number: str, now: float, *, proxy: bool = False) -> AuthResult:
        """Check the credentials against extension ``number`` of the applied configuration."""
        params = self._params(request, proxy)
        if params is None:
            return AuthResult(False, reason="no credentials")
        username = params.get("username", "")
        if username != number:
            return AuthResult(False, username, reason="credentials of another user")
        ext = self.cfg.extension(number)
        if ext is None or not ext.enabled:
            return AuthResult(False, username, reason="unknown user")
        algorithm = params.get("algorithm", "MD5").upper()
        if algorithm not in self.server.algorithms:
            return AuthResult(False, username, reason="algorithm not offered")
        ha1 = ext.ha1_sha256 if algorithm == "SHA-256" else ext.ha1_md5
        nonce, uri, given = params.get("nonce", ""), params.get("uri", ""), params.get("response", "").lower()
        qop, nc_text, cnonce = params.get("qop"), params.get("nc", ""), params.get("cnonce", "")
        if not (ha1 and nonce and uri and given) or qop != "auth" or not nc_text or not cnonce:
            return AuthResult(False, username, reason="incomplete credentials (qop=auth required)")
        try:
            nc = int(nc_text, 16)
            same = uri == str(request.uri) or _same_target(parse_uri(uri), request.uri)
        except (ValueError, ParseError):
            return AuthResult(False, username, reason="bad nc or uri")
        if not same:
            return AuthResult(False, username, reason="digest uri does not match the Request-URI")
        if "opaque" in params and params["opaque"] != self.server.opaque:
            return AuthResult(False, username, reason="opaque mismatch")
        age = self.server._nonce_age(nonce, now)
        if age is None:
            return AuthResult(False, username, stale=True, reason="unknown nonce")
        ha2 = _h(algorithm, f"{request.method}:{uri}")
        expected = _h(algorithm, f"{ha1}:{nonce}:{nc_text}:{cnonce}:{qop}:{ha2}")
        if not hmac.compare_digest(expected, given):
            return AuthResult(False, username, reason="wrong response")
        if age > self.server.nonce_ttl or age < -5:
            return AuthResult(False, username, stale=True, reason="nonce expired")
        if nc <= self.server._last_nc.get(nonce, 0):
            return AuthResult(False, username, reason="nonce count replayed")
        self.server._remember(nonce, nc)
        return AuthResult(True, username)
