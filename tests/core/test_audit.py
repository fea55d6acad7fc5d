"""The hash-chained audit log: a correct chain verifies, any tampering is named at its first row."""

from __future__ import annotations

import hashlib
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from changegate.core.audit import GENESIS, canonical_json, event_hash, verify_chain

# Row layout as verify_chain reads it.
FIELDS = ("seq", "at", "actor", "action", "entity", "before", "after", "detail", "prev_hash", "hash")
SEQ, PREV, HASH = FIELDS.index("seq"), FIELDS.index("prev_hash"), FIELDS.index("hash")


def build_chain(events: list[tuple[str, str, str, str, str, str, str]], start_seq: int = 1,
                start_prev: str = GENESIS) -> list[tuple]:
    """Rows for events given as (at, actor, action, entity, before, after, detail), hashed as the writer does."""
    rows, prev = [], start_prev
    for seq, (at, actor, action, entity, before, after, detail) in enumerate(events, start=start_seq):
        h = event_hash(prev, seq, at, actor, action, entity, before, after, detail)
        rows.append((seq, at, actor, action, entity, before, after, detail, prev, h))
        prev = h
    return rows


def event(i: int) -> tuple[str, str, str, str, str, str, str]:
    return (
        f"2026-12-01T08:{i:02d}:00+00:00",
        "chris.change",
        "change.submit",
        f"change:{i}",
        canonical_json({"state": "draft"}),
        canonical_json({"state": "submitted"}),
        canonical_json({"reason": f"step {i}"}),
    )


def with_field(row: tuple, name: str, value) -> tuple:
    out = list(row)
    out[FIELDS.index(name)] = value
    return tuple(out)


def rehash(row: tuple) -> tuple:
    """The row as a forger who recomputes its own hash (but cannot touch the rows after it) stores it."""
    seq, at, actor, action, entity, before, after, detail, prev, _ = row
    return (*row[:HASH], event_hash(prev, seq, at, actor, action, entity, before, after, detail))


CHAIN = build_chain([event(i) for i in range(1, 6)])


def test_event_hash_is_sha256_over_every_field_in_order():
    fields = ("p" * 64, "7", "2026-12-01T08:00:00+00:00", "ann", "change.start", "change:7", "{}", "{}", "{}")
    expected = hashlib.sha256("\x1f".join(fields).encode()).hexdigest()
    assert event_hash(fields[0], 7, *fields[2:]) == expected


def test_a_correct_chain_verifies():
    verdict = verify_chain(CHAIN)
    assert verdict.ok
    assert verdict.checked == 5
    assert verdict.first_broken_seq is None
    assert verdict.message == "5 events verified"
    assert verdict.last_hash == CHAIN[-1][HASH]
    assert verdict.to_dict() == {"ok": True, "checked": 5, "first_broken_seq": None, "message": "5 events verified",
                                 "record": None, "reconciled": None, "head": None}


def test_an_empty_chain_verifies_and_ends_at_genesis():
    verdict = verify_chain([])
    assert (verdict.ok, verdict.checked, verdict.last_hash) == (True, 0, GENESIS)


def test_a_suffix_verifies_from_the_hash_and_seq_before_it():
    assert verify_chain(CHAIN[2:], start_prev=CHAIN[1][HASH], start_seq=3).ok
    assert verify_chain(CHAIN[2:], start_prev=GENESIS, start_seq=3).first_broken_seq == 3


@pytest.mark.parametrize("name", ["at", "actor", "action", "entity", "before", "after", "detail"])
def test_an_altered_field_is_named_at_its_row(name):
    rows = list(CHAIN)
    rows[2] = with_field(rows[2], name, rows[2][FIELDS.index(name)] + " ")
    verdict = verify_chain(rows)
    assert not verdict.ok
    assert verdict.first_broken_seq == 3
    assert verdict.checked == 2
    assert verdict.message == "event 3 was altered: its content does not match its hash"


def test_an_altered_row_with_a_recomputed_hash_breaks_the_link_of_the_next_row():
    rows = list(CHAIN)
    rows[2] = rehash(with_field(rows[2], "actor", "mallory"))
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.first_broken_seq) == (False, 4)
    assert verdict.message == "event 4 does not link to event 3"


