"""An adaptive jitter buffer (sans-I/O): packets in by RTP timestamp, one frame out per call of
``pop(now)`` at the consumer's own cadence (mixer, IVR audio input, anything that must play out
received audio evenly). The playout delay follows the measured delay spread (RFC 3550 §A.8 transit
times): frames are skipped when the buffer runs too deep and silence is inserted when it runs dry.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from ketnoi.telephony.media.rtp import ts_delta


@dataclass(frozen=True, slots=True)
class Frame:
    """What to play now: the payload, or None when that frame was lost or late (conceal it)."""

    timestamp: int
    payload: bytes | None


@dataclass(slots=True)
class JitterStats:
    received: int = 0
    played: int = 0
    missing: int = 0  # frames played out as concealment
    late: int = 0  # packets that came after their playout time
    duplicates: int = 0
    skipped: int = 0  # frames dropped to shrink the delay
    stretched: int = 0  # silent frames inserted to grow the delay
    resets: int = 0
    delay_ms: float = 0.0  # current target playout delay


class JitterBuffer:
    """Adaptive playout buffer for one audio stream; all times in seconds, the clock is the caller's.

    ``frame_samples`` is the playout step (160 = 20 ms at 8 kHz). The target delay is the spread
    (95th percentile − minimum) of the packets' transit times over the last ``window`` packets,
    plus half a frame, within [``min_delay``, ``max_delay``]. The delay grows at once (silence is
    inserted when the buffer runs dry) and shrinks gently, one frame per ``SKIP_EVERY`` frames.
    """

    SKIP_EVERY = 25  # frames between two shrinking skips: 0.5 s at 20 ms

    def __init__(self, *, clock_rate: int = 8000, frame_samples: int = 160, min_delay: float = 0.02,
                 max_delay: float = 0.3, initial_delay: float = 0.06, window: int = 100) -> None:
        self.rate = clock_rate
        self.frame = frame_samples
        self.min_delay = min_delay
        self.max_delay = max_delay
        self.initial_delay = initial_delay
        self._frames: dict[int, bytes] = {}
        self._transits: deque[int] = deque(maxlen=window)
        self._base_ts: int | None = None  # first timestamp seen, anchors unwrapped positions
        self._cursor = 0  # unwrapped timestamp of the next frame to play
        self._target = int(initial_delay * clock_rate)
        self._started = False
        self._since_target = 0
        self._since_skip = 0
        self.stats = JitterStats(delay_ms=initial_delay * 1000)

    def _unwrap(self, timestamp: int) -> int:
        assert self._base_ts is not None
        return ts_delta(timestamp, self._base_ts)

    def reset(self) -> None:
        self._frames.clear()
        self._transits.clear()
        self._base_ts = None
        self._started = False
        self.stats.resets += 1

    def put(self, timestamp: int, payload: bytes, arrival: float) -> None:
        """Add a received packet (G.711: one sample per byte, so the payload length is its duration)."""
        if self._base_ts is None:
            self._base_ts = timestamp
            self._cursor = 0
        pos = self._unwrap(timestamp)
        horizon = int(self.max_delay * self.rate) * 4 + 8 * self.frame
        if self._started and abs(pos - self._cursor) > horizon:  # the source jumped: start over
            self.reset()
            self._base_ts = timestamp
            self._cursor = pos = 0
        self.stats.received += 1
        transit = int(arrival * self.rate) - pos
        self._transits.append(transit)
        self._since_target += 1
        if self._since_target >= 10:
            self._retarget()
        if self._started and pos < self._cursor:
            self.stats.late += 1
            return
        if pos in self._frames:
            self.stats.duplicates += 1
            return
        if len(self._frames) < 1000:
            self._frames[pos] = bytes(payload)

    def _retarget(self) -> None:
        self._since_target = 0
        ordered = sorted(self._transits)
        spread = ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))] - ordered[0]
        target = spread + self.frame // 2
        lo, hi = int(self.min_delay * self.rate), int(self.max_delay * self.rate)
        self._target = max(lo, min(hi, target))
        self.stats.delay_ms = 1000.0 * self._target / self.rate

    def _due(self, now: float) -> int:
        """The unwrapped timestamp that should be playing at ``now`` with the target delay."""
        return int(now * self.rate) - min(self._transits) - self._target

    def pop(self, now: float) -> Frame | None:
        """The next frame to play, or None before playout starts (nothing buffered yet)."""
        if self._base_ts is None or not self._transits:
            return None
        if not self._started:
            if self._due(now) < self._cursor and self._frames:
                return None
            if not self._frames:
                return None
            self._cursor = min(self._frames)
            self._started = True
        due = self._due(now)
        lag = due - self._cursor
        self._since_skip += 1
        if lag > int(self.max_delay * self.rate):  # far behind (a stall, a burst): catch up at once
            while lag > self.frame:
                self._skip()
                lag -= self.frame
        elif lag > 2 * self.frame and self._since_skip >= self.SKIP_EVERY:  # shrink gently
            self._skip()
            self._since_skip = 0
        elif lag < -self.frame and self._cursor not in self._frames:  # ran dry early: stretch
            self.stats.stretched += 1
            self.stats.played += 1
            return Frame((self._base_ts + self._cursor) & 0xFFFFFFFF, None)
        pos = self._cursor
        payload = self._frames.pop(pos, None)
        self._cursor = pos + (len(payload) if payload else self.frame)
        self.stats.played += 1
        if payload is None:
            self.stats.missing += 1
        for stale in [p for p in self._frames if p < self._cursor]:
            del self._frames[stale]
        return Frame((self._base_ts + pos) & 0xFFFFFFFF, payload)

    def _skip(self) -> None:
        self._frames.pop(self._cursor, None)
        self._cursor += self.frame
        self.stats.skipped += 1

    @property
    def depth(self) -> int:
        """Frames waiting."""
        return len(self._frames)
