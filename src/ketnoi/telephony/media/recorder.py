"""Call recording (CC-04, CC-21): both directions of a bridged call into ONE WAV per call, stereo
(caller left, callee right) or mixed mono, 8 kHz 16-bit.

Packets are placed on a common timeline by their RTP timestamps, anchored to arrival time when a
stream starts or jumps, so the parties stay aligned and gaps become silence. A short hold-back
window absorbs reordering; the file is appended and its header fixed every ``flush_interval``
seconds, so a crash loses at most about that much audio.
"""

from __future__ import annotations

import enum
import os
import random
from pathlib import Path

from ketnoi.telephony.media.g711 import DECODE_TABLES
from ketnoi.telephony.media.rtp import ts_delta
from ketnoi.telephony.media.wav import WavWriter

RATE = 8000
_FLIP = bytes(b ^ 0x80 for b in range(256))  # high byte: two's complement ⇄ offset binary


class RecordingMode(enum.StrEnum):
    STEREO = "stereo"
    MIXED = "mixed"


def mix_pcm16(a: bytes, b: bytes) -> bytes:
    """Average of two equal-length 16-bit little-endian PCM signals, (a + b) / 2 (never clips).

    Vectorised with the standard library: each sample becomes an offset-binary 32-bit field of one
    big integer, two integers are added and halved, and the low 16 bits of each field are read back.
    """
    n = len(a) // 2
    if len(b) // 2 != n:
        raise ValueError("signals of different lengths")
    if n == 0:
        return b""
    wide_a = bytearray(4 * n)
    wide_a[0::4] = a[0::2]
    wide_a[1::4] = a[1::2].translate(_FLIP)
    wide_b = bytearray(4 * n)
    wide_b[0::4] = b[0::2]
    wide_b[1::4] = b[1::2].translate(_FLIP)
    total = (int.from_bytes(wide_a, "little") + int.from_bytes(wide_b, "little")) >> 1
    fields = total.to_bytes(4 * n, "little")
    out = bytearray(2 * n)
    out[0::2] = fields[0::4]
    out[1::2] = fields[1::4].translate(_FLIP)
    return bytes(out)


def interleave(left: bytes, right: bytes) -> bytes:
    """Two mono 16-bit signals of equal length → one stereo stream."""
    out = bytearray(2 * len(left))
    out[0::4] = left[0::2]
    out[1::4] = left[1::2]
    out[2::4] = right[0::2]
    out[3::4] = right[1::2]
    return bytes(out)


class _Track:
    __slots__ = ("anchor_pos", "anchor_ts", "pending", "ssrc", "suspect")

    def __init__(self) -> None:
        self.ssrc: int | None = None
        self.suspect = 0
        self.anchor_ts = 0
        self.anchor_pos = 0
        self.pending = bytearray()  # 16-bit PCM from the timeline's ``done`` position on


