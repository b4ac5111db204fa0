"""Embedded backend: SQLite FTS5, in the same database file and transaction as the content.

Two contentless FTS5 tables hold pre-analysed tokens: ``knowledge_search_fts`` (folded syllables and
title bigrams, detail=column: presence per column is all the ranking needs) and
``knowledge_search_xfts`` (canonical accented syllables with positions, for exact terms and
phrases). A document's number (the FTS rowid) starts with its scope — organization, collection,
status — so a scope is one rowid range, which FTS5 seeks to directly; the rarer filters (folder,
field, level, area) are facet tokens ANDed into the MATCH."""

from __future__ import annotations

import hashlib
import json
import zlib

from sqlalchemy.orm import Session

from ketnoi.knowledge.search import analysis as A
from ketnoi.knowledge.search.documents import IndexDoc, filter_key
from ketnoi.knowledge.search.engine import Feature, Postings, Scope, Stats
from ketnoi.knowledge.search.tables import FTS, XFTS

STATUS_CODES = {"published": 0, "draft": 1, "hidden": 2}  # anything else: 3
SEQ_BITS = 32


def _h(key: str) -> str:
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def facets(type_doc: str, field: str, level: str, areas: str) -> str:
    """Facet tokens from the stored (normalised) filter columns of a document."""
    out = []
    if type_doc:
        out.append(f"t{_h(type_doc)}")
    if field:
        out.append(f"f{_h(field)}")
    out += [f"l{_h(k)}" for k in level.strip("|").split("|") if k]
    out += [f"a{a}" for a in areas.split()]
    return " ".join(out)


def facet_expr(scope: Scope) -> str:
    """MATCH condition of the optional filters ('' when there is none)."""
    parts = []
    if scope.type_doc:
        parts.append(f'"t{_h(filter_key(scope.type_doc))}"')
    if scope.field:
        parts.append(f'"f{_h(filter_key(scope.field))}"')
    if scope.level:
        parts.append(f'"l{_h(filter_key(scope.level))}"')
    if scope.area_id:
        parts.append(_q(f"a{scope.area_id}"))
    return " AND {facets} : (" + " AND ".join(parts) + ")" if parts else ""


def _q(tok: str) -> str:
    return '"' + tok.replace('"', '""') + '"'


def _folded_head(head_canonical: list[str]) -> str:
    f = [A.folded(t) for t in head_canonical]
    return " ".join(dict.fromkeys(f + A.bigrams(f)))


def _folded_body(body_unique: list[str]) -> str:
    return " ".join(dict.fromkeys(map(A.folded, body_unique)))


