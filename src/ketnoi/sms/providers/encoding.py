"""SMS text encoding: GSM 03.38 7-bit or UCS-2, concatenation UDH, decoding of received payloads (SMS-02).

Rules (3GPP TS 23.038 §6.2.1 alphabet and extension table, TS 23.040 §9.2.3.24.1 concatenation):

* GSM-7 when every character is in the default alphabet or its extension table (an extension
  character costs two septets: ESC 0x1B + code); otherwise UCS-2 (UTF-16BE; Vietnamese with
  diacritics always needs it). Characters outside the BMP are sent as surrogate pairs.
* One part carries 160 septets / 70 UCS-2 units; a concatenated part 153 septets / 67 units after
  the 6-octet UDH ``05 00 03 ref total seq``. An ESC pair and a surrogate pair are never split.
* Over SMPP, GSM-7 travels unpacked (one septet per octet, data_coding 0) and UCS-2 as octets
  (data_coding 8), SMPP 3.4 §5.2.19.

smpplib ships ``smpplib.gsm`` but its table maps "`" to 0x5F (which is "§" in GSM 03.38) and
lacks "§", and its splitter cuts ESC pairs and surrogate pairs, so the table and splitting are
implemented here and tested byte for byte.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# 3GPP TS 23.038 §6.2.1, default alphabet: index = septet value.
GSM7_BASIC = (
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞ\x1bÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
# §6.2.1.1, default extension table (after ESC): character -> septet.
GSM7_EXTENSION = {"\f": 0x0A, "^": 0x14, "{": 0x28, "}": 0x29, "\\": 0x2F, "[": 0x3C, "~": 0x3D,
                  "]": 0x3E, "|": 0x40, "€": 0x65}
ESC = 0x1B
_BASIC = {ch: i for i, ch in enumerate(GSM7_BASIC) if i != ESC}
_EXT_REV = {v: k for k, v in GSM7_EXTENSION.items()}

SINGLE_GSM7, PART_GSM7 = 160, 153
SINGLE_UCS2, PART_UCS2 = 70, 67
DCS_GSM7, DCS_IA5, DCS_LATIN1, DCS_BINARY, DCS_UCS2 = 0, 1, 3, 4, 8


class TooLong(ValueError):
    """The text needs more parts than allowed."""

    def __init__(self, parts: int, max_parts: int):
        super().__init__(f"Tin nhắn quá dài: cần {parts} phần, tối đa {max_parts} phần.")
        self.parts, self.max_parts = parts, max_parts


@dataclass(frozen=True)
class EncodedSms:
    encoding: Literal["gsm7", "ucs2"]
    data_coding: int  # SMPP data_coding: 0 (GSM-7 unpacked) or 8 (UCS-2)
    payloads: tuple[bytes, ...]  # user data of each part, without UDH
    udhs: tuple[bytes, ...]  # UDH of each part (b"" for a single part)
    texts: tuple[str, ...]  # the text carried by each part

    @property
    def parts(self) -> int:
        return len(self.payloads)

    def short_messages(self) -> list[bytes]:
        """UDH + user data of each part, as SMPP ``short_message`` (with esm_class UDHI when a UDH)."""
        return [u + p for u, p in zip(self.udhs, self.payloads, strict=True)]


def gsm7_encode(text: str) -> bytes | None:
    """Unpacked septets (ESC pairs for extension characters), or None if a character is not GSM-7."""
    out = bytearray()
    for ch in text:
        v = _BASIC.get(ch)
        if v is not None:
            out.append(v)
            continue
        e = GSM7_EXTENSION.get(ch)
        if e is None:
            return None
        out += bytes((ESC, e))
    return bytes(out)


def gsm7_decode(data: bytes) -> str:
    """Unpacked septets to text; an unknown extension decodes as its basic character (§6.2.1.1)."""
    out, i = [], 0
    while i < len(data):
        b = data[i] & 0x7F
        if b == ESC and i + 1 < len(data):
            nxt = data[i + 1] & 0x7F
            out.append(_EXT_REV.get(nxt, GSM7_BASIC[nxt] if nxt != ESC else " "))
            i += 2
            continue
        out.append(GSM7_BASIC[b] if b != ESC else " ")
        i += 1
    return "".join(out)


def septet_count(text: str) -> int | None:
    """Septets the text needs in GSM-7 (extension characters count two), None if not GSM-7."""
    enc = gsm7_encode(text)
    return None if enc is None else len(enc)


def _split_gsm7(septets: bytes, size: int) -> list[bytes]:
    parts, i = [], 0
    while i < len(septets):
        end = min(i + size, len(septets))
        if end < len(septets) and septets[end - 1] == ESC:
            end -= 1  # ESC always opens a pair (no extension code is ESC): keep the pair whole
        parts.append(septets[i:end])
        i = end
    return parts


def _split_ucs2(units: bytes, size: int) -> list[bytes]:
    parts, i, n = [], 0, len(units)
    while i < n:
        end = min(i + 2 * size, n)
        if end < n and 0xD8 <= units[end - 2] <= 0xDB:
            end -= 2  # a high surrogate stays with its low surrogate
        parts.append(units[i:end])
        i = end
    return parts


def reference_for(message_id: str) -> int:
    """8-bit concatenation reference derived from the message id: a retry of the same message
    reuses the same reference, so a handset that got a part twice reassembles one message."""
    h = 0
    for b in message_id.encode():
        h = (h * 31 + b) & 0xFFFFFFFF
    return h & 0xFF


def encode(text: str, *, reference: int = 0, max_parts: int = 255, force_ucs2: bool = False) -> EncodedSms:
    """Choose the alphabet, split into parts and build the UDH of each part."""
    septets = None if force_ucs2 else gsm7_encode(text)
    if septets is not None:
        chunks = [septets] if len(septets) <= SINGLE_GSM7 else _split_gsm7(septets, PART_GSM7)
        encoding, dcs = "gsm7", DCS_GSM7
        texts = [gsm7_decode(c) for c in chunks]
    else:
        units = text.encode("utf-16-be")
        chunks = [units] if len(units) <= 2 * SINGLE_UCS2 else _split_ucs2(units, PART_UCS2)
        encoding, dcs = "ucs2", DCS_UCS2
        texts = [c.decode("utf-16-be") for c in chunks]
    if not chunks:
        chunks, texts = [b""], [""]
    total = len(chunks)
    if total > min(max_parts, 255):
        raise TooLong(total, min(max_parts, 255))
    if total == 1:
        udhs = [b""]
    else:
        ref = reference & 0xFF
        udhs = [bytes((0x05, 0x00, 0x03, ref, total, seq)) for seq in range(1, total + 1)]
    return EncodedSms(encoding, dcs, tuple(chunks), tuple(udhs), tuple(texts))  # type: ignore[arg-type]


def count_parts(text: str, force_ucs2: bool = False) -> tuple[int, str]:
    """(parts, "gsm7"|"ucs2") the text will need, for form hints and length checks."""
    enc = encode(text, force_ucs2=force_ucs2)
    return enc.parts, enc.encoding


# -- received payloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Concat:
    reference: int
    total: int
    seq: int


def split_udh(data: bytes) -> tuple[Concat | None, bytes]:
    """Parse a UDH at the start of ``data`` (esm_class UDHI): the concatenation IE, and the rest.

    Handles IE 0x00 (8-bit reference) and 0x08 (16-bit reference); malformed headers raise ValueError.
    """
    if not data:
        raise ValueError("empty user data with UDHI")
    udhl = data[0]
    if udhl + 1 > len(data):
        raise ValueError("UDH longer than the user data")
    header, body = data[1:1 + udhl], data[1 + udhl:]
    concat, i = None, 0
    while i < len(header):
        if i + 2 > len(header):
            raise ValueError("truncated information element")
        iei, iel = header[i], header[i + 1]
        value = header[i + 2:i + 2 + iel]
        if len(value) != iel:
            raise ValueError("truncated information element")
        if iei == 0x00 and iel == 3:
            concat = Concat(value[0], value[1], value[2])
        elif iei == 0x08 and iel == 4:
            concat = Concat((value[0] << 8) | value[1], value[2], value[3])
        i += 2 + iel
    if concat is not None and (concat.total == 0 or not 1 <= concat.seq <= concat.total):
        concat = None  # §9.2.3.24.1: ignore an IE with impossible values
    return concat, body


def decode_payload(data: bytes, data_coding: int) -> str:
    """Text of a received payload by SMPP data_coding (§5.2.19); undecodable bytes become U+FFFD."""
    dcs = data_coding & 0xFF
    if dcs in (0xF0, 0xF1, 0xF2, 0xF3):  # GSM 03.38 "data coding/message class", 7-bit
        dcs = DCS_GSM7
    elif dcs in (0xF4, 0xF5, 0xF6, 0xF7):
        dcs = DCS_BINARY
    elif 0x10 <= dcs <= 0x3F:  # TS 23.038 §4 general data coding group: alphabet in bits 3..2
        dcs = {0x00: DCS_GSM7, 0x04: DCS_BINARY, 0x08: DCS_UCS2}.get(dcs & 0x0C, DCS_LATIN1)
    if dcs == DCS_GSM7:
        return gsm7_decode(data)
    if dcs == DCS_UCS2:
        return data.decode("utf-16-be", errors="replace")
    if dcs == DCS_IA5:
        return data.decode("ascii", errors="replace")
    if dcs in (DCS_BINARY, 2):
        return data.hex()
    return data.decode("latin-1")
