"""Running one action of a plan: a command (argv or a shell line) with a timeout and captured output, or an
HTTP call with httpx; and sampling a performance metric. Nothing here knows about runs or databases."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from dataclasses import dataclass, field

import httpx

from ..core.runs.plan import Action, HttpCall, PerformanceCheck, PrometheusQuery
from .stop import NEVER, Stop

MAX_OUTPUT = 64 * 1024  # characters of output kept per step: the head and the tail


@dataclass
class Outcome:
    ok: bool
    exit_status: int | None = None
    output: str = ""
    message: str = ""  # one sentence: why it failed, or what it measured
    detail: dict = field(default_factory=dict)


def run_action(action: Action, default_timeout: float, stop: Stop = NEVER) -> Outcome:
    """Run one action; ``Stopped`` (nothing to record) when ``stop`` was set meanwhile: the worker no longer
    drives the run, and the command was killed."""
    stop.check()
    if action.http is not None:
        got = http_call(action.http, action.timeout or default_timeout)
        stop.check()  # the worker stopped during the call: its outcome is not this worker's to record
        return got
    return run_command(action, action.timeout or default_timeout, stop)


def run_command(action: Action, timeout: float, stop: Stop = NEVER) -> Outcome:
    argv = list(action.run) if action.run is not None else ["/bin/sh", "-c", action.shell]
    env = {**os.environ, **action.env}
    try:
        # A session of its own: on timeout the whole process group is killed, not only the shell.
        proc = stop.start(argv, cwd=action.cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          stdin=subprocess.DEVNULL, start_new_session=True)
    except OSError as exc:
        return Outcome(False, None, "", f"cannot start {argv[0]!r}: {exc.strerror or exc}")
    with stop.tracking(proc):  # a stop (lost lease, worker stopping) kills the whole group
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_group(proc)
            out, _ = proc.communicate()
            stop.check()
            return Outcome(False, None, _text(out), f"timed out after {timeout:g} s and was killed")
    stop.check()  # killed by the stop: not an outcome of the step
    status = proc.returncode
    message = "exit status 0" if status == 0 else f"exit status {status}"
    return Outcome(status == 0, status, _text(out), message)


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _text(raw: bytes | None) -> str:
    text = (raw or b"").decode("utf-8", errors="replace").replace("\x00", "\ufffd")
    if len(text) > MAX_OUTPUT:
        half = MAX_OUTPUT // 2
        text = f"{text[:half]}\n… ({len(text) - MAX_OUTPUT} characters left out) …\n{text[-half:]}"
    return text


def http_call(call: HttpCall, timeout: float, client: httpx.Client | None = None) -> Outcome:
    try:
        if client is None:
            with httpx.Client(timeout=timeout, follow_redirects=False) as own:
                response = _request(own, call)
        else:
            response = _request(client, call)
    except httpx.HTTPError as exc:
        return Outcome(False, None, "", f"{call.method} {call.url} failed: {exc or type(exc).__name__}")
    body = response.text
    problems = []
    if response.status_code != call.expect_status:
        problems.append(f"answered {response.status_code}, expected {call.expect_status}")
    if call.body_contains is not None and call.body_contains not in body:
        problems.append(f"the body does not contain {call.body_contains!r}")
    if call.body_matches is not None and not re.search(call.body_matches, body):
        problems.append(f"the body does not match /{call.body_matches}/")
    message = "; ".join(problems) or f"answered {response.status_code}"
    return Outcome(not problems, response.status_code, _text(body.encode()), message)


def _request(client: httpx.Client, call: HttpCall) -> httpx.Response:
    return client.request(call.method, call.url, headers=call.headers,
                          content=call.body.encode() if call.body is not None else None)


_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def sample(check: PerformanceCheck, default_timeout: float, stop: Stop = NEVER) -> Outcome:
    """``check.samples`` values of the metric: seconds per HTTP call, or the last number a command prints.
    Any failed sample fails the whole: a metric that cannot be read is no baseline."""
    values: list[float] = []
    # One client for every sample: building one (its TLS context) costs more than a loopback request, and
    # that cost, varying with the machine's load, would be measured as the endpoint's latency.
    with httpx.Client(timeout=check.timeout or default_timeout, follow_redirects=False) as client:
        for i in range(check.samples):
            if i and check.interval:
                stop.sleep(check.interval)
            got, elapsed = _one_sample(check, default_timeout, client, stop)
            stop.check()
            if not got.ok:
                return Outcome(False, got.exit_status, got.output,
                               f"sample {i + 1} of {check.samples}: {got.message}", {"samples": values})
            if check.http is not None:
                values.append(elapsed)
                continue
            if check.prometheus is not None:
                values.append(got.detail["value"])
                continue
            numbers = _NUMBER.findall(got.output)
            if not numbers:
                return Outcome(False, got.exit_status, got.output,
                               f"sample {i + 1} of {check.samples}: the command printed no number",
                               {"samples": values})
            values.append(float(numbers[-1]))
    return Outcome(True, 0, "", f"{len(values)} samples", {"samples": values})


def _one_sample(check: PerformanceCheck, default_timeout: float, client: httpx.Client,
                stop: Stop) -> tuple[Outcome, float]:
    started = time.perf_counter()
    if check.prometheus is not None:
        got = prometheus_value(check.prometheus, client)
    elif check.http is not None:
        got = http_call(check.http, check.timeout or default_timeout, client)
    else:
        got = run_action(check, default_timeout, stop)
    return got, time.perf_counter() - started



def prometheus_value(q: PrometheusQuery, client: httpx.Client) -> Outcome:
    """The one number an instant query returns (GET /api/v1/query)."""
    where = f"Prometheus at {q.url}"
    try:
        response = client.get(q.url.rstrip("/") + "/api/v1/query", params={"query": q.query})
    except httpx.HTTPError as exc:
        return Outcome(False, None, "", f"{where} does not answer: {exc or type(exc).__name__}")
    try:
        body = response.json()
    except ValueError:
        return Outcome(False, response.status_code, _text(response.content),
                       f"{where} answered HTTP {response.status_code} with no JSON: is it a Prometheus server?")
    if not isinstance(body, dict):
        return Outcome(False, response.status_code, "", f"{where} answered JSON that is no Prometheus answer")
    if body.get("status") != "success":
        return Outcome(False, response.status_code, "", f"{where} refused the query: {body.get('error', body)}")
    data = body.get("data", {})
    result = data.get("result")
    if data.get("resultType") == "scalar":
        return Outcome(True, response.status_code, "", "", {"value": float(result[1])})
    if data.get("resultType") != "vector" or len(result) != 1:
        count = len(result) if isinstance(result, list) else 0
        return Outcome(False, response.status_code, "", f"the query {q.query!r} returned {count} series; a "
                       "performance check needs exactly one number (aggregate it, e.g. with sum())")
    return Outcome(True, response.status_code, "", "", {"value": float(result[0]["value"][1])})


def prometheus_problem(url: str, timeout: float) -> str | None:
    """None when the Prometheus server at ``url`` answers an instant query; else why not, as a sentence."""
    with httpx.Client(timeout=timeout, follow_redirects=False) as client:
        got = prometheus_value(PrometheusQuery(url=url, query="vector(1)"), client)
    return None if got.ok else got.message
