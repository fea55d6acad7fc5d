"""freezes keep their environment and item lists in JSON columns

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 12:30:00

SQLite stores JSON as text, so the stored lists read back as they are; PostgreSQL converts the
text column in place (every value was written by json.dumps, so each casts cleanly).
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

_COLUMNS = ("environments", "items")


def upgrade() -> None:
    with op.batch_alter_table('freezes', schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, existing_type=sa.Text(), type_=sa.JSON(), existing_nullable=False,
                                  postgresql_using=f"{column}::json")


def downgrade() -> None:
    with op.batch_alter_table('freezes', schema=None) as batch_op:
        for column in _COLUMNS:
            batch_op.alter_column(column, existing_type=sa.JSON(), type_=sa.Text(), existing_nullable=False,
                                  postgresql_using=f"{column}::text")
