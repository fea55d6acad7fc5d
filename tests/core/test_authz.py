"""The one authorisation entry point: roles grant permissions; a few rules override them."""

from __future__ import annotations

import pytest

from changegate.core.authz import authorize, is_developer, permissions_of
from changegate.core.changes.entities import Category, ChangeFacts, ChangeType, ReleaseLevel, Risk, State
from changegate.core.policy.model import Permission as P
from changegate.services.policy import parse_policy
from changegate.settings import DEFAULT_POLICY

DEFAULT_TEXT = DEFAULT_POLICY.read_text(encoding="utf-8")
# The default policy plus Riley, who holds a developer role *and* a role with deploy rights on PROD.
POLICY = parse_policy(
    DEFAULT_TEXT.replace(
        "people:\n",
        "people:\n  - {id: riley.both, name: Riley, roles: [developer, system_administrator]}\n",
        1,
    ),
    "policy.yaml",
)


def person(person_id: str):
    found = POLICY.person(person_id)
    assert found is not None, person_id
    return found


def change(requester: str = "dana.dev", environment: str = "prod") -> ChangeFacts:
    return ChangeFacts(
        ref="CHG-3", type=ChangeType.NORMAL, category=Category.APPLICATION, release_level=ReleaseLevel.PATCH,
        risk=Risk.STANDARD, environment=environment, state=State.SCHEDULED, requester=requester,
    )


def verdict(person_id: str, permission: P, **kwargs) -> tuple[bool, list[str]]:
    decision = authorize(POLICY, person(person_id), permission, **kwargs)
    return decision.allowed, [r.code for r in decision.reasons]


def test_riley_holds_both_roles_in_the_policy_under_test():
    riley = person("riley.both")
    assert riley.roles == ("developer", "system_administrator")
    assert is_developer(POLICY, riley)
    assert "system_administrator" in POLICY.environments["prod"].deploy


@pytest.mark.parametrize(
    ("person_id", "permission", "allowed"),
    [
        ("dana.dev", P.CHANGE_CREATE, True),
        ("dana.dev", P.EVIDENCE_ATTACH, True),
        ("dana.dev", P.CHANGE_APPROVE, False),
        ("dana.dev", P.CHANGE_ASSESS, False),
        ("dana.dev", P.AUDIT_READ, False),
        ("ines.itmgr", P.CHANGE_APPROVE, True),
        ("ines.itmgr", P.CHANGE_CREATE, False),
        ("chris.change", P.CHANGE_ASSESS, True),
        ("chris.change", P.CHANGE_SCHEDULE, True),
        ("chris.change", P.SCHEDULE_OVERRIDE, True),
        ("chris.change", P.CHANGE_APPROVE, False),
        ("cab.carla", P.CHANGE_APPROVE, True),
        ("audrey.audit", P.AUDIT_READ, True),
        ("audrey.audit", P.CHANGE_CREATE, False),
        ("kim.keyuser", P.UAT_SIGNOFF, True),
        ("sam.sysadmin", P.UAT_SIGNOFF, False),
    ],
    ids=str,
)
def test_permissions_come_from_roles(person_id, permission, allowed):
    assert verdict(person_id, permission) == (allowed, [] if allowed else ["permission_denied"])


def test_a_refusal_names_the_person_their_roles_and_the_permission():
    decision = authorize(POLICY, person("dana.dev"), P.CHANGE_APPROVE)
    assert decision.summary() == "dana.dev (developer) may not change.approve"


def test_permissions_of_a_person_with_two_roles_are_the_union():
    assert permissions_of(POLICY, person("riley.both")) == frozenset(
        POLICY.roles["developer"].permissions + POLICY.roles["system_administrator"].permissions
    )


@pytest.mark.parametrize("permission", [P.CHANGE_MANAGE, P.EVIDENCE_ATTACH], ids=str)
def test_the_requester_may_manage_their_own_change_and_attach_evidence_to_it(permission):
    # Ines's roles grant neither; being the requester does, on her change only.
    assert verdict("ines.itmgr", permission, change=change(requester="ines.itmgr")) == (True, [])
    assert verdict("ines.itmgr", permission, change=change(requester="dana.dev")) == (False, ["permission_denied"])
    assert verdict("ines.itmgr", permission) == (False, ["permission_denied"])


@pytest.mark.parametrize("permission", [P.CHANGE_ASSESS, P.CHANGE_SCHEDULE, P.CHANGE_IMPLEMENT, P.UAT_SIGNOFF],
                         ids=str)
def test_being_the_requester_grants_nothing_else(permission):
    assert verdict("dana.dev", permission, change=change(requester="dana.dev", environment="dev")) == (
        False, ["permission_denied"]
    )


