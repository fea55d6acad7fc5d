"""Where background work executes: the job engine behind one interface (docs/runner.md, "Workers").

- PostgreSQL: procrastinate (``procrastinate_engine.py``). ``changegate worker`` runs a procrastinate worker, any
  number of them on any number of machines, each driving ``--concurrency`` runs at once.
- SQLite: the in-house lease loop (``inhouse.py``), run by a worker inside ``changegate serve`` (and by
  ``changegate worker`` when asked).

Either way the job engine is only the dispatcher: a run's durable state and its lease live in our tables
(``deployment_runs``), and ``services/runs_worker.py`` decides under the row's lock who drives a run. A job
that is delivered twice, retried, or orphaned by a killed worker therefore never runs a run twice.
"""

from __future__ import annotations

import threading
import weakref
from typing import Callable, Protocol

from ..services.runtime import Runtime

OnEvent = Callable[[str], None]
DEFAULT_CONCURRENCY = 4


class Stoppable(Protocol):
    def stop(self, grace: float = ...) -> None: ...


class JobEngine(Protocol):
    """What the API, ``serve`` and ``changegate worker`` ask of a job engine."""

    name: str

    def dispatch_run(self, run_id: int) -> None:
        """Ask a worker to drive this run now (after the transaction that queued it committed). Harmless when
        the run is driven already or needs no worker: the lease decides."""

    def dispatch_runs(self, run_ids: list[int]) -> None:
        """``dispatch_run`` for many runs queued together, in one round trip where the engine can."""

    def dispatch_job(self, job_id: int) -> None:
        """Ask a worker to carry out this background job (services/background.py) now."""

    def work(self, *, concurrency: int = DEFAULT_CONCURRENCY, max_runs: int | None = None,
             exit_when_idle: bool = False, on_event: OnEvent | None = None) -> int:
        """This process is a worker until stopped (or ``max_runs`` driven, or idle): how many runs it drove."""

    def start_background(self, *, concurrency: int = DEFAULT_CONCURRENCY,
                         on_event: OnEvent | None = None) -> Stoppable:
        """A worker inside this process (``changegate serve`` on SQLite), stopped with ``stop()``."""

    def close(self) -> None: ...


_engines: "weakref.WeakKeyDictionary[object, JobEngine]" = weakref.WeakKeyDictionary()
_guard = threading.Lock()


def engine_for(rt: Runtime) -> JobEngine:
    """The job engine of the runtime's database (one per database engine and process)."""
    with _guard:
        engine = _engines.get(rt.engine)
        if engine is None:
            if rt.engine.dialect.name == "postgresql":
                from .procrastinate_engine import ProcrastinateEngine

                engine = ProcrastinateEngine(rt)
            else:
                from .inhouse import InHouseEngine

                engine = InHouseEngine(rt)
            _engines[rt.engine] = engine
        return engine


def dispatch_run(rt: Runtime, run_id: int) -> None:
    """``engine_for(rt).dispatch_run(run_id)``; a failure to reach the queue is not the caller's failure: the
    run is queued in our table and the workers' sweep dispatches it (docs/runner.md, "Workers")."""
    try:
        engine_for(rt).dispatch_run(run_id)
    except Exception:  # noqa: BLE001 - the sweep is the safety net
        import logging

        logging.getLogger(__name__).warning("could not dispatch run %s; the workers' sweep will", run_id,
                                            exc_info=True)


def dispatch_runs(rt: Runtime, run_ids: list[int]) -> None:
    """``dispatch_run`` for many runs at once (the sweep is the safety net here too)."""
    try:
        engine_for(rt).dispatch_runs(run_ids)
    except Exception:  # noqa: BLE001
        import logging

        logging.getLogger(__name__).warning("could not dispatch runs %s; the workers' sweep will", run_ids,
                                            exc_info=True)


def dispatch_job(rt: Runtime, job_id: int) -> None:
    """``engine_for(rt).dispatch_job(job_id)`` (the sweep is the safety net here too)."""
    try:
        engine_for(rt).dispatch_job(job_id)
    except Exception:  # noqa: BLE001
        import logging

        logging.getLogger(__name__).warning("could not dispatch job %s; the workers' sweep will", job_id,
                                            exc_info=True)


PRUNE_EVERY_SECONDS = 3600.0  # how often a worker prunes finished jobs past their retention


def prune(rt: Runtime) -> dict[str, int | bool]:
    """Delete finished background jobs past their retention (settings ``job_retention_days``, 30, and
    ``failed_job_retention_days``, 90): our ``background_jobs`` rows, and on PostgreSQL procrastinate's own
    finished jobs (succeeded past the first, failed, cancelled or aborted past the second). What was pruned."""
    from ..services import background

    pruned: dict[str, int | bool] = dict(background.prune(rt))
    if rt.engine.dialect.name == "postgresql":
        import asyncio

        from .procrastinate_engine import prune_procrastinate_now

        asyncio.run(prune_procrastinate_now(rt))
        pruned["procrastinate"] = True
    return pruned


def start_pruning(rt: Runtime, every: float = PRUNE_EVERY_SECONDS) -> threading.Event:
    """Prune now, then every ``every`` seconds in a daemon thread until the event returned is set: the SQLite
    worker's pruning (its lease loop has no sweep; procrastinate's workers prune in theirs). The thread holds
    nothing between rounds; it ends with the process."""
    import logging

    stopped = threading.Event()

    def prune_quietly() -> None:
        try:
            prune(rt)
        except Exception:  # noqa: BLE001 - a busy database: the next round tries again
            logging.getLogger(__name__).warning("pruning finished jobs failed", exc_info=True)

    def rounds() -> None:
        while not stopped.wait(every):
            prune_quietly()

    prune_quietly()
    threading.Thread(target=rounds, name="changegate-prune", daemon=True).start()
    return stopped
