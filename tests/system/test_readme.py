"""The README as a new user meets it: it stands alone, it names no macOS-only command, and its curl
walk-through (which scripts/walkthrough runs, read from the README) works twice against one server."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.servers import PRODUCTION, ROOT, free_port, server_env, start, stop, wait_until_healthy

README = (ROOT / "README.md").read_text()


def test_the_readme_stands_alone():
    assert "../shared" not in README and "API.md" not in README


@pytest.mark.parametrize(
    "command", [r"\bopen http", r"\bpbcopy\b", r"\bbrew install\b", r"sed -i ''", r"\bgdate\b"]
)
def test_the_readme_names_no_macos_only_command(command):
    assert not re.search(command, README)


def test_the_readme_says_what_a_second_server_on_a_taken_port_does():
    assert re.search(r"already in use.*exit code 1", README, re.S)


@pytest.mark.skipif(shutil.which("curl") is None, reason="the walk-through is curl commands")
def test_the_walkthrough_runs_twice_against_one_server():
    port = free_port()
    server = start(PRODUCTION, server_env(port, BCRYPT_ROUNDS="4", LOG_LEVEL="WARNING"))
    try:
        wait_until_healthy(server, port)
        for _ in range(2):
            run = subprocess.run(
                [str(ROOT / "scripts" / "walkthrough"), f"http://127.0.0.1:{port}"],
                capture_output=True, text=True, timeout=120,
            )  # fmt: skip
            assert run.returncode == 0, run.stderr
            lines = run.stdout.splitlines()
            assert lines[0].isdigit(), run.stdout  # the timer's seconds
            assert lines[1:4] == ["INV-0001", "1.50", "paid"], run.stdout  # one line of real hours
            assert '"paid_last_30_days":"216.00"' in lines[4]
        # Having rendered a document (the send), the server still stops on SIGTERM: the rendering pool does
        # not hold granian's worker process open.
        server.terminate()
        try:
            server.communicate(timeout=35)
        except subprocess.TimeoutExpired:
            pytest.fail("the server did not stop within 35 s of SIGTERM")
    finally:
        stop(server)
