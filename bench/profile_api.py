"""Where a request's time goes in the API server: py-spy samples the real server under load.

Not a benchmark (bench/run.py does not run it): a tool for deciding what to change. It starts the same
server as bench_api.py (uvicorn, the product's app, a fresh SQLite file or, with --postgresql, a
throwaway cluster), seeds it the same way, drives one endpoint with bench_api's Python load generator
and samples the server with py-spy (``pip install py-spy``). It prints the share of samples spent in
each layer (the first matching frame, innermost first, decides) and the top functions by own time.

Run:  .venv/bin/python bench/profile_api.py get|gate|post [--postgresql] [--connections 32] [--seconds 8]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_api  # noqa: E402
from _common import migrated_sqlite, temp_dir  # noqa: E402

# Layers, tested innermost frame first: a sample counts for the first layer whose marker its stack
# holds, so the database driver wins over the repository that called it.
LAYERS = [
    ("sqlite3/psycopg driver (I/O, SQL)", ("sqlite3", "psycopg/", "psycopg_binary")),
    ("audit append + hash", ("repositories/audit.py", "core/audit.py")),
    ("commit / unit of work", ("db/uow.py",)),
    ("SQLAlchemy", ("sqlalchemy/",)),
    ("pydantic (validation, serialisation)", ("pydantic", "schemas/")),
    ("gate rules, schedule engine", ("core/gate", "core/schedule", "services/schedule.py", "holidays")),
    ("services (other)", ("changegate/services/", "changegate/core/")),
    ("FastAPI / Starlette", ("fastapi/", "starlette/")),
    ("uvicorn, h11/httptools, asyncio", ("uvicorn/", "h11/", "httptools", "asyncio/", "uvloop")),
    ("thread pool, anyio", ("anyio/", "concurrent/", "threading.py")),
]


def layer_of(frames: list[str]) -> str:
    for frame in reversed(frames):  # innermost last in py-spy's collapsed format
        for name, markers in LAYERS:
            if any(m in frame for m in markers):
                return name
    return "other"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("target", choices=["get", "gate", "post", "ping"])
    ap.add_argument("--postgresql", action="store_true")
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--seconds", type=int, default=8)
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--keep", help="also save py-spy's raw collapsed stacks to this file")
    ap.add_argument("--idle", action="store_true",
                    help="sample every thread, waiting ones too (wall time), not only the one holding the GIL (CPU)")
    ap.add_argument("--inclusive", default="",
                    help="comma-separated function names: the share of samples with each on the stack")
    args = ap.parse_args()
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    with temp_dir("changegate-profile-api-") as d:
        cluster = None
        if args.postgresql:
            from changegate.db.engine import make_engine
            from changegate.db.migrate import upgrade
            from changegate.sqlcheck.pgcluster import start_throwaway_cluster

            cluster = start_throwaway_cluster()
            url = cluster.url(cluster.create_database("bench"))
            engine = make_engine(url)
            upgrade(engine)
            engine.dispose()
        else:
            url = migrated_sqlite(d / "changegate.db")
        try:
            profile(url, args, spy, d)
        finally:
            if cluster is not None:
                cluster.stop()
    return 0


def profile(url: str, args, spy: str, d: Path) -> None:
    token = bench_api.seed(url, bench_api.SEED_CHANGES)
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    n = bench_api.SEED_CHANGES
    target = {
        "ping": bench_api.Target("ping", "GET", "/api/v1/ping", {}),
        "get": bench_api.Target("get", "GET", "/api/v1/changes/CHG-{n}", auth, n_max=n),
        "gate": bench_api.Target("gate", "POST", "/api/v1/changes/CHG-{n}/gate", json_auth,
                                 body=json.dumps(bench_api.GATE_BODY), n_max=n),
        "post": bench_api.Target("post", "POST", "/api/v1/changes", json_auth, body=json.dumps(bench_api.CREATE_BODY)),
    }[args.target]
    server = bench_api.Server(url)
    try:
        bench_api.run_python(server.base, target, args.connections, 1, d)  # warm-up
        out = d / "profile.txt"
        record = subprocess.Popen([spy, "record", "--pid", str(server.proc.pid), "--format", "raw", "--rate", "250",
                                   "--duration", str(args.seconds), "--output", str(out), "--nonblocking",
                                   *(["--idle"] if args.idle else ["--gil"])], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        result: list = []
        load = threading.Thread(target=lambda: result.append(
            bench_api.run_python(server.base, target, args.connections, args.seconds, d)))
        load.start()
        load.join()
        record.wait()
        r = result[0]
        print(f"{target.method} {target.path} c={args.connections}: {r.rps:,.0f} req/s, {r.errors} errors")
        if args.keep:
            shutil.copy(out, args.keep)
        report(out, args.top, [f for f in args.inclusive.split(",") if f], args.idle)
    finally:
        server.stop()


def report(path: Path, top: int, inclusive: list[str], idle: bool) -> None:
    layers: Counter = Counter()
    own: Counter = Counter()
    within: Counter = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue  # a line cut inside a frame's name
        frames = stack.split(";")
        if not idle and (frames[-1].startswith("select (selectors") or "idle" in frames[-1]):
            continue  # the event loop waiting for I/O: not work
        n = int(count)
        for name in inclusive:
            if any(f.startswith(name + " (") for f in frames):
                within[name] += n
        total += n
        layers[layer_of(frames)] += n
        own[frames[-1]] += n
    print(f"{total} busy samples")
    for name, n in layers.most_common():
        print(f"  {n / total:6.1%}  {name}")
    for name in inclusive:
        print(f"  {within[name] / total:6.1%}  inclusive: {name}")
    print("top functions by own time:")
    for name, n in own.most_common(top):
        print(f"  {n / total:6.1%}  {name[:150]}")


if __name__ == "__main__":
    sys.exit(main())
