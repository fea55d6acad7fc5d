"""SQLAlchemy models. The same schema serves SQLite and PostgreSQL (Alembic migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    JSON,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# The tables that Core-only readers use (db/reads.py) are defined in tables.py and mapped here: one schema,
# one metadata. NAMING and UTCDateTime are re-exported for the modules that import them from here.
from .tables import NAMING, UTCDateTime, change_items, changes, freezes, metadata  # noqa: F401


class Base(DeclarativeBase):
    metadata = metadata


class Change(Base):
    __table__ = changes  # columns in tables.py

    id: Mapped[int]
    title: Mapped[str]
    description: Mapped[str]
    type: Mapped[str]
    category: Mapped[str]
    release_level: Mapped[str]
    risk: Mapped[str]
    environment: Mapped[str]
    state: Mapped[str]
    requester: Mapped[str]
    template_id: Mapped[str | None]
    version_label: Mapped[str | None]
    impact_analysis: Mapped[str]
    implementation_plan: Mapped[str]
    verification_plan: Mapped[str]
    readiness_analysis: Mapped[str]
    risk_analysis: Mapped[str]
    emergency_plan: Mapped[str]
    rollback_script: Mapped[str]
    rollback_interpreter: Mapped[str]
    planned_start: Mapped[datetime | None]
    estimated_downtime_minutes: Mapped[int | None]
    uat_signoff_by: Mapped[str | None]
    uat_signoff_at: Mapped[datetime | None]
    uat_signoff_note: Mapped[str]
    implemented_at: Mapped[datetime | None]
    retro_approval_due: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    row_version: Mapped[int]

    items: Mapped[list[ChangeItem]] = relationship(
        back_populates="change", cascade="all, delete-orphan", order_by="ChangeItem.position"
    )
    approvals: Mapped[list[Approval]] = relationship(back_populates="change", order_by="Approval.id")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="change", order_by="Evidence.id")
    comments: Mapped[list[Comment]] = relationship(back_populates="change", order_by="Comment.id")

    __mapper_args__ = {"version_id_col": changes.c.row_version}


class ChangeItem(Base):
    """A configuration item or module a change touches (plain names until the CMDB lands)."""

    __table__ = change_items  # columns in tables.py

    change_id: Mapped[int]
    name: Mapped[str]
    position: Mapped[int]

    change: Mapped[Change] = relationship(back_populates="items")


class Approval(Base):
    __tablename__ = "approvals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(10))
    reason: Mapped[str] = mapped_column(Text, default="")
    retroactive: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    change: Mapped[Change] = relationship(back_populates="approvals")

    # The database backs the rules: one decision per person, one per role slot.
    __table_args__ = (
        UniqueConstraint("change_id", "approver", name="uq_approvals_change_approver"),
        UniqueConstraint("change_id", "role", name="uq_approvals_change_role"),
    )


class Evidence(Base):
    __tablename__ = "evidence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # test_log, screenshot, sql_check, ...
    filename: Mapped[str] = mapped_column(String(255))
    media_type: Mapped[str] = mapped_column(String(127))
    size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    description: Mapped[str] = mapped_column(Text, default="")
    uploaded_by: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime())

    change: Mapped[Change] = relationship(back_populates="evidence")


class EvidenceBlob(Base):
    """Evidence content, apart from its metadata so listings never load it."""

    __tablename__ = "evidence_blobs"

    evidence_id: Mapped[int] = mapped_column(ForeignKey("evidence.id", ondelete="CASCADE"), primary_key=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)


class Comment(Base):
    __tablename__ = "comments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    author: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())

    change: Mapped[Change] = relationship(back_populates="comments")


class AuditEvent(Base):
    """Append-only, hash-chained. Text columns are hashed exactly as stored."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))  # ISO 8601 UTC, microseconds
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64), index=True)
    entity: Mapped[str] = mapped_column(String(100), index=True)  # "change:12", "token:3", "policy"
    before: Mapped[str] = mapped_column(Text)  # canonical JSON
    after: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text)  # canonical JSON: reason, refusal reasons, ...
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """One row: the chain's tip. Locking it serialises appenders so the chain never forks."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    last_hash: Mapped[str] = mapped_column(String(64))


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16))  # shown in listings, never the secret
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the secret
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_by: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Freeze(Base):
    """An ad-hoc freeze added at run time by a change manager (the policy holds the planned ones)."""

    __table__ = freezes  # columns in tables.py

    id: Mapped[int]
    name: Mapped[str]
    environments: Mapped[list[str]]
    items: Mapped[list[str]]
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    reason: Mapped[str]
    emergency_override: Mapped[bool]
    created_by: Mapped[str]
    created_at: Mapped[datetime]
    lifted_at: Mapped[datetime | None]


class EnvironmentFact(Base):
    """Operational facts about an environment, e.g. when UAT data was last refreshed from PROD."""

    __tablename__ = "environment_facts"

    environment: Mapped[str] = mapped_column(String(64), primary_key=True)
    data_refreshed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    refreshed_by: Mapped[str | None] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class ConflictAcceptance(Base):
    """A change manager accepted that two scheduled changes overlap on shared items, with a reason."""

    __tablename__ = "conflict_acceptances"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    other_change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    accepted_by: Mapped[str] = mapped_column(String(64))
    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("change_id", "other_change_id", name="uq_conflict_acceptances_pair"),)


class WebCredential(Base):
    """A person's web sign-in: the argon2 hash of the password, failed attempts and lock-out, and a
    pending one-time set-password link (only its SHA-256 is kept)."""

    __tablename__ = "web_credentials"

    person_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    password_set_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    failed_attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    link_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    link_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())


class WebSecret(Base):
    """A secret every server process must share, generated once (the session cookie's signing key)."""

    __tablename__ = "web_secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())


# --- deployment runs (runner; docs/runner.md) ----------------------------------------------------------


class DeploymentPlan(Base):
    """A deployment plan attached to a change; the newest one is the change's plan."""

    __tablename__ = "deployment_plans"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    text: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    attached_by: Mapped[str] = mapped_column(String(64))
    attached_at: Mapped[datetime] = mapped_column(UTCDateTime())


class DeploymentRun(Base):
    """One deployment of a change: its state, the plan it runs, the worker's lease and what was measured."""

    __tablename__ = "deployment_runs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    environment: Mapped[str] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(20), index=True)
    plan_filename: Mapped[str] = mapped_column(String(255))
    plan_text: Mapped[str] = mapped_column(Text)
    plan_sha256: Mapped[str] = mapped_column(String(64))
    artifact_sha256: Mapped[str | None] = mapped_column(String(64), index=True)  # the build it ships (promotion)
    rehearsal: Mapped[bool] = mapped_column(default=False)  # a rollback rehearsal: its result is gate evidence
    actor: Mapped[str] = mapped_column(String(64))  # who asked for it; the change's actions are taken in their name
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deploy_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    deploy_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    checks_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    monitor_until: Mapped[datetime | None] = mapped_column(UTCDateTime())  # early-life monitoring's end
    check_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rollback_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rollback_ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rollback_over_limit: Mapped[bool | None] = mapped_column()
    downtime_seconds: Mapped[float | None] = mapped_column(Float)
    estimated_downtime_minutes: Mapped[int | None] = mapped_column(Integer)
    outcome: Mapped[str] = mapped_column(Text, default="")
    notes: Mapped[list[str]] = mapped_column(JSON, default=list)  # what takeovers and people did
    # Unexpected errors of the workers that drove it; at services/runs_worker.py's limit the run ends failed.
    worker_errors: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    steps: Mapped[list[RunStep]] = relationship(back_populates="run", order_by="RunStep.id")


class RunStep(Base):
    """One step of a run (protect, baseline, deploy step, check, rollback, cleanup), written as it happens."""

    __tablename__ = "run_steps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("deployment_runs.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(120))  # "steps.2", "checks.smoke.health": the plan's path
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(20))  # running, waiting, succeeded, failed, interrupted
    attempt: Mapped[int] = mapped_column(Integer, default=1)
    exit_status: Mapped[int | None] = mapped_column(Integer)
    output: Mapped[str] = mapped_column(Text, default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)  # samples, a check's verdict, who confirmed
    worker: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    run: Mapped[DeploymentRun] = relationship(back_populates="steps")

    __table_args__ = (UniqueConstraint("run_id", "key", name="uq_run_steps_run_key"),)


