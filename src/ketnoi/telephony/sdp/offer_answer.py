"""SDP offer/answer (RFC 3264) for one G.711 audio stream: PCMU/PCMA, telephone-event (RFC 4733),
direction attributes and old-style hold, ptime, o= version handling across re-offers (§8).

``SdpSession`` is one leg's local side: it builds offers and answers and turns the remote SDP
into ``MediaParams`` for the RTP endpoint. No common codec raises ``NoCommonCodec`` (SIP 488).
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field, replace

from ketnoi.telephony.sdp.model import (
    Attribute,
    Connection,
    MediaDescription,
    Origin,
    SdpError,
    SessionDescription,
)

RTP_PROFILES = ("RTP/AVP", "RTP/AVPF")  # plain RTP; SRTP (RTP/SAVP) is not offered nor accepted
SUPPORTED_EVENTS = frozenset(range(17))  # RFC 4733 §3.2: DTMF 0-9 * # A-D (0-15) and flash (16)


class SdpNegotiationError(SdpError):
    """The descriptions parse but cannot be matched (RFC 3264 §6, §7)."""


class NoCommonCodec(SdpNegotiationError):
    """No audio codec in common: the SIP layer answers 488 Not Acceptable Here (RFC 3261 §21.4.26)."""

    sip_status = 488


class Direction(enum.StrEnum):
    """Media direction attribute (RFC 4566 §6, RFC 3264 §5.1, §6.1), from the point of view of its writer."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"

    @property
    def sends(self) -> bool:
        return self in (Direction.SENDRECV, Direction.SENDONLY)

    @property
    def receives(self) -> bool:
        return self in (Direction.SENDRECV, Direction.RECVONLY)

    def reverse(self) -> Direction:
        """The direction the other side writes for the same stream (sendonly ⇄ recvonly)."""
        return _REVERSE[self]

    def intersect(self, other: Direction) -> Direction:
        """Send only if both allow sending, receive only if both allow receiving."""
        return Direction.of(self.sends and other.sends, self.receives and other.receives)

    @staticmethod
    def of(sends: bool, receives: bool) -> Direction:
        if sends and receives:
            return Direction.SENDRECV
        if sends:
            return Direction.SENDONLY
        return Direction.RECVONLY if receives else Direction.INACTIVE


_REVERSE = {Direction.SENDRECV: Direction.SENDRECV, Direction.SENDONLY: Direction.RECVONLY,
            Direction.RECVONLY: Direction.SENDONLY, Direction.INACTIVE: Direction.INACTIVE}


@dataclass(frozen=True, slots=True)
class Codec:
    """An RTP payload format: encoding name, payload type, clock rate (RFC 3551 §6)."""

    name: str
    payload_type: int
    clock_rate: int = 8000
    channels: int = 1

    @property
    def key(self) -> tuple[str, int, int]:
        return (self.name.upper(), self.clock_rate, self.channels)

    def with_pt(self, pt: int) -> Codec:
        return replace(self, payload_type=pt)


PCMU = Codec("PCMU", 0)
PCMA = Codec("PCMA", 8)
TELEPHONE_EVENT = Codec("telephone-event", 101)
AUDIO_CODECS = {"PCMU": PCMU, "PCMA": PCMA}
_STATIC = {0: PCMU, 8: PCMA}  # RFC 3551 static types usable without a=rtpmap


@dataclass(frozen=True, slots=True)
class MediaParams:
    """What was agreed for the audio stream, as the RTP endpoint needs it.

    ``codec`` and ``telephone_event_pt`` are for sending (the remote's payload type numbers);
    ``receive_payload_types`` maps the numbers we may receive (ours) to codecs. ``direction`` is the
    local view: ``direction.sends`` says whether we may send at all.
    """

    remote_host: str
    remote_port: int
    remote_rtcp_port: int
    codec: Codec
    telephone_event_pt: int | None
    direction: Direction
    ptime: int = 20
    receive_payload_types: dict[int, Codec] = field(default_factory=dict)
    receive_telephone_event_pt: int | None = None
    remote_on_hold: bool = False  # the remote asked us not to send (sendonly/inactive/c=0.0.0.0)

    @property
    def remote_addr(self) -> tuple[str, int]:
        return (self.remote_host, self.remote_port)

    @property
    def remote_rtcp_addr(self) -> tuple[str, int]:
        return (self.remote_host, self.remote_rtcp_port)


def parse_events(fmtp: str | None) -> set[int]:
    """The event numbers of a telephone-event fmtp such as ``0-15,66,70`` (RFC 4733 §2.4.1)."""
    if fmtp is None:
        return set(range(16))  # RFC 4733 §7.1.1: absent fmtp means 0-15
    out: set[int] = set()
    for part in fmtp.replace(" ", "").split(","):
        lo, _, hi = part.partition("-")
        if lo.isascii() and lo.isdigit() and len(lo) < 4 and (not hi or (hi.isascii() and hi.isdigit()
                                                                           and len(hi) < 4)):
            a, b = int(lo), int(hi or lo)
            if a <= b <= 255:
                out.update(range(a, b + 1))
    return out


