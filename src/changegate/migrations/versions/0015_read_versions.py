"""the read version: one row every committed write moves, so each process can keep views it validates per request

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03 19:00:00
"""
from alembic import op
import sqlalchemy as sa


revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    read_versions = op.create_table('read_versions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_read_versions'))
    )
    op.bulk_insert(read_versions, [{"id": 1, "version": 0}])


def downgrade() -> None:
    op.drop_table('read_versions')
