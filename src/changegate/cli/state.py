"""What the global options chose: local database as a person, or a server with a token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..core.errors import ChangegateError
from ..services.runtime import Runtime
from ..settings import Settings
from .client import Client, LocalClient, RemoteClient
from .output import fail, usage


@dataclass
class CliState:
    url: str | None = None
    token: str | None = None
    person: str | None = None
    context: Any = None  # the root typer.Context, to release resources when the command ends

    def runtime(self) -> Runtime:
        try:
            rt = Runtime.from_settings(Settings())
        except ChangegateError as exc:
            fail(exc)
        if self.context is not None:
            self.context.call_on_close(rt.close)  # release database connections when the command ends
        return rt

    def client(self, *, require_person: bool = True) -> Client:
        if self.url:
            return RemoteClient(self.url, self.token)
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
