"""CLI start-up: wall time of whole ``changegate`` processes, as ratios to bare Python processes in the same run.

Issue 13's goals (median of several runs each, commands and references interleaved so that load moves both):
  (a) ``changegate --version`` and ``changegate --help``  <= 2 x  ``python -c "import typer"``;
  (b) ``changegate --url URL --token T gate CHG-n --env prod``  <= 1.5 x  a bare ``python -c`` that imports httpx
      and posts the same request (both against a real ``changegate serve`` on 127.0.0.1 holding the demo plant);
  (c) a local ``changegate --as dana.dev schedule next-slot --env prod --duration 1h``  <= 3 x
      ``python -c "import typer"`` (on a SQLite file with the demo plant; the policy cache warm).
The ``changegate`` run is the venv's own console script, next to this interpreter.

Floors, same run, no goal: what any Typer CLI on this stack pays before its own work, so a missed goal can be
read against what bounds it: ``import typer, httpx`` plus the same request (the bare script with Typer
imported), ``import typer, sqlalchemy`` and ``import typer, pydantic, sqlalchemy`` (a local command's engine
and policy models).

Run:  .venv/bin/python bench/bench_cli.py [--runs N] [--changegate PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import QUICK, fmt, footer, free_port, header, ratio, table, temp_dir  # noqa: E402

RUNS = 5 if QUICK else 11
BARE_GATE = """
import sys, httpx
r = httpx.post(sys.argv[1] + "/api/v1/changes/" + sys.argv[3] + "/gate", json={"environment": "prod"},
               headers={"Authorization": "Bearer " + sys.argv[2]}, timeout=60)
print(r.json()["allowed"])
"""
# The floors (no goal): what the libraries alone cost a process.
FLOORS = {"typer + bare httpx": ("bare httpx", "import typer" + BARE_GATE),
          "import typer, sqlalchemy": ("typer", "import typer, sqlalchemy"),
          "import typer, pydantic, sqlalchemy": ("typer", "import typer, pydantic, sqlalchemy")}


def wall(argv: list[str], env: dict) -> float:
    t0 = time.perf_counter()
    done = subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - t0
    if done.returncode not in (0, 1):  # 1 is a verdict (blocked, not allowed), not a failure to measure
        raise SystemExit(f"bench_cli: {' '.join(argv)} exited {done.returncode}: {done.stderr.decode()[-400:]}")
    return elapsed


def medians(cases: dict[str, list[str]], env: dict, runs: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in cases}
    for name, argv in cases.items():  # warm the file cache (and the policy cache) once
        wall(argv, env)
    for _ in range(runs):
        for name, argv in cases.items():
            times[name].append(wall(argv, env))
    return {name: statistics.median(t) for name, t in times.items()}


def start_server(changegate: str, env: dict) -> tuple[subprocess.Popen, str]:
    port = free_port()
    proc = subprocess.Popen([changegate, "serve", "--port", str(port)], env=env, stdout=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(base + "/api/v1/ping", timeout=1).read()
            return proc, base
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                raise SystemExit("bench_cli: the server did not start")
            time.sleep(0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=RUNS, help=f"runs per command (median; default {RUNS})")
    ap.add_argument("--changegate", default=str(Path(sys.executable).with_name("changegate")),
                    help="the changegate executable (default: next to this interpreter)")
    args = ap.parse_args()
    py, cg = sys.executable, args.changegate
    header(f"CLI start-up, median of {args.runs} runs each")
    with temp_dir("changegate-bench-cli-") as tmp:
        env = {**os.environ, "CHANGEGATE_DATABASE_URL": f"sqlite:///{tmp / 'cli.db'}",
               "CHANGEGATE_CACHE_DIR": str(tmp / "cache")}
        for var in ("CHANGEGATE_URL", "CHANGEGATE_TOKEN", "CHANGEGATE_USER", "CHANGEGATE_POLICY"):
            env.pop(var, None)
        subprocess.run([cg, "db", "upgrade"], env=env, check=True, stdout=subprocess.DEVNULL)
        demo = json.loads(subprocess.run([cg, "demo", "load", "--json"], env=env, check=True,
                                         capture_output=True, text=True).stdout)
        ref, token = demo["changes"][0], demo["tokens"]["rene.release"]
        server, base = start_server(cg, env)
        try:
            m = medians({
                "typer": [py, "-c", "import typer"],
                "version": [cg, "--version"],
                "help": [cg, "--help"],
                "bare httpx": [py, "-c", BARE_GATE, base, token, ref],
                "remote gate": [cg, "--url", base, "--token", token, "gate", ref, "--env", "prod"],
                "next-slot": [cg, "--as", "dana.dev", "schedule", "next-slot", "--env", "prod", "--duration", "1h"],
                **{name: [py, "-c", code, base, token, ref] for name, (_, code) in FLOORS.items()},
            }, env, args.runs)
        finally:
            server.terminate()
            server.wait(10)
    rows = []
    for name, ref_name, goal in (("version", "typer", 2.0), ("help", "typer", 2.0), ("remote gate", "bare httpx", 1.5),
                                 ("next-slot", "typer", 3.0)):
        r = ratio(m[name], m[ref_name])
        rows.append([f"changegate {name}", fmt(m[name] * 1000, "ms"), ref_name, fmt(m[ref_name] * 1000, "ms"),
                     f"{r:.2f} x", f"<= {goal} x", "met" if r is not None and r <= goal else "MISSED"])
    for name, (ref_name, _) in FLOORS.items():
        r = ratio(m[name], m[ref_name])
        rows.append([f"floor: {name}", fmt(m[name] * 1000, "ms"), ref_name, fmt(m[ref_name] * 1000, "ms"),
                     f"{r:.2f} x", "-", ""])
    print(table(["command", "median", "reference", "ref. median", "ratio", "goal", ""], rows))
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
