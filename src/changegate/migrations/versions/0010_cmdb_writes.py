"""the CMDB's write log: what each generation changed, so graph indexes catch up without a rebuild

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03 16:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('cmdb_writes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('generation', sa.BigInteger(), nullable=False),
    sa.Column('op', sa.String(length=16), nullable=False),
    sa.Column('a', sa.BigInteger(), nullable=False),
    sa.Column('b', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.String(length=64), nullable=False),
    sa.Column('criticality', sa.String(length=16), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cmdb_writes'))
    )
    with op.batch_alter_table('cmdb_writes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cmdb_writes_generation'), ['generation'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('cmdb_writes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cmdb_writes_generation'))
    op.drop_table('cmdb_writes')
