"""The one authorisation entry point (house rule 7), called by API, web and CLI alike."""

from __future__ import annotations

from .changes.entities import ChangeFacts
from .decisions import Decision, Reason
from .policy.model import Permission, Person, Policy

# Actions the requester of a change may always take on it.
_REQUESTER_MAY = frozenset({Permission.CHANGE_MANAGE, Permission.EVIDENCE_ATTACH})


def permissions_of(policy: Policy, person: Person) -> frozenset[Permission]:
    return frozenset(p for role in person.roles if role in policy.roles for p in policy.roles[role].permissions)


def is_developer(policy: Policy, person: Person) -> bool:
    return any(policy.roles[r].developer for r in person.roles if r in policy.roles)


def authorize(
    policy: Policy,
    person: Person,
    permission: Permission,
    *,
    environment: str | None = None,
    change: ChangeFacts | None = None,
) -> Decision:
    """May ``person`` do ``permission`` (on ``change``, in ``environment``)? With the reason."""
    env_name = environment or (change.environment if change else None)
    is_requester = change is not None and change.requester == person.id
    if permission not in permissions_of(policy, person) and not (is_requester and permission in _REQUESTER_MAY):
        roles = ", ".join(person.roles) or "no role"
        return Decision.deny(Reason("permission_denied", f"{person.id} ({roles}) may not {permission.value}"))
    if permission is Permission.CHANGE_IMPLEMENT:
        return _may_implement(policy, person, env_name)
    if is_requester:
        return _requester_may(policy, person, permission, change, env_name)
    return Decision.allow()


def _may_implement(policy: Policy, person: Person, env_name: str | None) -> Decision:
    """Deploy rights: a known environment, no developer on production, a deployer role."""
    if env_name is None or env_name not in policy.environments:
        return Decision.deny(Reason("unknown_environment", f"unknown environment {env_name!r}"))
    env = policy.environments[env_name]
    if env.production and is_developer(policy, person):
        return Decision.deny(
            Reason("developer_on_production",
                   f"{person.id} holds a developer role: no write access to production environment {env_name}")
        )
    if not set(person.roles) & set(env.deploy):
        return Decision.deny(
            Reason("no_deploy_rights", f"{person.id} holds no role with deploy rights on {env_name} "
                   f"(deployers: {', '.join(env.deploy) or 'none'})")
        )
    return Decision.allow()


def _requester_may(policy: Policy, person: Person, permission: Permission, change: ChangeFacts,
                   env_name: str | None) -> Decision:
    """What the requester of a change may not do to it, whatever their roles."""
    env = policy.environments.get(env_name) if env_name else None
    if permission is Permission.CHANGE_ASSESS and env is not None and env.requires_separation_of_duties:
        return Decision.deny(Reason("separation_of_duties", f"{person.id} requested {change.ref} and may not also "
                                    f"assess it (separation of duties on {env_name})"))
    if permission is Permission.UAT_SIGNOFF:
        return Decision.deny(Reason("own_change", f"{person.id} requested {change.ref} and cannot sign off its UAT"))
    return Decision.allow()
