"""api_tokens loses last_used_at, a column nothing ever wrote

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 13:25:00

No command or page ever showed it, and nothing wrote it. Writing it on every request would turn every
authenticated read into a write (SQLite's single writer, PostgreSQL churn on the read path's hottest
rows); writing it in batches would add a background writer for a figure nobody reads. Tokens age out by
their expiry (`token create --expires`); a last-use date, if wanted later, belongs in a batched writer
off the request path (docs/operators-guide.md).
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.drop_column('last_used_at')


def downgrade() -> None:
    with op.batch_alter_table('api_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True))
