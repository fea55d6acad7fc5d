"""HTTP API throughput and latency, as ratios to the trivial ``GET /api/v1/ping`` measured in the same run.

The real app (``create_app(Runtime(...))``) is served by uvicorn, one worker process (``--workers N``: N), ``log_level=warning``, in its
own process on 127.0.0.1, on a fresh SQLite database (WAL, as ``make_engine`` configures it) in a temporary
directory; with ``--postgresql`` (or CHANGEGATE_BENCH_POSTGRESQL=1) also on a throwaway PostgreSQL cluster.
Load comes from a separate process: ``wrk`` if installed, else a small asyncio load generator in this file
(``--generator python`` forces it). The reference and the measured endpoints always use the same generator,
the same connection count and the same duration.

Reported:
  (a) changes created per second through POST /api/v1/changes vs ping requests per second;
  (b) p50 / p99 latency of GET /api/v1/changes/CHG-n (n random over a database holding 1,000 changes)
      vs ping's p50 / p99; ratio = ping latency / GET latency (1.0 = as fast as ping; goal >= 0.5).
Both at 32 connections (the reference setting of bench/README.md, where latency is mostly queueing, so the latency
ratio tracks the throughput ratio), and the latencies again at 1 connection (pure per-request service time).

Run:  .venv/bin/python bench/bench_api.py [--postgresql] [--generator wrk|python] [--duration SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    fmt,
    free_port,
    footer,
    header,
    migrated_sqlite,
    ratio,
    runtime_for,
    table,
    temp_dir,
    verdict,
    want_postgresql,
)

SEED_CHANGES = 200 if QUICK else 1000
DURATION = 3 if QUICK else 6  # whole seconds: wrk takes no fractions
WARMUP = 1 if QUICK else 2
CONNECTIONS = 32
# Issue 13's goals, each in requests per second against ping's at the same connection count.
GOALS = {"get": 0.3, "gate": 0.3, "post": 0.15}
GATE_BODY = {"environment": "prod"}
CREATE_BODY = {"title": "Bench: relabel the MES label printer", "category": "application",
               "release_level": "patch", "environment": "prod", "items": ["mes-labels"]}


# --- the server, in its own process -----------------------------------------------------------------------


def serve(url: str, port: int, workers: int = 1) -> None:
    """Entry point of the server subprocess: the product's app, as ``changegate serve [--workers N]`` runs
    it (uvicorn picks uvloop and httptools when installed, as they are with uvicorn[standard])."""
    import uvicorn

    from changegate.api.app import create_app

    if workers > 1:  # each worker process builds its runtime from the environment (Server sets it)
        uvicorn.run("changegate.api.app:app_from_environment", factory=True, host="127.0.0.1", port=port,
                    log_level="warning", workers=workers)
        return
    rt = runtime_for(url)
    uvicorn.run(create_app(rt), host="127.0.0.1", port=port, log_level="warning", workers=1)


class Server:
    def __init__(self, url: str, workers: int = 1):
        from changegate.settings import DEFAULT_POLICY

        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "CHANGEGATE_DATABASE_URL": url, "CHANGEGATE_POLICY": str(DEFAULT_POLICY)}
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(self.port), str(workers)],
                                     env=env)
        # Each worker process imports the whole app: on a busy machine that takes a while.
        deadline = time.monotonic() + 30 + 60 * (workers - 1)
        while True:
            try:
                with urllib.request.urlopen(self.base + "/api/v1/ping", timeout=1) as r:
                    if r.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the uvicorn server did not start")
            time.sleep(0.05)

    def cpu_seconds(self) -> float:
        """User + system CPU time of the server process and its worker processes so far (Linux /proc)."""
        try:
            return sum(_cpu_ticks(pid) for pid in _tree(self.proc.pid)) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return float("nan")

    def stop(self) -> None:
        try:
            workers = _tree(self.proc.pid)[1:]
        except OSError:
            workers = []
        self._stop()
        for pid in workers:  # uvicorn's supervisor stops its workers; make sure, as this directory goes next
            try:
                os.kill(pid, 9)
            except ProcessLookupError:
                pass

    def _stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (uvicorn's worker processes, and their multiprocessing helpers)."""
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [pid, *(p for child in children for p in _tree(int(child)))]


# --- load generators ----------------------------------------------------------------------------------------


@dataclass
class Target:
    """One request shape: GET/POST a path; ``{n}`` in the path becomes a random 1..n_max."""

    name: str
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None
    n_max: int = 0


