"""Create or migrate the schema with Alembic (the migrations ship inside the package).

Alembic is imported only to migrate. Checking that a database is current (every local CLI call does) reads
the version table with one query and finds the head from the migration files' ``revision`` lines: importing
Alembic and loading its script directory costs more than the command itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from . import bare

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"


@dataclass(frozen=True)
class Upgraded:
    """What ``upgrade`` did: from which revision (None: an empty database) to which, and how many tables."""

    before: str | None
    after: str | None
    tables: int

    def sentence(self) -> str:
        if self.before == self.after:
            return f"already up to date at revision {self.after}"
        if self.before is None:
            return f"created the schema at revision {self.after} ({self.tables} tables)"
        return f"migrated from revision {self.before} to {self.after}"


def alembic_config(engine: Engine | None = None):
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    if engine is not None:
        cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> Upgraded:
    from alembic import command

    before = current_revision(engine)
    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    tables = len([t for t in inspect(engine).get_table_names() if t != "alembic_version"])
    return Upgraded(before, current_revision(engine), tables)


def current_revision(engine: Engine) -> str | None:
    """The revision recorded in the database, None when it holds no schema yet."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        try:
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
        except DBAPIError:  # pragma: no cover - a version table without the column is not ours
            return None


head_revision = bare.head_revision  # read from the files without SQLAlchemy (bare.py), for the bare reads too
