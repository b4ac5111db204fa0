"""SMS encoding (SMS-02): GSM 03.38 / UCS-2 choice, septet counting, splitting with concatenation UDH
(TS 23.040 §9.2.3.24.1), decoding of received payloads and reassembly — checked byte for byte."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ketnoi.sms.providers import encoding as E
from ketnoi.sms.providers.reassembly import MISSING, Reassembler

VI = ("Kính gửi ông/bà Nguyễn Văn An: phản ánh về việc ngập úng tại phường Cầu Giấy đã được tiếp nhận "
      "và chuyển đến Ủy ban nhân dân quận xử lý trong 05 ngày làm việc. Mã phản ánh: PA-2026-000123.")


def test_gsm7_basic_and_extension_bytes():
    assert E.gsm7_encode("@£$") == b"\x00\x01\x02"
    assert E.gsm7_encode("Hello") == b"\x48\x65\x6c\x6c\x6f"
    assert E.gsm7_encode("§¿") == b"\x5f\x60"  # smpplib's table gets these wrong
    assert E.gsm7_encode("€[]{}") == b"\x1b\x65\x1b\x3c\x1b\x3e\x1b\x28\x1b\x29"
    assert E.gsm7_encode("`") is None and E.gsm7_encode("ả") is None
    assert E.septet_count("a€") == 3 and E.septet_count("Đ") is None


def test_vietnamese_with_diacritics_is_ucs2_and_split_in_67_unit_parts():
    enc = E.encode(VI, reference=0x2A)
    assert enc.encoding == "ucs2" and enc.data_coding == 8
    assert len(VI) > 134 and enc.parts == -(-len(VI) // 67)
    assert [len(p) for p in enc.payloads[:-1]] == [134] * (enc.parts - 1)
    assert enc.udhs == tuple(bytes([5, 0, 3, 0x2A, enc.parts, i]) for i in range(1, enc.parts + 1))
    assert b"".join(enc.payloads).decode("utf-16-be") == VI
    assert enc.short_messages()[0][:6] == b"\x05\x00\x03\x2a" + bytes([enc.parts, 1])


def test_single_part_limits():
    assert E.encode("a" * 160).parts == 1 and E.encode("a" * 161).parts == 2
    assert E.encode("ả" * 70).parts == 1 and E.encode("ả" * 71).parts == 2
    assert E.encode("€" * 80).parts == 1  # 160 septets
    assert E.encode("€" * 80 + "a").parts == 2
    one = E.encode("Xin chao")
    assert one.udhs == (b"",) and one.short_messages() == [b"Xin chao"]


def test_escape_pair_never_split_across_parts():
    text = "a" * 152 + "€" + "b" * 10  # the ESC would be septet 153 of part one
    enc = E.encode(text)
    assert enc.encoding == "gsm7"
    assert enc.payloads[0] == b"a" * 152
    assert enc.payloads[1][:2] == b"\x1b\x65"
    assert "".join(enc.texts) == text


def test_surrogate_pair_never_split_across_parts():
    text = "ả" * 66 + "😀" + "b" * 5
    enc = E.encode(text)
    assert len(enc.payloads[0]) == 132 and enc.payloads[1][:4] == "😀".encode("utf-16-be")
    assert all(p.decode("utf-16-be") for p in enc.payloads)  # every part decodes on its own
    assert "".join(enc.texts) == text


def test_too_many_parts_is_refused_in_vietnamese():
    with pytest.raises(E.TooLong, match="Tin nhắn quá dài: cần 3 phần, tối đa 2 phần"):
        E.encode("ả" * 150, max_parts=2)


def test_reference_is_stable_per_message():
    assert E.reference_for("m-1") == E.reference_for("m-1")
    assert len({E.reference_for(f"m-{i}") for i in range(100)}) > 50


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=700))
def test_any_text_roundtrips_through_parts(text):
    try:
        enc = E.encode(text)
    except E.TooLong:
        return
    assert "".join(enc.texts) == text
    limit = 134 if enc.encoding == "ucs2" else 153
    if enc.parts > 1:
        assert all(len(p) <= limit for p in enc.payloads)
        joined = b"".join(enc.payloads)
        assert (joined.decode("utf-16-be") if enc.encoding == "ucs2" else E.gsm7_decode(joined)) == text


def test_split_udh_8_and_16_bit_references():
    c, body = E.split_udh(b"\x05\x00\x03\x2a\x02\x01hello")
    assert (c.reference, c.total, c.seq, body) == (0x2A, 2, 1, b"hello")
    c, body = E.split_udh(b"\x06\x08\x04\x12\x34\x03\x02xy")
    assert (c.reference, c.total, c.seq, body) == (0x1234, 3, 2, b"xy")
    c, body = E.split_udh(b"\x03\x0a\x01\x00" + b"z")  # another IE only
    assert c is None and body == b"z"
    with pytest.raises(ValueError):
        E.split_udh(b"\x09\x00\x03")


def test_decode_payload_by_data_coding():
    assert E.decode_payload("Phản ánh".encode("utf-16-be"), 8) == "Phản ánh"
    assert E.decode_payload(b"\x00\x1b\x65", 0) == "@€"
    assert E.decode_payload(b"caf\xe9", 3) == "café"
    assert E.decode_payload(b"\x01\x02", 4) == "0102"
    assert E.decode_payload("ả".encode("utf-16-be"), 0x18) == "ả"  # general group, UCS-2 bits


def test_reassembly_joins_bytes_so_split_characters_decode():
    r = Reassembler(timeout=10)
    data = ("ả" * 66 + "😀").encode("utf-16-be")
    first, second = data[:134], data[134:]  # the surrogate pair is split across the parts
    p = r.add("849", "1022", 7, 2, 2, second, 8, "t2", now=0)
    assert not p.complete
    p = r.add("849", "1022", 7, 2, 1, first, 8, "t1", now=1)
    assert p.complete and p.text() == "ả" * 66 + "😀"


def test_reassembly_marks_missing_parts_and_expires():
    r = Reassembler(timeout=10)
    r.add("849", "1022", 1, 3, 1, b"abc", 0, None, now=0)
    r.add("849", "1022", 1, 3, 3, b"xyz", 0, None, now=0)
    assert r.expired(5) == []
    (p,) = r.expired(10)
    assert p.text() == "abc" + MISSING + "xyz" and len(r) == 0
