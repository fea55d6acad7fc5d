"""conflict acceptances

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 02:24:25.288274
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('conflict_acceptances',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('change_id', sa.Integer(), nullable=False),
    sa.Column('other_change_id', sa.Integer(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('accepted_by', sa.String(length=64), nullable=False),
    sa.Column('accepted_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['change_id'], ['changes.id'], name=op.f('fk_conflict_acceptances_change_id_changes'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['other_change_id'], ['changes.id'], name=op.f('fk_conflict_acceptances_other_change_id_changes'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conflict_acceptances')),
    sa.UniqueConstraint('change_id', 'other_change_id', name='uq_conflict_acceptances_pair')
    )
    with op.batch_alter_table('conflict_acceptances', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_conflict_acceptances_change_id'), ['change_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_conflict_acceptances_other_change_id'), ['other_change_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('conflict_acceptances', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_conflict_acceptances_other_change_id'))
        batch_op.drop_index(batch_op.f('ix_conflict_acceptances_change_id'))

    op.drop_table('conflict_acceptances')

