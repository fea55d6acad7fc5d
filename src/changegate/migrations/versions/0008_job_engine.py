"""The job engine: procrastinate's schema on PostgreSQL; a run's count of worker errors; background jobs

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 15:50:00

procrastinate ships its whole current schema as ``procrastinate/sql/schema.sql`` and, for databases made
by an older release, the steps between releases as ``procrastinate/sql/migrations/*.sql`` (named by the
release that added them). This migration applies the shipped schema.sql of the pinned release (pyproject:
``procrastinate>=3.10,<3.11``) into a schema of its own, ``procrastinate``, so it never mixes with our
tables (the models describe ``public`` only). It first checks that the installed procrastinate's schema is
the one this migration was written for (its newest shipped migration file): a newer release would need its
own Alembic migration applying the new files of ``sql/migrations`` (docs/runner.md, "Workers").
SQLite has no procrastinate: the worker inside ``changegate serve`` uses our own lease (changegate.jobs).
"""
from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

SCHEMA = "procrastinate"
# The newest file of procrastinate/sql/migrations in the release whose schema.sql this applies (3.10).
SCHEMA_VERSION = "03.04.00_50_post_add_retry_failed_job_procedure.sql"


def _shipped_schema() -> str:
    from importlib import resources

    migrations = resources.files("procrastinate.sql") / "migrations"
    newest = max(p.name for p in migrations.iterdir() if p.name.endswith(".sql"))
    if newest != SCHEMA_VERSION:
        raise RuntimeError(
            f"the installed procrastinate's schema is at {newest}, but migration 0008 installs the schema at "
            f"{SCHEMA_VERSION}: install the procrastinate release pinned in pyproject.toml, or add a migration "
            "that applies procrastinate's newer sql/migrations files")
    return (resources.files("procrastinate.sql") / "schema.sql").read_text(encoding="utf-8")


def upgrade() -> None:
    # A worker's unexpected errors on a run, counted so that a run whose driving keeps raising ends failed.
    with op.batch_alter_table('deployment_runs', schema=None) as batch_op:
        batch_op.add_column(sa.Column('worker_errors', sa.Integer(), server_default='0', nullable=False))
    op.create_table(
        'background_jobs',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('kind', sa.String(length=40), nullable=False),
        sa.Column('state', sa.String(length=20), nullable=False),
        sa.Column('actor', sa.String(length=64), nullable=False),
        sa.Column('params', sa.JSON(), nullable=False),
        sa.Column('progress', sa.JSON(), nullable=False),
        sa.Column('result', sa.JSON(), nullable=True),
        sa.Column('error', sa.JSON(), nullable=True),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('lease_owner', sa.String(length=100), nullable=True),
        sa.Column('lease_expires', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_background_jobs')),
    )
    op.create_index(op.f('ix_background_jobs_state'), 'background_jobs', ['state'], unique=False)
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    schema = _shipped_schema()
    driver = bind.connection.driver_connection  # psycopg: a query without parameters may hold many statements
    driver.execute(f"CREATE SCHEMA {SCHEMA}")
    driver.execute(f"SET LOCAL search_path TO {SCHEMA}")
    driver.execute(schema)
    driver.execute("SET LOCAL search_path TO DEFAULT")


def downgrade() -> None:
    op.drop_table('background_jobs')
    with op.batch_alter_table('deployment_runs', schema=None) as batch_op:
        batch_op.drop_column('worker_errors')
    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        bind.connection.driver_connection.execute(f"DROP SCHEMA {SCHEMA} CASCADE")
