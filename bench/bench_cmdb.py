"""The CMDB at scale: impact over 1,000,000 items and 5,000,000 relations, small impacts, import.

The synthetic plant: half the items form one random graph (5 relations per item on average, all
``depends_on``), so impact from one of them reaches about half of everything; the other half is a second
random graph, except for small trees of 20 items (a typical change's neighbourhood: a small impact).

Figures, each against a reference measured in the same run on the same data:
  * impact of one item reaching ~half the graph: the product's ``GraphIndex.impact`` (core) and the whole
    use case ``services.cmdb.impact_of`` (generation check, ids, paths and names of the 200 listed items,
    summary) against a bare ``scipy.sparse.csgraph.breadth_first_order`` over the same CSR arrays (goal:
    product ≤ 1.5 × scipy, printed as scipy ÷ product ≥ 0.67); then rustworkx ``descendants``, networkx
    ``descendants`` and SQLite's recursive CTE over the same tables (the product should be ahead: ≥ 1);
  * a small impact (a tree root, ~19 items reached), the use case in a read unit of work as the API runs
    it: p50 in ms (goal < 2 ms, absolute: the issue's own);
  * import of every item and relation from CSV through ``services.cmdb_files.import_files`` into SQLite
    against a bare ``sqlite3.executemany`` of the same rows into the same schema (goal ≥ 0.3);
  * the index build at start-up (absolute seconds, no goal), and the first impact query after one write,
    where the index catches up by merging the write log instead of being built again (ratio build ÷ it);
  * the peak memory of the process (the import holds every parsed row), printed after the tables.

With ``--postgresql`` (or CHANGEGATE_BENCH_POSTGRESQL=1) the same import, use case, small impact and
catch-up on a throwaway PostgreSQL cluster, the import against a bare psycopg ``executemany`` and the
impact against PostgreSQL's recursive CTE.

The full size (1,000,000 items, 5,000,000 relations) is the default; CHANGEGATE_BENCH_QUICK=1 (``run.py
--quick``) uses 100,000 items and 500,000 relations. At full size a run takes about 15 minutes per engine
and 4 GB. ``--no-networkx`` skips networkx (it needs several GB at full size).

Run:  .venv/bin/python bench/bench_cmdb.py [--items N] [--no-networkx] [--postgresql] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import gc
import resource
import sqlite3
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (  # noqa: E402
    QUICK, fmt, footer, header, migrated_sqlite, ratio, runtime_for, table, temp_dir, want_postgresql)

TREE = 20  # items per small tree
REPEATS = 3


def graph(n: int, m: int, seed: int = 15) -> tuple[np.ndarray, np.ndarray, int]:
    """(sources, targets) as 0-based positions, unique pairs, no self-relation; and where the trees start."""
    rng = np.random.default_rng(seed)
    half, trees = n // 2, (n // 50) // TREE * TREE  # 2% of the items in small trees
    tree_edges = trees - trees // TREE
    per_half = (m - tree_edges) // 2
    parts = []
    for lo, hi in ((0, half), (half, n - trees)):
        count = int(per_half * 1.02)
        parts.append((rng.integers(lo, hi, count), rng.integers(lo, hi, count)))
    start = n - trees
    child = np.arange(trees)[np.arange(trees) % TREE != 0]
    parent = child - child % TREE + (child % TREE - 1) // 2  # a binary tree in each group of TREE
    parts.append((start + child, start + parent))  # child depends_on parent: the root impacts its tree
    src = np.concatenate([p[0] for p in parts])
    dst = np.concatenate([p[1] for p in parts])
    keep = src != dst
    key = np.unique(src[keep] * n + dst[keep])
    trees_key = (start + child) * n + (start + parent)
    extra = np.setdiff1d(key, trees_key, assume_unique=True)
    rng.shuffle(extra)
    key = np.concatenate([trees_key, extra[: m - len(trees_key)]])
    return key // n, key % n, start


def names(n: int) -> list[str]:
    return [f"ci-{i:07d}" for i in range(n)]


def csv_files(n: int, src: np.ndarray, dst: np.ndarray) -> list[tuple[str, bytes]]:
    label = names(n)
    items = "name,type,criticality\n" + "".join(f"{name},application,medium\n" for name in label)
    relations = "source,target,type\n" + "".join(f"{label[s]},{label[t]},depends_on\n"
                                                 for s, t in zip(src.tolist(), dst.tolist()))
    return [("items.csv", items.encode()), ("relations.csv", relations.encode())]


def bare_import(conn, n: int, src: np.ndarray, dst: np.ndarray, mark: str = "?") -> float:
    """The reference: the same rows through the bare driver's executemany, in one transaction."""
    label = names(n)
    marks = lambda k: ", ".join([mark] * k)  # noqa: E731
    t = time.perf_counter()
    cur = conn.cursor()
    cur.executemany("INSERT INTO cmdb_items (name, type, owner, environment, criticality, description, attributes) "
                    f"VALUES ({marks(7)})", [(x, "application", "", "", "medium", "", "{}") for x in label])
    cur.executemany(f"INSERT INTO cmdb_relations (source_id, target_id, type) VALUES ({marks(3)})",
                    list(zip((src + 1).tolist(), (dst + 1).tolist(), ["depends_on"] * len(src))))
    conn.commit()
    elapsed = time.perf_counter() - t
    conn.close()
    return elapsed