@dataclass
class Result:
    requests: int
    errors: int  # non-2xx/3xx responses plus socket errors
    seconds: float
    p50_ms: float
    p99_ms: float
    server_cpu: float = float("nan")  # server CPU seconds / wall seconds during the run

    @property
    def rps(self) -> float:
        return (self.requests - self.errors) / self.seconds


def _lua_quote(s: str) -> str:
    return json.dumps(s)  # a JSON string literal is a valid Lua string literal for these ASCII values


def run_wrk(base: str, t: Target, connections: int, seconds: float, workdir: Path) -> Result:
    threads = min(2, connections)
    lines = [f"wrk.method = {_lua_quote(t.method)}"]
    for k, v in t.headers.items():
        lines.append(f"wrk.headers[{_lua_quote(k)}] = {_lua_quote(v)}")
    if t.body is not None:
        lines.append(f"wrk.body = {_lua_quote(t.body)}")
    if t.n_max:
        lines += [
            "local counter = 0",
            "setup = function(thread) counter = counter + 1; thread:set('seed', counter) end",
            "init = function(args) math.randomseed(seed * 7919 + os.time()) end",
            "request = function()",
            f"  return wrk.format(nil, {_lua_quote(t.path.split('{n}')[0])} .. math.random(1, {t.n_max}) .. "
            f"{_lua_quote(t.path.split('{n}')[1])})",
            "end",
        ]
    else:
        lines.append(f"wrk.path = {_lua_quote(t.path)}")
    lines += [
        "done = function(summary, latency, requests)",
        "  local e = summary.errors",
        "  io.write(string.format('CGRESULT %d %d %d %d %d\\n', summary.duration, summary.requests,",
        "    e.connect + e.read + e.write + e.status + e.timeout, latency:percentile(50), latency:percentile(99)))",
        "end",
    ]
    script = workdir / f"{t.name}.lua"
    script.write_text("\n".join(lines) + "\n")
    proc = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
         "-s", str(script), base + (t.path if not t.n_max else "/")],
        capture_output=True, text=True, check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"wrk failed ({proc.returncode}): {proc.stderr.strip() or proc.stdout.strip()}")
    out = proc.stdout
    m = re.search(r"CGRESULT (\d+) (\d+) (\d+) (\d+) (\d+)", out)
    if m is None:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    dur_us, reqs, errs, p50_us, p99_us = map(int, m.groups())
    return Result(reqs, errs, dur_us / 1e6, p50_us / 1e3, p99_us / 1e3)


