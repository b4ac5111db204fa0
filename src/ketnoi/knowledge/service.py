"""Rules of the knowledge base (KB-02…11, 21, 22): procedures with their answers and attachments,
events, the rich-text sanitizer, and the plain-text/SMS rendering of answers.

Every write checks the actor's organization, validates (Vietnamese messages, nothing written on
failure), writes an audit row and updates the search index in the same transaction.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from ketnoi.audit.service import record, snapshot
from ketnoi.core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from ketnoi.core.listing import ListParams, Page, apply_search, paginate
from ketnoi.db.base import new_id
from ketnoi.identity.principal import Principal
from ketnoi.knowledge import schemas as S
from ketnoi.knowledge.models import Answer, KnowledgeAttachment, KnowledgeEvent, Procedure
from ketnoi.settings import get_settings

SMS_LIMIT = 640
MAX_ATTACHMENTS_PER_ANSWER = 20
PROCEDURE_FIELDS = ("code", "title", "status", "type_doc", "field", "level", "agency", "authority",
                    "procedure_type", "subjects", "decision_no", "source_url")
EVENT_FIELDS = ("title", "starts_at", "ends_at", "place", "status")


def _engine():
    """The search engine (ketnoi.knowledge.search), imported when first needed."""
    from ketnoi.knowledge import search

    return search


# --- rich text -----------------------------------------------------------------------------------
ALLOWED_TAGS = {"p", "br", "ul", "ol", "li", "strong", "em", "b", "i", "a", "table", "thead", "tbody", "tr",
                "td", "th", "h3", "h4"}
VOID_TAGS = {"br"}
# dropped together with everything inside them
DROPPED_TAGS = {"script", "style", "iframe", "object", "embed", "template", "noscript", "textarea", "select",
                "svg", "math", "title", "head", "frame", "frameset", "applet", "canvas", "audio", "video"}
SAFE_SCHEMES = ("http://", "https://", "mailto:")
_CONTROL = re.compile(r"[\x00-\x20\x7f]+")


class _Sanitizer(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self.open: list[str] = []
        self.skip = 0  # depth inside a dropped element

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in DROPPED_TAGS:
            self.skip += 1
            return
        if self.skip or tag not in ALLOWED_TAGS:
            return
        extra = ""
        if tag == "a":
            href = _CONTROL.sub("", dict(attrs).get("href") or "")
            if not href.lower().startswith(SAFE_SCHEMES):
                extra = ""
            else:
                extra = f' href="{html.escape(href, quote=True)}" rel="nofollow noopener noreferrer"'
        elif tag in ("td", "th"):
            for name, value in attrs:
                if name in ("colspan", "rowspan") and (value or "").isdigit() and 0 < int(value) <= 100:
                    extra += f' {name}="{int(value)}"'
        self.out.append(f"<{tag}{extra}>")
        if tag not in VOID_TAGS:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs) -> None:
        if tag in DROPPED_TAGS:
            return
        self.handle_starttag(tag, attrs)
        if tag not in VOID_TAGS and self.open and self.open[-1] == tag:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in DROPPED_TAGS:
            self.skip = max(0, self.skip - 1)
            return
        if self.skip or tag not in self.open:
            return
        while self.open:  # close whatever was left open inside it
            top = self.open.pop()
            self.out.append(f"</{top}>")
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.out.append(html.escape(data, quote=False))

    def result(self) -> str:
        self.close()
        self.out.extend(f"</{t}>" for t in reversed(self.open))
        self.open = []
        return "".join(self.out).strip()


_HAS_TAG = re.compile(r"<[A-Za-z/!]")


def sanitize_html(text: str) -> str:
    """A safe subset of HTML. Text without any tag is taken as plain text: blank lines separate
    paragraphs, single newlines become line breaks."""
    text = (text or "").replace("\r\n", "\n").replace("\x00", "")
    if not _HAS_TAG.search(text):
        paras = [p.strip() for p in re.split(r"\n\s*\n", text) if p.strip()]
        return "".join("<p>" + "<br>".join(html.escape(line.strip(), quote=False) for line in p.split("\n"))
                       + "</p>" for p in paras)
    s = _Sanitizer()
    s.feed(text)
    return s.result()


_TEXT_BLOCKS = frozenset({"p", "ul", "ol", "table", "tr", "h3", "h4", "div"})


class _Text(HTMLParser):

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "br" or tag in _TEXT_BLOCKS:
            self.parts.append("\n")
        elif tag == "li":
            self.parts.append("\n- ")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag):
        if tag in _TEXT_BLOCKS or tag == "li":
            self.parts.append("\n")

    def handle_data(self, data):
        self.parts.append(data)


def html_to_text(content: str) -> str:
    """Plain text of sanitized HTML: one line per paragraph, list items as '- …'."""
    t = _Text()
    t.feed(content or "")
    t.close()
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in "".join(t.parts).split("\n")]
    return "\n".join(line for line in lines if line)


def truncate_text(text: str, limit: int) -> str:
    """At most ``limit`` characters, cut at a sentence or word boundary, '…' marking the cut."""
    if len(text) <= limit:
        return text
    cut = text[:limit - 1]
    for marks in (".!?;\n", " ,"):
        pos = max(cut.rfind(m) for m in marks)
        if pos >= limit * 0.6:
            return cut[:pos + 1].rstrip(" ,;\n") + "…"
    return cut.rstrip() + "…"


def sms_text(answer: Answer, limit: int = SMS_LIMIT) -> str:
    """The answer as plain text for an SMS (CRM-10): '<procedure>: <answer title>' then the text."""
    head = answer.procedure.title if answer.procedure else ""
    if answer.title:
        head = f"{head} – {answer.title}" if head else answer.title
    body = html_to_text(answer.content)
    return truncate_text(f"{head}:\n{body}" if head else body, limit)


# --- files written and removed with the transaction ----------------------------------------------
def storage_dir() -> Path:
    d = get_settings().data_dir / "uploads" / "knowledge"
    d.mkdir(parents=True, exist_ok=True)
    return d


def _files(db: Session) -> dict[str, list[Path]]:
    """New files are removed if the transaction rolls back; doomed ones are removed once it commits."""
    st = db.info.get("knowledge_files")
    if st is None:
        st = db.info["knowledge_files"] = {"new": [], "doomed": []}

        def committed(session):
            for path in st["doomed"]:
                path.unlink(missing_ok=True)
            st["new"].clear(), st["doomed"].clear()

        def rolled_back(session):
            for path in st["new"]:
                path.unlink(missing_ok=True)
            st["new"].clear(), st["doomed"].clear()

        event.listen(db, "after_commit", committed)
        event.listen(db, "after_rollback", rolled_back)
    return st


def decode_base64(value: str, field: str) -> bytes:
    value = value.strip().rstrip("=")
    try:
        return base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValidationFailed.field(field, "Nội dung tệp không phải base64 hợp lệ.")


def check_file(filename: str, data: bytes, field: str = "file") -> tuple[str, str]:
    """(safe file name, content type) of an upload, checked by content and size."""
    from ketnoi.reports.attachments import sniff  # one list of accepted types for every upload

    limit_mb = get_settings().attachment_max_mb
    name = Path((filename or "").replace("\\", "/")).name.strip()[:255]
    if not name:
        raise ValidationFailed.field(field, "Chọn tệp cần đính kèm.")
    if not data:
        raise ValidationFailed.field(field, "Tệp rỗng.")
    if len(data) > limit_mb * 1024 * 1024:
        raise ValidationFailed.field(field, f"Tệp vượt quá {limit_mb} MB.")
    try:
        return name, sniff(name, data[:16])
    except ValidationFailed as e:
        raise ValidationFailed.field(field, e.detail)


# --- organizations -------------------------------------------------------------------------------
def organization_for_write(p: Principal, requested: str | None) -> str:
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức.")
        return requested
    if requested and requested != p.organization_id:
        raise Forbidden("Không thể tạo dữ liệu cho tổ chức khác.")
    if not p.organization_id:
        raise Forbidden("Tài khoản không thuộc tổ chức nào.")
    return p.organization_id


def organization_for_read(p: Principal, requested: str = "") -> str:
    """The organization a search runs in: one's own, or the one a system administrator chose."""
    if p.is_sysadmin:
        if not requested:
            raise ValidationFailed.field("organization_id", "Chọn tổ chức cần tra cứu.")
        return requested
    assert p.organization_id
    return p.organization_id


