"""Knowledge base: procedures, answers, attachments, events, API keys, nonces and call log.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('api_call_log',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('organization_id', sa.String(length=32), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('method', sa.String(length=10), nullable=False),
    sa.Column('path', sa.String(length=500), nullable=False),
    sa.Column('status', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=40), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_call_log'))
    )
    with op.batch_alter_table('api_call_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_call_log_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_call_log_key_id'), ['key_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_api_call_log_organization_id'), ['organization_id'], unique=False)

    op.create_table('api_nonces',
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key_id', 'nonce', name=op.f('pk_api_nonces'))
    )
    with op.batch_alter_table('api_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_nonces_seen_at'), ['seen_at'], unique=False)

    op.create_table('api_keys',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('scopes', sa.String(length=200), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('created_by_id', sa.String(length=32), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_by', sa.String(length=40), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_api_keys_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_id', name=op.f('uq_api_keys_key_id'))
    )
    with op.batch_alter_table('api_keys', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_api_keys_organization_id'), ['organization_id'], unique=False)

    op.create_table('knowledge_events',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('starts_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('place', sa.String(length=500), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_knowledge_events_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_events'))
    )
    with op.batch_alter_table('knowledge_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_events_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_knowledge_events_starts_at'), ['starts_at'], unique=False)

    op.create_table('procedures',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('title', sa.String(length=1000), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('type_doc', sa.String(length=100), nullable=False),
    sa.Column('field', sa.String(length=300), nullable=False),
    sa.Column('level', sa.String(length=200), nullable=False),
    sa.Column('agency', sa.String(length=1000), nullable=False),
    sa.Column('authority', sa.String(length=1000), nullable=False),
    sa.Column('procedure_type', sa.String(length=300), nullable=False),
    sa.Column('subjects', sa.String(length=1000), nullable=False),
    sa.Column('decision_no', sa.String(length=200), nullable=False),
    sa.Column('source_url', sa.String(length=500), nullable=False),
    sa.Column('details', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_procedures_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_procedures')),
    sa.UniqueConstraint('organization_id', 'code', name='uq_procedures_org_code')
    )
    with op.batch_alter_table('procedures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_procedures_field'), ['field'], unique=False)
        batch_op.create_index('ix_procedures_org_status', ['organization_id', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_procedures_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_procedures_type_doc'), ['type_doc'], unique=False)

    op.create_table('answers',
    sa.Column('procedure_id', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('sort_order', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['procedure_id'], ['procedures.id'], name=op.f('fk_answers_procedure_id_procedures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_answers'))
    )
    with op.batch_alter_table('answers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_answers_procedure_id'), ['procedure_id'], unique=False)

    op.create_table('procedure_areas',
    sa.Column('procedure_id', sa.String(length=32), nullable=False),
    sa.Column('area_id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['area_id'], ['areas.id'], name=op.f('fk_procedure_areas_area_id_areas'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['procedure_id'], ['procedures.id'], name=op.f('fk_procedure_areas_procedure_id_procedures'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('procedure_id', 'area_id', name=op.f('pk_procedure_areas'))
    )
    op.create_table('knowledge_attachments',
    sa.Column('answer_id', sa.String(length=32), nullable=False),
    sa.Column('filename', sa.String(length=255), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('storage_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['answer_id'], ['answers.id'], name=op.f('fk_knowledge_attachments_answer_id_answers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_knowledge_attachments'))
    )
    with op.batch_alter_table('knowledge_attachments', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_knowledge_attachments_answer_id'), ['answer_id'], unique=False)



def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
