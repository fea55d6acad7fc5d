"""Web sessions as rows (issue 16): started at sign-in, checked on every page, ended one at a time.

The cookie carries a random secret; the database keeps only its SHA-256 with who, when and from where.
Every page reads the row again (``check``: one statement, with the audit chain's head the kept views are
keyed by), so a session ended by sign-out, by a new password or by a token manager is refused at its next
request, in every server process.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from ..core.audit import AuditRecord
from ..core.errors import NotFound, Unauthenticated
from ..core.policy.model import Permission, Person, Policy
from ..db.models import WebSessionRecord
from ..db.uow import UnitOfWork
from .context import Context

SESSION_LIFETIME = timedelta(hours=8)  # web/session.py's cookie lives as long
KEPT_ROWS = timedelta(days=30)  # a session's row is dropped this long after it expired, at its person's next sign-in


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def start(uow: UnitOfWork, person: Person, now: datetime, *, address: str, user_agent: str) -> str:
    """A new session for a person who just signed in; returns the secret for their cookie."""
    secret = secrets.token_urlsafe(32)
    uow.credentials.forget_sessions(person.id, now - KEPT_ROWS)  # the table does not grow without end
    uow.credentials.add_session(WebSessionRecord(
        secret_hash=_digest(secret), person_id=person.id, started_at=now, expires_at=now + SESSION_LIFETIME,
        address=address[:64], user_agent=user_agent[:255]))
    return secret


@dataclass(frozen=True)
class Signed:
    person: Person
    head: tuple[int, int]  # the audit head and the read version, read in the same statement (web_cache.py's key)


def check(uow: UnitOfWork, policy: Policy, person_id: str, secret: str, now: datetime) -> Signed:
    """The person a session cookie stands for, checked afresh: the session open and unexpired, the person
    still in the policy file. One statement, which also reads the audit chain's head."""
    head, row = uow.web_reads.session_and_head(_digest(secret))
    person = policy.person(person_id)
    if (row is None or row.person_id != person_id or row.ended_at is not None or row.expires_at <= now
            or person is None or person.service_account):
        raise Unauthenticated("your session ended; sign in again")
    return Signed(person, head)


def _end(uow: UnitOfWork, row: WebSessionRecord, actor: str, now: datetime, reason: str) -> None:
    row.ended_at, row.ended_by = now, actor
    uow.audit.append(AuditRecord(actor=actor, action="session.ended", entity=f"person:{row.person_id}",
                                 detail={"session": row.id, "reason": reason}), now)


def sign_out(uow: UnitOfWork, secret: str, now: datetime) -> None:
    """End the session this cookie's secret belongs to (nothing to do if it is unknown or ended)."""
    row = uow.credentials.session(secret_hash=_digest(secret), for_update=True)
    if row is not None and row.ended_at is None and row.expires_at > now:
        _end(uow, row, row.person_id, now, "signed out")


def end_all(uow: UnitOfWork, person_id: str, actor: str, now: datetime) -> int:
    """End every open session of a person (their password was set: sessions begun with the old one end)."""
    return uow.credentials.end_sessions(person_id, now, actor)


@dataclass(frozen=True)
class SessionView:
    id: int
    person: str
    started_at: datetime
    expires_at: datetime
    address: str
    user_agent: str
    current: bool  # the session of the request that asks


def _may_see(ctx: Context, person_id: str) -> None:
    """Anybody may see and end their own sessions; someone else's needs token.manage (audited if refused)."""
    if person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE, entity=f"person:{person_id}")


def open_sessions(uow: UnitOfWork, ctx: Context, person_id: str, current_secret: str = "") -> list[SessionView]:
    """A person's signed-in sessions (not ended, not expired), newest first."""
    _may_see(ctx, person_id)
    current = _digest(current_secret) if current_secret else ""
    return [SessionView(r.id, r.person_id, r.started_at, r.expires_at, r.address, r.user_agent,
                        r.secret_hash == current)
            for r in uow.credentials.open_sessions(person_id, ctx.now)]


def end_session(uow: UnitOfWork, ctx: Context, session_id: int, current_secret: str = "") -> tuple[str, bool]:
    """End one session: one's own, or anyone's for a token manager. Audited (``session.ended``). Returns whose
    it was, and whether it is the session of ``current_secret`` (the asker's own, now signed out)."""
    row = uow.credentials.session(session_id=session_id, for_update=True)
    if row is not None:
        _may_see(ctx, row.person_id)  # before saying whether it is open: others' sessions are not told
    if row is None or row.ended_at is not None or row.expires_at <= ctx.now:
        raise NotFound(f"no open session {session_id}")
    _end(uow, row, ctx.actor.id, ctx.now, "signed out" if row.person_id == ctx.actor.id
         else f"ended by {ctx.actor.id}")
    return row.person_id, bool(current_secret) and row.secret_hash == _digest(current_secret)
