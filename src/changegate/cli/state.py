"""What the global options chose: local database as a person, or a server with a token.

The clients are imported when a command asks for one: the remote client never loads the database layer,
and ``--help`` or ``--version`` load neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ..core.errors import ChangegateError
from .output import fail, usage

if TYPE_CHECKING:
    from ..services.runtime import Runtime
    from .client import Client


@dataclass
class CliState:
    url: str | None = None
    token: str | None = None
    person: str | None = None
    context: Any = None  # the root typer.Context, to release resources when the command ends

    def runtime(self) -> "Runtime":
        from ..services.runtime import Runtime
        from ..settings import Settings

        try:
            rt = Runtime.from_settings(Settings())
        except ChangegateError as exc:
            fail(exc)
        if self.context is not None:
            self.context.call_on_close(rt.close)  # release database connections when the command ends
        return rt

    def client(self, *, require_person: bool = True) -> "Client":
        if self.url:
            from .remote import RemoteClient

            return RemoteClient(self.url, self.token)
        from .local import LocalClient

        rt = self.runtime()
        try:
            rt.ensure_schema()
        except ChangegateError as exc:
            fail(exc)
        if not self.person and require_person:
            people = ", ".join(p.id for p in rt.policy.people)
            usage(f"say who you are: --as PERSON or CHANGEGATE_USER=PERSON (people in the policy: {people})")
        if self.person:
            try:
                rt.person(self.person)
            except ChangegateError as exc:
                fail(exc)
        return LocalClient(rt, self.person or "")


state = CliState()
