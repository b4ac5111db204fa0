"""Indexes for report totals at scale: the unit scope counted in disjoint parts.

A unit-scoped list is counted as its unit subtree plus the reports outside it that are assigned
to, created by or supported by the user (``reports.service.unit_scope``). Each part needs an index
of its own: ``created_by_id`` had none (the "mine" list and the scope's third part read every
report of the organization), and a status list of a unit (in progress, overdue…) is served by
``(organization_id, status, unit_path, due_at)`` from the index alone, over live reports only like
the partial indexes of 0003 (docs/BENCHMARKS.md, 1,000,000 reports).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    live = sa.text("deleted_at IS NULL")
    # the organization and the assignee ride along: "mine" of a coordinator (created by them,
    # assigned to someone else) is counted from the index alone
    op.create_index("ix_reports_live_created_by", "reports", ["created_by_id", "organization_id", "assignee_id"],
                    unique=False, sqlite_where=live, postgresql_where=live)
    # LIKE 'prefix%' on the unit path needs the pattern operator class on PostgreSQL (as in 0003)
    op.create_index("ix_reports_live_org_status_unit", "reports", ["organization_id", "status", "unit_path", "due_at"],
                    unique=False, sqlite_where=live, postgresql_where=live,
                    postgresql_ops={"unit_path": "varchar_pattern_ops"})


def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
