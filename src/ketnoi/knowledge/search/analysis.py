"""Vietnamese text analysis shared by every search backend: NFC, one tone placement, accent folding
(đ→d included), syllable tokens, syllable bigrams, a small colloquial thesaurus, and the query parser.

All of it runs in Python so that SQLite FTS5 and PostgreSQL index exactly the same tokens; the
databases only ever see pre-analysed, space-separated tokens (README of the corpus: FTS5's
remove_diacritics misses double-marked letters and never folds đ; unaccent() is not IMMUTABLE)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from itertools import pairwise

# Tone marks (thanh điệu) as combining characters; vowel-quality marks (â ă ê ô ơ ư) are not tones.
TONES = {"\u0300", "\u0301", "\u0303", "\u0309", "\u0323"}
VOWELS = set("aăâeêioôơuưy")
_MARKED = set("ăâêôơư")


def _letter_classes() -> tuple[str, str]:
    upper, lower = [], []
    for cp in list(range(0x41, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        if ch.isalpha():
            (upper if ch.isupper() else lower if ch.islower() else []).append(ch)
    return "".join(upper), "".join(lower)


_U, _L = _letter_classes()
# A token is a syllable-like run: a capital starts a new one ('gianPhí' → gian, Phí: the corpus has
# tables flattened into run-together cells), acronyms stay whole ('ODA', 'BCA'), digits apart.
TOKEN_RE = re.compile(f"[{_U}]+(?=[{_U}][{_L}])|[{_U}]?[{_L}]+|[{_U}]+|[0-9]+|[^\\W_0-9{_U}{_L}]+")
_SPACES_RE = re.compile(r"[\u00a0\u2000-\u200b\u202f\u205f\u3000\ufeff]")
# open syllables with the tone on the first of oa/oe/uy ('hòa', 'thủy'): the old placement
_OLD_STYLE_RE = re.compile(r"[òóỏõọ][ae]|[ùúủũụ]y")


def _fold_table() -> dict[int, str]:
    """Lower-casing accent folding as a 1:1 character map, so folded text keeps the offsets of the
    NFC text it came from (highlighting relies on it)."""
    table: dict[int, str] = {}
    for cp in list(range(0x41, 0x5B)) + list(range(0xC0, 0x250)) + list(range(0x1E00, 0x1F00)):
        ch = chr(cp)
        base = unicodedata.normalize("NFD", ch)[0].lower()
        if base.isascii() and base.isalpha():
            table[cp] = base
    for ch in "đĐ":
        table[ord(ch)] = "d"
    return table


FOLD_TABLE = _fold_table()


def normalize(text: str) -> str:
    """NFC, with exotic spaces made plain (same length as the NFC text)."""
    return _SPACES_RE.sub(" ", unicodedata.normalize("NFC", text or ""))


def fold(text: str) -> str:
    """Lower-case and accent-free: 'Đăng ký' → 'dang ky' (same length for Vietnamese NFC text)."""
    return text.translate(FOLD_TABLE).lower() if not text.isascii() else text.lower()


def has_diacritics(text: str) -> bool:
    return fold(text) != text.lower()


def _tone_target(letters: str) -> int | None:
    """Index of the vowel that carries the tone, one fixed convention ('new style': hoà, thuỷ,
    khoẻ; marked vowels first: thuở, người). Any fixed rule unites hoà/hòa; this one also reads right."""
    start = 0
    if letters.startswith("qu") or letters.startswith("gi") and len(letters) > 2 and letters[2] in VOWELS:
        start = 2
    i = start
    while i < len(letters) and letters[i] not in VOWELS:
        i += 1
    j = i
    while j < len(letters) and letters[j] in VOWELS:
        j += 1
    if i == j:  # 'gì', 'quỳ': the i/u of gi/qu is the only vowel
        k = start - 1
        return k if k >= 0 and letters[k] in VOWELS else None
    cluster = letters[i:j]
    marked = [k for k, c in enumerate(cluster) if c in _MARKED]
    if marked:
        return i + marked[-1]
    if j < len(letters) or len(cluster) == 1:  # closed syllable: last vowel
        return j - 1
    if cluster in ("oa", "oe", "uy"):
        return i + 1
    if len(cluster) == 3:
        return i + 1
    return i


def _vowel_groups(word: str) -> int:
    groups, prev = 0, False
    for c in word:
        v = c in VOWELS
        groups += v and not prev
        prev = v
    return groups


@lru_cache(maxsize=200_000)
def canonical(word: str) -> str:
    """Lower-cased NFC syllable with its tone mark at the canonical place; other words unchanged.
    Same length as the input, so it can be applied inside a text without moving offsets."""
    low = word.lower()
    if low.isascii():
        return low
    nfd = unicodedata.normalize("NFD", low)
    tones = [c for c in nfd if c in TONES]
    if len(tones) != 1:
        return low
    bare = unicodedata.normalize("NFC", "".join(c for c in nfd if c not in TONES))
    if len(bare) != len(low) or not bare.isalpha() or _vowel_groups(bare) != 1:
        return low  # not one Vietnamese syllable: leave it as written
    target = _tone_target(bare)
    if target is None:
        return low
    out = bare[:target] + unicodedata.normalize("NFC", bare[target] + tones[0]) + bare[target + 1:]
    return out if len(out) == len(low) else low


_STRIP_MARKS = {cp: None for cp in range(0x300, 0x370)}


@lru_cache(maxsize=200_000)
def folded(word: str) -> str:
    """Folded token: no accents, đ→d, lower case (stray combining marks dropped)."""
    return fold(unicodedata.normalize("NFC", word)).translate(_STRIP_MARKS)


def tokens(text: str) -> list[str]:
    """Raw syllable tokens of NFC text (original case and accents)."""
    return TOKEN_RE.findall(text)


def _canonical_text(joined: str) -> str:
    """Canonical tone placement over a lower-case, space-separated token string; only words with
    the old placement of oa/oe/uy can differ from the new one, so only those are looked at."""
    out, pos = [], 0
    for m in _OLD_STYLE_RE.finditer(joined):
        start = joined.rfind(" ", 0, m.start()) + 1
        if start < pos:
            continue
        end = joined.find(" ", m.end())
        end = len(joined) if end == -1 else end
        out += [joined[pos:start], canonical(joined[start:end])]
        pos = end
    if not out:
        return joined
    out.append(joined[pos:])
    return "".join(out)


def canonical_text(text: str) -> str:
    """Canonical tokens of a text joined by spaces, computed on the whole string (the indexing hot
    path); the same as [canonical(t) for t in tokens(normalize(text))] for Vietnamese words."""
    joined = " ".join(TOKEN_RE.findall(normalize(text))).lower()
    return _canonical_text(joined) if not joined.isascii() else joined


def analyse(text: str) -> list[str]:
    """Canonical tokens of a text."""
    return canonical_text(text).split()


def exact_tokens(text: str) -> list[str]:
    """Tokens for the accent-sensitive index: canonical tone placement, lower case."""
    return analyse(text)


def folded_tokens(text: str) -> list[str]:
    """Tokens for the accent-insensitive index."""
    return [folded(t) for t in analyse(text)]


def bigrams(toks: list[str]) -> list[str]:
    """Adjacent syllable pairs as single tokens ('dang_ky'): Vietnamese words are mostly two
    syllables, so a bigram matches the word, and rewards the query's word order (proximity 1)."""
    return [f"{a}_{b}" for a, b in pairwise(toks)]


