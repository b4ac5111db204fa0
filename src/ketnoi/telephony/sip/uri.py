"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966): parse, serialize and compare.

Unknown schemes are kept opaque as :class:`AbsoluteURI` so a request can be answered 416 (§8.2.2.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from .errors import ParseError

__all__ = ["URI", "AbsoluteURI", "SipURI", "TelURI", "format_host", "parse_uri"]

_SCHEME_RE = re.compile(r"([A-Za-z][A-Za-z0-9+\-.]*):")
_HOST_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+")
# Characters that may never appear raw inside a SIP URI (RFC 3261 §25.1: no LWS, no quotes, no <>).
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f\"<>]")
_DEFAULT_PORTS = {"sip": 5060, "sips": 5061}


def format_host(host: str) -> str:
    """Write a host for a URI or Via: IPv6 addresses get their brackets back."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def _parse_params(text: str, *, what: str) -> dict[str, str | None]:
    params: dict[str, str | None] = {}
    for part in text.split(";"):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not name:
            raise ParseError(f"empty {what} parameter name")
        params[name.lower()] = value if eq else None
    return params


def _format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class SipURI:
    """A ``sip:`` or ``sips:`` URI (§19.1.1). ``host`` holds an IPv6 address without brackets.

    ``user`` and ``password`` are kept escaped as received; ``params`` keys are lower-case.
    """

    host: str
    user: str | None = None
    password: str | None = None
    port: int | None = None
    scheme: str = "sip"
    params: dict[str, str | None] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def transport(self) -> str:
        """Transport named by the ``transport`` parameter; ``tls`` for sips (§26.2.2), else ``udp``."""
        value = self.params.get("transport")
        if value:
            return value.lower()
        return "tls" if self.scheme == "sips" else "udp"

    @property
    def host_port(self) -> tuple[str, int]:
        """(host, port) with the scheme's default port filled in (no DNS SRV/NAPTR: RFC 3263 is not used)."""
        return self.host, self.port or _DEFAULT_PORTS[self.scheme]

    @property
    def aor(self) -> str:
        """Address-of-record key ``scheme:user@host`` (lower-case host, unescaped user), as used by the
        registrar (§10.3 step 5)."""
        user = unquote(self.user) + "@" if self.user is not None else ""
        return f"{self.scheme}:{user}{self.host.lower()}"

    def with_params(self, **params: str | None) -> SipURI:
        """A copy with the given URI parameters added or replaced (``lr=None`` adds a bare ``;lr``)."""
        return SipURI(self.host, self.user, self.password, self.port, self.scheme,
                      {**self.params, **params}, dict(self.headers))

    def copy(self) -> SipURI:
        return self.with_params()

    def equivalent(self, other: object) -> bool:
        """URI comparison of §19.1.4 (escapes resolved, host and params case-insensitive)."""
        if not isinstance(other, SipURI) or self.scheme != other.scheme:
            return False
        mine = (unquote(self.user or ""), unquote(self.password or ""), self.host.lower(), self.port)
        theirs = (unquote(other.user or ""), unquote(other.password or ""), other.host.lower(), other.port)
        if mine != theirs:
            return False
        for name in ("user", "ttl", "method", "maddr", "transport"):
            a, b = self.params.get(name), other.params.get(name)
            if (a is None) != (b is None) or (a and b and a.lower() != b.lower()):
                return False
        for name in set(self.params) & set(other.params):
            a, b = self.params[name], other.params[name]
            if (a or "").lower() != (b or "").lower():
                return False
        return {k.lower(): v for k, v in self.headers.items()} == {
            k.lower(): v for k, v in other.headers.items()}

    def __str__(self) -> str:
        userinfo = ""
        if self.user is not None:
            userinfo = self.user + (f":{self.password}" if self.password is not None else "") + "@"
        port = f":{self.port}" if self.port is not None else ""
        headers = "&".join(f"{k}={v}" for k, v in self.headers.items())
        return (f"{self.scheme}:{userinfo}{format_host(self.host)}{port}{_format_params(self.params)}"
                + (f"?{headers}" if headers else ""))


