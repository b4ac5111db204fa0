"""Importing procedures from the portal's JSON Lines: mapping to columns and answers, per-line error
report without aborting, upsert by code keeping hand-written answers, batches with progress, the
index kept in step, and the `ketnoi knowledge` commands."""

from __future__ import annotations

import gzip
import json

import pytest
from sqlalchemy import func, select

from ketnoi.knowledge import search
from ketnoi.knowledge.importer import SECTIONS, import_jsonl
from ketnoi.knowledge.models import Answer, Procedure
from tests.knowledge.conftest import CORPUS, make_organization
from tests.test_cli import run


def row(code="9.100001", title="Cấp phép bắn pháo hoa Xanadu", **extra):
    base = {"ma_thu_tuc": code, "ten_thu_tuc": title, "bo_nganh": "bo-van-hoa", "linh_vuc": "Văn hóa",
            "cap_thuc_hien": "Cấp tỉnh", "loai_thu_tuc": "TTHC", "doi_tuong_thuc_hien": "Tổ chức",
            "co_quan_thuc_hien": "Sở Văn hóa", "co_quan_co_tham_quyen": "UBND tỉnh", "so_quyet_dinh": "12/QĐ",
            "detail_url": "https://dichvucong.gov.vn/x", "thu_tuc_lien_quan": "Không có thông tin",
            "dia_chi_tiep_nhan": "Số 1 Tràng Tiền",
            "trinh_tu_thuc_hien": "Bước 1: Nộp hồ sơ.\nBước 2: Nhận kết quả <ngay> & luôn.",
            "cach_thuc_thuc_hien": "Trực tiếp: 5 ngày; lệ phí 100.000 đồng", "thanh_phan_ho_so": "Đơn đề nghị",
            "yeu_cau_dieu_kien": "Không có thông tin", "can_cu_phap_ly": "Luật Di sản văn hóa", "ket_qua_xu_ly": "Giấy phép",
            "raw_text": "toàn văn trang"}
    base.update(extra)
    return base


def write(path, lines, gz=False):
    data = "\n".join(x if isinstance(x, str) else json.dumps(x, ensure_ascii=False) for x in lines) + "\n"
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as f:
            f.write(data)
    else:
        path.write_text(data, encoding="utf-8")
    return path


def procedure(database, org, code):
    with database.session() as s:
        p = s.scalar(select(Procedure).where(Procedure.organization_id == org, Procedure.code == code))
        if p is None:
            return None
        return p, [(a.title, a.content) for a in p.answers]


def found(database, org, q, mode="approximate"):
    with database.session() as s:
        return [h.code for h in search.search_procedures(s, org, q, mode=mode).items]


def test_corpus_import_maps_fields_and_sections(corpus):
    r = corpus.result
    assert (r.read, r.inserted, r.updated, r.errors) == (2642, 2642, 0, [])
    with corpus.db.session() as s:
        p = s.scalar(select(Procedure).where(Procedure.organization_id == corpus.organization_id,
                                             Procedure.code == "1.000894"))
        assert p.title == "Thủ tục đăng ký kết hôn" and p.status == "published"
        assert (p.type_doc, p.field, p.level) == ("bo-tu-phap", "Hộ tịch", "Cấp xã")
        assert p.source_url.startswith("https://dichvucong.gov.vn/") and p.decision_no
        assert "raw_text" not in p.details
        titles = [a.title for a in p.answers]
        assert titles and set(titles) <= {t for _, t in SECTIONS} and titles[0] == "Trình tự thực hiện"
        assert all(a.content.startswith("<p>") and a.status == "published" for a in p.answers)
        n = s.scalar(select(func.count()).select_from(Procedure)
                     .where(Procedure.organization_id == corpus.organization_id))
        assert n == 2642


