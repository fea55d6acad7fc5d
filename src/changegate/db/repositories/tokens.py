"""API tokens (hashed; the secret is never stored)."""

from __future__ import annotations

from sqlalchemy import select

from ..models import ApiToken
from .base import Repository


class TokenRepository(Repository[ApiToken]):
    model = ApiToken

    def by_hash(self, token_hash: str) -> ApiToken | None:
        return self.s.execute(select(ApiToken).where(ApiToken.token_hash == token_hash)).scalar_one_or_none()

    def list(self, person_id: str | None = None) -> list[ApiToken]:
        stmt = select(ApiToken).order_by(ApiToken.id)
        if person_id:
            stmt = stmt.where(ApiToken.person_id == person_id)
        return list(self.s.execute(stmt).scalars())
