"""Call engine: PBX settings, extensions, trunks, routes, PIN sets, sound files, staging/apply state,
call records and their legs (CC-05…14, CC-21).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('call_records',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('sip_call_id', sa.String(length=255), nullable=False),
    sa.Column('direction', sa.String(length=10), nullable=False),
    sa.Column('caller', sa.String(length=64), nullable=False),
    sa.Column('caller_name', sa.String(length=200), nullable=False),
    sa.Column('called', sa.String(length=64), nullable=False),
    sa.Column('extension', sa.String(length=20), nullable=False),
    sa.Column('trunk_id', sa.String(length=32), nullable=False),
    sa.Column('trunk_name', sa.String(length=100), nullable=False),
    sa.Column('route_name', sa.String(length=100), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disposition', sa.String(length=12), nullable=False),
    sa.Column('hangup_by', sa.String(length=10), nullable=False),
    sa.Column('sip_cause', sa.Integer(), nullable=True),
    sa.Column('duration', sa.Integer(), nullable=False),
    sa.Column('billsec', sa.Integer(), nullable=False),
    sa.Column('recording_path', sa.String(length=300), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_call_records_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_records'))
    )
    with op.batch_alter_table('call_records', schema=None) as batch_op:
        batch_op.create_index('ix_call_records_org_called', ['organization_id', 'called'], unique=False)
        batch_op.create_index('ix_call_records_org_caller', ['organization_id', 'caller'], unique=False)
        batch_op.create_index('ix_call_records_org_started', ['organization_id', 'started_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_call_records_sip_call_id'), ['sip_call_id'], unique=False)

    op.create_table('pbx_extensions',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=20), nullable=False),
    sa.Column('display_name', sa.String(length=200), nullable=False),
    sa.Column('secret_sealed', sa.String(length=400), nullable=False),
    sa.Column('ha1_md5', sa.String(length=32), nullable=False),
    sa.Column('ha1_sha256', sa.String(length=64), nullable=False),
    sa.Column('ha1_realm', sa.String(length=100), nullable=False),
    sa.Column('caller_id_name', sa.String(length=100), nullable=False),
    sa.Column('caller_id_number', sa.String(length=32), nullable=False),
    sa.Column('codecs', sa.JSON(), nullable=False),
    sa.Column('recording', sa.String(length=10), nullable=False),
    sa.Column('max_contacts', sa.Integer(), nullable=False),
    sa.Column('permit', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_extensions_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_extensions')),
    sa.UniqueConstraint('organization_id', 'number', name='uq_pbx_extensions_org_number')
    )
    with op.batch_alter_table('pbx_extensions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_extensions_organization_id'), ['organization_id'], unique=False)

    op.create_table('pbx_pin_sets',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('pins', sa.JSON(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_pin_sets_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_pin_sets')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_pbx_pin_sets_org_name')
    )
    with op.batch_alter_table('pbx_pin_sets', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_pin_sets_organization_id'), ['organization_id'], unique=False)

    op.create_table('pbx_settings',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('sip_udp_port', sa.Integer(), nullable=False),
    sa.Column('sip_tcp_port', sa.Integer(), nullable=False),
    sa.Column('rtp_port_min', sa.Integer(), nullable=False),
    sa.Column('rtp_port_max', sa.Integer(), nullable=False),
    sa.Column('codecs', sa.JSON(), nullable=False),
    sa.Column('public_address', sa.String(length=255), nullable=False),
    sa.Column('local_networks', sa.JSON(), nullable=False),
    sa.Column('sip_realm', sa.String(length=100), nullable=False),
    sa.Column('recording_enabled', sa.Boolean(), nullable=False),
    sa.Column('recording_mode', sa.String(length=10), nullable=False),
    sa.Column('prompt_language', sa.String(length=10), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_settings_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_settings')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_pbx_settings_organization_id'))
    )
    op.create_table('pbx_sounds',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('original_filename', sa.String(length=255), nullable=False),
    sa.Column('original_format', sa.String(length=10), nullable=False),
    sa.Column('storage_name', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('duration_ms', sa.Integer(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_sounds_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_sounds')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_pbx_sounds_org_name')
    )
    with op.batch_alter_table('pbx_sounds', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_sounds_organization_id'), ['organization_id'], unique=False)

    op.create_table('pbx_state',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('applied_revision', sa.Integer(), nullable=False),
    sa.Column('changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('applied_by', sa.String(length=200), nullable=False),
    sa.Column('applied_config', sa.JSON(), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_state_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_state')),
    sa.UniqueConstraint('organization_id', name=op.f('uq_pbx_state_organization_id'))
    )
    op.create_table('pbx_trunks',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('kind', sa.String(length=10), nullable=False),
    sa.Column('host', sa.String(length=255), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('transport', sa.String(length=5), nullable=False),
    sa.Column('username', sa.String(length=100), nullable=False),
    sa.Column('password_sealed', sa.String(length=400), nullable=False),
    sa.Column('realm', sa.String(length=100), nullable=False),
    sa.Column('register_interval', sa.Integer(), nullable=False),
    sa.Column('allowed_networks', sa.JSON(), nullable=False),
    sa.Column('caller_id_mode', sa.String(length=12), nullable=False),
    sa.Column('caller_id_number', sa.String(length=32), nullable=False),
    sa.Column('max_channels', sa.Integer(), nullable=False),
    sa.Column('codecs', sa.JSON(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('status_detail', sa.String(length=300), nullable=False),
    sa.Column('status_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_trunks_organization_id_organizations'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_trunks')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_pbx_trunks_org_name')
    )
    with op.batch_alter_table('pbx_trunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_trunks_organization_id'), ['organization_id'], unique=False)

    op.create_table('call_legs',
    sa.Column('call_id', sa.String(length=32), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=10), nullable=False),
    sa.Column('endpoint_kind', sa.String(length=10), nullable=False),
    sa.Column('endpoint', sa.String(length=100), nullable=False),
    sa.Column('trunk_id', sa.String(length=32), nullable=False),
    sa.Column('number', sa.String(length=64), nullable=False),
    sa.Column('sip_call_id', sa.String(length=255), nullable=False),
    sa.Column('remote_address', sa.String(length=64), nullable=False),
    sa.Column('codec', sa.String(length=10), nullable=False),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('answered_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('disposition', sa.String(length=12), nullable=False),
    sa.Column('sip_cause', sa.Integer(), nullable=True),
    sa.Column('packets_sent', sa.Integer(), nullable=False),
    sa.Column('packets_received', sa.Integer(), nullable=False),
    sa.Column('packets_lost', sa.Integer(), nullable=False),
    sa.Column('jitter_ms', sa.Float(), nullable=True),
    sa.Column('rtt_ms', sa.Float(), nullable=True),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['call_id'], ['call_records.id'], name=op.f('fk_call_legs_call_id_call_records'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_call_legs'))
    )
    with op.batch_alter_table('call_legs', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_call_legs_call_id'), ['call_id'], unique=False)

    op.create_table('pbx_inbound_routes',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('did_pattern', sa.String(length=64), nullable=False),
    sa.Column('caller_pattern', sa.String(length=64), nullable=False),
    sa.Column('prompt_sound_id', sa.String(length=32), nullable=True),
    sa.Column('dest_kind', sa.String(length=20), nullable=False),
    sa.Column('dest_ref', sa.String(length=64), nullable=False),
    sa.Column('description', sa.String(length=500), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_inbound_routes_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['prompt_sound_id'], ['pbx_sounds.id'], name=op.f('fk_pbx_inbound_routes_prompt_sound_id_pbx_sounds'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_inbound_routes')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_pbx_inbound_routes_org_name')
    )
    with op.batch_alter_table('pbx_inbound_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_inbound_routes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pbx_inbound_routes_prompt_sound_id'), ['prompt_sound_id'], unique=False)

    op.create_table('pbx_outbound_routes',
    sa.Column('organization_id', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=100), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('patterns', sa.JSON(), nullable=False),
    sa.Column('pin_set_id', sa.String(length=32), nullable=True),
    sa.Column('caller_id_number', sa.String(length=32), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('id', sa.String(length=32), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], name=op.f('fk_pbx_outbound_routes_organization_id_organizations'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pin_set_id'], ['pbx_pin_sets.id'], name=op.f('fk_pbx_outbound_routes_pin_set_id_pbx_pin_sets'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pbx_outbound_routes')),
    sa.UniqueConstraint('organization_id', 'name', name='uq_pbx_outbound_routes_org_name')
    )
    with op.batch_alter_table('pbx_outbound_routes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_outbound_routes_organization_id'), ['organization_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_pbx_outbound_routes_pin_set_id'), ['pin_set_id'], unique=False)

    op.create_table('pbx_outbound_route_trunks',
    sa.Column('route_id', sa.String(length=32), nullable=False),
    sa.Column('trunk_id', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['route_id'], ['pbx_outbound_routes.id'], name=op.f('fk_pbx_outbound_route_trunks_route_id_pbx_outbound_routes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['trunk_id'], ['pbx_trunks.id'], name=op.f('fk_pbx_outbound_route_trunks_trunk_id_pbx_trunks'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('route_id', 'trunk_id', name=op.f('pk_pbx_outbound_route_trunks'))
    )
    with op.batch_alter_table('pbx_outbound_route_trunks', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_pbx_outbound_route_trunks_trunk_id'), ['trunk_id'], unique=False)


def downgrade() -> None:
    """Forward-only: restore from backup instead (docs/OPERATIONS.md)."""
