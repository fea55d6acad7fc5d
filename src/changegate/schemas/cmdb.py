"""Boundary models of the configuration management database (issue 15)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints

from ..core.cmdb.policy import Criticality
from .common import AwareDatetime, Line, Out, Reason, Strict, Text

ItemName = Line(200)
TypeName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]{0,63}$")]
Scalar = str | int | float | bool | None
Attributes = dict[Annotated[str, StringConstraints(min_length=1, max_length=100)], Scalar]


class ItemIn(Strict):
    name: ItemName
    type: TypeName
    owner: Line(200) | None = Field(default=None, description="the owning team")
    environment: Line(64) | None = None
    criticality: Criticality = Criticality.MEDIUM
    description: Annotated[Text, StringConstraints(max_length=10_000)] = ""
    attributes: Attributes = Field(default_factory=dict, max_length=200)


class ItemUpdate(Strict):
    """Fields to change; absent fields stay as they are."""

    type: TypeName | None = None
    owner: Line(200) | None = None
    environment: Line(64) | None = None
    criticality: Criticality | None = None
    description: Annotated[Text, StringConstraints(max_length=10_000)] | None = None
    attributes: Attributes | None = Field(default=None, max_length=200)


class ItemOut(Out):
    id: int
    name: str
    type: str
    owner: str
    environment: str
    criticality: str
    description: str
    attributes: dict[str, Any]


class ItemPage(Out):
    items: list[ItemOut]
    total: int
    limit: int
    offset: int


class RelationIn(Strict):
    source: ItemName
    target: ItemName
    type: TypeName


class RelationOut(Out):
    id: int
    source: str
    target: str
    type: str


class RelationPage(Out):
    items: list[RelationOut]
    total: int
    limit: int
    offset: int


class ImpactQuery(Strict):
    items: list[ItemName] = Field(min_length=1, max_length=1000)
    types: list[TypeName] = Field(default_factory=list, max_length=20, description="relation types to follow; "
                                                                                   "empty: all")
    depth: int | None = Field(default=None, ge=1, le=1000, description="follow at most this many relations")
    limit: int = Field(default=200, ge=0, le=10_000, description="impacted items listed (all are counted)")


class ImpactedOut(Out):
    name: str
    type: str
    criticality: str
    distance: int
    path: list[str] = Field(description="from this item back to a touched item")
    relations: list[str] = Field(description="the relation type of each step of the path")
    explanation: str = Field(description="e.g. 'line-3 ← mes-screen-packing ← mes-core ← db-mes-prod'")
    curation: Literal["confirmed", "excluded"] | None = Field(default=None, description="a change's curation")


class CurationIn(Strict):
    item: ItemName
    decision: Literal["confirmed", "excluded"]
    reason: Reason(required=True)


class CurationOut(Out):
    item: str
    decision: str
    reason: str
    by: str
    at: AwareDatetime
    computed: bool = Field(description="whether the item is in the computed impact now")


class RiskOut(Out):
    """What the policy's ``cmdb.risk_floor`` asks of a change, given the highest criticality its impact reaches."""

    change_risk: str
    floor: str | None = Field(description="the lowest risk the policy accepts for this impact; None: no floor")
    below_floor: bool
    why: str


class ImpactOut(Out):
    touched: list[str]
    unknown: list[str] = Field(default_factory=list, description="a change's items that are not in the CMDB")
    impacted: list[ImpactedOut]
    total: int = Field(description="how many items are impacted (the touched ones not counted)")
    truncated: bool
    services: list[str]
    production_lines: list[str]
    highest_criticality: str | None
    highest_because: str | None = Field(default=None, description="the nearest item of that criticality and "
                                                                   "its path, e.g. 'line-3 ← mes-core ← db'")
    types: list[str]
    depth: int | None
    curations: list[CurationOut] = Field(default_factory=list, description="a change's: the requester's "
                                                                             "decisions on its impact")
    curated_total: int | None = Field(default=None, description="a change's: impacted items less the excluded")
    risk: RiskOut | None = Field(default=None, description="a change's: its risk against the policy's floor")


class ImpactSummaryOut(Out):
    """A change's impact in its own JSON: the counts and what matters to an approver; the items and their paths
    are in ``change impact`` (``GET /changes/{ref}/impact``)."""

    computed: int = Field(description="items the change's items impact, transitively (the touched not counted)")
    curated: int = Field(description="the computed ones less those the requester excluded")
    excluded: list[str] = Field(description="the items excluded by curation, still in the computed impact")
    highest_criticality: str | None = Field(description="among the touched and the impacted items")
    highest_because: str | None
    services: list[str]
    production_lines: list[str]
    unknown: list[str] = Field(description="the change's items that are not in the CMDB")
    risk: RiskOut


class ImportOut(Out):
    applied: bool
    items_created: int
    items_updated: int
    items_unchanged: int
    relations_created: int
    relations_unchanged: int
    rejected: int = Field(description="rows not applied because of a problem")
    problems: list[str]
    message: str
