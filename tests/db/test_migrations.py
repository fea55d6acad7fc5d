"""The Alembic history builds the models' schema on both engines, and walks back down."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from changegate.db.engine import make_engine
from changegate.db.migrate import alembic_config, current_revision, head_revision, upgrade
from changegate.db.models import Base


def test_migrations_match_models_and_downgrade(database_url):
    engine = make_engine(database_url)  # the fixture already upgraded it to head
    assert current_revision(engine) == head_revision()
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models and migrations disagree: {diff}"
    from alembic import command

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert "conflict_acceptances" in inspect(engine).get_table_names()
    engine.dispose()
