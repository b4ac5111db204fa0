"""Scale-out backend: PostgreSQL GIN indexes over tsvector columns of the document table.

The lexemes are our own analysed tokens (array_to_tsvector and tsvector literals), so neither
unaccent nor the server's locale or text-search configuration plays any part: ``head_tsv`` holds
folded title syllables and bigrams, ``body_tsv`` folded body syllables (the body repeats the
title), ``xall_tsv`` the canonical accented body with positions for exact terms and phrases."""

from __future__ import annotations

import time

from sqlalchemy.orm import Session

from ketnoi.knowledge.search import analysis as A
from ketnoi.knowledge.search.documents import IndexDoc, filter_key
from ketnoi.knowledge.search.engine import Feature, Postings, Scope, Stats, collection_stats

MAX_POS = 16383  # tsvector positions stop here
FREQ_TTL = 300.0
_freq_cache: dict[str, tuple[float, dict[str, dict[str, float]]]] = {}
MAX_POSITIONS = 255  # per lexeme
GIN_INDEXES = ("ix_knowledge_search_docs_head_tsv", "ix_knowledge_search_docs_body_tsv",
               "ix_knowledge_search_docs_xall_tsv")


def _lex(tok: str) -> str:
    return "'" + tok.replace("\\", "\\\\").replace("'", "''") + "'"


def positions_literal(body: str) -> str:
    """tsvector text of the body (which begins with the title) with word positions."""
    pos: dict[str, list[int]] = {}
    p = 1
    for t in body.split():
        if p > MAX_POS:
            break
        lst = pos.setdefault(t, [])
        if len(lst) < MAX_POSITIONS:
            lst.append(p)
        p += 1
    return " ".join(f"{_lex(t)}:{','.join(map(str, ps))}" for t, ps in pos.items())


def scope_sql(scope: Scope) -> tuple[str, list]:
    sql, args = ["organization_id = %s", "collection = %s"], [scope.organization_id, scope.collection]
    if scope.status:
        sql.append("status = %s")
        args.append(scope.status)
    if scope.type_doc:
        sql.append("type_doc = %s")
        args.append(filter_key(scope.type_doc))
    if scope.field:
        sql.append("field = %s")
        args.append(filter_key(scope.field))
    if scope.level:
        sql.append("position(%s in level) > 0")
        args.append(f"|{filter_key(scope.level)}|")
    if scope.area_id:
        sql.append("position(%s in ' ' || areas || ' ') > 0")
        args.append(f" {scope.area_id} ")
    return " AND ".join(sql), args


