"""Static analysis of SQL scripts: splitting, refusals, parse errors, lint rules, execution plan."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from changegate.core.sql.lint import analyse, normalise_sql, referenced_roles, schema_action, sqlite_checks
from changegate.core.sql.script import Script, split, tokenize


def stmts(text: str, engine: str = "postgresql") -> list[str]:
    script = Script("t.sql", "deploy", engine, text)
    split(script)
    assert not script.problems, script.problems
    return [s.text for s in script.statements]


def problems(text: str, engine: str = "postgresql", role: str = "deploy") -> list:
    return analyse(text, engine, role, "deploy.sql").problems


def codes(text: str, engine: str = "postgresql", role: str = "deploy") -> set[str]:
    return {f.code for f in analyse(text, engine, role, "deploy.sql").findings}


# --- splitting ----------------------------------------------------------------------------------

class TestSplitting:
    def test_semicolons_inside_strings_comments_identifiers_and_dollar_quotes_do_not_split(self):
        text = """INSERT INTO notes (body) VALUES ('a; b', E'it\\'s; fine');  -- trailing; comment
/* block; /* nested; */ still comment; */ SELECT "odd;name" FROM t;
CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $fn$ BEGIN RETURN 1; /* $$ */ END $fn$;
SELECT $$;$$"""
        out = stmts(text)
        assert len(out) == 4
        assert out[1].startswith("SELECT \"odd;name\"")
        assert out[2].endswith("$fn$")

    def test_sqlite_comments_do_not_nest_so_code_after_the_first_close_is_code(self):
        text = "/* /* */ ATTACH DATABASE '/tmp/x.db' AS x; */ SELECT 1;"
        assert stmts(text, "sqlite")[0].startswith("ATTACH")
        assert stmts(text, "postgresql") == ["SELECT 1"]  # PostgreSQL comments nest
        assert "refused_attach" in {p.code for p in problems(text, "sqlite")}
        assert problems(text, "postgresql") == []

    def test_sqlite_trigger_body_with_semicolons_and_case_end_is_one_statement(self):
        text = """CREATE TRIGGER trg AFTER INSERT ON line_stops
BEGIN
    INSERT INTO audit_log (actor, action) VALUES ('mes', CASE WHEN NEW.reason = '' THEN '?' ELSE NEW.reason END);
    UPDATE production_lines SET active = 0 WHERE id = NEW.line_id;
END;
SELECT 1;"""
        out = stmts(text, "sqlite")
        assert len(out) == 2 and out[0].endswith("END")

    def test_postgresql_begin_atomic_body_is_one_statement(self):
        text = """CREATE OR REPLACE FUNCTION mes.line_count() RETURNS bigint LANGUAGE sql
BEGIN ATOMIC
    SELECT count(*) FROM mes.production_lines;
END;
SELECT mes.line_count();"""
        assert len(stmts(text)) == 2

    def test_copy_from_stdin_data_is_attached_to_its_statement_and_not_lexed(self):
        text = "COPY mes.labels (id, serial) FROM stdin;\n1\tO'Brien; -- not SQL\n2\t\\N\n\\.\nSELECT 1;\n"
        script = Script("s.sql", "schema", "postgresql", text)
        split(script)
        assert not script.problems
        assert [s.text for s in script.statements] == ["COPY mes.labels (id, serial) FROM stdin", "SELECT 1"]
        assert script.statements[0].copy_data == "1\tO'Brien; -- not SQL\n2\t\\N\n"

    def test_pg_dump_restrict_lines_are_ignored_other_meta_commands_refused(self):
        text = "\\restrict Zx9k\nSET lock_timeout = 0;\nSELECT 1;\n\\unrestrict Zx9k\n"
        assert stmts(text) == ["SET lock_timeout = 0", "SELECT 1"]
        assert problems(text, role="schema") == []
        found = problems("SELECT 1;\n\\connect prod\n")
        assert [(p.code, p.line) for p in found] == [("refused_meta_command", 2)]

    def test_statement_positions_are_line_and_column_of_the_first_token(self):
        script = Script("t.sql", "deploy", "postgresql", "-- header\r\n\r\n    SELECT 1;  SELECT\r\n 2;")
        split(script)
        assert [(s.index, s.line, s.column) for s in script.statements] == [(1, 3, 5), (2, 3, 16)]

    @pytest.mark.parametrize("text, what, line, column", [
        ("SELECT 1;\nSELECT 'unterminated;\n", "string literal", 2, 8),
        ('SELECT "x;', "quoted identifier", 1, 8),
        ("SELECT 1; /* open", "comment", 1, 11),
        ("DO $body$ BEGIN NULL; END $bod$;", "dollar-quoted", 1, 4),
    ])
    def test_unterminated_constructs_are_unparsable_with_a_position(self, text, what, line, column):
        [p] = problems(text)
        assert p.code == "unparsable" and what in p.message
        assert (p.line, p.column) == (line, column)

    def test_unicode_escaped_identifiers_are_decoded(self):
        [tok] = [t for t in tokenize('U&"pg\\005fread\\005ffile"', "postgresql")]
        assert tok.value == "pg_read_file"

    @settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
    @given(st.text(max_size=300))
    def test_splitting_never_crashes(self, text):
        for engine in ("postgresql", "sqlite"):
            script = analyse(text, engine, "deploy", "fuzz.sql")
            assert all(p.line >= 1 and p.column >= 1 for p in script.problems)

    @settings(max_examples=100)
    @given(st.lists(st.text(alphabet="ab ;'$-/*\"\n\\", max_size=12), min_size=1, max_size=8))
    def test_literals_holding_any_text_never_split_a_statement(self, bodies):
        literals = ["'" + b.replace("'", "''") + "'" for b in bodies]
        statements = [f"INSERT INTO notes (body) VALUES ({lit}) ON CONFLICT DO NOTHING" for lit in literals]
        assert stmts(";\n".join(statements)) == statements


# --- refusals -----------------------------------------------------------------------------------

REFUSED = [
    ("COPY orders TO PROGRAM 'gzip > /tmp/orders.gz'", "postgresql", "refused_copy_program"),
    ("copy orders from program $$curl -s http://10.0.0.1/x$$", "postgresql", "refused_copy_program"),
    ("COPY orders FROM '/etc/passwd'", "postgresql", "refused_copy_file"),
    ("COPY (SELECT * FROM orders) TO E'/tmp/out.csv' WITH (FORMAT csv)", "postgresql", "refused_copy_file"),
    ("ATTACH DATABASE '/srv/mes/prod.db' AS prod", "sqlite", "refused_attach"),
    ("DETACH DATABASE prod", "sqlite", "refused_attach"),
    ("SELECT load_extension('/tmp/evil.so')", "sqlite", "refused_server_control"),
    ("SELECT readfile('/etc/passwd')", "sqlite", "refused_server_file"),
    ("VACUUM INTO '/tmp/copy.db'", "sqlite", "refused_server_file"),
    (".shell rm -rf /", "sqlite", "refused_meta_command"),
    ("SELECT 1;\n.read other.sql", "sqlite", "refused_meta_command"),
    ("CREATE EXTENSION dblink", "postgresql", "refused_foreign_data"),
    ("CREATE EXTENSION IF NOT EXISTS postgres_fdw", "postgresql", "refused_foreign_data"),
    ('create extension "file_fdw"', "postgresql", "refused_foreign_data"),
    ("CREATE SERVER erp FOREIGN DATA WRAPPER postgres_fdw OPTIONS (host 'erp01')", "postgresql",
     "refused_foreign_data"),
    ("CREATE USER MAPPING FOR CURRENT_USER SERVER erp", "postgresql", "refused_foreign_data"),
    ("CREATE FOREIGN TABLE erp_orders (id int) SERVER erp", "postgresql", "refused_foreign_data"),
    ("IMPORT FOREIGN SCHEMA public FROM SERVER erp INTO staging", "postgresql", "refused_foreign_data"),
    ("CREATE SUBSCRIPTION s CONNECTION 'host=prod' PUBLICATION p", "postgresql", "refused_foreign_data"),
    ("SELECT * FROM dblink('dbname=prod', 'SELECT 1') AS t(a int)", "postgresql", "refused_foreign_data"),
    ("SELECT dblink_exec('dbname=prod', 'DELETE FROM orders')", "postgresql", "refused_foreign_data"),
    ("SELECT lo_import('/etc/passwd')", "postgresql", "refused_server_file"),
    ("SELECT lo_export(16400, '/tmp/x')", "postgresql", "refused_server_file"),
    ("SELECT pg_read_file('/etc/passwd')", "postgresql", "refused_server_file"),
    ("SELECT pg_catalog.pg_read_binary_file('/etc/passwd')", "postgresql", "refused_server_file"),
    ("SELECT * FROM pg_ls_dir('.')", "postgresql", "refused_server_file"),
    ("SELECT pg_stat_file('postgresql.conf')", "postgresql", "refused_server_file"),
    ("SELECT pg_catalog . /* look away */ PG_READ_FILE\n ( '/etc/passwd' )", "postgresql", "refused_server_file"),
    ('SELECT "pg_read_file"(\'/etc/passwd\')', "postgresql", "refused_server_file"),
    ('SELECT U&"pg\\005fread\\005ffile"(\'/etc/passwd\')', "postgresql", "refused_server_file"),
    ("ALTER SYSTEM SET max_connections = 5", "postgresql", "refused_alter_system"),
    ("alter /* x */ system reset all", "postgresql", "refused_alter_system"),
    ("CREATE ROLE intruder SUPERUSER", "postgresql", "refused_role"),
    ("ALTER ROLE app SUPERUSER", "postgresql", "refused_role"),
    ("DROP USER app", "postgresql", "refused_role"),
    ("GRANT pg_read_server_files TO app", "postgresql", "refused_role"),
    ("REASSIGN OWNED BY app TO postgres", "postgresql", "refused_role"),
    ("SET ROLE postgres", "postgresql", "refused_role"),
    ("SET LOCAL ROLE postgres", "postgresql", "refused_role"),
    ("SET SESSION AUTHORIZATION postgres", "postgresql", "refused_role"),
    ("RESET ROLE", "postgresql", "refused_role"),
    ("SELECT set_config('role', 'postgres', false)", "postgresql", "refused_setting"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql SET role = postgres AS 'SELECT 1'", "postgresql",
     "refused_role"),
    ("SET standard_conforming_strings = off", "postgresql", "refused_setting"),
    ("SET client_encoding = 'SJIS'", "postgresql", "refused_setting"),
    ("\\! id", "postgresql", "refused_meta_command"),
    ("\\copy orders to '/tmp/o.csv'", "postgresql", "refused_meta_command"),
    ("\\connect prod", "postgresql", "refused_meta_command"),
    ("\\i other.sql", "postgresql", "refused_meta_command"),
    ("SELECT 1 \\gexec", "postgresql", "refused_meta_command"),
    ("LOAD 'auto_explain'", "postgresql", "refused_load"),
    ("CREATE DATABASE prod_copy", "postgresql", "refused_database"),
    ("CREATE TABLESPACE fast LOCATION '/mnt/fast'", "postgresql", "refused_database"),
    ("CREATE TRUSTED LANGUAGE plpython3u", "postgresql", "refused_untrusted_language"),
    ("CREATE FUNCTION sh() RETURNS void LANGUAGE plpython3u AS $$import os$$", "postgresql",
     "refused_untrusted_language"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE c AS '/tmp/f.so', 'f'", "postgresql", "refused_untrusted_language"),
    ("DO $$ BEGIN PERFORM pg_read_file('/etc/passwd'); END $$", "postgresql", "refused_server_file"),
    ("DO $$ BEGIN EXECUTE 'COPY orders TO PROGRAM ''curl x'''; END $$", "postgresql", "refused_copy_program"),
    ("DO $b$ BEGIN IF true THEN ALTER SYSTEM SET work_mem = '1GB'; END IF; END $b$", "postgresql",
     "refused_alter_system"),
    ("DO 'BEGIN PERFORM dblink_connect(''prod''); END'", "postgresql", "refused_foreign_data"),
    ("CREATE FUNCTION f() RETURNS text LANGUAGE sql AS 'SELECT pg_read_file(''/etc/passwd'')'", "postgresql",
     "refused_server_file"),
    ("DO $$ BEGIN EXECUTE format('SELECT %s', 'pg_ls_dir(''/'')'); END $$", "postgresql", "refused_server_file"),
    ("SELECT pg_terminate_backend(pid) FROM pg_stat_activity", "postgresql", "refused_server_control"),
]


@pytest.mark.parametrize("sql, engine, code", REFUSED)
def test_constructs_reaching_outside_the_scratch_database_are_refused(sql, engine, code):
    found = problems(sql, engine)
    assert code in {p.code for p in found}, found
    p = next(p for p in found if p.code == code)
    assert p.script == "deploy.sql" and p.line >= 1 and p.column >= 1 and p.severity == "error"
    # it says that it is refused, why, and what to do instead; SQLite advice names no PostgreSQL means
    assert p.message.startswith("refused: ") and "; instead, " in p.message, p.message
    if engine == "sqlite":
        assert not any(w in p.message for w in ("DO block", "psql", "PL/pgSQL", "EXTENSION")), p.message
    # a schema file is scanned the same way
    assert code in {p.code for p in problems(sql, engine, role="schema")}


ALLOWED = [
    "INSERT INTO notes (body) VALUES ('run pg_read_file(x) and COPY t TO PROGRAM ''x'' later') ON CONFLICT DO NOTHING",
    "-- SELECT pg_read_file('/etc/passwd')\nSELECT 1",
    "/* ALTER SYSTEM SET x = 1; */ SELECT 1",
    "COPY orders (id) FROM STDIN;\n1\n\\.\n",
    "COPY (SELECT * FROM orders) TO STDOUT WITH (FORMAT csv)",
    "UPDATE users SET role = 'admin' WHERE id = 1",
    "ALTER TABLE users ALTER role SET DEFAULT 'operator'",
    "CREATE TABLE IF NOT EXISTS machine (load numeric, role text, language text, copy int)",
    "SELECT CASE WHEN busy THEN load ELSE 0 END FROM machines",
    "SELECT pg_catalog.set_config('search_path', '', false)",
    "SET search_path = mes, public",
    "SET standard_conforming_strings = on",
    "SET client_encoding = 'UTF8'",
    "GRANT SELECT ON orders TO reporting",
    "REVOKE ALL ON orders FROM PUBLIC",
    "ALTER TABLE orders OWNER TO app",
    "ALTER TABLE measurements ATTACH PARTITION measurements_2026 FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')",
    "CREATE EXTENSION IF NOT EXISTS pgcrypto",
    "\\restrict abc123\nSELECT 1;\n\\unrestrict abc123",
    "COMMENT ON FUNCTION f() IS 'wraps dblink(...) and lo_import()'",
    "CREATE OR REPLACE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$",
]


@pytest.mark.parametrize("sql", ALLOWED)
def test_ordinary_sql_is_not_refused(sql):
    assert problems(sql) == []


def test_sqlite_readfile_is_only_a_shell_function_in_sqlite():
    assert problems("SELECT edit(title) FROM docs") == []
    assert {p.code for p in problems("SELECT edit(title) FROM docs", "sqlite")} == {"refused_server_file"}


def test_each_refusal_names_the_exact_token_position():
    [p] = problems("SELECT 1;\n\nSELECT id,\n       pg_read_file('/etc/shadow') FROM t;")
    assert (p.line, p.column) == (4, 8)
    assert "pg_read_file" in p.message and "pg_read_file('/etc/shadow')" in p.excerpt


# --- parse errors -------------------------------------------------------------------------------

def test_unparsable_statement_is_reported_with_line_and_column():
    text = "CREATE TABLE IF NOT EXISTS t (a int);\n\nSELECT a FROM WHERE a = 1;\n"
    [p] = problems(text)
    assert p.code == "unparsable"
    assert (p.line, p.column) == (3, 15)
    assert "statement 2 does not parse near 'WHERE'" in p.message
    assert "<Token" not in p.message


def test_plpgsql_bodies_are_opaque_not_parse_errors():
    text = """SET lock_timeout = '5s';
DO $$ DECLARE n int; BEGIN SELECT count(*) INTO n FROM t; IF n > 0 THEN RAISE NOTICE '%', n; END IF; END $$;
CREATE OR REPLACE FUNCTION f() RETURNS trigger LANGUAGE plpgsql AS $f$ BEGIN NEW.x := now(); RETURN NEW; END $f$;
CREATE OR REPLACE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f();"""
    script = analyse(text, "postgresql", "deploy", "d.sql")
    assert script.problems == []
    assert [f.code for f in script.findings] == ["opaque_block"]


# --- lint ---------------------------------------------------------------------------------------

LINT = [
    # statements not safe to repeat
    ("CREATE TABLE work_order_notes (id bigserial PRIMARY KEY, note text)", "postgresql", "not_repeatable", "error"),
    ("CREATE INDEX ON orders (created_at)", "postgresql", "not_repeatable", "error"),
    ("CREATE UNIQUE INDEX ux_labels ON labels (serial)", "sqlite", "not_repeatable", "error"),
    ("CREATE VIEW open_orders AS SELECT 1", "postgresql", "not_repeatable", "error"),
    ("CREATE VIEW open_orders AS SELECT 1", "sqlite", "not_repeatable", "error"),
    ("CREATE SEQUENCE label_serial", "postgresql", "not_repeatable", "error"),
    ("CREATE SCHEMA mes", "postgresql", "not_repeatable", "error"),
    ("CREATE EXTENSION pgcrypto", "postgresql", "not_repeatable", "error"),
    ("CREATE FUNCTION f() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$", "postgresql", "not_repeatable", "error"),
    ("CREATE TRIGGER trg BEFORE UPDATE ON t FOR EACH ROW EXECUTE FUNCTION f()", "postgresql", "not_repeatable",
     "error"),
    ("CREATE TRIGGER trg AFTER INSERT ON t BEGIN SELECT 1; END", "sqlite", "not_repeatable", "error"),
    ("CREATE TYPE shift AS ENUM ('A', 'B', 'C')", "postgresql", "not_repeatable", "error"),
    ("ALTER TABLE orders ADD COLUMN priority int", "postgresql", "not_repeatable", "error"),
    ("ALTER TABLE orders ADD COLUMN priority INTEGER", "sqlite", "not_repeatable", "error"),
    ("ALTER TABLE orders ADD CONSTRAINT orders_qty CHECK (quantity > 0) NOT VALID", "postgresql", "not_repeatable",
     "error"),
    ("ALTER TABLE orders ADD CHECK (quantity > 0) NOT VALID", "postgresql", "not_repeatable", "error"),
    ("ALTER TABLE orders DROP CONSTRAINT orders_qty", "postgresql", "not_repeatable", "error"),
    ("ALTER TABLE orders RENAME COLUMN reference TO ref", "postgresql", "not_repeatable", "error"),
    ("ALTER TYPE shift ADD VALUE 'D'", "postgresql", "not_repeatable", "error"),
    ("DROP TABLE legacy_labels", "postgresql", "not_repeatable", "error"),
    ("DROP INDEX ix_orders_created", "sqlite", "not_repeatable", "error"),
    ("ALTER TABLE orders DROP COLUMN legacy", "postgresql", "not_repeatable", "error"),
    ("INSERT INTO production_lines (code, name) VALUES ('L9', 'Line 9')", "postgresql", "not_repeatable", "error"),
    ("INSERT INTO production_lines (code, name) VALUES ('L9', 'Line 9')", "sqlite", "not_repeatable", "error"),
    ("INSERT INTO archive SELECT * FROM orders", "postgresql", "not_repeatable", "error"),
    ("SELECT * INTO orders_backup FROM orders", "postgresql", "not_repeatable", "error"),
    ("COPY orders (id) FROM stdin;\n1\n\\.\n", "postgresql", "not_repeatable", "error"),
    ("UPDATE orders SET quantity = quantity * 2 WHERE id = 3", "postgresql", "not_repeatable", "warning"),
    # destructive, for approvers
    ("DROP TABLE IF EXISTS legacy_labels", "postgresql", "destructive", "warning"),
    ("ALTER TABLE orders DROP COLUMN IF EXISTS legacy", "postgresql", "destructive", "warning"),
    ("TRUNCATE TABLE audit_log", "postgresql", "destructive", "warning"),
    ("DELETE FROM audit_log", "sqlite", "destructive", "warning"),
    ("UPDATE work_orders SET status = 'done'", "sqlite", "destructive", "warning"),
    ("DROP SCHEMA IF EXISTS staging CASCADE", "postgresql", "destructive", "warning"),
    # long locks (PostgreSQL)
    ("CREATE INDEX IF NOT EXISTS ix_orders_ref ON orders (reference)", "postgresql", "long_lock", "warning"),
    ("ALTER TABLE orders ALTER COLUMN quantity TYPE numeric(14,3)", "postgresql", "long_lock", "warning"),
    ("ALTER TABLE orders ALTER COLUMN reference SET NOT NULL", "postgresql", "long_lock", "warning"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS uid uuid NOT NULL DEFAULT gen_random_uuid()", "postgresql",
     "long_lock", "warning"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS seen timestamptz NOT NULL DEFAULT clock_timestamp()",
     "postgresql", "long_lock", "warning"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS jitter float8 NOT NULL DEFAULT random()", "postgresql",
     "long_lock", "warning"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS seq bigserial", "postgresql", "long_lock", "warning"),
    ("ALTER TABLE orders ADD CONSTRAINT IF_guard FOREIGN KEY (customer_id) REFERENCES customers (id)", "postgresql",
     "long_lock", "warning"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS must int NOT NULL", "postgresql", "not_null_without_default",
     "warning"),
    # notes
    ("DO $$ BEGIN EXECUTE 'ALTER TABLE orders ADD COLUMN x int'; END $$", "postgresql", "opaque_block", "info"),
    ("CREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON orders (reference)", "postgresql", "not_atomic", "warning"),
    ("VACUUM", "sqlite", "not_atomic", "warning"),
]


@pytest.mark.parametrize("sql, engine, code, severity", LINT)
def test_lint_rules(sql, engine, code, severity):
    findings = analyse(sql, engine, "deploy", "deploy.sql").findings
    hits = [f for f in findings if f.code == code]
    assert hits, findings
    assert hits[0].severity == severity
    assert hits[0].script == "deploy.sql" and hits[0].line == 1
    assert hits[0].excerpt


CLEAN = [
    ("CREATE TABLE IF NOT EXISTS work_order_notes (id bigserial PRIMARY KEY, note text)", "postgresql"),
    ("CREATE OR REPLACE VIEW open_orders AS SELECT 1", "postgresql"),
    ("CREATE VIEW IF NOT EXISTS open_orders AS SELECT 1", "sqlite"),
    ("CREATE TRIGGER IF NOT EXISTS trg AFTER INSERT ON t BEGIN SELECT 1; END", "sqlite"),
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 3", "postgresql"),
    # now() is STABLE, not volatile: since PostgreSQL 11 the default is computed once, no rewrite
    ("ALTER TABLE orders ADD COLUMN IF NOT EXISTS seen_at timestamptz NOT NULL DEFAULT now()", "postgresql"),
    ("INSERT INTO production_lines (code) VALUES ('L9') ON CONFLICT (code) DO NOTHING", "postgresql"),
    ("INSERT INTO production_lines (code) SELECT 'L9' WHERE NOT EXISTS "
     "(SELECT 1 FROM production_lines WHERE code = 'L9')", "postgresql"),
    ("INSERT OR IGNORE INTO production_lines (code) VALUES ('L9')", "sqlite"),
    ("WITH s AS (SELECT 1) INSERT INTO t SELECT * FROM s EXCEPT SELECT * FROM t", "postgresql"),
    ("UPDATE production_lines SET name = 'Packing line' WHERE code = 'PK'", "postgresql"),
    ("DELETE FROM production_lines WHERE code = 'L3'", "sqlite"),
    ("CREATE TABLE IF NOT EXISTS notes (id int);\nCREATE INDEX IF NOT EXISTS ix_notes ON notes (id)", "postgresql"),
    ("DROP TYPE IF EXISTS shift;\nCREATE TYPE shift AS ENUM ('A')", "postgresql"),
    ("ALTER TABLE orders DROP CONSTRAINT IF EXISTS orders_qty;\n"
     "ALTER TABLE orders ADD CONSTRAINT orders_qty CHECK (quantity > 0) NOT VALID", "postgresql"),
    ("ALTER TABLE IF EXISTS old_orders RENAME TO orders_archive", "postgresql"),
    ("DROP INDEX IF EXISTS ix_orders_created", "sqlite"),  # PostgreSQL: long_lock without CONCURRENTLY
    ("ALTER TYPE shift ADD VALUE IF NOT EXISTS 'D'", "postgresql"),
    ("GRANT SELECT ON orders TO reporting", "postgresql"),
]


@pytest.mark.parametrize("sql, engine", CLEAN)
def test_statements_safe_to_repeat_have_no_finding(sql, engine):
    if engine == "postgresql":  # with a lock timeout in force, as a script on a busy server should be
        sql = "SET lock_timeout = '5s';\n" + sql
    assert analyse(sql, engine, "deploy", "d.sql").findings == []


def test_verify_scripts_are_only_expected_to_read():
    script = analyse("BEGIN;\nSELECT 1/count(*) FROM t;\nDELETE FROM t WHERE id = 1;\nROLLBACK;", "postgresql",
                     "verify", "verify.sql")
    assert [(f.code, f.severity, f.line) for f in script.findings] == [("verify_writes", "info", 3)]
    assert script.execution == "verify"


# --- execution plan -----------------------------------------------------------------------------

@pytest.mark.parametrize("sql, engine, execution, atomic", [
    ("CREATE TABLE IF NOT EXISTS t (a int);\nINSERT INTO t VALUES (1) ON CONFLICT DO NOTHING;", "postgresql",
     "transaction", True),
    ("CREATE TABLE IF NOT EXISTS t (a int);\nCREATE INDEX CONCURRENTLY IF NOT EXISTS ix ON t (a);", "postgresql",
     "statement_by_statement", False),
    ("VACUUM ANALYZE orders;", "postgresql", "statement_by_statement", False),
    ("BEGIN;\nCREATE TABLE IF NOT EXISTS t (a int);\nCOMMIT;", "postgresql", "own_transactions", True),
    ("BEGIN;\nCREATE TABLE IF NOT EXISTS t (a int);\nCOMMIT;\nBEGIN;\nDROP TABLE IF EXISTS u;\nEND;", "postgresql",
     "own_transactions", False),
    ("PRAGMA foreign_keys = OFF;\nCREATE TABLE IF NOT EXISTS t (a int);", "sqlite", "statement_by_statement",
     False),
    ("BEGIN TRANSACTION;\nCREATE TABLE IF NOT EXISTS t (a int);\nEND TRANSACTION;", "sqlite", "own_transactions",
     True),
    ("CREATE TABLE IF NOT EXISTS t (a int);\nSAVEPOINT s;\nROLLBACK TO SAVEPOINT s;", "sqlite", "transaction", True),
])
def test_execution_plan(sql, engine, execution, atomic):
    script = analyse(sql, engine, "deploy", "deploy.sql")
    assert (script.execution, script.atomic) == (execution, atomic)
    assert ("NOT atomic" in script.how) == (not atomic)
    assert ("not_atomic" in {f.code for f in script.findings}) == (not atomic)


# --- helpers ------------------------------------------------------------------------------------

def test_referenced_roles_from_grants_revokes_owners_and_policies():
    script = analyse("GRANT SELECT, INSERT ON orders, labels TO mes_app, \"Reporting\" WITH GRANT OPTION;\n"
                     "REVOKE UPDATE ON orders FROM auditor CASCADE;\n"
                     "ALTER TABLE orders OWNER TO mes_owner;\n"
                     "CREATE POLICY p ON orders FOR SELECT TO PUBLIC, planner USING (true);\n"
                     "GRANT USAGE ON SCHEMA mes TO PUBLIC;", "postgresql", "deploy", "d.sql")
    assert referenced_roles(script) == {"mes_app", "Reporting", "auditor", "mes_owner", "planner"}


@pytest.mark.parametrize("sql, action", [
    ("ALTER TABLE public.orders OWNER TO postgres", "skip"),
    ("GRANT SELECT ON public.orders TO reporting", "skip"),
    ("REVOKE ALL ON SCHEMA public FROM PUBLIC", "skip"),
    ("ALTER DEFAULT PRIVILEGES FOR ROLE app GRANT SELECT ON TABLES TO reporting", "skip"),
    ("CREATE EXTENSION IF NOT EXISTS pgcrypto WITH SCHEMA public", "admin"),
    ("COMMENT ON EXTENSION pgcrypto IS 'cryptographic functions'", "admin"),
    ("COMMENT ON TABLE mes.labels IS 'Printed product labels'", "run"),
    ("CREATE TABLE mes.labels (id bigint NOT NULL)", "run"),
])
def test_schema_file_statements(sql, action):
    script = Script("schema.sql", "schema", "postgresql", sql)
    split(script)
    assert schema_action(script.statements[0]) == action


def test_normalised_sql_ignores_case_spacing_and_quotes_on_sqlite():
    a = normalise_sql('CREATE INDEX "ix"  ON  "Orders" (created_at)\n WHERE x > 1', "sqlite")
    b = normalise_sql("create index ix on orders (CREATED_AT) where x > 1", "sqlite")
    assert a == b


def test_sqlite_check_constraints_are_extracted():
    sql = "CREATE TABLE t (a int CHECK (a > 0), b text, CONSTRAINT b_len CHECK (length(b) = 2))"
    assert sqlite_checks(sql) == ["( a > 0 )", "( length ( b ) = 2 )"]


def test_literal_rows_after_values_are_one_token_and_parse_errors_after_them_keep_their_position():
    rows = ", ".join(f"({i}, 'SN-{i:04d}', NULL)" for i in range(500))
    text = f"INSERT INTO labels (id, serial, printed_at) VALUES {rows} ON CONFLICT DO NOTHING;\n" \
           f"INSERT INTO labels (id, serial) VALUES (1, 'a'), (2, 'b') ON CONFLICT DO NOTHING RETURNING FROM;"
    script = analyse(text, "postgresql", "deploy", "d.sql")
    assert [t.kind for t in script.statements[0].tokens].count("bulk") == 1
    [p] = script.problems
    assert (p.line, p.column, p.code) == (2, 92, "unparsable")  # 'FROM' on line 2, past the cut-out rows
    assert "ON CONFLICT" not in {f.message for f in script.findings}


def test_the_bulk_rows_pattern_matches_what_the_plain_pattern_matches():
    import re

    from changegate.core.sql import script as sqlscript

    lit = r"(?:-?\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|'(?:[^']|'')*'|(?i:null|true|false|default))"
    tup = rf"\(\s*{lit}(?:\s*,\s*{lit})*\s*\)"
    plain = re.compile(rf"\s*({tup}(?:\s*,\s*{tup})*)")
    cases = ["(1, 'a'), (2, 'b') ON CONFLICT", "('it''s', -1.5e3), ('', NULL)", "(1,2),(3,4),", "('a', 1), (x)",
             "('a'', 1)", "('a''')", "(1e5, 2.), (3", "( 'x' , TRUE ) , ( DEFAULT , false ) ;", "(1, 'a' || 'b')",
             "('unterminated", "(12) , (1e)", "  (0x10)", "('multi\nline', 1)\n,\n(2, 'b')", "(''''), ('''', '')"]
    for text in cases:
        a, b = plain.match(text), sqlscript._BULK.match(text)
        assert (a and a.group(1)) == (b and b.group(1)), text
    rows = ", ".join(f"({i}, 'SN-{i:04d}''x', NULL, {i}.5)" for i in range(300))
    assert plain.match(rows).group(1) == sqlscript._BULK.match(rows).group(1) == rows


def test_a_crash_of_the_sql_parser_does_not_block_a_script(monkeypatch):
    import changegate.core.sql.lint as sqllint

    def boom(*args, **kwargs):
        raise RecursionError("deep")

    monkeypatch.setattr(sqllint, "_sqlglot", lambda engine: boom)
    script = analyse("SELECT 1;", "postgresql", "deploy", "d.sql")
    assert script.problems == []
    assert [f.code for f in script.findings] == ["not_parsed"]
