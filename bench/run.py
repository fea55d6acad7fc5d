"""Run every benchmark in bench/ (each ``bench_*.py``, in sorted order, as a subprocess of this interpreter).

    .venv/bin/python bench/run.py                  # all of them
    .venv/bin/python bench/run.py --quick          # smaller sizes (CHANGEGATE_BENCH_QUICK=1 for each bench)
    .venv/bin/python bench/run.py --only api       # one: api, bench_api or bench_api.py
    .venv/bin/python bench/run.py --postgresql     # CHANGEGATE_BENCH_POSTGRESQL=1: benches that can, add PostgreSQL
    .venv/bin/python bench/run.py --only api -- --generator python   # arguments after -- go to each bench

Each benchmark's output is printed as it runs. A failing benchmark does not stop the others; the exit
status is non-zero at the end if any failed. Benchmarks print ratios against references measured in the
same run (the reference figures in bench/README.md); they are never timed tests.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent


def discover() -> list[Path]:
    return sorted(BENCH.glob("bench_*.py"))


def select(benches: list[Path], only: list[str]) -> list[Path]:
    if not only:
        return benches
    chosen = []
    for name in only:
        stem = Path(name).stem
        matches = [b for b in benches if b.stem in (stem, f"bench_{stem}")]
        if not matches:
            known = ", ".join(b.stem for b in benches) or "none"
            raise SystemExit(f"run.py: no benchmark {name!r} (known: {known})")
        chosen += [m for m in matches if m not in chosen]
    return chosen


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="smaller sizes: sets CHANGEGATE_BENCH_QUICK=1")
    ap.add_argument("--only", action="append", default=[], metavar="NAME",
                    help="run only this benchmark (repeatable): api, bench_api or bench_api.py")
    ap.add_argument("--postgresql", action="store_true",
                    help="sets CHANGEGATE_BENCH_POSTGRESQL=1: benchmarks that support it also run on PostgreSQL")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    args = ap.parse_args(argv)

    benches = select(discover(), args.only)
    if args.list:
        print("\n".join(b.name for b in benches))
        return 0
    if not benches:
        print("run.py: no bench/bench_*.py found", file=sys.stderr)
        return 1

    env = dict(os.environ)
    if args.quick:
        env["CHANGEGATE_BENCH_QUICK"] = "1"
    if args.postgresql:
        env["CHANGEGATE_BENCH_POSTGRESQL"] = "1"

    results: list[tuple[str, int, float]] = []
    for bench in benches:
        print(f"\n##### {bench.name}" + (" (quick)" if args.quick else ""), flush=True)
        t0 = time.perf_counter()
        try:
            rc = subprocess.run([sys.executable, str(bench), *extra], cwd=BENCH.parent, env=env).returncode
        except KeyboardInterrupt:
            print(f"\n##### {bench.name}: interrupted", flush=True)
            results.append((bench.name, 130, time.perf_counter() - t0))
            break
        except OSError as exc:
            print(f"run.py: could not start {bench.name}: {exc}", file=sys.stderr, flush=True)
            rc = 127
        results.append((bench.name, rc, time.perf_counter() - t0))
        if rc != 0:
            print(f"##### {bench.name} FAILED (exit status {rc})", flush=True)

    print("\n##### summary")
    width = max(len(name) for name, _, _ in results)
    for name, rc, seconds in results:
        print(f"  {name.ljust(width)}  {'ok' if rc == 0 else f'FAILED ({rc})':>12}  {seconds:7.1f} s")
    failed = [name for name, rc, _ in results if rc != 0]
    if failed:
        print(f"{len(failed)} of {len(results)} benchmarks failed: {', '.join(failed)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
