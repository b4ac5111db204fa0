"""Snippets: the passage of a document where the query's words gather, HTML-escaped, the words in
<mark>. Matching runs on the original (NFC) text, so an unaccented query marks the accented words
as written ('dang ky' marks 'Đăng ký'), at offsets of that very text."""

from __future__ import annotations

import html
import re
import unicodedata

from ketnoi.knowledge.search import analysis as A

WIDTH = 220  # characters of a snippet
SCAN = 6_000  # characters of a document looked at (the start of the answers)
MAX_SPANS = 40  # matches collected per document


def _letter_forms() -> dict[str, str]:
    """Every Latin letter (either case, any accent) by the base letter it folds to."""
    forms: dict[str, list[str]] = {}
    for cp in list(range(0x41, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        if ch.isalpha():
            base = A.fold(ch)
            if len(base) == 1 and base.isascii():
                forms.setdefault(base, []).append(ch)
    return {b: "".join(sorted(set(v))) for b, v in forms.items()}


_FORMS = _letter_forms()
_UPPER, _LOWER = set(A._U), set(A._L)


def _kind(ch: str) -> str:
    """u, l (Latin capital/small), d (digit), w (other word character) or '' (not a word)."""
    if ch in _LOWER:
        return "l"
    if ch in _UPPER:
        return "u"
    if ch.isdigit():
        return "d"
    return "w" if ch.isalnum() else ""


def _boundary(text: str, i: int) -> bool:
    """Whether the analyser's tokenizer starts or ends a token at offset ``i``: outside words, a
    capital after a small letter ('gianPhí'), a capitalised word after an acronym, letter/digit."""
    if i <= 0 or i >= len(text):
        return True
    a, b = text[i - 1], text[i]
    if not a.isalnum() or not b.isalnum():
        return True
    a, b = _kind(a), _kind(b)
    if a == "l" and b == "u":
        return True
    if a == "u" and b == "u":
        return i + 1 < len(text) and _kind(text[i + 1]) == "l"
    return (a == "d") != (b == "d")


def _any_accent(term: str) -> str:
    return "".join(f"[{_FORMS[c]}]" if c in _FORMS else re.escape(c) for c in term)


def _tone_variants(word: str) -> set[str]:
    """Spellings of a canonical syllable with the tone on another vowel (hoà ↔ hòa)."""
    nfd = unicodedata.normalize("NFD", word)
    tones = [c for c in nfd if c in A.TONES]
    out = {word}
    if len(tones) == 1:
        bare = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in A.TONES))
        for i, ch in enumerate(bare):
            if ch in A.VOWELS:
                v = bare[:i] + unicodedata.normalize("NFC", ch + tones[0]) + bare[i + 1:]
                if A.canonical(v) == word:
                    out.add(v)
    return out


class Highlighter:
    """Finds the query's words in original text with one regular expression: in approximate mode
    each letter stands for all its accented forms ('dang' finds 'Đăng'), in exact mode only the
    word's own spellings (both tone placements). Boundaries follow the index's tokenizer, so a
    glued 'gianPhí' marks 'Phí'."""

    def __init__(self, terms: set[str], exact: bool):
        self.key = A.canonical if exact else A.folded
        self.terms = terms
        if exact:
            alts = sorted({v for t in terms for v in _tone_variants(t)}, key=len, reverse=True)
            body = "|".join(map(re.escape, alts))
        else:
            alts = sorted(terms, key=len, reverse=True)
            body = "|".join(_any_accent(t) for t in alts)
        self.re = re.compile(body, re.IGNORECASE) if alts else None

    def matches(self, text: str) -> list[tuple[int, int, str]]:
        if self.re is None or not text:
            return []
        out = []
        for m in self.re.finditer(text, 0, SCAN):
            s, e = m.span()
            if _boundary(text, s) and _boundary(text, e):
                k = self.key(m.group(0))
                if k in self.terms:
                    out.append((s, e, k))
                    if len(out) >= MAX_SPANS:
                        break
        return out

    def mark(self, text: str, spans: list[tuple[int, int, str]], start: int = 0, end: int | None = None) -> str:
        end = len(text) if end is None else end
        out, pos, is_open = [], start, False
        inside = [s for s in spans if s[0] >= start and s[1] <= end]
        for i, (s, e, _k) in enumerate(inside):
            out.append(html.escape(text[pos:s], quote=False))
            # neighbouring words separated by spaces share one <mark>
            joined = i + 1 < len(inside) and text[e:inside[i + 1][0]].isspace()
            if not is_open:
                out.append("<mark>")
                is_open = True
            out.append(html.escape(text[s:e], quote=False))
            if not joined:
                out.append("</mark>")
                is_open = False
            pos = e
        out.append(html.escape(text[pos:end], quote=False))
        return "".join(out)

    def snippet(self, title: str, body: str, width: int = WIDTH) -> str:
        spans = self.matches(body)
        if not spans:
            tspans = self.matches(title)
            if tspans:
                return self.mark(title, tspans)
            return html.escape(_cut(body, width), quote=False)
        # the window holding the most distinct matched words, then the most matches
        best, best_i = (-1, -1), 0
        for i, (s, _e, _k) in enumerate(spans[:300]):
            limit = max(0, s - width // 5) + width
            keys, count = set(), 0
            for _s2, e2, k2 in spans[i:]:
                if e2 > limit:
                    break
                keys.add(k2)
                count += 1
            if (len(keys), count) > best:
                best, best_i = (len(keys), count), i
        first = spans[best_i][0]
        start = max(0, first - width // 5)
        if start > 0:  # begin and end on word boundaries
            sp = body.find(" ", start, first)
            start = sp + 1 if sp != -1 else first
        end = min(len(body), start + width)
        if end < len(body):
            sp = body.rfind(" ", max(start, end - 30), end)
            if sp > start:
                end = sp
        text = self.mark(body, spans, start, end).replace("\n", " ")
        return ("…" if start > 0 else "") + text + ("…" if end < len(body) else "")


def _cut(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    if len(text) <= width:
        return text
    sp = text.rfind(" ", 0, width)
    return text[:sp if sp > width // 2 else width] + "…"
