"""The local next-slot's quick path (services/schedule_quick.py): the full path's answers, or none at all.

The quick path reads the policy's plain entry (services/policy_quick.py) and SQLite through its own driver
(db/bare.py). It must answer exactly as ``services.schedule.next_slot`` does, and decline (None) whenever it
cannot be sure, so that the full path gives the answer or the error.
"""

from __future__ import annotations

import itertools
import json
from datetime import datetime, timedelta, timezone

import pytest

from changegate.core.errors import PolicyError
from changegate.core.schedule import engine
from changegate.core.schedule.rules import from_plain, to_plain
from changegate.db.bare import BareScheduleReads, open_sqlite
from changegate.schemas.schedule import FreezeIn, SlotQuery
from changegate.services import schedule
from changegate.services.context import Context
from changegate.services.demo import load_demo
from changegate.services.policy import load_policy
from changegate.services.policy_quick import load_quick
from changegate.services.schedule_quick import next_slot_quick
from changegate.settings import DEFAULT_POLICY

# The default policy with every kind of rule: a zone of its own, a monthly window, holidays, dates by item.
EXTRA_ENVIRONMENTS = "    uat: {timezone: Europe/London}\n"
EXTRA_WINDOWS = '    - {name: last-saturday, monthly: {week: last, day: sat}, start: "20:00", end: "24:00", environments: [prod]}\n'
EXTRA_BLACKOUTS = ("    - {name: holidays, kind: holidays, country: DE, subdivision: BY}\n"
                   "    - {name: line-3-rebuild, kind: dates, start: 2026-12-09, end: 2026-12-11, items: [label-printing]}\n")


def rich_policy(tmp_path):
    text = DEFAULT_POLICY.read_text()
    text = text.replace("    dev: {enforce: false}", EXTRA_ENVIRONMENTS.rstrip("\n") + "\n    dev: {enforce: false}", 1)
    text = text.replace("  blackouts:\n", "  blackouts:\n" + EXTRA_BLACKOUTS, 1)
    text = text.replace(
        '    - {name: afternoon, days: [tue, wed, thu], start: "14:00", end: "16:00"}\n',
        '    - {name: afternoon, days: [tue, wed, thu], start: "14:00", end: "16:00"}\n' + EXTRA_WINDOWS, 1)
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    return path


def environ(runtime, policy_file, cache) -> dict:
    return {"CHANGEGATE_DATABASE_URL": runtime.engine.url.render_as_string(hide_password=False),
            "CHANGEGATE_POLICY": str(policy_file), "CHANGEGATE_CACHE_DIR": str(cache)}


def full_path(runtime, policy, person: str, payload: dict) -> dict:
    ctx = Context(policy=policy, actor=policy.person(person), now=runtime.clock())
    with runtime.reads() as unit:
        return schedule.next_slot(unit, ctx, SlotQuery.model_validate(
            {k: v for k, v in payload.items() if v is not None})).model_dump(mode="json")


def with_freezes(runtime) -> None:
    """The demo plant (changes holding slots, with items; a CMDB) and two freezes, one by item."""
    load_demo(runtime)
    ctx = runtime.context("chris.change")
    with runtime.uow() as uow:
        for name, start, days, items in (("audit", "2026-12-15T00:00:00+01:00", 2, []),
                                         ("printers", "2026-12-02T00:00:00Z", 9, ["label-printing"])):
            at = datetime.fromisoformat(start)
            schedule.add_freeze(uow, ctx, FreezeIn(name=name, start=at, end=at + timedelta(days=days), reason="test",
                                                   environments=["prod"], items=items))


