"""Migration 0008 installs procrastinate's shipped schema on PostgreSQL, in a schema of its own, and takes
it away on downgrade; ``changegate db upgrade`` leaves a database the workers can use at once."""

from __future__ import annotations

import os
import subprocess
import sys

from sqlalchemy import text

from changegate.db.engine import make_engine


def test_db_upgrade_installs_procrastinates_schema_and_downgrade_removes_it(pg_cluster):
    url = pg_cluster.url(pg_cluster.create_database("fresh"))
    done = subprocess.run([sys.executable, "-m", "changegate.cli.main", "db", "upgrade"], capture_output=True,
                          text=True, env={**os.environ, "CHANGEGATE_DATABASE_URL": url})
    assert done.returncode == 0, done.stdout + done.stderr
    engine = make_engine(url)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT to_regclass('procrastinate.procrastinate_jobs')")).scalar() is not None
        assert conn.execute(text("SELECT to_regclass('public.procrastinate_jobs')")).scalar() is None

    import procrastinate

    from changegate.jobs.procrastinate_engine import pool_args

    app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(**pool_args(engine.url, 2)))
    with app.open():
        assert app.check_connection()  # procrastinate finds its own tables through the workers' search_path

    from alembic import command

    from changegate.db.migrate import alembic_config

    cfg = alembic_config(engine)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0007")
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM pg_namespace WHERE nspname = 'procrastinate'")).scalar() == 0
    engine.dispose()
