"""Benchmark harness: Orbix against a raw ASGI app under the same server, driven by wrk on loopback.

For each server (uvicorn, granian), one worker each:
  * GET /health on scripts/raw_asgi.py and on Orbix, alternated `--repeat` times (median of each):
    requests/s, p50, p99 and the ratio Orbix/raw; X-Request-ID and nosniff are checked on Orbix's answer;
  * Orbix GET /health while 20 logins at bcrypt cost 12 run concurrently, against its p99 without them;
  * an authenticated GET /api/invoices?limit=20 (GET /api/clients?limit=20 when the schema has no invoices)
    and POST /api/clients on the embedded store;
  * then scripts/bench_floor.py: Orbix's CPU per request against a bare floor app on the same store.
Prints a Markdown table (the one in docs/benchmarks.md). Every server is stopped on exit, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import os
import re
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
SERVERS = ("uvicorn", "granian")
LOGIN_CONCURRENCY = 20
PASSWORD = "bench-password-0123"

_running: list[subprocess.Popen[bytes]] = []
ALL_CORES = frozenset(os.sched_getaffinity(0))
# Placement, so that runs repeat: wrk and this script's own login clients run on the last core. For the
# raw-vs-Orbix /health comparison the server gets the first core to itself (granian's I/O thread otherwise
# wanders onto wrk's core and a run doubles or halves at random); for the load scenarios (logins, API
# routes) the server may use every core, as it would in production.
CLIENT_CORE = max(ALL_CORES)
SERVER_CORE = frozenset({min(ALL_CORES)}) if len(ALL_CORES) > 1 else ALL_CORES


# ---------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(server: str, target: str, port: int) -> list[str]:
    """Each server as production runs it, the same flags for Orbix and the raw app: one worker, no access
    log (Orbix writes its own), no server banner, no proxy headers (TRUSTED_PROXIES decides)."""
    app_dir, app = (ROOT, "app.main:app") if target == "orbix" else (ROOT / "scripts", "raw_asgi:app")
    address = ["--host", "127.0.0.1", "--port", str(port)]
    if server == "uvicorn":
        return [
            str(VENV_BIN / "python"),
            "-m",
            "uvicorn",
            "--app-dir",
            str(app_dir),
            app,
            *address,
            "--workers",
            "1",
            "--no-access-log",
            "--no-server-header",
            "--no-proxy-headers",
            "--timeout-graceful-shutdown",
            "30",
            "--log-level",
            "warning",
        ]
    return [
        str(VENV_BIN / "granian"),
        "--interface",
        "asgi",
        *address,
        "--workers",
        "1",
        "--no-ws",
        "--workers-kill-timeout",
        "30",
        "--log-level",
        "warning",
        "--working-dir",
        str(app_dir),
        app,
    ]


def server_environment(port: int, bcrypt_rounds: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "AI_", "CORS_", "TRUSTED_"))}
    env.update(
        {
            "APP_ENV": "development",
            "HOST": "127.0.0.1",
            "PORT": str(port),
            "JWT_SECRET": secrets.token_urlsafe(48),
            "BCRYPT_ROUNDS": str(bcrypt_rounds),
            "AUTH_RATE_LIMIT_PER_MINUTE": "100000",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
        }
    )
    return env


class Server:
    def __init__(
        self,
        server: str,
        target: str,
        log_dir: Path,
        *,
        cores: frozenset[int] = ALL_CORES,
        bcrypt_rounds: int = 12,
    ) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{server}-{target}.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                server_command(server, target, self.port),
                cwd=ROOT,
                env=server_environment(self.port, bcrypt_rounds),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: stopping it stops its workers too
                preexec_fn=lambda: os.sched_setaffinity(0, cores),
            )
        _running.append(self.process)
        self._wait_until_up()

    def _wait_until_up(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise SystemExit(f"bench: server exited ({self.process.returncode}); see {self.log_path}")
            try:
                if httpx.get(f"{self.base}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise SystemExit(f"bench: server did not answer /health in {timeout:.0f} s; see {self.log_path}")

    def stop(self) -> None:
        stop_process(self.process)


def session_cpu_seconds(session: int) -> float:
    """User + system CPU of every live process of a server's session (granian's workers are children)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[3]) == session:  # fields after the name: state ppid pgrp session ... utime stime
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=20)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            process.wait(timeout=5)
    if process in _running:
        _running.remove(process)