# --- procedures ----------------------------------------------------------------------------------
def _procedure_snapshot(proc: Procedure) -> dict[str, Any]:
    d = snapshot(proc, PROCEDURE_FIELDS)
    d["area_ids"] = sorted(a.id for a in proc.areas)
    return d


def _answer_snapshot(a: Answer) -> dict[str, Any]:
    d = snapshot(a, ("title", "status", "sort_order"))
    d["content"] = a.content[:2000]
    return d


def _areas(db: Session, ids: list[str]):
    from ketnoi.catalog.service import areas_by_ids

    return areas_by_ids(db, ids)


def _check_code(db: Session, org_id: str, code: str, exclude: str | None = None) -> None:
    stmt = select(Procedure.id).where(Procedure.organization_id == org_id, func.lower(Procedure.code) == code.lower())
    if exclude:
        stmt = stmt.where(Procedure.id != exclude)
    if db.scalar(stmt):
        raise Conflict("Mã thủ tục đã tồn tại.", [{"field": "code", "message": "Mã thủ tục đã tồn tại."}])


def _clean_content(content: str, field: str) -> str:
    clean = sanitize_html(content)
    if not html_to_text(clean):
        raise ValidationFailed.field(field, "Nội dung câu trả lời không được để trống.")
    return clean


def _reindex(db: Session, proc: Procedure) -> None:
    db.flush()
    _engine().index_procedure(db, proc)