class CmdbItem(Base):
    """A configuration item (issue 15): its type is one of the policy's ``cmdb.item_types``."""

    __tablename__ = "cmdb_items"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    type: Mapped[str] = mapped_column(String(64), index=True)
    owner: Mapped[str] = mapped_column(String(200), default="")  # the owning team
    environment: Mapped[str] = mapped_column(String(64), default="")
    criticality: Mapped[str] = mapped_column(String(16), default="medium")
    description: Mapped[str] = mapped_column(Text, default="")
    attributes: Mapped[dict] = mapped_column(JSON, default=dict)


class CmdbRelation(Base):
    """``source`` ``type`` ``target``, e.g. mes-core depends_on db-mes-prod."""

    __tablename__ = "cmdb_relations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("cmdb_items.id", ondelete="CASCADE"))
    target_id: Mapped[int] = mapped_column(ForeignKey("cmdb_items.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(64))

    __table_args__ = (UniqueConstraint("source_id", "target_id", "type", name="uq_cmdb_relations_triple"),)


class CmdbState(Base):
    """One row: the generation every CMDB write bumps in its own transaction. Each process keeps its
    graph index with the generation it was built at and rebuilds when the stored one moved."""

    __tablename__ = "cmdb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, default=0)


class CmdbCuration(Base):
    """A person's decision on one item of a change's computed impact: confirmed or excluded, and why.
    The newest decision per item is kept here; every one is in the audit chain."""

    __tablename__ = "cmdb_curations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(String(200))
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | excluded
    reason: Mapped[str] = mapped_column(Text)
    curated_by: Mapped[str] = mapped_column(String(64))
    curated_at: Mapped[datetime] = mapped_column(UTCDateTime())

    __table_args__ = (UniqueConstraint("change_id", "item", name="uq_cmdb_curations_change_item"),)


class BackgroundJob(Base):
    """Long work started through the API and carried out by a worker (changegate.jobs): a SQL check, an
    audit verification. Its state, progress and result are polled at ``GET /api/v1/jobs/{id}``; the lease
    (as a run's) says which worker carries it out."""

    __tablename__ = "background_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))  # sql_check | audit_verify
    state: Mapped[str] = mapped_column(String(20), index=True)  # queued | running | succeeded | failed
    actor: Mapped[str] = mapped_column(String(64))  # who started it; the work is done in their name
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    progress: Mapped[dict] = mapped_column(JSON, default=dict)  # {"phase": ..., "done": n, "total": m}
    result: Mapped[dict | None] = mapped_column(JSON)
    error: Mapped[dict | None] = mapped_column(JSON)  # {"code", "message", "reasons"}, as the API's errors
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CmdbWrite(Base):
    """The CMDB's write log, as the graph index needs it: each write transaction records here what it
    changed under the generation it bumped to, so a process's index catches up by merging the writes since
    its own generation instead of reading the whole CMDB (services/cmdb.py). Old generations are trimmed."""

    __tablename__ = "cmdb_writes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, index=True)
    op: Mapped[str] = mapped_column(String(16))  # item | item_deleted | relation | relation_deleted | none | rebuild
    a: Mapped[int] = mapped_column(BigInteger, default=0)  # the item's id, or the relation's source id
    b: Mapped[int] = mapped_column(BigInteger, default=0)  # the relation's target id
    kind: Mapped[str] = mapped_column(String(64), default="")  # the item's type, or the relation's type
    criticality: Mapped[str] = mapped_column(String(16), default="")


class ReadVersion(Base):
    """One row: a number every committed write of changegate's records moves (``UnitOfWork`` bumps it in
    the writing transaction itself); writes no kept view shows leave it (gate decisions, refusals, a change's
    creation alone: docs/architecture.md, "Kept views"). A process
    keeps views (a change's JSON, a token's holder, the gate's facts) under the number they were read at
    and serves them while one primary-key read still finds it unchanged (services/read_model.py)."""

    __tablename__ = "read_versions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, default=0)


class WebSessionRecord(Base):
    """A signed-in web session (issue 16): the cookie carries a random secret, only its SHA-256 is kept.
    Every page checks the row, so ending it (sign-out, a new password, a token manager) holds at once."""

    __tablename__ = "web_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True)
    person_id: Mapped[str] = mapped_column(String(64), index=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime())
    address: Mapped[str] = mapped_column(String(64), default="")  # the client's address at sign-in
    user_agent: Mapped[str] = mapped_column(String(255), default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_by: Mapped[str | None] = mapped_column(String(64))
