"""The deployment runner: its overhead per step over the bare command, and the latency from a failed check to
the start of the rollback.

(a) Overhead per step. A run of 1 step and a run of 1 + N steps of ``true`` (argv, no shell), each through
    the whole runner (a run row, a step row per step, an audit event at each start and end, the lease
    checked and renewed on every write) on SQLite; the per-step cost is their difference over N. Reference,
    same run: ``subprocess.run(["true"])``, the bare command. Goal: overhead (per step - bare) < 20 ms.
(b) Failed check -> rollback start. Runs whose smoke check fails at once (``false``), with the change's
    rollback script as the rollback (``true``); the run stores the seconds from the failed check to the
    start of the first rollback command. Median of several runs. Goal: < 1 s. Printed beside the bare
    command's time for scale.

(c) With --postgresql: 100 concurrent runs through two workers on PostgreSQL. Two ``changegate worker``
    processes (procrastinate, ``--concurrency 50`` each) on a throwaway cluster; 100 runs of 3 steps each
    (``sleep``; each step appends its run's name to a file first) are queued in one transaction, then
    dispatched at once (``jobs.dispatch_runs``: one batch of procrastinate jobs).
    Checked: every run commits, every step ran exactly once (the file's lines; every step's attempt 1).
    Figure: wall time (first dispatch -> last run's end) / the longest single run among them (its first
    step's start -> its end). Goal: <= 1.2. Reference beside it: one run alone through the same workers.
CHANGEGATE_BENCH_QUICK=1 shrinks sizes.
Run:  .venv/bin/python bench/bench_runner.py [--postgresql]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK, fmt, footer, header, migrated_sqlite, table, temp_dir, want_postgresql  # noqa: E402
from _concurrent_runs import concurrent_runs, scheduled_change  # noqa: E402

STEPS = 20 if QUICK else 100
BARE = 50 if QUICK else 200
ROLLBACK_RUNS = 3 if QUICK else 7
GOAL_OVERHEAD_MS = 20.0
GOAL_ROLLBACK_START_S = 1.0


def runtime(folder: Path):
    from changegate.db.engine import make_engine
    from changegate.services.policy import load_policy
    from changegate.services.runtime import Runtime
    from changegate.settings import DEFAULT_POLICY, Settings

    policy = folder / "policy.yaml"
    policy.write_text(Path(DEFAULT_POLICY).read_text() + "\ndeploy:\n  check_after: 0s\n")
    url = migrated_sqlite(folder / "bench.db")
    return Runtime(Settings(database_url=url, policy=policy), make_engine(url), load_policy(policy))


def run_plan(rt, text: str, rollback: str = "true"):
    from changegate.schemas.runs import DeployIn, PlanIn
    from changegate.services import runs, runs_worker

    ref = scheduled_change(rt, rollback)
    worker = runs_worker.worker_id()
    with rt.uow() as uow:
        run = runs.create_run(uow, rt.context("rene.release"), ref,
                              DeployIn(environment="dev", plan=PlanIn(text=text)), worker=worker)
    started = time.perf_counter()
    state = runs.drive(rt, run.id, worker)
    elapsed = time.perf_counter() - started
    with rt.uow(write=False) as uow:
        return state, elapsed, runs.show_run(uow, rt.context("audrey.audit"), ref, with_steps=False)


def steps_plan(n: int) -> str:
    return "steps:\n" + "".join(f"  - {{name: s{i}, run: ['true']}}\n" for i in range(n))


def bare_seconds() -> float:
    subprocess.run(["true"], check=True)
    started = time.perf_counter()
    for _ in range(BARE):
        subprocess.run(["true"], check=True)
    return (time.perf_counter() - started) / BARE


def main() -> int:
    header("bench_runner: overhead per step, failed check -> rollback start (SQLite)")
    with temp_dir("cg-bench-runner-") as folder:
        rt = runtime(folder)
        bare = bare_seconds()
        one = run_plan(rt, steps_plan(1))
        many = run_plan(rt, steps_plan(1 + STEPS))
        if one[0] != "committed" or many[0] != "committed":
            print(f"a run did not commit: {one[0]}, {many[0]}")
            return 1
        per_step = (many[1] - one[1]) / STEPS
        overhead_ms = (per_step - bare) * 1000
        latencies = []
        for _ in range(ROLLBACK_RUNS):
            state, _, run = run_plan(rt, "steps: [{name: s, run: ['true']}]\n"
                                         "checks: {smoke: [{name: fails, run: ['false']}]}\n")
            if state != "rolled_back" or run.check_to_rollback_seconds is None:
                print(f"the rollback run ended {state}")
                return 1
            latencies.append(run.check_to_rollback_seconds)
        rt.close()
    latency = statistics.median(latencies)
    rows = [
        ["step through the runner (per step)", fmt(per_step * 1000, "ms"), fmt(bare * 1000, "ms"),
         fmt(per_step / bare, "x"), f"overhead {fmt(overhead_ms, 'ms')} < {GOAL_OVERHEAD_MS:g} ms: "
         f"{'met' if overhead_ms < GOAL_OVERHEAD_MS else 'MISSED'}"],
        [f"failed check -> rollback start (median of {ROLLBACK_RUNS})", fmt(latency * 1000, "ms"),
         fmt(bare * 1000, "ms"), fmt(latency / bare, "x"),
         f"< {GOAL_ROLLBACK_START_S:g} s: {'met' if latency < GOAL_ROLLBACK_START_S else 'MISSED'}"],
    ]
    print(table(["metric", "value", "bare `true`", "ratio", "goal"], rows))
    print(f"   {STEPS} steps measured as the difference of a {STEPS + 1}-step and a 1-step run; bare command: "
          f"mean of {BARE} subprocess.run(['true'])")
    footer()
    if want_postgresql():
        return concurrent_runs()
    print("   (c) 100 concurrent runs through two workers on PostgreSQL: run with --postgresql")
    return 0


if __name__ == "__main__":
    sys.exit(main())