# --- queries ---------------------------------------------------------------------------------

# Question and filler phrases of citizens' questions: no content, and rare in the procedure texts,
# so BM25 would otherwise give them a high IDF. Matched as whole phrases, longest first, on the
# accented form (and on the folded form only when the query has no accents at all).
QUESTION_PHRASES = """
làm sao để|làm sao|làm thế nào để|làm thế nào|như thế nào|thế nào|ra sao|bằng cách nào|cách nào
là gì|là bao nhiêu|bao nhiêu|bao lâu|mất bao lâu|khi nào|ở đâu|tại đâu|những gì|cái gì|gì|nào
có phải|phải không|hay không|được không|có mất|có được|có thể|có cần|cần phải|cần những|cần gì
tôi cần|tôi phải|tôi muốn|tôi là|tôi|chúng tôi|của tôi|của mình|mình|em|anh|chị|ạ|vậy|nhé|nữa
xin hỏi|cho hỏi|hỏi|muốn|cần|phải|làm gì|làm|để|thì|mà|và|hoặc|hay|là|của|cho|với|các|những
một|đã|đang|sắp|sẽ|bị|được|có|không|này|đó|kia|khi|nếu|thủ tục|quy trình|hồ sơ gồm|giấy tờ gì
"""
# Single syllables whose folded form is also a frequent content syllable are only dropped when
# the query carries accents (e.g. 'cần' folds to 'can' as in 'cán bộ'; 'tôi' to 'toi' as in 'tội').
_AMBIGUOUS_WHEN_FOLDED = {"can", "toi", "co", "la", "cho", "de", "ma", "hay", "khi", "em", "anh", "chi",
                          "phai", "lam", "duoc", "bi", "mot", "da", "dang", "sap", "se", "nay", "do",
                          "kia", "neu", "muon", "hoi", "nua", "vay", "thi", "va", "cua", "voi", "cac",
                          "nhung", "mat", "minh", "hoac", "gi", "nao", "a"}


def _phrase_set(accented: bool) -> list[tuple[str, ...]]:
    out: set[tuple[str, ...]] = set()
    for line in QUESTION_PHRASES.strip().splitlines():
        for p in line.split("|"):
            toks = tuple(canonical(t) for t in tokens(normalize(p)))
            if not toks:
                continue
            if accented:
                out.add(toks)
            else:
                f = tuple(folded(t) for t in toks)
                if len(f) > 1 or f[0] not in _AMBIGUOUS_WHEN_FOLDED:
                    out.add(f)
    return sorted(out, key=len, reverse=True)


