"""SDP session descriptions (RFC 4566): a tolerant parser and a byte-stable serializer.

Every line is kept, known or not (i=, u=, e=, p=, b=, r=, z=, k= and unknown attributes), so a
description parsed and serialized again says what it said. ``parse`` raises only ``SdpError``.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

MAX_SDP_BYTES = 65_536  # an SDP body larger than this is refused (a SIP body is never this big)
MAX_MEDIA = 64
MAX_LINE_COUNT = 2_000

# RFC 4566 §5: the order of session-level and media-level lines; unknown letters keep their place
# at the end of their section (before the attributes).
_SESSION_ORDER = "vosiuepcbtrzka"
_MEDIA_ORDER = "micbka"


class SdpError(ValueError):
    """The text is not a usable SDP session description (RFC 4566)."""


@dataclass(slots=True)
class Origin:
    """``o=<username> <sess-id> <sess-version> <nettype> <addrtype> <unicast-address>`` (RFC 4566 §5.2)."""

    username: str
    session_id: int
    session_version: int
    nettype: str
    addrtype: str
    address: str

    def __str__(self) -> str:
        return (f"{self.username} {self.session_id} {self.session_version} "
                f"{self.nettype} {self.addrtype} {self.address}")


@dataclass(slots=True)
class Connection:
    """``c=<nettype> <addrtype> <connection-address>`` (RFC 4566 §5.7); IN IP4 and IN IP6."""

    nettype: str
    addrtype: str
    address: str  # for multicast the "/ttl/count" tail stays part of it

    @property
    def host(self) -> str:
        return self.address.split("/", 1)[0]

    @property
    def is_hold_address(self) -> bool:
        """``c=IN IP4 0.0.0.0``: RFC 2543 hold, "do not send to me" (RFC 3264 §8.4)."""
        return self.host in ("0.0.0.0", "::")

    @classmethod
    def for_host(cls, host: str) -> Connection:
        """The c= line for a local address, IP4 or IP6 chosen from the address itself."""
        try:
            v6 = ipaddress.ip_address(host).version == 6
        except ValueError:  # a host name (RFC 4566 allows FQDNs)
            v6 = False
        return cls("IN", "IP6" if v6 else "IP4", host)

    def __str__(self) -> str:
        return f"{self.nettype} {self.addrtype} {self.address}"


@dataclass(slots=True)
class Attribute:
    """``a=<name>`` or ``a=<name>:<value>`` (RFC 4566 §5.13)."""

    name: str
    value: str | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}:{self.value}"


class _Attributes:
    """Helpers shared by session and media sections: look-ups over an ordered attribute list."""

    attributes: list[Attribute]

    def attribute(self, name: str) -> str | None:
        """The value of the first ``a=name[:value]`` ('' for a flag), or None when absent."""
        for a in self.attributes:
            if a.name == name:
                return a.value if a.value is not None else ""
        return None

    def attribute_values(self, name: str) -> list[str]:
        return [a.value or "" for a in self.attributes if a.name == name]

    def direction(self) -> str | None:
        """The last direction attribute (sendrecv/sendonly/recvonly/inactive, RFC 4566 §6), if any."""
        found = None
        for a in self.attributes:
            if a.name in ("sendrecv", "sendonly", "recvonly", "inactive"):
                found = a.name
        return found


@dataclass(slots=True)
class MediaDescription(_Attributes):
    """One ``m=`` section (RFC 4566 §5.14) with its c=, b= and a= lines and any other lines."""

    media: str
    port: int
    proto: str
    formats: list[str]
    port_count: int | None = None
    connection: Connection | None = None
    attributes: list[Attribute] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, b=, k= and unknown letters

    def rtpmap(self) -> dict[int, tuple[str, int, int]]:
        """Payload type → (encoding name, clock rate, channels) from a=rtpmap (RFC 4566 §6)."""
        out: dict[int, tuple[str, int, int]] = {}
        for value in self.attribute_values("rtpmap"):
            pt_text, _, enc = value.partition(" ")
            parts = enc.strip().split("/")
            if not (_digits(pt_text) and len(parts) >= 2 and _digits(parts[1])):
                continue  # a malformed rtpmap is ignored, as the RFC's "unknown is ignored" rule
            channels = int(parts[2]) if len(parts) > 2 and _digits(parts[2]) else 1
            out.setdefault(int(pt_text), (parts[0], int(parts[1]), channels))
        return out

    def fmtp(self) -> dict[int, str]:
        """Payload type → format parameters from a=fmtp."""
        out: dict[int, str] = {}
        for value in self.attribute_values("fmtp"):
            pt_text, _, params = value.partition(" ")
            if _digits(pt_text):
                out.setdefault(int(pt_text), params.strip())
        return out

    def ptime(self) -> int | None:
        value = (self.attribute("ptime") or "").split(".", 1)[0]
        ms = int(value) if _digits(value) else 0
        return ms if 0 < ms <= 1000 else None

    def rtcp_port(self) -> int | None:
        """The port of ``a=rtcp:<port> ...`` (RFC 3605), when given and valid."""
        value = self.attribute("rtcp")
        if not value:
            return None
        head = value.split(" ", 1)[0]
        return int(head) if _digits(head) and 0 < int(head) < 65536 else None

    def lines(self) -> list[str]:
        m = f"m={self.media} {self.port}"
        if self.port_count is not None:
            m += f"/{self.port_count}"
        m += f" {self.proto}"
        if self.formats:
            m += " " + " ".join(self.formats)
        out = [m]
        body: list[tuple[str, str]] = list(self.other)
        if self.connection is not None:
            body.append(("c", str(self.connection)))
        body.sort(key=lambda kv: _rank(_MEDIA_ORDER, kv[0]))
        out += [f"{k}={v}" for k, v in body]
        out += [f"a={a}" for a in self.attributes]
        return out


@dataclass(slots=True)
class SessionDescription(_Attributes):
    """A whole SDP body: session-level lines and the list of media sections."""

    origin: Origin
    session_name: str = "-"
    connection: Connection | None = None
    timing: list[tuple[str, list[str]]] = field(default_factory=lambda: [("0 0", [])])  # t= with its r=
    attributes: list[Attribute] = field(default_factory=list)
    media: list[MediaDescription] = field(default_factory=list)
    other: list[tuple[str, str]] = field(default_factory=list)  # i=, u=, e=, p=, b=, z=, k=, unknown
    version: int = 0

    def connection_for(self, media: MediaDescription) -> Connection | None:
        """The media-level c= or else the session-level one (RFC 4566 §5.7)."""
        return media.connection or self.connection

    def direction_for(self, media: MediaDescription) -> str:
        """The media direction: media-level attribute, else session-level, else sendrecv (RFC 3264 §5.1)."""
        return media.direction() or self.direction() or "sendrecv"

    def serialize(self) -> str:
        """The description as text with CRLF line ends (RFC 4566 §5)."""
        out = [f"v={self.version}", f"o={self.origin}", f"s={self.session_name or '-'}"]
        body: list[tuple[str, str]] = list(self.other)
        if self.connection is not None:
            body.append(("c", str(self.connection)))
        for t, repeats in self.timing:
            body.append(("t", t))
            body += [("r", r) for r in repeats]
        body.sort(key=lambda kv: _rank(_SESSION_ORDER, kv[0]))  # stable: r= stays behind its t=
        out += [f"{k}={v}" for k, v in body]
        out += [f"a={a}" for a in self.attributes]
        for m in self.media:
            out += m.lines()
        return "\r\n".join(out) + "\r\n"

    def __str__(self) -> str:
        return self.serialize()

    def to_bytes(self) -> bytes:
        return self.serialize().encode("utf-8")


def _digits(text: str) -> bool:
    """ASCII digits only: ``str.isdigit`` also accepts '²' and other digits ``int`` refuses."""
    return text.isascii() and text.isdigit() and len(text) <= 20


def _rank(order: str, letter: str) -> int:
    i = order.find(letter)
    if letter in "rt":  # t= and r= share one rank so that each r= stays after its own t=
        i = order.find("t")
    return i if i >= 0 else order.find("k")  # unknown letters go just before k= and a=


def parse(text: str | bytes) -> SessionDescription:
    """Parse an SDP body (RFC 4566). Raises ``SdpError`` and nothing else on any input.

    Tolerated as real equipment sends them: LF-only line ends, blank lines, a missing s= or t=,
    trailing spaces. Required: v=0 first, a well-formed o=, well-formed c= and m= lines.
    """
    if isinstance(text, (bytes, bytearray, memoryview)):
        if len(text) > MAX_SDP_BYTES:
            raise SdpError("SDP body too large")
        try:
            text = bytes(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise SdpError("SDP is not UTF-8 text") from exc
    if not isinstance(text, str):
        raise SdpError("SDP must be text")
    if len(text) > MAX_SDP_BYTES:
        raise SdpError("SDP body too large")
    lines = [ln.rstrip(" \t") for ln in text.replace("\r\n", "\n").replace("\r", "\n").split("\n")]
    lines = [ln for ln in lines if ln]
    if not lines:
        raise SdpError("empty SDP")
    if len(lines) > MAX_LINE_COUNT:
        raise SdpError("too many SDP lines")
    pairs: list[tuple[str, str]] = []
    for ln in lines:
        if len(ln) < 2 or ln[1] != "=" or not ("a" <= ln[0] <= "z"):
            raise SdpError(f"malformed SDP line: {ln[:40]!r}")
        pairs.append((ln[0], ln[2:]))
    if pairs[0] != ("v", "0"):
        raise SdpError("SDP must start with v=0")
    origin: Origin | None = None
    sd_name = None
    sess_conn: Connection | None = None
    timing: list[tuple[str, list[str]]] = []
    sess_attrs: list[Attribute] = []
    sess_other: list[tuple[str, str]] = []
    media: list[MediaDescription] = []
    for letter, value in pairs[1:]:
        if letter == "m":
            if len(media) >= MAX_MEDIA:
                raise SdpError("too many media sections")
            media.append(_parse_media(value))
            continue
        if media:  # media-level line
            m = media[-1]
            if letter == "c":
                m.connection = _parse_connection(value)
            elif letter == "a":
                m.attributes.append(_parse_attribute(value))
            elif letter in "vo":
                raise SdpError(f"{letter}= line inside a media section")
            else:
                m.other.append((letter, value))
            continue
        if letter == "o":
            if origin is not None:
                raise SdpError("duplicate o= line")
            origin = _parse_origin(value)
        elif letter == "s":
            sd_name = value
        elif letter == "c":
            sess_conn = _parse_connection(value)
        elif letter == "t":
            timing.append((value, []))
        elif letter == "r":
            if not timing:
                raise SdpError("r= before t=")
            timing[-1][1].append(value)
        elif letter == "a":
            sess_attrs.append(_parse_attribute(value))
        elif letter == "v":
            raise SdpError("duplicate v= line")
        else:
            sess_other.append((letter, value))
    if origin is None:
        raise SdpError("missing o= line")
    return SessionDescription(
        origin=origin, session_name=sd_name if sd_name else "-", connection=sess_conn,
        timing=timing or [("0 0", [])], attributes=sess_attrs, media=media, other=sess_other)


def _parse_origin(value: str) -> Origin:
    parts = value.split()
    if len(parts) != 6:
        raise SdpError("o= needs six fields")
    user, sid, sver, nettype, addrtype, address = parts
    if not (_digits(sid) and _digits(sver)) or len(sid) > 40 or len(sver) > 40:
        raise SdpError("o= session id and version must be numbers")
    return Origin(user, int(sid), int(sver), nettype, addrtype, address)


def _parse_connection(value: str) -> Connection:
    parts = value.split()
    if len(parts) != 3:
        raise SdpError("c= needs three fields")
    nettype, addrtype, address = parts
    if nettype == "IN" and addrtype in ("IP4", "IP6"):
        host = address.split("/", 1)[0]
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            if not _is_hostname(host):
                raise SdpError(f"bad c= address {host[:40]!r}") from None
        else:
            if (ip.version == 6) != (addrtype == "IP6"):
                raise SdpError("c= address does not match its address type")
    return Connection(nettype, addrtype, address)


def _is_hostname(host: str) -> bool:
    labels = host.split(".")
    return 0 < len(host) <= 253 and all(
        lbl and len(lbl) <= 63 and all(ch.isascii() and (ch.isalnum() or ch == "-") for ch in lbl)
        for lbl in labels)


def _parse_attribute(value: str) -> Attribute:
    name, sep, rest = value.partition(":")
    if not name or any(ch.isspace() for ch in name):
        raise SdpError(f"malformed a= line: {value[:40]!r}")
    return Attribute(name, rest if sep else None)


def _parse_media(value: str) -> MediaDescription:
    parts = value.split()
    if len(parts) < 3:
        raise SdpError("m= needs media, port and proto")
    kind, port_text, proto, *formats = parts
    port_count = None
    if "/" in port_text:
        port_text, count_text = port_text.split("/", 1)
        if not (_digits(count_text) and len(count_text) <= 5):
            raise SdpError("bad port count in m=")
        port_count = int(count_text)
    if not (_digits(port_text) and len(port_text) <= 5 and int(port_text) <= 65535):
        raise SdpError("bad port in m=")
    return MediaDescription(kind, int(port_text), proto, formats, port_count=port_count)
