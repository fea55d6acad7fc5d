"""The running product's wiring: settings, database engine, policy, clock."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

from sqlalchemy import Engine
from sqlalchemy.exc import OperationalError

from ..core.errors import ChangegateError, Unauthenticated, Unavailable
from ..core.policy.model import Person, Policy
from ..db.engine import make_engine
from ..db.migrate import Upgraded, current_revision, head_revision, upgrade
from ..db.reads import ReadOnlyUnit
from ..settings import Settings
from .context import Context
from .policy import load_policy


if TYPE_CHECKING:
    from ..db.uow import UnitOfWork


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class NotMigrated(ChangegateError):
    code = "database_not_migrated"


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    policy: Policy
    clock: Callable[[], datetime] = field(default=utcnow)

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> "Runtime":
        policy = load_policy(settings.policy_path(), cache_dir=settings.policy_cache_dir())
        # Only the embedded default (no CHANGEGATE_DATABASE_URL) may create its own data folder.
        default = "database_url" not in settings.model_fields_set
        return cls(settings, make_engine(settings.database_url, create_folder=default), policy, clock)

    def uow(self, *, write: bool = True) -> "UnitOfWork":
        from ..db.uow import UnitOfWork  # the ORM: imported by the commands that use it (issue 13)

        return UnitOfWork(self.engine, write=write, clock=self.clock)

    def reads(self) -> ReadOnlyUnit:
        """A read-only transaction without the ORM, for read-only use cases that need only ``db/reads.py``."""
        return ReadOnlyUnit(self.engine, self.clock)

    def upgrade_schema(self) -> Upgraded:
        self.check_reachable()
        return upgrade(self.engine)

    def check_reachable(self) -> None:
        """A database that cannot be reached or opened is a sentence for the operator, not a traceback."""
        try:
            with self.engine.connect():
                pass
        except OperationalError as exc:
            cause = (str(exc.orig).strip().splitlines() or [type(exc.orig).__name__])[0]
            where = self.engine.url.render_as_string(hide_password=True)
            raise Unavailable(f"cannot open the database {where}: {cause}") from None

    def ensure_schema(self) -> None:
        self.check_reachable()
        current = current_revision(self.engine)
        if current != head_revision():
            raise NotMigrated(
                f"the database schema is at {current or 'nothing'}, not {head_revision()}: "
                "run 'changegate db upgrade'"
            )

    def person(self, person_id: str) -> Person:
        person = self.policy.person(person_id)
        if person is None:
            raise Unauthenticated(f"{person_id!r} is not a person in the policy file")
        return person

    def context(self, person: Person | str) -> Context:
        if isinstance(person, str):
            person = self.person(person)
        return Context(policy=self.policy, actor=person, now=self.clock())

    def close(self) -> None:
        self.engine.dispose()
