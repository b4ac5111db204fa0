"""Vietnamese phone numbers in, E.164 out (API.md)."""

import pytest

from ketnoi.core.errors import ValidationFailed
from ketnoi.core.phone import normalize_phone


@pytest.mark.parametrize("raw,expected", [
    ("0912345678", "+84912345678"), ("84912345678", "+84912345678"), ("+84 912 345 678", "+84912345678"),
    ("091.234.5678", "+84912345678"), ("0327654321", "+84327654321"), ("02363822123", "+842363822123"),
    ("+6591234567", "+6591234567"),
])
def test_accepted_forms(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["12345", "0912abc678", "0112345678", "+84", "09123456789012"])
def test_refused(raw):
    with pytest.raises(ValidationFailed):
        normalize_phone(raw)


def test_mobile_only():
    with pytest.raises(ValidationFailed):
        normalize_phone("02363822123", mobile_only=True)