def peak_gb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 ** 2


def product_import(rt, files) -> float:
    from changegate.services import cmdb_files

    t = time.perf_counter()
    with rt.uow() as uow:
        out = cmdb_files.import_files(uow, rt.context("chris.change"), files)
    elapsed = time.perf_counter() - t
    assert out.items_created > 0 and out.relations_created > 0, out
    return elapsed


def best(fn, repeats: int = REPEATS) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        gc.collect()
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def impacts(rt, n: int, src: np.ndarray, dst: np.ndarray, tree_start: int, use_networkx: bool,
            engine: str) -> list[list[str]]:
    from scipy.sparse import csr_matrix
    from scipy.sparse.csgraph import breadth_first_order

    from changegate.schemas.cmdb import ImpactQuery
    from changegate.services import cmdb

    rows: list[list[str]] = []
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        t = time.perf_counter()
        index = cmdb.graph(uow, rt.policy)
        build = time.perf_counter() - t
    origin = int(index.positions([1])[0])  # ci-0000000, in the big half
    e = index.edges
    matrix = csr_matrix((np.ones(len(e.indices), dtype=np.int8), e.indices.astype(np.int32),
                         e.indptr.astype(np.int32)), shape=(len(index), len(index)))
    scipy_s, order = best(lambda: breadth_first_order(matrix, origin, directed=True, return_predecessors=True))
    core_s, reach = best(lambda: index.impact([origin]))
    reached = len(reach.reached)
    assert reached + 1 == len(order[0]), (reached, len(order[0]))

    def use_case():
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            return cmdb.impact_of(uow, rt.policy, ImpactQuery(items=["ci-0000000"], limit=200))

    case_s, out = best(use_case)
    assert out.total == reached
    print(f"   impact of ci-0000000 reaches {reached:,} of {n:,} items ({reached / n:.0%}); "
          f"index built in {build:.1f} s")
    rows.append([f"{engine}: impact, half the graph: core GraphIndex.impact", fmt(core_s * 1000, "ms"),
                 f"scipy BFS {fmt(scipy_s * 1000, 'ms')}", fmt(ratio(scipy_s, core_s)), "≥ 0.67 (≤ 1.5×)",
                 _met(ratio(scipy_s, core_s), 1 / 1.5)])
    rows.append([f"{engine}: impact, half the graph: use case impact_of", fmt(case_s * 1000, "ms"),
                 f"scipy BFS {fmt(scipy_s * 1000, 'ms')}", fmt(ratio(scipy_s, case_s)), "≥ 0.67 (≤ 1.5×)",
                 _met(ratio(scipy_s, case_s), 1 / 1.5)])
    if engine == "sqlite":
        rows += _others(rt, n, src, dst, core_s, reached, use_networkx)
    else:
        rows.append(_postgresql_cte(rt, core_s, reached))
    rows.append(_small(rt, n, tree_start, engine))
    rows.append([f"{engine}: index build (start-up)", fmt(build, "s"), "-", "-", "-", ""])
    rows.append(_catch_up(rt, n, tree_start, build, engine))
    return rows


