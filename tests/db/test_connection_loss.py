"""A PostgreSQL connection lost under the pool (a restart, a failover) costs one request at most, which is
told to try again; the next reconnects. The engine does not ping each connection before use (a round
trip per request, issue 13), so this is what stands in for it."""

from __future__ import annotations

from sqlalchemy import text

from changegate.core.errors import Unavailable
from changegate.db.engine import make_engine
from changegate.services import changes
from changegate.services.policy import load_policy
from changegate.services.runtime import Runtime
from changegate.settings import DEFAULT_POLICY, Settings


def test_a_lost_connection_fails_one_request_with_try_again_and_the_next_reconnects(pg_cluster, pg_template, clock):
    url = pg_cluster.url(pg_cluster.create_database("lost", template=pg_template))
    rt = Runtime(Settings(database_url=url), make_engine(url), load_policy(DEFAULT_POLICY), clock)
    try:
        with rt.uow() as uow:
            ref = changes.create_change(uow, rt.context("dana.dev"), changes.ChangeCreate(
                title="Relabel", category="application", release_level="patch", environment="prod",
                items=["mes-labels"])).ref
        killer = make_engine(pg_cluster.url())
        with killer.connect() as conn:  # every pooled connection of the runtime dies, as in a restart
            killed = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                       "WHERE datname = :db AND pid <> pg_backend_pid()"),
                                  {"db": url.rsplit("/", 1)[1]}).scalar_one()
        killer.dispose()
        assert killed >= 1
        failures = 0
        for _ in range(3):
            try:
                with rt.uow(write=False) as uow:
                    assert changes.get_change(uow, rt.context("dana.dev"), ref).ref == ref
            except Unavailable as err:
                failures += 1
                assert "try again" in str(err)
        assert failures <= 1  # one without pool_pre_ping, none with it; never a traceback
    finally:
        rt.close()
