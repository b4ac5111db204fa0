"""SMS channel: providers, messages, parts, status history, keyword rules, templates.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('sms_unmatched_receipts',
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('provider_message_id', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('done_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('received_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_unmatched_receipts')),
    sa.UniqueConstraint('provider', 'provider_message_id', 'status', name='uq_sms_unmatched_receipts_id_status')
    )
    with op.batch_alter_table('sms_unmatched_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_unmatched_receipts_received_at'), ['received_at'], unique=False)

    op.create_table('sms_messages',
    sa.Column('organization_id', sa.String(length=32), nullable=True),
    sa.Column('direction', sa.String(length=3), nullable=False),
    sa.Column('phone', sa.String(length=20), nullable=False),
    sa.Column('short_code', sa.String(length=20), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('parts', sa.Integer(), nullable=False),
    sa.Column('encoding', sa.String(length=5), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=40), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('changes', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.String(length=500), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('claimed_by', sa.String(length=80), nullable=False),
    sa.Column('claimed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('report_id', sa.String(length=32), nullable=True),
    sa.Column('outbox_id', sa.String(length=32), nullable=True),
    sa.Column('template_id', sa.String(length=32), nullable=True),
    sa.Column('reply_to_id', sa.String(length=32), nullable=True),
    sa.Column('created_by_id', sa.String(length=32), nullable=True),
    sa.Column('created_by_name', sa.String(length=200), nullable=False),
    sa.Column('handled_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('sent_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sms_messages_organization_id_organizations'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_messages'))
    )
    with op.batch_alter_table('sms_messages', schema=None) as batch_op:
        batch_op.create_index('ix_sms_messages_created', ['created_at'], unique=False)
        batch_op.create_index('ix_sms_messages_org_created', ['organization_id', 'created_at'], unique=False)
        batch_op.create_index('ix_sms_messages_org_phone_created', ['organization_id', 'phone', 'created_at'], unique=False)
        batch_op.create_index('ix_sms_messages_org_status_created', ['organization_id', 'status', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_sms_messages_report_id'), ['report_id'], unique=False)
        batch_op.create_index('ix_sms_messages_status_priority_due', ['status', 'priority', 'next_attempt_at'], unique=False)

    op.create_table('sms_providers',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('brandnames', sa.JSON(), nullable=False),
    sa.Column('is_default', sa.Boolean(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sms_providers_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_providers')),
    sa.UniqueConstraint('name', name=op.f('uq_sms_providers_name'))
    )
    with op.batch_alter_table('sms_providers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_providers_organization_id'), ['organization_id'], unique=False)

    op.create_table('sms_templates',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('brandname', sa.String(length=20), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sms_templates_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_templates')),
    sa.UniqueConstraint('organization_id', 'code', name='uq_sms_templates_org_code')
    )
    with op.batch_alter_table('sms_templates', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_templates_organization_id'), ['organization_id'], unique=False)

    op.create_table('sms_keyword_rules',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('keyword', sa.String(length=20), nullable=False),
    sa.Column('action', sa.String(length=20), nullable=False),
    sa.Column('category_id', sa.String(length=32), nullable=True),
    sa.Column('ack_template_id', sa.String(length=32), nullable=True),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['ack_template_id'], ['sms_templates.id'], name=op.f('fk_sms_keyword_rules_ack_template_id_sms_templates'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['category_id'], ['categories.id'], name=op.f('fk_sms_keyword_rules_category_id_categories'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_sms_keyword_rules_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_keyword_rules')),
    sa.UniqueConstraint('organization_id', 'keyword', name='uq_sms_keyword_rules_org_keyword')
    )
    with op.batch_alter_table('sms_keyword_rules', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_keyword_rules_organization_id'), ['organization_id'], unique=False)

    op.create_table('sms_message_parts',
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('provider_message_id', sa.String(length=100), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('error', sa.String(length=300), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['sms_messages.id'], name=op.f('fk_sms_message_parts_message_id_sms_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_message_parts')),
    sa.UniqueConstraint('provider', 'provider_message_id', name='uq_sms_message_parts_provider_id')
    )
    with op.batch_alter_table('sms_message_parts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_message_parts_message_id'), ['message_id'], unique=False)

    op.create_table('sms_status_history',
    sa.Column('message_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('from_status', sa.String(length=10), nullable=False),
    sa.Column('to_status', sa.String(length=10), nullable=False),
    sa.Column('provider', sa.String(length=40), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['message_id'], ['sms_messages.id'], name=op.f('fk_sms_status_history_message_id_sms_messages'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_sms_status_history')),
    sa.UniqueConstraint('message_id', 'seq', name='uq_sms_status_history_seq')
    )
    with op.batch_alter_table('sms_status_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_sms_status_history_message_id'), ['message_id'], unique=False)
