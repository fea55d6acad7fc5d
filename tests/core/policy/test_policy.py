"""The policy file: the shipped default is valid; every bad input names file, line and dotted field."""

from __future__ import annotations

import pytest

from changegate.core.changes.entities import ReleaseLevel
from changegate.core.errors import PolicyError
from changegate.core.policy.model import Permission, Policy, cross_check
from changegate.services.policy import load_policy, parse_policy
from changegate.settings import DEFAULT_POLICY

# A small valid policy. Line numbers are asserted below; keep them in step with this text.
BASE = """\
version: 1
environments:
  dev:
    write: [developer, admin]
    deploy: [developer, admin]
  prod:
    production: true
    write: [admin]
    deploy: [admin]
roles:
  developer:
    developer: true
    permissions: [change.read, change.create]
  admin:
    permissions: [change.read, change.implement]
  approver:
    permissions: [change.read, change.approve]
people:
  - {id: ann, name: Ann, roles: [developer]}
  - {id: bob, name: Bob, roles: [admin]}
approvals:
  matrix:
    - {release_level: patch, roles: [approver]}
    - {environment: dev, roles: []}
"""
#  1 version            9 prod deploy        17 approver permissions   25 (first line after BASE)
#  2 environments      10 roles              18 people
#  3 dev               11 developer          19 ann
#  4 dev write         12 developer: true    20 bob
#  5 dev deploy        13 developer perms    21 approvals
#  6 prod              14 admin              22 matrix
#  7 production        15 admin permissions  23 rule 0 (patch)
#  8 prod write        16 approver           24 rule 1 (dev)

DECLARED = "(declared roles: admin, approver, developer)"
# A standard change to append after BASE: lines 25-32 (environments on 29, downtime on 31).
TEMPLATE = """\
standard_changes:
  - id: restart
    title: Restart the spooler
    category: software_configuration
    environments: [dev]
    implementation_plan: systemctl restart cups
    estimated_downtime: 5m
    rollback_plan: {script: systemctl restart cups}
"""


def edited(old: str, new: str) -> str:
    assert BASE.count(old) == 1, f"{old!r} must occur once in BASE"
    return BASE.replace(old, new)


def problems_of(text: str, filename: str = "x.yaml") -> tuple[str, ...]:
    with pytest.raises(PolicyError) as exc:
        parse_policy(text, filename)
    assert exc.value.message == f"{filename}: invalid policy"
    assert exc.value.problems, "a refused policy must say why"
    return exc.value.problems


def test_the_base_policy_is_valid():
    policy = parse_policy(BASE, "x.yaml")
    assert set(policy.environments) == {"dev", "prod"}
    assert [p.id for p in policy.people] == ["ann", "bob"]
    assert policy.approvals.matrix[0].release_level is ReleaseLevel.PATCH


# --- the shipped default policy --------------------------------------------------------------


@pytest.fixture(scope="module")
def default() -> Policy:
    return load_policy(DEFAULT_POLICY)


def test_default_policy_is_valid_and_describes_seed_000(default):
    assert list(default.environments) == ["dev", "uat", "prod"]
    assert [name for name, env in default.environments.items() if env.production] == ["prod"]
    assert default.environments["uat"].refresh_max_age_days == 30  # UAT refreshed from PROD < 30 days ago
    assert default.environments["prod"].data == "live"
    assert default.emergency.retroactive_approval_deadline_minutes == 48 * 60
    assert {(r.release_level, r.environment, r.roles) for r in default.approvals.matrix} == {
        (None, "dev", ()),
        (ReleaseLevel.PATCH, None, ("it_manager",)),
        (ReleaseLevel.MINOR, None, ("it_manager", "operations_manager")),
        (ReleaseLevel.MAJOR, None, ("cio", "plant_director")),
    }
    assert cross_check(default) == []


def test_default_policy_gives_developers_no_write_or_deploy_on_production(default):
    developer_roles = {name for name, role in default.roles.items() if role.developer}
    assert developer_roles == {"developer", "release_engineer"}
    prod = default.environments["prod"]
    assert not developer_roles & (set(prod.write) | set(prod.deploy))


def test_default_policy_people_hold_declared_roles_and_can_be_looked_up(default):
    ids = [p.id for p in default.people]
    assert len(ids) == len(set(ids))
    assert all(role in default.roles for p in default.people for role in p.roles)
    assert default.person("ines.itmgr").roles == ("it_manager",)
    assert default.person("nobody") is None
    assert [p.id for p in default.holders("cio")] == ["clara.cio"]
    assert Permission.CHANGE_APPROVE in default.roles["it_manager"].permissions


