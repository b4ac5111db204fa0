"""Migrations build exactly the schema the models describe, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine

from ketnoi.db import registry
from ketnoi.db.base import Base


def test_models_and_migrations_agree(db_url):
    eng = create_engine(db_url)
    with eng.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": False, "include_object": registry.include_object})
        diff = compare_metadata(ctx, Base.metadata)
    eng.dispose()
    assert diff == [], f"models differ from migrations: {diff}"
