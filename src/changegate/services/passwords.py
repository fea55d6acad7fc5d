"""Web sign-in: passwords (argon2 through pwdlib), one-time set-password links, lock-out.

People come from the policy file; only their password lives in the database. A sign-in is
checked here and its outcome written with its audit event, so failed attempts count (and lock
the person out) even though the attempt itself is refused.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from ..core.audit import AuditRecord
from ..core.errors import InvalidInput, Unauthenticated
from ..core.policy.model import Permission, Person, Policy
from ..db.models import WebCredential
from ..db.uow import UnitOfWork
from ..schemas.passwords import MAX_PASSWORD_LENGTH, PasswordIn, PasswordLinkIn, PasswordLinkOut, PasswordSetOut
from . import web_sessions
from .context import Context

MIN_PASSWORD_LENGTH = 12
# MAX_PASSWORD_LENGTH (schemas/passwords.py): argon2 hashes any length; a megabyte "password" is an attack
MAX_FAILURES = 5  # consecutive failed sign-ins before the lock-out
LOCK_OUT = timedelta(minutes=15)
LINK_VALIDITY = timedelta(hours=1)
_WRONG = "wrong person or password"  # the same sentence whichever of the two was wrong


@lru_cache(maxsize=1)
def _hasher():
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    return PasswordHash((Argon2Hasher(),))


@lru_cache(maxsize=1)
def _dummy_hash() -> str:
    # Verified against when the person is unknown or has no password, so the answer takes as long
    # as for a real person and timing does not tell who has an account.
    return _hasher().hash(secrets.token_urlsafe(16))


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _audit(uow: UnitOfWork, actor: str, action: str, person_id: str, now: datetime, detail: dict | None = None):
    uow.audit.append(AuditRecord(actor=actor, action=action, entity=f"person:{person_id}", detail=detail), now)


def _person_who_may_sign_in(policy: Policy, person_id: str) -> Person:
    person = policy.person(person_id)
    if person is None:
        raise InvalidInput(f"{person_id!r} is not a person in the policy file", field="person")
    if person.service_account:
        raise InvalidInput(f"{person_id} is a service account: it signs in with API tokens only", field="person")
    return person


def check_password_shape(password: str) -> None:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is shorter than {MIN_PASSWORD_LENGTH} characters", field="password")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"the password is longer than {MAX_PASSWORD_LENGTH} characters", field="password")


def _credential(uow: UnitOfWork, person_id: str, now: datetime) -> WebCredential:
    row = uow.credentials.for_person(person_id, for_update=True)
    if row is None:
        row = uow.credentials.add(WebCredential(person_id=person_id, failed_attempts=0, updated_at=now))
    return row


def _store_password(row: WebCredential, password: str, now: datetime) -> None:
    row.password_hash = _hasher().hash(password)
    row.password_set_at = now
    row.failed_attempts = 0
    row.locked_until = None
    row.link_hash = row.link_expires_at = None  # a pending link is spent by any new password
    row.updated_at = now


def set_password(uow: UnitOfWork, ctx: Context, person_id: str, password: str) -> None:
    """Set a person's password: their own, or anyone's for a token manager. Ends their web sessions."""
    if person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE, entity=f"person:{person_id}")
    _person_who_may_sign_in(ctx.policy, person_id)
    check_password_shape(password)
    _store_password(_credential(uow, person_id, ctx.now), password, ctx.now)
    ended = web_sessions.end_all(uow, person_id, ctx.actor.id, ctx.now)
    _audit(uow, ctx.actor.id, "password.set", person_id, ctx.now, {"sessions_ended": ended} if ended else None)


def create_link(uow: UnitOfWork, ctx: Context, person_id: str, validity: timedelta = LINK_VALIDITY) -> str:
    """A one-time secret with which ``person_id`` sets their own password, valid for ``validity``."""
    if person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE, entity=f"person:{person_id}")
    _person_who_may_sign_in(ctx.policy, person_id)
    secret = secrets.token_urlsafe(32)
    row = _credential(uow, person_id, ctx.now)
    row.link_hash, row.link_expires_at, row.updated_at = _digest(secret), ctx.now + validity, ctx.now
    _audit(uow, ctx.actor.id, "password.link_created", person_id, ctx.now,
           {"expires_at": row.link_expires_at.isoformat()})
    return secret


def link_holder(uow: UnitOfWork, policy: Policy, secret: str, now: datetime) -> Person:
    """Whose set-password link this is; Unauthenticated if it is unknown, spent or expired."""
    row = uow.credentials.by_link(_digest(secret))
    if row is None or row.link_expires_at is None:
        raise Unauthenticated("this set-password link is unknown or was used already; ask for a new one")
    if row.link_expires_at <= now:
        raise Unauthenticated("this set-password link expired; ask for a new one")
    person = policy.person(row.person_id)
    if person is None:
        raise Unauthenticated(f"{row.person_id!r} is no longer a person in the policy file")
    return person


def redeem_link(uow: UnitOfWork, policy: Policy, secret: str, password: str, now: datetime) -> Person:
    """Set the password of the link's holder and spend the link."""
    person = link_holder(uow, policy, secret, now)
    check_password_shape(password)
    row = uow.credentials.by_link(_digest(secret), for_update=True)
    _store_password(row, password, now)
    ended = web_sessions.end_all(uow, person.id, person.id, now)
    _audit(uow, person.id, "password.set", person.id, now,
           {"by": "one-time link", **({"sessions_ended": ended} if ended else {})})
    return person


