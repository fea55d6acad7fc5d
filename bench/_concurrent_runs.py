"""bench_runner.py's part (c): 100 concurrent runs through two workers on PostgreSQL (procrastinate).

Not a benchmark on its own (run.py runs only bench_*.py): ``bench_runner.py --postgresql`` calls
``concurrent_runs()``. See bench_runner.py's docstring and bench/README.md for what is measured.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _common import QUICK, fmt, header, footer, table, temp_dir

RUNS = 100
WORKERS = 2
STEPS = 3
SLEEP = 1.0 if QUICK else 2.0
GOAL = 1.2


def scheduled_change(rt, rollback: str = "true", *, title: str = "bench", item: str = "x") -> str:
    """A dev change, submitted, assessed and scheduled five minutes from now: ready to deploy."""
    from changegate.schemas.changes import AssessIn, ChangeCreate, TransitionIn
    from changegate.services import changes

    body = ChangeCreate(title=title, category="application", release_level="patch", environment="dev",
                        items=[item], impact_analysis="i", implementation_plan="p", verification_plan="v",
                        rollback_plan={"script": rollback}, estimated_downtime=1, version="1.0.0",
                        planned_start=datetime.now(timezone.utc) + timedelta(minutes=5))
    with rt.uow() as uow:
        ref = changes.create_change(uow, rt.context("rene.release"), body).ref
    with rt.uow() as uow:
        changes.attach_evidence(uow, rt.context("rene.release"), ref, filename="t.log", content=b"ok",
                                media_type="text/plain", max_bytes=100)
    for person, fn, arg in (("rene.release", changes.transition, TransitionIn(action="submit")),
                            ("chris.change", changes.assess, AssessIn()),
                            ("chris.change", changes.transition, TransitionIn(action="schedule"))):
        with rt.uow() as uow:
            fn(uow, rt.context(person), ref, arg)
    return ref


def _queue(rt, folder: Path, names: list[str]) -> list[int]:
    """Runs for new changes, queued in one transaction: none is visible (to a worker's sweep) before all are."""
    from changegate.schemas.runs import DeployIn, PlanIn
    from changegate.services import runs

    refs = {name: scheduled_change(rt, title=f"bench {name[1:]}", item=f"app-{name[1:]}") for name in names}
    with rt.uow() as uow:
        return [runs.create_run(uow, rt.context("rene.release"), ref, DeployIn(environment="dev", plan=PlanIn(
            text="steps:\n" + "".join(f"  - {{name: s{i}, shell: 'echo {name}.{i} >> {folder}/executed; "
                                      f"sleep {SLEEP:g}'}}\n" for i in range(STEPS))))).id
                for name, ref in refs.items()]


def _wait_final(rt, ids: list[int], timeout: float) -> list:
    """The runs, once all ended (or at the timeout). While waiting, one count per half second: the
    benchmark's own reads must not compete with the workers for the two CPUs (a read per run every 0.2 s
    cost more than a tenth of one)."""
    from sqlalchemy import func, select

    from changegate.db.models import DeploymentRun

    final = ("committed", "rolled_back", "failed")
    ended = (select(func.count()).select_from(DeploymentRun)
             .where(DeploymentRun.id.in_(ids), DeploymentRun.state.in_(final)))
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with rt.engine.connect() as conn:
            if conn.execute(ended).scalar() == len(ids):
                break
        time.sleep(0.5)
    with rt.uow(write=False) as uow:
        return [uow.runs.get(i) for i in ids]


def _first_step(rt, run) -> datetime:
    with rt.uow(write=False) as uow:
        return min(s.started_at for s in uow.runs.steps(run.id))


def _measure(rt, folder: Path, names: list[str]) -> tuple[float, list, list[float], list[float]]:
    """Wall time, the runs, each run's own time, and each run's wait from the dispatch to its first step."""
    from changegate import jobs

    ids = _queue(rt, folder, names)
    started = datetime.now(timezone.utc)
    jobs.dispatch_runs(rt, ids)
    rows = _wait_final(rt, ids, timeout=120 + 3 * len(ids) * STEPS * SLEEP / 10)
    if any(r.ended_at is None for r in rows):
        return float("nan"), rows, [], []
    wall = (max(r.ended_at for r in rows) - started).total_seconds()
    firsts = [_first_step(rt, r) for r in rows]
    return (wall, rows, [(r.ended_at - f).total_seconds() for r, f in zip(rows, firsts)],
            [(f - started).total_seconds() for f in firsts])


def _wait_for_workers(rt, n: int) -> None:
    """Until procrastinate lists ``n`` live workers (they have opened their connections and listen)."""
    from sqlalchemy import text

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with rt.engine.connect() as conn:
            if conn.execute(text("SELECT count(*) FROM procrastinate.procrastinate_workers")).scalar() >= n:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{n} workers did not start within a minute")


def _check(rt, folder: Path, rows, names: list[str]) -> list[str]:
    problems = [f"run {r.id} ended {r.state}: {r.outcome}" for r in rows if r.state != "committed"]
    executed = Counter((folder / "executed").read_text().split())
    expected = {f"{n}.{i}" for n in names for i in range(STEPS)}
    problems += [f"step {k} ran {v} times" for k, v in executed.items() if v != 1]
    problems += [f"step {k} never ran" for k in expected - set(executed)]
    with rt.uow(write=False) as uow:
        problems += [f"run {r.id} step {s.key} attempt {s.attempt}" for r in rows for s in uow.runs.steps(r.id)
                     if s.attempt != 1]
    return problems


def concurrent_runs() -> int:
    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade
    from changegate.services.policy import load_policy
    from changegate.services.runtime import Runtime
    from changegate.settings import DEFAULT_POLICY, Settings
    from changegate.sqlcheck.pgcluster import start_throwaway_cluster

    header(f"bench_runner (c): {RUNS} concurrent runs ({STEPS} steps of sleep {SLEEP:g}) through {WORKERS} "
           "workers on PostgreSQL")
    cluster = start_throwaway_cluster()
    procs: list[subprocess.Popen] = []
    try:
        with temp_dir("cg-bench-runs-") as folder:
            url = cluster.url(cluster.create_database("bench"))
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
            policy = folder / "policy.yaml"
            policy.write_text(Path(DEFAULT_POLICY).read_text() + "\ndeploy:\n  check_after: 0s\n")
            rt = Runtime(Settings(database_url=url, policy=policy), make_engine(url), load_policy(policy))
            env = {**os.environ, "CHANGEGATE_DATABASE_URL": url, "CHANGEGATE_POLICY": str(policy)}
            concurrency = (RUNS + WORKERS - 1) // WORKERS
            for w in range(WORKERS):
                procs.append(subprocess.Popen(
                    [sys.executable, "-m", "changegate.cli.main", "worker", "--concurrency", str(concurrency)],
                    env=env, stdout=(folder / f"worker{w}.log").open("w"), stderr=subprocess.STDOUT))
            _wait_for_workers(rt, WORKERS)
            alone_wall, alone_rows, alone_span, _ = _measure(rt, folder, ["r0"])
            names = [f"r{i}" for i in range(1, RUNS + 1)]
            wall, rows, spans, waits = _measure(rt, folder, names)
            problems = _check(rt, folder, alone_rows + rows, ["r0", *names])
            rt.close()
            if problems or not spans:
                print(f"   the runs did not all end right ({len(problems)} problems):")
                for p in problems[:20]:
                    print(f"     {p}")
                for w in range(WORKERS):
                    print((folder / f"worker{w}.log").read_text()[-3000:])
                return 1
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            try:
                p.wait(30)
            except subprocess.TimeoutExpired:
                p.kill()
        cluster.stop()
    longest = max(spans)
    r = wall / longest
    rows_out = [
        [f"{RUNS} runs: wall / longest single run", fmt(r, "x"), f"wall {fmt(wall, 's')}",
         f"longest {fmt(longest, 's')}", f"<= {GOAL:g}: {'met' if r <= GOAL else 'MISSED'}"],
        ["one run alone (reference): wall / its run", fmt(alone_wall / alone_span[0], "x"),
         f"wall {fmt(alone_wall, 's')}", f"run {fmt(alone_span[0], 's')}", ""],
    ]
    print(table(["metric", "ratio", "wall", "run", "goal"], rows_out))
    waits.sort()
    print(f"   dispatch -> a run's first step: median {fmt(waits[len(waits) // 2], 's')}, max {fmt(waits[-1], 's')}; "
          f"wall = the last run's end - the first dispatch")
    print(f"   all {RUNS + 1} runs committed; each of their {(RUNS + 1) * STEPS} steps ran exactly once "
          f"(counted in a file and by attempt); shortest run {fmt(min(spans), 's')}, bare sleeps "
          f"{fmt(STEPS * SLEEP, 's')} per run")
    footer()
    return 0