def test_default_policy_ships_the_label_printer_standard_change(default):
    template = default.template("restart-label-printer-service")
    assert template is not None
    assert template.environments == ("uat", "prod")
    assert template.estimated_downtime_minutes == 5
    assert template.rollback_plan.script == "systemctl restart cups"
    assert default.template("missing") is None


def test_parse_policy_of_the_default_text_equals_load_policy(default):
    assert parse_policy(DEFAULT_POLICY.read_text(encoding="utf-8"), "default.yaml") == default


# --- every bad input: file, line, dotted field ---------------------------------------------

ENUM_PERMISSIONS = (
    "'change.read', 'change.create', 'change.manage', 'change.assess', 'change.approve', 'change.schedule', "
    "'change.implement', 'evidence.attach', 'uat.signoff', 'schedule.override', 'gate.override', 'environment.manage', "
    "'audit.read', 'token.manage' or 'cmdb.manage'"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            BASE + "colour: blue\n",
            ["x.yaml:25: colour: unknown field"],
            id="unknown-top-level-field",
        ),
        pytest.param(
            edited("    production: true\n", "    production: true\n    prodution: true\n"),
            ["x.yaml:8: environments.prod.prodution: unknown field"],
            id="unknown-nested-field",
        ),
        pytest.param(
            edited("{release_level: patch,", "{release_level: huge,"),
            ["x.yaml:23: approvals.matrix.0.release_level: Input should be 'patch', 'minor' or 'major'"],
            id="unknown-release-level",
        ),
        pytest.param(
            edited("[change.read, change.create]", "[change.read, change.fly]"),
            [f"x.yaml:13: roles.developer.permissions.1: Input should be {ENUM_PERMISSIONS}"],
            id="unknown-permission",
        ),
        pytest.param(
            edited("    production: true\n", "    production: maybe\n"),
            ["x.yaml:7: environments.prod.production: Input should be a valid boolean, unable to interpret input"],
            id="not-a-boolean",
        ),
        pytest.param(
            BASE + "emergency:\n  retroactive_approval_deadline: 2 days\n",
            ["x.yaml:26: emergency.retroactive_approval_deadline: '2 days' is not a duration "
             "(write e.g. 30m, 2h, 1h30m, 2d)"],
            id="bad-duration",
        ),
        pytest.param(
            BASE + "emergency:\n  retroactive_approval_deadline: 0m\n",
            ["x.yaml:26: emergency.retroactive_approval_deadline: the deadline must be longer than zero"],
            id="zero-deadline",
        ),
        pytest.param(
            BASE + "version: 2\n",
            ["x.yaml:25: version: duplicate key (first at line 1)"],
            id="duplicate-top-level-key",
        ),
        pytest.param(
            edited("  approver:\n", "  admin:\n"),
            ["x.yaml:16: roles.admin: duplicate key (first at line 14)"],
            id="duplicate-nested-key",
        ),
        pytest.param(
            edited("  - {id: bob,", "  - {id: Bob Smith,"),
            ["x.yaml:20: people.1.id: 'Bob Smith' is not a valid id (lower-case letters, digits, '.', '_', '-')"],
            id="bad-person-id",
        ),
        pytest.param(
            edited("    write: [developer, admin]\n", "    write: [developer, admin, ghost]\n"),
            [f"x.yaml:4: environments.dev.write.2: unknown role 'ghost' {DECLARED}"],
            id="unknown-role-in-environment",
        ),
        pytest.param(
            edited("roles: [admin]}", "roles: [admin, ghost]}"),
            [f"x.yaml:20: people.1.roles.1: unknown role 'ghost' {DECLARED}"],
            id="unknown-role-of-a-person",
        ),
        pytest.param(
            edited("roles: [approver]}", "roles: [cio]}"),
            [f"x.yaml:23: approvals.matrix.0.roles.0: unknown role 'cio' {DECLARED}"],
            id="unknown-role-in-matrix",
        ),
        pytest.param(
            edited("roles: [approver]}", "roles: [approver, approver]}"),
            ["x.yaml:23: approvals.matrix.0.roles: a role is listed twice"],
            id="role-twice-in-matrix-rule",
        ),
        pytest.param(
            edited("{environment: dev,", "{environment: staging,"),
            ["x.yaml:24: approvals.matrix.1.environment: unknown environment 'staging'"],
            id="unknown-environment-in-matrix",
        ),
        pytest.param(
            edited("    write: [admin]\n", "    write: [admin, developer]\n"),
            ["x.yaml:8: environments.prod.write.1: role 'developer' is a developer role and cannot hold write "
             "on production environment 'prod' (0% developer write access to PROD)"],
            id="developer-write-on-production",
        ),
        pytest.param(
            edited("    deploy: [admin]\n", "    deploy: [developer, admin]\n"),
            ["x.yaml:9: environments.prod.deploy.0: role 'developer' is a developer role and cannot hold deploy "
             "on production environment 'prod' (0% developer write access to PROD)"],
            id="developer-deploy-on-production",
        ),
        pytest.param(
            edited("  - {id: bob,", "  - {id: ann,"),
            ["x.yaml:20: people.1.id: duplicate person id 'ann' (first at people.0)"],
            id="duplicate-person-id",
        ),
        pytest.param(
            BASE + "gate:\n  environments:\n    qa: [timing]\n",
            ["x.yaml:27: gate.environments.qa: unknown environment 'qa'"],
            id="unknown-environment-in-gate",
        ),
        pytest.param(
            BASE + TEMPLATE.replace("[dev]", "[dev, staging]"),
            ["x.yaml:29: standard_changes.0.environments.1: unknown environment 'staging'"],
            id="unknown-environment-in-standard-change",
        ),
        pytest.param(
            BASE + TEMPLATE + TEMPLATE.replace("standard_changes:\n", ""),
            ["x.yaml:33: standard_changes.1.id: duplicate template id 'restart'"],
            id="duplicate-standard-change-id",
        ),
        pytest.param(
            BASE + TEMPLATE.replace("estimated_downtime: 5m", "estimated_downtime: soon"),
            ["x.yaml:31: standard_changes.0.estimated_downtime: 'soon' is not a duration "
             "(write e.g. 30m, 2h, 1h30m, 2d)"],
            id="bad-duration-in-standard-change",
        ),
        pytest.param(
            "- just\n- a list\n",
            ["x.yaml:1: (document): the policy must be a mapping of sections"],
            id="not-a-mapping",
        ),
        pytest.param(
            "",
            ["x.yaml:1: environments: required field missing", "x.yaml:1: roles: required field missing"],
            id="empty-file",
        ),
    ],
)
def test_each_bad_input_is_named_by_file_line_and_field(text, expected):
    assert list(problems_of(text)) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            edited("    production: true\n", "    production: true: false\n"),
            "x.yaml:7:21: malformed YAML: mapping values are not allowed here",
            id="mapping-in-a-scalar",
        ),
        pytest.param(
            BASE + "\tcolour: blue\n",
            "x.yaml:25:1: malformed YAML: found character '\\t' that cannot start any token",
            id="tab",
        ),
        pytest.param(
            edited("roles: [developer]}", "roles: [developer]"),
            "x.yaml:20:3: malformed YAML: expected ',' or '}', but got '-'",
            id="unclosed-brace",
        ),
    ],
)
def test_malformed_yaml_is_named_by_line_and_column(text, expected):
    assert problems_of(text) == (expected,)