def create_procedure(db: Session, p: Principal, data: S.ProcedureIn,
                     upload: tuple[str, bytes] | None = None) -> Procedure:
    """KB-02: a procedure with its first answer and an optional attachment (base64 in ``data`` or
    a file ``upload``: (name, bytes)), indexed."""
    org_id = organization_for_write(p, data.organization_id)
    _check_code(db, org_id, data.code)
    content = _clean_content(data.answer.content, "answer.content")
    if upload:
        check_file(*upload, field="answer.attachment")
    if data.answer.attachment is not None:
        raw = decode_base64(data.answer.attachment.content_base64, "answer.attachment.content_base64")
        upload = (data.answer.attachment.filename, raw)
        check_file(*upload, field="answer.attachment")
    proc = Procedure(id=new_id(), organization_id=org_id, code=data.code, title=data.title, status=data.status.value,
                     type_doc=data.type_doc, field=data.field, level=data.level, agency=data.agency,
                     authority=data.authority, procedure_type=data.procedure_type, subjects=data.subjects,
                     decision_no=data.decision_no, source_url=data.source_url, details=dict(data.details),
                     areas=_areas(db, data.area_ids))
    answer = Answer(id=new_id(), title=data.answer.title, content=content, status=data.answer.status.value,
                    sort_order=data.answer.sort_order or 0)
    proc.answers.append(answer)
    db.add(proc)
    db.flush()
    record(db, p, "procedure.created", "procedure", proc.id, after=_procedure_snapshot(proc), organization_id=org_id,
           summary=f"Tạo thủ tục {proc.code} – {proc.title}"[:500])
    if upload:
        _store_attachment(db, p, answer, *upload)
    _reindex(db, proc)
    return proc


def get_procedure(db: Session, p: Principal, procedure_id: str) -> Procedure:
    proc = db.get(Procedure, procedure_id)
    if proc is None or not p.sees_organization(proc.organization_id):
        raise NotFound("Không tìm thấy thủ tục.")
    return proc