@pytest.mark.parametrize("gz", [False, True])
def test_bad_lines_are_reported_and_the_rest_imported(database, kb_org, tmp_path, gz):
    path = write(tmp_path / ("in.jsonl.gz" if gz else "in.jsonl"), [
        row(),
        "{not json",
        row(code=""),
        row(title="   "),
        '["a", "list"]',
        row(code="9.100002", title="Đăng ký nuôi ong Yokozuna", bo_nganh="", yeu_cau_dieu_kien="Có tổ ong"),
    ], gz=gz)
    r = import_jsonl(database.session, path, kb_org)
    assert (r.read, r.inserted, r.updated) == (6, 2, 0)
    assert [(e.line, e.message.split(" (")[0] if e.line == 2 else e.message) for e in r.errors] == [
        (2, "JSON không hợp lệ"), (3, "thiếu mã thủ tục (ma_thu_tuc)"), (4, "thiếu tên thủ tục (ten_thu_tuc)"),
        (5, "mỗi dòng phải là một đối tượng JSON")]
    p, answers = procedure(database, kb_org, "9.100001")
    assert (p.agency, p.authority, p.subjects, p.procedure_type) == ("Sở Văn hóa", "UBND tỉnh", "Tổ chức", "TTHC")
    assert p.details == {"dia_chi_tiep_nhan": "Số 1 Tràng Tiền", "bo_nganh": "bo-van-hoa"}
    # 'Không có thông tin' sections make no answer; text is escaped, one <p> per line
    assert [t for t, _ in answers] == ["Trình tự thực hiện", "Cách thức thực hiện (thời hạn, phí, lệ phí)",
                                       "Thành phần hồ sơ", "Căn cứ pháp lý", "Kết quả xử lý"]
    assert answers[0][1] == "<p>Bước 1: Nộp hồ sơ.</p><p>Bước 2: Nhận kết quả &lt;ngay&gt; &amp; luôn.</p>"
    p2, answers2 = procedure(database, kb_org, "9.100002")
    assert p2.type_doc == "tthc" and "Yêu cầu, điều kiện" in [t for t, _ in answers2]
    assert found(database, kb_org, "phao hoa")[0] == "9.100001"
    assert found(database, kb_org, "nuoi ong") == ["9.100002"]


def test_reimport_updates_by_code_and_keeps_hand_written_answers(database, kb_org, tmp_path):
    import_jsonl(database.session, write(tmp_path / "a.jsonl", [row()]), kb_org)
    with database.session() as s:
        p = s.scalar(select(Procedure).where(Procedure.code == "9.100001"))
        p.answers.append(Answer(title="Ghi chú của tổng đài", content="<p>Gọi 1022</p>", sort_order=99))
        s.flush()
        search.index_procedure(s, p)
    changed = row(title="Cấp phép thả đèn trời Yokozuna", trinh_tu_thuc_hien="Bước 1: Nộp đơn trực tuyến.")
    r = import_jsonl(database.session, write(tmp_path / "b.jsonl", [changed, row(code="9.100003")]), kb_org)
    assert (r.inserted, r.updated, r.errors) == (1, 1, [])
    p, answers = procedure(database, kb_org, "9.100001")
    assert p.title == "Cấp phép thả đèn trời Yokozuna"
    assert ("Ghi chú của tổng đài", "<p>Gọi 1022</p>") in answers
    assert ("Trình tự thực hiện", "<p>Bước 1: Nộp đơn trực tuyến.</p>") in answers
    assert len([t for t, _ in answers if t == "Trình tự thực hiện"]) == 1
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(Procedure)) == 2
    assert found(database, kb_org, "yokozuna") == ["9.100001"]
    assert found(database, kb_org, "xanadu") == ["9.100003"]
    assert found(database, kb_org, "goi 1022") == ["9.100001"]


def test_the_same_code_twice_in_a_file_keeps_the_last(database, kb_org, tmp_path):
    path = write(tmp_path / "dup.jsonl", [row(), row(title="Tên sau cùng Yokozuna")])
    r = import_jsonl(database.session, path, kb_org, batch_size=50)
    assert (r.inserted, r.updated) == (1, 1)
    assert procedure(database, kb_org, "9.100001")[0].title == "Tên sau cùng Yokozuna"
    assert found(database, kb_org, "xanadu") == []


