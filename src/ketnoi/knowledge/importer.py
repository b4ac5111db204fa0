"""Importing administrative procedures from the national portal's JSON Lines export (the format of
``knowledge/data/procedures.jsonl.gz``): upsert by (organization, code), answers built from the
sections, in committed batches that index what they write, with a per-line error report."""

from __future__ import annotations

import gzip
import html
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session

from ketnoi.audit.service import record
from ketnoi.db.base import new_id, utcnow
from ketnoi.knowledge.models import Answer, Procedure
from ketnoi.knowledge.search.documents import load_procedure_docs

# (source field, answer title), in display order
SECTIONS = [
    ("trinh_tu_thuc_hien", "Trình tự thực hiện"),
    ("cach_thuc_thuc_hien", "Cách thức thực hiện (thời hạn, phí, lệ phí)"),
    ("thanh_phan_ho_so", "Thành phần hồ sơ"),
    ("yeu_cau_dieu_kien", "Yêu cầu, điều kiện"),
    ("can_cu_phap_ly", "Căn cứ pháp lý"),
    ("ket_qua_xu_ly", "Kết quả xử lý"),
]
COLUMNS = {  # Procedure column -> (source field, length limit)
    "title": ("ten_thu_tuc", 1000), "field": ("linh_vuc", 300), "level": ("cap_thuc_hien", 200),
    "agency": ("co_quan_thuc_hien", 1000), "authority": ("co_quan_co_tham_quyen", 1000),
    "procedure_type": ("loai_thu_tuc", 300), "subjects": ("doi_tuong_thuc_hien", 1000),
    "decision_no": ("so_quyet_dinh", 200), "source_url": ("detail_url", 500),
}
# kept as they are in ``details``; raw_text (the whole page again) is left out
DETAIL_FIELDS = ("thu_tuc_lien_quan", "dia_chi_tiep_nhan", "co_quan_duoc_uy_quyen", "co_quan_phoi_hop",
                 "formality_id", "bo_nganh")
NO_INFO = {"", "không có thông tin"}


@dataclass
class RowError:
    line: int
    message: str


@dataclass
class ImportResult:
    read: int = 0
    inserted: int = 0
    updated: int = 0
    errors: list[RowError] = field(default_factory=list)

    def summary(self) -> str:
        return (f"Đọc {self.read} dòng: thêm {self.inserted} thủ tục, cập nhật {self.updated}, "
                f"lỗi {len(self.errors)}.")


def paragraphs_html(text: str) -> str:
    """Plain text as escaped <p> paragraphs, one per non-empty line."""
    return "".join(f"<p>{html.escape(line.strip(), quote=False)}</p>" for line in (text or "").splitlines()
                   if line.strip())


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with open(path, "rb") as raw:
        gz = raw.read(2) == b"\x1f\x8b"
    opener = gzip.open if gz else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace") as f:
        for n, line in enumerate(f, 1):
            if line.strip():
                yield n, line


