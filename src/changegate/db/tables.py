"""Tables defined in SQLAlchemy Core, for reads that need no ORM; ``models.py`` maps its classes onto them.

One schema: these are the tables themselves (on the one ``metadata`` that ``models.Base`` uses), not a copy.
A read-only command that imports only this module and ``reads.py`` skips ``sqlalchemy.orm``, the mapped
classes and the repositories (issue 13: ``changegate schedule next-slot``). Define a table here when such a
reader needs it; the rest stay declarative in ``models.py``.
"""

from __future__ import annotations

from datetime import timezone

from sqlalchemy import JSON, Boolean, Column, DateTime, ForeignKey, Index, Integer, MetaData, String, Table, Text
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on both engines (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _text(name: str) -> Column:
    return Column(name, Text, nullable=False, default="")


changes = Table(
    "changes", metadata,
    Column("id", Integer, primary_key=True),
    Column("title", String(200), nullable=False),
    _text("description"),
    Column("type", String(20), nullable=False, index=True),
    Column("category", String(30), nullable=False),
    Column("release_level", String(10), nullable=False),
    Column("risk", String(20), nullable=False),
    Column("environment", String(64), nullable=False, index=True),
    Column("state", String(20), nullable=False, index=True),
    Column("requester", String(64), nullable=False, index=True),
    Column("template_id", String(64)),
    Column("version_label", String(64)),  # semantic version it ships
    _text("impact_analysis"),
    _text("implementation_plan"),
    _text("verification_plan"),
    _text("readiness_analysis"),
    _text("risk_analysis"),
    _text("emergency_plan"),
    _text("rollback_script"),
    Column("rollback_interpreter", String(64), nullable=False, default="sh"),
    Column("planned_start", UTCDateTime()),
    Column("estimated_downtime_minutes", Integer),
    Column("uat_signoff_by", String(64)),
    Column("uat_signoff_at", UTCDateTime()),
    _text("uat_signoff_note"),
    Column("implemented_at", UTCDateTime()),
    Column("retro_approval_due", UTCDateTime()),
    Column("closed_at", UTCDateTime()),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    # Optimistic concurrency: every UPDATE checks and bumps it, so two writers
    # that read the same version cannot both succeed.
    Column("row_version", Integer, nullable=False, default=1),
)

# A configuration item or module a change touches (plain names until the CMDB lands).
change_items = Table(
    "change_items", metadata,
    Column("change_id", ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(200), primary_key=True),
    Column("position", Integer, nullable=False, default=0),
    Index("ix_change_items_name", "name"),
)

# An ad-hoc freeze added at run time by a change manager (the policy holds the planned ones).
freezes = Table(
    "freezes", metadata,
    Column("id", Integer, primary_key=True),
    Column("name", String(100), nullable=False),
    Column("environments", JSON, nullable=False, default=list),  # empty = every environment
    Column("items", JSON, nullable=False, default=list),  # empty = every item
    Column("starts_at", UTCDateTime(), nullable=False),
    Column("ends_at", UTCDateTime(), nullable=False),
    Column("reason", Text, nullable=False),
    Column("emergency_override", Boolean, nullable=False, default=False),
    Column("created_by", String(64), nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
    Column("lifted_at", UTCDateTime()),
)