@dataclass
class ProcedureFilters:
    type_doc: str = ""
    field: str = ""
    status: str = ""
    organization_id: str = ""


def list_procedures(db: Session, p: Principal | None, params: ListParams, f: ProcedureFilters) -> Page:
    """KB-10: procedures of one's organization, optionally of one document folder (type_doc).
    ``p`` None is the public: ``f.organization_id`` must be given and only published ones show."""
    stmt = select(Procedure)
    if p is None or not p.is_sysadmin:
        stmt = stmt.where(Procedure.organization_id == (f.organization_id if p is None else p.organization_id))
    elif f.organization_id:
        stmt = stmt.where(Procedure.organization_id == f.organization_id)
    if p is None:
        stmt = stmt.where(Procedure.status == "published")
    elif f.status:
        stmt = stmt.where(Procedure.status == f.status)
    if f.type_doc:
        stmt = stmt.where(Procedure.type_doc == f.type_doc)
    if f.field:
        stmt = stmt.where(Procedure.field == f.field)
    if params.q:
        stmt = apply_search(stmt, params.q, [Procedure.code, Procedure.title])
    return paginate(db, stmt, params, {"code": Procedure.code, "title": Procedure.title,
                                       "updated_at": Procedure.updated_at, "created_at": Procedure.created_at,
                                       "status": Procedure.status}, "code")


def facet_values(db: Session, organization_id: str | None, column: str) -> list[str]:
    """Distinct folders (type_doc) or fields of an organization's procedures, for filter lists."""
    col = {"type_doc": Procedure.type_doc, "field": Procedure.field, "level": Procedure.level}[column]
    stmt = select(col).distinct().order_by(col)
    if organization_id:
        stmt = stmt.where(Procedure.organization_id == organization_id)
    return [v for v in db.scalars(stmt) if v]


def update_procedure(db: Session, p: Principal, procedure_id: str, data: S.ProcedurePatch) -> Procedure:
    """KB-05: title, status and the other fields."""
    proc = get_procedure(db, p, procedure_id)
    before = _procedure_snapshot(proc)
    changes = {k: getattr(data, k) for k in data.model_fields_set}
    for key in ("code", "title", "status"):
        if key in changes and changes[key] is None:
            raise ValidationFailed.field(key, "Không được để trống.")
    if changes.get("code") and changes["code"].lower() != proc.code.lower():
        _check_code(db, proc.organization_id, changes["code"], exclude=proc.id)
    if "area_ids" in changes:
        proc.areas = _areas(db, changes.pop("area_ids") or [])
    if "details" in changes:
        proc.details = dict(changes.pop("details") or {})
    for key, value in changes.items():
        setattr(proc, key, value.value if isinstance(value, S.Status) else (value or ""))
    db.flush()
    record(db, p, "procedure.updated", "procedure", proc.id, before=before, after=_procedure_snapshot(proc),
           organization_id=proc.organization_id, summary=f"Sửa thủ tục {proc.code}")
    _reindex(db, proc)
    return proc


def delete_procedure(db: Session, p: Principal, procedure_id: str) -> None:
    """KB-03: the procedure with all its answers and their files, from the database and the index."""
    proc = get_procedure(db, p, procedure_id)
    files = _files(db)
    for a in proc.answers:
        files["doomed"].extend(storage_dir() / att.storage_name for att in a.attachments)
    record(db, p, "procedure.deleted", "procedure", proc.id, before=_procedure_snapshot(proc),
           organization_id=proc.organization_id,
           summary=f"Xóa thủ tục {proc.code} – {proc.title} cùng {len(proc.answers)} câu trả lời"[:500])
    pid = proc.id
    db.delete(proc)
    db.flush()
    _engine().unindex_procedure(db, pid)


