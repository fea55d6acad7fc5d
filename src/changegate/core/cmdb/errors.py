"""The CMDB's one error of its own: files rejected, with every problem by file and line.

Kept free of heavy imports: the remote CLI client raises it from the server's answer."""

from __future__ import annotations

from ..errors import InvalidInput


class ImportRejected(InvalidInput):
    """Nothing was imported: the problems name file, line and field."""

    def __init__(self, message: str, *, problems: tuple[str, ...] = ()):
        super().__init__(message, field="files")
        self.problems = tuple(problems)

    def to_dict(self) -> dict:
        return {**super().to_dict(), "problems": list(self.problems)}
