"""Vietnamese analysis of the search engine: NFC, one tone placement, folding (đ and double-marked
letters included), syllable tokens of run-together text, the query parser and the highlighter."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest

from ketnoi.knowledge.search import analysis as A
from ketnoi.knowledge.search.highlight import Highlighter


@pytest.mark.parametrize("old,new", [("hòa", "hoà"), ("Hòa", "hoà"), ("thủy", "thuỷ"), ("khỏe", "khoẻ"),
                                     ("ủy", "uỷ"), ("tòa", "toà"), ("xóa", "xoá"), ("hoà", "hoà")])
def test_tone_placement_variants_share_one_canonical_form(old, new):
    assert A.canonical(old) == new
    assert A.analyse(old) == [new]


@pytest.mark.parametrize("word", ["người", "quý", "gì", "giữ", "hoạt", "tuổi", "nghiêng", "của", "hoàn", "thuở"])
def test_canonical_leaves_standard_spellings_alone(word):
    assert A.canonical(word) == word


def test_canonical_leaves_run_together_words_alone():
    assert A.canonical("khaisố") == "khaisố"  # two syllables glued: no single tone place


def test_nfc_and_nfd_input_give_the_same_tokens():
    nfd = unicodedata.normalize("NFD", "Đăng ký kết hôn, cấp giấy")
    assert A.analyse(nfd) == A.analyse("Đăng ký kết hôn, cấp giấy") == ["đăng", "ký", "kết", "hôn", "cấp", "giấy"]


@pytest.mark.parametrize("word,folded", [("Đăng", "dang"), ("đ", "d"), ("cấp", "cap"), ("giấy", "giay"),
                                         ("kết", "ket"), ("Ủy", "uy"), ("NGHIỆP", "nghiep"), ("ưu", "uu"),
                                         ("ODA", "oda")])
def test_folding_removes_every_mark_and_folds_d(word, folded):
    assert A.folded(word) == folded


def test_fold_keeps_offsets():
    text = "Thời gianPhí: ĐĂNG KÝ"
    assert len(A.fold(text)) == len(text)


def test_tokens_split_run_together_cells_and_keep_acronyms():
    assert A.tokens("Thời gianPhí, lệ phíMô tả") == ["Thời", "gian", "Phí", "lệ", "phí", "Mô", "tả"]
    assert A.tokens("ODA QĐ/0001-BCA 1.000894 tiếp1Miễn") == ["ODA", "QĐ", "0001", "BCA", "1", "000894", "tiếp",
                                                           "1", "Miễn"]


def test_whole_text_analysis_equals_token_by_token():
    text = "Hòa giải THỦY lợi, Thuỷ điện; khoẻ Khỏe gianPhí Ủy ban 68/2013/TT-BCA"
    assert A.analyse(text) == [A.canonical(t) for t in A.tokens(A.normalize(text))]


def test_bigrams():
    assert A.bigrams(["dang", "ky", "ket"]) == ["dang_ky", "ky_ket"]


def test_question_words_are_dropped_and_bigrams_stay_within_the_question():
    q = A.parse_query("Làm sao để xin giấy phép qua lại biên giới?")
    assert q.terms == ["xin", "giay", "phep", "qua", "lai", "bien", "gioi"]
    assert "de_xin" not in q.bigrams and "giay_phep" in q.bigrams
    q = A.parse_query("Lệ phí đăng ký kinh doanh là bao nhiêu?")
    assert q.terms == ["le", "phi", "dang", "ky", "kinh", "doanh"]


def test_unaccented_queries_keep_ambiguous_syllables():
    # 'can' may be 'cần' (need) or 'cán' (cán bộ): without accents it stays
    assert "can" in A.parse_query("can bo xa").terms
    assert A.parse_query("tôi cần đăng ký").terms == ["dang", "ky"]  # with accents 'cần' is known
    assert A.parse_query("cần gì").terms == ["can", "gi"]  # nothing but question words: keep them
    assert A.parse_query("lam sao de dang ky ket hon").terms == ["dang", "ky", "ket", "hon"]


def test_exact_queries():
    q = A.parse_query('Thủ tục "đăng ký" hòa giải là gì?', mode="exact")
    assert q.phrases == [["đăng", "ký"]]
    assert q.required == ["hoà", "giải", "đăng", "ký"]  # question words out, tone placement canonical
    assert q.terms == ["dang", "ky", "hoa", "giai"]


def test_colloquial_words_expand_at_a_lower_weight():
    q = A.parse_query("cấp lại sổ đỏ")
    assert {"chung", "nhan", "quyen", "dat"} <= set(q.terms)
    assert q.weights["dat"] == 0.5 and q.weights["cap"] == 1.0


def _strip_marks(s: str) -> str:
    return html.unescape(re.sub(r"</?mark>", "", s))


def test_highlight_marks_the_accented_original_for_an_unaccented_query():
    body = "Nộp tờ khai ĐĂNG KÝ kết hôn <mẫu> & giấy tờ; đăngký không phải là một từ"
    h = Highlighter(A.parse_query("dang ky ket hon").highlight, exact=False)
    snip = h.snippet("", body)
    assert "<mark>ĐĂNG KÝ kết hôn</mark>" in snip
    assert "&lt;mẫu&gt; &amp;" in snip
    assert "đăngký" in _strip_marks(snip) and "<mark>đăngký" not in snip
    assert _strip_marks(snip) == body
    for s, e, _k in h.matches(body):  # offsets point at the words themselves
        assert A.folded(body[s:e]) in {"dang", "ky", "ket", "hon"}


def test_highlight_inside_run_together_cells():
    h = Highlighter(A.parse_query("le phi").highlight, exact=False)
    assert h.snippet("", "Thời gianPhí, lệ phíMô tả") == "Thời gian<mark>Phí</mark>, <mark>lệ phí</mark>Mô tả"


def test_exact_highlight_marks_both_tone_placements_only():
    h = Highlighter(A.parse_query("hoà giải", mode="exact").highlight, exact=True)
    snip = h.snippet("", "Hòa giải, hoà giải, hoa giai, họa giải")
    assert snip == "<mark>Hòa giải</mark>, <mark>hoà giải</mark>, hoa giai, họa <mark>giải</mark>"


def test_long_snippets_are_cut_on_word_boundaries():
    body = ("Lorem ipsum dolor sit amet " * 40) + "đăng ký kết hôn" + (" consectetur adipiscing" * 40)
    snip = Highlighter(A.parse_query("ket hon").highlight, exact=False).snippet("", body)
    assert snip.startswith("…") and snip.endswith("…") and len(_strip_marks(snip)) <= 230
    assert "<mark>kết hôn</mark>" in snip
    assert _strip_marks(snip).strip("…") in body