def stop_all() -> None:
    for process in list(_running):
        stop_process(process)


# ---------------------------------------------------------------- wrk

_UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int

    @staticmethod
    def parse(output: str) -> WrkResult:
        def latency(percent: str) -> float:
            found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", output, re.M)
            return float(found[1]) * _UNIT[found[2]] if found else float("nan")

        rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
        total = re.search(r"(\d+) requests in", output)
        non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
        sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
        errors = int(non_2xx[1]) if non_2xx else 0
        if sockets:
            errors += sum(int(n) for n in sockets.groups())
        return WrkResult(
            rps=float(rps[1]) if rps else 0.0,
            p50_ms=latency("50"),
            p99_ms=latency("99"),
            requests=int(total[1]) if total else 0,
            errors=errors,
        )


def wrk(
    url: str,
    seconds: int,
    connections: int,
    *,
    script: Path | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    command = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "--timeout", "5s"]
    for name, value in (headers or {}).items():
        command += ["-H", f"{name}: {value}"]
    if script is not None:
        command += ["-s", str(script)]
    command.append(url)
    done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 30, check=False)
    if done.returncode != 0:
        raise SystemExit(f"bench: wrk failed: {done.stderr.strip() or done.stdout.strip()}")
    return WrkResult.parse(done.stdout)


def post_script(directory: Path, path_body: str, token: str) -> Path:
    script = directory / "post_client.lua"
    script.write_text(
        'wrk.method = "POST"\n'
        f"wrk.body = '{path_body}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        f'wrk.headers["Authorization"] = "Bearer {token}"\n',
        encoding="utf-8",
    )
    return script


# ---------------------------------------------------------------- scenarios


@dataclass
class Row:
    server: str
    scenario: str
    result: WrkResult
    note: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    ratios: dict[str, float] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, row: Row) -> None:
        self.rows.append(row)
        r = row.result
        print(
            f"  {row.server:<8} {row.scenario:<40} {r.rps:>9.0f} req/s  p50 {r.p50_ms:7.2f} ms  "
            f"p99 {r.p99_ms:7.2f} ms  errors {r.errors}  {row.note}",
            flush=True,
        )


def median_result(results: list[WrkResult]) -> WrkResult:
    return WrkResult(
        rps=statistics.median(r.rps for r in results),
        p50_ms=statistics.median(r.p50_ms for r in results),
        p99_ms=statistics.median(r.p99_ms for r in results),
        requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results),
    )


def check_health_headers(base: str) -> str:
    response = httpx.get(f"{base}/health", timeout=5)
    request_id = response.headers.get("x-request-id", "")
    nosniff = response.headers.get("x-content-type-options", "")
    if not request_id or nosniff != "nosniff":
        raise SystemExit(f"bench: Orbix /health lost its headers: {dict(response.headers)}")
    echoed = httpx.get(f"{base}/health", headers={"X-Request-ID": "bench-probe-1"}, timeout=5)
    if echoed.headers.get("x-request-id") != "bench-probe-1":
        raise SystemExit("bench: Orbix /health does not echo a sane X-Request-ID")
    return f"X-Request-ID set ({len(request_id)} chars), nosniff"


def health_comparison(server: str, args: argparse.Namespace, log_dir: Path, report: Report) -> None:
    raw_runs: list[WrkResult] = []
    orbix_runs: list[WrkResult] = []
    headers_note = ""
    for _ in range(args.repeat):
        for target, runs in (("raw", raw_runs), ("orbix", orbix_runs)):
            process = Server(server, target, log_dir, cores=SERVER_CORE)
            try:
                if target == "orbix":
                    headers_note = check_health_headers(process.base)
                wrk(f"{process.base}/health", 1, args.connections)  # warm-up
                runs.append(wrk(f"{process.base}/health", args.seconds, args.connections))
            finally:
                process.stop()
    raw, orbix = median_result(raw_runs), median_result(orbix_runs)
    ratio = orbix.rps / raw.rps if raw.rps else 0.0
    report.ratios[server] = ratio
    report.add(Row(server, "raw ASGI GET /health", raw, f"median of {args.repeat}"))
    report.add(Row(server, "Orbix GET /health", orbix, f"ratio {ratio:.2f}; {headers_note}"))