class PostgresBackend:
    name = "postgresql"

    @staticmethod
    def _cur(db: Session):
        return db.connection().connection.driver_connection.cursor()

    @staticmethod
    def _indexed(cur, sql: str, params) -> list[tuple]:
        """Run a GIN query as bitmap scans only, for its duration: the planner's cost model does not
        see that a sequential or plain index scan filtering on ``@@`` decompresses every row's
        tsvector (a GIN bitmap never does), and picks one for common words."""
        cur.execute("SELECT current_setting('enable_seqscan'), current_setting('enable_indexscan'), "
                    "set_config('enable_seqscan', 'off', true), set_config('enable_indexscan', 'off', true)")
        seq, idx = cur.fetchone()[:2]
        try:
            cur.execute(sql, params)
            return cur.fetchall()
        finally:
            cur.execute("SELECT set_config('enable_seqscan', %s, true), set_config('enable_indexscan', %s, true)",
                        (seq, idx))

    # --- writing ---------------------------------------------------------------------------------
    _UPSERT = (
        "INSERT INTO knowledge_search_docs (collection, ref_id, organization_id, status, code, type_doc, field, "
        "level, areas, tlen, blen, title, excerpt, head, body, head_tsv, body_tsv, xall_tsv) VALUES (%s, %s, %s, "
        "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, NULL, array_to_tsvector(%s::text[]), "
        "array_to_tsvector(%s::text[]), %s::tsvector) "
        "ON CONFLICT (collection, ref_id) DO UPDATE SET organization_id = EXCLUDED.organization_id, "
        "status = EXCLUDED.status, code = EXCLUDED.code, type_doc = EXCLUDED.type_doc, field = EXCLUDED.field, "
        "level = EXCLUDED.level, areas = EXCLUDED.areas, tlen = EXCLUDED.tlen, blen = EXCLUDED.blen, "
        "title = EXCLUDED.title, excerpt = EXCLUDED.excerpt, head = EXCLUDED.head, head_tsv = EXCLUDED.head_tsv, "
        "body_tsv = EXCLUDED.body_tsv, xall_tsv = EXCLUDED.xall_tsv")

    @staticmethod
    def _values(doc: IndexDoc) -> tuple:
        head = doc.head_tokens
        fhead = [A.folded(t) for t in head]
        fl = doc.filters()
        return (doc.collection, doc.ref_id, doc.organization_id, doc.status, doc.code, fl["type_doc"], fl["field"],
                fl["level"], fl["areas"], len(head), doc.body_length, doc.title, doc.excerpt.encode(),
                " ".join(head), list(dict.fromkeys(fhead + A.bigrams(fhead))), doc.folded_body(),
                positions_literal(doc.body_canonical))

    def upsert(self, db: Session, doc: IndexDoc) -> None:
        self._cur(db).execute(self._UPSERT, self._values(doc))

    def upsert_many(self, db: Session, docs: list[IndexDoc]) -> None:
        """One pipelined round of upserts (the bulk path)."""
        if docs:
            self._cur(db).executemany(self._UPSERT, [self._values(d) for d in docs])

    def remove(self, db: Session, collection: str, ref_id: str) -> None:
        self._cur(db).execute("DELETE FROM knowledge_search_docs WHERE collection = %s AND ref_id = %s",
                              (collection, ref_id))

    def clear(self, db: Session, organization_id: str | None) -> None:
        if organization_id is None:
            self._cur(db).execute("DELETE FROM knowledge_search_docs")
        else:
            self._cur(db).execute("DELETE FROM knowledge_search_docs WHERE organization_id = %s", (organization_id,))

    def add_terms(self, db: Session, terms: list[str]) -> None:
        self._cur(db).execute("INSERT INTO knowledge_search_terms (term) SELECT unnest(%s::text[]) "
                              "ON CONFLICT DO NOTHING", (terms,))

    def after_bulk(self, db: Session) -> None:
        """After a bulk load: move GIN pending entries into the trees, refresh planner statistics."""
        cur = self._cur(db)
        for ix in GIN_INDEXES:
            cur.execute("SELECT gin_clean_pending_list(%s::regclass)", (ix,))
        cur.execute("ANALYZE knowledge_search_docs")

    # --- reading ---------------------------------------------------------------------------------
    def _frequencies(self, db: Session) -> dict[str, dict[str, float]]:
        """Share of rows holding each frequent lexeme, from the planner's statistics (ANALYZE keeps
        the most common elements of tsvector columns), per column; cached a few minutes."""
        key = str(db.get_bind().url)
        hit = _freq_cache.get(key)
        if hit and time.monotonic() - hit[0] < FREQ_TTL:
            return hit[1]
        cur = self._cur(db)
        cur.execute("SELECT attname, most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                    "WHERE schemaname = current_schema() AND tablename = 'knowledge_search_docs' "
                    "AND attname IN ('head_tsv', 'body_tsv')")
        out = {name[:-4]: dict(zip(elems or [], freqs or [])) for name, elems, freqs in cur.fetchall()}
        _freq_cache[key] = (time.monotonic(), out)
        return out

    def postings(self, db: Session, scope: Scope, feats: list[Feature], cap: int) -> dict[Feature, Postings]:
        if not feats:
            return {}
        out: dict[Feature, Postings] = {}
        # lexemes the statistics already show to be common are not fetched: a GIN bitmap of most of
        # the table costs more than the whole rest of the search
        freqs = self._frequencies(db)
        n = collection_stats(db, self, scope.organization_id, scope.collection).n if freqs else 0
        fetch = []
        for f in feats:
            share = freqs.get(f.field, {}).get(f.token, 0.0)
            if share * n > 2 * cap:
                out[f] = Postings([], False, int(share * n))
            else:
                fetch.append(f)
        if not fetch:
            return out
        feats = fetch
        where, args = scope_sql(scope)
        parts, params = [], []
        for i, f in enumerate(feats):
            parts.append(f"(SELECT {i} AS i, id, (ctid::text::point)[0]::bigint AS blk FROM knowledge_search_docs "
                         f"WHERE {where} AND {f.field}_tsv @@ %s::tsquery LIMIT {cap + 1})")
            params += [*args, _lex(f.token)]
        cur = self._cur(db)
        rows = self._indexed(cur, " UNION ALL ".join(parts), params)
        ids: list[list[int]] = [[] for _ in feats]
        blks = [0] * len(feats)
        for i, doc_id, blk in rows:
            ids[i].append(doc_id)
            blks[i] = max(blks[i], blk)
        total_blocks = None
        for i, f in enumerate(feats):
            if len(ids[i]) <= cap:
                out[f] = Postings(sorted(ids[i]), True, len(ids[i]))
                continue
            if total_blocks is None:
                total_blocks = self._blocks(cur)
            # the bitmap scan reads the heap in block order: the share of blocks read so far
            # estimates how many matches there are in all
            share = (blks[i] + 1) / total_blocks
            out[f] = Postings(sorted(ids[i]), False, int(len(ids[i]) / min(max(share, 1e-9), 1.0)))
        return out

    def all_of(self, db: Session, scope: Scope, tokens: list[str], limit: int) -> tuple[list[int], int]:
        """Documents with every token (the body holds the title too): the first ``limit``, how many."""
        where, args = scope_sql(scope)
        return self._limited(db, f"{where} AND body_tsv @@ %s::tsquery", [*args, " & ".join(map(_lex, tokens))],
                             limit)

    def _limited(self, db: Session, where: str, args: list, limit: int) -> tuple[list[int], int]:
        """The first ``limit`` matches in heap order, and how many there are: counted when fewer,
        else estimated from the share of the table's blocks read to find them (counting tens of
        thousands of rows would cost more than the search)."""
        cur = self._cur(db)
        rows = self._indexed(cur, f"SELECT id, (ctid::text::point)[0]::bigint FROM knowledge_search_docs "
                                  f"WHERE {where} LIMIT %s", [*args, limit])
        ids = [r[0] for r in rows]
        if len(ids) < limit:
            return ids, len(ids)
        return ids, int(len(ids) / min(max((max(r[1] for r in rows) + 1) / self._blocks(cur), 1e-9), 1.0))

    @staticmethod
    def _blocks(cur) -> int:
        cur.execute("SELECT pg_relation_size('knowledge_search_docs') / current_setting('block_size')::int")
        return max(cur.fetchone()[0], 1)

    def exact_matches(self, db: Session, scope: Scope, q: A.Query, limit: int) -> tuple[list[int], int]:
        where, args = scope_sql(scope)
        parts = [_lex(t) for t in q.required] + ["(" + " <-> ".join(_lex(t) for t in p) + ")" for p in q.phrases]
        return self._limited(db, f"{where} AND xall_tsv @@ %s::tsquery", [*args, " & ".join(parts)], limit)

    def doc_rows(self, db: Session, ids: list[int]) -> dict[int, tuple[int, int, list[str]]]:
        cur = self._cur(db)
        cur.execute("SELECT id, tlen, blen, head FROM knowledge_search_docs WHERE id = ANY(%s)", (ids,))
        f = A.folded
        return {r[0]: (r[1], r[2], [f(t) for t in r[3].split()]) for r in cur.fetchall()}

    def page_rows(self, db: Session, ids: list[int]) -> dict[int, tuple[str, str, str, str]]:
        """(ref_id, code, title, excerpt) of the documents shown."""
        cur = self._cur(db)
        cur.execute("SELECT id, ref_id, code, title, excerpt FROM knowledge_search_docs WHERE id = ANY(%s)", (ids,))
        return {r[0]: (r[1], r[2], r[3], bytes(r[4]).decode() if r[4] else "") for r in cur.fetchall()}

    def stats(self, db: Session, organization_id: str, collection: str) -> Stats:
        cur = self._cur(db)
        cur.execute("SELECT count(*), coalesce(sum(tlen), 0), coalesce(sum(blen), 0) FROM knowledge_search_docs "
                    "WHERE organization_id = %s AND collection = %s", (organization_id, collection))
        n, st, sb = cur.fetchone()
        return Stats(n, float(st) / max(n, 1), float(sb) / max(n, 1))

    def code_match(self, db: Session, scope: Scope, text: str) -> int | None:
        if not text or len(text) > 50 or " " in text:
            return None
        where, args = scope_sql(scope)
        cur = self._cur(db)
        cur.execute(f"SELECT id FROM knowledge_search_docs WHERE {where} AND code = %s LIMIT 1", [*args, text])
        row = cur.fetchone()
        return row[0] if row else None

    def known_terms(self, db: Session, candidates: set[str]) -> set[str]:
        if not candidates:
            return set()
        cur = self._cur(db)
        cur.execute("SELECT term FROM knowledge_search_terms WHERE term = ANY(%s)", (sorted(candidates),))
        return {r[0] for r in cur.fetchall()}
