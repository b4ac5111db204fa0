"""Vietnamese phone numbers: accept local forms (0912…, 84912…, +84912…), store E.164 (API.md)."""

from __future__ import annotations

import re

from ketnoi.core.errors import ValidationFailed

# Mobile network prefixes in use after the 2018 renumbering (Viettel, Vinaphone, MobiFone,
# Vietnamobile, Gmobile, Itelecom, Reddi/Wintel).
MOBILE_PREFIXES = {
    "32", "33", "34", "35", "36", "37", "38", "39", "86", "96", "97", "98",  # Viettel
    "81", "82", "83", "84", "85", "88", "91", "94",  # Vinaphone
    "70", "76", "77", "78", "79", "89", "90", "93",  # MobiFone
    "52", "56", "58", "92",  # Vietnamobile
    "59", "99",  # Gmobile
    "87",  # Itelecom
    "55",  # Reddi / Wintel
}


def normalize_phone(raw: str, field: str = "phone", mobile_only: bool = False) -> str:
    """Return the E.164 form (+84…) or raise a Vietnamese validation message."""
    digits = re.sub(r"[\s\-.()]", "", raw or "")
    if digits.startswith("+"):
        digits = digits[1:]
        if not digits.startswith("84"):
            if digits.isdigit() and 8 <= len(digits) <= 15:
                return "+" + digits  # foreign number, kept as given
            raise ValidationFailed.field(field, "Số điện thoại không hợp lệ.")
    if not digits.isdigit():
        raise ValidationFailed.field(field, "Số điện thoại chỉ gồm chữ số (có thể bắt đầu bằng +).")
    if digits.startswith("84") and len(digits) in (11, 12):
        national = digits[2:]
    elif digits.startswith("0") and len(digits) in (10, 11):
        national = digits[1:]
    else:
        raise ValidationFailed.field(field, "Số điện thoại không hợp lệ (ví dụ đúng: 0912345678).")
    is_mobile = len(national) == 9 and national[:2] in MOBILE_PREFIXES
    if mobile_only and not is_mobile:
        raise ValidationFailed.field(field, "Không phải số di động Việt Nam hợp lệ.")
    if not is_mobile and not (len(national) in (9, 10) and national[0] == "2"):
        raise ValidationFailed.field(field, "Số điện thoại không hợp lệ (ví dụ đúng: 0912345678).")
    return "+84" + national
