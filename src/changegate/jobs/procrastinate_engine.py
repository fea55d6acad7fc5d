"""PostgreSQL's job engine: procrastinate (its schema is installed by migration 0008, in schema
``procrastinate``).

Two tasks: ``changegate.drive_run(run_id)`` leases that run (``runs_worker.claim``) and drives it;
``changegate.run_job(job_id)`` does the same for a background job (``services/background.py``: a SQL check,
an audit verification). The API defers them right after the run or job is queued (procrastinate's
LISTEN/NOTIFY wakes a worker at once). Every worker also sweeps: every third of the lease it defers the task
for each run or job that needs a worker and has no live lease (one whose deferral was lost, one whose worker
was killed), with a queueing lock per run or job so the sweeps of many workers queue one job. What a job finds decides nothing: the lease does. A job for a run
another worker drives ends at once; a job orphaned by a killed worker stays "doing" in procrastinate's table
and is marked failed by the sweep, while the run itself is taken over through its expired lease.

procrastinate runs a synchronous task in the event loop's default executor; ``work`` sizes that executor to
the concurrency, so one worker process drives ``concurrency`` runs at once (each in its own thread; a run
mostly waits on its commands).
"""

from __future__ import annotations

import asyncio
import logging
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

from ..services import background, runs_worker
from ..services.runtime import Runtime
from . import DEFAULT_CONCURRENCY, PRUNE_EVERY_SECONDS, OnEvent

SCHEMA = "procrastinate"
DRIVE_RUN = "changegate.drive_run"
RUN_JOB = "changegate.run_job"  # a background job (services/background.py)
log = logging.getLogger(__name__)


def pool_args(url, max_size: int) -> dict:
    """procrastinate's connection pool on the database of SQLAlchemy ``url``. procrastinate's queries name
    its objects without a schema: its connections look in its own."""
    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return {"conninfo": conninfo, "kwargs": {"options": f"-c search_path={SCHEMA}"}, "min_size": 1,
            "max_size": max_size}


class ProcrastinateEngine:
    name = "procrastinate"

    def __init__(self, rt: Runtime):
        from sqlalchemy import event

        self.rt = rt
        self._sync_app = None
        self._lock = threading.Lock()
        # The deferring pool lives as long as the runtime's engine: closed when the runtime closes.
        event.listen(rt.engine, "engine_disposed", lambda _engine: self.close())

    # --- deferring (the API's process) ---------------------------------------------------------------

    def _deferrer(self):
        """A procrastinate app on a small synchronous pool, opened on first use."""
        with self._lock:
            if self._sync_app is None:
                import procrastinate

                app = procrastinate.App(connector=procrastinate.SyncPsycopgConnector(**pool_args(self.rt.engine.url, 4)))
                _register(app, self.rt, None)
                app.open()
                self._sync_app = app
            return self._sync_app

    def dispatch_run(self, run_id: int) -> None:
        import procrastinate.exceptions

        try:
            self._deferrer().configure_task(DRIVE_RUN, queueing_lock=f"run-{run_id}").defer(run_id=run_id)
        except procrastinate.exceptions.AlreadyEnqueued:
            pass  # a job for it waits already

    def dispatch_job(self, job_id: int) -> None:
        import procrastinate.exceptions

        try:
            self._deferrer().configure_task(RUN_JOB, queueing_lock=f"job-{job_id}").defer(job_id=job_id)
        except procrastinate.exceptions.AlreadyEnqueued:
            pass

    def dispatch_runs(self, run_ids: list[int]) -> None:
        """One job per run in one round trip (no queueing lock: these runs were just queued, and a second
        job for a run only finds its lease held)."""
        if run_ids:
            self._deferrer().configure_task(DRIVE_RUN).batch_defer(*({"run_id": i} for i in run_ids))

    def close(self) -> None:
        with self._lock:
            if self._sync_app is not None:
                self._sync_app.close()
                self._sync_app = None

    # --- a worker ------------------------------------------------------------------------------------

    def work(self, *, concurrency: int = DEFAULT_CONCURRENCY, max_runs: int | None = None,
             exit_when_idle: bool = False, on_event: OnEvent | None = None) -> int:
        return asyncio.run(_Worker(self.rt, concurrency, max_runs, on_event).run(exit_when_idle))

    def start_background(self, *, concurrency: int = DEFAULT_CONCURRENCY, on_event: OnEvent | None = None):
        raise NotImplementedError("on PostgreSQL, runs are driven by 'changegate worker' processes")


