"""Background jobs queue; indexes for the report lists at scale.

The report lists always read live reports (``deleted_at IS NULL``) of one organization, newest
first. Partial indexes on exactly those rows let SQLite and PostgreSQL serve a page without
sorting and count a filtered list from the index alone (docs/BENCHMARKS.md, 1,000,000 reports).
``ix_reports_deleted_at`` goes: no query looks reports up by deletion time, and once SQLite has
statistics (ANALYZE) it mistook ``deleted_at IS NULL`` for a selective filter and sorted the whole
table for every page.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('jobs',
    sa.Column('organization_id', sa.String(length=32), nullable=True),
    sa.Column('kind', sa.String(length=60), nullable=False),
    sa.Column('params', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('progress', sa.Integer(), nullable=False),
    sa.Column('total', sa.Integer(), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('result_file', sa.String(length=200), nullable=False),
    sa.Column('result_name', sa.String(length=200), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('worker', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('heartbeat_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_jobs_created_by_id_users'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_jobs_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_jobs'))
    )
    with op.batch_alter_table('jobs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_jobs_created_by_id'), ['created_by_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_jobs_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index('ix_jobs_status_created', ['status', 'created_at'], unique=False)

    live = sa.text("deleted_at IS NULL")
    for name, columns, extra in (
            ("ix_reports_live_org_received", ["organization_id", "received_at"], {}),
            ("ix_reports_live_org_status_received", ["organization_id", "status", "received_at"], {}),
            ("ix_reports_live_org_status_due", ["organization_id", "status", "due_at"], {}),
            ("ix_reports_live_org_category_received", ["organization_id", "category_id", "received_at"], {}),
            # LIKE 'prefix%' on the unit path (unit filter, unit scope) needs the pattern operator class on
            # PostgreSQL unless the database collation is C
            ("ix_reports_live_org_unit_path", ["organization_id", "unit_path"],
             {"postgresql_ops": {"unit_path": "varchar_pattern_ops"}})):
        op.create_index(name, "reports", columns, unique=False, sqlite_where=live, postgresql_where=live, **extra)
    op.drop_index("ix_reports_deleted_at", table_name="reports")


def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
