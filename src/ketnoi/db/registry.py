"""Imports every domain's models so that Base.metadata is complete (for Alembic and tests)."""

from ketnoi.audit import models as _audit  # noqa: F401
from ketnoi.catalog import models as _catalog  # noqa: F401
from ketnoi.core import models as _core  # noqa: F401
from ketnoi.identity import models as _identity  # noqa: F401
from ketnoi.jobs import models as _jobs  # noqa: F401
from ketnoi.knowledge import models as _knowledge  # noqa: F401
from ketnoi.outbox import models as _outbox  # noqa: F401
from ketnoi.reports import models as _reports  # noqa: F401
from ketnoi.sms import models as _sms  # noqa: F401
from ketnoi.telephony.pbx import models as _pbx  # noqa: F401
from ketnoi.videocall import models as _videocall  # noqa: F401

# Search indexes: derived tables created by raw DDL (FTS5 virtual tables on SQLite, tsvector
# columns on PostgreSQL) without an ORM model; schema comparisons leave them alone.
DERIVED_TABLE_PREFIXES = ("knowledge_search_", "report_search_")


def include_object(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic ``include_object``: everything but the derived search tables."""
    return not (type_ == "table" and name.startswith(DERIVED_TABLE_PREFIXES))
