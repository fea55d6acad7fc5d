"""The API's kept views (issue 13's read model): per process, validated on every request.

A GET of a change is answered from bytes kept in memory when one primary-key read finds the read
version (models.ReadVersion) unchanged since they were read: every committed write moves it in its own
transaction (db/uow.py), in any process on the same database, so the very next request after a write,
a token revocation or an edit through another server process reads afresh. Nothing is served on trust
of time: a token's expiry and the caller's permission are checked on every request, a view whose
content depends on the clock (an emergency awaiting retroactive approval) is kept only until the instant
it would change, and a scheduled change's view (its slot is judged against "now") is never kept.

Kept under the version they were read at, in the same statement (``ChangeRepository.view``), so a
view is never kept under a newer version than its data. The gate's decision events change no record
and do not move the version (``GroupCommit``), so deciding does not spoil what is kept.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from ..core.authz import authorize
from ..core.changes.entities import ChangeFacts, ChangeType, State
from ..core.errors import ChangegateError
from ..core.policy.model import Permission, Person, Policy
from ..db.read_version import ReadVersionProbe
from .lookup import parse_ref
from .tokens import check_token, token_hash

KEPT_CHANGES = 4096  # per process; a change's JSON is a few kilobytes
KEPT_TOKENS = 1024


@dataclass(frozen=True, slots=True)
class KeptChange:
    version: int
    body: bytes  # the ChangeOut as JSON, for any caller who may read the change
    facts: ChangeFacts  # what authorisation reads of the change
    until: datetime | None  # kept only before this instant (None: no dependence on the clock)


@dataclass(frozen=True, slots=True)
class KeptGate:
    version: int
    change: object  # the change view record (ChangeRepository.view), read-only
    facts: ChangeFacts
    reads: object  # GateReads for any slot from read_from on (GateReads.narrowed)
    read_from: datetime


class ReadModel:
    """One per engine (database) and process; entries are for one policy (the runtime's)."""

    def __init__(self, engine: Engine):
        self._engine = weakref.ref(engine)  # kept per engine in a weak mapping: no strong reference back
        self.probe = ReadVersionProbe(engine)
        self._policy: Policy | None = None
        self._tokens: OrderedDict[str, tuple[int, object]] = OrderedDict()
        self._changes: OrderedDict[int, KeptChange] = OrderedDict()
        self._gates: OrderedDict[int, KeptGate] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def engine(self) -> Engine:
        return self._engine()

    async def version(self) -> int | None:
        """The read version now (one primary-key read; on PostgreSQL shared by concurrent requests)."""
        return await self.probe.current_async()

    def gate_facts(self, version: int | None, policy: Policy, secret: str, ref: str, now: datetime
                   ) -> tuple[Person, object, ChangeFacts, KeptGate] | None:
        """The caller and what the gate reads of the change, if kept under ``version`` (the current one,
        from ``version()``); None to read afresh."""
        found = self._caller(version, policy, secret, ref, now)
        if found is None:
            return None
        person, change_id = found
        kept = self._gates.get(change_id)
        if kept is None or kept.version != version:
            return None
        return person, kept.change, kept.facts, kept

    def keep_gate(self, policy: Policy, version: int | None, secret: str, token, change, facts: ChangeFacts,
                  reads, read_from: datetime) -> None:
        if version is None:
            return
        with self._lock:
            self._start(policy)
            _put(self._tokens, token_hash(secret), (version, token), KEPT_TOKENS)
            _put(self._gates, change.id, KeptGate(version, change, facts, reads, read_from), KEPT_CHANGES)

    def _caller(self, version: int | None, policy: Policy, secret: str, ref: str, now: datetime
                ) -> tuple[Person, int] | None:
        """The kept caller and the change's id, when both can be answered from what is kept under ``version``."""
        if policy is not self._policy or version is None:
            return None
        person = self._person(version, secret, policy, now)
        if person is None:
            return None
        try:
            return person, parse_ref(ref)
        except ChangegateError:
            return None

    def _start(self, policy: Policy) -> None:
        """Entries are for one policy: another one (a test's second runtime on this engine) starts afresh."""
        if policy is not self._policy:
            self._policy, self._tokens, self._changes, self._gates = policy, OrderedDict(), OrderedDict(), OrderedDict()

    def change_json(self, version: int | None, policy: Policy, secret: str, ref: str, now: datetime
                    ) -> bytes | None:
        """The change's JSON for this caller if it is kept under ``version`` (the current one, from
        ``version()``); None to read afresh (also for every refusal but an expired token, so that
        refusals are reported and audited as usual)."""
        found = self._caller(version, policy, secret, ref, now)
        if found is None:
            return None
        person, change_id = found
        kept = self._changes.get(change_id)
        if kept is None or kept.version != version or (kept.until is not None and now >= kept.until):
            return None
        if not authorize(policy, person, Permission.CHANGE_READ, change=kept.facts).allowed:
            return None
        return kept.body

    def _person(self, version: int, secret: str, policy: Policy, now: datetime) -> Person | None:
        hit = self._tokens.get(token_hash(secret))
        if hit is None or hit[0] != version:
            return None
        return check_token(hit[1], policy, now)  # expiry and the policy's people: checked on every request

    def keep(self, policy: Policy, version: int | None, secret: str, token, change_id: int, body: bytes,
             facts: ChangeFacts, now: datetime) -> None:
        """Keep what a fresh read found under the version read with it (None: the database has none)."""
        if version is None:
            return
        kept_while = keep_until(facts, now)
        with self._lock:
            self._start(policy)
            _put(self._tokens, token_hash(secret), (version, token), KEPT_TOKENS)
            if kept_while is not False:
                _put(self._changes, change_id, KeptChange(version, body, facts, kept_while), KEPT_CHANGES)


def keep_until(facts: ChangeFacts, now: datetime) -> datetime | None | bool:
    """Until when a change's view may be kept: False never, None without a limit, else that instant."""
    if facts.state is State.SCHEDULED and facts.planned_start is not None:
        return False  # its slot problems are judged against "now" (blackouts, lead time)
    due = facts.retro_approval_due
    if facts.type is ChangeType.EMERGENCY and due is not None and now <= due:
        return due  # an emergency still awaiting retroactive approval turns overdue then
    return None


def _put(entries: OrderedDict, key, value, size: int) -> None:
    entries[key] = value
    entries.move_to_end(key)
    while len(entries) > size:
        entries.popitem(last=False)


_models: "weakref.WeakKeyDictionary[Engine, ReadModel]" = weakref.WeakKeyDictionary()
_models_guard = threading.Lock()


def read_model(engine: Engine) -> ReadModel:
    with _models_guard:
        found = _models.get(engine)
        if found is None:
            found = _models[engine] = ReadModel(engine)
        return found
