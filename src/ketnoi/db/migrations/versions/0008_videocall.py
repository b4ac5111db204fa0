"""Video-call module: partners, hotlines, queues, groups, agents, calls, call events.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vc_auth_failures',
    sa.Column('organization_id', sa.String(length=32), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('channel', sa.String(length=10), nullable=False),
    sa.Column('key_id', sa.String(length=60), nullable=False),
    sa.Column('call_id', sa.String(length=32), nullable=True),
    sa.Column('outcome', sa.String(length=30), nullable=False),
    sa.Column('detail', sa.Text(), nullable=False),
    sa.Column('ip', sa.String(length=64), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_auth_failures'))
    )
    with op.batch_alter_table('vc_auth_failures', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_auth_failures_at'), ['at'], unique=False)
        batch_op.create_index(batch_op.f('ix_vc_auth_failures_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_nonces',
    sa.Column('scope', sa.String(length=60), nullable=False),
    sa.Column('nonce', sa.String(length=100), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('scope', 'nonce', name=op.f('pk_vc_nonces'))
    )
    with op.batch_alter_table('vc_nonces', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_nonces_expires_at'), ['expires_at'], unique=False)

    op.create_table('vc_groups',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('strategy', sa.String(length=20), nullable=False),
    sa.Column('conditions', sa.JSON(), nullable=False),
    sa.Column('agent_ring_seconds', sa.Integer(), nullable=False),
    sa.Column('overflow_seconds', sa.Integer(), nullable=False),
    sa.Column('fallback_group_id', sa.String(length=32), nullable=True),
    sa.Column('rr_cursor', sa.Integer(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['fallback_group_id'], ['vc_groups.id'], name=op.f('fk_vc_groups_fallback_group_id_vc_groups'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_groups_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_groups')),
    sa.UniqueConstraint('organization_id', 'code', name='uq_vc_groups_org_code')
    )
    with op.batch_alter_table('vc_groups', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_groups_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_media_files',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('content_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('storage_name', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_media_files_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_media_files'))
    )
    with op.batch_alter_table('vc_media_files', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_media_files_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_partners',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('key_id', sa.String(length=40), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_partners_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_partners')),
    sa.UniqueConstraint('key_id', name=op.f('uq_vc_partners_key_id')),
    sa.UniqueConstraint('organization_id', 'code', name='uq_vc_partners_org_code')
    )
    with op.batch_alter_table('vc_partners', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_partners_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_queues',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=50), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('max_wait_seconds', sa.Integer(), nullable=False),
    sa.Column('waiting_file_id', sa.String(length=32), nullable=True),
    sa.Column('group_ids', sa.JSON(), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_queues_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['waiting_file_id'], ['vc_media_files.id'], name=op.f('fk_vc_queues_waiting_file_id_vc_media_files'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_queues')),
    sa.UniqueConstraint('organization_id', 'code', name='uq_vc_queues_org_code')
    )
    with op.batch_alter_table('vc_queues', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_queues_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_agents',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('user_id', sa.String(length=32), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('status_since', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_call_ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_agents_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['user_id'], ['users.id'], name=op.f('fk_vc_agents_user_id_users'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_agents')),
    sa.UniqueConstraint('user_id', name=op.f('uq_vc_agents_user_id'))
    )
    with op.batch_alter_table('vc_agents', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_agents_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_hotlines',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=30), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('queue_id', sa.String(length=32), nullable=True),
    sa.Column('greeting_start_id', sa.String(length=32), nullable=True),
    sa.Column('greeting_end_id', sa.String(length=32), nullable=True),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['greeting_end_id'], ['vc_media_files.id'], name=op.f('fk_vc_hotlines_greeting_end_id_vc_media_files'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['greeting_start_id'], ['vc_media_files.id'], name=op.f('fk_vc_hotlines_greeting_start_id_vc_media_files'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_hotlines_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['queue_id'], ['vc_queues.id'], name=op.f('fk_vc_hotlines_queue_id_vc_queues'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_hotlines')),
    sa.UniqueConstraint('organization_id', 'number', name='uq_vc_hotlines_org_number')
    )
    with op.batch_alter_table('vc_hotlines', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_hotlines_organization_id'), ['organization_id'], unique=False)

    op.create_table('vc_agent_status_log',
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['vc_agents.id'], name=op.f('fk_vc_agent_status_log_agent_id_vc_agents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_agent_status_log'))
    )
    with op.batch_alter_table('vc_agent_status_log', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_agent_status_log_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_vc_agent_status_log_at'), ['at'], unique=False)

    op.create_table('vc_calls',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('code', sa.String(length=30), nullable=False),
    sa.Column('partner_id', sa.String(length=32), nullable=True),
    sa.Column('hotline_id', sa.String(length=32), nullable=True),
    sa.Column('queue_id', sa.String(length=32), nullable=True),
    sa.Column('group_id', sa.String(length=32), nullable=True),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('status', sa.String(length=15), nullable=False),
    sa.Column('caller_key', sa.String(length=200), nullable=False),
    sa.Column('caller_ref', sa.String(length=100), nullable=False),
    sa.Column('caller_name', sa.String(length=200), nullable=False),
    sa.Column('caller_phone', sa.String(length=20), nullable=False),
    sa.Column('caller_user', sa.String(length=100), nullable=False),
    sa.Column('caller_team', sa.String(length=100), nullable=False),
    sa.Column('caller_group', sa.String(length=100), nullable=False),
    sa.Column('caller_unit', sa.String(length=100), nullable=False),
    sa.Column('language', sa.String(length=10), nullable=False),
    sa.Column('vip', sa.Boolean(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.Column('auth_method', sa.String(length=10), nullable=False),
    sa.Column('routing_path', sa.JSON(), nullable=False),
    sa.Column('group_entered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('next_action_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('janus_instance', sa.String(length=100), nullable=False),
    sa.Column('janus_room', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('connected_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_by', sa.String(length=20), nullable=False),
    sa.Column('end_reason', sa.String(length=30), nullable=False),
    sa.Column('reconnects', sa.Integer(), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('recording_status', sa.String(length=12), nullable=False),
    sa.Column('recording_path', sa.String(length=500), nullable=False),
    sa.Column('recording_seconds', sa.Double(), nullable=True),
    sa.Column('recording_error', sa.String(length=500), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['vc_agents.id'], name=op.f('fk_vc_calls_agent_id_vc_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['hotline_id'], ['vc_hotlines.id'], name=op.f('fk_vc_calls_hotline_id_vc_hotlines'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_vc_calls_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['partner_id'], ['vc_partners.id'], name=op.f('fk_vc_calls_partner_id_vc_partners'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_calls')),
    sa.UniqueConstraint('code', name=op.f('uq_vc_calls_code'))
    )
    with op.batch_alter_table('vc_calls', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_calls_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index('ix_vc_calls_caller_key_status', ['caller_key', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_vc_calls_next_action_at'), ['next_action_at'], unique=False)
        batch_op.create_index('ix_vc_calls_org_created', ['organization_id', 'created_at'], unique=False)
        batch_op.create_index('ix_vc_calls_status', ['status'], unique=False)

    op.create_table('vc_memberships',
    sa.Column('group_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['vc_agents.id'], name=op.f('fk_vc_memberships_agent_id_vc_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['group_id'], ['vc_groups.id'], name=op.f('fk_vc_memberships_group_id_vc_groups'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('group_id', 'agent_id', name=op.f('pk_vc_memberships'))
    )
    op.create_table('vc_call_events',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('actor', sa.String(length=20), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('message', sa.String(length=500), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['vc_calls.id'], name=op.f('fk_vc_call_events_call_id_vc_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_call_events'))
    )
    with op.batch_alter_table('vc_call_events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_call_events_at'), ['at'], unique=False)
        batch_op.create_index('ix_vc_call_events_call_seq', ['call_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_vc_call_events_type'), ['type'], unique=False)

    op.create_table('vc_participants',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=True),
    sa.Column('user_id', sa.String(length=32), nullable=True),
    sa.Column('session_id', sa.String(length=32), nullable=True),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('salt', sa.String(length=64), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('signal_online', sa.Boolean(), nullable=False),
    sa.Column('signal_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('media_state', sa.String(length=15), nullable=False),
    sa.Column('media_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('joined_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('reconnects', sa.Integer(), nullable=False),
    sa.Column('quality', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['vc_agents.id'], name=op.f('fk_vc_participants_agent_id_vc_agents'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['call_id'], ['vc_calls.id'], name=op.f('fk_vc_participants_call_id_vc_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_participants'))
    )
    with op.batch_alter_table('vc_participants', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_participants_call_id'), ['call_id'], unique=False)

    op.create_table('vc_rings',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('agent_id', sa.String(length=32), nullable=False),
    sa.Column('group_id', sa.String(length=32), nullable=True),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ends_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('outcome', sa.String(length=12), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['agent_id'], ['vc_agents.id'], name=op.f('fk_vc_rings_agent_id_vc_agents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['call_id'], ['vc_calls.id'], name=op.f('fk_vc_rings_call_id_vc_calls'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vc_rings'))
    )
    with op.batch_alter_table('vc_rings', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vc_rings_agent_id'), ['agent_id'], unique=False)
        batch_op.create_index('ix_vc_rings_call_open', ['call_id', 'ended_at'], unique=False)
