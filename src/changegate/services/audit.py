"""Reading and verifying the audit chain.

Each event stores the hash of the one before it, so a stretch of the chain can be checked on its
own once the stored hash just before it is known. A long chain is therefore cut into stretches that
other processes check in parallel while this one checks the first; the verdict is the first broken
stretch's, exactly as if the chain had been read in one pass.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from ..core.audit import GENESIS, ChainVerdict, verify_chain
from ..core.policy import Permission
from ..db.engine import make_engine
from ..db.uow import UnitOfWork
from .context import Context

# By default a process of its own gets a stretch only if it holds at least this many events:
# starting a process (about 0.3 s) costs more than checking a shorter stretch.
EVENTS_PER_PROCESS = 100_000


def verify(uow: UnitOfWork, ctx: Context | None = None, *, processes: int | None = None) -> ChainVerdict:
    """Check every event's link and hash, and that the chain ends at the recorded head.

    ``ctx`` is None for operators on the local database (the CLI), who own the file anyway.
    ``processes``: how many processes share the work (1: this one reads the whole chain); by default
    one per CPU, for chains long enough to repay starting them.
    """
    if ctx is not None:
        ctx.require(Permission.AUDIT_READ, entity="audit")
    last_seq, last_hash = uow.audit.head()
    verdict = _verify_stretches(uow, last_seq, processes)
    if not verdict.ok:
        return verdict
    # Deleting the newest events leaves an intact but shorter chain: the head row catches it.
    if verdict.checked != last_seq:
        return ChainVerdict(False, verdict.checked, verdict.checked + 1,
                            f"the chain ends at event {verdict.checked} but the head records {last_seq} events: "
                            f"event {verdict.checked + 1} onwards were removed")
    if verdict.last_hash != last_hash:
        return ChainVerdict(False, verdict.checked, last_seq,
                            f"event {last_seq} was altered: it does not match the recorded head of the chain")
    return verdict


def _verify_stretches(uow: UnitOfWork, last_seq: int, processes: int | None) -> ChainVerdict:
    if processes is None:
        processes = min(os.cpu_count() or 1, last_seq // EVENTS_PER_PROCESS)
    n = max(1, min(processes, last_seq))
    url = uow.database_url
    if n == 1 or ":memory:" in url or url.endswith("sqlite://"):
        return verify_chain(uow.audit.iter_chain())  # also reads events past the head, if any were added
    bounds = [(last_seq * i // n + 1, last_seq * (i + 1) // n) for i in range(n)]
    context = multiprocessing.get_context("spawn")  # never fork a threaded server
    with ProcessPoolExecutor(max_workers=n - 1, mp_context=context) as pool:
        others = [pool.submit(verify_stretch, url, first, last) for first, last in bounds[1:]]
        verdicts = [_stretch(uow, *bounds[0], GENESIS)] + [f.result() for f in others]
    # Events appended after the head was read belong to the next verification; events past the
    # head that are older than it cannot exist (the head moves with every append).
    checked = 0
    for (first, last), v in zip(bounds, verdicts):
        if not v.ok:
            return ChainVerdict(False, checked + v.checked, v.first_broken_seq, v.message)
        checked += v.checked
    return ChainVerdict(True, checked, None, f"{checked} events verified", verdicts[-1].last_hash)


def verify_stretch(url: str, first: int, last: int) -> ChainVerdict:
    """Events ``first``..``last`` checked in a process of their own (module level, for pickling)."""
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, write=False) as uow:
            prev = uow.audit.hash_of(first - 1)
            if prev is None:
                return ChainVerdict(False, 0, first - 1, f"event {first - 1} is missing")
            return _stretch(uow, first, last, prev)
    finally:
        engine.dispose()


def _stretch(uow: UnitOfWork, first: int, last: int, prev: str) -> ChainVerdict:
    v = verify_chain(uow.audit.iter_chain(first, last), start_prev=prev, start_seq=first)
    if v.ok and v.checked != last - first + 1:
        missing = first + v.checked
        return ChainVerdict(False, v.checked, missing, f"event {missing} is missing")
    return v
