"""What a refused statement should do instead, per refusal code and engine. Pure: no imports.

A refusal reads ``refused: <what and why>; instead, <what to do>``. SQLite advice never names
PostgreSQL-only means (DO blocks, psql, extensions).
"""

from __future__ import annotations

_INSTEAD = {
    "refused_copy_program": "put the rows in the script itself (INSERT … ON CONFLICT, or COPY … FROM stdin data)",
    "refused_copy_file": "put the rows in the script itself (INSERT … ON CONFLICT, or COPY … FROM stdin data)",
    "refused_attach": "change one database per script: check and deploy a separate script for the other "
                      "database file",
    "refused_server_file": "put the data in the script itself; files on the server are the administrator's",
    "refused_server_control": "leave server administration to the database administrator, outside the change's "
                              "scripts",
    "refused_foreign_data": "change each database with its own scripts, checked on their own",
    "refused_untrusted_language": "write the function in SQL or PL/pgSQL",
    "refused_alter_system": "ask the database administrator to change the server's configuration; a script may "
                            "SET LOCAL a setting for its own transaction",
    "refused_load": "ask the database administrator to install the library; trusted extensions can be created "
                    "with CREATE EXTENSION IF NOT EXISTS",
    "refused_database": "run the script in the target database itself; databases and tablespaces are the "
                        "administrator's",
    "refused_role": "leave roles to the database administrator; GRANT and REVOKE of privileges ON objects are "
                    "fine in a script",
    "refused_setting": "leave the setting at its default (standard_conforming_strings on, client_encoding UTF8) "
                       "and grant the privileges the deploy needs to the role that runs it",
    "refused_meta_command": "write plain SQL: keep psql meta-commands out of the file and run it with psql -f",
}
_INSTEAD_SQLITE = {
    "refused_server_file": "put the data in the script itself; to compact the database use a plain VACUUM",
    "refused_server_control": "use only SQLite's built-in functions; extensions are loaded by the application",
    "refused_setting": "leave the setting at its default",
    "refused_meta_command": "write plain SQL: keep sqlite3 shell dot-commands out of the file",
}


def refused(code: str, engine: str, why: str, instead: str | None = None) -> str:
    """The sentence of a refusal: that it is refused, why, and what to do instead."""
    advice = instead or (_INSTEAD_SQLITE.get(code) if engine == "sqlite" else None) or _INSTEAD.get(code)
    return f"refused: {why}; instead, {advice}" if advice else f"refused: {why}"
