"""The ``cmdb:`` section of the policy file: item types, relation types and where impact travels.

``A depends_on B`` means A needs B, so changing B impacts A: impact travels from the relation's
target to its source (``to_source``). ``A part_of B``: changing the part impacts the whole, so
impact travels to the target. ``connects_to`` carries impact both ways.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ..changes.entities import Risk

_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class Criticality(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


CRITICALITY_RANK = {c: i for i, c in enumerate(Criticality)}  # low 0 … critical 3
RISK_ORDER = list(Risk)  # standard < important < urgent < critical


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


Direction = Literal["to_source", "to_target", "both"]


class RelationType(_Strict):
    impact: Direction  # where a change travels along a relation of this type
    description: str = ""


DEFAULT_ITEM_TYPES = ("service", "application", "module", "database", "host", "virtual_machine", "network_device",
                      "site", "production_line", "mes_screen", "label_printer")

DEFAULT_RELATION_TYPES = {
    "depends_on": RelationType(impact="to_source", description="A needs B: changing B impacts A"),
    "runs_on": RelationType(impact="to_source", description="A runs on B: changing B impacts A"),
    "connects_to": RelationType(impact="both", description="A talks to B: changing either impacts the other"),
    "part_of": RelationType(impact="to_target", description="A is part of B: changing A impacts B"),
}


class CmdbPolicy(_Strict):
    item_types: tuple[str, ...] = DEFAULT_ITEM_TYPES
    relation_types: dict[str, RelationType] = Field(default_factory=lambda: dict(DEFAULT_RELATION_TYPES))
    # Which item types the impact summary lists as services and as production lines.
    service_types: tuple[str, ...] = ("service",)
    line_types: tuple[str, ...] = ("production_line",)
    # The lowest risk a change may carry when its impact (its items included) reaches this criticality.
    risk_floor: dict[Criticality, Risk] = Field(default_factory=lambda: {Criticality.CRITICAL: Risk.CRITICAL,
                                                                         Criticality.HIGH: Risk.IMPORTANT})
    # raise: assessing a change raises a risk below the floor to it (the assessment's event says why);
    # report: the floor is only shown beside the change's risk.
    risk_floor_mode: Literal["raise", "report"] = "raise"

    def floor_for(self, highest: str | None) -> Risk | None:
        """The risk floor for an impact whose highest criticality is ``highest`` (the floors of that
        criticality and of every lower one: the highest of them)."""
        if highest is None:
            return None
        rank = CRITICALITY_RANK[Criticality(highest)]
        floors = [risk for crit, risk in self.risk_floor.items() if CRITICALITY_RANK[crit] <= rank]
        return max(floors, key=RISK_ORDER.index, default=None)

    @field_validator("item_types")
    @classmethod
    def _item_types(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for name in v:
            if not _TYPE.match(name):
                raise ValueError(f"{name!r} is not a type name (lower-case letters, digits and '_')")
        if len(set(v)) != len(v):
            raise ValueError("a type is listed twice")
        if not v:
            raise ValueError("list at least one item type")
        return v

    @field_validator("relation_types")
    @classmethod
    def _relation_types(cls, v: dict[str, RelationType]) -> dict[str, RelationType]:
        for name in v:
            if not _TYPE.match(name):
                raise ValueError(f"{name!r} is not a relation type name (lower-case letters, digits and '_')")
        if not v:
            raise ValueError("list at least one relation type")
        return v

    def problems(self) -> list[tuple[tuple[str | int, ...], str]]:
        """Summary types that are not item types, each with its path in the policy file."""
        found = []
        for section in ("service_types", "line_types"):
            for i, name in enumerate(getattr(self, section)):
                if name not in self.item_types:
                    found.append((("cmdb", section, i),
                                  f"unknown item type {name!r} (item types: {', '.join(self.item_types)})"))
        return found
