"""Following a run's log (services/run_stream.py) reads only what is new since the last poll: the steps added
since, and the steps still open (a manual step waiting for its person), not the whole run again. Through the
API the stream is asynchronous: many followers of a quiet run hold no server thread, so other requests still
answer, and a quiet stream sends keep-alives."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx

from changegate.db.repositories.runs import RunRepository
from changegate.schemas.runs import ConfirmIn
from changegate.services import run_stream, runs

from runner_support import scheduled_dev_change
from test_runs_deploy import ROLLBACK
from test_runs_people import _start, _wait_until


def test_following_reads_new_and_open_steps_only(rt, service, monkeypatch):
    service.release("v2", version="2.0.0")
    ref = scheduled_dev_change(rt, ROLLBACK)
    text = f"""
protect: [{{name: snapshot, shell: "cp live/* backup/", cwd: {service.root}}}]
steps:
  - {{name: install v2, shell: "cp releases/v2/* live/", cwd: {service.root}}}
  - {{name: restart the printers, manual: restart them, role: system_administrator, timeout: 2m}}
checks:
  smoke: [{{name: health, http: {{url: "{service.url}/health"}}}}]
timing: {{check_after: 0s}}
"""
    driver, result = _start(rt, ref, text)
    _wait_until(rt, ref, lambda r: any(s.state == "waiting" for s in r.steps))
    read: list[int] = []
    original = RunRepository.steps

    def counted(self, run_id, after_id=0, also=()):
        rows = original(self, run_id, after_id, also)
        read.append(len(rows))
        return rows

    monkeypatch.setattr(RunRepository, "steps", counted)
    lines: list[str] = []
    cursor = run_stream.open_log(rt, rt.context("audrey.audit"), ref)
    follower = threading.Thread(target=lambda: lines.extend(run_stream.follow(cursor, poll=0.05)))
    follower.start()
    while len(read) < 5:  # a few polls while the manual step waits
        time.sleep(0.05)
    with rt.uow() as uow:
        runs.confirm_step(uow, rt.context("sam.sysadmin"), ref, ConfirmIn(step="restart the printers"))
    driver.join(60)
    follower.join(60)
    assert result["state"] == "committed"
    assert read[0] == 3 and set(read[1:4]) == {1}  # the three steps once, then only the waiting one
    said = [line.split(" ", 1)[1].strip() for line in lines]
    assert said[:3] == ["protect.0 snapshot: succeeded exit status 0", "steps.0 install v2: succeeded exit status 0",
                        "steps.1 restart the printers: waiting"]
    assert "steps.1 restart the printers: succeeded done, says sam.sysadmin" in said
    assert lines[-1] == "run 1 committed: every check passed\n"


MANUAL_PLAN = """
steps:
  - {name: restart the printers, manual: restart them, role: system_administrator, timeout: 2m}
timing: {check_after: 0s}
"""
# More followers than the server's thread pool has threads (anyio's default: 40): a stream that held a thread
# while its run is quiet would leave none for any other request.
FOLLOWERS = 45


def test_many_followers_of_a_quiet_run_leave_the_server_answering(rt, rt_server, rt_tokens):
    ref = scheduled_dev_change(rt, ROLLBACK)
    driver, result = _start(rt, ref, MANUAL_PLAN)
    _wait_until(rt, ref, lambda r: any(s.state == "waiting" for s in r.steps))

    def api(person: str) -> httpx.Client:
        return httpx.Client(base_url=rt_server + "/api/v1", timeout=30,
                            headers={"Authorization": f"Bearer {rt_tokens[person]}"})

    heard = [[] for _ in range(FOLLOWERS)]
    waiting = threading.Barrier(FOLLOWERS + 1, timeout=60)

    def follow(i: int) -> None:
        with api("audrey.audit") as client, client.stream("GET", f"/changes/{ref}/run/log",
                                                          params={"follow": "true"}) as stream:
            for line in stream.iter_lines():
                heard[i].append(line)
                if line.endswith("restart the printers: waiting"):
                    waiting.wait()

    followers = [threading.Thread(target=follow, args=(i,)) for i in range(FOLLOWERS)]
    for f in followers:
        f.start()
    waiting.wait()  # every stream is open and has nothing more to say until the step is confirmed
    with api("audrey.audit") as client:
        shown = client.get(f"/changes/{ref}/run")  # a thread-pool route: answers only if a thread is free
    assert shown.status_code == 200 and shown.json()["steps"][0]["state"] == "waiting"
    with api("sam.sysadmin") as client:
        confirmed = client.post(f"/changes/{ref}/run/confirm", json={"step": "restart the printers"})
    assert confirmed.status_code == 200, confirmed.text
    driver.join(60)
    for f in followers:
        f.join(60)
    assert result["state"] == "committed"
    assert all(h[-1] == "run 1 committed: every check passed" for h in heard)
    assert all(sum("restart the printers: succeeded" in line for line in h) == 1 for h in heard)


def test_a_quiet_stream_sends_keepalives_and_ends_with_the_run(rt):
    ref = scheduled_dev_change(rt, ROLLBACK)
    driver, result = _start(rt, ref, MANUAL_PLAN)
    _wait_until(rt, ref, lambda r: any(s.state == "waiting" for s in r.steps))
    cursor = run_stream.open_log(rt, rt.context("audrey.audit"), ref)

    async def listen() -> list[str]:
        said = []
        async for line in run_stream.follow_async(cursor, poll=0.02, keepalive=0.05):
            said.append(line)
            if line == run_stream.KEEPALIVE and said.count(line) == 2:  # quiet for a while: let the run go on
                await asyncio.to_thread(confirm)
        return said

    def confirm() -> None:
        with rt.uow() as uow:
            runs.confirm_step(uow, rt.context("sam.sysadmin"), ref, ConfirmIn(step="restart the printers"))

    said = asyncio.run(listen())
    driver.join(60)
    assert result["state"] == "committed"
    assert said[0].split(" ", 1)[1] == "steps.0 restart the printers: waiting\n"
    assert said[1:3] == ["\n", "\n"]  # keep-alives while the step waited
    assert "steps.0 restart the printers: succeeded done, says sam.sysadmin\n" in [
        line.split(" ", 1)[-1] for line in said]
    assert said[-1] == "run 1 committed: every check passed\n"
