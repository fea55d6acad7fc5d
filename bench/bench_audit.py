"""Audit-chain verification speed: ``changegate.services.audit.verify(uow)`` over 1,000,000 events.

Goal: >= 300,000 events/s end to end (the product's real path: a read unit of work, ``AuditRepository.head``,
``AuditRepository.iter_chain`` streaming rows from the driver's cursor, ``core.audit.verify_chain`` hashing
each; a long chain is cut into stretches checked by one process per CPU). A second line shows the same in
one process (``processes=1``).

The chain is built fast but honestly: the first event is appended by the product itself (a real
``create_change`` through the service layer), its stored snapshot is the template for the synthetic events
that follow (a change lifecycle of 8 events with the product's real before/after snapshot sizes), every
hash is computed with ``core.audit.event_hash`` in sequence, the rows are bulk-inserted with raw sqlite3
``executemany`` into a database migrated with ``upgrade(engine)`` and ``audit_head`` is set to the tip.

References measured in the same run, on the same rows:
  (i)  a bare ``SELECT`` streaming every row with raw sqlite3 (no hashing, no SQLAlchemy): the storage floor;
  (ii) ``hashlib.sha256(...).hexdigest()`` over exactly the bytes ``event_hash`` hashes, no database:
       the hashing floor.
Two decomposition rows show where the rest goes: the product's ``iter_chain`` consumed without hashing, and
``verify_chain`` over the rows already in memory (no database).
All timings run in a fresh child process (as ``changegate audit verify`` would), best of 3 each, so the
heap churned by building a million rows does not touch them. Then one row is altered with plain SQL and
verification must fail naming that seq (a sanity line).

With ``--postgresql`` (or CHANGEGATE_BENCH_POSTGRESQL=1) the same on a throwaway PostgreSQL cluster, loaded
with COPY. CHANGEGATE_BENCH_QUICK=1 uses 100,000 events.

Run:  .venv/bin/python bench/bench_audit.py [--postgresql] [--events N]
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK,
    fmt,
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

from changegate.core.audit import canonical_json, event_hash, verify_chain
from changegate.services import audit
from changegate.services.audit import verify

EVENTS = 100_000 if QUICK else 1_000_000
REPEATS = 1 if QUICK else 3  # best of, for the measured path and every reference alike
GOAL_EVENTS_PER_S = 300_000
SEP = "\x1f"  # event_hash's field separator; measure() checks its payloads against the stored hashes
COLUMNS = "seq, at, actor, action, entity, before, after, detail, prev_hash, hash"


# --- building the chain -----------------------------------------------------------------------------------


def seed_real_event(rt) -> tuple[dict, int, str, str]:
    """Append one real event through the product; returns (its snapshot, head seq, head hash, its `at`)."""
    from sqlalchemy import text

    from changegate.schemas.changes import ChangeCreate
    from changegate.services import changes

    with rt.uow() as uow:
        changes.create_change(uow, rt.context("dana.dev"), ChangeCreate(
            title="Relabel the MES label printer", category="application", release_level="patch",
            environment="prod", items=["mes-labels"]))
    with rt.uow(write=False) as uow:
        last_seq, last_hash = uow.audit.head()
        at, after = uow.session.execute(
            text("SELECT at, after FROM audit_events WHERE seq = :s"), {"s": last_seq}).one()
    return json.loads(after), last_seq, last_hash, at


def lifecycle_templates(snapshot: dict) -> list[tuple[str, str, str, str, str]]:
    """(actor, action, before, after, detail) for 8 events of one change, the product's snapshot shape."""
    impact = "Label layout for line 3 only; printers on lines 1-2 unaffected."

    def snap(version: int, **kw) -> str:  # each write bumps row_version, as the product's do
        return canonical_json({**snapshot, "impact_analysis": impact, "row_version": version, **kw})

    draft = canonical_json({**snapshot, "state": "draft", "row_version": 1})
    return [
        ("dana.dev", "change.created", "{}", draft, "{}"),
        ("dana.dev", "change.updated", draft, snap(2, state="draft"), "{}"),
        ("dana.dev", "change.submitted", snap(2, state="draft"), snap(3, state="submitted"), "{}"),
        ("rene.release", "change.assessed", snap(3, state="submitted"), snap(4, state="assessed", risk="standard"),
         canonical_json({"risk": "standard"})),
        ("ines.itmgr", "approval.approved", snap(4, state="assessed", risk="standard"),
         snap(5, state="approved", risk="standard"),
         canonical_json({"decision": "approved", "note": "ok for the Tuesday window", "role": "it_manager"})),
        ("kim.keyuser", "comment.added", "{}", "{}", canonical_json({"body": "UAT on line 3 passed, labels scan."})),
        ("rene.release", "change.scheduled", snap(6, state="approved", risk="standard"),
         snap(7, state="scheduled", risk="standard"),
         canonical_json({"window": "2026-12-01T06:00:00+00:00/2026-12-01T08:00:00+00:00"})),
        ("sam.sysadmin", "change.implemented", snap(7, state="scheduled", risk="standard"),
         snap(8, state="implemented", risk="standard"), "{}"),
    ]


