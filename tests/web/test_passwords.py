"""Passwords, links, lock-out and sessions as use cases, on SQLite and PostgreSQL (no browser)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from changegate.core.errors import Forbidden, InvalidInput, Unauthenticated
from changegate.services import passwords, web_sessions

GOOD = "a long enough password"


def set_(runtime, actor: str, person: str, password: str = GOOD) -> None:
    with runtime.uow() as uow:
        passwords.set_password(uow, runtime.context(actor), person, password)


def sign_in(runtime, person: str, password: str = GOOD) -> passwords.SignIn:
    with runtime.uow() as uow:
        return passwords.sign_in(uow, runtime.policy, person, password, runtime.clock())


def test_the_password_is_stored_as_an_argon2_hash_and_checked(runtime):
    set_(runtime, "chris.change", "ines.itmgr")
    with runtime.uow(write=False) as uow:
        stored = uow.credentials.for_person("ines.itmgr").password_hash
    assert stored.startswith("$argon2id$") and GOOD not in stored
    assert sign_in(runtime, "ines.itmgr").person.id == "ines.itmgr"
    assert sign_in(runtime, "ines.itmgr", "another password").person is None
    assert sign_in(runtime, "nobody.here").message == "wrong person or password"


def test_who_may_set_a_password(runtime):
    set_(runtime, "omar.ops", "omar.ops")  # one's own
    with pytest.raises(Forbidden, match="token.manage"):
        set_(runtime, "omar.ops", "ines.itmgr")  # someone else's: a token manager only
    with pytest.raises(InvalidInput, match="service account"):
        set_(runtime, "chris.change", "ci-pipeline")
    with pytest.raises(InvalidInput, match="not a person"):
        set_(runtime, "chris.change", "mallory")
    with pytest.raises(InvalidInput, match="shorter than 12 characters") as err:
        set_(runtime, "chris.change", "ines.itmgr", "short")
    assert err.value.field == "password"
    with runtime.uow(write=False) as uow:
        actions = [e.action for e in uow.audit.for_entity("person:ines.itmgr")]
    assert actions == ["token.manage.refused"]  # the refused attempt is audited; bad input is not an attempt


def test_lock_out_after_repeated_failures_ends_after_its_time(runtime, clock):
    set_(runtime, "chris.change", "omar.ops")
    for _ in range(passwords.MAX_FAILURES):
        assert sign_in(runtime, "omar.ops", "wrong").person is None
    locked = sign_in(runtime, "omar.ops")
    assert locked.person is None and "locked out until" in locked.message
    clock.advance(minutes=14)
    assert sign_in(runtime, "omar.ops").person is None
    clock.advance(minutes=2)
    assert sign_in(runtime, "omar.ops").person.id == "omar.ops"
    with runtime.uow(write=False) as uow:
        events = [e.action for e in uow.audit.for_entity("person:omar.ops")]
        row = uow.credentials.for_person("omar.ops")
    assert events.count("signin.locked") == 1 and events[-1] == "signin.succeeded"
    assert row.failed_attempts == 0 and row.locked_until is None


def test_failures_counted_only_in_a_row(runtime):
    set_(runtime, "chris.change", "omar.ops")
    for _ in range(passwords.MAX_FAILURES - 1):
        sign_in(runtime, "omar.ops", "wrong")
    assert sign_in(runtime, "omar.ops").person is not None  # a success starts the count again
    for _ in range(passwords.MAX_FAILURES - 1):
        sign_in(runtime, "omar.ops", "wrong")
    assert sign_in(runtime, "omar.ops").person is not None


def test_a_one_time_link_sets_the_password_once_and_expires(runtime, clock):
    with runtime.uow() as uow:
        secret = passwords.create_link(uow, runtime.context("chris.change"), "ines.itmgr")
    with runtime.uow() as uow:
        assert passwords.redeem_link(uow, runtime.policy, secret, GOOD, clock()).id == "ines.itmgr"
    assert sign_in(runtime, "ines.itmgr").person is not None
    with pytest.raises(Unauthenticated, match="unknown or was used already"), runtime.uow() as uow:
        passwords.redeem_link(uow, runtime.policy, secret, "yet another password", clock())

    with runtime.uow() as uow:
        late = passwords.create_link(uow, runtime.context("chris.change"), "omar.ops", timedelta(minutes=30))
    clock.advance(minutes=31)
    with pytest.raises(Unauthenticated, match="expired"), runtime.uow() as uow:
        passwords.redeem_link(uow, runtime.policy, late, GOOD, clock())
    with pytest.raises(Forbidden), runtime.uow() as uow:
        passwords.create_link(uow, runtime.context("omar.ops"), "ines.itmgr")


def _session(runtime, person: str) -> str:
    with runtime.uow() as uow:
        return web_sessions.start(uow, runtime.person(person), runtime.clock(), address="127.0.0.1", user_agent="test")


def _check(runtime, person: str, secret: str):
    with runtime.uow(write=False) as uow:
        return web_sessions.check(uow, runtime.policy, person, secret, runtime.clock())


def test_a_new_password_ends_the_sessions_begun_with_the_old_one(runtime, clock):
    set_(runtime, "chris.change", "ines.itmgr")
    assert sign_in(runtime, "ines.itmgr").person is not None
    secret = _session(runtime, "ines.itmgr")
    assert _check(runtime, "ines.itmgr", secret).person.id == "ines.itmgr"
    with pytest.raises(Unauthenticated, match="session ended"):
        _check(runtime, "omar.ops", secret)  # the cookie's person must be the session's
    clock.advance(seconds=1)
    set_(runtime, "ines.itmgr", "ines.itmgr", "her brand new password")
    with pytest.raises(Unauthenticated, match="session ended"):
        _check(runtime, "ines.itmgr", secret)


def test_old_session_rows_are_dropped_at_the_next_sign_in(runtime, clock):
    _session(runtime, "ines.itmgr")
    clock.advance(days=30, hours=7)  # expired 29 days and 23 hours ago: kept
    _session(runtime, "ines.itmgr")
    clock.advance(hours=2)  # the first expired more than 30 days ago: dropped
    _session(runtime, "ines.itmgr")
    with runtime.uow(write=False) as uow:
        assert len(uow.credentials.open_sessions("ines.itmgr", clock.now - timedelta(days=40))) == 2


def test_a_session_expires_after_its_hours(runtime, clock):
    secret = _session(runtime, "ines.itmgr")
    clock.advance(hours=7, minutes=59)
    assert _check(runtime, "ines.itmgr", secret).person.id == "ines.itmgr"
    clock.advance(minutes=1)
    with pytest.raises(Unauthenticated, match="session ended"):
        _check(runtime, "ines.itmgr", secret)


def test_the_session_key_is_made_once_and_shared(runtime):
    with runtime.uow() as uow:
        first = passwords.shared_secret(uow, passwords.SESSION_SECRET, runtime.clock())
    with runtime.uow() as uow:
        assert passwords.shared_secret(uow, passwords.SESSION_SECRET, runtime.clock()) == first
    assert len(first) >= 64
