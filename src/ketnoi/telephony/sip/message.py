"""SIP messages (RFC 3261 §7): the Request/Response model, parser and serializer.

The parser is strict where RFC 4475 asks for a 400 and liberal where it asks for tolerance (folding,
LWS, compact forms, unknown headers). Header values are stored as received, so a message serializes
back to the same bytes (folded lines are unfolded). :class:`ParseError` is the only exception raised.
"""

from __future__ import annotations

import re
import secrets
from abc import ABC, abstractmethod
from collections import Counter
from collections.abc import Iterable

from .errors import ParseError
from .headers import (
    SINGLE_HEADERS,
    CSeq,
    Headers,
    NameAddr,
    Via,
    canonical_name,
    display_name,
    parse_cseq,
    parse_name_addr,
    parse_via,
)
from .uri import URI, SipURI, parse_uri

__all__ = [
    "BRANCH_MAGIC",
    "MAX_HEADERS",
    "MAX_MESSAGE_SIZE",
    "Headers",
    "Message",
    "Request",
    "Response",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "reason_phrase",
]

MAX_MESSAGE_SIZE = 32_768  # far above any real INVITE; larger requests are answered 413 or dropped
MAX_HEADERS = 256
BRANCH_MAGIC = "z9hG4bK"  # §8.1.1.7
_ENC = ("utf-8", "surrogateescape")  # keep any byte, so every input serializes back unchanged
_REQUEST_LINE = re.compile(r"([A-Za-z0-9\-.!%*_+`'~]+) (\S+) (SIP/\d+\.\d+)")
_STATUS_LINE = re.compile(r"(SIP/\d+\.\d+) ([1-6][0-9][0-9])(?: (.*))?")
_HEADER_NAME = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+")
_REASONS = {
    100: "Trying", 180: "Ringing", 181: "Call Is Being Forwarded", 182: "Queued", 183: "Session Progress",
    200: "OK", 202: "Accepted", 300: "Multiple Choices", 301: "Moved Permanently", 302: "Moved Temporarily",
    305: "Use Proxy", 380: "Alternative Service", 400: "Bad Request", 401: "Unauthorized",
    402: "Payment Required", 403: "Forbidden", 404: "Not Found", 405: "Method Not Allowed",
    406: "Not Acceptable", 407: "Proxy Authentication Required", 408: "Request Timeout", 410: "Gone",
    413: "Request Entity Too Large", 414: "Request-URI Too Long", 415: "Unsupported Media Type",
    416: "Unsupported URI Scheme", 420: "Bad Extension", 421: "Extension Required",
    423: "Interval Too Brief", 480: "Temporarily Unavailable", 481: "Call/Transaction Does Not Exist",
    482: "Loop Detected", 483: "Too Many Hops", 484: "Address Incomplete", 485: "Ambiguous",
    486: "Busy Here", 487: "Request Terminated", 488: "Not Acceptable Here", 491: "Request Pending",
    493: "Undecipherable", 500: "Server Internal Error", 501: "Not Implemented", 502: "Bad Gateway",
    503: "Service Unavailable", 504: "Server Time-out", 505: "Version Not Supported",
    513: "Message Too Large", 600: "Busy Everywhere", 603: "Decline", 604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def reason_phrase(status: int) -> str:
    """The RFC 3261 §21 reason phrase of a status code ("" for unknown codes)."""
    return _REASONS.get(status, "")


def new_branch() -> str:
    """A fresh RFC 3261 Via branch (magic cookie + 64 random bits)."""
    return BRANCH_MAGIC + secrets.token_hex(8)


def new_tag() -> str:
    """A fresh From/To tag (§19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def new_call_id(host: str = "ketnoi") -> str:
    return f"{secrets.token_hex(12)}@{host}"


class Message(ABC):
    """Common part of requests and responses: headers, body and typed views of the core headers.

    Typed properties parse on access and raise :class:`ParseError` when the header is missing or bad.
    """

    __slots__ = ("body", "headers")

    def __init__(self, headers: Headers | Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        self.headers = headers if isinstance(headers, Headers) else Headers(headers or ())
        self.body = body

    def _required(self, name: str) -> str:
        value = self.headers.get(name)
        if value is None:
            raise ParseError(f"missing {display_name(name)}")
        return value

    @property
    def call_id(self) -> str:
        return self._required("call-id").strip()

    @property
    def cseq(self) -> CSeq:
        return parse_cseq(self._required("cseq"))

    @property
    def from_addr(self) -> NameAddr:
        return parse_name_addr(self._required("from"))

    @property
    def to_addr(self) -> NameAddr:
        return parse_name_addr(self._required("to"))

    @property
    def vias(self) -> list[Via]:
        return [parse_via(v) for v in self.headers.get_all("via")]

    @property
    def top_via(self) -> Via:
        return parse_via(self._required("via"))

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; a wildcard ``*`` (REGISTER only) is not returned here, see ``is_wildcard``."""
        return [parse_name_addr(v) for v in self.headers.get_all("contact") if v.strip() != "*"]

    @property
    def max_forwards(self) -> int | None:
        value = self.headers.get("max-forwards")
        if value is None:
            return None
        value = value.strip()
        if not value.isdigit() or int(value) > 255:
            raise ParseError("bad Max-Forwards")
        return int(value)

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content-type")
        return value.split(";")[0].strip().lower() if value else None

    def header_lines(self) -> list[str]:
        """Header lines as written, with Content-Length set to the body's length."""
        lines = []
        length_written = False
        for name, sep, value in self.headers.lines():
            if canonical_name(name) == "content-length":
                if length_written:
                    continue
                length_written = True
                if value != str(len(self.body)):
                    value = str(len(self.body))
            lines.append(f"{name}{sep}{value}" if value else f"{name}{sep.rstrip()}")
        if not length_written:
            lines.append(f"Content-Length: {len(self.body)}")
        return lines

    @abstractmethod
    def start_line(self) -> str:
        """Request-Line or Status-Line (§7.1, §7.2)."""

    def to_bytes(self) -> bytes:
        """Serialize (Content-Length always matches the body, §18.3/§20.14)."""
        head = "\r\n".join([self.start_line(), *self.header_lines()]) + "\r\n\r\n"
        return head.encode(*_ENC) + self.body

    __bytes__ = to_bytes


class Request(Message):
    """A SIP request: ``method``, ``uri`` (parsed Request-URI), headers and body."""

    __slots__ = ("method", "uri")

    def __init__(self, method: str, uri: URI | str,
                 headers: Headers | Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.method = method
        self.uri = parse_uri(uri) if isinstance(uri, str) else uri

    def start_line(self) -> str:
        return f"{self.method} {self.uri} SIP/2.0"

    def copy(self) -> Request:
        return Request(self.method, self.uri, self.headers.copy(), self.body)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri}>"


class Response(Message):
    """A SIP response: ``status``, ``reason``, headers and body."""

    __slots__ = ("reason", "status")

    def __init__(self, status: int, reason: str | None = None,
                 headers: Headers | Iterable[tuple[str, str]] | None = None, body: bytes = b"") -> None:
        super().__init__(headers, body)
        self.status = status
        self.reason = reason_phrase(status) if reason is None else reason

    def start_line(self) -> str:
        return f"SIP/2.0 {self.status} {self.reason}"

    def copy(self) -> Response:
        return Response(self.status, self.reason, self.headers.copy(), self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason}>"


def _split_head(data: bytes, datagram: bool) -> tuple[bytes, bytes]:
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        return data[:end], data[end + 4:]
    end = data.find(b"\n\n")  # bare-LF senders are tolerated
    if end >= 0:
        return data[:end], data[end + 2:]
    if datagram and data.endswith(b"\n"):  # a datagram that lost its final empty line: no body
        return data.rstrip(b"\r\n"), b""
    raise ParseError("no empty line after the headers")


def _header_lines(head: str) -> tuple[str, list[tuple[str, str, str]]]:
    lines = re.split(r"\r?\n", head)
    start, fields = lines[0], []
    for line in lines[1:]:
        if line[:1] in (" ", "\t"):  # folded continuation (§7.3.1): equivalent to one SP
            if not fields:
                raise ParseError("continuation line before any header")
            name, value, sep = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}".strip(), sep)
            continue
        raw_name, colon, raw_value = line.partition(":")
        name = raw_name.rstrip(" \t")
        if not colon or not _HEADER_NAME.fullmatch(name):
            raise ParseError(f"bad header line {line[:60]!r}")
        value = raw_value.lstrip(" \t")
        sep = raw_name[len(name):] + ":" + raw_value[: len(raw_value) - len(value)]
        fields.append((name, value.rstrip(" \t"), sep))
        if len(fields) > MAX_HEADERS:
            raise ParseError("too many headers", 413)
    return start, fields