def entity_of(seq: int) -> int:
    return seq // 8 + 2


def records(templates, start_seq: int, last_seq: int, at: str) -> tuple[list[dict], list[tuple], list[tuple]]:
    """The change rows, items and approvals the synthetic events describe (so that ``verify`` reconciles
    them as it would real ones): each change is its newest snapshot, its version bumped once per comment
    since, approved as it_manager once its approval event is in."""
    snaps = [json.loads(after) if after != "{}" else None for _, _, _, after, _ in templates]
    latest: dict[int, list] = {}  # change id -> [template of its newest snapshot, comments since, approved]
    for seq in range(start_seq + 1, last_seq + 1):
        i = seq % 8
        state = latest.setdefault(entity_of(seq), [None, 0, False])
        if snaps[i] is not None:
            state[0], state[1] = i, 0
        elif templates[i][1] == "comment.added":
            state[1] += 1
        state[2] = state[2] or templates[i][1] == "approval.approved"
    changes, items, approvals = [], [], []
    for cid, (i, comments, approved) in latest.items():
        snap = dict(snaps[i])
        changes.append({**{k: v for k, v in snap.items() if k != "items"}, "id": cid, "uat_signoff_note": "",
                        "row_version": snap["row_version"] + comments, "created_at": at, "updated_at": at})
        items += [(cid, name, pos) for pos, name in enumerate(snap["items"])]
        if approved:
            approvals.append((cid, "it_manager", "ines.itmgr", "approved", "", False, at))
    return changes, items, approvals


APPROVAL_COLUMNS = "change_id, role, approver, decision, reason, retroactive, created_at"


def build(templates, start_seq: int, start_hash: str, start_at: str, last_seq: int,
          chunk: int = 50_000) -> Iterator[list[tuple]]:
    """Rows seq start_seq+1 .. last_seq in chunks, each hashed with event_hash over its predecessor."""
    prev = start_hash
    t0 = datetime.fromisoformat(start_at)
    step = timedelta(seconds=3)
    for lo in range(start_seq + 1, last_seq + 1, chunk):
        rows: list[tuple] = []
        for seq in range(lo, min(lo + chunk, last_seq + 1)):
            actor, action, before, after, detail = templates[seq % 8]
            entity = f"change:{entity_of(seq)}"
            at = (t0 + step * (seq - start_seq)).isoformat(timespec="microseconds")
            h = event_hash(prev, seq, at, actor, action, entity, before, after, detail)
            rows.append((seq, at, actor, action, entity, before, after, detail, prev, h))
            prev = h
        yield rows


def load_chain(chunks: Iterator[list[tuple]], sink: Callable[[list[tuple]], None]) -> tuple[float, float, int, str]:
    """Feed the built chunks to ``sink``; returns (build seconds, load seconds, rows, last hash)."""
    build_s = load_s = 0.0
    count, tip = 0, ""
    while True:
        t0 = time.perf_counter()
        rows = next(chunks, None)
        t1 = time.perf_counter()
        build_s += t1 - t0
        if rows is None:
            return build_s, load_s, count, tip
        sink(rows)
        load_s += time.perf_counter() - t1
        count += len(rows)
        tip = rows[-1][9]


# --- timing, in a fresh process ---------------------------------------------------------------------------
#
# The timings run in a child process of their own, as `changegate audit verify` would: the parent's heap,
# churned by building and loading a million rows, must not slow down (or speed up) the product.


