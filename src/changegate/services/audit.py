"""Reading and verifying the audit chain.

Each event stores the hash of the one before it, so a stretch of the chain can be checked on its
own once the stored hash just before it is known. A long chain is therefore cut into stretches that
other processes check in parallel while this one checks the first; the verdict, message included,
is the one a single pass over the chain would give.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from typing import Callable, Iterator, Sequence

from ..core.audit import GENESIS, ChainVerdict, verify_chain
from ..core.changes.entities import format_ref
from ..core.reconcile import (ChangeRecord, Trail, TrailFold, change_id, first_difference, fold_trails,
                              merge_trails)
from ..core.policy.model import Permission
from ..db.engine import make_engine
from ..db.uow import UnitOfWork
from .context import Context
from .views import SNAPSHOT_COLUMNS

# By default a process of its own gets a stretch only if it holds at least this many events:
# starting a process (about 0.3 s) costs more than checking a shorter stretch.
EVENTS_PER_PROCESS = 100_000

# How far a verification got: (phase, done, total).
Progress = Callable[[str, int, int], None]

# One parallel verification at a time per server process; others read in their own thread.
_parallel_slot = threading.BoundedSemaphore(1)


def verify(uow: UnitOfWork, ctx: Context | None = None, *, processes: int | None = None,
           anchors: Sequence[tuple[int, str]] = (), progress: Progress | None = None) -> ChainVerdict:
    """Check every event's link and hash, that the chain ends at the recorded head, that it still
    holds each anchor (``(seq, hash)`` kept outside the database), and that every change record agrees
    with its events.

    ``ctx`` is None for operators on the local database (the CLI), who own the file anyway.
    ``processes``: how many processes share the work (1: this one reads the whole chain); by default
    one per usable CPU, for chains long enough to repay starting them. ``progress(phase, done, total)`` is
    told how far it got (a background job shows it): the events checked, then the reconciliation.
    """
    if ctx is not None:
        ctx.require(Permission.AUDIT_READ, entity="audit")
    uow.read_snapshot()  # the head, every event and every record this process reads: one moment
    head = uow.audit.head()
    fold = TrailFold()
    verdict = replace(verify_chain_only(uow, head, processes, fold=fold, progress=progress), head=head)
    if not verdict.ok:
        return verdict
    if progress is not None:
        progress("reconciling the change records with their events", verdict.checked, head[0])
    for seq, digest in anchors:
        broken = _anchor_problem(uow, head, seq, digest)
        if broken:
            return replace(verdict, ok=False, first_broken_seq=seq, message=broken)
    folded = (fold.folded, fold.texts()) if fold.complete else (None, None)
    ref, difference, reconciled = reconcile(uow, *folded)
    if difference:
        return replace(verdict, ok=False, message=difference, record=ref, reconciled=reconciled)
    return replace(verdict, reconciled=reconciled)


def head(uow: UnitOfWork, ctx: Context | None = None) -> dict:
    """The newest event's seq and hash, as the head row records them: write them down elsewhere, and
    ``verify(anchors=...)`` proves later that the chain up to there was not rewritten."""
    if ctx is not None:
        ctx.require(Permission.AUDIT_READ, entity="audit")
    seq, digest = uow.audit.head()
    return {"seq": seq, "hash": digest, "anchor": f"{seq}:{digest}"}


def _anchor_problem(uow: UnitOfWork, head: tuple[int, str], seq: int, digest: str) -> str | None:
    if seq > head[0]:
        return (f"the anchor {seq}:{digest[:12]}… is past the chain's head (event {head[0]}): "
                f"event {head[0] + 1} onwards were removed")
    stored = uow.audit.hash_of(seq)
    if stored != digest:
        return (f"event {seq} does not match the anchor {seq}:{digest[:12]}… (its hash is {str(stored)[:12]}…): "
                f"the chain was rewritten up to event {seq}")
    return None


# Changes compared per batch: one query per table and batch, bounded memory.
RECONCILE_BATCH = 1_000


def reconcile(uow: UnitOfWork, folded: dict[str, Trail] | None = None, texts: dict[int, str] | None = None
              ) -> tuple[str | None, str | None, int]:
    """Compare every change record with what its events say: (the first that differs, how, how many
    were compared). Each change's trail is ``folded`` already (by the chain check, from the same
    events, which also kept snapshot texts in ``texts``, by their event's seq) or folded here in one
    pass over the change events; the records are then read in batches of ids, each with the snapshot
    text it is compared with (read with them when not kept)."""
    if folded is None:
        folded = fold_trails(uow.audit.iter_change_trails())
    trails, kept = {}, texts or {}
    for entity, trail in folded.items():
        cid = change_id(entity)
        if cid is not None:
            trails[cid] = trail  # a duplicate spelling ("change:012") replaces the other: its seq picks its text
    last = max(max(trails, default=0), uow.audit.last_change_id())
    compared = 0
    for first in range(1, last + 1, RECONCILE_BATCH):
        batch = range(first, min(first + RECONCILE_BATCH, last + 1))
        afters = _afters(uow, trails, batch, kept)
        records = {r.id: r for r in uow.audit.change_records(batch.start, batch.stop - 1, SNAPSHOT_COLUMNS)}
        for cid in sorted(records.keys() | {c for c in batch if c in trails}):
            trail, record = trails.get(cid), records.get(cid)
            if not _agrees(trail, record, afters):  # the common case, decided in a few comparisons
                difference = _difference(uow, cid, trail, afters, record)
                if difference:
                    return format_ref(cid), difference, compared
            compared += 1
    return None, None, compared


_scan = json.JSONDecoder().scan_once  # json.loads without its two Python frames (a snapshot is one object)


def _agrees(trail: Trail | None, record: ChangeRecord | None, afters: dict[int, str]) -> bool:
    """Whether the record is exactly its newest snapshot, and its approvals and evidence exactly what the
    events say (the verdict ``_difference`` gives such a record, for a fraction of its work). False only
    means: let ``_difference`` decide, and name what differs."""
    if trail is None or record is None or not trail.snapshot_seq:
        return False
    text = afters.get(trail.snapshot_seq)
    if not text or text[0] != "{":
        return False
    try:
        snapshot, end = _scan(text, 0)
    except (ValueError, StopIteration):
        return False
    if end != len(text) or _snapshot_of(record, trail.bumps) != snapshot:
        return False
    said = trail.approvals or {}
    stored = {role: (approver, decision) for role, approver, decision in record.approvals}
    if len(stored) != len(record.approvals) or stored.keys() != said.keys() or any(
            said[role][:2] != held for role, held in stored.items()):
        return False
    files = trail.evidence or {}
    kept = {eid: (sha, content) for eid, sha, content in record.evidence}
    return len(kept) == len(record.evidence) and kept.keys() == files.keys() and all(
        files[eid][0] == sha == content for eid, (sha, content) in kept.items())


def _afters(uow: UnitOfWork, trails: dict[int, Trail], batch: range, kept: dict[int, str]) -> dict[int, str]:
    """The newest snapshot text of each change of the batch, by its event's seq: kept by the chain check
    (``kept``: seq -> text), else read."""
    seqs = [trails[c].snapshot_seq for c in batch if c in trails and trails[c].snapshot_seq]
    found = {seq: kept[seq] for seq in seqs if seq in kept}
    if len(found) < len(seqs):
        found.update(uow.audit.afters([seq for seq in seqs if seq not in found]))
    return found


def _difference(uow: UnitOfWork, cid: int, trail: Trail | None, afters: dict[int, str],
                record: ChangeRecord | None) -> str | None:
    """Most records are exactly their newest snapshot, read back (json.loads: a fraction of serialising
    the record again); only those that are not are compared field by field (to name the field, or to
    accept what an older or offset snapshot says). Equal as data is enough: the field-by-field check
    accepts every record equal to its snapshot as data, and the chain check has proven the text."""
    text = afters.get(trail.snapshot_seq) if trail else None
    snapshot = json.loads(text) if text is not None else None
    if snapshot is not None and record is not None and _snapshot_of(record, trail.bumps) == snapshot:
        return first_difference(cid, trail, None, record, snapshot_matches=True)
    if snapshot and record is not None and set(snapshot) - {"items"} - record.fields.keys():
        # A snapshot naming columns snapshot() no longer writes: compare those too, as they are stored.
        record = uow.audit.change_records(cid, cid, [*SNAPSHOT_COLUMNS, *snapshot])[0]
    return first_difference(cid, trail, snapshot, record)


def _snapshot_of(record: ChangeRecord, bumps: int) -> dict:
    """The record in its snapshot's terms (as services.views.snapshot writes one: the columns, the items,
    the start as ISO 8601), with the row version it had then: the stored one less the comments and
    accepted conflicts since. Only ever compared for equality with a snapshot, so a record equal to it
    agrees field by field too (``first_difference`` would find nothing), whatever else it holds."""
    data = dict(record.fields)
    data["items"] = record.items
    start = data.get("planned_start")
    if start is not None:
        data["planned_start"] = start.isoformat()
    if "row_version" in data:
        data["row_version"] -= bumps
    return data


def verify_chain_only(uow: UnitOfWork, head: tuple[int, str], processes: int | None = None, *,
                      fold: TrailFold | None = None, progress: Progress | None = None) -> ChainVerdict:
    """The chain's own verdict: links, hashes and the head, without the records. Given a ``fold``, every
    process also folds the change trails of the events it checks (the stretches' trails merged into
    ``fold.folded``, ``fold.complete`` set), which spares reconciliation a second pass over them; the
    snapshot texts this process read stay in ``fold.texts()``."""
    last_seq, last_hash = head
    n = _processes(uow, last_seq, processes)
    if n > 1 and _parallel_slot.acquire(blocking=False):
        try:
            verdict = _verify_in_stretches(uow, last_seq, n, fold)
        finally:
            _parallel_slot.release()
    elif fold is not None:
        rows = uow.audit.iter_chain()
        rows = rows if progress is None else _counting(rows, progress, last_seq)
        verdict = fold.verify(rows)
        if verdict.ok:
            fold.folded, fold.complete = fold.trails(), True
    else:
        verdict = verify_chain(uow.audit.iter_chain())
    if not verdict.ok:
        return verdict
    if verdict.checked < last_seq:  # the newest events were deleted: the chain is intact but short
        return ChainVerdict(False, verdict.checked, verdict.checked + 1,
                            f"the chain ends at event {verdict.checked} but the head records {last_seq} events: "
                            f"event {verdict.checked + 1} onwards were removed")
    if verdict.checked > last_seq:  # events were added behind the head's back
        return ChainVerdict(False, last_seq, last_seq + 1,
                            f"the chain holds {verdict.checked} events but the head records {last_seq}: "
                            f"event {last_seq + 1} onwards were added without moving the head")
    if verdict.last_hash != last_hash:
        return ChainVerdict(False, verdict.checked, last_seq,
                            f"event {last_seq} was altered: it does not match the recorded head of the chain")
    return verdict


def _counting(rows: Iterator[tuple], progress: Progress, total: int, every: int = 10_000) -> Iterator[tuple]:
    """The rows, telling ``progress`` every ``every`` of them."""
    for n, row in enumerate(rows, 1):
        if n % every == 0:
            progress("checking the chain", n, total)
        yield row


def _processes(uow: UnitOfWork, last_seq: int, requested: int | None) -> int:
    if uow.url_for_other_processes is None:
        return 1  # an in-memory database: other processes cannot see it
    if requested is None:
        usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        requested = min(usable, last_seq // EVENTS_PER_PROCESS)
    return max(1, min(requested, last_seq))


def _verify_in_stretches(uow: UnitOfWork, last_seq: int, n: int, fold: TrailFold | None = None) -> ChainVerdict:
    bounds = [(last_seq * i // n + 1, last_seq * (i + 1) // n) for i in range(n)]
    context = multiprocessing.get_context("spawn")  # never fork a threaded server
    with ProcessPoolExecutor(max_workers=n - 1, mp_context=context) as pool:
        url, folding = uow.url_for_other_processes, fold is not None
        others = [pool.submit(verify_stretch, url, first, last, folding) for first, last in bounds[1:]]
        results = [(_stretch(uow, *bounds[0], GENESIS, fold), fold.trails() if folding else None)]
        results += [f.result() if folding else (f.result(), None) for f in others]
    checked, last_hash = 0, GENESIS
    for (first, last), (v, _) in zip(bounds, results):
        if not v.ok:
            return ChainVerdict(False, checked + v.checked, v.first_broken_seq, v.message)
        checked, last_hash = checked + v.checked, v.last_hash
        if v.checked < last - first + 1:  # nothing is stored after this stretch's last event
            return ChainVerdict(True, checked, None, f"{checked} events verified", last_hash)
    # Events past the head can only be forgeries (the head moves with every append, in the same
    # transaction): read them in this snapshot, as a single pass would.
    tail = verify_chain(uow.audit.iter_chain(last_seq + 1), start_prev=last_hash, start_seq=last_seq + 1)
    if not tail.ok:
        return ChainVerdict(False, checked + tail.checked, tail.first_broken_seq, tail.message)
    if folding:  # every stretch checked whole: their trails, merged in chain order, are the chain's
        fold.folded, fold.complete = {}, True
        for _, trails in results:
            merge_trails(fold.folded, trails)
    total = checked + tail.checked
    return ChainVerdict(True, total, None, f"{total} events verified", tail.last_hash if tail.checked else last_hash)


def verify_stretch(url: str, first: int, last: int, folding: bool = False):
    """Events ``first``..``last`` checked in a process of their own (module level, for pickling). With
    ``folding``: (the verdict, the change trails of the stretch's events), folded on the way."""
    fold = TrailFold() if folding else None
    engine = make_engine(url)
    try:
        with UnitOfWork(engine, write=False) as uow:
            uow.read_snapshot()
            prev = uow.audit.hash_of(first - 1)
            if prev is None:  # the stretch before reports it first
                verdict = ChainVerdict(False, 0, first - 1, f"event {first - 1} is missing")
            else:
                verdict = _stretch(uow, first, last, prev, fold)
    finally:
        engine.dispose()
    return (verdict, fold.trails()) if folding else verdict


def _stretch(uow: UnitOfWork, first: int, last: int, prev: str, fold: TrailFold | None = None) -> ChainVerdict:
    """The verdict of a single pass over ``first``..``last`` (folded on the way into ``fold``): a
    stretch that runs short is either followed by a gap (a missing event, as a single pass names it)
    or by nothing at all (returned as an intact but short stretch, for the head check)."""
    rows = uow.audit.iter_chain(first, last)
    v = verify_chain(rows, prev, first) if fold is None else fold.verify(rows, prev, first)
    if v.ok and v.checked < last - first + 1:
        missing = first + v.checked
        following = uow.audit.next_seq(last)
        if following is not None:
            return ChainVerdict(False, v.checked, missing,
                                f"event {missing} is missing (next stored event is {following})")
    return v
