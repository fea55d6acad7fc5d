"""Database change safety: prove that a change's SQL is idempotent and that its rollback undoes it.

``check_sql`` takes a schema (e.g. ``pg_dump --schema-only`` output, optionally with sample rows), a
deploy script, a rollback script and optionally a Sqitch-style verify script, and — always on a scratch
copy, never on a real target — answers four questions, each with a verdict and sentences:

* **lint**: does every statement parse, and is each safe to repeat? (destructive statements and, on
  PostgreSQL, long locks are listed for approvers as warnings);
* **idempotent**: does each of deploy and rollback run twice without error, the second run changing
  nothing (schema and rows)?
* **reversible**: after deploy then rollback, is the database what it was before (schema and rows)?
* **verify**: does the verify script pass after deploy and fail after rollback?

Scripts that reach outside the scratch database (server files, programs, other databases, roles,
psql meta-commands) are refused before anything runs: ``InvalidInput``, like unparsable SQL.

Wrapping: each script runs on its own connection, one statement at a time, inside one transaction
(BEGIN … COMMIT, on both engines), so it is atomic — except when it holds statements that cannot run in
a transaction block (PostgreSQL CREATE INDEX CONCURRENTLY, VACUUM, …; SQLite VACUUM, PRAGMA
foreign_keys, …) or manages its own transactions (BEGIN/COMMIT in the script): then it runs statement by
statement as written, is reported NOT atomic, and a failure half-way reports what stayed applied.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Mapping

from ..core.errors import InvalidInput
from ..core.sql.lint import analyse
from ..core.sql.script import ERROR, INFO, WARNING, Finding, Script
from .pgcluster import PostgresUnavailable, ThrowawayCluster, start_throwaway_cluster
from .engines import PgScratch, RunOutcome, ScratchUnavailable, SqliteScratch
from .fingerprint import Fingerprint, diff, sentences, significant

__all__ = ["check_sql", "scripts_digest", "SqlCheckReport", "PropertyResult", "ScratchUnavailable",
           "SCRATCH_URL_ENV", "ENGINES"]

SCRATCH_URL_ENV = "CHANGEGATE_SCRATCH_POSTGRES_URL"
ENGINES = ("postgresql", "sqlite")
PASS, FAIL, NOT_RUN = "pass", "fail", "not_run"
ROLES = ("schema", "deploy", "rollback", "verify")
DIGEST_VERSION = "changegate-sqlcheck-v1"

# Set once, when the check is first imported (the core keeps no global state): sqlglot warns for every
# statement it keeps as an opaque Command (DO blocks, functions), which the lint reports in its own words.
logging.getLogger("sqlglot").setLevel(logging.ERROR)


def normalise_engine(engine: str) -> str:
    e = (engine or "").strip().lower()
    e = {"postgres": "postgresql", "pg": "postgresql", "sqlite3": "sqlite"}.get(e, e)
    if e not in ENGINES:
        raise InvalidInput(f"unknown engine {engine!r}: use postgresql or sqlite", field="engine")
    return e


def scripts_digest(engine: str, schema_sql: str, deploy_sql: str, rollback_sql: str,
                   verify_sql: str | None = None) -> dict[str, str | None]:
    """SHA-256 of each script (UTF-8 bytes of the text as given) and one combined digest.

    combined = sha256 of the lines ``changegate-sqlcheck-v1``, ``engine:<engine>``, then
    ``deploy:<hex>``, ``rollback:<hex>``, ``verify:<hex or ->``, ``schema:<hex>``, each ending in ``\\n``.
    Editing any script, or checking on another engine, gives another combined digest.
    """
    engine = normalise_engine(engine)
    texts = {"schema": schema_sql, "deploy": deploy_sql, "rollback": rollback_sql, "verify": verify_sql}
    out: dict[str, str | None] = {k: hashlib.sha256(v.encode("utf-8")).hexdigest() if v is not None else None
                                  for k, v in texts.items()}
    lines = [DIGEST_VERSION, f"engine:{engine}"] + [f"{k}:{out[k] or '-'}" for k in ("deploy", "rollback", "verify",
                                                                                        "schema")]
    out["combined"] = hashlib.sha256("".join(line + "\n" for line in lines).encode()).hexdigest()
    return out


@dataclass
class PropertyResult:
    verdict: str = NOT_RUN
    sentences: list[str] = field(default_factory=list)
    differences: list[dict] = field(default_factory=list)

    def set(self, verdict: str, *sentences: str) -> "PropertyResult":
        self.verdict = verdict
        self.sentences.extend(sentences)
        return self

    def to_dict(self) -> dict:
        return {"verdict": self.verdict, "sentences": list(self.sentences), "differences": list(self.differences)}


@dataclass
class SqlCheckReport:
    engine: str
    names: dict[str, str]
    scripts_sha256: dict[str, str | None]
    properties: dict[str, PropertyResult] = field(default_factory=lambda: {p: PropertyResult() for p in
                                                                           ("lint", "idempotent", "reversible",
                                                                            "verify")})
    findings: list[Finding] = field(default_factory=list)
    atomic: dict[str, dict] = field(default_factory=dict)
    runs: list[RunOutcome] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    fingerprints: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    scratch: dict[str, str] = field(default_factory=dict)  # the scratch database's version and settings

    @property
    def passed(self) -> bool:
        return all(p.verdict != FAIL for p in self.properties.values()) and \
            all(self.properties[p].verdict == PASS for p in ("lint", "idempotent", "reversible"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "passed": self.passed,
            "scripts": dict(self.names),
            "scripts_sha256": dict(self.scripts_sha256),
            "properties": {k: v.to_dict() for k, v in self.properties.items()},
            "findings": [f.to_dict() for f in self.findings],
            "atomic": dict(self.atomic),
            "runs": [r.to_dict() for r in self.runs],
            "timings": {k: round(v, 4) for k, v in self.timings.items()},
            "fingerprints": dict(self.fingerprints),
            "notes": list(self.notes),
            "scratch": dict(self.scratch),
        }


def check_sql(engine: str, schema_sql: str, deploy_sql: str, rollback_sql: str, verify_sql: str | None = None, *,
              names: Mapping[str, str] | None = None, cluster: ThrowawayCluster | None = None,
              timeout: float = 600.0, sandbox: bool = True) -> SqlCheckReport:
    """Check a change's SQL scripts on a scratch copy of ``schema_sql``; see the module docstring.

    ``names`` maps schema/deploy/rollback/verify to the names used in sentences (file names).
    PostgreSQL runs on ``cluster`` when given, else on the server of CHANGEGATE_SCRATCH_POSTGRES_URL,
    else on a throwaway cluster started (and stopped) for this call. ``timeout`` bounds each script run
    in seconds. Raises InvalidInput (usage error) and ScratchUnavailable (no scratch database).
    """
    started = time.perf_counter()
    engine = normalise_engine(engine)
    names = {**{r: r for r in ROLES}, **{k: v for k, v in (names or {}).items() if v}}
    texts = {"schema": schema_sql, "deploy": deploy_sql, "rollback": rollback_sql, "verify": verify_sql}
    report = SqlCheckReport(engine, {r: names[r] for r in ROLES if texts[r] is not None},
                            scripts_digest(engine, schema_sql, deploy_sql, rollback_sql, verify_sql))
    # The schema is analysed first (it is quick); then the scratch database is prepared (cluster started,
    # role and database created, schema loaded, first fingerprint taken) while deploy, rollback and verify
    # are analysed. Nothing of those runs before their analysis found no refused or unparsable statement.
    t = time.perf_counter()
    schema = analyse(schema_sql, engine, "schema", names["schema"])
    report.timings["lint"] = time.perf_counter() - t
    if schema.problems:
        _analyse(engine, texts, names, report, schema)  # raises, naming every problem of every script
    # (On SQLite the preparation is Python-bound like the analysis: overlapping them only adds GIL switches.)
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlcheck-scratch")
    prepare = lambda: _prepare(engine, cluster, timeout, sandbox, report, schema)  # noqa: E731
    preparing = pool.submit(prepare) if engine == "postgresql" else None
    try:
        try:
            scripts = _analyse(engine, texts, names, report, schema)
        except BaseException:
            if preparing is not None:
                _discard(preparing, report)
            raise
        db, owned, fp0 = preparing.result() if preparing is not None else prepare()
        try:
            db.add_roles(set().union(*(s.roles for s in scripts.values())))
            _execution_has_the_last_word(report, scripts, _Dynamic(db, scripts, report, fp0).all())
            report.notes.extend(db.notes)
            reused = getattr(db, "fingerprints_reused", 0)
            if reused:
                report.notes.append(f"{reused} fingerprint{'s were' if reused != 1 else ' was'} not read again: "
                                    f"the run before {'each' if reused != 1 else 'it'} committed nothing (the "
                                    "database file was unchanged)")
        finally:
            _close_scratch(db, owned, report)
    finally:
        pool.shutdown()
    if "verify" not in scripts:
        report.properties["verify"].set(NOT_RUN, "no verify script was given")
    report.timings["total"] = time.perf_counter() - started
    return report


def _analyse(engine: str, texts: dict[str, str | None], names: dict[str, str], report: SqlCheckReport,
             schema: Script) -> dict[str, Script]:
    """Split, refuse, parse and lint every script; raise InvalidInput for usage errors."""
    t = time.perf_counter()
    scripts = {"schema": schema, **{role: analyse(text, engine, role, names[role]) for role, text in texts.items()
                                    if text is not None and role != "schema"}}
    problems = [p for s in scripts.values() for p in s.problems]
    for role in ("deploy", "verify"):
        if role in scripts and not scripts[role].statements and not scripts[role].problems:
            problems.append(Finding(ERROR, "empty_script", f"{names[role]} holds no SQL statement", names[role], 1, 1))
    if problems:
        first = problems[0]
        said = first.message if first.code == "empty_script" else first.sentence
        message = said if len(problems) == 1 else f"{len(problems)} problems in the SQL scripts, the first: {said}"
        raise InvalidInput(message, reasons=tuple(p.reason() for p in problems),
                           field=next(r for r in ROLES if names[r] == first.script))
    report.timings["lint"] += time.perf_counter() - t
    _lint_property(report, scripts)
    if not scripts["rollback"].statements:
        report.findings.append(Finding(WARNING, "empty_rollback", f"{names['rollback']} holds no SQL statement",
                                       names["rollback"], 1, 1))
    for role in ("deploy", "rollback", "verify"):
        if role in scripts:
            s = scripts[role]
            report.atomic[role] = {"script": s.name, "atomic": s.atomic, "execution": s.execution, "how": s.how}
    return scripts


def _lint_property(report: SqlCheckReport, scripts: dict[str, Script]) -> None:
    for role in ("deploy", "rollback", "verify"):
        if role in scripts:
            report.findings.extend(scripts[role].findings)
    _judge_lint(report)


def _judge_lint(report: SqlCheckReport, disproved: int = 0) -> None:
    errors = [f for f in report.findings if f.severity == ERROR]
    warnings = [f for f in report.findings if f.severity == WARNING]
    infos = [f for f in report.findings if f.severity == INFO]
    tail = f"{len(warnings)} warning{'s' * (len(warnings) != 1)} and {len(infos)} note{'s' * (len(infos) != 1)} " \
           "for approvers"
    report.properties["lint"] = lint = PropertyResult()
    if errors:
        lint.set(FAIL, f"{len(errors)} statement{'s are' if len(errors) != 1 else ' is'} not safe to run twice "
                 f"({tail})", *[f.sentence for f in errors])
    elif disproved:
        lint.set(PASS, f"every statement parses; the run-twice test disproved {disproved} lint finding"
                 f"{'s' * (disproved != 1)} that a statement is not safe to run twice ({tail})")
    else:
        lint.set(PASS, f"every statement parses and is safe to run twice ({tail})")


# Lint findings the dynamic test can disprove: a script that ran twice, the second run succeeding and
# changing nothing, is repeatable whatever its statements look like.
_DISPROVABLE = {"not_repeatable"}


def _execution_has_the_last_word(report: SqlCheckReport, scripts: dict[str, Script], proven: set[str]) -> None:
    """Lint findings the double run disproved become notes saying so; the lint verdict is judged again."""
    names = {scripts[role].name for role in proven}
    disproved = 0
    for i, f in enumerate(report.findings):
        if f.code in _DISPROVABLE and f.script in names:
            disproved += 1
            report.findings[i] = replace(f, severity=INFO, message=(
                f"{f.message}; disproved by the run: {f.script} ran twice in the check, the second run succeeded "
                "and changed nothing"))
    if disproved:
        _judge_lint(report, disproved)


def _open_scratch(engine: str, cluster, timeout: float, sandbox: bool, report: SqlCheckReport):
    """The scratch database, and the cluster started for it (or None)."""
    timings = report.timings
    if engine == "sqlite":
        return SqliteScratch(timeout), None
    owned = None
    if cluster is not None:
        admin = cluster.dsn("postgres")
    elif os.environ.get(SCRATCH_URL_ENV):
        admin = os.environ[SCRATCH_URL_ENV]
    else:
        t = time.perf_counter()
        try:
            owned = start_throwaway_cluster()
        except PostgresUnavailable as exc:
            raise ScratchUnavailable(f"no scratch PostgreSQL: {exc}; or set {SCRATCH_URL_ENV}") from None
        except RuntimeError as exc:
            raise ScratchUnavailable(f"cannot start a throwaway PostgreSQL cluster: {exc}") from None
        timings["cluster_start"] = time.perf_counter() - t
        admin = owned.dsn("postgres")
        report.notes.append("a throwaway PostgreSQL cluster was started for this check and stopped after it")
    try:
        t = time.perf_counter()
        db = PgScratch(admin, timeout=timeout, sandbox=sandbox)
        timings["create_database"] = time.perf_counter() - t
    except BaseException:
        if owned is not None:
            owned.stop()
        raise
    if db.role:
        report.notes.append(f"scripts ran as {db.role}, an unprivileged role owning the scratch database")
    return db, owned


def _prepare(engine: str, cluster, timeout: float, sandbox: bool, report: SqlCheckReport, schema: Script):
    """Open the scratch database, load the schema, take the first fingerprint."""
    db, owned = _open_scratch(engine, cluster, timeout, sandbox, report)
    try:
        t = time.perf_counter()
        db.load_schema(schema)
        report.timings["schema"] = time.perf_counter() - t
        t = time.perf_counter()
        fp0 = db.fingerprint()
        report.timings["fingerprint"] = time.perf_counter() - t
        report.scratch = db.settings()
        report.notes.insert(0, _scratch_note(report.scratch))
    except BaseException:
        _close_scratch(db, owned, report)
        raise
    return db, owned, fp0


def _scratch_note(settings: dict[str, str]) -> str:
    """``scratch database: SQLite 3.45.1; foreign_keys=on, journal_mode=delete``."""
    rest = ", ".join(f"{k}={v!r}" if v == "" or " " in v else f"{k}={v}" for k, v in settings.items()
                     if k != "version")
    return f"scratch database: {settings['version']}; {rest}"


def _close_scratch(db, owned, report: SqlCheckReport) -> None:
    t = time.perf_counter()
    try:
        db.close()
    finally:
        report.timings["teardown"] = time.perf_counter() - t
        if owned is not None:
            t = time.perf_counter()
            owned.stop()
            report.timings["cluster_stop"] = time.perf_counter() - t


def _discard(opening: Future, report: SqlCheckReport) -> None:
    """The analysis failed: close whatever the scratch preparation opened, ignoring its own errors."""
    try:
        db, owned, _ = opening.result()
    except Exception:  # noqa: BLE001 - the usage error is what the caller must see
        return
    _close_scratch(db, owned, report)


def _consequences(script: Script, outcome: RunOutcome, before: Fingerprint, after: Fingerprint) -> list[str]:
    """What a failed run left behind, in sentences."""
    left = significant(diff(before, after))
    if script.atomic:
        if not left:
            return [f"{script.name} ran in one transaction, so none of it stayed applied"]
        return [f"{script.name} ran in one transaction, yet the database changed:",
                *sentences(left, "left_applied")]
    head = _not_atomic(script, outcome)
    if not left:
        return [head + ", but that left no difference in the database"] if outcome.applied else [head]
    return [head + ", leaving the database half-changed:", *sentences(left, "left_applied")]


def _not_atomic(script: Script, outcome: RunOutcome) -> str:
    n, total = outcome.applied, outcome.statements
    if script.execution == "own_transactions":
        return (f"{script.name} is NOT atomic: it failed at statement {n + 1} of {total}, and the transactions it "
                "committed before that stayed applied")
    if n == 0:
        return f"{script.name} is NOT atomic, but it failed at its first statement"
    stayed = f"statement 1 of {total} stayed" if n == 1 else f"statements 1–{n} of {total} stayed"
    return f"{script.name} is NOT atomic: {stayed} applied"


class _Dynamic:
    """The runs of one check, in order: deploy twice, rollback twice, verify after each; the verdicts of
    idempotent, reversible and verify, and which scripts the double run proved repeatable."""

    def __init__(self, db, scripts: dict[str, Script], report: SqlCheckReport, fp0: Fingerprint):
        self.db, self.report, self.fp0 = db, report, fp0
        self.schema, self.deploy, self.rollback = scripts["schema"], scripts["deploy"], scripts["rollback"]
        self.verify = scripts.get("verify")
        props = report.properties
        self.idem, self.rev, self.ver = props["idempotent"], props["reversible"], props["verify"]
        self.idem_sentences: list[str] = []
        self.proven: set[str] = set()  # roles whose double run succeeded and changed nothing

    def phase(self, name: str, fn):
        t = time.perf_counter()
        try:
            return fn()
        finally:
            self.report.timings[name] = self.report.timings.get(name, 0.0) + time.perf_counter() - t

    def fingerprint(self) -> Fingerprint:
        return self.phase("fingerprint", self.db.fingerprint)

    def run(self, script: Script, n: int, label: str) -> RunOutcome:
        outcome = self.phase(label, lambda: self.db.run(script, n))
        self.report.runs.append(outcome)
        return outcome

    def all(self) -> set[str]:
        self.report.fingerprints["before"] = self.fp0.digest()
        d1 = self.run(self.deploy, 1, "deploy_1")
        if not d1.ok:
            self._deploy_failed(d1)
            return self.proven
        fp1 = self.fingerprint()
        self.report.fingerprints["after_deploy"] = fp1.digest()
        v1 = self.run(self.verify, 1, "verify_after_deploy") if self.verify else None
        deploy_ok, changed = self._deploy_again(fp1)
        if changed:  # judge the rollback from the state it was written for: deployed once, on a fresh copy
            fp1 = self._rebuild(v1)
            if fp1 is None:
                return self.proven
        r1, v2, rollback_ok = self._rollback(fp1)
        self.idem.set(PASS if deploy_ok and rollback_ok is not False else FAIL, *self.idem_sentences)
        if self.verify:
            self._judge_verify(v1, r1, v2)
        return self.proven

    def _deploy_failed(self, d1: RunOutcome) -> None:
        deploy = self.deploy
        self.idem.set(FAIL, f"{deploy.name} failed on its first run: {d1.error}",
                      *_consequences(deploy, d1, self.fp0, self.fingerprint()))
        self.rev.set(NOT_RUN, f"not tested: {deploy.name} failed on its first run")
        if self.verify:
            self.ver.set(NOT_RUN, f"not run: {deploy.name} failed on its first run")

    def _deploy_again(self, fp1: Fingerprint) -> tuple[bool, bool]:
        """The second deploy: (succeeded and changed nothing, changed the database)."""
        deploy, said = self.deploy, self.idem_sentences
        d2 = self.run(deploy, 2, "deploy_2")
        second = significant(diff(fp1, self.fingerprint()))
        if d2.ok and not second:
            said.append(f"{deploy.name} ran twice: the second run succeeded and changed nothing")
            self.proven.add("deploy")
            return True, False
        if not d2.ok:
            said.append(f"{deploy.name} failed on its second run: {d2.error}")
            if not deploy.atomic:
                said.append(_not_atomic(deploy, d2))
        if second:
            said.append(f"the second run of {deploy.name} changed the database:")
            said.extend(sentences(second, "second_run"))
            self.idem.differences.extend(d.to_dict() for d in second)
        return False, bool(second)

    def _rebuild(self, v1: RunOutcome | None) -> Fingerprint | None:
        """A fresh copy deployed once, its fingerprint; None when that deploy failed (verdicts are set)."""
        def rebuild():
            self.db.recreate()
            self.db.load_schema(self.schema)
            return self.db.run(self.deploy, 1)
        again = self.phase("rebuild", rebuild)
        self.report.runs.append(again)
        self.report.notes.append(f"the second run of {self.deploy.name} changed the database, so the rollback was "
                                 "tested on a fresh copy deployed once")
        if again.ok:
            return self.fingerprint()
        self.idem.set(FAIL, *self.idem_sentences)
        self.rev.set(NOT_RUN, f"not tested: {self.deploy.name} failed when applied again to a fresh copy: "
                     f"{again.error}")
        if self.verify:
            self.ver.set(FAIL if not v1.ok else NOT_RUN, *_verify_after_deploy(self.verify, v1))
        return None

    def _rollback(self, fp1: Fingerprint) -> tuple[RunOutcome, RunOutcome | None, bool | None]:
        """The rollback's runs: (first run, verify after it, second run succeeded and changed nothing)."""
        rollback = self.rollback
        r1 = self.run(rollback, 1, "rollback_1")
        if not r1.ok:
            self.rev.set(FAIL, f"{rollback.name} failed: {r1.error}",
                         *_consequences(rollback, r1, fp1, self.fingerprint()))
            self.idem_sentences.append(f"{rollback.name} was not run twice: its first run failed")
            return r1, None, None
        fp3 = self.fingerprint()
        self.report.fingerprints["after_rollback"] = fp3.digest()
        self._judge_reversible(fp3)
        v2 = self.run(self.verify, 2, "verify_after_rollback") if self.verify else None
        return r1, v2, self._rollback_again(fp3)

    def _judge_reversible(self, fp3: Fingerprint) -> None:
        back = diff(self.fp0, fp3)
        sig = significant(back)
        if sig:
            self.rev.set(FAIL, f"after {self.rollback.name} the database differs from the original:",
                         *sentences(sig, "reversible"))
            self.rev.differences.extend(d.to_dict() for d in sig)
        else:
            self.rev.set(PASS, f"after {self.deploy.name} then {self.rollback.name} the database equals the "
                         "original (schema and rows)")
        for d in back:
            if d.note:
                self.rev.sentences.append(f"note: {d.kind} {d.name} moved from position {d.before} to {d.after} "
                                          "(SELECT * and INSERT without a column list see another order)")

    def _rollback_again(self, fp3: Fingerprint) -> bool:
        rollback, said = self.rollback, self.idem_sentences
        r2 = self.run(rollback, 2, "rollback_2")
        again = significant(diff(fp3, self.fingerprint()))
        if r2.ok and not again:
            said.append(f"{rollback.name} ran twice: the second run succeeded and changed nothing")
            self.proven.add("rollback")
            return True
        if not r2.ok:
            said.append(f"{rollback.name} failed on its second run: {r2.error}")
        if again:
            said.append(f"the second run of {rollback.name} changed the database:")
            said.extend(sentences(again, "second_run"))
            self.idem.differences.extend(d.to_dict() for d in again)
        return False

    def _judge_verify(self, v1: RunOutcome, r1: RunOutcome, v2: RunOutcome | None) -> None:
        verify, rollback = self.verify, self.rollback
        ok_after_deploy = _verify_after_deploy(verify, v1)
        if not r1.ok:
            self.ver.set(FAIL if not v1.ok else NOT_RUN, *ok_after_deploy,
                         f"{verify.name} was not run after the rollback: {rollback.name} failed")
        elif v2.ok:
            self.ver.set(FAIL, *ok_after_deploy, f"{verify.name} still passes after {rollback.name}: it does not "
                         "notice that the change is gone")
        else:
            self.ver.set(PASS if v1.ok else FAIL, *ok_after_deploy,
                         f"{verify.name} fails after {rollback.name}, as it should: {v2.error}")


def _verify_after_deploy(verify: Script, v1: RunOutcome) -> list[str]:
    if v1.ok:
        return [f"{verify.name} passes after deploy"]
    return [f"{verify.name} fails after deploy: {v1.error}"]
