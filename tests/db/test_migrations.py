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


def test_freeze_lists_survive_the_move_to_json_columns(tmp_path, request):
    """0003 turns the freezes' text columns into JSON: rows written as text under 0002 read back as lists."""
    from sqlalchemy import text

    from changegate.db.models import Freeze
    from sqlalchemy.orm import Session

    for url in _fresh_databases(tmp_path, request):
        engine = make_engine(url)
        upgrade(engine, "0002")
        with engine.begin() as conn:
            conn.execute(text(
                "INSERT INTO freezes (name, environments, items, starts_at, ends_at, reason, emergency_override, "
                "created_by, created_at) VALUES ('year end', '[\"prod\"]', '[\"mes-db\", \"line-3\"]', "
                "'2026-12-20 00:00:00+00:00', '2027-01-04 00:00:00+00:00', 'closing', false, 'chris.change', "
                "'2026-12-01 00:00:00+00:00')"))
        upgrade(engine)
        with Session(engine) as session:
            freeze = session.query(Freeze).one()
            assert (freeze.environments, freeze.items) == (["prod"], ["mes-db", "line-3"])
        engine.dispose()


def _fresh_databases(tmp_path, request) -> list[str]:
    """An empty SQLite file and an empty PostgreSQL database (no schema yet)."""
    urls = [f"sqlite:///{tmp_path / 'fresh.db'}"]
    cluster = request.getfixturevalue("pg_cluster")
    urls.append(cluster.url(cluster.create_database("fresh")))
    return urls
