"""`python -m app` as an operator meets it (issue 22): `--help` says what each command does, and a set-up
in which no job would ever run (a worker, or an API with WORKER=off, on the embedded store, which lives
inside one process) stops at start-up with one line and exit code 2 instead of silently never delivering."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import Settings
from tests.servers import PRODUCTION, ROOT, free_port, server_env

UVICORN = str(Path(sys.executable).parent / "uvicorn")


def run(command: list[str], **changes: str) -> subprocess.CompletedProcess[str]:
    """`command` with this environment (embedded store, test settings) plus `changes`, to its exit."""
    env = server_env(free_port(), LOG_FORMAT="json", **changes)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)


def one_critical_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    entry = json.loads(lines[0])
    assert entry["level"] == "CRITICAL", entry
    return str(entry["message"])


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage_and_each_command_then_exits_0(flag):
    result = run([*PRODUCTION, flag])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert result.stdout.startswith("usage: python -m app [serve|worker|migrate]\n")
    for command in ("serve", "worker", "migrate"):
        assert any(line.lstrip().startswith(command) for line in result.stdout.splitlines()), command
    assert "CRITICAL" not in result.stdout


def test_an_unknown_command_still_is_a_usage_error_pointing_at_help():
    result = run([*PRODUCTION, "--verbose"])
    assert result.returncode == 2
    message = one_critical_line(result)
    assert message.startswith("usage: python -m app") and "--help" in message


# ---------------------------------------------------------------- jobs that no process would ever run


def test_a_worker_without_mongodb_url_refuses_to_start():
    result = run([*PRODUCTION, "worker"], APP_ENV="development")
    assert result.returncode == 2, result.stderr
    message = one_critical_line(result)
    assert message.startswith("configuration error: MONGODB_URL: ") and "worker" in message


@pytest.mark.parametrize(
    "command",
    [PRODUCTION, [UVICORN, "--host", "127.0.0.1", "--port", "0", "app.main:app"]],
    ids=["python -m app", "uvicorn"],
)
def test_an_api_with_worker_off_on_the_embedded_store_refuses_to_start(command):
    result = run(command, APP_ENV="development", WORKER="off")
    assert result.returncode == 2, result.stderr
    message = one_critical_line(result)
    assert message.startswith("configuration error: WORKER: ") and "MONGODB_URL" in message


def test_which_set_ups_run_their_jobs():
    embedded = {"APP_ENV": "development"}
    database = {**embedded, "MONGODB_URL": "mongodb://db:27017"}
    cases = [
        (embedded, False, None),  # the default: the API runs them inline
        ({**embedded, "WORKER": "off"}, False, "WORKER"),
        (embedded, True, "MONGODB_URL"),
        ({**database, "WORKER": "off"}, False, None),  # compose: the API off, workers on the database
        (database, True, None),
        ({"APP_ENV": "test", "WORKER": "off"}, False, None),  # the tests run jobs themselves
        ({"APP_ENV": "test"}, True, None),
    ]
    for env, worker_process, refused in cases:
        problem = Settings.from_env(env).jobs_unreachable(worker_process=worker_process)
        if refused is None:
            assert problem is None, (env, worker_process, problem)
        else:
            assert problem is not None and problem.startswith(f"{refused}: "), (env, worker_process, problem)