# --- answers -------------------------------------------------------------------------------------
def get_answer(db: Session, p: Principal, answer_id: str) -> Answer:
    a = db.get(Answer, answer_id)
    if a is None or not p.sees_organization(a.procedure.organization_id):
        raise NotFound("Không tìm thấy câu trả lời.")
    return a


def add_answer(db: Session, p: Principal, procedure_id: str, data: S.AnswerIn,
               upload: tuple[str, bytes] | None = None) -> Answer:
    """KB-07: one more answer, with an attachment given in ``data`` (base64) or as ``upload``."""
    proc = get_procedure(db, p, procedure_id)
    content = _clean_content(data.content, "content")
    if data.attachment is not None:
        upload = (data.attachment.filename, decode_base64(data.attachment.content_base64,
                                                          "attachment.content_base64"))
    if upload:
        check_file(*upload, field="attachment")
    order = data.sort_order
    if order is None:
        order = max((a.sort_order for a in proc.answers), default=-1) + 1
    answer = Answer(id=new_id(), title=data.title, content=content, status=data.status.value, sort_order=order)
    proc.answers.append(answer)
    db.flush()
    record(db, p, "answer.created", "procedure", proc.id, after=_answer_snapshot(answer),
           organization_id=proc.organization_id, summary=f"Thêm câu trả lời cho thủ tục {proc.code}")
    if upload:
        _store_attachment(db, p, answer, *upload)
    _reindex(db, proc)
    return answer


def update_answer(db: Session, p: Principal, answer_id: str, data: S.AnswerPatch) -> Answer:
    """KB-06: content and status (and title, order)."""
    a = get_answer(db, p, answer_id)
    before = _answer_snapshot(a)
    fields = data.model_fields_set
    for key in ("content", "status", "sort_order"):
        if key in fields and getattr(data, key) is None:
            raise ValidationFailed.field(key, "Không được để trống.")
    if "content" in fields:
        a.content = _clean_content(data.content or "", "content")
    if "title" in fields:
        a.title = data.title or ""
    if "status" in fields and data.status is not None:
        a.status = data.status.value
    if "sort_order" in fields and data.sort_order is not None:
        a.sort_order = data.sort_order
    db.flush()
    record(db, p, "answer.updated", "procedure", a.procedure_id, before=before, after=_answer_snapshot(a),
           organization_id=a.procedure.organization_id, summary=f"Sửa câu trả lời của thủ tục {a.procedure.code}")
    _reindex(db, a.procedure)
    return a


def delete_answer(db: Session, p: Principal, answer_id: str) -> None:
    """KB-04. A procedure keeps at least one answer: delete the procedure instead."""
    a = get_answer(db, p, answer_id)
    proc = a.procedure
    if len(proc.answers) <= 1:
        raise Conflict("Thủ tục phải còn ít nhất một câu trả lời; hãy xóa cả thủ tục nếu cần.")
    _files(db)["doomed"].extend(storage_dir() / att.storage_name for att in a.attachments)
    record(db, p, "answer.deleted", "procedure", proc.id, before=_answer_snapshot(a),
           organization_id=proc.organization_id, summary=f"Xóa một câu trả lời của thủ tục {proc.code}")
    proc.answers.remove(a)
    db.delete(a)
    _reindex(db, proc)


# --- attachments ---------------------------------------------------------------------------------
def _store_attachment(db: Session, p: Principal, answer: Answer, filename: str, data: bytes) -> KnowledgeAttachment:
    name, ctype = check_file(filename, data)
    if len(answer.attachments) >= MAX_ATTACHMENTS_PER_ANSWER:
        raise ValidationFailed.field("file", f"Mỗi câu trả lời có tối đa {MAX_ATTACHMENTS_PER_ANSWER} tệp đính kèm.")
    storage = secrets.token_hex(16)
    path = storage_dir() / storage
    path.write_bytes(data)
    _files(db)["new"].append(path)
    att = KnowledgeAttachment(id=new_id(), answer_id=answer.id, filename=name, content_type=ctype, size=len(data),
                              storage_name=storage)
    answer.attachments.append(att)
    db.flush()
    proc = answer.procedure
    record(db, p, "answer.attachment_added", "procedure", proc.id, organization_id=proc.organization_id,
           after={"answer_id": answer.id, "filename": name, "size": len(data)},
           summary=f"Đính kèm {name} vào câu trả lời của thủ tục {proc.code}"[:500])
    return att


