"""deployment_runs gains monitor_until: when a run's early-life monitoring ends

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03 16:00:00

A run whose checks passed at T+N keeps running them at an interval until this instant (the plan's
timing.monitor_for; docs/runner.md). Stored, not recomputed, so a worker that takes the run over
keeps the same end.
"""
from alembic import op
import sqlalchemy as sa


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('deployment_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('monitor_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('deployment_runs', schema=None) as batch_op:
        batch_op.drop_column('monitor_until')
