"""SIP header field values (RFC 3261 §7.3, §20, §25.1): names and compact forms, comma lists,
quoted strings, parameters, and the typed values name-addr, Via and CSeq."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from .errors import ParseError
from .uri import URI, SipURI, format_host, parse_uri

__all__ = [
    "COMPACT_FORMS",
    "LIST_HEADERS",
    "SINGLE_HEADERS",
    "CSeq",
    "Headers",
    "NameAddr",
    "Via",
    "canonical_name",
    "display_name",
    "format_auth",
    "format_params",
    "parse_auth",
    "parse_cseq",
    "parse_name_addr",
    "parse_params",
    "parse_via",
    "quote",
    "split_list",
    "unquote",
]

#: Compact forms (§7.3.3 and the IANA registry) → full names, lower-case.
COMPACT_FORMS = {
    "a": "accept-contact", "b": "referred-by", "c": "content-type", "d": "request-disposition",
    "e": "content-encoding", "f": "from", "i": "call-id", "j": "reject-contact", "k": "supported",
    "l": "content-length", "m": "contact", "n": "identity-info", "o": "event", "r": "refer-to",
    "s": "subject", "t": "to", "u": "allow-events", "v": "via", "x": "session-expires", "y": "identity",
}

#: Headers defined as comma-separated lists (§7.3.1); others (Authorization, Date…) are never split.
LIST_HEADERS = frozenset({
    "via", "contact", "route", "record-route", "path", "service-route", "allow", "supported", "require",
    "proxy-require", "unsupported", "accept", "accept-encoding", "accept-language", "content-encoding",
    "allow-events", "in-reply-to", "alert-info", "call-info", "error-info", "warning",
})

#: Headers that must appear at most once (§20); a second value is a 400 (RFC 4475 §3.3.5, §3.3.9).
SINGLE_HEADERS = frozenset({
    "call-id", "cseq", "from", "to", "max-forwards", "content-length", "content-type", "expires",
})

_SPECIAL_NAMES = {
    "call-id": "Call-ID", "cseq": "CSeq", "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck", "rseq": "RSeq", "sip-etag": "SIP-ETag", "sip-if-match": "SIP-If-Match",
}
_TOKEN = r"[A-Za-z0-9\-.!%*_+`'~]+"
_TOKEN_RE = re.compile(_TOKEN)
_TOKENS_RE = re.compile(rf"{_TOKEN}(?:[ \t]+{_TOKEN})*")
_VIA_RE = re.compile(rf"[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]*/[ \t]*({_TOKEN})[ \t]+")
_SENT_BY_RE = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-.]+)(?:[ \t]*:[ \t]*([0-9]{1,5}))?[ \t]*")
_CSEQ_RE = re.compile(rf"[ \t]*([0-9]{{1,10}})[ \t]+({_TOKEN})[ \t]*")
MAX_CSEQ = 2**31 - 1  # §8.1.1.5


@functools.lru_cache(maxsize=4096)
def canonical_name(name: str) -> str:
    """Lower-case full name of a header, whatever spelling or compact form was used."""
    lowered = name.lower()
    return COMPACT_FORMS.get(lowered, lowered)


def display_name(name: str) -> str:
    """How ketnoi writes a header name: ``call-id`` → ``Call-ID``, ``v`` → ``Via``."""
    key = canonical_name(name)
    return _SPECIAL_NAMES.get(key) or "-".join(part.capitalize() for part in key.split("-"))


def _scan(text: str, separator: str) -> list[str]:
    """Split at ``separator`` outside quoted strings and <…> (quoted-pair escapes honoured)."""
    if '"' not in text and "<" not in text:
        return text.split(separator)  # the common case, without a Python-level loop
    parts: list[str] = []
    start = 0
    in_quote = in_angle = escaped = False
    for i, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_quote:
            if char == "\\":
                escaped = True
            elif char == '"':
                in_quote = False
        elif char == '"':
            in_quote = True
        elif char == "<":
            in_angle = True
        elif char == ">":
            in_angle = False
        elif char == separator and not in_angle:
            parts.append(text[start:i])
            start = i + 1
    if in_quote:
        raise ParseError("unterminated quoted string")
    parts.append(text[start:])
    return parts


def split_list(value: str) -> list[str]:
    """Values of a comma-separated header, not splitting inside quotes or <>; empty items dropped."""
    return [part.strip() for part in _scan(value, ",") if part.strip()]


def unquote(value: str) -> str:
    """The text of a quoted-string (escapes resolved); a token is returned unchanged."""
    value = value.strip()
    if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return re.sub(r"\\(.)", r"\1", value[1:-1], flags=re.DOTALL)
    return value


def quote(value: str) -> str:
    """Write ``value`` as a quoted-string (§25.1)."""
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def parse_params(text: str) -> dict[str, str | None]:
    """``;name=value;flag`` → ordered dict (names lower-case, LWS trimmed, quoted values kept quoted)."""
    params: dict[str, str | None] = {}
    for part in _scan(text, ";"):
        part = part.strip()
        if not part:
            continue
        name, eq, value = part.partition("=")
        name = name.strip()
        if not _TOKEN_RE.fullmatch(name):
            raise ParseError(f"bad parameter name {name[:40]!r}")
        value = value.strip()
        if eq and not value:
            raise ParseError(f"parameter {name!r} without a value")
        params[name.lower()] = value if eq else None
    return params


def format_params(params: dict[str, str | None]) -> str:
    return "".join(f";{k}" if v is None else f";{k}={v}" for k, v in params.items())


@dataclass(slots=True)
class NameAddr:
    """``"Display" <uri>;params`` of From, To, Contact, Route, Record-Route (§20.10, §20.20, §20.39).

    ``display`` is unquoted text (``None`` when absent); ``params`` holds header parameters such as
    ``tag``, ``expires`` and ``q``.
    """

    uri: URI
    display: str | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def tag(self) -> str | None:
        return self.params.get("tag")

    def with_tag(self, tag: str) -> NameAddr:
        return NameAddr(self.uri, self.display, {**self.params, "tag": tag})

    def __str__(self) -> str:
        name = ""
        if self.display:
            name = (self.display if _TOKENS_RE.fullmatch(self.display) else quote(self.display)) + " "
        return f"{name}<{self.uri}>{format_params(self.params)}"


def parse_name_addr(value: str) -> NameAddr:
    """Parse a name-addr or addr-spec with parameters; the wildcard ``*`` is not accepted here."""
    text = value.strip()
    display = None
    if text.startswith('"'):
        end = _closing_quote(text)
        display = unquote(text[: end + 1])
        text = text[end + 1:].lstrip()
        if not text.startswith("<"):
            raise ParseError("quoted display name without <uri>")
    elif "<" in text:
        lt = text.index("<")
        name = text[:lt].strip()
        if name and not _TOKENS_RE.fullmatch(name):
            raise ParseError(f"display name must be tokens or quoted: {name[:40]!r}")
        display = name or None
        text = text[lt:]
    if text.startswith("<"):
        gt = text.find(">")
        if gt < 0:
            raise ParseError("unterminated <uri>")
        uri = parse_uri(text[1:gt])
        rest = text[gt + 1:].strip()
        if rest and not rest.startswith(";"):
            raise ParseError("junk after <uri>")
    else:
        # addr-spec: parameters after the URI belong to the header, not the URI (§20.10).
        uri_text, semi, rest = text.partition(";")
        if any(c in uri_text for c in ",?") and isinstance(parse_uri(uri_text.strip()), SipURI):
            raise ParseError("URI with ',' or '?' must be enclosed in <>")
        uri = parse_uri(uri_text.strip())
        rest = semi + rest
    return NameAddr(uri, display, parse_params(rest))


def _closing_quote(text: str) -> int:
    escaped = False
    for i in range(1, len(text)):
        char = text[i]
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            return i
    raise ParseError("unterminated quoted string")


@dataclass(slots=True)
class Via:
    """One Via value (§20.42, RFC 3581): ``SIP/2.0/UDP host:port;branch=…;rport;received=…``."""

    transport: str
    host: str
    port: int | None = None
    params: dict[str, str | None] = field(default_factory=dict)

    @property
    def branch(self) -> str | None:
        return self.params.get("branch")

    @property
    def sent_by(self) -> tuple[str, int]:
        """(host, port) the sender named, default port by transport (§18.2.2)."""
        return self.host, self.port or (5061 if self.transport.upper() == "TLS" else 5060)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port is not None else ""
        return f"SIP/2.0/{self.transport.upper()} {format_host(self.host)}{port}{format_params(self.params)}"


def parse_via(value: str) -> Via:
    """Parse one Via value (LWS around ``/`` and ``:`` allowed, §25.1)."""
    match = _VIA_RE.match(value)
    if not match or match.group(1).upper() != "SIP" or match.group(2) != "2.0":
        raise ParseError(f"bad Via protocol in {value[:60]!r}")
    sent = _SENT_BY_RE.match(value, match.end())
    if not sent:
        raise ParseError(f"bad Via sent-by in {value[:60]!r}")
    host, port_text = sent.group(1), sent.group(2)
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        raise ParseError("Via port out of range")
    rest = value[sent.end():]
    if rest.strip() and not rest.lstrip().startswith(";"):
        raise ParseError(f"junk after Via sent-by in {value[:60]!r}")
    params = parse_params(rest)
    if "branch" in params and not params["branch"]:
        raise ParseError("Via branch without value")
    return Via(match.group(3), host.strip("[]"), port, params)


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: 4711 INVITE`` (§20.16)."""

    seq: int
    method: str

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


