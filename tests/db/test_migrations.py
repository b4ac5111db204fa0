"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from ketnoi.db import registry  # noqa: F401
from ketnoi.db.base import Base


def _include(obj, name, type_, reflected, compare_to):
    # the search index tables are created by raw DDL in migration 0005 (FTS5 virtual tables on
    # SQLite, tsvector/trigram structures on PostgreSQL) and have no ORM model
    return not (type_ == "table" and name.startswith("knowledge_search"))


def test_models_and_migrations_agree(db_url):
    eng = create_engine(db_url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_object": _include})
        diff = compare_metadata(ctx, Base.metadata)
    eng.dispose()
    assert diff == [], f"models differ from migrations: {diff}"
