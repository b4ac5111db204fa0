"""RTCP (RFC 3550 §6): SR, RR, SDES, BYE compound packets; reception statistics (loss §A.3, jitter
§A.8), LSR/DLSR and round-trip time (§6.4.1), and a sans-I/O reporter kept per leg of a call.
"""

from __future__ import annotations

import os
import random
import struct
from dataclasses import dataclass, field

from ketnoi.telephony.media.rtp import SequenceTracker

SR, RR, SDES, BYE, APP = 200, 201, 202, 203, 204
SDES_CNAME = 1
NTP_EPOCH_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01
_HDR = struct.Struct("!BBH")
_BLOCK = struct.Struct("!IIIIII")


class RtcpError(ValueError):
    """Not a valid RTCP compound packet (RFC 3550 §A.2)."""


@dataclass(slots=True)
class ReportBlock:
    """Reception report about one source (RFC 3550 §6.4.1)."""

    ssrc: int
    fraction_lost: int = 0  # 1/256 units
    cumulative_lost: int = 0  # signed 24-bit
    highest_sequence: int = 0  # extended
    jitter: int = 0  # timestamp units
    lsr: int = 0  # middle 32 bits of the last SR's NTP time
    dlsr: int = 0  # 1/65536 s since that SR

    def pack(self) -> bytes:
        lost = max(-(1 << 23), min((1 << 23) - 1, self.cumulative_lost)) & 0xFFFFFF
        return _BLOCK.pack(self.ssrc, (self.fraction_lost & 0xFF) << 24 | lost,
                           self.highest_sequence & 0xFFFFFFFF, self.jitter & 0xFFFFFFFF,
                           self.lsr & 0xFFFFFFFF, self.dlsr & 0xFFFFFFFF)

    @classmethod
    def unpack(cls, data: bytes, offset: int) -> ReportBlock:
        ssrc, word, high, jitter, lsr, dlsr = _BLOCK.unpack_from(data, offset)
        lost = word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 1 << 24
        return cls(ssrc, word >> 24, lost, high, jitter, lsr, dlsr)


