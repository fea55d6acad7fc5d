"""`audit head` gives an anchor to keep outside the database; `audit verify --anchor` checks it later."""

from __future__ import annotations

from sqlalchemy import text
from typer.testing import CliRunner

from changegate.cli.main import app
from changegate.services.demo import load_demo
from changegate.settings import DEFAULT_POLICY


def test_the_api_gives_the_head_and_checks_an_anchor(runtime, as_):
    load_demo(runtime)
    audrey = as_("audrey.audit")
    head = audrey.get("/audit/head").json()
    verdict = audrey.get("/audit/verify").json()
    assert verdict["ok"] and verdict["head"] == {"seq": head["seq"], "hash": head["hash"]}
    assert head["anchor"] == f"{head['seq']}:{head['hash']}"
    assert audrey.get("/audit/verify", params={"anchor": head["anchor"]}).json()["ok"]
    forged = f"3:{'a' * 64}"
    broken = audrey.get("/audit/verify", params={"anchor": forged}).json()
    assert not broken["ok"] and broken["first_broken_seq"] == 3
    assert broken["message"].startswith("event 3 does not match the anchor 3:aaaaaaaaaaaa…")
    bad = audrey.get("/audit/verify", params={"anchor": "3"})
    assert bad.status_code == 422 and bad.json()["field"] == "anchor"
    assert as_("dana.dev").get("/audit/head").status_code == 403


def test_a_chain_rewritten_consistently_keeps_its_own_hashes_but_not_the_anchor(tmp_path, monkeypatch, clock):
    """Someone rewrites an old event and recomputes every later hash and the head: the chain verifies,
    the anchor taken before does not."""
    from changegate.core.audit import event_hash
    from changegate.db.engine import make_engine

    url = f"sqlite:///{tmp_path / 'cg.db'}"
    monkeypatch.setenv("CHANGEGATE_DATABASE_URL", url)
    monkeypatch.setenv("CHANGEGATE_POLICY", str(DEFAULT_POLICY))
    runner = CliRunner()
    assert runner.invoke(app, ["demo", "load"]).exit_code == 0
    anchor = runner.invoke(app, ["audit", "head"]).stdout.strip()
    engine = make_engine(url)
    with engine.begin() as conn:  # rewrite event 1's actor and re-chain everything after it
        rows = conn.execute(text("SELECT seq, at, actor, action, entity, before, after, detail FROM audit_events "
                                 "ORDER BY seq")).all()
        prev = "0" * 64
        for seq, at, actor, action, entity, before, after, detail in rows:
            actor = "mallory" if seq == 1 else actor
            digest = event_hash(prev, seq, at, actor, action, entity, before, after, detail)
            conn.execute(text("UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"),
                         {"a": actor, "p": prev, "h": digest, "s": seq})
            prev = digest
        conn.execute(text("UPDATE audit_head SET last_hash = :h"), {"h": prev})
    engine.dispose()
    assert runner.invoke(app, ["audit", "verify"]).exit_code == 0  # the chain alone cannot tell
    result = runner.invoke(app, ["audit", "verify", "--anchor", anchor])
    assert result.exit_code == 1
    assert f"BROKEN: event {anchor.split(':')[0]} does not match the anchor" in result.stdout
