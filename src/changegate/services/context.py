"""Who is acting, under which policy, at what time: passed to every use case."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ..core.audit import AuditRecord
from ..core.authz import authorize
from ..core.changes.entities import ChangeFacts
from ..core.errors import Forbidden
from ..core.policy.model import Permission, Person, Policy


@dataclass(frozen=True)
class Context:
    policy: Policy
    actor: Person
    now: datetime

    def may(self, permission: Permission, *, change: ChangeFacts | None = None,
            environment: str | None = None) -> bool:
        """Whether the actor may do this, on this change or environment if given (no audit: nothing
        was attempted; e.g. to decide which actions a page offers)."""
        return authorize(self.policy, self.actor, permission, environment=environment, change=change).allowed

    def require(self, permission: Permission, *, change: ChangeFacts | None = None,
                environment: str | None = None, entity: str = "-") -> None:
        """Raise Forbidden (audited as a refused attempt) unless the actor may do this."""
        decision = authorize(self.policy, self.actor, permission, environment=environment, change=change)
        if not decision.allowed:
            err = Forbidden(decision.summary(), reasons=decision.reasons)
            err.audit = AuditRecord(
                actor=self.actor.id, action=f"{permission.value}.refused",
                entity=f"change:{change.ref.removeprefix('CHG-')}" if change else entity,
                detail={"reasons": [r.to_dict() for r in decision.reasons]},
            )
            raise err