def format_events(events: set[int]) -> str:
    """The shortest ``a-b,c`` text for a set of event numbers."""
    out, run = [], []
    for e in sorted(events):
        if run and e == run[-1] + 1:
            run.append(e)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [e]
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


class SdpSession:
    """The local side of one leg's SDP: offers, answers and o= versions (RFC 3264).

    ``codecs`` is the local preference order. ``ptime`` is what we ask the remote to send.
    The o= session id is fixed; its version grows by one whenever a new description differs from
    the last one we sent (§8: unchanged re-sends keep the version, e.g. session-timer refreshes).
    """

    def __init__(self, host: str, port: int, *, codecs: tuple[Codec, ...] = (PCMU, PCMA),
                 telephone_event_pt: int | None = TELEPHONE_EVENT.payload_type, ptime: int = 20,
                 username: str = "ketnoi", session_id: int | None = None) -> None:
        if not codecs:
            raise ValueError("at least one codec")
        self.host = host
        self.port = port
        self.codecs = tuple(codecs)
        self.telephone_event_pt = telephone_event_pt
        self.ptime = ptime
        self.username = username
        self.session_id = session_id if session_id is not None else random.getrandbits(31)
        self.version = random.getrandbits(16)
        self._last_sent: str | None = None
        self._last_offer: SessionDescription | None = None
        self.remote_version: int | None = None

    # -- building ---------------------------------------------------------------------------

    def _description(self, media: list[MediaDescription]) -> SessionDescription:
        sdp = SessionDescription(
            origin=Origin(self.username, self.session_id, self.version, "IN",
                          Connection.for_host(self.host).addrtype, self.host),
            session_name="ketnoi", connection=Connection.for_host(self.host), media=media)
        text = _body_without_version(sdp)
        if self._last_sent is not None and text != self._last_sent:
            self.version += 1
            sdp.origin.session_version = self.version
        self._last_sent = text
        return sdp

    def _audio_media(self, codecs: list[Codec], te_pt: int | None, events: set[int],
                     direction: Direction, ptime: int | None, proto: str = "RTP/AVP") -> MediaDescription:
        m = MediaDescription("audio", self.port, proto, [str(c.payload_type) for c in codecs])
        for c in codecs:
            m.attributes.append(Attribute("rtpmap", f"{c.payload_type} {c.name}/{c.clock_rate}"))
        if te_pt is not None and events:
            m.formats.append(str(te_pt))
            m.attributes.append(Attribute("rtpmap", f"{te_pt} telephone-event/8000"))
            m.attributes.append(Attribute("fmtp", f"{te_pt} {format_events(events)}"))
        if ptime:
            m.attributes.append(Attribute("ptime", str(ptime)))
        m.attributes.append(Attribute(direction.value))
        return m

    def create_offer(self, direction: Direction = Direction.SENDRECV) -> SessionDescription:
        """An offer with all local codecs (initial INVITE or re-INVITE; hold is ``SENDONLY``)."""
        sdp = self._description([self._audio_media(list(self.codecs), self.telephone_event_pt,
                                                   set(SUPPORTED_EVENTS), direction, self.ptime)])
        self._last_offer = sdp
        return sdp

    # -- remote descriptions -----------------------------------------------------------------

    def receive_offer(self, offer: SessionDescription,
                      direction: Direction = Direction.SENDRECV) -> tuple[SessionDescription, MediaParams]:
        """Answer a remote offer (RFC 3264 §6): one m= per offered m=, the first usable audio stream
        accepted with one codec (offerer's order among ours) plus telephone-event, others rejected
        with port 0. Raises ``NoCommonCodec`` when no audio stream can be accepted."""
        self._note_remote_version(offer)
        chosen: tuple[int, Codec, int | None, set[int]] | None = None
        for i, m in enumerate(offer.media):
            if m.media != "audio" or m.port == 0 or m.proto not in RTP_PROFILES:
                continue
            offered = _offered_formats(m)
            local_keys = {c.key for c in self.codecs}
            codec = next((c for c in offered if c.key in local_keys), None)
            if codec is None:
                continue
            te_pt, events = _telephone_event(m)
            if self.telephone_event_pt is None:
                te_pt = None
            chosen = (i, codec, te_pt, events & SUPPORTED_EVENTS)
            break
        if chosen is None:
            raise NoCommonCodec("no common audio codec (PCMU/PCMA)")
        index, codec, te_pt, events = chosen
        if not events:
            te_pt = None
        m = offer.media[index]
        remote_dir = Direction(offer.direction_for(m))
        conn = offer.connection_for(m)
        if conn is None:
            raise SdpNegotiationError("offer without c= for its audio stream")
        old_hold = conn.is_hold_address
        local_dir = direction.intersect(remote_dir.reverse())
        if old_hold:  # RFC 3264 §8.4: c=0.0.0.0 means "do not send to me"
            local_dir = Direction.of(False, local_dir.receives)
        media: list[MediaDescription] = []
        for i, om in enumerate(offer.media):
            if i == index:
                media.append(self._audio_media([codec], te_pt, events, local_dir, self.ptime, om.proto))
            else:  # rejected stream: port 0, formats copied (RFC 3264 §6)
                media.append(MediaDescription(om.media, 0, om.proto, list(om.formats) or ["0"]))
        answer = self._description(media)
        params = _params(conn.host, m, codec, te_pt, local_dir, remote_on_hold=old_hold
                         or not remote_dir.receives,
                         receive={codec.payload_type: codec}, receive_te=te_pt)
        return answer, params

    def receive_answer(self, answer: SessionDescription) -> MediaParams:
        """Match the remote answer with our last offer (RFC 3264 §7)."""
        if self._last_offer is None:
            raise SdpNegotiationError("answer without an offer")
        self._note_remote_version(answer)
        if len(answer.media) != len(self._last_offer.media):
            raise SdpNegotiationError("answer has a different number of m= lines")
        m = answer.media[0]
        if m.port == 0:
            raise NoCommonCodec("the answer rejected the audio stream")
        ours = {c.payload_type: c for c in self.codecs}
        by_key = {c.key: c for c in self.codecs}
        codec = None
        for c in _offered_formats(m):
            if c.key in by_key:  # the answer's numbers are what we send with (RFC 3264 §7)
                codec = c
                break
        if codec is None:
            raise NoCommonCodec("the answer has no codec from the offer")
        te_pt, events = _telephone_event(m)
        if self.telephone_event_pt is None or not (events & SUPPORTED_EVENTS):
            te_pt = None
        conn = answer.connection_for(m)
        if conn is None:
            raise SdpNegotiationError("answer without c= for its audio stream")
        remote_dir = Direction(answer.direction_for(m))
        offered_dir = Direction(self._last_offer.direction_for(self._last_offer.media[0]))
        local_dir = offered_dir.intersect(remote_dir.reverse())
        if conn.is_hold_address:
            local_dir = Direction.of(False, local_dir.receives)
        return _params(conn.host, m, codec, te_pt, local_dir,
                       remote_on_hold=conn.is_hold_address or not remote_dir.receives,
                       receive=ours, receive_te=self.telephone_event_pt if te_pt is not None else None)

    def _note_remote_version(self, sdp: SessionDescription) -> None:
        self.remote_version = sdp.origin.session_version


