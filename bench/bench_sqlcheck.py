"""The SQL check of a 200-statement migration, against running its deploy script once.

    .venv/bin/python bench/bench_sqlcheck.py [--repeat 5] [--engine sqlite|postgresql|both]

The migration is realistic for a plant's MES database: new tables, added columns (PostgreSQL), indexes,
multi-row inserts with conflict handling, updates with WHERE, and a rollback that undoes all of it; the
schema holds about 6,000 sample rows (1,500 with CHANGEGATE_BENCH_QUICK=1). The check lints every script,
runs deploy twice and rollback twice, and fingerprints the database five times (schema and a checksum of
every row; on SQLite a fingerprint asked for after a run that committed nothing is the previous one, the
database file being provably unchanged, and the output says how many), so the goal is a total of at most
4x the bare deploy.
Reference, measured in the same run on the same kind of scratch database: the deploy script run once,
in one transaction, statement by statement, as the check runs it (and, for PostgreSQL, also sent as one
simple-query string, as ``psql -1 -f`` would). The throwaway cluster's start-up is reported on its own:
tests, benchmarks and the CLI with CHANGEGATE_SCRATCH_POSTGRES_URL pay it once, not per check.
PostgreSQL runs when its server binaries are installed. Exits non-zero only when a check does not pass.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))
from _common import QUICK, footer, header, table  # noqa: E402

from changegate.core.sql.lint import analyse
from changegate.sqlcheck.check import check_sql
from changegate.sqlcheck.engines import PgScratch, SqliteScratch

GOAL = 4.0
LINES, ORDERS, WORK_ORDERS = (12, 500, 1000) if QUICK else (12, 2000, 4000)


def schema(engine: str) -> str:
    pg = engine == "postgresql"
    serial = "bigserial PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    ts = "timestamptz NOT NULL DEFAULT now()" if pg else "TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP"
    out = [
        f"CREATE TABLE production_lines (id {serial}, code text NOT NULL UNIQUE, name text NOT NULL, "
        "plant text NOT NULL DEFAULT 'PLANT-1');",
        f"CREATE TABLE orders (id {serial}, reference text NOT NULL UNIQUE, quantity numeric(12,3) NOT NULL, "
        f"created_at {ts});",
        "CREATE INDEX ix_orders_created ON orders (created_at);",
        f"CREATE TABLE work_orders (id {serial}, order_id bigint REFERENCES orders (id), line_id bigint NOT NULL "
        "REFERENCES production_lines (id), status text NOT NULL DEFAULT 'planned');",
    ]
    out.append("INSERT INTO production_lines (code, name) VALUES "
               + ", ".join(f"('L{i}', 'Line {i}')" for i in range(1, LINES + 1)) + ";")
    for start in range(0, ORDERS, 500):
        out.append("INSERT INTO orders (reference, quantity, created_at) VALUES " + ", ".join(
            f"('SO-{i:05d}', {i % 97 + 1}, '2026-11-{i % 28 + 1:02d} 08:00:00')"
            for i in range(start, min(ORDERS, start + 500))) + ";")
    for start in range(0, WORK_ORDERS, 500):
        out.append("INSERT INTO work_orders (order_id, line_id, status) VALUES " + ", ".join(
            f"({i % ORDERS + 1}, {i % LINES + 1}, '{('planned', 'released', 'done')[i % 3]}')"
            for i in range(start, min(WORK_ORDERS, start + 500))) + ";")
    return "\n".join(out) + "\n"


def migration(engine: str) -> tuple[str, str]:
    """A 200-statement deploy and its rollback."""
    pg = engine == "postgresql"
    serial = "bigserial PRIMARY KEY" if pg else "INTEGER PRIMARY KEY"
    deploy: list[str] = []
    rollback: list[str] = []
    tables = [f"mes_ext_{n:02d}" for n in range(20)]
    for n, t in enumerate(tables):  # 20 tables
        extra = "" if pg else ", shift TEXT, priority INTEGER NOT NULL DEFAULT 3, note TEXT"
        deploy.append(f"CREATE TABLE IF NOT EXISTS {t} (id {serial}, line_id bigint NOT NULL REFERENCES "
                      f"production_lines (id), code text NOT NULL UNIQUE, qty numeric(12,3) NOT NULL DEFAULT 0{extra});")
        rollback.insert(0, f"DROP TABLE IF EXISTS {t};")
    if pg:  # 40 added columns (SQLite has no ADD COLUMN IF NOT EXISTS: its tables get them at creation)
        for n in range(40):
            t = tables[n % 20] if n % 4 else ("work_orders" if n % 8 == 0 else "orders")
            col = f"c{n:02d}"
            deploy.append(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {col} integer NOT NULL DEFAULT {n};")
            if t in ("orders", "work_orders"):
                rollback.insert(0, f"ALTER TABLE {t} DROP COLUMN IF EXISTS {col};")
    for n in range(40 if pg else 60):  # indexes
        t = tables[n % 20]
        col = ("qty", "line_id", "code")[n // 20 % 3]
        deploy.append(f"CREATE INDEX IF NOT EXISTS ix_{t}_{col} ON {t} ({col});")
    inserts = 70 if pg else 90
    for n in range(inserts):  # multi-row inserts with conflict handling
        t = tables[n % 20]
        rows = ", ".join(f"({(n + k) % LINES + 1}, '{t}-{n:03d}-{k}', {k + 1})" for k in range(10))
        deploy.append(f"INSERT INTO {t} (line_id, code, qty) VALUES {rows} ON CONFLICT (code) DO NOTHING;")
    for n in range(200 - len(deploy)):  # updates with WHERE, some on existing rows (reverted by the rollback)
        if n % 3 == 0:
            code = f"L{n % LINES + 1}"
            deploy.append(f"UPDATE production_lines SET plant = 'PLANT-2' WHERE code = '{code}' AND plant <> 'PLANT-2';")
            rollback.append(f"UPDATE production_lines SET plant = 'PLANT-1' WHERE code = '{code}' AND plant <> 'PLANT-1';")
        else:
            t = tables[n % 20]
            deploy.append(f"UPDATE {t} SET qty = 5 WHERE code LIKE '{t}-%-{n % 10}' AND qty <> 5;")
    assert len(deploy) == 200, len(deploy)
    return "\n".join(deploy) + "\n", "\n".join(rollback) + "\n"


def bare_deploy(engine: str, cluster, schema_sql: str, deploy_sql: str) -> tuple[float, float | None]:
    """Seconds to run the deploy once, as the check runs it; and (PostgreSQL) as one simple-query string."""
    db = PgScratch(cluster.dsn(), sandbox=False) if engine == "postgresql" else SqliteScratch()
    try:
        db.load_schema(analyse(schema_sql, engine, "schema", "schema.sql"))
        script = analyse(deploy_sql, engine, "deploy", "deploy.sql")
        t = time.perf_counter()
        outcome = db.run(script)
        statement_by_statement = time.perf_counter() - t
        assert outcome.ok, outcome.error
        one_string = None
        if engine == "postgresql":
            db.recreate()
            db.load_schema(analyse(schema_sql, engine, "schema", "schema.sql"))
            import psycopg

            with psycopg.connect(db.conninfo(), autocommit=True) as conn:
                t = time.perf_counter()
                conn.execute(f"BEGIN;\n{deploy_sql}\nCOMMIT;".encode())  # bytes: sent as is, simple protocol
                one_string = time.perf_counter() - t
        return statement_by_statement, one_string
    finally:
        db.close()


def measure(engine: str, cluster, repeat: int) -> bool:
    schema_sql = schema(engine)
    deploy_sql, rollback_sql = migration(engine)
    bare, one, reports = [], [], []
    for _ in range(repeat):
        b, o = bare_deploy(engine, cluster, schema_sql, deploy_sql)
        bare.append(b)
        if o is not None:
            one.append(o)
        report = check_sql(engine, schema_sql, deploy_sql, rollback_sql, cluster=cluster)
        if not report.passed:
            print(f"   {engine}: the check did not pass: {report.to_dict()['properties']}")
            return False
        reports.append(report)
    reports.sort(key=lambda r: r.timings["total"])
    report = reports[len(reports) // 2]
    bare_s, total_s = statistics.median(bare), report.timings["total"]
    dynamic = sum(v for k, v in report.timings.items() if k in (
        "fingerprint", "deploy_1", "deploy_2", "rollback_1", "rollback_2"))
    n_rollback = len(analyse(rollback_sql, engine, "rollback", "r").statements)
    print(f"\n   {engine}: 200-statement deploy, {n_rollback}-statement rollback, "
          f"{LINES + ORDERS + WORK_ORDERS:,} sample rows; median of {repeat}")
    rows = [["full check (cluster start excluded)", f"{total_s * 1000:.1f} ms", f"{bare_s * 1000:.1f} ms",
             f"{total_s / bare_s:.2f}x", f"<= {GOAL:g}x {'met' if total_s / bare_s <= GOAL else 'MISSED'}"],
            ["  of which deploys, rollbacks, fingerprints", f"{dynamic * 1000:.1f} ms", f"{bare_s * 1000:.1f} ms",
             f"{dynamic / bare_s:.2f}x", ""]]
    if one:
        rows.append(["bare deploy as one simple-query string", f"{statistics.median(one) * 1000:.1f} ms",
                     f"{bare_s * 1000:.1f} ms", f"{statistics.median(one) / bare_s:.2f}x", ""])
    for phase, secs in report.timings.items():
        if phase != "total":
            rows.append([f"  phase {phase}", f"{secs * 1000:.1f} ms", f"{bare_s * 1000:.1f} ms",
                         f"{secs / bare_s:.2f}x", ""])
    print(table(["metric", "value", "reference: bare deploy", "ratio", "goal"], rows))
    for note in report.notes:
        if "fingerprint" in note:
            print(f"   ({note})")
    if engine == "postgresql":
        print("   (on PostgreSQL the scratch database is created, the schema loaded and the first fingerprint "
              "taken while the scripts are linted: phases overlap)")
    return True


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3 if QUICK else 5)
    ap.add_argument("--engine", choices=["sqlite", "postgresql", "both"], default="both")
    args = ap.parse_args()
    header("SQL check of a 200-statement migration vs. its deploy run once")
    engines = ["sqlite", "postgresql"] if args.engine == "both" else [args.engine]
    cluster = None
    if "postgresql" in engines:
        from changegate.sqlcheck.pgcluster import PostgresUnavailable, start_throwaway_cluster

        t = time.perf_counter()
        try:
            cluster = start_throwaway_cluster()
        except PostgresUnavailable as exc:
            print(f"   postgresql: skipped ({exc})")
            engines.remove("postgresql")
        else:
            print(f"   setup: throwaway PostgreSQL cluster started in {time.perf_counter() - t:.2f} s "
                  "(once per process; not counted in the check)")
    ok = True
    try:
        for engine in engines:
            ok = measure(engine, cluster, args.repeat) and ok
    finally:
        if cluster is not None:
            cluster.stop()
    footer()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
