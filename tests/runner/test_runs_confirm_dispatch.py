"""A manual step confirmed through the API after it paused its run: the run is handed to a worker at once, not
at the workers' next sweep (a third of the lease later: here 200 s, longer than the test waits). Real
processes: ``changegate serve`` (SQLite: its worker) and, on PostgreSQL, a ``changegate worker``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from runner_support import _free_port, scheduled_dev_change
from test_runs_stop import _wait


def test_a_step_confirmed_through_the_api_resumes_its_paused_run_at_once(rt, database_url, policy_file, rt_tokens,
                                                                          tmp_path):
    long_lease = tmp_path / "policy.yaml"  # the sweep every 200 s: only the dispatch can resume the run in time
    long_lease.write_text(policy_file.read_text().replace("lease: 5s", "lease: 600s"))
    env = {**os.environ, "CHANGEGATE_DATABASE_URL": database_url, "CHANGEGATE_POLICY": str(long_lease)}
    port = _free_port()
    log = (tmp_path / "serve.log").open("w")
    started = [subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "serve", "--port", str(port)],
                                env=env, stdout=log, stderr=subprocess.STDOUT)]
    if database_url.startswith("postgresql"):
        started.append(subprocess.Popen([sys.executable, "-m", "changegate.cli.main", "worker"], env=env,
                                        stdout=log, stderr=subprocess.STDOUT))
    plan = (f"steps:\n"
            f"  - {{name: stop the line, manual: Stop line 3., role: system_administrator, timeout: 1s, "
            f"on_timeout: pause}}\n"
            f"  - {{name: install, shell: 'touch {tmp_path}/installed'}}\n")
    try:
        ref = scheduled_dev_change(rt, "true")

        def api(person: str) -> httpx.Client:
            return httpx.Client(base_url=f"http://127.0.0.1:{port}/api/v1", timeout=30,
                                headers={"Authorization": f"Bearer {rt_tokens[person]}"})

        rene, sam = api("rene.release"), api("sam.sysadmin")

        def up() -> bool:
            try:
                return rene.get("/me").status_code == 200
            except httpx.HTTPError:
                return False

        _wait(up, "the server answers")
        queued = rene.post(f"/changes/{ref}/deploy", json={"environment": "dev", "plan": {"text": plan}})
        assert queued.status_code == 202, queued.text
        _wait(lambda: rene.get(f"/changes/{ref}/run").json()["state"] == "paused", "the manual step times out")
        confirmed = sam.post(f"/changes/{ref}/run/confirm", json={"step": "stop the line"})
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "deploying", confirmed.text
        _wait(lambda: rene.get(f"/changes/{ref}/run").json()["state"] == "committed", "the resumed run commits",
              timeout=90)
        assert (tmp_path / "installed").exists()
    finally:
        for proc in started:
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
                proc.wait()
        log.close()
