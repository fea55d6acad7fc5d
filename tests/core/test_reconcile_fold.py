"""TrailFold checks the chain and folds the change trails in one loop; it must give verify_chain's verdict
and fold_trails' trails, and stretches folded apart and merged must equal one pass over the chain."""

import json
import random

import pytest

from changegate.core.audit import GENESIS, event_hash, verify_chain
from changegate.core.reconcile import TrailFold, fold_trails, merge_trails

ACTIONS = ["change.created", "change.updated", "comment.added", "conflict.accepted", "approval.approved",
           "approval.rejected", "evidence.attached", "change.submit.refused", "approval.approved.refused",
           "gate.evaluated"]
ENTITIES = ["change:1", "change:2", "change:3", "token:7", "change:x"]


def chain(n: int, seed: int) -> list[tuple]:
    rng = random.Random(seed)
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        action, entity = rng.choice(ACTIONS), rng.choice(ENTITIES)
        after = "{}" if rng.random() < 0.4 else json.dumps({"state": f"s{seq}", "row_version": seq})
        detail = json.dumps({"role": rng.choice(["cab", "it_manager"]), "evidence_id": rng.randint(1, 3),
                             "sha256": f"{seq:064x}"})
        at, actor, before = f"2026-12-01T00:00:{seq % 60:02d}", rng.choice(["ann", "bob"]), "{}"
        digest = event_hash(prev, seq, at, actor, action, entity, before, after, detail)
        rows.append((seq, at, actor, action, entity, before, after, detail, prev, digest))
        prev = digest
    return rows


def trail_rows(rows: list[tuple]) -> list[tuple]:
    """What AuditRepository.iter_change_trails selects of the same events."""
    return [(seq, action, entity, actor, after != "{}",
             detail if action.startswith("approval.") or action == "evidence.attached" else None)
            for seq, _, actor, action, entity, _, after, detail, _, _ in rows
            if entity.startswith("change:") and not action.endswith(".refused")]


@pytest.mark.parametrize("seed", range(20))
def test_the_fold_while_checking_gives_the_trails_of_a_second_pass(seed):
    rows = chain(200, seed)
    fold = TrailFold()
    assert fold.verify(rows) == verify_chain(rows)
    trails = fold.trails()
    assert trails == fold_trails(trail_rows(rows))
    # The kept texts are each change's newest snapshot, by its seq.
    assert fold.texts() == {t.snapshot_seq: rows[t.snapshot_seq - 1][6] for t in trails.values() if t.snapshot_seq}


@pytest.mark.parametrize("seed", range(20))
def test_stretches_folded_apart_and_merged_equal_one_pass(seed):
    rows = chain(300, seed)
    cuts = sorted(random.Random(seed).sample(range(1, 300), 3))
    merged: dict = {}
    for first, last in zip([0, *cuts], [*cuts, 300]):
        fold = TrailFold()
        stretch = rows[first:last]
        assert fold.verify(stretch, stretch[0][8], first + 1).ok
        merge_trails(merged, fold.trails())
    assert merged == fold_trails(trail_rows(rows))


@pytest.mark.parametrize("tamper", ["content", "link", "gap", "order"])
def test_the_fold_names_the_tampering_verify_chain_names(tamper):
    rows = chain(50, 1)
    victim = 20
    if tamper == "content":
        rows[victim] = (*rows[victim][:7], '{"note":"edited"}', *rows[victim][8:])
    elif tamper == "link":
        rows[victim] = (*rows[victim][:8], "0" * 64, rows[victim][9])
    elif tamper == "gap":
        del rows[victim]
    else:
        rows[victim], rows[victim + 1] = rows[victim + 1], rows[victim]
    fold, expected = TrailFold(), verify_chain(rows)
    assert not expected.ok
    assert fold.verify(rows) == expected
    # Nothing from the event it stopped at (or later) was folded.
    assert all(t.last_seq <= expected.checked for t in fold.trails().values())