async def _login_load(
    base: str, email: str, stop: threading.Event, latencies: list[float], failures: list[int]
) -> None:
    async with httpx.AsyncClient(base_url=base, timeout=60) as client:

        async def one_user() -> None:
            while not stop.is_set():
                started = time.perf_counter()
                response = await client.post("/api/auth/login", json={"email": email, "password": PASSWORD})
                if response.status_code == 200:
                    latencies.append(time.perf_counter() - started)
                else:
                    failures.append(response.status_code)

        await asyncio.gather(*(one_user() for _ in range(LOGIN_CONCURRENCY)))


def register(base: str, email: str) -> str:
    response = httpx.post(
        f"{base}/api/auth/register", json={"email": email, "password": PASSWORD, "name": "Bench"}, timeout=30
    )
    if response.status_code != 201:
        raise SystemExit(f"bench: register failed: {response.status_code} {response.text[:200]}")
    return str(response.json()["access_token"])


def seed_invoices(base: str, token: str, count: int) -> str:
    """A client and `count` draft invoices, so a page of 20 is full. Returns a note on what was seeded."""
    auth = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=auth, timeout=30) as client:
        made = client.post("/api/clients", json={"name": "Seed client"})
        if made.status_code != 201:
            return f"seeding failed: POST /api/clients {made.status_code}"
        client_id = made.json()["id"]
        line = {"description": "Consulting", "quantity": "2", "unit_price": "150.00"}
        for _ in range(count):
            made = client.post("/api/invoices", json={"client_id": client_id, "lines": [line]})
            if made.status_code != 201:
                return f"seeding stopped: POST /api/invoices {made.status_code} {made.text[:120]}"
    return f"{count} invoices seeded"


def orbix_scenarios(server: str, args: argparse.Namespace, log_dir: Path, work: Path, report: Report) -> None:
    process = Server(server, "orbix", log_dir, bcrypt_rounds=12)
    try:
        email = f"bench-{secrets.token_hex(4)}@example.com"
        token = register(process.base, email)
        paths = httpx.get(f"{process.base}/schema/openapi.json", timeout=10).json().get("paths", {})
        auth = {"Authorization": f"Bearer {token}"}

        # /health with and without 20 concurrent logins at bcrypt cost 12.
        wrk(f"{process.base}/health", 1, args.connections)
        quiet = wrk(f"{process.base}/health", args.seconds, args.connections)
        report.add(Row(server, "Orbix GET /health, no login load", quiet))
        stop, latencies, failures = threading.Event(), [], []  # type: ignore[var-annotated]
        loader = threading.Thread(
            target=lambda: asyncio.run(_login_load(process.base, email, stop, latencies, failures)),
            daemon=True,
        )
        loader.start()
        time.sleep(1.0)  # let the logins fill the thread pool first
        loaded = wrk(f"{process.base}/health", args.seconds, args.connections)
        stop.set()
        loader.join(timeout=60)
        login_note = (
            f"{len(latencies)} logins ok ({len(latencies) / (args.seconds + 1):.1f}/s, "
            f"median {statistics.median(latencies) * 1000 if latencies else float('nan'):.0f} ms), "
            f"{len(failures)} failed; p99 x{loaded.p99_ms / quiet.p99_ms:.1f} vs no load"
        )
        report.add(
            Row(server, f"Orbix GET /health, {LOGIN_CONCURRENCY} logins in flight", loaded, login_note)
        )

        # The server's CPU per request (all its processes): /api/auth/me against /health, same server.
        cpu_ms = {}
        for path in ("/health", "/api/auth/me"):
            wrk(f"{process.base}{path}", 1, args.connections, headers=auth)
            before = session_cpu_seconds(process.process.pid)
            result = wrk(f"{process.base}{path}", args.seconds, args.connections, headers=auth)
            cpu_ms[path] = (
                (session_cpu_seconds(process.process.pid) - before) * 1000 / max(result.requests, 1)
            )
            note = f"server CPU {cpu_ms[path]:.3f} ms/request"
            if path != "/health":
                multiple = cpu_ms[path] / cpu_ms["/health"]
                note += f"; x{multiple:.1f} /health's (target <= 3: {'met' if multiple <= 3 else 'MISSED'})"
            report.add(Row(server, f"Orbix GET {path}, CPU per request", result, note))

        # Authenticated reads and writes on the embedded store.
        if "/api/invoices" in paths:
            seeded = seed_invoices(process.base, token, args.seed)
            list_path = "/api/invoices?limit=20"
        else:
            seeded, list_path = "no /api/invoices in the schema yet", "/api/clients?limit=20"
            for n in range(args.seed):
                httpx.post(
                    f"{process.base}/api/clients", headers=auth, json={"name": f"Seed {n}"}, timeout=30
                )
        wrk(f"{process.base}{list_path}", 1, args.connections, headers=auth)
        report.add(
            Row(
                server,
                f"GET {list_path}",
                wrk(f"{process.base}{list_path}", args.seconds, args.connections, headers=auth),
                seeded,
            )
        )
        script = post_script(work, '{"name":"Bench client","currency":"EUR"}', token)
        report.add(
            Row(
                server,
                "POST /api/clients",
                wrk(f"{process.base}/api/clients", args.seconds, args.connections, script=script),
            )
        )
    finally:
        process.stop()