@dataclass(slots=True)
class TelURI:
    """A ``tel:`` URI (RFC 3966): ``number`` as written (visual separators kept), plus parameters."""

    number: str
    params: dict[str, str | None] = field(default_factory=dict)
    scheme: str = "tel"

    @property
    def digits(self) -> str:
        """The number without visual separators (``-``, ``.``, ``(``, ``)``)."""
        return re.sub(r"[\-.()]", "", self.number)

    def equivalent(self, other: object) -> bool:
        return (isinstance(other, TelURI) and self.digits == other.digits
                and {k: (v or "").lower() for k, v in self.params.items()}
                == {k: (v or "").lower() for k, v in other.params.items()})

    def __str__(self) -> str:
        return f"tel:{self.number}{_format_params(self.params)}"


@dataclass(slots=True)
class AbsoluteURI:
    """Any other URI scheme (``mailto:``, ``http:``, ``urn:``…), kept opaque."""

    scheme: str
    opaque: str

    def equivalent(self, other: object) -> bool:
        return isinstance(other, AbsoluteURI) and str(self).lower() == str(other).lower()

    def __str__(self) -> str:
        return f"{self.scheme}:{self.opaque}"


URI = SipURI | TelURI | AbsoluteURI


def _parse_sip(scheme: str, rest: str) -> SipURI:
    # '@' may not appear raw anywhere else in a SIP URI, while the user part may carry ';', '?' and
    # ':' (§25.1 user-unreserved): so cut the user part off first, then headers, then parameters.
    userinfo, at, hostpart = rest.rpartition("@")
    if not at:
        hostpart, userinfo = rest, None
    hostpart, qmark, header_text = hostpart.partition("?")
    hostport, _, param_text = hostpart.partition(";")
    user = password = None
    if userinfo is not None:
        if not userinfo:
            raise ParseError("empty user part in URI")
        user, colon, pw = userinfo.partition(":")
        password = pw if colon else None
    match = _HOST_RE.match(hostport)
    if not match:
        raise ParseError(f"bad host in URI {hostport!r}")
    host = match.group(0)
    tail = hostport[match.end():]
    port = None
    if tail:
        if not tail.startswith(":") or not tail[1:].isdigit() or len(tail) > 6:
            raise ParseError(f"bad port in URI {hostport!r}")
        port = int(tail[1:])
        if port > 65535:
            raise ParseError("port out of range")
    if host.startswith("["):
        host = host[1:-1]
        if host.count(":") < 2:
            raise ParseError("bad IPv6 reference")
    elif not any(c.isalnum() for c in host):
        raise ParseError("empty host in URI")
    headers: dict[str, str] = {}
    if qmark:
        for pair in header_text.split("&"):
            name, _, value = pair.partition("=")
            if not name:
                raise ParseError("empty URI header name")
            headers[name] = value
    return SipURI(host, user, password, port, scheme, _parse_params(param_text, what="URI"), headers)


def parse_uri(text: str) -> URI:
    """Parse a URI; raise :class:`ParseError` when it is not well formed.

    >>> parse_uri("sips:alice@[2001:db8::1]:5061;transport=tcp").host
    '2001:db8::1'
    """
    if _FORBIDDEN.search(text):
        raise ParseError(f"illegal character in URI {text[:80]!r}")
    match = _SCHEME_RE.match(text)
    if not match:
        raise ParseError(f"URI without scheme {text[:80]!r}")
    scheme = match.group(1).lower()
    rest = text[match.end():]
    if scheme in ("sip", "sips"):
        return _parse_sip(scheme, rest)
    if scheme == "tel":
        number, _, param_text = rest.partition(";")
        if not number or not re.fullmatch(r"\+?[0-9A-Fa-f*#\-.()pPwW]+", number):
            raise ParseError(f"bad tel URI {text[:80]!r}")
        return TelURI(number, _parse_params(param_text, what="tel"))
    if not rest:
        raise ParseError("empty URI")
    return AbsoluteURI(scheme, rest)
