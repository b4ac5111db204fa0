"""How a text travels as SMS: GSM 7-bit default alphabet or UCS-2 (3GPP TS 23.038 §6.2.1), and how
many concatenated parts it takes (TS 23.040 §9.2.3.24.1: a 6-octet UDH leaves 153 septets or 67
UCS-2 characters per part). Pure functions over the alphabet of ``providers.encoding``, which does
the actual encoding."""

from __future__ import annotations

from dataclasses import dataclass

from ketnoi.sms.providers.encoding import (
    PART_GSM7,
    PART_UCS2,
    SINGLE_GSM7,
    SINGLE_UCS2,
    count_parts,
    septet_count,
)

SINGLE = {"gsm7": SINGLE_GSM7, "ucs2": SINGLE_UCS2}
CONCATENATED = {"gsm7": PART_GSM7, "ucs2": PART_UCS2}


@dataclass(frozen=True)
class Layout:
    encoding: str  # gsm7 | ucs2
    units: int  # septets (gsm7) or UTF-16 code units (ucs2)
    parts: int


def gsm7_septets(text: str) -> int | None:
    """Septets the text needs in the GSM default alphabet, or None when a character is outside it."""
    return septet_count(text)


def layout(text: str) -> Layout:
    """The encoding a provider will choose (Vietnamese with diacritics is UCS-2) and the part count."""
    septets = gsm7_septets(text)
    if septets is not None:
        enc, units = "gsm7", septets
    else:
        enc, units = "ucs2", len(text.encode("utf-16-be")) // 2
    # The part count comes from the providers' splitter, which never cuts an escape or surrogate
    # pair, so a text accepted here is never refused as too long when it is sent.
    parts, _ = count_parts(text)
    return Layout(enc, units, parts)


def max_length(encoding: str, max_parts: int) -> int:
    """Characters (septets / code units) that fit in ``max_parts`` parts."""
    return SINGLE[encoding] if max_parts <= 1 else CONCATENATED[encoding] * max_parts
