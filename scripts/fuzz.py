"""Contract fuzzing: schemathesis against the app's own /schema/openapi.json, over every operation.

The app runs on loopback (uvicorn, one process) with the embedded store, fast bcrypt, no rate limit to
speak of and no AI service. A freshly registered user's bearer token authenticates every request;
schemathesis logs that user in again whenever an operation (logout, change-password) revokes it.

Exit status: 0 when schemathesis found nothing and the server logged no unhandled error, else 1.
Environment: FUZZ_SECONDS (time budget, default 120), FUZZ_WORKERS (default 1), FUZZ_SEED,
FUZZ_REPORT_DIR (kept reports and the server log; default a temporary directory, removed on success),
FUZZ_CHECKS (schemathesis checks; default the four below, `all` for every check it has).
"""

from __future__ import annotations

import collections
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"
METHODS = ("get", "post", "put", "patch", "delete")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_environment() -> dict[str, str]:
    """The embedded store, fast bcrypt, a limit high enough never to answer 429, AI unset."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_", "CORS_", "TRUSTED_"))}
    env.update(
        {
            "APP_ENV": "test",
            "BCRYPT_ROUNDS": "4",
            "AUTH_RATE_LIMIT_PER_MINUTE": "100000",
            "JWT_SECRET": secrets.token_urlsafe(48),
            "LOG_LEVEL": "INFO",  # the access log is how this script counts answers per operation
            "LOG_FORMAT": "json",
        }
    )
    return env


def start_server(port: int, log_path: Path) -> subprocess.Popen[bytes]:
    command = [
        str(VENV_BIN / "python"),
        "-m",
        "uvicorn",
        "app.main:app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    log = log_path.open("wb")
    return subprocess.Popen(command, cwd=ROOT, env=server_environment(), stdout=log, stderr=subprocess.STDOUT)


def wait_until_up(base: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"fuzz: the server exited with status {server.returncode} before answering")
        try:
            if httpx.get(f"{base}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"fuzz: the server did not answer /health within {timeout:.0f} s")


def register_user(base: str) -> tuple[str, str]:
    email = f"fuzz-{secrets.token_hex(6)}@example.com"
    password = secrets.token_urlsafe(18)
    response = httpx.post(
        f"{base}/api/auth/register",
        json={"email": email, "password": password, "name": "Fuzz User"},
        timeout=10,
    )
    if response.status_code != 201 or not response.json().get("access_token"):
        raise SystemExit(
            f"fuzz: registering a fuzz user failed: {response.status_code} {response.text[:200]}"
        )
    return email, password


def write_config(path: Path, may_be_unavailable: list[str]) -> None:
    """`may_be_unavailable`: operation ids that document a 503 — the AI operations, which answer
    503 ai_unavailable by contract because the fuzz runs with the AI service unset. Every other 5xx fails.
    Authentication comes from scripts/fuzz_hooks.py."""
    lines = ["[auth]", "auto-signup = false"]
    for operation_id in may_be_unavailable:
        lines += [
            "",
            "[[operations]]",
            f"include-operation-id = {json.dumps(operation_id)}",
            'checks.not_a_server_error.expected-statuses = ["2xx", "3xx", "4xx", "503"]',
        ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def schema_operations(base: str) -> tuple[list[tuple[str, str]], dict[tuple[str, str], str]]:
    """Every (METHOD, path) of the served schema, and the operation ids of those that document a 503."""
    document = httpx.get(f"{base}/schema/openapi.json", timeout=10).json()
    operations: list[tuple[str, str]] = []
    unavailable: dict[tuple[str, str], str] = {}
    for path, item in document.get("paths", {}).items():
        for method, operation in item.items():
            if method not in METHODS:
                continue
            operations.append((method.upper(), path))
            if "503" in operation.get("responses", {}) and operation.get("operationId"):
                unavailable[(method.upper(), path)] = operation["operationId"]
    return sorted(operations), unavailable


Answers = dict[tuple[str, str], collections.Counter[int]]


def read_server_log(path: Path) -> tuple[Answers, list[dict[str, Any]]]:
    """(answers per (method, route template) by status, unhandled-error records) from the JSON log."""
    answers: Answers = collections.defaultdict(collections.Counter)
    errors: list[dict[str, Any]] = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("{"):
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("logger") == "orbix.access":
            answers[(record.get("method", "?"), record.get("path", "?"))][int(record.get("status", 0))] += 1
        elif record.get("level") in ("ERROR", "CRITICAL"):
            errors.append(record)
    return answers, errors


def last_frame(record: dict[str, Any]) -> str:
    """The exception line and the deepest frame in app/ of a logged traceback."""
    trace = str(record.get("exc_info", ""))
    lines = trace.strip().splitlines()
    app_frames = [ln.strip() for ln in lines if ln.strip().startswith("File") and "/app/" in ln]
    where = app_frames[-1] if app_frames else ""
    return f"{lines[-1] if lines else record.get('message', '')}  [{where}]"


def print_summary(
    operations: list[tuple[str, str]],
    unavailable: dict[tuple[str, str], str],
    answers: Answers,
    errors: list[dict[str, Any]],
    report: dict[str, Any] | None,
) -> None:
    print("\n== fuzz summary: answers per operation (from the server's access log) ==")
    width = max((len(f"{m} {p}") for m, p in operations), default=20)
    for method, path in operations:
        counts = answers.get((method, path), collections.Counter())
        statuses = " ".join(f"{status}x{n}" for status, n in sorted(counts.items())) or "-"
        flag = ""
        if (method, path) == ("GET", "/health"):
            print(f"  {method + ' ' + path:<{width}}       -  answered by the edge, not logged by design")
            continue
        if not any(200 <= status < 300 for status in counts):
            flag = "  (no 2xx reached)"
        if any(status >= 500 for status in counts if not (status == 503 and (method, path) in unavailable)):
            flag = "  <-- 5xx"
        print(f"  {method + ' ' + path:<{width}}  {sum(counts.values()):>6}  {statuses}{flag}")
    if report:
        cases = report.get("test_cases", {})
        ops = report.get("operations") or {}
        print(
            f"  schemathesis: {ops.get('tested', '?')}/{ops.get('total', '?')} operations tested, "
            f"{cases.get('generated', '?')} test cases, {cases.get('unique_failures', '?')} unique failures, "
            f"{report.get('auth', {}).get('reauth_count', 0)} re-logins, "
            f"{report.get('running_time', 0):.0f} s, seed {report.get('seed')}"
        )
        for failure in report.get("failures", []):
            where = ", ".join(failure["operations"])
            print(f"  FAILURE {failure['code']} {failure['title']} x{failure['count']}: {where}")
    if errors:
        print(f"  server logged {len(errors)} error(s):")
        for record in errors[:20]:
            print(f"    request_id={record.get('request_id', '-')}: {last_frame(record)}")


def main() -> int:
    seconds = int(os.environ.get("FUZZ_SECONDS", "120"))
    workers = os.environ.get("FUZZ_WORKERS", "1")
    keep_dir = os.environ.get("FUZZ_REPORT_DIR")
    work = Path(keep_dir) if keep_dir else Path(tempfile.mkdtemp(prefix="orbix-fuzz-"))
    work.mkdir(parents=True, exist_ok=True)
    server_log = work / "server.log"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_server(port, server_log)
    exit_code = 1
    try:
        wait_until_up(base, server)
        user_email, user_password = register_user(base)
        revoker_email, revoker_password = register_user(base)
        operations, unavailable = schema_operations(base)
        config = work / "schemathesis.toml"
        write_config(config, sorted(unavailable.values()))
        print(f"fuzz: {len(operations)} operations from {base}/schema/openapi.json, {seconds} s budget")
        command = [
            str(VENV_BIN / "schemathesis"),
            "--config-file",
            str(config),
            "run",
            f"{base}/schema/openapi.json",
            "--checks",
            os.environ.get("FUZZ_CHECKS", CHECKS),
            "--max-time",
            str(seconds),
            "--workers",
            workers,
            "--request-timeout",
            "20",
            "--generation-database",
            "none",
            "--report",
            "json",
            "--report-json-path",
            str(work / "schemathesis.json"),
            "--no-color",
        ]
        hooks_env = {
            **os.environ,
            "SCHEMATHESIS_HOOKS": str(Path(__file__).with_name("fuzz_hooks.py")),
            "FUZZ_BASE_URL": base,
            "FUZZ_USER_EMAIL": user_email,
            "FUZZ_USER_PASSWORD": user_password,
            "FUZZ_REVOKER_EMAIL": revoker_email,
            "FUZZ_REVOKER_PASSWORD": revoker_password,
        }
        if os.environ.get("FUZZ_SEED"):
            command += ["--seed", os.environ["FUZZ_SEED"]]
        # The run's own wall-clock bound: the budget plus the time to finish the last cases and report.
        try:
            result = subprocess.run(command, cwd=work, env=hooks_env, timeout=seconds + 120, check=False)
            fuzz_status = result.returncode
        except subprocess.TimeoutExpired:
            print(f"fuzz: schemathesis overran its budget of {seconds} s by 120 s; stopped")
            fuzz_status = 1
        if server.poll() is not None:
            print(f"fuzz: the server died during the run (status {server.returncode})")
            fuzz_status = fuzz_status or 1
    finally:
        if server.poll() is None:
            server.send_signal(signal.SIGTERM)
            try:
                server.wait(timeout=15)
            except subprocess.TimeoutExpired:
                server.kill()
    report_path = work / "schemathesis.json"
    report = json.loads(report_path.read_text()) if report_path.exists() else None
    answers, errors = read_server_log(server_log)
    print_summary(operations, unavailable, answers, errors, report)
    server_errors = sum(
        n
        for operation, counts in answers.items()
        for status, n in counts.items()
        if status >= 500 and not (status == 503 and operation in unavailable)
    )
    exit_code = 0 if fuzz_status == 0 and not errors and server_errors == 0 else 1
    verdict = "PASSED" if exit_code == 0 else "FAILED"
    print(
        f"fuzz: {verdict} — {len(operations)} operations, {server_errors} 5xx answers, "
        f"schemathesis exit {fuzz_status}"
    )
    if exit_code == 0 and not keep_dir:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"fuzz: reports and the server log are in {work}")
    return exit_code


if __name__ == "__main__":
    sys.exit(main())
