"""What gets indexed: a procedure (title; published answers; key fields) or an event (title, place,
description) as an ``IndexDoc``, with the normalised filter values both backends compare."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from dataclasses import field as dc_field
from functools import cached_property

from sqlalchemy import select
from sqlalchemy.orm import Session

from ketnoi.knowledge.models import Answer, KnowledgeEvent, Procedure, procedure_areas
from ketnoi.knowledge.search import analysis as A

EXCERPT_CHARS = 6000  # of the answers' text kept for snippets

_BLOCK_RE = re.compile(r"<\s*(?:br|/?p|/?div|/?li|/?tr|/?h\d|/?ul|/?ol|/?table)\b[^>]*>", re.IGNORECASE)
_TAG_RE = re.compile(r"<[^>]*>")
_WS_RE = re.compile(r"[ \t\r\f\v]+")
_NL_RE = re.compile(r" *\n[\s]*")


def html_text(content: str) -> str:
    """Plain text of sanitized HTML (answers, event descriptions): blocks become line breaks. A
    regex suffices for the sanitizer's small tag set, and is fast enough for snippets at query time."""
    text = content or ""
    if "<" in text or "&" in text:
        text = html.unescape(_TAG_RE.sub(" ", _BLOCK_RE.sub("\n", text)))
    return _NL_RE.sub("\n", _WS_RE.sub(" ", A.normalize(text))).strip()


def plain_text(content: str) -> str:
    """Words of sanitized HTML, for indexing (structure does not matter there)."""
    if "<" in content:
        content = _TAG_RE.sub(" ", content)
    return html.unescape(content) if "&" in content else content


def filter_key(value: str) -> str:
    """Filter values compare case-insensitively, NFC."""
    return A.normalize(value or "").strip().lower()


def level_keys(level: str) -> list[str]:
    """'Cấp bộ, Cấp tỉnh' can be filtered by the whole value or by either part."""
    parts = [filter_key(p) for p in (level or "").split(",") if p.strip()]
    return list(dict.fromkeys([filter_key(level)] + parts)) if parts else []


@dataclass
class IndexDoc:
    collection: str  # procedure | event
    ref_id: str
    organization_id: str
    status: str
    code: str = ""
    type_doc: str = ""
    field: str = ""
    level: str = ""
    areas: list[str] = dc_field(default_factory=list)
    title: str = ""
    body: str = ""  # plain text searched as the body: the title again, key fields, published answers
    excerpt: str = ""  # the start of the readable text (answers), where snippets come from

    @cached_property
    def head_tokens(self) -> list[str]:
        """Canonical syllables of the title."""
        return A.analyse(self.title)

    @cached_property
    def body_canonical(self) -> str:
        """Canonical syllables of the body, space-separated."""
        return A.canonical_text(self.body)

    @cached_property
    def body_unique(self) -> list[str]:
        """Distinct canonical body syllables, in order of first appearance."""
        return list(dict.fromkeys(self.body_canonical.split()))

    @cached_property
    def body_length(self) -> int:
        return self.body_canonical.count(" ") + 1 if self.body_canonical else 0

    def folded_body(self) -> list[str]:
        """Distinct folded body syllables (the approximate index needs presence only)."""
        return list(dict.fromkeys(map(A.folded, self.body_unique)))

    def vocabulary(self) -> set[str]:
        return set(map(A.folded, self.head_tokens)) | set(map(A.folded, self.body_unique))

    def filters(self) -> dict[str, str]:
        """The stored filter columns: normalised values; level as '|whole|part|…|'."""
        keys = level_keys(self.level)
        return {"type_doc": filter_key(self.type_doc), "field": filter_key(self.field),
                "level": "|" + "|".join(keys) + "|" if keys else "", "areas": " ".join(sorted(self.areas))}


def build_procedure_doc(p, answers: list, area_ids: list[str]) -> IndexDoc:
    """``p`` has the Procedure columns; ``answers`` (title, content, status) in display order."""
    parts = [v for v in (p.title, p.code, p.field, p.level, p.procedure_type, p.subjects, p.agency, p.authority,
                         p.decision_no) if v]
    shown, size = [], 0
    for a_title, content, status in answers:
        if status == "published":
            if a_title:
                parts.append(a_title)
            parts.append(plain_text(content or ""))
            if size < EXCERPT_CHARS:
                shown.append(html_text((content or "")[:EXCERPT_CHARS * 2]))
                size += len(shown[-1])
    return IndexDoc(collection="procedure", ref_id=p.id, organization_id=p.organization_id, status=p.status,
                    code=p.code or "", type_doc=p.type_doc or "", field=p.field or "", level=p.level or "",
                    areas=sorted(area_ids), title=A.normalize(p.title or ""), body="\n".join(parts),
                    excerpt="\n".join(shown)[:EXCERPT_CHARS])


def procedure_doc(p: Procedure) -> IndexDoc:
    return build_procedure_doc(p, [(a.title, a.content, a.status) for a in p.answers], [a.id for a in p.areas])


def event_doc(e) -> IndexDoc:
    text = "\n".join(v for v in (e.place, html_text(e.description or "")) if v)
    return IndexDoc(collection="event", ref_id=e.id, organization_id=e.organization_id, status=e.status,
                    title=A.normalize(e.title or ""), body="\n".join(v for v in (e.title, text) if v),
                    excerpt=text[:EXCERPT_CHARS])


def load_procedure_docs(db: Session, ids: list[str]) -> list[IndexDoc]:
    """IndexDocs straight from the tables (no ORM objects): the bulk path of import and rebuild."""
    cols = [Procedure.id, Procedure.organization_id, Procedure.status, Procedure.code, Procedure.title,
            Procedure.type_doc, Procedure.field, Procedure.level, Procedure.procedure_type, Procedure.subjects,
            Procedure.agency, Procedure.authority, Procedure.decision_no]
    rows = db.execute(select(*cols).where(Procedure.id.in_(ids))).all()
    answers: dict[str, list] = {i: [] for i in ids}
    for a in db.execute(select(Answer.procedure_id, Answer.title, Answer.content, Answer.status)
                        .where(Answer.procedure_id.in_(ids)).order_by(Answer.procedure_id, Answer.sort_order)):
        answers[a.procedure_id].append((a.title, a.content, a.status))
    areas: dict[str, list[str]] = {i: [] for i in ids}
    for pa in db.execute(select(procedure_areas.c.procedure_id, procedure_areas.c.area_id)
                         .where(procedure_areas.c.procedure_id.in_(ids))):
        areas[pa.procedure_id].append(pa.area_id)
    return [build_procedure_doc(r, answers[r.id], areas[r.id]) for r in rows]


def load_event_docs(db: Session, organization_id: str | None) -> list[IndexDoc]:
    stmt = select(KnowledgeEvent.id, KnowledgeEvent.organization_id, KnowledgeEvent.status, KnowledgeEvent.title,
                  KnowledgeEvent.place, KnowledgeEvent.description)
    if organization_id:
        stmt = stmt.where(KnowledgeEvent.organization_id == organization_id)
    return [event_doc(r) for r in db.execute(stmt)]
