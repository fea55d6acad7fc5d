"""Notes for approvers: what the lint cannot judge."""

from __future__ import annotations

from ..script import INFO
from .base import Subject, rule


@rule("opaque_block", INFO, verbs={"do"}, engines=("postgresql",))
def do_block(s: Subject):
    body = " ".join(t.value for t in s.toks if t.kind in ("dollar", "string")).lower()
    extra = " and builds SQL at run time (EXECUTE)" if "execute" in body else ""
    yield (f"DO block is not linted statically{extra}; the run-twice and rollback tests cover what it does"), None
