"""RFC 4733 telephone events (DTMF): payload parse/build, the packet train a sender emits for one
key press (§2.5.1: marker on the first packet, duration updates, end packet sent three times),
and a sans-I/O detector that reports each key press exactly once (§2.5.2).
"""

from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass

from ketnoi.telephony.media.rtp import ts_delta

EVENTS = "0123456789*#ABCD"  # events 0-15 (RFC 4733 §3.2); 16 is hook flash
FLASH = 16
_PAYLOAD = struct.Struct("!BBH")
MAX_DURATION = 0xFFFF


class DtmfError(ValueError):
    """Not a telephone-event payload."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """One telephone-event payload (RFC 4733 §2.3): event, end bit, volume (−dBm0), duration (samples)."""

    event: int
    end: bool
    volume: int
    duration: int

    @classmethod
    def parse(cls, payload: bytes) -> TelephoneEvent:
        if len(payload) < 4:
            raise DtmfError("telephone-event payload is 4 bytes")
        event, flags, duration = _PAYLOAD.unpack_from(payload, 0)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def serialize(self) -> bytes:
        return _PAYLOAD.pack(self.event & 0xFF, (0x80 if self.end else 0) | (self.volume & 0x3F),
                             min(self.duration, MAX_DURATION))

    @property
    def digit(self) -> str | None:
        """'0'-'9', '*', '#', 'A'-'D', 'flash' for 16, None for other events."""
        if self.event < 16:
            return EVENTS[self.event]
        return "flash" if self.event == FLASH else None


def event_code(digit: str | int) -> int:
    """The RFC 4733 event number of a key ('0'…'9', '*', '#', 'A'…'D', 'flash')."""
    if isinstance(digit, int):
        if 0 <= digit <= FLASH:
            return digit
        raise DtmfError(f"unsupported event {digit}")
    if digit == "flash":
        return FLASH
    code = EVENTS.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise DtmfError(f"not a DTMF key: {digit!r}")
    return code


@dataclass(frozen=True, slots=True)
class EventPacket:
    """One packet of a key-press train: send it ``offset`` seconds after the first one, with the
    event's start timestamp and the marker bit as given."""

    offset: float
    marker: bool
    payload: bytes
    end: bool


def event_packets(digit: str | int, duration_ms: int = 100, *, volume: int = 10, packet_ms: int = 20,
                  end_repeats: int = 3, clock_rate: int = 8000) -> list[EventPacket]:
    """The packets a sender emits for one key press (RFC 4733 §2.5.1.2-§2.5.1.4).

    All carry the timestamp of the event start; durations grow by one packet interval; the final
    duration goes out ``end_repeats`` times with the E bit. Events longer than 8 s are cut to fit
    the 16-bit duration (no segmenting: keys are never held that long on an IVR).
    """
    code = event_code(digit)
    step = clock_rate * packet_ms // 1000
    total = min(max(step, clock_rate * duration_ms // 1000), MAX_DURATION)
    out: list[EventPacket] = []
    elapsed = step
    i = 0
    while elapsed < total:
        out.append(EventPacket(i * packet_ms / 1000, i == 0,
                               TelephoneEvent(code, False, volume, elapsed).serialize(), False))
        elapsed += step
        i += 1
    end = TelephoneEvent(code, True, volume, total).serialize()
    for r in range(max(1, end_repeats)):
        out.append(EventPacket((i + r) * packet_ms / 1000, i == 0 and r == 0, end, True))
    return out


class DtmfDetector:
    """Reports each key press once from received telephone-event packets (RFC 4733 §2.5.2).

    A press is known by its RTP timestamp: updates and the redundant end packets repeat it, so they
    are ignored; a late packet of an earlier press is recognised among the last few timestamps.
    The digit is reported with the first packet that arrives (lowest latency for IVR menus), even
    when the marked first packet was lost. A new timestamp without the marker bit that continues an
    unfinished press of the same key is a long-event segment (§2.5.1.3), not a new press.
    """

    def __init__(self, history: int = 16) -> None:
        self._recent: deque[int] = deque(maxlen=history)
        self._last_ts: int | None = None
        self._last_event: TelephoneEvent | None = None
        self.durations: dict[int, int] = {}  # event timestamp → longest duration seen (samples)

    def feed(self, timestamp: int, payload: bytes, marker: bool = False) -> str | None:
        """Feed one received packet; return the key when a new press starts, else None."""
        try:
            ev = TelephoneEvent.parse(payload)
        except DtmfError:
            return None
        if timestamp in self._recent:
            self._note(timestamp, ev)
            return None
        last = self._last_event
        continuing = (not marker and last is not None and not last.end and last.event == ev.event
                      and self._last_ts is not None
                      and 0 < ts_delta(timestamp, self._last_ts) <= last.duration + 8000)
        self._recent.append(timestamp)
        if self._last_ts is None or ts_delta(timestamp, self._last_ts) > 0:
            self._last_ts = timestamp
            self._last_event = ev
        else:
            return None  # a packet of an older press we never saw: reporting it now would reorder keys
        self._note(timestamp, ev)
        if continuing:
            return None
        return ev.digit

    def _note(self, timestamp: int, ev: TelephoneEvent) -> None:
        if ev.duration > self.durations.get(timestamp, -1):
            self.durations[timestamp] = ev.duration
            if len(self.durations) > 64:
                self.durations.pop(next(iter(self.durations)))
        last = self._last_event
        if timestamp == self._last_ts and last is not None and (ev.end or ev.duration >= last.duration):
            self._last_event = ev