@dataclass(slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int  # 64-bit NTP format
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""


@dataclass(slots=True)
class ReceiverReport:
    ssrc: int
    reports: list[ReportBlock] = field(default_factory=list)
    extension: bytes = b""


@dataclass(slots=True)
class SourceDescription:
    """SDES: chunks of (SSRC, [(item type, value bytes)]) (RFC 3550 §6.5)."""

    chunks: list[tuple[int, list[tuple[int, bytes]]]] = field(default_factory=list)

    def cname(self, ssrc: int) -> str | None:
        for s, items in self.chunks:
            if s == ssrc:
                for kind, value in items:
                    if kind == SDES_CNAME:
                        return value.decode("utf-8", "replace")
        return None


@dataclass(slots=True)
class Bye:
    sources: list[int] = field(default_factory=list)
    reason: str | None = None


@dataclass(slots=True)
class UnknownRtcp:
    """APP, XR, feedback and anything else: kept as received."""

    packet_type: int
    count: int
    body: bytes


RtcpPacket = SenderReport | ReceiverReport | SourceDescription | Bye | UnknownRtcp


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Split and parse a compound RTCP datagram; ``RtcpError`` on any inconsistency (§A.2)."""
    out: list[RtcpPacket] = []
    offset, n = 0, len(data)
    if n < 4:
        raise RtcpError("shorter than an RTCP header")
    while offset < n:
        if n - offset < 4:
            raise RtcpError("trailing bytes after the last RTCP packet")
        b0, pt, words = _HDR.unpack_from(data, offset)
        if b0 >> 6 != 2:
            raise RtcpError("not RTCP version 2")
        end = offset + 4 + 4 * words
        if end > n:
            raise RtcpError("RTCP length beyond the datagram")
        body_end = end
        if b0 & 0x20:
            if end != n:
                raise RtcpError("padding only allowed in the last packet")
            pad = data[end - 1]
            if pad == 0 or pad > 4 * words:
                raise RtcpError("bad RTCP padding")
            body_end = end - pad
        out.append(_parse_one(pt, b0 & 0x1F, bytes(data[offset + 4:body_end])))
        offset = end
    return out


def _parse_one(pt: int, count: int, body: bytes) -> RtcpPacket:
    if pt in (SR, RR):
        head = 24 if pt == SR else 4
        if len(body) < head + 24 * count:
            raise RtcpError("report truncated")
        blocks = [ReportBlock.unpack(body, head + 24 * i) for i in range(count)]
        ext = body[head + 24 * count:]
        if pt == SR:
            ssrc, ntp_hi, ntp_lo, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body, 0)
            return SenderReport(ssrc, ntp_hi << 32 | ntp_lo, rtp_ts, packets, octets, blocks, ext)
        return ReceiverReport(struct.unpack_from("!I", body, 0)[0], blocks, ext)
    if pt == SDES:
        chunks, offset = [], 0
        for _ in range(count):
            if len(body) < offset + 4:
                raise RtcpError("SDES chunk truncated")
            ssrc = struct.unpack_from("!I", body, offset)[0]
            offset += 4
            items = []
            while True:
                if offset >= len(body):
                    raise RtcpError("SDES items not terminated")
                kind = body[offset]
                if kind == 0:  # end of list, then pad to the next 32-bit boundary
                    offset = (offset + 4) & ~3
                    break
                if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                    raise RtcpError("SDES item truncated")
                length = body[offset + 1]
                items.append((kind, body[offset + 2:offset + 2 + length]))
                offset += 2 + length
            chunks.append((ssrc, items))
        return SourceDescription(chunks)
    if pt == BYE:
        if len(body) < 4 * count:
            raise RtcpError("BYE truncated")
        sources = list(struct.unpack_from(f"!{count}I", body, 0))
        reason = None
        rest = body[4 * count:]
        if rest:
            length = rest[0]
            if length + 1 > len(rest):
                raise RtcpError("BYE reason truncated")
            reason = rest[1:1 + length].decode("utf-8", "replace")
        return Bye(sources, reason)
    return UnknownRtcp(pt, count, body)


def _packet(pt: int, count: int, body: bytes) -> bytes:
    if len(body) % 4:
        body += bytes(4 - len(body) % 4)
    return _HDR.pack(0x80 | count, pt, len(body) // 4) + body


def serialize(packet: RtcpPacket) -> bytes:
    """One RTCP packet (without padding); join several with ``serialize_compound``."""
    if isinstance(packet, SenderReport):
        body = struct.pack("!IIIIII", packet.ssrc, packet.ntp_timestamp >> 32,
                           packet.ntp_timestamp & 0xFFFFFFFF, packet.rtp_timestamp & 0xFFFFFFFF,
                           packet.packet_count & 0xFFFFFFFF, packet.octet_count & 0xFFFFFFFF)
        body += b"".join(b.pack() for b in packet.reports) + packet.extension
        return _packet(SR, len(packet.reports), body)
    if isinstance(packet, ReceiverReport):
        body = struct.pack("!I", packet.ssrc) + b"".join(b.pack() for b in packet.reports)
        return _packet(RR, len(packet.reports), body + packet.extension)
    if isinstance(packet, SourceDescription):
        body = b""
        for ssrc, items in packet.chunks:
            chunk = struct.pack("!I", ssrc) + b"".join(bytes([k, len(v[:255])]) + v[:255] for k, v in items)
            chunk += bytes(4 - len(chunk) % 4)  # at least one zero byte ends the item list
            body += chunk
        return _packet(SDES, len(packet.chunks), body)
    if isinstance(packet, Bye):
        body = b"".join(struct.pack("!I", s) for s in packet.sources)
        if packet.reason:
            reason = packet.reason.encode("utf-8")[:255]
            body += bytes([len(reason)]) + reason
        return _packet(BYE, len(packet.sources), body)
    return _packet(packet.packet_type, packet.count, packet.body)


def serialize_compound(packets: list[RtcpPacket]) -> bytes:
    """A compound datagram; RFC 3550 §6.1 wants an SR or RR first and an SDES with a CNAME."""
    return b"".join(serialize(p) for p in packets)


def ntp_timestamp(unix_time: float) -> int:
    """64-bit NTP timestamp (RFC 3550 §4) of a Unix time."""
    seconds = int(unix_time)
    fraction = int((unix_time - seconds) * (1 << 32)) & 0xFFFFFFFF
    return ((seconds + NTP_EPOCH_OFFSET) & 0xFFFFFFFF) << 32 | fraction


def ntp_middle(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp: the LSR unit (§6.4.1)."""
    return (ntp >> 16) & 0xFFFFFFFF


def round_trip_time(block: ReportBlock, arrival_unix_time: float) -> float | None:
    """RTT in seconds from a report block about us: A − LSR − DLSR (§6.4.1); None without an SR."""
    if not block.lsr:
        return None
    a = ntp_middle(ntp_timestamp(arrival_unix_time))
    rtt = (a - block.lsr - block.dlsr) & 0xFFFFFFFF
    if rtt > 0x7FFFFFFF:  # the peer's DLSR exceeds what elapsed: clock or rounding noise
        return 0.0
    return rtt / 65536.0


class ReceptionStats:
    """What we received from one remote source: sequence state, loss and interarrival jitter.

    ``on_rtp`` is on the per-packet path: a few integer operations. Arrival times are seconds on any
    monotonic clock; jitter is kept in timestamp units as in RFC 3550 §A.8.
    """

    __slots__ = (
        "_transit",
        "clock_rate",
        "jitter",
        "last_arrival",
        "last_sr_arrival",
        "last_sr_middle",
        "octets",
        "seq",
        "ssrc",
    )

    def __init__(self, ssrc: int, first_seq: int, clock_rate: int = 8000) -> None:
        self.ssrc = ssrc
        self.clock_rate = clock_rate
        self.seq = SequenceTracker(first_seq)
        self.jitter = 0.0
        self._transit: int | None = None
        self.octets = 0
        self.last_sr_middle = 0
        self.last_sr_arrival = 0.0
        self.last_arrival = 0.0

    def on_rtp(self, seq: int, timestamp: int, arrival: float, octets: int, jitter: bool = True) -> bool:
        """Count one packet; ``jitter=False`` for RFC 4733 event packets, whose timestamps stand still."""
        self.last_arrival = arrival
        self.octets += octets
        valid = self.seq.update(seq)
        if jitter:
            transit = int(arrival * self.clock_rate) - timestamp
            last = self._transit
            self._transit = transit
            if last is not None:
                d = ((transit - last + 0x80000000) & 0xFFFFFFFF) - 0x80000000
                self.jitter += (abs(d) - self.jitter) / 16.0
        return valid

    def on_sender_report(self, sr: SenderReport, arrival: float) -> None:
        self.last_sr_middle = ntp_middle(sr.ntp_timestamp)
        self.last_sr_arrival = arrival

    def report_block(self, now: float) -> ReportBlock:
        """The block for our next SR/RR; starts a new loss interval (§A.3)."""
        dlsr = int((now - self.last_sr_arrival) * 65536) if self.last_sr_middle else 0
        return ReportBlock(self.ssrc, self.seq.interval_fraction_lost(), self.seq.lost,
                           self.seq.extended_max, int(self.jitter), self.last_sr_middle,
                           max(0, dlsr))


@dataclass(slots=True)
class QualityStats:
    """One leg's call-quality figures for the call record (CC-21): our view and the remote's view."""

    packets_sent: int = 0
    octets_sent: int = 0
    packets_received: int = 0
    packets_expected: int = 0
    packets_lost: int = 0
    jitter_ms: float = 0.0  # interarrival jitter of what we receive
    remote_packets_lost: int | None = None  # as the remote reports about our stream
    remote_fraction_lost: float | None = None
    remote_jitter_ms: float | None = None
    rtt_ms: float | None = None
    reports_sent: int = 0
    reports_received: int = 0

    @property
    def loss_ratio(self) -> float:
        return max(0, self.packets_lost) / self.packets_expected if self.packets_expected > 0 else 0.0


class RtcpReporter:
    """Sans-I/O RTCP for one RTP endpoint: builds our SR/RR+SDES and digests what the remote sends.

    The endpoint tells it what it sent (``packets_sent``/``octets_sent``/``last_rtp_timestamp`` at
    ``last_send_time``) and hands received RTP to ``on_rtp``; times are ``now`` (monotonic) and
    ``wallclock`` (Unix) so tests drive it with fixed values.
    """

    INTERVAL = 5.0  # seconds between reports, randomized ×[0.5, 1.5] (RFC 3550 §6.3.1)

    def __init__(self, ssrc: int, cname: str | None = None, clock_rate: int = 8000) -> None:
        self.ssrc = ssrc
        self.cname = cname or f"ketnoi-{os.urandom(6).hex()}"
        self.clock_rate = clock_rate
        self.source: ReceptionStats | None = None
        self._past = [0, 0, 0]  # received, expected, lost of sources replaced by a new SSRC
        self.packets_sent = 0
        self.octets_sent = 0
        self.last_rtp_timestamp = 0
        self.last_send_time: float | None = None
        self._sent_since_report = False
        self.remote_block: ReportBlock | None = None
        self.rtt: float | None = None
        self.reports_sent = 0
        self.reports_received = 0
        self.bye_received = False

    def next_interval(self) -> float:
        return self.INTERVAL * random.uniform(0.5, 1.5)

    def on_rtp(self, ssrc: int, seq: int, timestamp: int, arrival: float, octets: int,
               jitter: bool = True) -> bool:
        """Received RTP; a new SSRC starts fresh statistics (the remote restarted or changed source)."""
        src = self.source
        if src is None or src.ssrc != ssrc:
            if src is not None:  # the call record keeps what earlier sources delivered
                self._past[0] += src.seq.received
                self._past[1] += max(0, src.seq.expected)
                self._past[2] += src.seq.lost
            src = self.source = ReceptionStats(ssrc, seq, self.clock_rate)
        return src.on_rtp(seq, timestamp, arrival, octets, jitter)

    def on_sent(self, octets: int, rtp_timestamp: int, now: float) -> None:
        self.packets_sent += 1
        self.octets_sent += octets
        self.last_rtp_timestamp = rtp_timestamp
        self.last_send_time = now
        self._sent_since_report = True

    def on_rtcp(self, data: bytes, now: float, wallclock: float) -> list[RtcpPacket]:
        """Digest a received compound packet; ``RtcpError`` if malformed."""
        packets = parse_compound(data)
        self.reports_received += 1
        for p in packets:
            if isinstance(p, (SenderReport, ReceiverReport)):
                if isinstance(p, SenderReport) and self.source is not None and p.ssrc == self.source.ssrc:
                    self.source.on_sender_report(p, now)
                for block in p.reports:
                    if block.ssrc == self.ssrc:
                        self.remote_block = block
                        rtt = round_trip_time(block, wallclock)
                        if rtt is not None:
                            self.rtt = rtt
            elif isinstance(p, Bye):
                self.bye_received = True
        return packets

    def build_report(self, now: float, wallclock: float) -> bytes:
        """SR when we sent since the last report, else RR; then SDES CNAME (RFC 3550 §6.1, §6.4)."""
        blocks = [self.source.report_block(now)] if self.source is not None else []
        if self._sent_since_report and self.last_send_time is not None:
            rtp_ts = (self.last_rtp_timestamp + int((now - self.last_send_time) * self.clock_rate))
            first: RtcpPacket = SenderReport(self.ssrc, ntp_timestamp(wallclock), rtp_ts & 0xFFFFFFFF,
                                             self.packets_sent, self.octets_sent, blocks)
        else:
            first = ReceiverReport(self.ssrc, blocks)
        self._sent_since_report = False
        self.reports_sent += 1
        sdes = SourceDescription([(self.ssrc, [(SDES_CNAME, self.cname.encode())])])
        return serialize_compound([first, sdes])

    def build_bye(self, reason: str | None = None) -> bytes:
        rr = ReceiverReport(self.ssrc, [])
        sdes = SourceDescription([(self.ssrc, [(SDES_CNAME, self.cname.encode())])])
        return serialize_compound([rr, sdes, Bye([self.ssrc], reason)])

    def stats(self) -> QualityStats:
        q = QualityStats(packets_sent=self.packets_sent, octets_sent=self.octets_sent,
                         reports_sent=self.reports_sent, reports_received=self.reports_received)
        q.packets_received, q.packets_expected, q.packets_lost = self._past
        if self.source is not None:
            seq = self.source.seq
            q.packets_received += seq.received
            q.packets_expected += max(0, seq.expected)
            q.packets_lost += seq.lost
            q.jitter_ms = 1000.0 * self.source.jitter / self.clock_rate
        if self.remote_block is not None:
            q.remote_packets_lost = self.remote_block.cumulative_lost
            q.remote_fraction_lost = self.remote_block.fraction_lost / 256.0
            q.remote_jitter_ms = 1000.0 * self.remote_block.jitter / self.clock_rate
        if self.rtt is not None:
            q.rtt_ms = 1000.0 * self.rtt
        return q
