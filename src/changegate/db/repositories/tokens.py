"""API tokens (hashed; the secret is never stored)."""

from __future__ import annotations

from types import SimpleNamespace

from sqlalchemy import bindparam, select

from ..models import ApiToken
from .base import Repository
from .changes import TOKEN_COLUMNS, convert

_BY_HASH: dict[str, tuple[str, bool]] = {}


class TokenRepository(Repository[ApiToken]):
    model = ApiToken

    def by_hash(self, token_hash: str) -> SimpleNamespace | None:
        """What authentication reads of a token (``TOKEN_COLUMNS``), as a plain record; None if unknown.

        A prepared statement run with ``exec_driver_sql`` (as the change view is): a writing route
        authenticates with it inside its own unit of work, at the cost of one indexed read."""
        conn = self.s.connection()
        if conn.dialect.name not in _BY_HASH:
            compiled = select(*(getattr(ApiToken, c) for c in TOKEN_COLUMNS)).where(
                ApiToken.token_hash == bindparam("token_hash")).compile(dialect=conn.dialect)
            _BY_HASH[conn.dialect.name] = (str(compiled), compiled.positional)
        sql, positional = _BY_HASH[conn.dialect.name]
        row = conn.exec_driver_sql(sql, (token_hash,) if positional else {"token_hash": token_hash}).first()
        if row is None:
            return None
        return SimpleNamespace(**{c: convert(ApiToken, c, v) for c, v in zip(TOKEN_COLUMNS, row)})

    def list(self, person_id: str | None = None) -> list[ApiToken]:
        stmt = select(ApiToken).order_by(ApiToken.id)
        if person_id:
            stmt = stmt.where(ApiToken.person_id == person_id)
        return list(self.s.execute(stmt).scalars())
