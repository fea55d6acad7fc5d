"""the configuration management database: items, relations and the index generation

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 13:20:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cmdb_items',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.Column('owner', sa.String(length=200), nullable=False),
    sa.Column('environment', sa.String(length=64), nullable=False),
    sa.Column('criticality', sa.String(length=16), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('attributes', sa.JSON(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cmdb_items')),
    sa.UniqueConstraint('name', name=op.f('uq_cmdb_items_name'))
    )
    with op.batch_alter_table('cmdb_items', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cmdb_items_type'), ['type'], unique=False)
    op.create_table('cmdb_relations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('target_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['cmdb_items.id'], name=op.f('fk_cmdb_relations_source_id_cmdb_items'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['target_id'], ['cmdb_items.id'], name=op.f('fk_cmdb_relations_target_id_cmdb_items'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cmdb_relations')),
    sa.UniqueConstraint('source_id', 'target_id', 'type', name='uq_cmdb_relations_triple')
    )
    with op.batch_alter_table('cmdb_relations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cmdb_relations_target_id'), ['target_id'], unique=False)
    state = op.create_table('cmdb_state',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cmdb_state'))
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])
    op.create_table('cmdb_curations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('item', sa.String(length=200), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('curated_by', sa.String(length=64), nullable=False),
    sa.Column('curated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['changes.id'], name=op.f('fk_cmdb_curations_change_id_changes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cmdb_curations')),
    sa.UniqueConstraint('change_id', 'item', name='uq_cmdb_curations_change_item')
    )
    with op.batch_alter_table('cmdb_curations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cmdb_curations_change_id'), ['change_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cmdb_curations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cmdb_curations_change_id'))
    op.drop_table('cmdb_curations')
    op.drop_table('cmdb_state')
    with op.batch_alter_table('cmdb_relations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cmdb_relations_target_id'))
    op.drop_table('cmdb_relations')
    with op.batch_alter_table('cmdb_items', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cmdb_items_type'))
    op.drop_table('cmdb_items')
