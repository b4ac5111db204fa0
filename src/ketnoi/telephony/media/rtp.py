"""RTP packets (RFC 3550 §5.1): header parse/build with CSRC list, header extension (§5.3.1) and
padding; 16-bit sequence extension (§A.1) and modular timestamp arithmetic.

``parse_header`` is the cheap path used per packet; ``RtpPacket`` is the full, round-tripping form.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

RTP_VERSION = 2
HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32
_FIXED = struct.Struct("!BBHII")
_SEQ_TS_SSRC = struct.Struct("!HII")


class RtpError(ValueError):
    """Not a valid RTP packet (RFC 3550 §A.1 header checks)."""


@dataclass(slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` counts the padding bytes including the final count byte (0 = none)."""

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension_profile: int | None = None
    extension: bytes = b""
    padding: int = 0

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse a datagram, raising ``RtpError`` for anything that is not RTP version 2."""
        n = len(data)
        if n < HEADER_SIZE:
            raise RtpError("shorter than the RTP fixed header")
        b0, b1, seq, ts, ssrc = _FIXED.unpack_from(data, 0)
        if b0 >> 6 != RTP_VERSION:
            raise RtpError("not RTP version 2")
        cc = b0 & 0x0F
        offset = HEADER_SIZE + 4 * cc
        if n < offset:
            raise RtpError("CSRC list truncated")
        csrc = struct.unpack_from(f"!{cc}I", data, HEADER_SIZE) if cc else ()
        profile = None
        ext = b""
        if b0 & 0x10:
            if n < offset + 4:
                raise RtpError("header extension truncated")
            profile, words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if n < offset + 4 * words:
                raise RtpError("header extension truncated")
            ext = bytes(data[offset:offset + 4 * words])
            offset += 4 * words
        end = n
        padding = 0
        if b0 & 0x20:
            padding = data[-1]
            if padding == 0 or offset + padding > n:
                raise RtpError("bad padding count")
            end = n - padding
        return cls(payload_type=b1 & 0x7F, sequence_number=seq, timestamp=ts, ssrc=ssrc,
                   payload=bytes(data[offset:end]), marker=bool(b1 & 0x80), csrc=tuple(csrc),
                   extension_profile=profile, extension=ext, padding=padding)

    def serialize(self) -> bytes:
        if len(self.csrc) > 15:
            raise RtpError("at most 15 CSRC")
        if len(self.extension) % 4:
            raise RtpError("header extension must be a multiple of 4 bytes")
        b0 = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding:
            b0 |= 0x20
        if self.extension_profile is not None:
            b0 |= 0x10
        b1 = (0x80 if self.marker else 0) | (self.payload_type & 0x7F)
        out = bytearray(_FIXED.pack(b0, b1, self.sequence_number & 0xFFFF, self.timestamp & 0xFFFFFFFF,
                                    self.ssrc & 0xFFFFFFFF))
        for c in self.csrc:
            out += struct.pack("!I", c)
        if self.extension_profile is not None:
            out += struct.pack("!HH", self.extension_profile, len(self.extension) // 4) + self.extension
        out += self.payload
        if self.padding:
            if not 1 <= self.padding <= 255:
                raise RtpError("padding must be 1..255 bytes")
            out += bytes(self.padding - 1) + bytes([self.padding])
        return bytes(out)


def build_packet(payload_type: int, sequence_number: int, timestamp: int, ssrc: int, payload: bytes,
                 marker: bool = False) -> bytes:
    """The common case: a 12-byte header and the payload (no CSRC, extension or padding)."""
    return _FIXED.pack(0x80, (0x80 if marker else 0) | payload_type, sequence_number & 0xFFFF,
                       timestamp & 0xFFFFFFFF, ssrc) + payload


def parse_header(data: bytes) -> tuple[int, bool, int, int, int]:
    """(payload type, marker, sequence, timestamp, SSRC) of a datagram, cheaply; ``RtpError`` if not RTP."""
    if len(data) < HEADER_SIZE or data[0] >> 6 != RTP_VERSION:
        raise RtpError("not RTP")
    b1 = data[1]
    seq, ts, ssrc = _SEQ_TS_SSRC.unpack_from(data, 2)
    return b1 & 0x7F, bool(b1 & 0x80), seq, ts, ssrc


def payload_bounds(data: bytes) -> tuple[int, int]:
    """(start, end) of the payload inside a datagram, skipping CSRC, extension and padding."""
    b0 = data[0]
    offset = HEADER_SIZE + 4 * (b0 & 0x0F)
    if b0 & 0x10:
        if len(data) < offset + 4:
            raise RtpError("header extension truncated")
        offset += 4 + 4 * int.from_bytes(data[offset + 2:offset + 4], "big")
    end = len(data) - (data[-1] if b0 & 0x20 else 0)
    if offset > end:
        raise RtpError("header longer than the packet")
    return offset, end


def is_rtcp(data: bytes) -> bool:
    """RFC 5761 §4 demultiplexing: RTCP packet types 192-223 in the second byte."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def seq_delta(new: int, old: int) -> int:
    """Signed distance between two 16-bit sequence numbers (−32768…32767)."""
    return ((new - old + 0x8000) & 0xFFFF) - 0x8000