def test_a_deleted_middle_event_is_named_as_missing():
    rows = CHAIN[:2] + CHAIN[3:]
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.first_broken_seq, verdict.checked) == (False, 3, 2)
    assert verdict.message == "event 3 is missing (next stored event is 4)"


def test_a_deleted_first_event_is_named_as_missing():
    verdict = verify_chain(CHAIN[1:])
    assert (verdict.ok, verdict.first_broken_seq) == (False, 1)


def test_reordered_events_are_refused_at_the_first_out_of_place_seq():
    rows = [CHAIN[0], CHAIN[2], CHAIN[1], *CHAIN[3:]]
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.first_broken_seq) == (False, 2)


def test_an_inserted_event_is_refused_where_the_original_chain_resumes():
    # A forger appends a well-formed event 3 after event 2 and keeps the old 3..5 behind it.
    forged = build_chain([event(99)], start_seq=3, start_prev=CHAIN[1][HASH])[0]
    rows = [*CHAIN[:2], forged, *CHAIN[2:]]
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.first_broken_seq, verdict.checked) == (False, 4, 3)

    # ... or renumbers the old events 3..5 to 4..6: their links no longer match.
    renumbered = [with_field(r, "seq", r[SEQ] + 1) for r in CHAIN[2:]]
    verdict = verify_chain([*CHAIN[:2], forged, *renumbered])
    assert (verdict.ok, verdict.first_broken_seq) == (False, 4)
    assert verdict.message == "event 4 does not link to event 3"


def test_a_duplicated_event_is_refused():
    rows = [*CHAIN[:3], CHAIN[2], *CHAIN[3:]]
    assert verify_chain(rows).first_broken_seq == 4


def test_a_wrong_prev_hash_is_named_even_when_the_row_hash_is_recomputed_to_match_it():
    rows = list(CHAIN)
    rows[3] = rehash(with_field(rows[3], "prev_hash", "f" * 64))
    verdict = verify_chain(rows)
    assert (verdict.ok, verdict.first_broken_seq) == (False, 4)
    assert verdict.message == "event 4 does not link to event 3"


def test_the_first_broken_row_is_named_when_several_are_broken():
    rows = list(CHAIN)
    rows[1] = with_field(rows[1], "detail", "{}")
    rows[3] = with_field(rows[3], "actor", "mallory")
    assert verify_chain(rows).first_broken_seq == 2


# --- canonical JSON: the stored text the hash covers ----------------------------------------


def test_canonical_json_sorts_keys_is_compact_and_keeps_unicode():
    assert canonical_json({"b": 1, "a": ["é", None]}) == '{"a":["é",null],"b":1}'


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@given(json_values)
def test_canonical_json_round_trips_and_never_contains_the_field_separator(value):
    text = canonical_json(value)
    assert json.loads(text) == value
    assert "\x1f" not in text  # so one stored JSON field cannot spill into the next under the hash
    assert canonical_json(json.loads(text)) == text


# --- property: any single alteration is detected at exactly its row -------------------------

events = st.tuples(
    st.datetimes().map(lambda d: d.isoformat()),
    st.text(max_size=12),
    st.text(max_size=12),
    st.text(max_size=12),
    json_values.map(canonical_json),
    json_values.map(canonical_json),
    json_values.map(canonical_json),
)


@st.composite
def tampered_chains(draw):
    rows = build_chain(draw(st.lists(events, min_size=1, max_size=8)))
    index = draw(st.integers(0, len(rows) - 1))
    name = draw(st.sampled_from(FIELDS))
    old = rows[index][FIELDS.index(name)]
    if name == "seq":
        new = draw(st.integers(-5, 20).filter(lambda n: n != old))
    elif name in ("prev_hash", "hash"):
        new = draw(st.text("0123456789abcdef", min_size=64, max_size=64).filter(lambda h: h != old))
    else:
        new = draw(st.text(max_size=12).filter(lambda t: t != old))
    rows[index] = with_field(rows[index], name, new)
    return rows, index, name


@given(tampered_chains())
def test_altering_any_one_field_of_any_one_row_is_detected_at_exactly_that_row(case):
    rows, index, name = case
    verdict = verify_chain(rows)
    assert not verdict.ok, f"altering {name} of row {index + 1} went unnoticed"
    assert verdict.first_broken_seq == index + 1
    assert verdict.checked == index
