"""How a text travels as SMS: GSM 7-bit default alphabet or UCS-2 (3GPP TS 23.038 §6.2.1), and how
many concatenated parts it takes (TS 23.040 §9.2.3.24.1: a 6-octet UDH leaves 153 septets or 67
UCS-2 characters per part). Pure functions; the providers do the actual encoding."""

from __future__ import annotations

from dataclasses import dataclass

# TS 23.038 §6.2.1 default alphabet (one septet each) and the extension table (escape + one septet)
GSM7_BASIC = set(
    "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?"
    "¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
)
GSM7_EXTENDED = set("^{}\\[~]|€\f")

SINGLE = {"gsm7": 160, "ucs2": 70}
CONCATENATED = {"gsm7": 153, "ucs2": 67}


@dataclass(frozen=True)
class Layout:
    encoding: str  # gsm7 | ucs2
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    parts: int


def gsm7_septets(text: str) -> int | None:
    """Septets the text needs in the GSM default alphabet, or None when a character is outside it."""
    n = 0
    for ch in text:
        if ch in GSM7_BASIC:
            n += 1
        elif ch in GSM7_EXTENDED:
            n += 2
        else:
            return None
    return n


def layout(text: str) -> Layout:
    """The encoding a provider will choose (Vietnamese with diacritics is UCS-2) and the part count."""
    septets = gsm7_septets(text)
    if septets is not None:
        enc, units = "gsm7", septets
    else:
        enc, units = "ucs2", len(text.encode("utf-16-be")) // 2
    if units <= SINGLE[enc]:
        return Layout(enc, units, 1)
    return Layout(enc, units, -(-units // CONCATENATED[enc]))


def max_length(encoding: str, max_parts: int) -> int:
    """Characters (septets / code units) that fit in ``max_parts`` parts."""
    return SINGLE[encoding] if max_parts <= 1 else CONCATENATED[encoding] * max_parts
