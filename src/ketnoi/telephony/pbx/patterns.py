"""Dial patterns in the Asterisk style used by inbound (CC-10) and outbound (CC-11) routes. Pure code.

Syntax:
  * empty                 any number (including none);
  * ``1022``, ``+8428…``  exactly that number (digits, ``+``, ``*``, ``#``);
  * ``_`` then tokens     a pattern: ``X`` = 0-9, ``Z`` = 1-9, ``N`` = 2-9, ``[15-7]`` = a set with
                          ranges, a digit/``+``/``*``/``#`` = itself, and at the end only ``.`` = one
                          or more of anything or ``!`` = zero or more of anything.
Letters are case-insensitive (``_0xxx`` = ``_0XXX``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DIGITS = frozenset("0123456789")
LITERALS = frozenset("0123456789+*#")
CLASSES = {"X": DIGITS, "Z": frozenset("123456789"), "N": frozenset("23456789")}
MAX_LENGTH = 64


class PatternError(ValueError):
    """A pattern that cannot be read; the message is Vietnamese, for the user."""


@dataclass(frozen=True)
class Pattern:
    text: str
    tokens: tuple[frozenset[str], ...]  # one set of allowed characters per position
    tail: str = ""  # "" (none) | "+" (one or more more) | "*" (zero or more more)
    any: bool = False  # the empty pattern: matches everything

    @property
    def literal(self) -> bool:
        return not self.any and not self.text.startswith("_")

    def matches(self, number: str) -> bool:
        if self.any:
            return True
        n = len(self.tokens)
        if len(number) < n:
            return False
        if not self.tail and len(number) != n:
            return False
        if self.tail == "+" and len(number) == n:
            return False
        return all(c in allowed for c, allowed in zip(number, self.tokens))

    def specificity(self) -> tuple[int, float, float]:
        """Sort key, smallest = most specific: exact numbers, then finite patterns by how many numbers
        they match, then open-ended patterns by the length of their fixed part, then 'anything'."""
        if self.any:
            return (3, 0, 0)
        count = math.prod(len(t) for t in self.tokens)
        if self.literal:
            return (0, 0, 0)
        if not self.tail:
            return (1, count, 0)
        return (2, -len(self.tokens), count)


def parse(text: str) -> Pattern:
    raw = (text or "").strip()
    if not raw:
        return Pattern("", (), any=True)
    if len(raw) > MAX_LENGTH:
        raise PatternError(f"Mẫu số tối đa {MAX_LENGTH} ký tự.")
    if not raw.startswith("_"):
        bad = sorted(set(raw) - LITERALS)
        if bad:
            raise PatternError(f"Số '{raw}' chứa ký tự không hợp lệ ({''.join(bad)}). Số cố định chỉ gồm chữ số, "
                               "+, *, #; mẫu có ký tự đại diện phải bắt đầu bằng dấu gạch dưới, ví dụ _0XXXXXXXXX.")
        return Pattern(raw, tuple(frozenset(c) for c in raw))
    body = raw[1:].upper()
    if not body:
        raise PatternError("Mẫu '_' trống: thêm ký tự sau dấu gạch dưới, ví dụ _X. (mọi số).")
    tokens: list[frozenset[str]] = []
    tail = ""
    i = 0
    while i < len(body):
        c = body[i]
        if c in ".!":
            if i != len(body) - 1:
                raise PatternError(f"Trong mẫu '{raw}', '{c}' chỉ được đứng ở cuối.")
            tail = "+" if c == "." else "*"
        elif c in CLASSES:
            tokens.append(CLASSES[c])
        elif c in LITERALS:
            tokens.append(frozenset(c))
        elif c == "[":
            end = body.find("]", i)
            if end < 0:
                raise PatternError(f"Trong mẫu '{raw}', thiếu dấu ']' đóng tập ký tự.")
            tokens.append(_charset(body[i + 1:end], raw))
            i = end
        else:
            raise PatternError(f"Mẫu '{raw}' chứa ký tự không hợp lệ '{c}'. Dùng X, Z, N, [1-5], chữ số, "
                               "+ * #, và . hoặc ! ở cuối.")
        i += 1
    return Pattern(raw, tuple(tokens), tail)


def _charset(spec: str, raw: str) -> frozenset[str]:
    if not spec:
        raise PatternError(f"Trong mẫu '{raw}', tập ký tự [] trống.")
    out: set[str] = set()
    i = 0
    while i < len(spec):
        c = spec[i]
        if i + 2 < len(spec) and spec[i + 1] == "-":
            hi = spec[i + 2]
            if c not in DIGITS or hi not in DIGITS or hi < c:
                raise PatternError(f"Trong mẫu '{raw}', khoảng '{c}-{hi}' không hợp lệ.")
            out.update(str(d) for d in range(int(c), int(hi) + 1))
            i += 3
            continue
        if c not in LITERALS:
            raise PatternError(f"Trong mẫu '{raw}', tập ký tự chứa '{c}' không hợp lệ.")
        out.add(c)
        i += 1
    return frozenset(out)


def validate(text: str) -> str:
    """The pattern as it will be stored (trimmed), or PatternError."""
    return parse(text).text


def _lengths(p: Pattern) -> tuple[int, float]:
    n = len(p.tokens)
    if p.any:
        return 0, math.inf
    return {"": (n, n), "+": (n + 1, math.inf), "*": (n, math.inf)}[p.tail]


def overlap(a: Pattern, b: Pattern) -> bool:
    """Whether some number matches both patterns (positions must share a character, and some length
    must be allowed by both; positions past a pattern's fixed part are covered by its wildcard)."""
    if a.any or b.any:
        return True
    lo_a, hi_a = _lengths(a)
    lo_b, hi_b = _lengths(b)
    if max(lo_a, lo_b) > min(hi_a, hi_b):
        return False
    return all(x & y for x, y in zip(a.tokens, b.tokens))