@dataclass(frozen=True)
class SignIn:
    """The outcome of a sign-in attempt. ``person`` is None when refused, with the sentence to show."""

    person: Person | None
    message: str = ""


def _refuse(uow: UnitOfWork, person_id: str, now: datetime, reason: str, message: str = _WRONG) -> SignIn:
    _audit(uow, "anonymous", "signin.failed", person_id, now, {"reason": reason})
    return SignIn(None, message)


def sign_in(uow: UnitOfWork, policy: Policy, person_id: str, password: str, now: datetime) -> SignIn:
    """Check a person's password. Every failure is audited; the MAX_FAILURES-th in a row locks the
    person out for LOCK_OUT (audited as signin.locked); a locked person is refused unchecked."""
    person = policy.person(person_id)
    row = uow.credentials.for_person(person_id, for_update=True) if person else None
    if person is None or person.service_account or row is None or row.password_hash is None:
        _hasher().verify(password[:MAX_PASSWORD_LENGTH], _dummy_hash())
        return _refuse(uow, person_id[:64], now, "unknown person or no password set")
    if row.locked_until is not None and row.locked_until > now:
        return _refuse(uow, person_id, now, "locked out",
                       f"too many failed sign-ins: {person_id} is locked out until "
                       f"{row.locked_until:%Y-%m-%d %H:%M} UTC")
    if not _hasher().verify(password[:MAX_PASSWORD_LENGTH], row.password_hash):
        row.failed_attempts = (0 if row.locked_until is not None else row.failed_attempts) + 1
        row.locked_until = None
        row.updated_at = now
        if row.failed_attempts >= MAX_FAILURES:
            row.locked_until = now + LOCK_OUT
            _audit(uow, "anonymous", "signin.locked", person_id, now,
                   {"failed_attempts": row.failed_attempts, "until": row.locked_until.isoformat()})
        return _refuse(uow, person_id, now, "wrong password")
    row.failed_attempts, row.locked_until, row.updated_at = 0, None, now
    _audit(uow, person_id, "signin.succeeded", person_id, now)
    return SignIn(person)


SESSION_SECRET = "session"


def shared_secret(uow: UnitOfWork, name: str, now: datetime) -> str:
    """A secret generated once and kept in the database, so every server process signs and checks
    cookies with the same key. Two processes creating it at once: the second's commit fails with a
    Conflict, and it reads the first's on its next try."""
    value = uow.credentials.secret(name)
    if value is None:
        value = secrets.token_urlsafe(48)
        uow.credentials.add_secret(name, value, now)
    return value


# --- the API's and the CLI's answers (one shape whether local or through --url) ----------------------


def set_password_for(uow: UnitOfWork, ctx: Context, person_id: str, body: PasswordIn) -> PasswordSetOut:
    set_password(uow, ctx, person_id, body.password)
    return PasswordSetOut(person=person_id)


def link_for(uow: UnitOfWork, ctx: Context, person_id: str, body: PasswordLinkIn) -> PasswordLinkOut:
    validity = timedelta(minutes=body.valid_minutes)
    secret = create_link(uow, ctx, person_id, validity)
    return PasswordLinkOut(person=person_id, secret=secret, expires_at=ctx.now + validity)
