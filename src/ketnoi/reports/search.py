"""Free-text search over reports (CRM-03, 11, 30: the ``q`` of every report list and export).

Each report has one row in ``report_search_docs``: its searchable words — code, title, content,
citizen name and phone — lower-cased and accent-folded by the knowledge base's analysis (đ→d, so
"den duong" finds "Đèn đường"), each word once. The row's number orders the index by the time the
report was received (microseconds since the epoch, nudged by one on a tie), so the newest matches
come first straight from the index: a list sorted by reception reads its page from the index and
stops, however common the words; a rare word is a short list anyway.

- SQLite: an FTS5 table with ``detail=none`` (no positions: only AND and prefixes are needed) whose
  external content is the document table; FTS5 walks a match in descending rowid order.
- PostgreSQL: a ``tsvector`` column of our own tokens (``array_to_tsvector``: no parser, locale
  or dictionary of the server involved) under a GIN index, and a B-tree on (organization, number)
  that the planner walks newest first for common words.

A query word matches a whole word (Vietnamese words are single syllables: "Nguyễn Văn Thành"),
a number of five digits or more also the numbers it begins ("09051" finds "0905123456"); a
phone number typed with spaces, dots or +84 is read as one number. Only numbers are prefixes: an
index has no cheap way to list, newest first, every report with some word beginning "th" (FTS5
and GIN both merge all such words' lists first). Codes ("PA-2026-…") are looked up by prefix in
``queries``, not here.

The rows follow the ORM (mapper events on ``Report``, in the flush's transaction); reports loaded
around the ORM are indexed by ``rebuild`` (``ketnoi reports reindex``, migration 0011)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import product

from sqlalchemy import (
    ColumnElement,
    Connection,
    FromClause,
    Join,
    cast,
    column,
    func,
    inspect,
    literal,
    literal_column,
    select,
    table,
    text,
)
from sqlalchemy.dialects.postgresql import TSQUERY
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql import Select, Subquery

from ketnoi.knowledge.search import analysis as A

DOCS = "report_search_docs"
FTS = "report_search_fts"  # SQLite only
PREFIX = "report_search_"
MAX_WORDS = 8  # of a query
MAX_TOKENS = 2000  # of a document (distinct words)
MIN_PREFIX = 5  # digits: a number this long or longer also matches the numbers it begins
FIELDS = ("code", "title", "content", "citizen_name", "citizen_phone", "received_at")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PHONE_RE = re.compile(r"\+?[\d][\d .\-()]{4,}\d")
_WORD_RE = re.compile(r"^[0-9a-z]+$|^[^\W_]+$")


def is_index_table(name: str) -> bool:
    """For Alembic's ``include_object``: derived tables without a model."""
    return name.startswith(PREFIX)


# --- analysis -----------------------------------------------------------------------------------
def _fold_words(text: str) -> list[str]:
    return [w for w in (A.folded(t) for t in A.tokens(A.normalize(text))) if w]


def phone_forms(phone: str) -> list[str]:
    """The ways a number is typed: as stored (+84…), without the plus, and nationally (0…)."""
    digits = re.sub(r"\D", "", phone or "")
    if not digits:
        return []
    forms = [digits]
    if digits.startswith("84") and len(digits) > 9:
        forms.append("0" + digits[2:])
    return forms


def document_tokens(code: str, title: str, content: str, name: str, phone: str) -> list[str]:
    """The distinct folded words of a report, in the order they first appear."""
    words = _fold_words(" ".join((code or "", title or "", name or "", content or "")))
    return list(dict.fromkeys(words + phone_forms(phone)))[:MAX_TOKENS]


@dataclass(frozen=True)
class Terms:
    """A parsed query: (word, matches as prefix) pairs, all of which must match."""

    words: tuple[tuple[str, bool], ...]

    def fts5(self) -> str:
        return " AND ".join('"' + w + '"' + ("*" if p else "") for w, p in self.words)

    def tsquery(self) -> str:
        return " & ".join("'" + w.replace("'", "''") + "'" + (":*" if p else "") for w, p in self.words)


