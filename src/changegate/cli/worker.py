"""``changegate worker``: a process that carries out deployment runs (docs/runner.md, "Workers").

On PostgreSQL it is a procrastinate worker; start any number, on any number of machines. On SQLite
``changegate serve`` runs a worker itself, and this command runs the same lease loop in its own process.
"""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start.

from typing import Annotated, Optional

import typer

from ..core.errors import ChangegateError
from .output import console, escape, fail
from .state import state


def worker(
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, max=500, help="How many runs this process drives at once.")] = 4,
    max_runs: Annotated[Optional[int], typer.Option("--max-runs", help="Stop after driving this many runs.")] = None,
    exit_when_idle: Annotated[bool, typer.Option("--exit-when-idle", help="Stop when no run needs a worker.")] = False,
) -> None:
    """Take runs that need a worker (queued, or whose worker stopped) and drive them; runs until stopped."""
    from ..jobs import engine_for
    from ..services.runs_worker import worker_id

    rt = state.runtime()
    try:
        rt.ensure_schema()
    except ChangegateError as exc:
        fail(exc)
    engine = engine_for(rt)
    _sqlite_pruning(rt)
    me = worker_id()
    console.print(f"worker {me} started ({engine.name}, {concurrency} at once)", highlight=False)
    try:  # a lease too short for this database is a configuration error (exit 2), not a traceback
        driven = engine.work(concurrency=concurrency, max_runs=max_runs, exit_when_idle=exit_when_idle,
                             on_event=lambda line: console.print(f"  {escape(line)}", highlight=False))
    except ChangegateError as exc:
        fail(exc)
    console.print(f"worker {me} drove {driven} run(s)", highlight=False)


def _sqlite_pruning(rt) -> None:
    """On SQLite, prune finished background jobs past their retention now, then hourly in a thread (procrastinate's
    workers prune in their sweep)."""
    if rt.engine.dialect.name == "sqlite":
        from ..jobs import start_pruning

        start_pruning(rt)


jobs_app = typer.Typer(help="Background jobs (the SQL check, the audit verification started through the API).",
                       no_args_is_help=True)


@jobs_app.callback()
def _jobs() -> None:
    """Background jobs: the SQL checks and audit verifications started through the API."""


@jobs_app.command("prune")
def prune(json_out: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Delete the background jobs that ended longer ago than their retention: succeeded ones after
    CHANGEGATE_JOB_RETENTION_DAYS (30), failed ones after CHANGEGATE_FAILED_JOB_RETENTION_DAYS (90); on
    PostgreSQL procrastinate's own finished jobs likewise. Workers do this by themselves every hour."""
    from ..jobs import prune as prune_jobs
    from .output import emit_json

    rt = state.runtime()
    try:
        rt.ensure_schema()
        pruned = prune_jobs(rt)
    except ChangegateError as exc:
        fail(exc)
    if json_out:
        emit_json(pruned)
        return
    console.print(f"pruned {pruned['succeeded']} succeeded and {pruned['failed']} failed background job(s)"
                  + ("; procrastinate's finished jobs past the same retention" if pruned.get("procrastinate") else ""),
                  highlight=False)


class serve_worker:
    """``changegate serve``'s worker (SQLite): started before the server, stopped after it (a context
    manager). On PostgreSQL, or with ``--run-concurrency 0``, it says where runs execute and starts nothing."""

    def __init__(self, rt, concurrency: int):
        self.rt, self.concurrency, self.pool = rt, concurrency, None

    def __enter__(self) -> "serve_worker":
        if self.rt.engine.dialect.name != "sqlite":
            print("deployment runs queued here are carried out by 'changegate worker' processes")
        elif self.concurrency > 0:
            from ..jobs import engine_for

            try:  # a lease too short for this database: a configuration error (exit 2) before serving
                self.pool = engine_for(self.rt).start_background(concurrency=self.concurrency)
            except ChangegateError as exc:
                fail(exc)
            print(f"a worker in this process carries out deployment runs ({self.concurrency} at once)")
            _sqlite_pruning(self.rt)
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.stop()
