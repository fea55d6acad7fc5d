"""Reconciling the records with the audit chain.

The chain proves the log was not edited; reconciliation proves the tables still say what the log says.
Each change's events are folded in seq order: the ``after`` snapshot of an event is the whole record
as it was written (so the newest one is what the events say the record is), ``approval.*`` events add
a decision, ``evidence.attached`` events add an attachment with its SHA-256, and a few events move
the row version without a snapshot (a comment, an accepted conflict: they only touch the row). The
stored record is then compared with its trail and the first difference is named.

Events written before a field entered the snapshot simply do not mention it: a field the newest
snapshot lacks is not compared (the row version included).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Iterable

from .audit import _SEP, GENESIS, ChainVerdict
from .changes.entities import format_ref

ENTITY_PREFIX = "change:"
# Events that bump a change's row_version without carrying a snapshot: they only touch the row.
VERSION_ONLY_ACTIONS = frozenset({"comment.added", "conflict.accepted"})
EVIDENCE_ACTION = "evidence.attached"
APPROVAL_PREFIX = "approval."
# Compared first, in this order: what an operator most often needs to know about.
_FIRST_FIELDS = ("state", "planned_start", "items")


@dataclass(slots=True)
class Trail:
    """What one change's events say, folded in seq order."""

    last_seq: int = 0
    last_action: str = ""
    snapshot_seq: int = 0  # the newest event carrying a snapshot of the record (0: none)
    snapshot_action: str = ""
    bumps: int = 0  # version-only events since that snapshot
    approvals: dict[str, tuple[str, str, int, str]] | None = None  # role -> (approver, decision, seq, action)
    evidence: dict[int, tuple[str, int]] | None = None  # evidence id -> (sha256, seq)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A change as stored now, in the terms its events use."""

    id: int
    fields: dict[str, Any]  # column -> stored value (the columns the snapshots mention)
    items: list[str]
    approvals: list[tuple[str, str, str]] = field(default_factory=list)  # (role, approver, decision)
    evidence: list[tuple[int, str, str | None]] = field(default_factory=list)  # (id, sha256, content's sha256)


def fold_trails(rows: Iterable[tuple]) -> dict[str, Trail]:
    """Rows are (seq, action, entity, actor, has_snapshot, detail) of change events in seq order, refused
    attempts left out; ``detail`` only for approval and evidence events (None otherwise).
    Returns the trail of each entity ("change:12"). The plain statement of what a trail is: ``TrailFold``
    folds the same while it checks the chain, and must agree with it."""
    trails: dict[str, Trail] = {}
    for seq, action, entity, actor, has_snapshot, detail in rows:
        trail = trails.get(entity)
        if trail is None:
            trail = trails[entity] = Trail()
        trail.last_seq, trail.last_action = seq, action
        if has_snapshot:
            trail.snapshot_seq, trail.snapshot_action, trail.bumps = seq, action, 0
        elif action in VERSION_ONLY_ACTIONS:
            trail.bumps += 1
        if detail is not None:
            _fold_detail(trail, seq, action, actor, json.loads(detail))
    return trails


# What folding does with an event, decided once per distinct action (``action_kind``).
SKIP, PLAIN, BUMP, APPROVAL, EVIDENCE = range(5)


def action_kind(action: str) -> int:
    """SKIP a refused attempt (it changed nothing); a BUMP moves the row version when it carries no
    snapshot; APPROVAL and EVIDENCE events add what their detail says; every other event is PLAIN."""
    if action.endswith(".refused"):
        return SKIP
    if action.startswith(APPROVAL_PREFIX):
        return APPROVAL
    if action == EVIDENCE_ACTION:
        return EVIDENCE
    return BUMP if action in VERSION_ONLY_ACTIONS else PLAIN