def parse(q: str) -> Terms | None:
    """The terms of a query, or None when it has no word to search for."""
    q = (q or "").strip()[:200]
    if not q:
        return None
    compact = re.sub(r"[\s.\-()]", "", q)
    if re.fullmatch(r"\+?\d{5,15}", compact):  # a phone number, however it was typed
        digits = compact.lstrip("+")
        return Terms(((digits, True),))
    words = list(dict.fromkeys(w for w in _fold_words(q) if _WORD_RE.match(w)))[:MAX_WORDS]
    if not words:
        return None
    return Terms(tuple((w, w.isdigit() and len(w) >= MIN_PREFIX) for w in words))


# --- document numbers ---------------------------------------------------------------------------
def _micros(value: datetime | str | None) -> int:
    if value is None:
        return 0
    if isinstance(value, str):  # SQLite text, naive UTC
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    delta = value - _EPOCH
    return (delta.days * 86400 + delta.seconds) * 1_000_000 + delta.microseconds


# --- writing ------------------------------------------------------------------------------------
def _delete(conn: Connection, report_id: str) -> None:
    if conn.dialect.name == "sqlite":
        old = conn.execute(text(f"SELECT id, body FROM {DOCS} WHERE report_id = :r"), {"r": report_id}).first()
        if old is None:
            return
        conn.execute(text(f"INSERT INTO {FTS} ({FTS}, rowid, body) VALUES ('delete', :id, :body)"),
                     {"id": old.id, "body": old.body})
    conn.execute(text(f"DELETE FROM {DOCS} WHERE report_id = :r"), {"r": report_id})


# A document row per dialect, with parameters id, r (report), org, body (SQLite) / toks (PostgreSQL)
_INSERT_DOC = {
    "sqlite": f"INSERT INTO {DOCS} (id, report_id, body) VALUES (:id, :r, :body)",
    "postgresql": f"INSERT INTO {DOCS} (id, report_id, organization_id, tsv) VALUES "
                  "(:id, :r, :org, array_to_tsvector(CAST(:toks AS text[])))",
}


def _doc_row(doc_id: int, report_id: str, organization_id: str, tokens: list[str]) -> dict:
    return {"id": doc_id, "r": report_id, "org": organization_id, "body": " ".join(tokens), "toks": tokens}


def _insert(conn: Connection, doc_id: int, report_id: str, organization_id: str, tokens: list[str]) -> bool:
    """Insert one document under ``doc_id``; False when the number is taken."""
    row = _doc_row(doc_id, report_id, organization_id, tokens)
    done = conn.execute(text(_INSERT_DOC[conn.dialect.name] + " ON CONFLICT (id) DO NOTHING"), row)
    if done.rowcount and conn.dialect.name == "sqlite":
        conn.execute(text(f"INSERT INTO {FTS} (rowid, body) VALUES (:id, :body)"), row)
    return bool(done.rowcount)


def index_report(conn: Connection, report_id: str, organization_id: str, received_at, code: str, title: str,
                 content: str, name: str, phone: str) -> None:
    """(Re)index one report inside the caller's transaction."""
    _delete(conn, report_id)
    tokens = document_tokens(code, title, content, name, phone)
    doc_id = _micros(received_at)
    while not _insert(conn, doc_id, report_id, organization_id, tokens):
        doc_id += 1


def report_fields(r) -> tuple:
    """``index_report``'s arguments from a ``Report``."""
    return (r.id, r.organization_id, r.received_at, r.code, r.title, r.content, r.citizen_name, r.citizen_phone)


def on_insert(conn: Connection, target) -> None:
    index_report(conn, *report_fields(target))


def on_update(conn: Connection, target) -> None:
    state = inspect(target)
    if any(state.attrs[f].history.has_changes() for f in FIELDS):
        index_report(conn, *report_fields(target))


def on_delete(conn: Connection, target) -> None:
    _delete(conn, target.id)


def _batches(conn: Connection, size: int) -> Iterator[list]:
    """Every report, by keyset pages of its primary key (the same connection writes between them)."""
    after = ""
    while True:
        part = conn.execute(text(
            "SELECT id, organization_id, received_at, code, title, content, citizen_name, citizen_phone "
            "FROM reports WHERE id > :after ORDER BY id LIMIT :n"), {"after": after, "n": size}).all()
        if not part:
            return
        yield part
        after = part[-1][0]


