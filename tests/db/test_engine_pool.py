"""A busy server keeps its connections (issue 13): connections used by as many requests at once as the
server runs threads are pooled, not opened and closed again per request (SQLAlchemy's default pool kept
5 and closed the rest; each SQLite connection then ran its PRAGMAs again, each PostgreSQL one started a
server process)."""

from __future__ import annotations

from sqlalchemy import event

from changegate.db.engine import make_engine

AT_ONCE = 20  # more than SQLAlchemy's default of 5 kept, within what the server's pools keep


def test_connections_used_at_once_are_kept_for_the_next_requests(database_url):
    engine = make_engine(database_url)
    opened = []
    event.listen(engine, "connect", lambda *_: opened.append(1))
    try:
        for _ in range(3):  # three bursts of concurrent requests
            held = [engine.connect() for _ in range(AT_ONCE)]
            for conn in held:
                conn.close()
        assert len(opened) == AT_ONCE
    finally:
        engine.dispose()