def test_every_cross_reference_problem_is_reported_at_once():
    text = (
        edited("    deploy: [admin]\n", "    deploy: [admin, developer]\n")
        .replace("  - {id: bob, name: Bob, roles: [admin]}", "  - {id: ann, name: Bob, roles: [admin, ghost]}")
        .replace("{environment: dev,", "{environment: staging,")
    )
    assert problems_of(text) == (
        "x.yaml:9: environments.prod.deploy.1: role 'developer' is a developer role and cannot hold deploy "
        "on production environment 'prod' (0% developer write access to PROD)",
        "x.yaml:20: people.1.id: duplicate person id 'ann' (first at people.0)",
        f"x.yaml:20: people.1.roles.1: unknown role 'ghost' {DECLARED}",
        "x.yaml:24: approvals.matrix.1.environment: unknown environment 'staging'",
    )


def test_a_duration_of_the_wrong_type_names_the_field_not_pydantics_union_member():
    """The dotted field must be a path in the document: no '.str' / '.int' suffix from the str|int union."""
    problems = problems_of(BASE + "emergency:\n  retroactive_approval_deadline: [1, 2]\n")
    for problem in problems:
        assert problem.startswith("x.yaml:26: emergency.retroactive_approval_deadline: "), problem


@pytest.mark.parametrize(
    "value",
    [pytest.param("2026-02-30", id="impossible-date"), pytest.param("!!int soon", id="bad-explicit-int")],
)
def test_a_value_yaml_cannot_construct_is_a_policy_problem_with_its_line_and_field(value):
    problems = problems_of(edited("version: 1\n", f"version: 1\norganization: {value}\n"))
    assert len(problems) == 1
    assert problems[0].startswith("x.yaml:2: organization: ")