def rebuild(conn: Connection, batch: int = 5000, progress=None) -> int:
    """Index every report afresh (after a bulk load or a restore); returns the number indexed."""
    sqlite = conn.dialect.name == "sqlite"
    conn.execute(text(f"DELETE FROM {DOCS}"))
    indexes = []
    if sqlite:
        conn.execute(text(f"INSERT INTO {FTS} ({FTS}) VALUES ('delete-all')"))
    else:  # PostgreSQL: fill the table without its GIN and B-tree indexes, then build them once
        indexes = conn.execute(text(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = :t "
            "AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conname = indexname)"), {"t": DOCS}).all()
        for name, _ in indexes:
            conn.execute(text(f'DROP INDEX "{name}"'))
    used: set[int] = set()
    n = 0
    for part in _batches(conn, batch):
        rows = []
        for r in part:
            doc_id = _micros(r[2])
            while doc_id in used:
                doc_id += 1
            used.add(doc_id)
            rows.append(_doc_row(doc_id, r[0], r[1], document_tokens(r[3], r[4], r[5], r[6], r[7])))
        conn.execute(text(_INSERT_DOC[conn.dialect.name]), rows)
        n += len(rows)
        if progress:
            progress(n)
    if sqlite:
        conn.execute(text(f"INSERT INTO {FTS} ({FTS}) VALUES ('rebuild')"))
    else:  # in number order on disk, as reports received one by one would be: a walk newest first reads on
        conn.execute(text(f"CLUSTER {DOCS} USING pk_{DOCS}"))
    for _, create in indexes:
        conn.execute(text(create))
    if not sqlite:
        conn.execute(text(f"ANALYZE {DOCS}"))
    return n


# --- querying -----------------------------------------------------------------------------------
docs_table = table(DOCS, column("id"), column("report_id"), column("organization_id"), column("tsv"))
fts_table = table(FTS, column("rowid"))


class DrivingJoin(Join):
    """A join whose left side is read first: ``CROSS JOIN`` on SQLite, whose planner never reorders
    one (without statistics it would start from an index of ``reports`` and run the full-text
    match once per report); a plain ``JOIN`` elsewhere, where the planner has statistics."""

    inherit_cache = True


@compiles(DrivingJoin, "sqlite")
def _driving_join(join: DrivingJoin, compiler, asfrom=False, from_linter=None, **kw) -> str:
    if from_linter:
        from_linter.edges.update(product(join.left._from_objects, join.right._from_objects))
    return (join.left._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter, **kw) + " CROSS JOIN "
            + join.right._compiler_dispatch(compiler, asfrom=True, from_linter=from_linter, **kw) + " ON "
            + join.onclause._compiler_dispatch(compiler, from_linter=from_linter, **kw))


