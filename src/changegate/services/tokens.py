"""API tokens for pipelines and remote CLIs: random secrets, stored only as SHA-256."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from ..core.audit import AuditRecord
from ..core.errors import InvalidInput, NotFound, Unauthenticated
from ..core.policy.model import Permission, Person, Policy
from ..db.models import ApiToken
from ..db.uow import UnitOfWork
from ..schemas.tokens import TokenCreated, TokenOut
from .context import Context

PREFIX = "cg_"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def create_token(uow: UnitOfWork, ctx: Context, person_id: str, name: str,
                 expires_at: datetime | None = None) -> TokenCreated:
    if person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE, entity=f"person:{person_id}")
    if ctx.policy.person(person_id) is None:
        raise InvalidInput(f"{person_id!r} is not a person in the policy file", field="person")
    if expires_at is not None and expires_at <= ctx.now:
        raise InvalidInput("the expiry is in the past", field="expires_at")
    secret = PREFIX + secrets.token_urlsafe(32)
    token = uow.tokens.add(ApiToken(
        person_id=person_id, name=name, prefix=secret[:10], token_hash=_digest(secret), created_at=ctx.now,
        created_by=ctx.actor.id, expires_at=expires_at,
    ))
    uow.audit.append(AuditRecord(actor=ctx.actor.id, action="token.created", entity=f"token:{token.id}",
                                 after={"person": person_id, "name": name, "prefix": token.prefix}), ctx.now)
    return TokenCreated(**TokenOut.model_validate(token).model_dump(), secret=secret)


def list_tokens(uow: UnitOfWork, ctx: Context, person_id: str | None = None) -> list[TokenOut]:
    """Someone's tokens; with no person, everyone's for a token manager and one's own for anyone else."""
    if person_id is None and not ctx.may(Permission.TOKEN_MANAGE):
        person_id = ctx.actor.id
    if person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE)
    return [TokenOut.model_validate(t) for t in uow.tokens.list(person_id)]


def revoke_token(uow: UnitOfWork, ctx: Context, token_id: int) -> TokenOut:
    token = uow.tokens.get(token_id)
    if token is None:
        raise NotFound(f"no token {token_id}")
    if token.person_id != ctx.actor.id:
        ctx.require(Permission.TOKEN_MANAGE, entity=f"token:{token_id}")
    if token.revoked_at is None:
        token.revoked_at = ctx.now
        uow.audit.append(AuditRecord(actor=ctx.actor.id, action="token.revoked", entity=f"token:{token.id}",
                                     before={"revoked": False}, after={"revoked": True}), ctx.now)
    return TokenOut.model_validate(token)


def authenticate(uow: UnitOfWork, policy: Policy, secret: str, now: datetime) -> Person:
    """The person a bearer token stands for; Unauthenticated with the reason otherwise."""
    token = uow.tokens.by_hash(_digest(secret)) if secret.startswith(PREFIX) else None
    return check_token(token, policy, now)


def token_hash(secret: str) -> str:
    """What a token is stored and looked up by. A secret without the prefix hashes to a value no
    stored token has (every issued one carries it), so it is simply unknown."""
    return _digest(secret)


def check_token(token, policy: Policy, now: datetime) -> Person:
    """The person a stored token row (None: unknown) stands for, checked afresh on every request:
    nothing about a token is cached, so a revocation holds from the next request, in every process."""
    if token is None:
        raise Unauthenticated("unknown API token")
    if token.revoked_at is not None:
        raise Unauthenticated(f"API token {token.prefix}… was revoked")
    if token.expires_at is not None and token.expires_at <= now:
        raise Unauthenticated(f"API token {token.prefix}… expired")
    person = policy.person(token.person_id)
    if person is None:
        raise Unauthenticated(f"API token {token.prefix}… belongs to {token.person_id!r}, who is no longer in the policy")
    return person