def _catch_up(rt, n: int, tree_start: int, build_s: float, engine: str) -> list[str]:
    """One write (a relation between two items of the small trees), then the first impact query: the index
    merges the logged write instead of being built again."""
    from changegate.schemas.cmdb import ImpactQuery, RelationIn
    from changegate.services import cmdb

    label = names(n)
    with rt.uow() as uow:
        cmdb.create_relation(uow, rt.context("chris.change"), RelationIn(
            source=label[tree_start + TREE], target=label[tree_start + 1], type="depends_on"))
    t = time.perf_counter()
    with rt.uow(write=False) as uow:
        uow.read_snapshot()
        out = cmdb.impact_of(uow, rt.policy, ImpactQuery(items=[label[tree_start]]))
    first_s = time.perf_counter() - t
    assert out.total > TREE - 1, out.total  # the new relation is seen
    index = cmdb.cached_index(rt)
    assert index.built < index.generation, "the index was built again instead of catching up"
    return [f"{engine}: first impact after one write (catch-up)", fmt(first_s * 1000, "ms"),
            f"index build {fmt(build_s, 's')}", fmt(ratio(build_s, first_s)), "-", ""]


def _postgresql_cte(rt, core_s: float, reached: int) -> list[str]:
    from sqlalchemy import text

    cte = ("WITH RECURSIVE r(id) AS (SELECT id FROM cmdb_items WHERE name = 'ci-0000000' UNION "
           "SELECT source_id FROM cmdb_relations JOIN r ON target_id = r.id) SELECT count(*) - 1 FROM r")
    with rt.engine.connect() as conn:
        cte_s, count = best(lambda: conn.execute(text(cte)).scalar_one(), 1)
    assert count == reached, (count, reached)
    return ["  vs PostgreSQL recursive CTE", fmt(core_s * 1000, "ms"), f"{fmt(cte_s * 1000, 'ms')}",
            fmt(ratio(cte_s, core_s)), "≥ 1", _met(ratio(cte_s, core_s), 1)]


def _others(rt, n, src, dst, core_s, reached, use_networkx) -> list[list[str]]:
    import rustworkx

    rows = []
    g = rustworkx.PyDiGraph()
    g.add_nodes_from(range(n))
    g.add_edges_from_no_data(list(zip(dst.tolist(), src.tolist())))  # impact runs target → source
    rx_s, found = best(lambda: rustworkx.descendants(g, 0))
    assert len(found) == reached
    rows.append(["  vs rustworkx descendants", fmt(core_s * 1000, "ms"), f"{fmt(rx_s * 1000, 'ms')}",
                 fmt(ratio(rx_s, core_s)), "≥ 1", _met(ratio(rx_s, core_s), 1)])
    del g
    gc.collect()
    path = rt.engine.url.database
    conn = sqlite3.connect(path)
    cte = ("WITH RECURSIVE r(id) AS (SELECT id FROM cmdb_items WHERE name = 'ci-0000000' UNION "
           "SELECT source_id FROM cmdb_relations JOIN r ON target_id = r.id) SELECT count(*) - 1 FROM r")
    cte_s, count = best(lambda: conn.execute(cte).fetchone()[0], 1)
    conn.close()
    assert count == reached, (count, reached)
    rows.append(["  vs SQLite recursive CTE", fmt(core_s * 1000, "ms"), f"{fmt(cte_s * 1000, 'ms')}",
                 fmt(ratio(cte_s, core_s)), "≥ 1", _met(ratio(cte_s, core_s), 1)])
    if use_networkx:
        import networkx

        g = networkx.DiGraph()
        g.add_nodes_from(range(n))
        g.add_edges_from(zip(dst.tolist(), src.tolist()))
        nx_s, found = best(lambda: networkx.descendants(g, 0), 1)
        assert len(found) == reached
        rows.append(["  vs networkx descendants", fmt(core_s * 1000, "ms"), f"{fmt(nx_s * 1000, 'ms')}",
                     fmt(ratio(nx_s, core_s)), "≥ 1", _met(ratio(nx_s, core_s), 1)])
        del g
        gc.collect()
    return rows


