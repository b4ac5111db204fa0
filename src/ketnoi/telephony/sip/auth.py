"""HTTP Digest for SIP (RFC 3261 §22, RFC 7616 §3.4, RFC 8760): MD5 and SHA-256, ``qop=auth``.

:class:`DigestServer` challenges and verifies, from the password or from a stored HA1 (RFC 8760 §3;
stateless HMAC nonces with expiry → ``stale=true``, nonce-count replay refused);
:class:`DigestClient` answers challenges (trunks registering upstream).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .errors import ParseError
from .headers import canonical_name, format_auth, parse_auth
from .message import Request, Response
from .uri import SipURI, parse_uri

__all__ = ["ALGORITHMS", "RFC8760_ORDER", "AuthResult", "DigestClient", "DigestServer", "digest_ha1",
           "digest_response", "digest_response_from_ha1"]

_HASHES = {"MD5": hashlib.md5, "SHA-256": hashlib.sha256}
#: RFC 8760 §2.4 order (strongest first), for deployments whose phones skip unknown algorithms
RFC8760_ORDER = ("SHA-256", "MD5")
#: Default challenge: MD5 only. Measured here: SIPp 3.6 answers only the first challenge and only
#: MD5; baresip 1.0 (libre) gives up on the whole 401 as soon as any challenge is not MD5, in any
#: order. Deployments whose phones all follow RFC 8760 pass ``RFC8760_ORDER`` instead.
ALGORITHMS = ("MD5",)
_UNQUOTED = frozenset({"algorithm", "nc", "qop", "stale"})


def _hash(algorithm: str, text: str) -> str:
    base = algorithm.upper().removesuffix("-SESS")
    return _HASHES[base](text.encode("utf-8")).hexdigest()


def digest_ha1(algorithm: str, username: str, realm: str, password: str) -> str:
    """``H(username:realm:password)``, what a server may store instead of the password (RFC 8760 §3;
    for ``-sess`` algorithms this is the stored part, before nonce and cnonce are mixed in)."""
    return _hash(algorithm, f"{username}:{realm}:{password}")


def digest_response(*, algorithm: str, username: str, realm: str, password: str, method: str, uri: str,
                    nonce: str, nc: str | None = None, cnonce: str | None = None,
                    qop: str | None = None) -> str:
    """The ``response`` value of RFC 7616 §3.4.1 (``-sess`` variants included; qop ``auth`` only)."""
    return digest_response_from_ha1(algorithm=algorithm, ha1=digest_ha1(algorithm, username, realm, password),
                                    method=method, uri=uri, nonce=nonce, nc=nc, cnonce=cnonce, qop=qop)


def digest_response_from_ha1(*, algorithm: str, ha1: str, method: str, uri: str, nonce: str,
                             nc: str | None = None, cnonce: str | None = None, qop: str | None = None) -> str:
    """The ``response`` value of RFC 7616 §3.4.1 from a stored ``H(username:realm:password)``; for
    ``-sess`` algorithms it is hashed again with ``nonce:cnonce`` (§3.4.2)."""
    ha1 = ha1.lower()
    if algorithm.upper().endswith("-SESS"):
        ha1 = _hash(algorithm, f"{ha1}:{nonce}:{cnonce}")
    ha2 = _hash(algorithm, f"{method}:{uri}")
    if qop:
        return _hash(algorithm, f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")
    return _hash(algorithm, f"{ha1}:{nonce}:{ha2}")


@dataclass(slots=True)
class AuthResult:
    """Outcome of :meth:`DigestServer.verify`. When not ``ok``, answer with
    ``challenge(now, stale=result.stale)`` in a 401 (407 for a proxy)."""

    ok: bool
    username: str | None = None
    stale: bool = False
    reason: str = ""


class DigestServer:
    """Challenges and verifies digest credentials for one realm.

    Nonces are ``timestamp.random.HMAC`` under ``secret`` (so several workers sharing the secret
    accept each other's nonces); they live ``nonce_ttl`` seconds, after which a correct answer gets
    ``stale=true``. The nonce-count of each nonce must grow (replay protection, RFC 7616 §3.3).

    ``uri_without_user``: also accept a digest-uri that is the Request-URI's ``sip:host[:port]``
    without its user part (SIPp's ``[authentication]`` writes that); the response hash still covers
    the uri as sent, so only the binding to the Request-URI's user is relaxed.
    """

    def __init__(self, realm: str, secret: bytes | None = None, *, nonce_ttl: float = 300.0,
                 algorithms: Sequence[str] = ALGORITHMS, max_tracked_nonces: int = 50_000,
                 uri_without_user: bool = False) -> None:
        unknown = [a for a in algorithms if a.upper() not in _HASHES]
        if unknown:
            raise ValueError(f"unsupported digest algorithms {unknown}")
        self.realm = realm
        self.secret = secret or secrets.token_bytes(32)
        self.nonce_ttl = nonce_ttl
        self.algorithms = tuple(a.upper() for a in algorithms)
        self.opaque = secrets.token_hex(8)
        self._last_nc: OrderedDict[str, int] = OrderedDict()
        self._max_tracked = max_tracked_nonces
        self.uri_without_user = uri_without_user

    # ------------------------------------------------------------------ nonces
    def make_nonce(self, now: float) -> str:
        body = struct.pack(">d", now) + secrets.token_bytes(8)
        mac = hmac.new(self.secret, body, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(body + mac).decode().rstrip("=")

    def _nonce_age(self, nonce: str, now: float) -> float | None:
        """Seconds since the nonce was issued, or ``None`` when it is not one of ours."""
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 28:
            return None
        body, mac = raw[:16], raw[16:]
        if not hmac.compare_digest(mac, hmac.new(self.secret, body, hashlib.sha256).digest()[:12]):
            return None
        return now - struct.unpack(">d", body[:8])[0]

    # ------------------------------------------------------------------ server side
    def challenge(self, now: float, *, stale: bool = False, proxy: bool = False) -> list[tuple[str, str]]:
        """Challenge headers for a 401 (``proxy``: 407), one per algorithm, preferred first
        (RFC 8760 §2.4), all with the same nonce."""
        name = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        nonce = self.make_nonce(now)
        headers = []
        for algorithm in self.algorithms:
            params = {"realm": self.realm, "nonce": nonce, "opaque": self.opaque, "algorithm": algorithm,
                      "qop": "auth"}
            value = format_auth("Digest", params, unquoted=frozenset({"algorithm"}))
            headers.append((name, value + (", stale=true" if stale else "")))
        return headers

    def credentials(self, request: Request, *, proxy: bool = False) -> dict[str, str] | None:
        """The parameters of the request's Digest credentials for this realm (``None``: none, or
        malformed)."""
        header = "proxy-authorization" if proxy else "authorization"
        for value in request.headers.get_all(header):
            try:
                scheme, params = parse_auth(value)
            except ParseError:
                return None
            if scheme.lower() == "digest" and params.get("realm") == self.realm:
                return params
        return None

    def verify(self, request: Request, lookup: Callable[[str], str | None] | None, now: float, *,
               proxy: bool = False, ha1_lookup: Callable[[str, str], str | None] | None = None) -> AuthResult:
        """Check the request's credentials for this realm. Give exactly one of ``lookup(username)``,
        which returns the password, or ``ha1_lookup(username, algorithm)``, which returns the stored
        hex ``H(username:realm:password)`` for ``algorithm`` "MD5" or "SHA-256" (the ``-sess``
        variants ask for their base algorithm; RFC 8760 §3). Either returns ``None`` for an unknown
        user. Never raises on malformed credentials."""
        if (lookup is None) == (ha1_lookup is None):
            raise ValueError("give exactly one of lookup and ha1_lookup")
        header = "proxy-authorization" if proxy else "authorization"
        for value in request.headers.get_all(header):
            try:
                scheme, params = parse_auth(value)
            except ParseError:
                return AuthResult(False, reason="malformed credentials")
            if scheme.lower() == "digest" and params.get("realm") == self.realm:
                return self._verify_params(request, params, lookup, ha1_lookup, now)
        return AuthResult(False, reason="no credentials")

    def _verify_params(self, request: Request, params: dict[str, str],
                       lookup: Callable[[str], str | None] | None,
                       ha1_lookup: Callable[[str, str], str | None] | None, now: float) -> AuthResult:
        username = params.get("username")
        nonce, uri, given = params.get("nonce"), params.get("uri"), params.get("response", "").lower()
        algorithm = params.get("algorithm", "MD5").upper()
        if not username or not nonce or not uri or not given:
            return AuthResult(False, username, reason="incomplete credentials")
        if algorithm.removesuffix("-SESS") not in self.algorithms:
            return AuthResult(False, username, reason="algorithm not offered")
        qop, nc_text, cnonce = params.get("qop"), params.get("nc"), params.get("cnonce")
        if qop != "auth" or not nc_text or not cnonce:
            return AuthResult(False, username, reason="qop=auth with nc and cnonce required")
        try:
            nc = int(nc_text, 16)
            if not _same_uri(uri, request, self.uri_without_user):
                return AuthResult(False, username, reason="digest uri does not match the Request-URI")
        except ValueError:
            return AuthResult(False, username, reason="bad nc or uri")
        if "opaque" in params and params["opaque"] != self.opaque:
            return AuthResult(False, username, reason="opaque mismatch")
        age = self._nonce_age(nonce, now)
        if age is None:
            return AuthResult(False, username, reason="unknown nonce")
        try:  # undecodable bytes (kept as surrogates) cannot be hashed: refuse, do not raise
            if ha1_lookup is not None:
                ha1 = ha1_lookup(username, algorithm.removesuffix("-SESS"))
            else:
                password = lookup(username) if lookup is not None else None
                ha1 = None if password is None else digest_ha1(algorithm, username, self.realm, password)
            if not ha1:
                return AuthResult(False, username, reason="unknown user")
            expected = digest_response_from_ha1(algorithm=algorithm, ha1=ha1, method=request.method, uri=uri,
                                                nonce=nonce, nc=nc_text, cnonce=cnonce, qop=qop)
        except UnicodeEncodeError:
            return AuthResult(False, username, reason="malformed credentials")
        if not hmac.compare_digest(expected.encode(), given.encode("utf-8", "surrogateescape")):
            return AuthResult(False, username, reason="wrong response")  # (bytes: str must be ASCII)
        if age > self.nonce_ttl or age < -5:
            return AuthResult(False, username, stale=True, reason="nonce expired")
        if nc <= self._last_nc.get(nonce, 0):
            return AuthResult(False, username, reason="nonce count replayed")
        self._remember(nonce, nc)
        return AuthResult(True, username)

    def _remember(self, nonce: str, nc: int) -> None:
        self._last_nc[nonce] = nc
        self._last_nc.move_to_end(nonce)
        while len(self._last_nc) > self._max_tracked:
            self._last_nc.popitem(last=False)


def _same_uri(digest_uri: str, request: Request, without_user: bool = False) -> bool:
    """The digest-uri names the Request-URI (RFC 7616 §3.4.6), or, with ``without_user``, its
    host and port with no user part."""
    if digest_uri == str(request.uri):
        return True
    try:
        parsed = parse_uri(digest_uri)
    except ParseError:
        return False
    if parsed.equivalent(request.uri):
        return True
    target = request.uri
    return (without_user and isinstance(parsed, SipURI) and isinstance(target, SipURI)
            and parsed.user is None and parsed.scheme == target.scheme
            and parsed.host.lower() == target.host.lower() and parsed.port == target.port)


class DigestClient:
    """Answers 401/407 challenges with digest credentials (a trunk registering to its provider,
    CC-09). Gives up (returns ``None``) when the same nonce is challenged again without
    ``stale=true``, i.e. when the password is wrong."""

    def __init__(self, username: str, password: str, *, algorithms: Sequence[str] = RFC8760_ORDER) -> None:
        self.username = username
        self.password = password
        self.algorithms = tuple(a.upper() for a in algorithms)
        self._nc: dict[str, int] = {}

    def _pick(self, response: Response) -> tuple[str, dict[str, str]] | None:
        name = "proxy-authorization" if response.status == 407 else "authorization"
        offered: list[dict[str, str]] = []
        for header, value in response.headers:
            if canonical_name(header) not in ("www-authenticate", "proxy-authenticate"):
                continue
            try:
                scheme, params = parse_auth(value)
            except ParseError:
                continue
            if scheme.lower() == "digest" and "nonce" in params and "realm" in params:
                offered.append(params)
        for algorithm in self.algorithms:
            for params in offered:
                if params.get("algorithm", "MD5").upper() == algorithm:
                    return name, params
        return None

    def authorization(self, request: Request, response: Response) -> tuple[str, str] | None:
        """The (header name, value) answering ``response``'s challenge for ``request``."""
        picked = self._pick(response)
        if picked is None:
            return None
        name, challenge = picked
        nonce = challenge["nonce"]
        if nonce in self._nc and challenge.get("stale", "").lower() != "true":
            return None  # our answer to this very nonce was refused: wrong credentials
        qops = [q.strip() for q in challenge.get("qop", "").split(",") if q.strip()]
        qop = "auth" if "auth" in qops else None
        if qops and qop is None:
            return None  # only auth-int offered: not supported
        self._nc[nonce] = nc = self._nc.get(nonce, 0) + 1
        nc_text, cnonce = f"{nc:08x}", secrets.token_hex(8)
        uri = str(request.uri)
        algorithm = challenge.get("algorithm", "MD5")
        params = {"username": self.username, "realm": challenge["realm"], "nonce": nonce, "uri": uri}
        params["response"] = digest_response(
            algorithm=algorithm, username=self.username, realm=challenge["realm"], password=self.password,
            method=request.method, uri=uri, nonce=nonce, nc=nc_text, cnonce=cnonce, qop=qop)
        params["algorithm"] = algorithm
        if qop:
            params.update(qop=qop, nc=nc_text, cnonce=cnonce)
        if "opaque" in challenge:
            params["opaque"] = challenge["opaque"]
        return ("Proxy-Authorization" if name == "proxy-authorization" else "Authorization",
                format_auth("Digest", params, unquoted=_UNQUOTED))

    def authorize(self, request: Request, response: Response) -> Request | None:
        """A copy of ``request`` to send again: credentials added, CSeq one higher, our Via removed
        (the stack adds a fresh one, §22.2 / §8.1.3.5). ``None`` when it cannot be answered."""
        credentials = self.authorization(request, response)
        if credentials is None:
            return None
        retry = request.copy()
        retry.headers.pop_first("via")
        retry.headers.remove(credentials[0])
        retry.headers.add(*credentials)
        cseq = request.cseq
        retry.headers.set("CSeq", f"{cseq.seq + 1} {cseq.method}")
        return retry