# The bare driver reads SQLite; on PostgreSQL the quick path declines (test_it_declines_what_it_cannot_be_sure_of).
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_quick_path_answers_as_the_full_path(runtime, tmp_path):
    with_freezes(runtime)
    policy_file, cache = rich_policy(tmp_path), tmp_path / "cache"
    policy = load_policy(policy_file, cache_dir=cache)  # the full validation writes the plain entry
    env = environ(runtime, policy_file, cache)
    with runtime.reads() as unit:
        held = unit.schedule_reads.held_slots(runtime.clock(), runtime.clock() + timedelta(days=400))
    busy_items = sorted(held[0].items)
    answered = 0
    for environment, duration, items, emergency, after in itertools.product(
            ["prod", "uat", "dev"], ["30m", "90m", "5h", "0", "2d"], [[], busy_items, ["label-printing"]],
            [False, True], [None, "2026-12-04T10:00:00+01:00", "2027-03-27T23:30:00Z", "2026-12-24T08:00+01:00"]):
        payload = {"environment": environment, "duration": duration, "items": items, "emergency": emergency,
                   "after": after}
        quick = next_slot_quick("chris.change", payload, env, now=runtime.clock())
        if quick is None:  # only a question for the CMDB (items and other holders) may decline here
            assert items and runtime.engine.dialect.name == "sqlite", payload
            continue
        answered += 1
        assert quick == full_path(runtime, policy, "chris.change", payload), payload
    assert answered >= 200


def test_the_plain_schedule_gives_the_models_answers(tmp_path):
    policy = load_policy(rich_policy(tmp_path))
    plain = from_plain(json.loads(json.dumps(to_plain(policy.schedule, range(2026, 2028)))))
    start = datetime(2026, 12, 1, tzinfo=timezone.utc)
    for environment in ("prod", "uat", "dev"):
        assert (engine.calendar_entries(plain, environment, start, start + timedelta(days=400))
                == engine.calendar_entries(policy.schedule, environment, start, start + timedelta(days=400)))
        for hours in range(0, 24 * 60, 7):  # every 7 hours over two months, across the holidays
            at = start + timedelta(hours=hours)
            ctx = engine.ScheduleContext(environment, items=frozenset({"label-printing"}))
            assert engine.explain(plain, ctx, at, timedelta(hours=2)) == engine.explain(policy.schedule, ctx, at,
                                                                                         timedelta(hours=2))
    # a year whose holidays the entry does not hold is computed, the same
    ctx = engine.ScheduleContext("prod")
    late = datetime(2031, 12, 20, tzinfo=timezone.utc)
    assert engine.next_slot(plain, ctx, timedelta(hours=1), late) == engine.next_slot(policy.schedule, ctx,
                                                                                      timedelta(hours=1), late)


def test_a_changed_policy_file_finds_no_plain_entry(tmp_path):
    policy_file, cache = rich_policy(tmp_path), tmp_path / "cache"
    assert load_quick(policy_file, cache) is None  # nothing validated yet: nothing to answer from
    load_policy(policy_file, cache_dir=cache)
    assert load_quick(policy_file, cache).schedule.windows[2].name == "last-saturday"
    policy_file.write_text(policy_file.read_text().replace("last-saturday", "last-sat"))
    assert load_quick(policy_file, cache) is None  # changed: only after the full validation again
    load_policy(policy_file, cache_dir=cache)
    assert load_quick(policy_file, cache).schedule.windows[2].name == "last-sat"
    policy_file.write_text(policy_file.read_text().replace('start: "20:00"', 'start: "25:00"'))
    with pytest.raises(PolicyError) as caught:
        load_policy(policy_file, cache_dir=cache)
    assert any("policy.yaml:" in p and "25:00" in p for p in caught.value.problems)
    assert load_quick(policy_file, cache) is None  # an invalid file is never answered from the cache