class TrailFold:
    """Checks a stretch of the chain (as ``verify_chain`` does, with the same verdicts) and folds each
    change's trail on the way, so reconciliation needs no second pass over the events.

    Per event the loop only files references: the newest event with a snapshot and the newest without
    one, per entity, and the few events whose detail counts (approvals, evidence, version bumps) in seq
    order. ``trails()`` turns them into ``Trail``s once the stretch is checked: the work per event is a
    few dictionary operations, not a fold."""

    def __init__(self) -> None:
        self.complete = False  # set by whoever gave it every event of the chain, with ``folded``:
        self.folded: dict[str, Trail] = {}  # every change's trail over the whole chain (stretches merged)
        self._kinds: dict[str, int] = {}
        self._snapshots: dict[str, tuple[int, str, str]] = {}  # entity -> (seq, action, after text)
        self._plain: dict[str, tuple[int, str]] = {}  # entity -> (seq, action) of its newest event without one
        self._rare: list[tuple] = []  # (seq, kind, entity, actor, action, detail): bumps, approvals, evidence

    def verify(self, rows: Iterable[tuple], start_prev: str = GENESIS, start_seq: int = 1) -> ChainVerdict:
        """``verify_chain(rows, start_prev, start_seq)``, folding every event it proved (never the one it
        stopped at). The hashing loop is verify_chain's, inlined (a call per event would cost more than
        the fold); tests/core/test_reconcile_fold.py holds the two to the same verdicts."""
        prev, expected_seq, checked = start_prev, start_seq, 0
        sha256, join = hashlib.sha256, _SEP.join
        kinds, snapshots, plain, rare = self._kinds, self._snapshots, self._plain, self._rare.append
        for seq, at, actor, action, entity, before, after, detail, stored_prev, stored in rows:
            if seq != expected_seq:
                return ChainVerdict(False, checked, expected_seq,
                                    f"event {expected_seq} is missing (next stored event is {seq})")
            if stored_prev != prev:
                return ChainVerdict(False, checked, seq, f"event {seq} does not link to event {seq - 1}")
            payload = join((prev, str(seq), at, actor, action, entity, before, after, detail))
            if sha256(payload.encode("utf-8")).hexdigest() != stored:
                return ChainVerdict(False, checked, seq, f"event {seq} was altered: its content does not match its hash")
            prev = stored
            expected_seq += 1
            checked += 1
            kind = kinds.get(action)
            if kind is None:
                kind = kinds[action] = action_kind(action)
            if not kind:
                continue
            if after != "{}":
                snapshots[entity] = (seq, action, after)
                if kind >= APPROVAL:
                    rare((seq, kind, entity, actor, action, detail))
            else:
                plain[entity] = (seq, action)
                if kind >= BUMP:
                    rare((seq, kind, entity, actor, action, detail))
        return ChainVerdict(True, checked, None, f"{checked} events verified", prev)

    def trails(self) -> dict[str, Trail]:
        """Each change entity's trail over the events folded so far (refused attempts left out)."""
        trails: dict[str, Trail] = {}
        for entity, (seq, action, _) in self._snapshots.items():
            if entity.startswith(ENTITY_PREFIX):
                trails[entity] = Trail(seq, action, seq, action)
        for entity, (seq, action) in self._plain.items():
            if entity.startswith(ENTITY_PREFIX):
                trail = trails.get(entity)
                if trail is None:
                    trails[entity] = Trail(seq, action)
                elif seq > trail.last_seq:
                    trail.last_seq, trail.last_action = seq, action
        for seq, kind, entity, actor, action, detail in self._rare:
            trail = trails.get(entity)
            if trail is None:
                continue  # not a change
            if kind == BUMP:
                trail.bumps += seq > trail.snapshot_seq
            elif detail is not None:
                _fold_detail(trail, seq, action, actor, json.loads(detail))
        return trails

    def texts(self) -> dict[int, str]:
        """The newest snapshot text of each change entity, by its event's seq (references, no copies)."""
        return {seq: after for entity, (seq, _, after) in self._snapshots.items() if entity.startswith(ENTITY_PREFIX)}


def merge_trails(earlier: dict[str, Trail], later: dict[str, Trail]) -> dict[str, Trail]:
    """The trails of two consecutive stretches of the chain, as one pass over both would fold them
    (``earlier`` is updated and returned)."""
    for entity, b in later.items():
        a = earlier.get(entity)
        if a is None:
            earlier[entity] = b
            continue
        a.last_seq, a.last_action = b.last_seq, b.last_action
        if b.snapshot_seq:
            a.snapshot_seq, a.snapshot_action, a.bumps = b.snapshot_seq, b.snapshot_action, b.bumps
        else:
            a.bumps += b.bumps
        if b.approvals:
            a.approvals = {**(a.approvals or {}), **b.approvals}
        if b.evidence:
            a.evidence = {**(a.evidence or {}), **b.evidence}
    return earlier


def _fold_detail(trail: Trail, seq: int, action: str, actor: str, detail: dict) -> None:
    if action == EVIDENCE_ACTION and "evidence_id" in detail:
        if trail.evidence is None:
            trail.evidence = {}
        trail.evidence[int(detail["evidence_id"])] = (detail.get("sha256", ""), seq)
    elif action.startswith(APPROVAL_PREFIX) and "role" in detail:
        if trail.approvals is None:
            trail.approvals = {}
        # The actor decided; the action names the decision ("approval.approved").
        trail.approvals[detail["role"]] = (actor, action.removeprefix(APPROVAL_PREFIX), seq, action)


def change_id(entity: str) -> int | None:
    tail = entity[len(ENTITY_PREFIX):]
    return int(tail) if entity.startswith(ENTITY_PREFIX) and tail.isdigit() else None


