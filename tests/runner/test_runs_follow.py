"""Following a run's log reads only what is new since the last poll: the steps added since, and the steps
still open (a manual step waiting for its person), not the whole run again."""

from __future__ import annotations

import threading
import time

from changegate.db.repositories.runs import RunRepository
from changegate.schemas.runs import ConfirmIn
from changegate.services import runs

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
    follower = threading.Thread(target=lambda: lines.extend(runs.follow_log(rt, rt.context("audrey.audit"), ref,
                                                                            poll=0.05)))
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