class _Worker:
    def __init__(self, rt: Runtime, concurrency: int, max_runs: int | None, on_event: OnEvent | None):
        import procrastinate

        self.rt, self.concurrency, self.max_runs = rt, concurrency, max_runs
        self.driven, self._count_lock = 0, threading.Lock()
        self.enough = asyncio.Event()
        self.app = procrastinate.App(connector=procrastinate.PsycopgConnector(
            **pool_args(rt.engine.url, max(4, min(concurrency, 20)))))
        _register(self.app, rt, on_event, self._driven)

    def _driven(self) -> None:
        """Called in a job's thread when a run was driven to rest: counts toward ``max_runs``."""
        with self._count_lock:
            self.driven += 1
            if self.max_runs is not None and self.driven >= self.max_runs:
                self.loop.call_soon_threadsafe(self.enough.set)

    async def run(self, exit_when_idle: bool) -> int:
        self.loop = asyncio.get_running_loop()
        self.loop.set_default_executor(ThreadPoolExecutor(max_workers=self.concurrency + 4,
                                                          thread_name_prefix="changegate-run"))
        async with self.app.open_async():
            await self.sweep()  # runs left behind before this worker started, before it may exit when idle
            sweeper = asyncio.create_task(self._sweep_forever())
            worker = asyncio.create_task(self.app.run_worker_async(
                concurrency=self.concurrency, wait=not exit_when_idle, delete_jobs="successful",
                name=runs_worker.worker_id(), install_signal_handlers=False))
            if threading.current_thread() is threading.main_thread():  # SIGINT/SIGTERM: stop the runs, then stop
                for sig in (signal.SIGINT, signal.SIGTERM):
                    self.loop.add_signal_handler(sig, self._stop, worker)
            enough = asyncio.create_task(self.enough.wait())
            await asyncio.wait({worker, enough}, return_when=asyncio.FIRST_COMPLETED)
            if not worker.done():
                worker.cancel()  # a graceful stop: jobs under way finish first
            await asyncio.gather(worker, return_exceptions=True)
            for task in (sweeper, enough):
                task.cancel()
        return self.driven

    def _stop(self, worker: asyncio.Task) -> None:
        """A stopping worker stops the runs it drives at once (their commands killed, their leases given back:
        runs_worker.stop_driving, in a thread: it waits for the kills), then stops gracefully."""
        threading.Thread(target=runs_worker.stop_driving, args=("the worker is stopping", self.rt),
                         daemon=True).start()
        worker.cancel()

    async def _sweep_forever(self) -> None:
        interval = max(0.5, self.rt.policy.deploy.lease / 3)
        while True:
            await asyncio.sleep(interval)
            try:
                await self.sweep()
            except Exception:  # noqa: BLE001 - a lost connection: the next sweep tries again
                log.warning("the sweep for runs needing a worker failed", exc_info=True)

    async def sweep(self) -> None:
        """Defer ``drive_run`` for every run that needs a worker and has none; fail orphaned jobs."""
        import procrastinate.exceptions

        wanted = [(DRIVE_RUN, f"run-{i}", {"run_id": i})
                  for i in await asyncio.to_thread(runs_worker.needing_worker, self.rt)]
        wanted += [(RUN_JOB, f"job-{i}", {"job_id": i}) for i in await asyncio.to_thread(background.needing_worker, self.rt)]
        for task, lock, kwargs in wanted:
            try:
                await self.app.configure_task(task, queueing_lock=lock).defer_async(**kwargs)
            except procrastinate.exceptions.AlreadyEnqueued:
                pass
        await self._fail_orphans()
        await self._prune_now_and_then()

    async def _prune_now_and_then(self) -> None:
        """Finished jobs past their retention, ours and procrastinate's: at start, then every hour."""
        now = self.loop.time()
        if now - getattr(self, "_pruned_at", float("-inf")) >= PRUNE_EVERY_SECONDS:
            self._pruned_at = now
            await asyncio.to_thread(background.prune, self.rt)
            await prune_procrastinate(self.app, self.rt)

    async def _fail_orphans(self) -> None:
        """Jobs whose worker stopped sending heartbeats (killed) stay "doing" for ever in procrastinate; mark
        them failed so its table says what happened. Their runs were re-dispatched above."""
        from procrastinate import jobs

        manager = self.app.job_manager
        for job in await manager.get_stalled_jobs():
            await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)


async def prune_procrastinate(app, rt: Runtime) -> None:
    """procrastinate's finished jobs past their retention, through its own ``delete_old_jobs`` (by the time of
    their last event): succeeded ones after ``job_retention_days``; failed (orphans marked failed by the sweep
    included), cancelled and aborted ones after ``failed_job_retention_days``. A successful job is deleted at
    once anyway (``delete_jobs="successful"``); this catches the rest."""
    keep, keep_failed = background.retention(rt)
    manager = app.job_manager
    await manager.delete_old_jobs(nb_hours=int(keep.total_seconds() // 3600))
    await manager.delete_old_jobs(nb_hours=int(keep_failed.total_seconds() // 3600), include_failed=True,
                                  include_cancelled=True, include_aborted=True)


async def prune_procrastinate_now(rt: Runtime) -> None:
    """``prune_procrastinate`` on a short-lived connection (``changegate jobs prune``)."""
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(**pool_args(rt.engine.url, 1)))
    async with app.open_async():
        await prune_procrastinate(app, rt)


def _register(app, rt: Runtime, on_event: OnEvent | None, driven=lambda: None) -> None:
    """The task, registered on each app by name (the deferring app needs it to know the name only)."""

    def drive_run(run_id: int) -> str:
        me = runs_worker.worker_id()
        if runs_worker.claim(rt, me, run_id) is None:
            return "not claimed: another worker drives it, or it needs no worker"
        final = runs_worker.drive_claimed(rt, run_id, me, on_event=on_event)
        if final is None:
            return "given back after an error; the sweep dispatches it again"
        driven()
        return f"driven to {final.value}"

    def run_job(job_id: int) -> str:
        me = runs_worker.worker_id()
        if background.claim(rt, me, job_id) is None:
            return "not claimed: another worker carries it out, or it ended"
        return background.carry_out(rt, job_id, me)

    app.task(name=DRIVE_RUN, retry=False, pass_context=False)(drive_run)
    app.task(name=RUN_JOB, retry=False, pass_context=False)(run_job)