def parse_cseq(value: str) -> CSeq:
    match = _CSEQ_RE.fullmatch(value)
    if not match:
        raise ParseError(f"bad CSeq {value[:40]!r}")
    seq = int(match.group(1))
    if seq > MAX_CSEQ:
        raise ParseError("CSeq number out of range")
    return CSeq(seq, match.group(2))


def parse_auth(value: str) -> tuple[str, dict[str, str]]:
    """``Digest realm="x", nonce="y", qop=auth`` → ("Digest", {"realm": "x", …}) with values unquoted
    (§20.27, §20.44, RFC 7616 §3.3); the auth-param list is split at commas outside quotes."""
    scheme, _, rest = value.strip().partition(" ")
    if not _TOKEN_RE.fullmatch(scheme):
        raise ParseError("bad authentication scheme")
    params: dict[str, str] = {}
    for item in split_list(rest):
        name, eq, raw = item.partition("=")
        name = name.strip().lower()
        if not eq or not _TOKEN_RE.fullmatch(name):
            raise ParseError(f"bad auth-param {item[:40]!r}")
        params[name] = unquote(raw)
    return scheme, params


def format_auth(scheme: str, params: dict[str, str], *, unquoted: frozenset[str] = frozenset()) -> str:
    """Write an authentication header value; names in ``unquoted`` are written as tokens
    (``algorithm``, ``nc``, ``qop`` in credentials, ``stale``)."""
    items = (f"{k}={v}" if k in unquoted else f"{k}={quote(v)}" for k, v in params.items())
    return f"{scheme} " + ", ".join(items)


