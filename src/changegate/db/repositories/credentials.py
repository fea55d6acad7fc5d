"""Web sign-in: password credentials and the secrets the server processes share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update

from ..models import WebCredential, WebSecret, WebSessionRecord
from .base import Repository


class CredentialRepository(Repository[WebCredential]):
    model = WebCredential

    def for_person(self, person_id: str, *, for_update: bool = False) -> WebCredential | None:
        # FOR UPDATE: two failed sign-ins at once must both count towards the lock-out.
        stmt = select(WebCredential).where(WebCredential.person_id == person_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.s.execute(stmt).scalar_one_or_none()

    def by_link(self, link_hash: str, *, for_update: bool = False) -> WebCredential | None:
        stmt = select(WebCredential).where(WebCredential.link_hash == link_hash)
        if for_update:
            stmt = stmt.with_for_update()
        return self.s.execute(stmt).scalar_one_or_none()

    def secret(self, name: str) -> str | None:
        return self.s.execute(select(WebSecret.value).where(WebSecret.name == name)).scalar_one_or_none()

    def add_secret(self, name: str, value: str, at: datetime) -> None:
        self.s.add(WebSecret(name=name, value=value, created_at=at))
        self.s.flush()

    # --- web sessions (one row each; the cookie holds the secret whose SHA-256 is kept) ---------------

    def add_session(self, row: WebSessionRecord) -> WebSessionRecord:
        self.s.add(row)
        self.s.flush()
        return row

    def session(self, *, secret_hash: str | None = None, session_id: int | None = None,
                for_update: bool = False) -> WebSessionRecord | None:
        stmt = select(WebSessionRecord)
        stmt = stmt.where(WebSessionRecord.secret_hash == secret_hash) if secret_hash is not None \
            else stmt.where(WebSessionRecord.id == session_id)
        if for_update:
            stmt = stmt.with_for_update()
        return self.s.execute(stmt).scalar_one_or_none()

    def open_sessions(self, person_id: str, now: datetime) -> list[WebSessionRecord]:
        """The person's sessions not ended nor expired, newest first."""
        return list(self.s.execute(
            select(WebSessionRecord).where(WebSessionRecord.person_id == person_id,
                                           WebSessionRecord.ended_at.is_(None), WebSessionRecord.expires_at > now)
            .order_by(WebSessionRecord.id.desc())).scalars())

    def end_sessions(self, person_id: str, now: datetime, by: str) -> int:
        """End every open session of the person (a new password); how many were open."""
        return self.s.execute(
            update(WebSessionRecord).where(WebSessionRecord.person_id == person_id,
                                           WebSessionRecord.ended_at.is_(None), WebSessionRecord.expires_at > now)
            .values(ended_at=now, ended_by=by).execution_options(synchronize_session=False)).rowcount

    def forget_sessions(self, person_id: str, expired_before: datetime) -> None:
        """Drop the person's session rows that expired before then (their ending is in the audit chain)."""
        self.s.execute(delete(WebSessionRecord).where(WebSessionRecord.person_id == person_id,
                                                      WebSessionRecord.expires_at < expired_before)
                       .execution_options(synchronize_session=False))