@dataclass
class Search:
    """A parsed query bound to a dialect and an organization: the matching reports as a FROM
    clause, read newest first from the index.

    PostgreSQL plans the walk itself; ``rare`` (words the statistics expect in fewer than
    ``RARE_MATCHES`` reports) makes it collect the matches first from the GIN index (a subquery
    sorted by number), because with ORDER BY … LIMIT the planner otherwise walks the number index
    hoping to meet its first rows soon — and for a word it underestimates reads the whole index."""

    terms: Terms
    dialect: str
    organization_id: str | None = None  # None: every organization (system administrator)
    rare: bool = False
    _collected: Subquery | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        """What a match is: the FTS5 MATCH on SQLite; the tsquery and organization on PostgreSQL."""
        if self.dialect == "sqlite":
            return [literal_column(FTS).bool_op("MATCH")(literal(self.terms.fts5()))]
        out = [docs_table.c.tsv.bool_op("@@")(cast(literal(self.terms.tsquery()), TSQUERY))]
        if self.organization_id:
            out.append(docs_table.c.organization_id == self.organization_id)
        return out

    def _matches(self) -> tuple[Select, ColumnElement, ColumnElement | None]:
        """(the matching documents, their number, their report id — None on SQLite: in the docs)."""
        if self.dialect == "sqlite":
            return select(fts_table.c.rowid.label("doc_id")).where(*self.conditions()), fts_table.c.rowid, None
        return (select(docs_table.c.id.label("doc_id"), docs_table.c.report_id).where(*self.conditions()),
                docs_table.c.id, docs_table.c.report_id)

    def source(self, window: int | None = None) -> FromClause:
        """``reports`` joined to the matches, all of them or (``window``) the newest ones only."""
        from ketnoi.reports.models import Report

        reports = Report.__table__
        matches, number, report_id = self._matches()
        if window is None and self.rare:
            collected = self._collected_matches()
            return DrivingJoin(collected, reports, reports.c.id == collected.c.report_id)
        if window is None and self.dialect != "sqlite":
            return DrivingJoin(docs_table, reports, reports.c.id == docs_table.c.report_id)
        if window is None:  # SQLite: the FTS table itself, read in rowid order
            docs = DrivingJoin(fts_table, docs_table, docs_table.c.id == fts_table.c.rowid)
            return DrivingJoin(docs, reports, reports.c.id == docs_table.c.report_id)
        newest = matches.order_by(number.desc()).limit(window).subquery("matches")
        if report_id is not None:
            return DrivingJoin(newest, reports, reports.c.id == newest.c.report_id)
        docs = DrivingJoin(newest, docs_table, docs_table.c.id == newest.c.doc_id)
        return DrivingJoin(docs, reports, reports.c.id == docs_table.c.report_id)

    def _collected_matches(self) -> Subquery:
        """Every match, newest first, as a subquery PostgreSQL keeps apart (its ORDER BY and
        OFFSET 0 stop it being merged into the outer query): filled from the GIN index, its order
        carries to the outer ORDER BY, so the join to ``reports`` stops at the page's last row."""
        if self._collected is None:
            matches, number, _ = self._matches()
            self._collected = matches.order_by(number.desc()).offset(0).subquery("matches")
        return self._collected

    def apply(self, stmt: Select, window: int | None = None) -> Select:
        """``stmt`` (a selection from ``reports``) narrowed to the matches."""
        stmt = stmt.select_from(self.source(window))
        return stmt.where(*self.conditions()) if window is None and not self.rare else stmt

    def more_than(self, db, n: int) -> bool:
        """Whether more than ``n`` documents match (any organization on SQLite)."""
        matches, _, _ = self._matches()
        return db.scalar(select(func.count()).select_from(matches.limit(n + 1).subquery())) > n

    @property
    def newest_first_key(self) -> ColumnElement:
        """Orders like ``Report.received_at`` (ties aside) and is read from the index in order."""
        if self.rare:
            return self._collected_matches().c.doc_id
        return fts_table.c.rowid if self.dialect == "sqlite" else docs_table.c.id


RARE_MATCHES = 5_000
STATS_TTL = 300.0
_stats: dict[str, tuple[float, dict[str, float], float, float]] = {}


def _lexeme_stats(db) -> tuple[dict[str, float], float, float]:
    """PostgreSQL: (share of documents holding each frequent word, the smallest listed share,
    the number of documents), from the planner's statistics; cached a few minutes."""
    key = str(db.get_bind().url)
    hit = _stats.get(key)
    if hit and time.monotonic() - hit[0] < STATS_TTL:
        return hit[1:]
    row = db.execute(text("SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                          "WHERE schemaname = current_schema() AND tablename = :t AND attname = 'tsv'"),
                     {"t": DOCS}).first()
    rows = db.scalar(text("SELECT greatest(reltuples, 0) FROM pg_class WHERE oid = CAST(:t AS regclass)"),
                     {"t": DOCS}) or 0.0
    elems, freqs = (row or (None, None))
    shares = dict(zip(elems or [], freqs or []))
    least = freqs[len(elems)] if elems and freqs and len(freqs) > len(elems) else 0.0
    _stats[key] = (time.monotonic(), shares, least, float(rows))
    return shares, least, float(rows)


def expected_matches(db, terms: Terms) -> float:
    """Documents the statistics expect to hold every word (words taken as independent); a word
    not among the frequent ones is taken at the least frequent one's share."""
    shares, least, rows = _lexeme_stats(db)
    share = 1.0
    for word, prefix in terms.words:
        share *= least if prefix else shares.get(word, least)
    return share * rows


def search_for(q: str, db, organization_id: str | None = None) -> Search | None:
    terms = parse(q)
    if not terms:
        return None
    dialect = db.get_bind().dialect.name
    rare = False
    if dialect == "postgresql":
        rare = expected_matches(db, terms) < RARE_MATCHES
        # psycopg prepares a statement run five times, and the server may then plan it once for any
        # words; a plan for unknown words walks the whole number index for rare ones. This
        # transaction plans each search for its own words.
        db.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))
    return Search(terms, dialect, organization_id, rare)
