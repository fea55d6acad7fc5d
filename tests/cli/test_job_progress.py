"""The line a CLI shows while it polls a background job through --url (cli/progress.py)."""

from __future__ import annotations

from changegate.cli.progress import WORKER_HINT_SECONDS, job_line


def test_a_queued_job_says_what_to_check_once_no_worker_took_it_for_a_while():
    queued = {"state": "queued", "progress": None}
    assert job_line(queued) == "queued: waiting for a worker"
    assert job_line(queued, WORKER_HINT_SECONDS - 1) == "queued: waiting for a worker"
    hint = job_line(queued, WORKER_HINT_SECONDS + 2)
    assert f"for {WORKER_HINT_SECONDS + 2} s" in hint and "'changegate worker'" in hint


def test_a_running_job_shows_its_phase_and_counts_whatever_the_wait():
    running = {"state": "running", "progress": {"phase": "checking the chain", "done": 12000, "total": 50000}}
    assert job_line(running, 999) == "running: checking the chain (12,000 of 50,000)"