def _small(rt, n: int, tree_start: int, engine: str) -> list[str]:
    from changegate.schemas.cmdb import ImpactQuery
    from changegate.services import cmdb

    label = names(n)
    roots = [label[i] for i in range(tree_start, n, TREE)][:500]
    times, totals = [], set()
    for root in roots * 2:
        t = time.perf_counter()
        with rt.uow(write=False) as uow:
            uow.read_snapshot()
            out = cmdb.impact_of(uow, rt.policy, ImpactQuery(items=[root]))
        times.append(time.perf_counter() - t)
        totals.add(out.total)
    p50 = statistics.median(times[len(roots):]) * 1000  # the second pass: warm
    assert totals == {TREE - 1}, totals
    return [f"{engine}: small impact p50 ({TREE - 1} items, read unit of work)", fmt(p50, "ms"), "-", "-", "< 2 ms",
            "met" if p50 < 2 else "MISSED"]


def _met(r, goal) -> str:
    return "" if r is None else ("met" if r >= goal else "MISSED")


def run_engine(engine: str, product_url: str, bare_s: float, n: int, src, dst, tree_start: int, files,
               use_networkx: bool) -> list[list[str]]:
    rt = runtime_for(product_url)
    try:
        product_s = product_import(rt, files)
        files.clear()  # the parsed rows are gone after the import; the files themselves too
        gc.collect()
        total = n + len(src)
        print(f"   {engine}: import {product_s:.0f} s, bare {bare_s:.0f} s; peak memory so far {peak_gb():.1f} GB",
              flush=True)
        rows = [[f"{engine}: import {n:,} items + {len(src):,} relations (rows/s)", fmt(total / product_s),
                 f"bare executemany {fmt(total / bare_s)}", fmt(ratio(bare_s, product_s)), "≥ 0.3",
                 _met(ratio(bare_s, product_s), 0.3)]]
        return rows + impacts(rt, n, src, dst, tree_start, use_networkx, engine)
    finally:
        rt.close()


def sqlite_rows(d: Path, n: int, src, dst, tree_start: int, use_networkx: bool) -> list[list[str]]:
    bare = migrated_sqlite(d / "bare.db").removeprefix("sqlite:///")
    bare_s = bare_import(sqlite3.connect(bare), n, src, dst)
    Path(bare).unlink()
    return run_engine("sqlite", migrated_sqlite(d / "product.db"), bare_s, n, src, dst, tree_start,
                      csv_files(n, src, dst), use_networkx)


def postgresql_rows(n: int, src, dst, tree_start: int) -> list[list[str]]:
    import psycopg

    from changegate.db.engine import make_engine
    from changegate.db.migrate import upgrade
    from changegate.sqlcheck.pgcluster import start_throwaway_cluster

    cluster = start_throwaway_cluster()
    try:
        urls = {}
        for name in ("bare", "product"):
            db = cluster.create_database(f"bench_cmdb_{name}")
            urls[name] = (cluster.url(db), cluster.dsn(db))
            engine = make_engine(urls[name][0])
            upgrade(engine)
            engine.dispose()
        bare_s = bare_import(psycopg.connect(urls["bare"][1]), n, src, dst, "%s")
        return run_engine("postgresql", urls["product"][0], bare_s, n, src, dst, tree_start,
                          csv_files(n, src, dst), False)
    finally:
        cluster.stop()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--items", type=int, default=100_000 if QUICK else 1_000_000)
    ap.add_argument("--no-networkx", action="store_true")
    ap.add_argument("--postgresql", action="store_true", help="also on a throwaway PostgreSQL cluster")
    ap.add_argument("--no-sqlite", action="store_true", help="PostgreSQL only (with --postgresql)")
    args = ap.parse_args()
    n, m = args.items, args.items * 5
    header(f"bench_cmdb: {n:,} items, {m:,} relations")
    src, dst, tree_start = graph(n, m)
    columns = ["metric", "product", "reference", "ratio", "goal", ""]
    if not args.no_sqlite:
        with temp_dir("cg-cmdb-") as d:
            print(table(columns, sqlite_rows(d, n, src, dst, tree_start, not args.no_networkx)), flush=True)
    if want_postgresql():  # its own table: at full size each engine takes a while, and SQLite's is shown first
        print(table(columns, postgresql_rows(n, src, dst, tree_start)), flush=True)
    print(f"   peak memory of this process: {peak_gb():.2f} GB")
    footer()
    return 0


if __name__ == "__main__":
    sys.exit(main())
