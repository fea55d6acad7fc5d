"""Operational facts about environments (e.g. UAT's last data refresh)."""

from __future__ import annotations

from ..models import EnvironmentFact
from .base import Repository


class EnvironmentFactRepository(Repository[EnvironmentFact]):
    model = EnvironmentFact

    def upsert(self, environment: str) -> EnvironmentFact:
        fact = self.get(environment)
        if fact is None:
            fact = EnvironmentFact(environment=environment)
            self.s.add(fact)
        return fact
