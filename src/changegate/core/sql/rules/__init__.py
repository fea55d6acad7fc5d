"""The lint's rules, registered on import: see base.py for the registry and docs/sql-check.md for the
table of codes. A new rule is a small function decorated with ``@rule(code, severity, verbs=…, engines=…)``
in the module of its code, with its own tests in tests/core/sql/test_rules.py."""

from . import destructive, locks, notes, repeatable  # noqa: F401 - registering the rules
from .base import RULES, Rule, Seen, Subject, apply
from .state import observe

__all__ = ["RULES", "Rule", "Seen", "Subject", "apply", "observe"]
