"""Dialogs (RFC 3261 §12): identity, route set, CSeq, remote target, in-dialog requests and re-INVITE,
plus building the first request of a dialog (§8.1.1). Pure state, no I/O."""

from __future__ import annotations

import enum
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field

from .errors import ParseError
from .events import Address
from .headers import NameAddr, canonical_name, parse_name_addr
from .message import Headers, Request, Response, new_call_id, new_tag
from .uri import URI, SipURI

__all__ = ["Dialog", "DialogId", "DialogState", "address_of", "build_request", "session_timer_answer"]

TARGET_REFRESH = frozenset({"INVITE", "UPDATE"})  # §12.2, RFC 3311


class DialogState(enum.Enum):
    EARLY = "early"
    CONFIRMED = "confirmed"
    TERMINATED = "terminated"


@dataclass(frozen=True, slots=True)
class DialogId:
    """Call-ID plus local and remote tag (§12), as seen from this side."""

    call_id: str
    local_tag: str
    remote_tag: str


def address_of(uri: URI, default_transport: str = "udp") -> Address:
    """Where to send a request for a SIP URI (``maddr`` and ``transport`` honoured; RFC 3263 DNS
    lookups are not done: the host must be an IP address or a name the OS resolves)."""
    if not isinstance(uri, SipURI):
        raise TypeError(f"cannot route to {uri}")
    transport = uri.params.get("transport")
    transport = (transport or ("tls" if uri.scheme == "sips" else default_transport)).lower()
    host = uri.params.get("maddr") or uri.host
    port = uri.port or (5061 if transport == "tls" else 5060)
    return Address(transport, host, port)


def build_request(method: str, uri: URI | str, *, from_addr: NameAddr, to_addr: NameAddr,
                  contact: NameAddr | SipURI | None = None, call_id: str | None = None, cseq: int = 1,
                  headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                  content_type: str | None = None, route: Iterable[str] = ()) -> Request:
    """A request outside any dialog (§8.1.1): From gets a tag when it has none, Call-ID is fresh
    unless given. Via and Max-Forwards are added by ``SipStack.send_request``."""
    if from_addr.tag is None:
        from_addr = from_addr.with_tag(new_tag())
    out = Headers()
    for value in route:
        out.add("Route", value)
    out.add("From", str(from_addr))
    out.add("To", str(to_addr))
    out.add("Call-ID", call_id or new_call_id())
    out.add("CSeq", f"{cseq} {method}")
    if contact is not None:
        out.add("Contact", str(contact) if isinstance(contact, NameAddr) else f"<{contact}>")
    for name, value in headers:
        out.add(name, value)
    if content_type:
        out.add("Content-Type", content_type)
    return Request(method, uri, out, body)


def session_timer_answer(request: Request, *, min_se: int = 90) -> list[tuple[str, str]]:
    """Headers for the 2xx to an INVITE/UPDATE that tolerate RFC 4028 session timers: when the caller
    supports them, its interval is echoed with ``refresher=uac`` (§9), so the caller refreshes and
    ketnoi only has to answer the re-INVITE/UPDATE. Otherwise nothing is added (timers ignored)."""
    value = request.headers.get("session-expires")
    if value is None:
        return []
    supported = {o.strip().lower() for v in request.headers.get_all("supported") for o in v.split(",")}
    interval = value.split(";")[0].strip()
    if "timer" not in supported or not interval.isdigit():
        return []
    return [("Session-Expires", f"{max(int(interval[:9]), min_se)};refresher=uac"), ("Require", "timer")]


def _contact_uri(message: Request | Response) -> URI | None:
    contacts = message.contacts
    return contacts[0].uri if contacts else None


