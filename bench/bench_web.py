"""The web pages' server time against ``GET /api/v1/ping``, with 10,000 changes in the database.

Each page is asked up to 300 times (100 with --quick), for 15 s at most and at least 20 times.

The real app (``create_app``) under uvicorn in its own process, on a fresh SQLite file (and PostgreSQL with
``--postgresql``), seeded through the service layer (not timed): 10,000 changes (1,000 with
CHANGEGATE_BENCH_QUICK=1), a tenth of them assessed and waiting for approval, and one change carrying 20
pieces of evidence, 20 comments and their events. One keep-alive client signed in as the IT manager asks
each page in turn; the figure is the median time of a request, the reference ping's median ÷ the page's.
The pages keep their views while nothing is written (services/web_cache.py): the rows "built afresh after a
write" make an audited write (a comment on CHG-1, untimed) before each request, so each builds its page
afresh; the goal (issue 16) judges those. The "kept" rows (nothing written between requests) are shown.
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (  # noqa: E402
    QUICK, fmt, footer, free_port, header, migrated_sqlite, ratio, runtime_for, table, temp_dir, verdict,
    want_postgresql,
)

CHANGES = 1_000 if QUICK else 10_000
REQUESTS = 100 if QUICK else 300
SECONDS = 15  # per page at most (at least 20 requests): a slow page must not hold the run for minutes
GOAL = 0.2
PASSWORD = "bench password, long enough"
BODY = {"title": "Seeded change", "category": "application", "release_level": "minor", "environment": "prod",
        "items": ["mes-web"], "impact_analysis": "screens", "implementation_plan": "deploy",
        "verification_plan": "look", "rollback_plan": {"script": "undo"},
        "planned_start": "2026-12-02T08:00:00Z", "estimated_downtime": 10}


TOKEN: dict[str, str] = {}  # the change manager's API token per database, for the writes between requests


def seed(url: str) -> str:
    """The changes, the rich change and ines.itmgr's password; returns the rich change's reference."""
    from changegate.schemas.changes import AssessIn, ChangeCreate, CommentIn, TransitionIn
    from changegate.services import changes, passwords, tokens

    rt = runtime_for(url)
    try:
        dana, chris = rt.context("dana.dev"), rt.context("chris.change")
        for start in range(0, CHANGES, 500):
            with rt.uow() as uow:  # one unit of work per 500: seeding is not what is measured
                refs = [changes.create_change(uow, dana, ChangeCreate(**{**BODY, "title": f"Seeded change {i}"})).ref
                        for i in range(start, min(start + 500, CHANGES))]
                for ref in refs[::10]:
                    changes.attach_evidence(uow, dana, ref, filename="uat.log", content=b"ok\n",
                                            media_type="text/plain", max_bytes=1000)
                    changes.transition(uow, dana, ref, TransitionIn(action="submit"))
                    changes.assess(uow, chris, ref, AssessIn())
        rich = refs[-1]
        with rt.uow() as uow:
            for i in range(20):
                changes.attach_evidence(uow, dana, rich, filename=f"run-{i}.log", content=b"42 passed\n" * 20,
                                        media_type="text/plain", max_bytes=10_000)
                changes.add_comment(uow, chris, rich, CommentIn(body=f"comment {i}"))
            passwords.set_password(uow, chris, "ines.itmgr", PASSWORD)
            TOKEN[url] = tokens.create_token(uow, chris, "chris.change", "bench writes", None).secret
        return rich
    finally:
        rt.close()


def serve(url: str, port: int) -> None:
    import uvicorn

    from changegate.api.app import create_app

    uvicorn.run(create_app(runtime_for(url)), host="127.0.0.1", port=port, log_level="warning", workers=1)


class Server:
    def __init__(self, url: str):
        self.base = f"http://127.0.0.1:{(port := free_port())}"
        self.proc = subprocess.Popen([sys.executable, __file__, "--serve", url, str(port)])
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(self.base + "/api/v1/ping", timeout=1):
                    return
            except OSError:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError("the uvicorn server did not start") from None
                time.sleep(0.05)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def median_ms(client, path: str, before=None) -> float:
    """``before``: run untimed ahead of each request (a write, so the request finds no kept view)."""
    for _ in range(5):  # warm-up, discarded
        client.get(path).raise_for_status()
    times = []
    stop = time.perf_counter() + SECONDS
    for n in range(REQUESTS):
        if n >= 20 and time.perf_counter() > stop:
            break
        if before:
            before()
        t0 = time.perf_counter()
        response = client.get(path)
        times.append(time.perf_counter() - t0)
        if response.status_code != 200 or (path != "/api/v1/ping" and "Signed in as ines.itmgr" not in response.text):
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    return statistics.median(times) * 1e3


def sign_in(client) -> None:
    page = client.get("/sign-in").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    answer = client.post("/sign-in", data={"csrf": csrf, "person": "ines.itmgr", "password": PASSWORD, "next": "/"})
    if answer.status_code != 303:
        raise RuntimeError(f"sign-in answered {answer.status_code}")


def writer(client, token: str):
    """An audited write through the API (a comment on CHG-1, as another person's client would make): it moves
    the audit chain's head, so the next page request cannot use a view kept by services/web_cache.py."""
    def write() -> None:
        answer = client.post("/api/v1/changes/CHG-1/comments", json={"body": "bench write"},
                             headers={"Authorization": f"Bearer {token}"})
        if answer.status_code != 201:
            raise RuntimeError(f"the comment answered {answer.status_code}")
    return write


def bench(label: str, url: str) -> list[list[str]]:
    import httpx

    t0 = time.perf_counter()
    rich = seed(url)
    print(f"   [{label}] seeded {CHANGES:,} changes through the service layer in {time.perf_counter() - t0:.1f} s")
    server = Server(url)
    try:
        with httpx.Client(base_url=server.base, timeout=60) as client:
            sign_in(client)
            ping_before = median_ms(client, "/api/v1/ping")
            write = writer(client, TOKEN[url])
            pages = {}
            for name, path in (("dashboard", "/"), ("change page", f"/changes/{rich}"), ("approval queue", "/approvals")):
                goal = GOAL if name != "approval queue" else None  # the goal names the other two
                pages[f"{name} {path}, built afresh after a write"] = (median_ms(client, path, write), goal)
                pages[f"{name} {path}, kept (nothing written)"] = (median_ms(client, path), None)
            ping = min(ping_before, median_ms(client, "/api/v1/ping"))
    finally:
        server.stop()
    rows = [[f"{label}: ping (reference)", fmt(ping, "ms"), "", "", ""]]
    for name, (ms, goal) in pages.items():
        r = ratio(ping, ms)
        rows.append([f"{label}: {name}", fmt(ms, "ms"), fmt(ping, "ms"), fmt(r),
                     f"≥ {goal} {verdict(r, goal)}" if goal else "(shown)"])
    return rows


def main() -> int:
    if "--serve" in sys.argv:
        serve(sys.argv[2], int(sys.argv[3]))
        return 0
    header(f"web pages: median server time against GET /api/v1/ping, {CHANGES:,} changes, {REQUESTS} requests each")
    rows = []
    with temp_dir("cg-bench-web-") as d:
        rows += bench("sqlite", migrated_sqlite(d / "web.db"))
        if want_postgresql():
            from changegate.db.engine import make_engine
            from changegate.db.migrate import upgrade
            from changegate.sqlcheck.pgcluster import start_throwaway_cluster

            cluster = start_throwaway_cluster()
            try:
                pg = cluster.url(cluster.create_database("bench_web"))
                engine = make_engine(pg)
                upgrade(engine)
                engine.dispose()
                rows += bench("postgresql", pg)
            finally:
                cluster.stop()
    print(table(["metric", "median", "reference", "ratio (ping ÷ page)", "goal"], rows))
    footer()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("CHANGEGATE_CACHE_DIR", "")
    sys.exit(main())
