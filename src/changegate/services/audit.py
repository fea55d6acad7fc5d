"""Reading and verifying the audit chain."""

from __future__ import annotations

from ..core.audit import ChainVerdict, verify_chain
from ..core.policy import Permission
from ..db.uow import UnitOfWork
from .context import Context


def verify(uow: UnitOfWork, ctx: Context | None = None) -> ChainVerdict:
    """Check every event's link and hash, and that the chain ends at the recorded head.

    ``ctx`` is None for operators on the local database (the CLI), who own the file anyway.
    """
    if ctx is not None:
        ctx.require(Permission.AUDIT_READ, entity="audit")
    last_seq, last_hash = uow.audit.head()
    verdict = verify_chain(uow.audit.iter_chain())
    if not verdict.ok:
        return verdict
    # Deleting the newest events leaves an intact but shorter chain: the head row catches it.
    if verdict.checked != last_seq:
        return ChainVerdict(False, verdict.checked, verdict.checked + 1,
                            f"the chain ends at event {verdict.checked} but the head records {last_seq} events: "
                            f"event {verdict.checked + 1} onwards were removed")
    if verdict.last_hash != last_hash:
        return ChainVerdict(False, verdict.checked, last_seq,
                            f"event {last_seq} was altered: it does not match the recorded head of the chain")
    return verdict