def best_of(fn: Callable[[], int]) -> float:
    """Best seconds over REPEATS runs; gc runs before, not during, each (the product's own gc cost counts)."""
    best = float("inf")
    for _ in range(REPEATS):
        gc.collect()
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(spec: dict) -> dict:
    """Child process: every timing for one database. Prints nothing but the JSON result."""
    n = spec["n"]
    rt = runtime_for(spec["url"])
    if spec["engine"] == "sqlite":
        def read_rows() -> Iterator[tuple]:
            con = sqlite3.connect(spec["path"])
            try:
                yield from con.execute(f"SELECT {COLUMNS} FROM audit_events ORDER BY seq")
            finally:
                con.close()
    else:
        import psycopg

        def read_rows() -> Iterator[tuple]:
            # The same keyset batches as iter_chain (an index range scan each), raw psycopg, no SQLAlchemy.
            # (A server-side cursor over one ORDER BY seq is slower: the planner may sort the whole table.)
            after = 0
            with psycopg.connect(spec["dsn"]) as con, con.cursor() as cur:
                while True:
                    cur.execute(f"SELECT {COLUMNS} FROM audit_events WHERE seq > %s ORDER BY seq LIMIT 20000",
                                (after,))
                    rows = cur.fetchall()
                    if not rows:
                        return
                    yield from rows
                    after = rows[-1][0]

    def bare_select() -> int:
        count = 0
        for _ in read_rows():
            count += 1
        assert count == n, count
        return count

    def product_verify() -> int:
        with rt.uow(write=False) as uow:
            v = verify(uow)
        if not v.ok or v.checked != n:
            raise AssertionError(f"the untouched chain did not verify: {v}")
        return v.checked

    def product_verify_one_process() -> int:
        with rt.uow(write=False) as uow:
            v = verify(uow, processes=1)
        if not v.ok or v.checked != n:
            raise AssertionError(f"the untouched chain did not verify: {v}")
        return v.checked

    def product_chain_only() -> int:  # what verify() did before it reconciled the records
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            v = audit.verify_chain_only(uow, uow.audit.head())
        if not v.ok or v.checked != n:
            raise AssertionError(f"the untouched chain did not verify: {v}")
        return v.checked

    def product_reconcile_only() -> int:
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            ref, difference, compared = audit.reconcile(uow)
        if difference:
            raise AssertionError(f"the untouched records did not reconcile: {difference}")
        return compared

    def product_fetch_only() -> int:
        count = 0
        with rt.uow(write=False) as uow:
            for _ in uow.audit.iter_chain():
                count += 1
        assert count == n, count
        return count

    out = {"select_s": best_of(bare_select), "verify_s": best_of(product_verify),
           "chain_s": best_of(product_chain_only), "reconcile_s": best_of(product_reconcile_only),
           "verify_1p_s": best_of(product_verify_one_process),
           "iter_s": best_of(product_fetch_only)}
    rt.close()

    rows = list(read_rows())  # not timed: the inputs of the two references without a database
    payloads = [SEP.join((prev, str(seq), at, actor, action, entity, before, after, detail)).encode()
                for seq, at, actor, action, entity, before, after, detail, prev, _ in rows]
    for i in range(0, n, max(1, n // 1000)):  # the reference hashes exactly what event_hash hashed
        assert hashlib.sha256(payloads[i]).hexdigest() == rows[i][9], f"payload of event {i + 1} differs"
    out["payload_bytes"] = sum(map(len, payloads)) / n
    sha256 = hashlib.sha256

    def hash_only() -> int:
        for b in payloads:
            sha256(b).hexdigest()
        return n

    out["hash_s"] = best_of(hash_only)
    del payloads

    def in_memory() -> int:
        v = verify_chain(rows)
        assert v.ok and v.checked == n, v
        return v.checked

    out["memory_s"] = best_of(in_memory)
    out["changes"] = product_reconcile_only()
    return out


def measure_in_child(spec: dict) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--measure", json.dumps(spec)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"the measuring process failed:\n{proc.stderr}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def report(label: str, n: int, m: dict, select_name: str) -> list[list[str]]:
    rate = lambda key: n / m[key]
    ev = lambda x: fmt(x, "ev/s")
    v, g = rate("verify_s"), GOAL_EVENTS_PER_S
    return [
        [f"{label}: verify() end to end, {n:,} events", ev(v), f"goal {fmt(g, 'ev/s')}", fmt(v / g),
         f">= 1.0 {verdict(v / g, 1.0)}"],
        [f"{label}:   in one process (processes=1)", ev(rate("verify_1p_s")), f"goal {fmt(g, 'ev/s')}",
         fmt(rate("verify_1p_s") / g), "-"],
        [f"{label}:   vs the chain alone (no reconciliation)", ev(v), ev(rate("chain_s")),
         fmt(ratio(v, rate("chain_s"))), f">= 0.67 {verdict(ratio(v, rate('chain_s')), 0.67)}"],
        [f"{label}: reconcile() only, {m['changes']:,} change records", ev(rate("reconcile_s")), ev(rate("chain_s")),
         fmt(ratio(rate("reconcile_s"), rate("chain_s"))), "-"],
        [f"{label}:   vs (i) bare SELECT, {select_name}", ev(v), ev(rate("select_s")), fmt(ratio(v, rate("select_s"))),
         "-"],
        [f"{label}:   vs (ii) hashlib.sha256 same bytes, no DB", ev(v), ev(rate("hash_s")),
         fmt(ratio(v, rate("hash_s"))), "-"],
        [f"{label}: iter_chain() only (product fetch, no hashing)", ev(rate("iter_s")), ev(rate("select_s")),
         fmt(ratio(rate("iter_s"), rate("select_s"))), "-"],
        [f"{label}: verify_chain() over rows in memory (no DB)", ev(rate("memory_s")), ev(rate("hash_s")),
         fmt(ratio(rate("memory_s"), rate("hash_s"))), "-"],
    ]


def verify_once(url: str):
    """verify() in a runtime of its own, as an operator's separate command would."""
    rt = runtime_for(url)
    try:
        with rt.uow(write=False) as uow:
            return verify(uow)
    finally:
        rt.close()


def tamper_check(url: str, alter: Callable[[int], None], n: int, label: str) -> None:
    victim = n // 2 + 7
    alter(victim)
    v = verify_once(url)
    ok = (not v.ok) and v.first_broken_seq == victim
    print(f"   [{label}] sanity: altered event {victim:,} with a plain SQL UPDATE -> verify(): ok={v.ok}, "
          f"first_broken_seq={v.first_broken_seq}, {v.message!r}  [{'as expected' if ok else 'WRONG'}]")
    if not ok:
        raise AssertionError("verification did not name the altered event")


def records_tamper_check(url: str, execute: Callable[[str], None], n: int, label: str) -> None:
    """A record altered with plain SQL (the chain untouched): verify() must name it; then it is put back."""
    victim = entity_of(n // 3)
    execute(f"UPDATE changes SET state = 'authorized' WHERE id = {victim}")
    v = verify_once(url)
    execute(f"UPDATE changes SET state = 'implemented' WHERE id = {victim}")
    ok = (not v.ok) and v.record == f"CHG-{victim}"
    print(f"   [{label}] sanity: set CHG-{victim}'s state with a plain SQL UPDATE -> verify(): ok={v.ok}, "
          f"record={v.record}, {v.message!r}  [{'as expected' if ok else 'WRONG'}]")
    if not ok:
        raise AssertionError("verification did not name the altered record")


def describe_load(label: str, how: str, build_s: float, load_s: float, count: int, extra: str = "") -> None:
    print(f"   [{label}] 1 event appended by the product, {count:,} more built with event_hash in {build_s:.1f} s, "
          f"{how} in {load_s:.1f} s ({count / load_s:,.0f} rows/s){extra}")
    sys.stdout.flush()


# --- SQLite -----------------------------------------------------------------------------------------------


def run_sqlite(d: Path, n: int) -> list[list[str]]:
    path = d / "audit.db"
    url = migrated_sqlite(path)
    rt = runtime_for(url)
    try:
        snapshot, seq0, hash0, at0 = seed_real_event(rt)
    finally:
        rt.close()
    con = sqlite3.connect(path, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=NORMAL")
    con.execute("PRAGMA cache_size=-1000000")  # this loading connection only: index pages stay in memory
    con.execute("BEGIN")
    insert = f"INSERT INTO audit_events ({COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?)"
    templates = lifecycle_templates(snapshot)
    build_s, load_s, count, tip = load_chain(build(templates, seq0, hash0, at0, n),
                                             lambda rows: con.executemany(insert, rows))
    t0 = time.perf_counter()
    con.execute("UPDATE audit_head SET last_seq = ?, last_hash = ? WHERE id = 1", (n, tip))
    changes, items, approvals = records(templates, seq0, n, "2026-12-01 06:00:00.000000")
    columns = list(changes[0])
    con.executemany(f"INSERT INTO changes ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                    [tuple(c[k] for k in columns) for c in changes])
    con.executemany("INSERT INTO change_items (change_id, name, position) VALUES (?,?,?)", items)
    con.executemany(f"INSERT INTO approvals ({APPROVAL_COLUMNS}) VALUES (?,?,?,?,?,?,?)", approvals)
    con.execute("COMMIT")
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    load_s += time.perf_counter() - t0
    describe_load("sqlite", "inserted with executemany", build_s, load_s, count,
                  f"; {len(changes):,} change records they describe; database {path.stat().st_size / 1e6:,.0f} MB")

    m = measure_in_child({"engine": "sqlite", "url": url, "path": str(path), "n": n})
    print(f"   [sqlite] average hashed payload {m['payload_bytes']:,.0f} bytes per event")

    def alter(seq: int) -> None:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute("UPDATE audit_events SET detail = ? WHERE seq = ?", ('{"note":"edited later"}', seq))
        c.close()

    def execute(sql: str) -> None:
        c = sqlite3.connect(path, isolation_level=None)
        c.execute(sql)
        c.close()

    records_tamper_check(url, execute, n, "sqlite")
    tamper_check(url, alter, n, "sqlite")
    return report("sqlite", n, m, "raw sqlite3 cursor")


# --- PostgreSQL -------------------------------------------------------------------------------------------


def run_postgresql(n: int) -> list[list[str]]:
    import psycopg

    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade
    from changegate.sqlcheck.pgcluster import start_throwaway_cluster

    cluster = start_throwaway_cluster()
    try:
        name = cluster.create_database("bench_audit")
        url, dsn = cluster.url(name), cluster.dsn(name)
        engine = make_engine(url)
        upgrade(engine)
        engine.dispose()
        rt = runtime_for(url)
        try:
            snapshot, seq0, hash0, at0 = seed_real_event(rt)
        finally:
            rt.close()
        with psycopg.connect(dsn) as con, con.cursor() as cur:
            with cur.copy(f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
                def sink(rows: list[tuple]) -> None:
                    for r in rows:
                        copy.write_row(r)

                templates = lifecycle_templates(snapshot)
                build_s, load_s, count, tip = load_chain(build(templates, seq0, hash0, at0, n), sink)
            t0 = time.perf_counter()
            cur.execute("UPDATE audit_head SET last_seq = %s, last_hash = %s WHERE id = 1", (n, tip))
            changes, items, approvals = records(templates, seq0, n, "2026-12-01T06:00:00+00:00")
            columns = list(changes[0])
            for table, cols, rows in (("changes", ", ".join(columns), [tuple(c[k] for k in columns) for c in changes]),
                                      ("change_items", "change_id, name, position", items),
                                      ("approvals", APPROVAL_COLUMNS, approvals)):
                with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                    for r in rows:
                        copy.write_row(r)
            cur.execute("SELECT setval(pg_get_serial_sequence('changes', 'id'), (SELECT max(id) FROM changes))")
        load_s += time.perf_counter() - t0  # includes the commit
        with psycopg.connect(dsn, autocommit=True) as con:
            t0 = time.perf_counter()
            for table in ("audit_events", "changes", "change_items", "approvals"):
                con.execute(f"VACUUM ANALYZE {table}")  # what autovacuum does to a long-lived table
            vacuum_s = time.perf_counter() - t0
        describe_load("postgresql", "loaded with COPY", build_s, load_s, count, f"; VACUUM ANALYZE {vacuum_s:.1f} s")

        m = measure_in_child({"engine": "postgresql", "url": url, "dsn": dsn, "n": n})

        def alter(seq: int) -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute("UPDATE audit_events SET detail = %s WHERE seq = %s", ('{"note":"edited later"}', seq))

        def execute(sql: str) -> None:
            with psycopg.connect(dsn, autocommit=True) as c:
                c.execute(sql)

        records_tamper_check(url, execute, n, "postgresql")
        tamper_check(url, alter, n, "postgresql")
        return report("postgresql", n, m, "raw psycopg, keyset batches")
    finally:
        cluster.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postgresql", action="store_true", help="also run on a throwaway PostgreSQL cluster")
    ap.add_argument("--events", type=int, default=EVENTS)
    args = ap.parse_args()
    n = args.events

    header(f"bench_audit: audit chain verification, {n:,} events (best of {REPEATS} for every timing)")
    with temp_dir("changegate-bench-audit-") as d:
        rows = run_sqlite(d, n)
    if want_postgresql():
        rows += run_postgresql(n)
    print()
    print(table(["metric", "value", "reference", "ratio", "goal"], rows))
    print("   ev/s = events per second; ratio = value / reference (or / goal on the first line of each engine);")
    print("   timings run in a fresh process; the two decomposition rows show where verify()'s time goes")
    footer()
    return 0


if __name__ == "__main__":
    if len(sys.argv) >= 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(json.loads(sys.argv[2]))))
    else:
        sys.exit(main())