def add_attachment(db: Session, p: Principal, answer_id: str, filename: str, data: bytes) -> KnowledgeAttachment:
    return _store_attachment(db, p, get_answer(db, p, answer_id), filename, data)


def get_attachment(db: Session, p: Principal, attachment_id: str) -> KnowledgeAttachment:
    att = db.get(KnowledgeAttachment, attachment_id)
    if att is None:
        raise NotFound("Không tìm thấy tệp đính kèm.")
    get_answer(db, p, att.answer_id)
    return att


def attachment_path(att: KnowledgeAttachment) -> Path:
    path = storage_dir() / att.storage_name
    if not path.exists():
        raise NotFound("Tệp đính kèm không còn trên máy chủ.")
    return path


def delete_attachment(db: Session, p: Principal, attachment_id: str) -> None:
    att = get_attachment(db, p, attachment_id)
    answer = get_answer(db, p, att.answer_id)
    proc = answer.procedure
    _files(db)["doomed"].append(storage_dir() / att.storage_name)
    record(db, p, "answer.attachment_deleted", "procedure", proc.id, organization_id=proc.organization_id,
           before={"answer_id": answer.id, "filename": att.filename, "size": att.size},
           summary=f"Xóa tệp {att.filename} của thủ tục {proc.code}"[:500])
    answer.attachments.remove(att)
    db.delete(att)
    db.flush()


# --- what coordinators and citizens may see ------------------------------------------------------
def published_procedure(db: Session, organization_id: str, procedure_id: str) -> Procedure:
    proc = db.get(Procedure, procedure_id)
    if proc is None or proc.organization_id != organization_id or proc.status != "published":
        raise NotFound("Không tìm thấy thủ tục.")
    return proc


def published_answers(proc: Procedure) -> list[Answer]:
    return [a for a in proc.answers if a.status == "published"]


def published_attachment(db: Session, organization_id: str, attachment_id: str) -> KnowledgeAttachment:
    att = db.get(KnowledgeAttachment, attachment_id)
    answer = db.get(Answer, att.answer_id) if att else None
    if (att is None or answer is None or answer.status != "published"
            or answer.procedure.organization_id != organization_id or answer.procedure.status != "published"):
        raise NotFound("Không tìm thấy tệp đính kèm.")
    return att


def search_procedures(db: Session, organization_id: str, q: str, *, mode: str = "approximate", type_doc: str = "",
                      field: str = "", level: str = "", area_id: str = "", status: str = "published",
                      page: int = 1, page_size: int = 20):
    """KB-11: the search engine, with the query trimmed; an empty query finds nothing."""
    return _engine().search_procedures(db, organization_id, (q or "").strip()[:200], mode=mode, type_doc=type_doc,
                                       field=field, level=level, area_id=area_id, status=status,
                                       page=max(1, page), page_size=min(max(1, page_size), 200))


def search_events(db: Session, organization_id: str, q: str, *, mode: str = "approximate", page: int = 1,
                  page_size: int = 20):
    return _engine().search_events(db, organization_id, (q or "").strip()[:200], mode=mode, page=max(1, page),
                                   page_size=min(max(1, page_size), 200))


# --- events (KB-22) ------------------------------------------------------------------------------
def _event_snapshot(e: KnowledgeEvent) -> dict[str, Any]:
    d = snapshot(e, EVENT_FIELDS)
    d["description"] = e.description[:2000]
    return d


