from __future__ import annotations

from typing import Annotated, Literal

from pydantic import StringConstraints

from .common import Strict, Text

ScriptName = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^[^/\\\x00-\x1f]+$")]


class ScriptIn(Strict):
    name: ScriptName
    text: Annotated[Text, StringConstraints(max_length=10_000_000)]


class SqlCheckIn(Strict):
    engine: Literal["postgresql", "sqlite"]
    schema_sql: ScriptIn
    deploy: ScriptIn
    rollback: ScriptIn
    verify: ScriptIn | None = None