def run_python(base: str, t: Target, connections: int, seconds: float, workdir: Path) -> Result:
    spec = {"base": base, "method": t.method, "path": t.path, "headers": t.headers, "body": t.body,
            "n_max": t.n_max, "connections": connections, "seconds": seconds}
    out = subprocess.run([sys.executable, __file__, "--load", json.dumps(spec)],
                         capture_output=True, text=True, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    return Result(r["requests"], r["errors"], r["seconds"], r["p50_ms"], r["p99_ms"])


def load_process(spec: dict) -> None:
    """Entry point of the Python load-generator subprocess: N keep-alive HTTP/1.1 connections, closed loop."""
    m = re.match(r"http://([^:/]+):(\d+)", spec["base"])
    host, port = m.group(1), int(m.group(2))
    body = spec["body"].encode() if spec["body"] is not None else b""
    head_tail = "".join(f"{k}: {v}\r\n" for k, v in spec["headers"].items())
    if spec["body"] is not None:
        head_tail += f"Content-Length: {len(body)}\r\n"
    n_max = spec["n_max"]
    path = spec["path"]
    latencies: list[float] = []
    counts = {"requests": 0, "errors": 0}
    content_length = re.compile(rb"(?i)\r\ncontent-length: *(\d+)")

    def request() -> bytes:
        p = path.replace("{n}", str(random.randint(1, n_max))) if n_max else path
        return (f"{spec['method']} {p} HTTP/1.1\r\nHost: {host}:{port}\r\n{head_tail}\r\n").encode() + body

    async def worker(end: float) -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while time.perf_counter() < end:
                t0 = time.perf_counter()
                writer.write(request())
                head = await reader.readuntil(b"\r\n\r\n")
                cl = content_length.search(head)
                if cl is None:
                    raise RuntimeError(f"response without Content-Length: {head[:200]!r}")
                await reader.readexactly(int(cl.group(1)))
                latencies.append(time.perf_counter() - t0)
                counts["requests"] += 1
                if not head[9:12].startswith((b"2", b"3")):
                    counts["errors"] += 1
        finally:
            writer.close()

    async def main() -> float:
        start = time.perf_counter()
        await asyncio.gather(*(worker(start + spec["seconds"]) for _ in range(spec["connections"])))
        return time.perf_counter() - start

    elapsed = asyncio.run(main())
    latencies.sort()
    pct = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3 if latencies else float("nan")
    print(json.dumps({**counts, "seconds": elapsed, "p50_ms": pct(0.50), "p99_ms": pct(0.99)}))


# --- the benchmark ------------------------------------------------------------------------------------------


def seed(url: str, n: int) -> str:
    """n changes created through the product's service (not timed); returns dana.dev's API token."""
    from changegate.schemas.changes import ChangeCreate
    from changegate.services import changes
    from changegate.services.tokens import create_token

    rt = runtime_for(url)
    try:
        with rt.uow() as uow:
            secret = create_token(uow, rt.context("chris.change"), "dana.dev", "bench").secret
        for i in range(n):
            with rt.uow() as uow:
                changes.create_change(uow, rt.context("dana.dev"),
                                      ChangeCreate(**{**CREATE_BODY, "title": f"Seeded change {i + 1}"}))
    finally:
        rt.close()
    return secret


def count_changes(url: str) -> int:
    from sqlalchemy import text

    rt = runtime_for(url)
    try:
        with rt.engine.connect() as conn:
            return conn.execute(text("SELECT count(*) FROM changes")).scalar_one()
    finally:
        rt.close()


def best_result(a: Result, b: Result) -> Result:
    """The better of two reference runs, figure by figure: disturbance can only make a run look worse, and
    the better reference never flatters the endpoint compared with it."""
    fast = a if a.rps >= b.rps else b
    return Result(fast.requests, fast.errors, fast.seconds, min(a.p50_ms, b.p50_ms), min(a.p99_ms, b.p99_ms),
                  fast.server_cpu)


def bench_backend(label: str, url: str, generator, workdir: Path, duration: float,
                  targets: set[str], workers: int = 1) -> list[list[str]]:
    t0 = time.perf_counter()
    token = seed(url, SEED_CHANGES)
    print(f"   [{label}] seeded {SEED_CHANGES} changes through the service layer in {time.perf_counter() - t0:.1f} s")
    auth = {"Authorization": f"Bearer {token}"}
    json_auth = {**auth, "Content-Type": "application/json"}
    ping = Target("ping", "GET", "/api/v1/ping", {})
    measured = {
        "get": Target("get", "GET", "/api/v1/changes/CHG-{n}", auth, n_max=SEED_CHANGES),
        "gate": Target("gate", "POST", "/api/v1/changes/CHG-{n}/gate", json_auth,
                       body=json.dumps(GATE_BODY), n_max=SEED_CHANGES),
        "post": Target("post", "POST", "/api/v1/changes", json_auth, body=json.dumps(CREATE_BODY)),
    }
    chosen = [t for name, t in measured.items() if name in targets]

    server = Server(url, workers)
    try:
        def measure(t: Target, connections: int) -> Result:
            generator(server.base, t, connections, WARMUP, workdir)  # warm-up, discarded
            cpu0, w0 = server.cpu_seconds(), time.perf_counter()
            r = generator(server.base, t, connections, duration, workdir)
            r.server_cpu = (server.cpu_seconds() - cpu0) / (time.perf_counter() - w0)
            if r.errors:
                raise RuntimeError(f"{t.method} {t.path}: {r.errors} of {r.requests} requests failed")
            print(f"   [{label}] {t.method:4} {t.path:31} c={connections:<3} {r.rps:8,.0f} req/s  "
                  f"p50 {r.p50_ms:7.2f} ms  p99 {r.p99_ms:7.2f} ms  server CPU {r.server_cpu:4.0%}")
            sys.stdout.flush()
            return r

        # The reference is measured before and after the endpoints it is compared with: drift (other work
        # on the machine) shows up as the spread between the two, and the better of the two is used.
        results: dict[tuple[str, int], Result] = {}
        created_in_db = 0
        for c in (CONNECTIONS, 1):
            first = measure(ping, c)
            for t in chosen:
                if t.name == "post" and c != CONNECTIONS:
                    continue  # creation is measured at 32 connections only
                before = count_changes(url) if t.name == "post" else 0
                results[t.name, c] = measure(t, c)
                if t.name == "post":
                    created_in_db = count_changes(url) - before
            last = measure(ping, c)
            results["ping", c] = best_result(first, last)
            print(f"   [{label}] ping c={c}: before {first.rps:,.0f} req/s, after {last.rps:,.0f} req/s "
                  f"(spread {abs(first.rps - last.rps) / max(first.rps, last.rps):.0%}); p99 {first.p99_ms:.2f} / "
                  f"{last.p99_ms:.2f} ms; the reference is the better of the two")
    finally:
        server.stop()
    if ("post", CONNECTIONS) in results:
        post32 = results["post", CONNECTIONS]
        print(f"   [{label}] sanity: POST answered 201 {post32.requests - post32.errors:,} times during timing; the "
              f"changes table grew by {created_in_db:,} rows over warm-up + timing")

    ms = lambda v: fmt(v, "ms")
    names = {"get": "GET /changes/CHG-n", "gate": "POST /changes/CHG-n/gate", "post": "created/s, POST /changes"}
    rows = []
    for (name, c), r in results.items():
        if name == "ping":
            continue
        pr = results["ping", c]
        thr = ratio(r.rps, pr.rps)
        rows.append([f"{label}: {names[name]} req/s c={c}", fmt(r.rps, "req/s"), f"ping {fmt(pr.rps, 'req/s')}",
                     fmt(thr), f">= {GOALS[name]} {verdict(thr, GOALS[name])}"])
        rows.append([f"{label}: {names[name]} p50 c={c}", ms(r.p50_ms), f"ping {ms(pr.p50_ms)}",
                     fmt(ratio(pr.p50_ms, r.p50_ms)), "-"])
        # The server's CPU time per request: what the code costs, less disturbed by a busy machine than
        # req/s (a server that gets a third of a CPU serves a third of the requests, at the same cost each).
        cpu = lambda res: res.server_cpu * 1e3 / res.rps if res.rps else float("nan")
        rows.append([f"{label}: {names[name]} server CPU/request c={c}", ms(cpu(r)), f"ping {ms(cpu(pr))}",
                     fmt(ratio(cpu(pr), cpu(r))), "-"])
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgresql", action="store_true", help="also run on a throwaway PostgreSQL cluster")
    ap.add_argument("--generator", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--duration", type=int, default=DURATION, help="whole seconds per measured run")
    ap.add_argument("--workers", type=int, default=1,
                    help="server processes (changegate serve --workers); their CPU time is summed")
    ap.add_argument("--targets", default="get,gate,post",
                    help="comma-separated subset of get, gate, post to measure (default: all)")
    args = ap.parse_args()

    use_wrk = args.generator == "wrk" or (args.generator == "auto" and shutil.which("wrk"))
    generator = run_wrk if use_wrk else run_python
    header("bench_api: HTTP API vs GET /api/v1/ping (same server, generator, connections, duration)")
    from importlib.util import find_spec

    # uvicorn's "auto" choices: uvloop and httptools when installed (uvicorn[standard]), else asyncio and h11.
    stack = f"loop {'uvloop' if find_spec('uvloop') else 'asyncio'}, http {'httptools' if find_spec('httptools') else 'h11'}"
    print(f"   server: uvicorn ({stack}), {args.workers} worker process(es), own process; load: "
          f"{'wrk (2 threads)' if use_wrk else 'Python asyncio generator'} in a separate process, sharing the "
          f"machine's {os.cpu_count()} CPUs with the server; {args.duration:g} s per run after {WARMUP:g} s warm-up")
    sys.stdout.flush()

    targets = set(args.targets.split(","))
    if not targets <= {"get", "gate", "post"}:
        ap.error(f"--targets: unknown {', '.join(sorted(targets - {'get', 'gate', 'post'}))}")
    rows: list[list[str]] = []
    with temp_dir("changegate-bench-api-") as d:
        rows += bench_backend("sqlite", migrated_sqlite(d / "changegate.db"), generator, d, args.duration,
                              targets, args.workers)
        if want_postgresql():
            from changegate.db.engine import make_engine
            from changegate.db.migrate import upgrade
            from changegate.sqlcheck.pgcluster import start_throwaway_cluster

            cluster = start_throwaway_cluster()
            try:
                url = cluster.url(cluster.create_database("bench"))
                engine = make_engine(url)
                upgrade(engine)
                engine.dispose()
                rows += bench_backend("postgresql", url, generator, d, args.duration, targets, args.workers)
            finally:
                cluster.stop()

    print()
    print(table(["metric", "value", "reference", "ratio", "goal"], rows))
    print("   req/s ratio = value / ping req/s at the same connection count (the goal); p50 ratio = ping p50 / p50")
    footer()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 2 and sys.argv[1] == "--serve":
        serve(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    elif len(sys.argv) >= 2 and sys.argv[1] == "--load":
        load_process(json.loads(sys.argv[2]))
    else:
        sys.exit(main())
