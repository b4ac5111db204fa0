"""Full-text index of reports (CRM-03 free-text search; ketnoi.reports.search): one document per
report numbered in reception order — an FTS5 table over it on SQLite, a GIN-indexed tsvector on
PostgreSQL — filled from the reports already stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute("CREATE TABLE report_search_docs (id INTEGER PRIMARY KEY, report_id VARCHAR(32) NOT NULL, "
                   "body TEXT NOT NULL, CONSTRAINT uq_report_search_docs_report UNIQUE (report_id), "
                   "CONSTRAINT fk_report_search_docs_report_id FOREIGN KEY (report_id) REFERENCES reports (id) "
                   "ON DELETE CASCADE)")
        # detail=none: no positions or columns — the search needs AND and prefixes only
        op.execute("CREATE VIRTUAL TABLE report_search_fts USING fts5(body, content='report_search_docs', "
                   "content_rowid='id', detail=none, tokenize='unicode61 remove_diacritics 0')")
    else:
        op.execute("CREATE TABLE report_search_docs (id BIGINT NOT NULL, report_id VARCHAR(32) NOT NULL, "
                   "organization_id VARCHAR(32) NOT NULL, tsv tsvector NOT NULL, "
                   "CONSTRAINT pk_report_search_docs PRIMARY KEY (id), "
                   "CONSTRAINT uq_report_search_docs_report UNIQUE (report_id), "
                   "CONSTRAINT fk_report_search_docs_report_id FOREIGN KEY (report_id) REFERENCES reports (id) "
                   "ON DELETE CASCADE)")
        op.execute("CREATE INDEX ix_report_search_docs_tsv ON report_search_docs USING gin (tsv)")
        op.execute("CREATE INDEX ix_report_search_docs_org_id ON report_search_docs (organization_id, id)")
        op.execute("ALTER TABLE report_search_docs ALTER COLUMN tsv SET STATISTICS 1000")
    from ketnoi.reports.search import rebuild

    rebuild(op.get_bind())


def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
