"""Call-progress and test tones as 8 kHz 16-bit PCM: sine mixes, on/off cadences, DTMF pairs.

Viet Nam uses 425 Hz tones (ITU-T E.180 Suppl. 2): ringback 1 s on / 4 s off, busy 0.35 s / 0.35 s.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from functools import lru_cache

RATE = 8000
DTMF_FREQUENCIES = {  # (low, high) Hz, ITU-T Q.23
    "1": (697, 1209), "2": (697, 1336), "3": (697, 1477), "A": (697, 1633),
    "4": (770, 1209), "5": (770, 1336), "6": (770, 1477), "B": (770, 1633),
    "7": (852, 1209), "8": (852, 1336), "9": (852, 1477), "C": (852, 1633),
    "*": (941, 1209), "0": (941, 1336), "#": (941, 1477), "D": (941, 1633),
}


@dataclass(frozen=True, slots=True)
class Cadence:
    """A call-progress tone: frequencies and an on/off pattern in seconds (empty = continuous)."""

    frequencies: tuple[float, ...]
    pattern: tuple[float, ...] = ()
    level: float = 0.25  # peak amplitude as a fraction of full scale


DIAL = Cadence((425.0,))
RINGBACK = Cadence((425.0,), (1.0, 4.0))
BUSY = Cadence((425.0,), (0.35, 0.35))
CONGESTION = Cadence((425.0,), (0.2, 0.2))


def sine(frequencies: float | tuple[float, ...], duration: float, *, level: float = 0.25,
         rate: int = RATE, phase_samples: int = 0) -> bytes:
    """The sum of sines (equal share of ``level`` each) as little-endian 16-bit PCM."""
    freqs = (frequencies,) if isinstance(frequencies, (int, float)) else tuple(frequencies)
    n = max(0, round(duration * rate))
    if not freqs or n == 0:
        return bytes(2 * n)
    amp = 32767 * max(0.0, min(1.0, level)) / len(freqs)
    steps = [2 * math.pi * f / rate for f in freqs]
    samples = [round(amp * sum(math.sin(w * (i + phase_samples)) for w in steps)) for i in range(n)]
    return struct.pack(f"<{n}h", *samples)


def silence(duration: float, rate: int = RATE) -> bytes:
    return bytes(2 * round(duration * rate))


@lru_cache(maxsize=32)
def cadence(tone: Cadence, duration: float | None = None) -> bytes:
    """One period of a cadenced tone (or ``duration`` seconds of it); loop it for longer play."""
    if not tone.pattern:
        return sine(tone.frequencies, duration or 1.0, level=tone.level)
    out = bytearray()
    for i, seconds in enumerate(tone.pattern):
        out += sine(tone.frequencies, seconds, level=tone.level) if i % 2 == 0 else silence(seconds)
    if duration is not None:
        need = 2 * round(duration * RATE)
        period = bytes(out)
        while len(out) < need:
            out += period
        del out[need:]
    return bytes(out)


def dtmf_tone(key: str, duration: float = 0.1, *, level: float = 0.5) -> bytes:
    """An in-band DTMF key (ITU-T Q.23 frequency pair)."""
    try:
        pair = DTMF_FREQUENCIES[key.upper()]
    except KeyError:
        raise ValueError(f"not a DTMF key: {key!r}") from None
    return sine(pair, duration, level=level)
