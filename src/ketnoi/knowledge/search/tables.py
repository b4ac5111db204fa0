"""Tables of the search index. They are derived data (rebuilt by `ketnoi knowledge reindex`), so they
live in their own MetaData, outside the domain models; every name starts with ``knowledge_search_``
(FTS5 adds its shadow tables under the same prefix), which is how schema comparisons skip them."""

from __future__ import annotations

from sqlalchemy import Column, Integer, LargeBinary, MetaData, String, Table, Text

PREFIX = "knowledge_search_"
metadata = MetaData()

# One row per indexed procedure or event. ``id`` is the document number: the FTS5 rowid on SQLite,
# where it is (scope * 4 + status) << 32 | n, so that one organization's documents are one range.
docs = Table(
    "knowledge_search_docs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("collection", String(10), nullable=False),  # procedure | event
    Column("ref_id", String(32), nullable=False),
    Column("organization_id", String(32), nullable=False),  # FK organizations, ON DELETE CASCADE
    Column("status", String(10), nullable=False),
    Column("code", String(50), nullable=False),
    Column("title", Text, nullable=False),  # as written, for results
    Column("excerpt", LargeBinary, nullable=True),  # zlib: the start of the answers as text, for snippets
    Column("type_doc", String(100), nullable=False),
    Column("field", String(300), nullable=False),
    Column("level", String(200), nullable=False),
    Column("areas", Text, nullable=False),  # area ids, space-separated
    Column("tlen", Integer, nullable=False),  # title length in syllables (BM25 length norm)
    Column("blen", Integer, nullable=False),  # body length in syllables
    Column("head", Text, nullable=False),  # title as canonical syllables (exact form), space-separated
    # body as canonical syllables, zlib-compressed: FTS5 contentless tables need the old tokens to
    # delete a document (SQLite ships without contentless_delete before 3.43). NULL on PostgreSQL.
    Column("body", LargeBinary, nullable=True),
)

# Vocabulary of folded syllables, insert-only: where a misspelt query word finds its corrections.
terms = Table(
    "knowledge_search_terms", metadata,
    Column("term", String(64), primary_key=True),
)

# SQLite only: the number of an (organization, collection), the high bits of its documents' numbers
scopes = Table(
    "knowledge_search_scopes", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("organization_id", String(32), nullable=False),
    Column("collection", String(10), nullable=False),
)

FTS = "knowledge_search_fts"  # SQLite: folded head (syllables + bigrams), body, facets; detail=column
XFTS = "knowledge_search_xfts"  # SQLite: canonical accented head and body with positions (phrases)


def is_index_table(name: str) -> bool:
    """For Alembic's ``include_name``: tables that the schema comparison must leave alone."""
    return name.startswith(PREFIX)