# ---------------------------------------------------------------- main


def markdown(report: Report, args: argparse.Namespace) -> str:
    lines = [
        "| server | scenario | req/s | p50 ms | p99 ms | errors | note |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for row in report.rows:
        r = row.result
        lines.append(
            f"| {row.server} | {row.scenario} | {r.rps:.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} "
            f"| {r.errors} | {row.note} |"
        )
    lines.append("")
    for server, ratio in report.ratios.items():
        verdict = "meets" if ratio >= args.target else "MISSES"
        lines.append(
            f"- {server}: Orbix /health = {ratio:.2f} of raw ASGI ({verdict} the {args.target} goal)"
        )
    return "\n".join(lines)


def main() -> int:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("--servers", default=os.environ.get("BENCH_SERVERS", ",".join(SERVERS)))
    parser.add_argument("--seconds", type=int, default=int(os.environ.get("BENCH_SECONDS", "8")))
    parser.add_argument("--connections", type=int, default=int(os.environ.get("BENCH_CONNECTIONS", "64")))
    parser.add_argument("--repeat", type=int, default=int(os.environ.get("BENCH_REPEAT", "3")))
    parser.add_argument("--seed", type=int, default=40, help="invoices (or clients) made before the list run")
    parser.add_argument("--target", type=float, default=0.85)
    parser.add_argument("--skip", default="", help="comma list: health,orbix,floor")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        print("bench: wrk is not installed; install it with: apt-get install -y wrk", file=sys.stderr)
        return 2
    servers = [s.strip() for s in args.servers.split(",") if s.strip()]
    for server in servers:
        if server not in SERVERS:
            parser.error(f"unknown server {server!r}; choose from {', '.join(SERVERS)}")
        if server == "granian" and shutil.which("granian", path=str(VENV_BIN)) is None:
            print(
                "bench: granian is not installed in .venv (a runtime dependency): pip install -e .",
                file=sys.stderr,
            )
            return 2
    skip = set(args.skip.split(","))

    atexit.register(stop_all)
    if len(ALL_CORES) > 1:
        os.sched_setaffinity(0, {CLIENT_CORE})  # inherited by wrk; servers reset it (preexec_fn)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda signum, frame: sys.exit(128 + signum))

    work = Path(tempfile.mkdtemp(prefix="orbix-bench-"))
    print(
        f"bench: {os.cpu_count()} cores, wrk -t1 -c{args.connections} -d{args.seconds}s on loopback, "
        f"1 server worker, servers: {', '.join(servers)}; wrk on core {CLIENT_CORE}, server on core(s) "
        f"{','.join(map(str, sorted(SERVER_CORE)))} for /health vs raw, on all cores for the load scenarios; "
        f"server logs in {work}",
        flush=True,
    )
    report = Report()
    for server in servers:
        if "health" not in skip:
            health_comparison(server, args, work, report)
        if "orbix" not in skip:
            orbix_scenarios(server, args, work, work, report)
    print()
    print(markdown(report, args))
    if "floor" not in skip:
        # Orbix against its floor, CPU per request in-process (scripts/bench_floor.py; issue #14).
        print(flush=True)
        subprocess.run([sys.executable, str(ROOT / "scripts" / "bench_floor.py")], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
