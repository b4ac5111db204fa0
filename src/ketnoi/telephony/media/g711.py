"""G.711 µ-law and A-law (ITU-T G.711) through precomputed tables.

Transcoding µ⇄A is one ``bytes.translate`` over the payload (the bridge's cheap path); decoding to
16-bit little-endian PCM is two translates interleaved; encoding maps each sample through a
65,536-entry table. ``audioop`` is not used (deprecated, PEP 594).
"""

from __future__ import annotations

import sys

ULAW_SILENCE = 0xFF  # µ-law code of 0
ALAW_SILENCE = 0xD5  # A-law code of the smallest positive step (A-law has no exact zero)
_LITTLE = sys.byteorder == "little"


def ulaw_encode_sample(sample: int) -> int:
    """One 16-bit linear sample → µ-law (G.711 §2: bias 0x84, 8 segments, bits inverted)."""
    sign = 0
    if sample < 0:
        sample = -sample
        sign = 0x80
    sample = min(sample, 32635) + 0x84
    exponent = (sample >> 7).bit_length() - 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def ulaw_decode_sample(code: int) -> int:
    """µ-law → 16-bit linear sample."""
    code = ~code & 0xFF
    exponent = (code >> 4) & 0x07
    magnitude = ((((code & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return -magnitude if code & 0x80 else magnitude


def alaw_encode_sample(sample: int) -> int:
    """One 16-bit linear sample → A-law (G.711 §3: 13-bit magnitude, even bits inverted by 0x55)."""
    if sample >= 0:
        mask, magnitude = 0xD5, sample >> 3
    else:
        mask, magnitude = 0x55, (-sample - 1) >> 3
    if magnitude < 32:
        code = magnitude >> 1
    else:
        segment = min(magnitude.bit_length() - 5, 7)
        code = (segment << 4) | ((magnitude >> segment) & 0x0F)
    return code ^ mask


def alaw_decode_sample(code: int) -> int:
    """A-law → 16-bit linear sample (segment midpoints)."""
    code ^= 0x55
    segment = (code >> 4) & 0x07
    magnitude = ((code & 0x0F) << 4) + 8
    if segment:
        magnitude = (magnitude + 0x100) << (segment - 1)
    return magnitude if code & 0x80 else -magnitude


ULAW_DECODE: tuple[int, ...] = tuple(ulaw_decode_sample(c) for c in range(256))
ALAW_DECODE: tuple[int, ...] = tuple(alaw_decode_sample(c) for c in range(256))
# Index by the sample as an unsigned 16-bit number (two's complement).
ULAW_ENCODE: bytes = bytes(ulaw_encode_sample(v - 65536 if v >= 32768 else v) for v in range(65536))
ALAW_ENCODE: bytes = bytes(alaw_encode_sample(v - 65536 if v >= 32768 else v) for v in range(65536))
ULAW_TO_ALAW: bytes = bytes(ALAW_ENCODE[ULAW_DECODE[c] & 0xFFFF] for c in range(256))
ALAW_TO_ULAW: bytes = bytes(ULAW_ENCODE[ALAW_DECODE[c] & 0xFFFF] for c in range(256))
_ULAW_LO = bytes(v & 0xFF for v in ULAW_DECODE)
_ULAW_HI = bytes((v >> 8) & 0xFF for v in ULAW_DECODE)
_ALAW_LO = bytes(v & 0xFF for v in ALAW_DECODE)
_ALAW_HI = bytes((v >> 8) & 0xFF for v in ALAW_DECODE)


def _decode(data: bytes, lo: bytes, hi: bytes) -> bytes:
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(lo)
    out[1::2] = data.translate(hi)
    return bytes(out)


def _samples(pcm: bytes):
    view = memoryview(pcm)
    if len(view) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    if _LITTLE:
        return view.cast("B").cast("H")
    import array

    arr = array.array("H", bytes(view))
    arr.byteswap()
    return arr


def ulaw_to_pcm16(data: bytes) -> bytes:
    """µ-law bytes → 16-bit little-endian PCM."""
    return _decode(data, _ULAW_LO, _ULAW_HI)


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes → 16-bit little-endian PCM."""
    return _decode(data, _ALAW_LO, _ALAW_HI)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM → µ-law bytes."""
    return bytes(map(ULAW_ENCODE.__getitem__, _samples(pcm)))


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM → A-law bytes."""
    return bytes(map(ALAW_ENCODE.__getitem__, _samples(pcm)))


def ulaw_to_alaw(data: bytes) -> bytes:
    """µ-law → A-law without a trip through Python integers."""
    return data.translate(ULAW_TO_ALAW)


def alaw_to_ulaw(data: bytes) -> bytes:
    return data.translate(ALAW_TO_ULAW)


DECODERS = {"PCMU": ulaw_to_pcm16, "PCMA": alaw_to_pcm16}
ENCODERS = {"PCMU": pcm16_to_ulaw, "PCMA": pcm16_to_alaw}
SILENCE = {"PCMU": ULAW_SILENCE, "PCMA": ALAW_SILENCE}
DECODE_TABLES = {"PCMU": (_ULAW_LO, _ULAW_HI), "PCMA": (_ALAW_LO, _ALAW_HI)}


def transcode_table(source: str, target: str) -> bytes | None:
    """The ``bytes.translate`` table from one G.711 law to the other, or None when they are equal."""
    source, target = source.upper(), target.upper()
    if source == target:
        return None
    if (source, target) == ("PCMU", "PCMA"):
        return ULAW_TO_ALAW
    if (source, target) == ("PCMA", "PCMU"):
        return ALAW_TO_ULAW
    raise ValueError(f"no G.711 transcoding from {source} to {target}")