class Headers:
    """Ordered header fields as ``(name as written, value)``. Lookups accept any spelling or compact
    form (``headers.get("i")`` finds ``Call-ID``); list headers (Via, Contact, Route…) are split at
    commas on read, so ``get_all("Via")`` is every Via value, top first. The text between a parsed
    name and its value (``" : "``) is kept so that messages serialize back byte for byte."""

    __slots__ = ("_items",)

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        # (name as written, value, separator as written, canonical name)
        self._items: list[tuple[str, str, str, str]] = [
            (item[0], item[1], item[2] if len(item) > 2 else ": ", canonical_name(item[0]))  # type: ignore[misc]
            for item in items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((n, v) for n, v, _, _ in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, name: object) -> bool:
        key = canonical_name(str(name))
        return any(item[3] == key for item in self._items)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Headers) and list(self) == list(other)

    def __repr__(self) -> str:
        return f"Headers({list(self)!r})"

    def copy(self) -> Headers:
        return Headers(self._items)

    def lines(self) -> Iterator[tuple[str, str, str]]:
        """``(name, separator, value)`` as they will be written."""
        return ((n, sep, v) for n, v, sep, _ in self._items)

    def _values(self, name: str) -> list[str]:
        key = canonical_name(name)
        return [item[1] for item in self._items if item[3] == key]

    def get(self, name: str, default: str | None = None) -> str | None:
        """First value of a header (the whole line for non-list headers)."""
        values = self.get_all(name)
        return values[0] if values else default

    def get_all(self, name: str) -> list[str]:
        """Every value, in order; list headers split at commas outside quotes and <>."""
        values = self._values(name)
        if canonical_name(name) in LIST_HEADERS:
            return [part for value in values for part in split_list(value)]
        return values

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        name = display_name(name) if len(name) == 1 else name
        self._items.append((name, str(value), ": ", canonical_name(name)))

    def prepend(self, name: str, value: str) -> None:
        """Insert a header line before the first one of the same name (a new top Via, §16.6 step 8),
        or at the top when there is none."""
        key = canonical_name(name)
        entry = (display_name(name), str(value), ": ", key)
        for i, item in enumerate(self._items):
            if item[3] == key:
                self._items.insert(i, entry)
                return
        self._items.insert(0, entry)

    def set(self, name: str, value: str) -> None:
        """Replace every line of ``name`` by one line, kept where the first one was."""
        key = canonical_name(name)
        position = next((i for i, item in enumerate(self._items) if item[3] == key), None)
        self.remove(name)
        entry = (display_name(name), str(value), ": ", key)
        if position is None:
            self._items.append(entry)
        else:
            self._items.insert(position, entry)

    def remove(self, name: str) -> None:
        key = canonical_name(name)
        self._items = [item for item in self._items if item[3] != key]

    def pop_first(self, name: str) -> str | None:
        """Remove and return the first value of a list header (the top Via of a response, §18.1.2)."""
        key = canonical_name(name)
        for i, (n, v, sep, k) in enumerate(self._items):
            if k == key:
                values = split_list(v) if key in LIST_HEADERS else [v]
                if len(values) <= 1:
                    del self._items[i]
                else:
                    self._items[i] = (n, ", ".join(values[1:]), sep, k)
                return values[0] if values else None
        return None

    def replace_first(self, name: str, value: str) -> None:
        """Replace the first value of a list header (adding received/rport to the top Via, §18.2.1)."""
        key = canonical_name(name)
        for i, (n, v, sep, k) in enumerate(self._items):
            if k == key:
                values = split_list(v) if key in LIST_HEADERS else [v]
                self._items[i] = (n, ", ".join([str(value), *values[1:]]), sep, k)
                return
        self.add(name, value)