def _body_without_version(sdp: SessionDescription) -> str:
    saved = sdp.origin.session_version
    sdp.origin.session_version = 0
    try:
        return sdp.serialize()
    finally:
        sdp.origin.session_version = saved


def _offered_formats(m: MediaDescription) -> list[Codec]:
    """The audio codecs of an m= line in its order, named by a=rtpmap or by static type."""
    rtpmap = m.rtpmap()
    out = []
    for fmt in m.formats:
        if not (fmt.isascii() and fmt.isdigit() and len(fmt) <= 3):
            continue
        pt = int(fmt)
        if pt in rtpmap:
            name, rate, channels = rtpmap[pt]
            known = AUDIO_CODECS.get(name.upper())
            if known is not None and rate == 8000 and channels == 1:
                out.append(known.with_pt(pt))
        elif pt in _STATIC:
            out.append(_STATIC[pt])
    return out


def _telephone_event(m: MediaDescription) -> tuple[int | None, set[int]]:
    rtpmap = m.rtpmap()
    fmtp = m.fmtp()
    for fmt in m.formats:
        if fmt.isascii() and fmt.isdigit() and len(fmt) <= 3 and int(fmt) in rtpmap:
            name, rate, _ = rtpmap[int(fmt)]
            if name.lower() == "telephone-event" and rate == 8000:
                return int(fmt), parse_events(fmtp.get(int(fmt)))
    return None, set()


def _params(host: str, m: MediaDescription, codec: Codec, te_pt: int | None, direction: Direction, *,
            remote_on_hold: bool, receive: dict[int, Codec], receive_te: int | None) -> MediaParams:
    ptime = m.ptime() or 20
    if ptime % 10 or not 10 <= ptime <= 60:
        ptime = 20  # we packetize in 10 ms steps up to 60 ms (RFC 3551 §4.5 default 20 ms)
    rtcp = m.rtcp_port() or (m.port + 1 if m.port < 65535 else m.port)
    return MediaParams(remote_host=host, remote_port=m.port, remote_rtcp_port=rtcp, codec=codec,
                       telephone_event_pt=te_pt, direction=direction, ptime=ptime,
                       receive_payload_types=dict(receive), receive_telephone_event_pt=receive_te,
                       remote_on_hold=remote_on_hold)