def test_batches_commit_with_progress(database, kb_org, tmp_path):
    path = write(tmp_path / "many.jsonl", [row(code=f"9.2{i:05d}", title=f"Thủ tục số {i} Xanadu")
                                           for i in range(7)])
    seen = []
    r = import_jsonl(database.session, path, kb_org, progress=lambda res: seen.append((res.read, res.inserted)),
                     batch_size=3)
    assert r.inserted == 7 and seen == [(3, 3), (6, 6), (7, 7)]
    with database.session() as s:
        assert search.search_procedures(s, kb_org, "xanadu").total == 7


def test_other_organizations_are_untouched(database, kb_org, tmp_path):
    other = make_organization(database, "KB-B", "Tỉnh B")
    import_jsonl(database.session, write(tmp_path / "a.jsonl", [row()]), kb_org)
    import_jsonl(database.session, write(tmp_path / "b.jsonl", [row(title="Của tỉnh B Yokozuna")]), other)
    assert procedure(database, kb_org, "9.100001")[0].title == "Cấp phép bắn pháo hoa Xanadu"
    assert found(database, kb_org, "yokozuna") == [] and found(database, other, "yokozuna") == ["9.100001"]


def test_rebuild_reindexes_everything(database, kb_org, tmp_path):
    import_jsonl(database.session, write(tmp_path / "a.jsonl", [row(), row(code="9.100002", title="Nuôi ong")]),
                 kb_org)
    with database.session() as s:
        search.backend_for(s).clear(s, None)
    assert found(database, kb_org, "xanadu") == []
    with database.session() as s:
        assert search.rebuild(s) == 2
    assert found(database, kb_org, "xanadu") == ["9.100001"]
    with database.session() as s:
        assert search.rebuild(s, kb_org) == 2
    assert found(database, kb_org, "nuôi ong", mode="exact") == ["9.100002"]


def test_cli_import_and_reindex(tmp_path, database, db_url):
    env = {"KETNOI_DATA_DIR": str(tmp_path / "data"), "KETNOI_DATABASE_URL": db_url}
    path = write(tmp_path / "in.jsonl.gz", [row(), "{oops", row(code="9.100002", title="Nuôi ong")], gz=True)
    r = run("knowledge", "import", str(path), env_extra=env)
    assert r.returncode == 1 and "chưa có tổ chức" in r.stderr
    make_organization(database, "KB-ORG")
    make_organization(database, "KB-ZZZ", "Tổ chức sau")
    r = run("knowledge", "import", str(path), "--organization", "NOPE", env_extra=env)
    assert r.returncode == 1 and "NOPE" in r.stderr
    r = run("knowledge", "import", str(path), env_extra=env)  # the first organization
    assert r.returncode == 0, r.stderr
    assert "KB-ORG" in r.stdout and "3 dòng: thêm 2" in r.stdout
    assert "Đọc 3 dòng: thêm 2 thủ tục, cập nhật 0, lỗi 1." in r.stdout
    assert "dòng 2: JSON không hợp lệ" in r.stderr
    r = run("knowledge", "import", str(path), "--organization", "KB-ZZZ", env_extra=env)
    assert r.returncode == 0 and "thêm 2 thủ tục" in r.stdout
    r = run("knowledge", "reindex", env_extra=env)
    assert r.returncode == 0 and "cho 4 thủ tục" in r.stdout
    r = run("knowledge", "reindex", "--organization", "KB-ZZZ", env_extra=env)
    assert r.returncode == 0 and "cho 2 thủ tục" in r.stdout


def test_bundled_corpus_is_the_documented_file():
    assert CORPUS.exists() and (CORPUS.parent / "README.md").read_text(encoding="utf-8").count("chatbot_tthc")