_PHRASES = {True: _phrase_set(True), False: _phrase_set(False)}

# A small thesaurus of everyday words for terms of the procedure texts (colloquial phrasing).
# General vocabulary of citizens, not derived from the evaluation questions' answers.
COLLOQUIAL = {
    "sổ đỏ": "giấy chứng nhận quyền sử dụng đất",
    "sổ hồng": "giấy chứng nhận quyền sở hữu nhà ở",
    "bằng lái": "giấy phép lái xe",
    "cmnd": "chứng minh nhân dân",
    "cccd": "căn cước công dân",
    "xe máy": "mô tô xe gắn máy",
    "làm lại": "cấp lại",
    "qua mạng": "trực tuyến",
    "online": "trực tuyến",
    "công ty": "doanh nghiệp",
    "lấy vợ": "kết hôn",
    "lấy chồng": "kết hôn",
    "ly dị": "ly hôn",
}


@lru_cache(maxsize=1)
def _colloquial() -> list[tuple[tuple[str, ...], list[str]]]:
    out = []
    for k, v in COLLOQUIAL.items():
        out.append((tuple(folded(t) for t in tokens(normalize(k))), [folded(t) for t in tokens(normalize(v))]))
    return sorted(out, key=lambda e: len(e[0]), reverse=True)


@dataclass
class Query:
    """An analysed query.

    ``terms`` (folded syllables, question words dropped) and ``bigrams`` drive the ranking in both
    modes; exact mode adds ``required`` syllables and quoted ``phrases`` in canonical accented form,
    which every match must contain. ``highlight`` holds the forms to mark in snippets: folded in
    approximate mode, canonical in exact mode."""

    text: str
    mode: str
    accented: bool
    terms: list[str] = field(default_factory=list)
    weights: dict[str, float] = field(default_factory=dict)  # term -> weight (expansions < 1)
    bigrams: list[str] = field(default_factory=list)
    required: list[str] = field(default_factory=list)
    phrases: list[list[str]] = field(default_factory=list)
    expansions: dict[str, list[str]] = field(default_factory=dict)  # misspelt term -> corrections
    highlight: set[str] = field(default_factory=set)

    @property
    def empty(self) -> bool:
        return not self.terms


def _drop_question_words(toks: list[str], accented: bool) -> list[tuple[int, str]]:
    """(index, token) of the tokens left after removing question phrases, longest match first."""
    key = [canonical(t) for t in toks] if accented else [folded(t) for t in toks]
    phrases = _PHRASES[accented]
    keep = [True] * len(toks)
    i = 0
    while i < len(toks):
        for p in phrases:
            if tuple(key[i:i + len(p)]) == p:
                for k in range(i, i + len(p)):
                    keep[k] = False
                i += len(p) - 1
                break
        i += 1
    kept = [(i, t) for i, t in enumerate(toks) if keep[i]]
    return kept if kept else list(enumerate(toks))  # only question words: search them anyway


_QUOTED_RE = re.compile(r'"([^"]+)"|\u201c([^\u201d]+)\u201d')


def parse_query(q: str, mode: str = "approximate") -> Query:
    """Analyse a user query.

    approximate: accent-folded content syllables, their bigrams (only between syllables adjacent in
    the question), and colloquial expansions; any of them may match.
    exact: additionally, every syllable and every quoted phrase must occur with its accents."""
    text = normalize(q).strip()
    accented = has_diacritics(text)
    query = Query(text=text, mode=mode, accented=accented)
    toks = tokens(text)
    if not toks:
        return query
    if mode == "exact":
        # quoted phrases match as written; outside them, every word but the question words
        for m in _QUOTED_RE.finditer(text):
            ph = analyse(m.group(1) or m.group(2))
            if ph:
                query.phrases.append(ph)
        rest = tokens(_QUOTED_RE.sub(" ", text))
        words = [t for _, t in _drop_question_words(rest, accented)] if rest else []
        query.required = list(dict.fromkeys(analyse(" ".join(words)) + [t for p in query.phrases for t in p]))
        query.phrases = [p for p in query.phrases if len(p) > 1]
        query.highlight = set(query.required)
        kept = [(i, t) for i, t in enumerate(toks) if canonical(t) in query.highlight]
    else:
        kept = _drop_question_words(toks, accented)
    query.terms = list(dict.fromkeys(folded(t) for _, t in kept))
    query.weights = {t: 1.0 for t in query.terms}
    query.bigrams = list(dict.fromkeys(f"{folded(a)}_{folded(b)}" for (i, a), (j, b) in pairwise(kept)
                                       if j == i + 1))
    if mode == "exact":
        return query
    all_folded = [folded(t) for t in toks]
    for src, repl in _colloquial():
        n = len(src)
        if any(tuple(all_folded[i:i + n]) == src for i in range(len(all_folded) - n + 1)):
            for t in repl:
                if t not in query.weights:
                    query.terms.append(t)
                    query.weights[t] = 0.5
            for g in bigrams(repl):
                if g not in query.bigrams:
                    query.bigrams.append(g)
    query.highlight = set(query.terms)
    return query
