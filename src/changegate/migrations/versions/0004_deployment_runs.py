"""deployment plans, runs and their steps (issue 14)

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 13:30:00
"""
from alembic import op
import sqlalchemy as sa



revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'deployment_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('change_id', sa.Integer(), nullable=False),
        sa.Column('filename', sa.String(length=255), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('attached_by', sa.String(length=64), nullable=False),
        sa.Column('attached_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['change_id'], ['changes.id'], name=op.f('fk_deployment_plans_change_id_changes'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_plans')),
    )
    op.create_index(op.f('ix_deployment_plans_change_id'), 'deployment_plans', ['change_id'], unique=False)
    op.create_table(
        'deployment_runs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('change_id', sa.Integer(), nullable=False),
        sa.Column('environment', sa.String(length=64), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('plan_filename', sa.String(length=255), nullable=False),
        sa.Column('plan_text', sa.Text(), nullable=False),
        sa.Column('plan_sha256', sa.String(length=64), nullable=False),
        sa.Column('artifact_sha256', sa.String(length=64), nullable=True),
        sa.Column('rehearsal', sa.Boolean(), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('lease_owner', sa.String(length=100), nullable=True),
        sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('deploy_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('deploy_ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('checks_due_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('check_failed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rollback_started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rollback_ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('rollback_over_limit', sa.Boolean(), nullable=True),
        sa.Column('downtime_seconds', sa.Float(), nullable=True),
        sa.Column('estimated_downtime_minutes', sa.Integer(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('notes', sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(['change_id'], ['changes.id'], name=op.f('fk_deployment_runs_change_id_changes'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_deployment_runs')),
    )
    op.create_index(op.f('ix_deployment_runs_change_id'), 'deployment_runs', ['change_id'], unique=False)
    op.create_index(op.f('ix_deployment_runs_state'), 'deployment_runs', ['state'], unique=False)
    op.create_index(op.f('ix_deployment_runs_artifact_sha256'), 'deployment_runs', ['artifact_sha256'],
                    unique=False)
    op.create_table(
        'run_steps',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('run_id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=120), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('attempt', sa.Integer(), nullable=False),
        sa.Column('exit_status', sa.Integer(), nullable=True),
        sa.Column('output', sa.Text(), nullable=False),
        sa.Column('detail', sa.JSON(), nullable=False),
        sa.Column('worker', sa.String(length=100), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['run_id'], ['deployment_runs.id'], name=op.f('fk_run_steps_run_id_deployment_runs'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_run_steps')),
        sa.UniqueConstraint('run_id', 'key', name='uq_run_steps_run_key'),
    )
    op.create_index(op.f('ix_run_steps_run_id'), 'run_steps', ['run_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_run_steps_run_id'), table_name='run_steps')
    op.drop_table('run_steps')
    op.drop_index(op.f('ix_deployment_runs_artifact_sha256'), table_name='deployment_runs')
    op.drop_index(op.f('ix_deployment_runs_state'), table_name='deployment_runs')
    op.drop_index(op.f('ix_deployment_runs_change_id'), table_name='deployment_runs')
    op.drop_table('deployment_runs')
    op.drop_index(op.f('ix_deployment_plans_change_id'), table_name='deployment_plans')
    op.drop_table('deployment_plans')