@dataclass
class Dialog:
    """One dialog. Build it with :meth:`from_uac` / :meth:`from_uas`; send in-dialog requests made by
    :meth:`create_request` / :meth:`create_ack` to :meth:`next_hop`; check incoming ones with
    :meth:`receive_request`. ``context`` is free for the TU."""

    call_id: str
    local_tag: str
    remote_tag: str
    local_uri: NameAddr
    remote_uri: NameAddr
    remote_target: URI
    local_seq: int
    remote_seq: int | None = None
    route_set: list[str] = field(default_factory=list)
    local_contact: str | None = None
    secure: bool = False
    state: DialogState = DialogState.EARLY
    #: credentials to repeat in in-dialog requests (the INVITE's Authorization, §22.3)
    credentials: list[tuple[str, str]] = field(default_factory=list)
    context: object = None

    @property
    def id(self) -> DialogId:
        return DialogId(self.call_id, self.local_tag, self.remote_tag)

    @classmethod
    def from_uac(cls, request: Request, response: Response) -> Dialog:
        """The caller's dialog from a 1xx-with-tag or 2xx response to ``request`` (§12.1.2)."""
        remote = response.to_addr
        if remote.tag is None:
            raise ParseError("a dialog needs a To tag in the response")
        local = request.from_addr
        target = _contact_uri(response) or request.uri
        routes = list(reversed(response.headers.get_all("record-route")))
        return cls(
            call_id=request.call_id, local_tag=local.tag or "", remote_tag=remote.tag,
            local_uri=NameAddr(local.uri, local.display), remote_uri=NameAddr(remote.uri, remote.display),
            remote_target=target, local_seq=request.cseq.seq, route_set=routes,
            local_contact=request.headers.get("contact"),
            secure=isinstance(request.uri, SipURI) and request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
            credentials=[(n, v) for n, v in request.headers
                         if canonical_name(n) in ("authorization", "proxy-authorization")],
        )

    @classmethod
    def from_uas(cls, request: Request, response: Response) -> Dialog:
        """The callee's dialog from the request and our 1xx/2xx carrying our To tag (§12.1.1)."""
        local = response.to_addr
        remote = request.from_addr
        if local.tag is None:
            raise ParseError("a dialog needs our To tag in the response")
        target = _contact_uri(request) or request.from_addr.uri
        return cls(
            call_id=request.call_id, local_tag=local.tag, remote_tag=remote.tag or "",
            local_uri=NameAddr(local.uri, local.display), remote_uri=NameAddr(remote.uri, remote.display),
            remote_target=target, local_seq=secrets.randbelow(2**20) + 1, remote_seq=request.cseq.seq,
            route_set=request.headers.get_all("record-route"),
            local_contact=response.headers.get("contact"),
            secure=isinstance(request.uri, SipURI) and request.uri.scheme == "sips",
            state=DialogState.CONFIRMED if 200 <= response.status < 300 else DialogState.EARLY,
        )

    def matches(self, message: Request | Response, *, incoming: bool = True) -> bool:
        """Whether a message belongs to this dialog (tags swap with direction)."""
        try:
            from_tag, to_tag = message.from_addr.tag, message.to_addr.tag
            call_id = message.call_id
        except ParseError:
            return False
        if incoming == isinstance(message, Request):
            return call_id == self.call_id and from_tag == self.remote_tag and to_tag == self.local_tag
        return call_id == self.call_id and from_tag == self.local_tag and to_tag == self.remote_tag

    def _loose_first(self) -> bool:
        if not self.route_set:
            return True
        try:
            uri = parse_name_addr(self.route_set[0]).uri
        except ParseError:
            return True
        return not isinstance(uri, SipURI) or "lr" in uri.params

    def next_hop(self) -> URI:
        """The URI whose address the next in-dialog request is sent to (§12.2.1.1, §16.12)."""
        if self.route_set:
            return parse_name_addr(self.route_set[0]).uri
        return self.remote_target

    def create_request(self, method: str, *, headers: Iterable[tuple[str, str]] = (), body: bytes = b"",
                       content_type: str | None = None) -> Request:
        """An in-dialog request (§12.2.1.1); CSeq goes up by one (ACK and CANCEL excepted)."""
        if method not in ("ACK", "CANCEL"):
            self.local_seq += 1
        routes = list(self.route_set)
        uri = self.remote_target
        if routes and not self._loose_first():  # strict router: it becomes the Request-URI
            uri = parse_name_addr(routes.pop(0)).uri
            routes.append(f"<{self.remote_target}>")
        out = Headers()
        for value in routes:
            out.add("Route", value)
        out.add("From", str(self.local_uri.with_tag(self.local_tag)))
        out.add("To", str(self.remote_uri.with_tag(self.remote_tag)))
        out.add("Call-ID", self.call_id)
        out.add("CSeq", f"{self.local_seq} {method}")
        if self.local_contact and method in TARGET_REFRESH:
            out.add("Contact", self.local_contact)
        for name, value in self.credentials:
            out.add(name, value)
        for name, value in headers:
            out.add(name, value)
        if content_type:
            out.add("Content-Type", content_type)
        return Request(method, uri, out, body)

    def create_ack(self, invite: Request, *, body: bytes = b"", content_type: str | None = None) -> Request:
        """The ACK for a 2xx to ``invite`` (§13.2.2.4): CSeq number of that INVITE, same credentials."""
        ack = self.create_request("ACK", body=body, content_type=content_type)
        ack.headers.set("CSeq", f"{invite.cseq.seq} ACK")
        ack.headers.remove("authorization")
        ack.headers.remove("proxy-authorization")
        for name, value in invite.headers:
            if canonical_name(name) in ("authorization", "proxy-authorization"):
                ack.headers.add(name, value)
        return ack

    def receive_request(self, request: Request) -> int | None:
        """Check and absorb an incoming in-dialog request (§12.2.2). Returns a status to refuse it
        with (500 for an out-of-order CSeq), or ``None`` when it is acceptable."""
        seq = request.cseq.seq
        if request.method not in ("ACK", "CANCEL"):
            if self.remote_seq is not None and seq <= self.remote_seq:
                return 500
            self.remote_seq = seq
        if request.method in TARGET_REFRESH:
            target = _contact_uri(request)
            if target is not None:
                self.remote_target = target
        if request.method == "BYE":
            self.state = DialogState.TERMINATED
        return None

    def receive_response(self, response: Response) -> None:
        """Update from a response to our in-dialog or dialog-creating request (§12.1.2, §12.2.1.2)."""
        method = response.cseq.method
        if 200 <= response.status < 300:
            if method in TARGET_REFRESH:
                target = _contact_uri(response)
                if target is not None:
                    self.remote_target = target
            if self.state is DialogState.EARLY and method == "INVITE":
                self.state = DialogState.CONFIRMED
        elif response.status >= 300 and self.state is DialogState.EARLY and method == "INVITE":
            self.state = DialogState.TERMINATED
        elif response.status in (408, 481):
            self.state = DialogState.TERMINATED  # §12.2.1.2: the dialog is gone
