"""Database layer: engine, sessions, declarative base, Alembic migrations."""

from ketnoi.db.base import Base, UTCDateTime, new_id, utcnow
from ketnoi.db.session import Database, get_database, init_database

__all__ = ["Base", "UTCDateTime", "new_id", "utcnow", "Database", "get_database", "init_database"]
