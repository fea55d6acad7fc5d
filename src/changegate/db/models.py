"""SQLAlchemy models. The same schema serves SQLite and PostgreSQL (Alembic migrations)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    JSON,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC on both engines (SQLite stores naive text otherwise)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; pass an aware UTC datetime")
        from datetime import timezone

        return value.astimezone(timezone.utc)

    def process_result_value(self, value, dialect):
        if value is None:
            return None
        from datetime import timezone

        return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Change(Base):
    __tablename__ = "changes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    type: Mapped[str] = mapped_column(String(20), index=True)
    category: Mapped[str] = mapped_column(String(30))
    release_level: Mapped[str] = mapped_column(String(10))
    risk: Mapped[str] = mapped_column(String(20))
    environment: Mapped[str] = mapped_column(String(64), index=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    requester: Mapped[str] = mapped_column(String(64), index=True)
    template_id: Mapped[str | None] = mapped_column(String(64))
    version_label: Mapped[str | None] = mapped_column(String(64))  # semantic version it ships
    impact_analysis: Mapped[str] = mapped_column(Text, default="")
    implementation_plan: Mapped[str] = mapped_column(Text, default="")
    verification_plan: Mapped[str] = mapped_column(Text, default="")
    readiness_analysis: Mapped[str] = mapped_column(Text, default="")
    risk_analysis: Mapped[str] = mapped_column(Text, default="")
    emergency_plan: Mapped[str] = mapped_column(Text, default="")
    rollback_script: Mapped[str] = mapped_column(Text, default="")
    rollback_interpreter: Mapped[str] = mapped_column(String(64), default="sh")
    planned_start: Mapped[datetime | None] = mapped_column(UTCDateTime())
    estimated_downtime_minutes: Mapped[int | None] = mapped_column(Integer)
    uat_signoff_by: Mapped[str | None] = mapped_column(String(64))
    uat_signoff_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    uat_signoff_note: Mapped[str] = mapped_column(Text, default="")
    implemented_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    retro_approval_due: Mapped[datetime | None] = mapped_column(UTCDateTime())
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Optimistic concurrency: every UPDATE checks and bumps it, so two writers
    # that read the same version cannot both succeed.
    row_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1)

    items: Mapped[list[ChangeItem]] = relationship(
        back_populates="change", cascade="all, delete-orphan", order_by="ChangeItem.position"
    )
    approvals: Mapped[list[Approval]] = relationship(back_populates="change", order_by="Approval.id")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="change", order_by="Evidence.id")
    comments: Mapped[list[Comment]] = relationship(back_populates="change", order_by="Comment.id")

    __mapper_args__ = {"version_id_col": row_version}


class ChangeItem(Base):
    """A configuration item or module a change touches (plain names until the CMDB lands)."""

    __tablename__ = "change_items"

    change_id: Mapped[int] = mapped_column(ForeignKey("changes.id", ondelete="CASCADE"), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, default=0)

    change: Mapped[Change] = relationship(back_populates="items")

    __table_args__ = (Index("ix_change_items_name", "name"),)


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
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Freeze(Base):
    """An ad-hoc freeze added at run time by a change manager (the policy holds the planned ones)."""

    __tablename__ = "freezes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    environments: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = every environment
    items: Mapped[list[str]] = mapped_column(JSON, default=list)  # empty = every item
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    reason: Mapped[str] = mapped_column(Text)
    emergency_override: Mapped[bool] = mapped_column(default=False)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    lifted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


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
