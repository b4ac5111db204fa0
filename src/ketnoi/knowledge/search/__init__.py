"""Vietnamese search over the knowledge base (KB-11, KB-22): procedures and events, in an exact mode
(accents count; all terms; "quoted phrases") and an approximate one (accent-insensitive, one typo
tolerated, any word order, question words ignored), ranked by BM25F with title above body.

Indexing runs in the caller's transaction, so a rolled-back write leaves the index unchanged too.
The backend follows the session's database: SQLite FTS5 (embedded) or PostgreSQL GIN."""

from __future__ import annotations

import logging

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from ketnoi.knowledge.models import KnowledgeEvent, Procedure
from ketnoi.knowledge.search import analysis as A
from ketnoi.knowledge.search import engine
from ketnoi.knowledge.search.documents import (
    IndexDoc,
    event_doc,
    load_event_docs,
    load_procedure_docs,
    procedure_doc,
)
from ketnoi.knowledge.search.engine import Hit, Scope, SearchPage
from ketnoi.knowledge.search.highlight import Highlighter

__all__ = [
    "MODES",
    "Hit",
    "SearchPage",
    "index_event",
    "index_procedure",
    "rebuild",
    "search_events",
    "search_procedures",
    "unindex_event",
    "unindex_procedure",
]

log = logging.getLogger(__name__)
MODES = ("approximate", "exact")


def backend_for(db: Session):
    name = db.get_bind().dialect.name
    if name == "sqlite":
        from ketnoi.knowledge.search.sqlite import SQLiteBackend

        return SQLiteBackend()
    if name == "postgresql":
        from ketnoi.knowledge.search.postgres import PostgresBackend

        return PostgresBackend()
    raise RuntimeError(f"no search backend for {name}")


# --- vocabulary (typo corrections): written with the documents, remembered once committed ---------
_known: dict[str, set[str]] = {}
_PENDING = "ketnoi.search.pending_terms"


def _url(db: Session) -> str:
    return str(db.get_bind().url)


def _vocabulary(db: Session, backend, doc: IndexDoc) -> None:
    known = _known.setdefault(_url(db), set())
    pending = db.info.setdefault(_PENDING, set())
    new = sorted(w for w in doc.vocabulary() - known - pending if 2 <= len(w) <= 30 and w.isalpha() and w.isascii())
    if new:
        backend.add_terms(db, new)
        pending.update(new)


@event.listens_for(Session, "after_commit")
def _terms_committed(session: Session) -> None:
    pending = session.info.pop(_PENDING, None)
    if pending:
        _known.setdefault(_url(session), set()).update(pending)


@event.listens_for(Session, "after_rollback")
def _terms_rolled_back(session: Session) -> None:
    session.info.pop(_PENDING, None)


# --- indexing ------------------------------------------------------------------------------------
def _index(db: Session, doc: IndexDoc) -> None:
    backend = backend_for(db)
    backend.upsert(db, doc)
    _vocabulary(db, backend, doc)
    engine.invalidate_stats(db, doc.organization_id)


def index_procedure(db: Session, procedure: Procedure) -> None:
    """(Re)index a procedure: title, published answers, key fields. Call after flush, in the
    transaction that changed it."""
    _index(db, procedure_doc(procedure))


def unindex_procedure(db: Session, procedure_id: str) -> None:
    backend_for(db).remove(db, "procedure", procedure_id)
    engine.invalidate_stats(db)


def index_event(db: Session, event_: KnowledgeEvent) -> None:
    _index(db, event_doc(event_))


def unindex_event(db: Session, event_id: str) -> None:
    backend_for(db).remove(db, "event", event_id)
    engine.invalidate_stats(db)


def index_many(db: Session, docs: list[IndexDoc]) -> None:
    """Bulk path of the importer and of rebuild: the same writes, one backend lookup."""
    backend = backend_for(db)
    backend.upsert_many(db, docs)
    for doc in docs:
        _vocabulary(db, backend, doc)
    engine.invalidate_stats(db)


def rebuild(db: Session, organization_id: str | None = None, batch_size: int = 500) -> int:
    """Reindex every procedure and event (of one organization, or all) in the caller's
    transaction; returns how many documents were indexed."""
    backend = backend_for(db)
    backend.clear(db, organization_id)
    stmt = select(Procedure.id).order_by(Procedure.id)
    if organization_id:
        stmt = stmt.where(Procedure.organization_id == organization_id)
    ids = list(db.scalars(stmt))
    n = 0
    for i in range(0, len(ids), batch_size):
        docs = load_procedure_docs(db, ids[i:i + batch_size])
        index_many(db, docs)
        n += len(docs)
    events = load_event_docs(db, organization_id)
    index_many(db, events)
    backend.after_bulk(db)
    return n + len(events)


# --- searching -----------------------------------------------------------------------------------
def _search(db: Session, scope: Scope, q: str, mode: str, page: int, page_size: int) -> SearchPage:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}")
    page, page_size = max(1, page), max(1, page_size)
    query = A.parse_query(q or "", mode)
    if query.empty:
        return SearchPage([], 0, page, page_size)
    backend = backend_for(db)
    ranked, total = engine.rank(db, backend, scope, query, mode, page * page_size)
    chosen = ranked[(page - 1) * page_size: page * page_size]
    if not chosen:
        return SearchPage([], total, page, page_size)
    rows = backend.page_rows(db, [d for d, _ in chosen])
    hl = Highlighter(query.highlight, exact=mode == "exact")
    items = []
    for d, score in chosen:
        if d in rows:
            ref, code, title, excerpt = rows[d]
            items.append(Hit(id=ref, code=code, title=title, snippet=hl.snippet(title, excerpt),
                             score=round(score, 4)))
    return SearchPage(items, total, page, page_size)


def search_procedures(db: Session, organization_id: str, q: str, *, mode: str = "approximate",
                      type_doc: str = "", field: str = "", level: str = "", area_id: str = "",
                      status: str | None = "published", page: int = 1, page_size: int = 20) -> SearchPage:
    """Procedures of one organization matching ``q``; ``status`` None searches every status."""
    scope = Scope(organization_id, "procedure", status or None, type_doc or "", field or "", level or "",
                  area_id or "")
    return _search(db, scope, q, mode, page, page_size)


def search_events(db: Session, organization_id: str, q: str, *, mode: str = "approximate", page: int = 1,
                  page_size: int = 20) -> SearchPage:
    """Published events of one organization matching ``q``."""
    return _search(db, Scope(organization_id, "event", "published"), q, mode, page, page_size)