def first_difference(change: int, trail: Trail | None, snapshot: dict | None,
                     record: ChangeRecord | None, *, snapshot_matches: bool = False) -> str | None:
    """The first way ``record`` differs from what its events say, as a sentence; None if it agrees.

    ``snapshot_matches``: the caller found the record, serialised as the newest snapshot was (its row
    version less the bumps since), to be that snapshot's exact text: its fields and version agree, and
    only approvals and evidence are left to compare."""
    ref = format_ref(change)
    if record is None:
        assert trail is not None
        return (f"{ref} is missing: its events (the last is seq {trail.last_seq}, {trail.last_action}) "
                "describe it, but no record exists")
    if trail is None:
        return f"{ref} has no event: the record was not written through changegate"
    checks = _RECORD_CHECKS if snapshot_matches else _ALL_CHECKS
    for check in checks:
        found = check(ref, trail, snapshot or {}, record)
        if found:
            return found
    return None


def _field_difference(ref: str, trail: Trail, snapshot: dict, record: ChangeRecord) -> str | None:
    current = {**record.fields, "items": record.items}
    names = [n for n in _FIRST_FIELDS if n in snapshot] + sorted(set(snapshot) - set(_FIRST_FIELDS))
    for name in names:
        if name == "row_version" or name not in current:
            continue
        if not _same(current[name], snapshot[name]):
            verb = "are" if name == "items" else "is"
            return (f"{ref}: {name} {verb} {_show(current[name])} but its last event (seq {trail.snapshot_seq}, "
                    f"{trail.snapshot_action}) says {_show(snapshot[name])}")
    return None


def _same(stored: Any, said: Any) -> bool:
    if isinstance(stored, datetime) and isinstance(said, str):
        try:  # a snapshot keeps the offset it was given; the database keeps UTC
            return datetime.fromisoformat(said) == stored
        except ValueError:
            return False
    return stored == said


def _show(value: Any) -> str:
    return repr(value.isoformat() if isinstance(value, datetime) else value)


def _approval_difference(ref: str, trail: Trail, snapshot: dict, record: ChangeRecord) -> str | None:
    said = trail.approvals or {}
    stored = {role: (approver, decision) for role, approver, decision in record.approvals}
    for role in sorted(set(said) | set(stored)):
        if role not in said:
            approver, decision = stored[role]
            return f"{ref}: the approval as {role} ({decision} by {approver}) has no event"
        approver, decision, seq, action = said[role]
        if role not in stored:
            return (f"{ref}: the approval as {role} ({decision} by {approver}; seq {seq}, {action}) "
                    "is missing from the record")
        if stored[role] != (approver, decision):
            return (f"{ref}: the approval as {role} is {stored[role][1]} by {stored[role][0]} but its event "
                    f"(seq {seq}, {action}) says {decision} by {approver}")
    return None


def _evidence_difference(ref: str, trail: Trail, snapshot: dict, record: ChangeRecord) -> str | None:
    said = trail.evidence or {}
    stored = {eid: (sha, content_sha) for eid, sha, content_sha in record.evidence}
    for eid in sorted(set(said) | set(stored)):
        if eid not in said:
            return f"{ref}: evidence {eid} has no event"
        sha, seq = said[eid]
        if eid not in stored:
            return f"{ref}: evidence {eid} (seq {seq}, {EVIDENCE_ACTION}) is missing from the record"
        stored_sha, content_sha = stored[eid]
        if stored_sha != sha:
            return (f"{ref}: evidence {eid}'s sha256 is {stored_sha} but its event (seq {seq}, {EVIDENCE_ACTION}) "
                    f"says {sha}")
        if content_sha is None:
            return f"{ref}: evidence {eid} has no stored content (seq {seq}, {EVIDENCE_ACTION} says {sha})"
        if content_sha != sha:
            return (f"{ref}: evidence {eid}'s content hashes to {content_sha} but its event "
                    f"(seq {seq}, {EVIDENCE_ACTION}) says {sha}")
    return None


def _version_difference(ref: str, trail: Trail, snapshot: dict, record: ChangeRecord) -> str | None:
    if "row_version" not in snapshot or "row_version" not in record.fields:
        return None  # written before the snapshot carried it
    said = snapshot["row_version"] + trail.bumps
    if record.fields["row_version"] == said:
        return None
    later = f", then {trail.bumps} comment(s) or accepted conflict(s)" if trail.bumps else ""
    return (f"{ref}: row_version is {record.fields['row_version']} but its events say {said} "
            f"(seq {trail.snapshot_seq}, {trail.snapshot_action}: {snapshot['row_version']}{later})")


_RECORD_CHECKS = (_approval_difference, _evidence_difference)  # what a snapshot's text does not prove
_ALL_CHECKS = (_field_difference, _approval_difference, _evidence_difference, _version_difference)