def test_a_mapping_key_that_is_not_a_scalar_is_a_policy_problem_not_a_crash():
    problems = problems_of("version: 1\n? [a, b]\n: 1\n")
    assert problems[0].startswith("x.yaml:2: "), problems


def test_a_recursive_alias_is_a_policy_problem_not_a_crash():
    text = "version: 1\nenvironments: &loop\n  dev:\n    write: [*loop]\nroles: {}\n"
    problems = problems_of(text)
    # Named at the alias (line 4) or at the anchor it refers back to (line 2).
    assert problems[0].startswith(("x.yaml:4: ", "x.yaml:2: ")), problems


# --- through the file system ---------------------------------------------------------------


def test_load_policy_reads_a_file_and_names_it_in_problems(tmp_path):
    good = tmp_path / "good.yaml"
    good.write_text(BASE, encoding="utf-8")
    assert load_policy(good) == parse_policy(BASE, "x.yaml")

    bad = tmp_path / "bad.yaml"
    bad.write_text(BASE + "colour: blue\n", encoding="utf-8")
    with pytest.raises(PolicyError) as exc:
        load_policy(bad)
    assert exc.value.problems == (f"{bad}:25: colour: unknown field",)


def test_load_policy_refuses_a_file_that_is_not_utf8_naming_the_line(tmp_path):
    path = tmp_path / "latin1.yaml"
    path.write_bytes(BASE.replace("name: Bob", "name: Zo\u00eb").encode("latin-1"))
    with pytest.raises(PolicyError) as exc:
        load_policy(path)
    assert exc.value.problems == (f"{path}:20: (document): not UTF-8 text (byte 0xeb)",)


def test_load_policy_of_a_missing_file(tmp_path):
    path = tmp_path / "nope.yaml"
    with pytest.raises(PolicyError) as exc:
        load_policy(path)
    assert exc.value.message == f"{path}: policy file not found"
    assert exc.value.to_dict()["error"] == "invalid_policy"


def test_the_cmdb_section_is_optional_and_its_errors_name_the_line():
    from changegate.core.cmdb.policy import DEFAULT_ITEM_TYPES
    from changegate.services.policy import parse_policy

    base = "environments: {prod: {production: true}}\nroles: {r: {}}\napprovals: {matrix: []}\n"
    policy = parse_policy(base, "x.yaml")
    assert policy.cmdb.item_types == DEFAULT_ITEM_TYPES
    assert policy.cmdb.relation_types["depends_on"].impact == "to_source"
    text = base + "cmdb:\n  item_types: [host, line]\n  line_types:\n    - production_line\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "x.yaml")
    assert caught.value.problems == (  # the default service_types is named at the section's line
        "x.yaml:4: cmdb.service_types.0: unknown item type 'service' (item types: host, line)",
        "x.yaml:7: cmdb.line_types.0: unknown item type 'production_line' (item types: host, line)")
    text = base + "cmdb:\n  relation_types:\n    feeds: {impact: upward}\n"
    with pytest.raises(PolicyError) as caught:
        parse_policy(text, "x.yaml")
    assert caught.value.problems[0].startswith("x.yaml:6: cmdb.relation_types.feeds.impact: Input should be")


def test_the_policy_cache_key_covers_the_section_modules_of_every_area():
    """A cached policy pickled by older code must not be reused when a section's model changed: the
    sections kept beside their areas are part of the key (a stale pickle lacked cmdb.risk_floor)."""
    from changegate.services import policy as loader

    names = {(p.parent.name, p.name) for p in loader._CODE}
    assert {("cmdb", "policy.py"), ("schedule", "policy.py"), ("gate", "policy.py"), ("policy", "model.py")} <= names