def _content_length(headers: Headers) -> int | None:
    values = headers._values("content-length")
    if not values:
        return None
    text = values[0].strip()
    if not text.isdigit() or len(text) > 9:
        raise ParseError("bad Content-Length")
    return int(text)


def _validate(message: Message, method: str | None) -> None:
    headers = message.headers
    counts = Counter(item[3] for item in headers._items)
    for name in SINGLE_HEADERS:
        if counts[name] > 1:
            raise ParseError(f"several {display_name(name)} values")
    if not headers.get_all("via"):
        raise ParseError("missing Via")
    for value in headers.get_all("via"):  # every Via value must parse (RFC 4475 §3.1.2.1)
        parse_via(value)
    for name in ("from", "to"):
        parse_name_addr(message._required(name))
    if not message.call_id:
        raise ParseError("empty Call-ID")
    cseq = message.cseq
    if message.max_forwards is None and method is not None:
        pass  # tolerated: RFC 2543 senders omit it (RFC 4475 §3.3.15)
    for value in headers.get_all("contact"):
        if value.strip() != "*":
            parse_name_addr(value)
    if method is not None and cseq.method != method:
        raise ParseError("CSeq method does not match the request method")


def parse_message(data: bytes, *, datagram: bool = True,
                  max_size: int = MAX_MESSAGE_SIZE) -> Request | Response:
    """Parse one SIP message.

    ``datagram=True`` (UDP, §18.3): bytes beyond Content-Length are discarded and a body shorter than
    Content-Length is an error; without Content-Length the body runs to the end. ``datagram=False``:
    ``data`` is exactly one framed message (see :class:`~.transport.StreamFramer`).
    Raises :class:`ParseError` (``status`` 400, 413 or 505; ``method``/``headers`` set when known).
    """
    if len(data) > max_size:
        raise _too_large(data, max_size)
    data = data.lstrip(b"\r\n")  # §7.5: CRLFs before the start line are ignored
    head_bytes, body = _split_head(data, datagram)
    head = head_bytes.decode(*_ENC)
    start = head.split("\n", 1)[0].rstrip("\r")
    # Name the method even when the request line is malformed, so that a 400 can still be sent.
    first = start.split(" ", 1)[0]
    method = first if _HEADER_NAME.fullmatch(first) else None
    headers = None
    message: Request | Response
    try:
        start, fields = _header_lines(head)
        headers = Headers(fields)
        request = _REQUEST_LINE.fullmatch(start)
        if request:
            if request.group(3) != "SIP/2.0":
                raise ParseError(f"version {request.group(3)} not supported", 505)
            uri = parse_uri(request.group(2))
            if isinstance(uri, SipURI) and uri.headers:
                raise ParseError("headers are not allowed in a Request-URI (§19.1.1)")
            message = Request(method, uri, headers)
        else:
            status = _STATUS_LINE.fullmatch(start)
            if method is not None or not status or status.group(1) != "SIP/2.0":
                raise ParseError(f"bad start line {start[:60]!r}")
            message = Response(int(status.group(2)), (status.group(3) or "").strip(), headers)
        length = _content_length(headers)
        if length is not None:
            if length > len(body):
                raise ParseError("body shorter than Content-Length")
            body = body[:length]
        elif not datagram:
            body = b""
        message.body = body
        _validate(message, method)
    except ParseError as exc:
        exc.method = exc.method or method
        exc.headers = exc.headers or headers
        raise
    return message


