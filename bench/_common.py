"""Helpers shared by the benchmarks in bench/ (not a benchmark itself: run.py only runs bench_*.py).

Benchmarks print ratios against references measured in the same run (the reference figures in bench/README.md),
so absolute numbers from different machines or runs are never compared with each other.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

REPO = Path(__file__).resolve().parent.parent
QUICK = os.environ.get("CHANGEGATE_BENCH_QUICK") == "1"
POSTGRESQL_ENV = os.environ.get("CHANGEGATE_BENCH_POSTGRESQL") == "1"


def want_postgresql(argv: Sequence[str] | None = None) -> bool:
    """``--postgresql`` on the command line, or CHANGEGATE_BENCH_POSTGRESQL=1 (set by ``run.py --postgresql``)."""
    argv = sys.argv[1:] if argv is None else argv
    return "--postgresql" in argv or POSTGRESQL_ENV


def machine() -> str:
    return (f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
            f"{platform.system()} {platform.release()}{'  [QUICK: reduced sizes]' if QUICK else ''}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def temp_dir(prefix: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def migrated_sqlite(path: Path) -> str:
    """A fresh SQLite file migrated to the product's head revision; returns its URL."""
    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade

    url = sqlite_url(path)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def runtime_for(url: str):
    """A Runtime built the way tests/conftest.py builds one (real clock)."""
    from changegate.db.engine import make_engine
    from changegate.services.policy import load_policy
    from changegate.services.runtime import Runtime
    from changegate.settings import DEFAULT_POLICY, Settings

    return Runtime(Settings(database_url=url, policy=DEFAULT_POLICY), make_engine(url), load_policy(DEFAULT_POLICY))


def fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        s = f"{value:,.0f}"
    elif abs(value) >= 10:
        s = f"{value:.1f}"
    else:
        s = f"{value:.2f}"
    return f"{s} {unit}".rstrip()


def ratio(num: float | None, den: float | None) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return num / den


def verdict(r: float | None, goal: float | None) -> str:
    if goal is None or r is None:
        return ""
    return "met" if r >= goal else "MISSED"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain fixed-width table (no box drawing, so it pastes anywhere)."""
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def loadavg() -> str:
    try:
        return "load average " + " ".join(Path("/proc/loadavg").read_text().split()[:3]) + " (1, 5, 15 min)"
    except OSError:
        return "load average unknown"


def header(title: str) -> None:
    print(f"== {title}")
    print(f"   machine: {machine()}")
    print(f"   {loadavg()} before this benchmark (well above 0: other work competes for the CPUs and skews ratios)")
    sys.stdout.flush()


def footer() -> None:
    """Other work on the machine skews ratios too (it may land on one side of a comparison only)."""
    print(f"   {loadavg()} at end (this benchmark's own processes included)")
    sys.stdout.flush()
