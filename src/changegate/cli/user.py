"""``changegate user …``: web sign-in for the people of the policy file.

Works on the local database (the server's own, as an operator on the server host) or through ``--url``
with an API token, through the same use case.
"""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start.

from typing import Annotated

import typer

from ..core.errors import ChangegateError
from .output import fail
from .state import state

user_app = typer.Typer(help="People's web sign-in: passwords and one-time set-password links.",
                       no_args_is_help=True)


@user_app.command("set-password")
def set_password(
    person: Annotated[str, typer.Argument(help="Person id from the policy file.")],
    link: Annotated[bool, typer.Option("--link", help="Print a one-time link with which the person sets "
                                                      "their own password, instead of asking for it here.")] = False,
    base_url: Annotated[str, typer.Option(help="Address of the server the link points to.",
                                          envvar="CHANGEGATE_WEB_URL")] = "http://127.0.0.1:8000",
    valid_minutes: Annotated[int, typer.Option(min=5, max=7 * 24 * 60,
                                               help="How long the link stays valid.")] = 60,
) -> None:
    """Set PERSON's web password (prompted twice), or with --link print a one-time link for them.
    Setting a password for someone else needs token.manage (a change manager by default)."""
    client = state.client()
    try:
        if link:
            made = client.password_link(person, {"valid_minutes": valid_minutes})
            print(f"one-time link for {person}, valid for {valid_minutes} minutes:")
            print(f"{base_url.rstrip('/')}/set-password/{made['secret']}")
            return
        password = typer.prompt(f"new password for {person}", hide_input=True, confirmation_prompt=True)
        client.set_password(person, {"password": password})
    except ChangegateError as exc:
        fail(exc)
    print(f"password set for {person}; their other web sessions have ended")