def _too_large(data: bytes, max_size: int) -> ParseError:
    """413 for an oversized message, with its headers when they fit in the limit (so it can be
    answered; RFC 3261 §21.4.11)."""
    error = ParseError("message too large", 413)
    try:
        head, _ = _split_head(data[:max_size].lstrip(b"\r\n"), False)
        start, fields = _header_lines(head.decode(*_ENC))
    except ParseError:
        return error
    first = start.split(" ", 1)[0]
    error.method = first if _HEADER_NAME.fullmatch(first) else None
    error.headers = Headers(fields)
    return error


def make_response(request: Request, status: int, reason: str | None = None, *, to_tag: str | None = None,
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                  content_type: str | None = None) -> Response:
    """Build a response to ``request`` (§8.2.6.2): Via, From, Call-ID, CSeq copied as received, To with
    ``to_tag`` added when it has none (not for 100), Record-Route copied for dialog-creating
    responses (§12.1.1), Timestamp echoed in 100 Trying (§8.2.6.1)."""
    copied = {"via", "from", "call-id", "cseq", "to"}
    if 100 < status < 300 and request.method in ("INVITE", "SUBSCRIBE"):
        copied.add("record-route")
    if status == 100:
        copied.add("timestamp")
    out = Headers()
    for name, value in request.headers:
        key = canonical_name(name)
        if key not in copied:
            continue
        if key == "to" and to_tag and status > 100 and not _has_tag(value):
            value = f"{value};tag={to_tag}"
        out.add(name, value)
    for name, value in headers:
        out.add(name, value)
    if content_type:
        out.set("Content-Type", content_type)
    return Response(status, reason, out, body)


def _has_tag(value: str) -> bool:
    try:
        return "tag" in parse_name_addr(value).params
    except ParseError:  # answering a malformed request: look for the parameter textually
        return ";tag=" in value.replace(" ", "").lower()