def _check_event_times(starts_at, ends_at) -> None:
    if starts_at and ends_at and ends_at < starts_at:
        raise ValidationFailed.field("ends_at", "Thời điểm kết thúc phải sau thời điểm bắt đầu.")
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if value is not None and value.tzinfo is None:
            raise ValidationFailed.field(name, "Cần ghi rõ múi giờ (ví dụ 2026-11-22T08:00:00+07:00).")


def create_event(db: Session, p: Principal, data: S.EventIn) -> KnowledgeEvent:
    org_id = organization_for_write(p, data.organization_id)
    _check_event_times(data.starts_at, data.ends_at)
    e = KnowledgeEvent(id=new_id(), organization_id=org_id, title=data.title, starts_at=data.starts_at,
                       ends_at=data.ends_at, place=data.place, description=sanitize_html(data.description),
                       status=data.status.value)
    db.add(e)
    db.flush()
    record(db, p, "event.created", "knowledge_event", e.id, after=_event_snapshot(e), organization_id=org_id,
           summary=f"Tạo sự kiện {e.title}"[:500])
    _engine().index_event(db, e)
    return e


def get_event(db: Session, p: Principal, event_id: str) -> KnowledgeEvent:
    e = db.get(KnowledgeEvent, event_id)
    if e is None or not p.sees_organization(e.organization_id):
        raise NotFound("Không tìm thấy sự kiện.")
    return e


def published_event(db: Session, organization_id: str, event_id: str) -> KnowledgeEvent:
    e = db.get(KnowledgeEvent, event_id)
    if e is None or e.organization_id != organization_id or e.status != "published":
        raise NotFound("Không tìm thấy sự kiện.")
    return e


def list_events(db: Session, p: Principal | None, params: ListParams, *, status: str = "",
                organization_id: str = "") -> Page:
    stmt = select(KnowledgeEvent)
    if p is None or not p.is_sysadmin:
        stmt = stmt.where(KnowledgeEvent.organization_id == (organization_id if p is None else p.organization_id))
    elif organization_id:
        stmt = stmt.where(KnowledgeEvent.organization_id == organization_id)
    if p is None:
        status = "published"
    if status:
        stmt = stmt.where(KnowledgeEvent.status == status)
    if params.q:
        stmt = apply_search(stmt, params.q, [KnowledgeEvent.title, KnowledgeEvent.place])
    return paginate(db, stmt, params, {"starts_at": KnowledgeEvent.starts_at, "title": KnowledgeEvent.title,
                                       "created_at": KnowledgeEvent.created_at}, "-starts_at")


def update_event(db: Session, p: Principal, event_id: str, data: S.EventPatch) -> KnowledgeEvent:
    e = get_event(db, p, event_id)
    before = _event_snapshot(e)
    fields = data.model_fields_set
    for key in ("title", "status"):
        if key in fields and getattr(data, key) is None:
            raise ValidationFailed.field(key, "Không được để trống.")
    starts = data.starts_at if "starts_at" in fields else e.starts_at
    ends = data.ends_at if "ends_at" in fields else e.ends_at
    _check_event_times(starts, ends)
    e.starts_at, e.ends_at = starts, ends
    if "title" in fields:
        e.title = data.title or e.title
    if "place" in fields:
        e.place = data.place or ""
    if "description" in fields:
        e.description = sanitize_html(data.description or "")
    if "status" in fields and data.status is not None:
        e.status = data.status.value
    db.flush()
    record(db, p, "event.updated", "knowledge_event", e.id, before=before, after=_event_snapshot(e),
           organization_id=e.organization_id, summary=f"Sửa sự kiện {e.title}"[:500])
    _engine().index_event(db, e)
    return e


def delete_event(db: Session, p: Principal, event_id: str) -> None:
    e = get_event(db, p, event_id)
    record(db, p, "event.deleted", "knowledge_event", e.id, before=_event_snapshot(e),
           organization_id=e.organization_id, summary=f"Xóa sự kiện {e.title}"[:500])
    eid = e.id
    db.delete(e)
    db.flush()
    _engine().unindex_event(db, eid)