def test_the_bare_reads_return_the_core_reads(runtime):
    if runtime.engine.dialect.name != "sqlite":
        assert open_sqlite(runtime.engine.url.render_as_string(hide_password=False)) is None
        return
    with_freezes(runtime)
    start, end = runtime.clock() - timedelta(days=400), runtime.clock() + timedelta(days=400)
    with runtime.reads() as unit:
        core_held = unit.schedule_reads.held_slots(start, end)
        core_prod = unit.schedule_reads.held_slots(start, end, environment="prod")
        core_freezes = [(f.name, f.starts_at, f.ends_at, f.environments, f.items, f.emergency_override, f.reason)
                        for f in unit.schedule_reads.active_freezes(start, end)]
    conn = open_sqlite(runtime.engine.url.render_as_string(hide_password=False))
    try:
        bare = BareScheduleReads(conn)
        assert core_held and bare.held_slots(start, end) == core_held
        assert bare.held_slots(start, end, environment="prod") == core_prod
        assert core_freezes and [tuple(vars(f).values()) for f in bare.active_freezes(start, end)] == core_freezes
        assert bare.has_cmdb_items()
    finally:
        conn.close()


def test_it_declines_what_it_cannot_be_sure_of(runtime, tmp_path):
    load_demo(runtime)
    cache = tmp_path / "cache"
    load_policy(DEFAULT_POLICY, cache_dir=cache)
    env = environ(runtime, DEFAULT_POLICY, cache)
    good = {"environment": "prod", "duration": "1h"}
    sqlite = runtime.engine.dialect.name == "sqlite"
    assert (next_slot_quick("dana.dev", good, env, now=runtime.clock()) is not None) == sqlite  # PostgreSQL: full path
    declined = [
        ("nobody", good, env),  # not a person: the full path says so
        ("dana.dev", {**good, "environment": "staging"}, env),  # unknown environment
        ("dana.dev", {**good, "environment": " prod"}, env),  # the boundary model strips it
        ("dana.dev", {**good, "duration": "1 h"}, env),
        ("dana.dev", {**good, "after": "2026-12-08"}, env),  # a bare date: plant midnight, the CLI's rule
        ("dana.dev", {**good, "after": "2026-12-08T09:00"}, env),  # no offset: refused by the full path
        ("dana.dev", {**good, "after": "2026-02-30T10:00Z"}, env),  # well shaped, impossible: the full path says so
        ("dana.dev", {**good, "after": "2026-12-08T25:00Z"}, env),
        ("dana.dev", {**good, "change": "CHG-1"}, env),
        ("dana.dev", {**good, "items": ["mes\u200b-core"]}, env),  # an invisible character: refused there
        ("dana.dev", good, {**env, "CHANGEGATE_CACHE_DIR": ""}),  # no cache
        ("dana.dev", good, {**env, "changegate_policy": "/elsewhere.yaml"}),  # Settings reads any case
        ("dana.dev", good, {**env, "CHANGEGATE_DATABASE_URL": "sqlite://"}),  # in memory
        ("dana.dev", good, {**env, "CHANGEGATE_POLICY": str(tmp_path / "changed.yaml")}),  # no entry for it
    ]
    (tmp_path / "changed.yaml").write_text(DEFAULT_POLICY.read_text() + "\n# changed\n")
    for person, payload, environ_ in declined:
        assert next_slot_quick(person, payload, environ_, now=runtime.clock()) is None, (person, payload)


def test_the_entry_key_follows_the_holidays_library_it_computed_dates_with(tmp_path, monkeypatch):
    """The entry holds holiday dates computed by the holidays library: another release of it (its version
    file) must find no entry, as a changed policy file does."""
    from importlib.machinery import ModuleSpec

    from changegate.services import policy_quick

    fake = tmp_path / "holidays"
    fake.mkdir()
    (fake / "version.py").write_text('__version__ = "1"\n')
    real = policy_quick.find_spec
    monkeypatch.setattr(policy_quick, "find_spec", lambda name: ModuleSpec(name, None, origin=str(
        fake / "__init__.py")) if name == "holidays" else real(name))
    raw = DEFAULT_POLICY.read_bytes()
    before = policy_quick.quick_key(raw)
    assert policy_quick.quick_key(raw) == before
    (fake / "version.py").write_text('__version__ = "2.0"\n')  # a new release: another size
    assert policy_quick.quick_key(raw) != before
