"""``changegate token …``: API tokens for pipelines and remote CLIs."""

# No ``from __future__ import annotations`` here: Typer would eval every command's string annotations
# at each start (~1,000 evals, a third of ``--version``'s time).

from typing import Annotated, Optional

import typer

from .change import JsonOpt, _call
from .output import emit_json, table
from .state import state

token_app = typer.Typer(help="API tokens (hashed at rest, revocable).", no_args_is_help=True)


@token_app.command("create")
def create(
    person: Annotated[str, typer.Option(help="Person the token acts as.")],
    name: Annotated[str, typer.Option(help="What the token is for, e.g. 'gitlab prod deploy'.")],
    expires: Annotated[Optional[str], typer.Option(help="Expiry, ISO 8601 with offset.")] = None,
    json_out: JsonOpt = False,
) -> None:
    """Create a token; its secret is printed once."""
    client = state.client()
    payload = {"person": person, "name": name, **({"expires_at": expires} if expires else {})}
    token = _call(lambda: client.create_token(payload))
    if json_out:
        emit_json(token)
    else:
        print(f"token {token['id']} for {token['person_id']}: {token['secret']}")
        print("store it now: only its SHA-256 is kept")


@token_app.command("list")
def list_(person: Annotated[Optional[str], typer.Option()] = None, json_out: JsonOpt = False) -> None:
    client = state.client()
    tokens = _call(lambda: client.list_tokens(person))
    if json_out:
        emit_json(tokens)
        return
    table(None, ["id", "person", "name", "prefix", "created", "expires", "revoked"],
          [[t["id"], t["person_id"], t["name"], t["prefix"] + "…", t["created_at"][:19], (t["expires_at"] or "")[:19],
            (t["revoked_at"] or "")[:19]] for t in tokens])


@token_app.command("revoke")
def revoke(token_id: int, json_out: JsonOpt = False) -> None:
    client = state.client()
    token = _call(lambda: client.revoke_token(token_id))
    if json_out:
        emit_json(token)
    else:
        print(f"token {token['id']} revoked at {token['revoked_at']}")