def ts_delta(new: int, old: int) -> int:
    """Signed distance between two 32-bit RTP timestamps."""
    return ((new - old + 0x80000000) & 0xFFFFFFFF) - 0x80000000


class SequenceTracker:
    """RFC 3550 §A.1 ``update_seq``: extends 16-bit sequence numbers across wraps, tolerates reordering,
    notices restarts (a big jump seen twice in a row) and counts what was received."""

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100
    MIN_SEQUENTIAL = 2

    __slots__ = (
        "bad_seq",
        "base_seq",
        "cycles",
        "expected_prior",
        "max_seq",
        "probation",
        "received",
        "received_prior",
    )

    def __init__(self, seq: int) -> None:
        self.probation = self.MIN_SEQUENTIAL
        self._init(seq)
        self.max_seq = (seq - 1) & 0xFFFF

    def _init(self, seq: int) -> None:
        self.base_seq = seq
        self.max_seq = seq
        self.bad_seq = SEQ_MOD + 1  # never equal to a 16-bit number
        self.cycles = 0
        self.received = 0
        self.expected_prior = 0
        self.received_prior = 0

    def update(self, seq: int) -> bool:
        """Feed one sequence number; False while on probation or for a packet judged invalid."""
        udelta = (seq - self.max_seq) & 0xFFFF
        if self.probation:
            if seq == (self.max_seq + 1) & 0xFFFF:
                self.probation -= 1
                self.max_seq = seq
                if self.probation == 0:
                    self._init(seq)
                    self.received += 1
                    return True
            else:
                self.probation = self.MIN_SEQUENTIAL - 1
                self.max_seq = seq
            return False
        if udelta < self.MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += SEQ_MOD
            self.max_seq = seq
        elif udelta <= SEQ_MOD - self.MAX_MISORDER:
            if seq == self.bad_seq:  # two in a row: the source restarted its numbering
                self._init(seq)
            else:
                self.bad_seq = (seq + 1) & 0xFFFF
                return False
        # else: a duplicate or a reordered packet, counted below
        self.received += 1
        return True

    @property
    def extended_max(self) -> int:
        return self.cycles + self.max_seq

    @property
    def expected(self) -> int:
        return self.extended_max - self.base_seq + 1

    @property
    def lost(self) -> int:
        """Cumulative packets lost (RFC 3550 §6.4.1: negative when duplicates arrived)."""
        return self.expected - self.received

    def interval_fraction_lost(self) -> int:
        """Fraction lost since the previous call, in 1/256 (RFC 3550 §A.3); starts a new interval."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            return 0
        return min(255, (lost_interval << 8) // expected_interval)
