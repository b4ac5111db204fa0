"""Knowledge search index: document table and vocabulary on both databases; FTS5 tables on SQLite;
tsvector columns with GIN indexes on PostgreSQL (text is analysed in Python, see
ketnoi.knowledge.search.analysis, so neither database needs unaccent or a Vietnamese dictionary).

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

# unicode61 with our own pre-analysed tokens: lower-case syllables, '_' joins a bigram
_TOKENIZE = "tokenize=\"unicode61 remove_diacritics 0 tokenchars '_'\""


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table('knowledge_search_docs',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('collection', sa.String(length=10), nullable=False),
    sa.Column('ref_id', sa.String(length=32), nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('type_doc', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=300), nullable=False),
    sa.Column('level', sa.String(length=200), nullable=False),
    sa.Column('areas', sa.Text(), nullable=False),
    sa.Column('tlen', sa.Integer(), nullable=False),
    sa.Column('blen', sa.Integer(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('excerpt', sa.LargeBinary(), nullable=True),
    sa.Column('head', sa.Text(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'],
                            name='fk_knowledge_search_docs_organization_id', ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name='pk_knowledge_search_docs'),
    sa.UniqueConstraint('collection', 'ref_id', name='uq_knowledge_search_docs_ref'),
    )
    op.create_index('ix_knowledge_search_docs_scope', 'knowledge_search_docs',
                    ['organization_id', 'collection', 'status'])
    op.create_index('ix_knowledge_search_docs_code', 'knowledge_search_docs', ['organization_id', 'code'])
    op.create_table('knowledge_search_terms',
    sa.Column('term', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('term', name='pk_knowledge_search_terms'),
    )
    if dialect == "sqlite":
        # (organization, collection) numbered: a document's number is (scope*4 + status) << 32 | n
        op.create_table('knowledge_search_scopes',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('organization_id', sa.String(length=32), nullable=False),
        sa.Column('collection', sa.String(length=10), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_knowledge_search_scopes'),
        sa.UniqueConstraint('organization_id', 'collection', name='uq_knowledge_search_scopes_org'),
        )
        # contentless: the document table keeps what a later 'delete' needs
        op.execute(f"CREATE VIRTUAL TABLE knowledge_search_fts USING fts5(head, body, facets, content='', "
                   f"detail=column, {_TOKENIZE})")
        op.execute(f"CREATE VIRTUAL TABLE knowledge_search_xfts USING fts5(head, body, facets, content='', "
                   f"{_TOKENIZE})")
    elif dialect == "postgresql":
        # head: folded syllables and bigrams; body: folded syllables (both without positions);
        # xall: canonical accented title and body with positions, for exact terms and phrases
        for col in ("head_tsv", "body_tsv", "xall_tsv"):
            op.execute(f"ALTER TABLE knowledge_search_docs ADD COLUMN {col} tsvector NOT NULL DEFAULT ''")
            op.execute(f"CREATE INDEX ix_knowledge_search_docs_{col} ON knowledge_search_docs USING gin ({col})")
            # ANALYZE keeps the 10,000 most common lexemes (not 1,000): the search reads them to
            # know which words are too common to fetch postings for
            op.execute(f"ALTER TABLE knowledge_search_docs ALTER COLUMN {col} SET STATISTICS 1000")


def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
