"""Dial patterns (CC-10, CC-11): parsing with Vietnamese errors, matching, specificity order and the
overlap test Apply relies on — the overlap answer is checked against a brute-force search."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketnoi.telephony.pbx import patterns
from ketnoi.telephony.pbx.patterns import PatternError, overlap, parse


@pytest.mark.parametrize("pattern, yes, no", [
    ("", ["", "1", "0912345678", "+84912345678"], []),
    ("1022", ["1022"], ["102", "10222", "1023", ""]),
    ("+842363822222", ["+842363822222"], ["842363822222"]),
    ("_1XXX", ["1000", "1999"], ["999", "2000", "10000", "1a00"]),
    ("_0[35789]XXXXXXXX", ["0912345678", "0355555555"], ["0212345678", "091234567"]),
    ("_[1-3]5", ["15", "25", "35"], ["45", "05"]),
    ("_NXX", ["200", "999"], ["100", "020"]),
    ("_ZX", ["10", "99"], ["01"]),
    ("_0.", ["01", "0912345678"], ["0", "1"]),
    ("_0!", ["0", "01", "0999"], ["1", ""]),
    ("_x.", ["12", "12345"], ["1", ""]),  # lower case letters read like upper case; . needs one more
    ("_*XX", ["*12"], ["#12", "112"]),
    ("_#", ["#"], ["*"]),
])
def test_matching(pattern, yes, no):
    p = parse(pattern)
    for number in yes:
        assert p.matches(number), (pattern, number)
    for number in no:
        assert not p.matches(number), (pattern, number)


@pytest.mark.parametrize("pattern, message", [
    ("10a2", "chứa ký tự không hợp lệ"),
    ("_", "Mẫu '_' trống"),
    ("_1.X", "chỉ được đứng ở cuối"),
    ("_1[23", "thiếu dấu ']'"),
    ("_1[]", "tập ký tự [] trống"),
    ("_1[5-2]", "khoảng '5-2' không hợp lệ"),
    ("_1Q", "ký tự không hợp lệ 'Q'"),
    ("_" + "X" * 70, "tối đa 64 ký tự"),
])
def test_bad_patterns_are_explained_in_vietnamese(pattern, message):
    with pytest.raises(PatternError) as e:
        parse(pattern)
    assert message in str(e.value)


def test_specificity_order():
    ordered = ["1022", "_1022", "_102X", "_10XX", "_1XXX", "_102.", "_10.", "_1.", "_X.", ""]
    keys = [parse(p).specificity() for p in ordered]
    assert keys == sorted(keys)
    assert len(set(keys[1:])) == len(keys) - 1  # only the two spellings of 1022 could tie, and they don't


@pytest.mark.parametrize("a, b, expected", [
    ("1022", "_10XX", True), ("1022", "_1023", False), ("_10XX", "_1X2X", True), ("_10XX", "_11XX", False),
    ("_0.", "_09XXXXXXXX", True), ("_0.", "0", False), ("_0!", "0", True), ("_1XX", "_1XXX", False),
    ("_1XX.", "_1XX", False), ("_1XX!", "_1XX", True), ("", "_9.", True), ("_[1-3]", "_[4-6]", False),
    ("_[1-3]", "_[3-6]", True), ("_X.", "_Z!", True),
])
def test_overlap_examples(a, b, expected):
    assert overlap(parse(a), parse(b)) is expected
    assert overlap(parse(b), parse(a)) is expected


TOKENS = ["0", "1", "X", "Z", "N", "[01]", "[2-3]"]
ALPHABET = "0123"  # enough to tell the token sets above apart


def _all_numbers(max_len: int):
    for n in range(max_len + 1):
        for t in itertools.product(ALPHABET, repeat=n):
            yield "".join(t)


NUMBERS = list(_all_numbers(5))


@st.composite
def small_patterns(draw):
    body = "".join(draw(st.lists(st.sampled_from(TOKENS), min_size=1, max_size=3)))
    return "_" + body + draw(st.sampled_from(["", ".", "!"]))


@settings(max_examples=300, deadline=None)
@given(small_patterns(), small_patterns())
def test_overlap_agrees_with_brute_force(a, b):
    """Patterns of ≤ 3 tokens plus a tail: a common number, if any, exists among numbers of ≤ 5
    characters over 0-3 (each token set meets 0-3, and tails need at most 2 more characters)."""
    pa, pb = parse(a), parse(b)
    brute = any(pa.matches(x) and pb.matches(x) for x in NUMBERS)
    assert overlap(pa, pb) is brute, (a, b)


def test_validate_trims():
    assert patterns.validate("  _0XXX  ") == "_0XXX"