# --- implement: deploy rights on the environment, never a developer on production ---------------


@pytest.mark.parametrize(
    ("person_id", "environment", "allowed", "code"),
    [
        ("sam.sysadmin", "dev", True, None),
        ("sam.sysadmin", "uat", True, None),
        ("sam.sysadmin", "prod", True, None),
        ("ci-pipeline", "prod", True, None),
        ("rene.release", "dev", True, None),
        ("rene.release", "uat", True, None),
        ("rene.release", "prod", False, "developer_on_production"),  # has change.implement, is a developer
        ("riley.both", "dev", True, None),
        ("riley.both", "uat", True, None),
        ("riley.both", "prod", False, "developer_on_production"),  # sysadmin's deploy rights do not help
        ("dana.dev", "dev", False, "permission_denied"),  # developer role lacks change.implement
        ("chris.change", "prod", False, "permission_denied"),
        ("sam.sysadmin", "staging", False, "unknown_environment"),
    ],
    ids=str,
)
def test_implement_needs_the_permission_and_deploy_rights_and_no_developer_role_on_production(
    person_id, environment, allowed, code
):
    expected = (allowed, [] if allowed else [code])
    assert verdict(person_id, P.CHANGE_IMPLEMENT, environment=environment) == expected
    # The environment may come from the change instead.
    assert verdict(person_id, P.CHANGE_IMPLEMENT, change=change(environment=environment)) == expected


def test_a_developer_is_refused_on_production_with_a_sentence_saying_why():
    decision = authorize(POLICY, person("riley.both"), P.CHANGE_IMPLEMENT, environment="prod")
    assert decision.summary() == (
        "riley.both holds a developer role: no write access to production environment prod"
    )


def test_implement_without_any_environment_is_refused():
    assert verdict("sam.sysadmin", P.CHANGE_IMPLEMENT) == (False, ["unknown_environment"])


def test_implement_needs_a_role_listed_as_deployer_of_that_environment():
    # A policy where the sysadmin role may implement but only the pipeline deploys to UAT.
    text = DEFAULT_TEXT.replace(
        "deploy: [system_administrator, release_engineer, pipeline]", "deploy: [pipeline]"
    )
    policy = parse_policy(text, "p.yaml")
    decision = authorize(policy, policy.person("sam.sysadmin"), P.CHANGE_IMPLEMENT, environment="uat")
    assert [r.code for r in decision.reasons] == ["no_deploy_rights"]
    assert decision.summary() == "sam.sysadmin holds no role with deploy rights on uat (deployers: pipeline)"


def test_an_explicit_environment_wins_over_the_changes():
    assert verdict("riley.both", P.CHANGE_IMPLEMENT, environment="dev", change=change(environment="prod")) == (
        True, []
    )


# --- UAT sign-off ------------------------------------------------------------------------------


def test_uat_sign_off_is_refused_on_ones_own_change():
    assert verdict("kim.keyuser", P.UAT_SIGNOFF, change=change(requester="dana.dev")) == (True, [])
    decision = authorize(POLICY, person("kim.keyuser"), P.UAT_SIGNOFF, change=change(requester="kim.keyuser"))
    assert [r.code for r in decision.reasons] == ["own_change"]
    assert decision.summary() == "kim.keyuser requested CHG-3 and cannot sign off its UAT"


def test_separation_of_duties_the_requester_never_assesses_their_own_production_change():
    allowed, codes = verdict("chris.change", P.CHANGE_ASSESS, change=change(requester="chris.change"))
    assert (allowed, codes) == (False, ["separation_of_duties"])
    decision = authorize(POLICY, person("chris.change"), P.CHANGE_ASSESS, change=change(requester="chris.change"))
    assert decision.summary() == "chris.change requested CHG-3 and may not also assess it (separation of duties on prod)"
    assert verdict("chris.change", P.CHANGE_ASSESS, change=change(requester="dana.dev")) == (True, [])
    # Off by default outside production, and a policy switch either way.
    assert verdict("chris.change", P.CHANGE_ASSESS, change=change("chris.change", environment="uat")) == (True, [])
    strict = parse_policy(DEFAULT_TEXT.replace("    refresh_max_age_days: 30",
                                               "    separation_of_duties: true\n    refresh_max_age_days: 30"), "p.yaml")
    assert not authorize(strict, strict.person("chris.change"), P.CHANGE_ASSESS,
                         change=change("chris.change", environment="uat")).allowed
    lax = parse_policy(DEFAULT_TEXT.replace("separation_of_duties: true", "separation_of_duties: false"), "p.yaml")
    assert authorize(lax, lax.person("chris.change"), P.CHANGE_ASSESS, change=change("chris.change")).allowed