class SQLiteBackend:
    name = "sqlite"

    @staticmethod
    def _cur(db: Session):
        return db.connection().connection.driver_connection.cursor()

    # --- scopes as rowid ranges ------------------------------------------------------------------
    @staticmethod
    def _scope_key(cur, organization_id: str, collection: str, create: bool = False) -> int | None:
        row = cur.execute("SELECT id FROM knowledge_search_scopes WHERE organization_id = ? AND collection = ?",
                          (organization_id, collection)).fetchone()
        if row:
            return row[0]
        if not create:
            return None
        cur.execute("INSERT INTO knowledge_search_scopes (organization_id, collection) VALUES (?, ?)",
                    (organization_id, collection))
        return cur.lastrowid

    def _range(self, cur, scope: Scope) -> tuple[int, int] | None:
        key = self._scope_key(cur, scope.organization_id, scope.collection)
        if key is None:
            return None
        if scope.status:
            k = key * 4 + STATUS_CODES.get(scope.status, 3)
            return k << SEQ_BITS, ((k + 1) << SEQ_BITS) - 1
        return (key * 4) << SEQ_BITS, ((key * 4 + 4) << SEQ_BITS) - 1

    def _new_id(self, cur, doc: IndexDoc) -> int:
        k = self._scope_key(cur, doc.organization_id, doc.collection, create=True) * 4 + STATUS_CODES.get(doc.status, 3)
        lo = k << SEQ_BITS
        top = cur.execute("SELECT max(id) FROM knowledge_search_docs WHERE id BETWEEN ? AND ?",
                          (lo, lo + (1 << SEQ_BITS) - 1)).fetchone()[0]
        return (top or lo) + 1

    # --- writing ---------------------------------------------------------------------------------
    def upsert(self, db: Session, doc: IndexDoc) -> None:
        cur = self._cur(db)
        head = doc.head_tokens
        row = cur.execute("SELECT id FROM knowledge_search_docs WHERE collection = ? AND ref_id = ?",
                          (doc.collection, doc.ref_id)).fetchone()
        if row:
            self._delete(cur, row[0])
        doc_id = self._new_id(cur, doc)
        fl = doc.filters()
        cur.execute("INSERT INTO knowledge_search_docs (id, collection, ref_id, organization_id, status, code, "
                    "type_doc, field, level, areas, tlen, blen, title, excerpt, head, body) "
                    "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (doc_id, doc.collection, doc.ref_id, doc.organization_id, doc.status, doc.code, fl["type_doc"],
                     fl["field"], fl["level"], fl["areas"], len(head), doc.body_length, doc.title,
                     zlib.compress(doc.excerpt.encode(), 1), " ".join(head),
                     zlib.compress(doc.body_canonical.encode(), 1)))
        fac = facets(fl["type_doc"], fl["field"], fl["level"], fl["areas"])
        cur.execute(f"INSERT INTO {FTS} (rowid, head, body, facets) VALUES (?, ?, ?, ?)",
                    (doc_id, _folded_head(head), " ".join(doc.folded_body()), fac))
        cur.execute(f"INSERT INTO {XFTS} (rowid, head, body, facets) VALUES (?, ?, ?, ?)",
                    (doc_id, " ".join(head), doc.body_canonical, fac))

    def upsert_many(self, db: Session, docs: list[IndexDoc]) -> None:
        for doc in docs:
            self.upsert(db, doc)

    def _delete(self, cur, doc_id: int) -> None:
        """Contentless FTS5 forgets a row only when told exactly what it held."""
        r = cur.execute("SELECT type_doc, field, level, areas, head, body FROM knowledge_search_docs WHERE id = ?",
                        (doc_id,)).fetchone()
        type_doc, field, level, areas, head_s, body_b = r
        body = zlib.decompress(body_b).decode() if body_b else ""
        fac = facets(type_doc, field, level, areas)
        cur.execute(f"INSERT INTO {FTS} ({FTS}, rowid, head, body, facets) VALUES ('delete', ?, ?, ?, ?)",
                    (doc_id, _folded_head(head_s.split()), _folded_body(list(dict.fromkeys(body.split()))), fac))
        cur.execute(f"INSERT INTO {XFTS} ({XFTS}, rowid, head, body, facets) VALUES ('delete', ?, ?, ?, ?)",
                    (doc_id, head_s, body, fac))
        cur.execute("DELETE FROM knowledge_search_docs WHERE id = ?", (doc_id,))

    def remove(self, db: Session, collection: str, ref_id: str) -> None:
        cur = self._cur(db)
        row = cur.execute("SELECT id FROM knowledge_search_docs WHERE collection = ? AND ref_id = ?",
                          (collection, ref_id)).fetchone()
        if row:
            self._delete(cur, row[0])

    def clear(self, db: Session, organization_id: str | None) -> None:
        cur = self._cur(db)
        if organization_id is None:
            cur.execute(f"INSERT INTO {FTS} ({FTS}) VALUES ('delete-all')")
            cur.execute(f"INSERT INTO {XFTS} ({XFTS}) VALUES ('delete-all')")
            cur.execute("DELETE FROM knowledge_search_docs")
            return
        for (doc_id,) in cur.execute("SELECT id FROM knowledge_search_docs WHERE organization_id = ?",
                                     (organization_id,)).fetchall():
            self._delete(cur, doc_id)

    def add_terms(self, db: Session, terms: list[str]) -> None:
        self._cur(db).executemany("INSERT OR IGNORE INTO knowledge_search_terms (term) VALUES (?)",
                                  [(t,) for t in terms])

    def after_bulk(self, db: Session) -> None:
        """After a bulk load: merge the FTS5 segments into one b-tree per table."""
        cur = self._cur(db)
        cur.execute(f"INSERT INTO {FTS} ({FTS}) VALUES ('optimize')")
        cur.execute(f"INSERT INTO {XFTS} ({XFTS}) VALUES ('optimize')")

    # --- reading ---------------------------------------------------------------------------------
    def postings(self, db: Session, scope: Scope, feats: list[Feature], cap: int) -> dict[Feature, Postings]:
        cur = self._cur(db)
        rng = self._range(cur, scope)
        if rng is None:
            return {f: Postings([], True, 0) for f in feats}
        fx = facet_expr(scope)
        out: dict[Feature, Postings] = {}
        for f in feats:
            ids = [r[0] for r in cur.execute(
                f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ? AND rowid BETWEEN ? AND ? LIMIT ?",
                (f"{{{f.field}}} : {_q(f.token)}{fx}", *rng, cap + 1))]
            if len(ids) <= cap:
                out[f] = Postings(ids, True, len(ids))
                continue
            # the share of the scope covered by the first CAP+1 postings estimates how many there are
            out[f] = Postings(ids, False, int(len(ids) / self._share(cur, rng, ids[-1])))
        return out

    def _limited(self, cur, table: str, expr: str, rng: tuple[int, int], limit: int) -> tuple[list[int], int]:
        """The first ``limit`` matches in document order, and how many there are: counted when
        fewer, else estimated from the share of the scope's range they cover."""
        ids = [r[0] for r in cur.execute(f"SELECT rowid FROM {table} WHERE {table} MATCH ? AND rowid BETWEEN ? AND ? "
                                         f"ORDER BY rowid LIMIT ?", (expr, *rng, limit))]
        if len(ids) < limit:
            return ids, len(ids)
        return ids, int(len(ids) / self._share(cur, rng, ids[-1]))

    @staticmethod
    def _share(cur, rng: tuple[int, int], last: int) -> float:
        """Share of a scope's documents numbered up to ``last`` (numbers grow with insertion)."""
        top = cur.execute("SELECT max(id) FROM knowledge_search_docs WHERE id BETWEEN ? AND ?", rng).fetchone()[0]
        return min(max((last - rng[0] + 1) / max((top or rng[1]) - rng[0] + 1, 1), 1e-9), 1.0)

    def all_of(self, db: Session, scope: Scope, tokens: list[str], limit: int) -> tuple[list[int], int]:
        """Documents with every token (the body holds the title too): the first ``limit``, how many."""
        cur = self._cur(db)
        rng = self._range(cur, scope)
        if rng is None:
            return [], 0
        expr = "{body} : (" + " AND ".join(_q(t) for t in tokens) + ")" + facet_expr(scope)
        return self._limited(cur, FTS, expr, rng, limit)

    def exact_matches(self, db: Session, scope: Scope, q: A.Query, limit: int) -> tuple[list[int], int]:
        cur = self._cur(db)
        rng = self._range(cur, scope)
        if rng is None:
            return [], 0
        parts = [_q(t) for t in q.required] + [_q(" ".join(p)) for p in q.phrases]
        expr = "{head body} : (" + " AND ".join(parts) + ")" + facet_expr(scope)
        return self._limited(cur, XFTS, expr, rng, limit)

    def doc_rows(self, db: Session, ids: list[int]) -> dict[int, tuple[int, int, list[str]]]:
        """(title length, body length, folded title syllables) of documents."""
        rows = self._cur(db).execute("SELECT id, tlen, blen, head FROM knowledge_search_docs "
                                     "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
        f = A.folded
        return {r[0]: (r[1], r[2], [f(t) for t in r[3].split()]) for r in rows}

    def page_rows(self, db: Session, ids: list[int]) -> dict[int, tuple[str, str, str, str]]:
        """(ref_id, code, title, excerpt) of the documents shown."""
        rows = self._cur(db).execute("SELECT id, ref_id, code, title, excerpt FROM knowledge_search_docs "
                                     "WHERE id IN (SELECT value FROM json_each(?))", (json.dumps(ids),))
        return {r[0]: (r[1], r[2], r[3], zlib.decompress(r[4]).decode() if r[4] else "") for r in rows}

    def stats(self, db: Session, organization_id: str, collection: str) -> Stats:
        cur = self._cur(db)
        rng = self._range(cur, Scope(organization_id, collection, None))
        if rng is None:
            return Stats(0, 0.0, 0.0)
        n, st, sb = cur.execute("SELECT count(*), sum(tlen), sum(blen) FROM knowledge_search_docs "
                                "WHERE id BETWEEN ? AND ?", rng).fetchone()
        return Stats(n, (st or 0) / max(n, 1), (sb or 0) / max(n, 1))

    def code_match(self, db: Session, scope: Scope, text: str) -> int | None:
        """A query that is exactly a procedure code finds that procedure first."""
        if not text or len(text) > 50 or " " in text:
            return None
        cur = self._cur(db)
        rng = self._range(cur, scope)
        if rng is None:
            return None
        row = cur.execute("SELECT id FROM knowledge_search_docs WHERE organization_id = ? AND code = ? "
                          "AND id BETWEEN ? AND ?", (scope.organization_id, text, *rng)).fetchone()
        if not row:
            return None
        fx = facet_expr(scope)
        if fx and not cur.execute(f"SELECT rowid FROM {FTS} WHERE {FTS} MATCH ? AND rowid = ?",
                                  (fx.removeprefix(" AND "), row[0])).fetchone():
            return None
        return row[0]

    def known_terms(self, db: Session, candidates: set[str]) -> set[str]:
        if not candidates:
            return set()
        rows = self._cur(db).execute("SELECT term FROM knowledge_search_terms "
                                     "WHERE term IN (SELECT value FROM json_each(?))", (json.dumps(sorted(candidates)),))
        return {r[0] for r in rows}
