"""Web sign-in: password credentials and the secrets the server processes share."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from ..models import WebCredential, WebSecret
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