class RecordingTimeline:
    """Sans-I/O placement of decoded audio on per-channel timelines (sample positions from the first
    packet's arrival). ``add`` places a packet; ``take`` returns what is ready to be written."""

    RESYNC = RATE // 4  # a stream whose timestamps drift from arrival by > 250 ms is re-anchored

    def __init__(self, channels: int = 2, *, hold: float = 0.3) -> None:
        self.tracks = [_Track() for _ in range(channels)]
        self.start: float | None = None
        self.done = 0  # samples already handed out for writing
        self.hold = int(hold * RATE)
        self.late = 0

    def position(self, arrival: float) -> int:
        if self.start is None:
            self.start = arrival
        return int((arrival - self.start) * RATE)

    def add(self, channel: int, codec: str, timestamp: int, ssrc: int, payload: bytes, arrival: float) -> None:
        tables = DECODE_TABLES.get(codec)
        n = len(payload)
        if tables is None or n == 0:
            return
        track = self.tracks[channel]
        expected = self.position(arrival) - n  # where the packet would start if it had no delay
        pos = track.anchor_pos + ts_delta(timestamp, track.anchor_ts)
        if ssrc != track.ssrc or abs(pos - expected) > self.RESYNC:
            # a new source, or timestamps that disagree with the clock: one stray packet (very
            # late, or from before a jump) is dropped; two in a row mean the stream really jumped
            if ssrc == track.ssrc and track.suspect == 0:
                track.suspect = 1
                self.late += 1
                return
            track.ssrc, track.anchor_ts, track.anchor_pos = ssrc, timestamp, max(expected, self.done)
            pos = track.anchor_pos
        track.suspect = 0
        offset = pos - self.done
        if offset + n <= 0:
            self.late += 1
            return
        pcm = bytearray(2 * n)
        pcm[0::2] = payload.translate(tables[0])
        pcm[1::2] = payload.translate(tables[1])
        if offset < 0:  # partly behind what was already written: keep the rest
            del pcm[:-2 * offset]
            offset = 0
        buf = track.pending
        start = 2 * offset
        end = start + len(pcm)
        if len(buf) < end:
            buf.extend(bytes(end - len(buf)))
        buf[start:end] = pcm

    def take(self, now: float | None, *, final: bool = False, max_samples: int = 10 * RATE) -> list[bytes]:
        """Per-channel PCM for the next span that is ready: up to ``now − hold`` (or everything
        buffered when ``final``), at most ``max_samples``; empty list when nothing is ready."""
        if self.start is None:
            return []
        if final:
            limit = self.done + max(len(t.pending) for t in self.tracks) // 2
        else:
            limit = self.position(now if now is not None else self.start) - self.hold
        count = min(limit - self.done, max_samples)
        if count <= 0:
            return []
        out = []
        size = 2 * count
        for t in self.tracks:
            chunk = bytes(t.pending[:size])
            del t.pending[:size]
            if len(chunk) < size:
                chunk += bytes(size - len(chunk))  # this party was silent (or not sending): silence
            out.append(chunk)
        self.done += count
        return out


class Recorder:
    """Records one call to ``path``. The bridge calls ``feed`` for every relayed audio packet
    (channel 0 = caller, 1 = callee); ``close`` writes the rest and returns the path."""

    def __init__(self, path: str | os.PathLike[str], *, mode: RecordingMode = RecordingMode.STEREO,
                 flush_interval: float = 1.0, hold: float = 0.3) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.mode = RecordingMode(mode)
        self.timeline = RecordingTimeline(2, hold=hold)
        self.flush_interval = flush_interval
        self._writer = WavWriter(self.path, channels=2 if self.mode is RecordingMode.STEREO else 1)
        self._next_flush: float | None = None
        self.closed = False

    def feed(self, channel: int, codec: str, timestamp: int, ssrc: int, payload: bytes, arrival: float) -> None:
        if self.closed:
            return
        if self._next_flush is None:  # a random first phase: many calls' flushes do not bunch up
            self._next_flush = arrival + self.flush_interval * random.uniform(0.5, 1.5)
        elif arrival >= self._next_flush:  # before placing: a long silence is written, not buffered
            self._next_flush = arrival + self.flush_interval
            self.flush(arrival)
        self.timeline.add(channel, codec, timestamp, ssrc, payload, arrival)

    def flush(self, now: float) -> None:
        """Write everything older than the hold-back window."""
        while chunks := self.timeline.take(now):
            self._write(chunks)

    def _write(self, chunks: list[bytes]) -> None:
        if self.mode is RecordingMode.STEREO:
            self._writer.write(interleave(chunks[0], chunks[1]))
        else:
            self._writer.write(mix_pcm16(chunks[0], chunks[1]))

    @property
    def duration(self) -> float:
        """Seconds written to the file so far."""
        return self._writer.duration

    def close(self, *, sync: bool = False) -> Path:
        """Write the remaining audio, finish the file and return its path. Idempotent."""
        if not self.closed:
            self.closed = True
            while chunks := self.timeline.take(None, final=True):
                self._write(chunks)
            self._writer.close(sync=sync)
        return self.path