def parse_row(line: str) -> dict:
    """One corpus object as Procedure values plus its answers; ValueError says what is wrong."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise ValueError(f"JSON không hợp lệ ({e.msg}, cột {e.colno})") from None
    if not isinstance(obj, dict):
        raise ValueError("mỗi dòng phải là một đối tượng JSON")
    code = str(obj.get("ma_thu_tuc") or "").strip()
    title = str(obj.get("ten_thu_tuc") or "").strip()
    if not code:
        raise ValueError("thiếu mã thủ tục (ma_thu_tuc)")
    if not title:
        raise ValueError("thiếu tên thủ tục (ten_thu_tuc)")
    if len(code) > 50:
        raise ValueError("mã thủ tục dài quá 50 ký tự")
    values = {col: str(obj.get(src) or "").strip()[:limit] for col, (src, limit) in COLUMNS.items()}
    values["code"] = code
    values["type_doc"] = str(obj.get("bo_nganh") or "tthc").strip()[:100]
    values["details"] = {k: str(obj[k]) for k in DETAIL_FIELDS if str(obj.get(k) or "").strip().lower() not in NO_INFO}
    answers = [(title_, paragraphs_html(str(obj.get(src) or ""))) for src, title_ in SECTIONS
               if str(obj.get(src) or "").strip().lower() not in NO_INFO]
    return {"values": values, "answers": [(t, c) for t, c in answers if c]}


@contextmanager
def _session(db_factory) -> Iterator[Session]:
    made = db_factory()
    if isinstance(made, Session):
        try:
            yield made
        except BaseException:
            made.rollback()
            raise
        finally:
            made.close()
    else:
        with made as s:
            yield s


def _write_batch(db: Session, organization_id: str, batch: list[dict], result: ImportResult) -> None:
    from ketnoi.knowledge import search

    codes = [r["values"]["code"] for r in batch]
    existing = dict(db.execute(select(Procedure.code, Procedure.id).where(
        Procedure.organization_id == organization_id, Procedure.code.in_(codes))).all())
    now = utcnow()
    new_rows, new_answers, touched = [], [], []
    seen: dict[str, str] = {}
    for r in batch:
        v = r["values"]
        pid = existing.get(v["code"]) or seen.get(v["code"])
        if pid is None:
            pid = new_id()
            seen[v["code"]] = pid
            new_rows.append({**v, "id": pid, "organization_id": organization_id, "status": "published",
                             "created_at": now, "updated_at": now})
            new_answers += [{"id": new_id(), "procedure_id": pid, "title": t, "content": c, "status": "published",
                             "sort_order": i, "created_at": now, "updated_at": now}
                            for i, (t, c) in enumerate(r["answers"])]
            result.inserted += 1
        else:
            # an update replaces the imported sections and leaves answers written by hand alone
            db.execute(update(Procedure).where(Procedure.id == pid).values(**v, updated_at=now))
            titles = [t for _, t in SECTIONS]
            db.execute(delete(Answer).where(Answer.procedure_id == pid, Answer.title.in_(titles)))
            new_answers += [{"id": new_id(), "procedure_id": pid, "title": t, "content": c, "status": "published",
                             "sort_order": i, "created_at": now, "updated_at": now}
                            for i, (t, c) in enumerate(r["answers"])]
            result.updated += 1
        touched.append(pid)
    if new_rows:
        db.execute(insert(Procedure), new_rows)
    if new_answers:
        db.execute(insert(Answer), new_answers)
    db.flush()
    ids = list(dict.fromkeys(touched))
    search.index_many(db, load_procedure_docs(db, ids))


ProgressCallback = Callable[[ImportResult], None]


def import_jsonl(db_factory, path: str | Path, organization_id: str, progress: ProgressCallback | None = None,
                 batch_size: int = 200) -> ImportResult:
    """Import ``path`` (.jsonl or .jsonl.gz) into ``organization_id``. ``db_factory()`` gives a
    session or a context manager yielding one (``Database.session``); each batch is committed with
    its index entries and an audit row. Bad lines are reported in the result, never fatal."""
    path = Path(path)
    result = ImportResult()
    batch: list[dict] = []
    codes_in_batch: set[str] = set()

    def flush() -> None:
        if not batch:
            return
        before = (result.inserted, result.updated)
        with _session(db_factory) as db:
            _write_batch(db, organization_id, batch, result)
            record(db, None, "procedure.imported", "procedure", "", organization_id=organization_id,
                   actor_name="ketnoi knowledge import",
                   summary=f"Nhập {path.name}: thêm {result.inserted - before[0]}, "
                           f"cập nhật {result.updated - before[1]} thủ tục")
            db.commit()
        batch.clear()
        codes_in_batch.clear()
        if progress:
            progress(result)

    for line_no, line in _lines(path):
        result.read += 1
        try:
            row = parse_row(line)
        except ValueError as e:
            result.errors.append(RowError(line_no, str(e)))
            continue
        if row["values"]["code"] in codes_in_batch:  # the same code twice: the later line wins
            flush()
        batch.append(row)
        codes_in_batch.add(row["values"]["code"])
        if len(batch) >= batch_size:
            flush()
    flush()
    with _session(db_factory) as db:
        from ketnoi.knowledge import search

        search.backend_for(db).after_bulk(db)
        db.commit()
    return result
