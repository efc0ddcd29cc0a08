"""No Docker engine runs here: the compose file and the Dockerfile are checked as documents."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from app.config import Settings
from app.db.client import build_client

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_mongo_7_as_a_single_node_replica_set_with_a_named_volume(compose):
    mongo = compose["services"]["mongo"]
    assert mongo["image"] == "mongo:7"
    command = mongo["command"]
    assert command[command.index("--replSet") + 1] == "rs0"
    volume, target = mongo["volumes"][0].split(":")
    assert target == "/data/db" and volume in compose["volumes"]
    # mongod quiesces up to 15 s on SIGTERM (shutdownTimeoutSecs); Docker's default 10 s would cut it short
    assert int(mongo["stop_grace_period"].rstrip("s")) >= 20


def test_the_mongo_health_check_initiates_the_replica_set_idempotently_and_waits_for_a_primary(compose):
    script = compose["services"]["mongo"]["healthcheck"]["test"][-1]
    # rs.initiate runs only when rs.status() fails (a set not yet initiated), so every later check is a no-op
    assert re.search(r"try\s*\{\s*rs\.status\(\)\s*\}\s*catch\s*\(\w+\)\s*\{\s*rs\.initiate\(", script)
    assert "_id: 'rs0'" in script and "host: 'mongo:27017'" in script
    assert "isWritablePrimary" in script and "quit(1)" in script


def test_compose_api_connects_to_the_replica_set_and_waits_for_migrate(compose):
    api = compose["services"]["api"]
    assert api["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert api["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    env = api["environment"]
    assert env["APP_ENV"] == "production"
    url = env["MONGODB_URL"]
    assert url.startswith("mongodb://mongo:27017/") and "replicaSet=rs0" in url
    settings = Settings.from_env({"MONGODB_URL": url})  # accepted: no secondary read preference
    client, _ = build_client(settings)
    try:
        assert client.write_concern.document == {"w": "majority", "j": True}
        assert client.delegate.options.retry_writes and client.delegate.options.retry_reads
    finally:
        client.close()
    assert env["MONGODB_TIMEOUT_MS"] == "${MONGODB_TIMEOUT_MS:-15000}"
    assert re.fullmatch(r"\$\{JWT_SECRET:\?.+\}", env["JWT_SECRET"]), "JWT_SECRET must come from env or .env"
    assert re.fullmatch(r"\$\{PUBLIC_URL:\?.+\}", env["PUBLIC_URL"]), "PUBLIC_URL must come from env or .env"
    assert api["ports"] == ["8000:8000"]


def test_compose_migrate_is_a_one_shot_of_the_same_image_and_configuration(compose):
    migrate, api = compose["services"]["migrate"], compose["services"]["api"]
    assert migrate["command"] == ["python", "-m", "app", "migrate"]
    assert migrate["restart"] == "no"
    assert migrate["image"] == api["image"] and migrate["environment"] == api["environment"]
    assert migrate["depends_on"]["mongo"]["condition"] == "service_healthy"


def test_compose_api_health_is_readiness_with_a_35_second_grace_and_bounded_restarts(compose):
    api = compose["services"]["api"]
    check = " ".join(api["healthcheck"]["test"])
    assert "/ready" in check and "/health" not in check
    assert api["stop_grace_period"] == "35s"
    assert re.fullmatch(r"on-failure:\d+", api["restart"]), "a configuration error must not loop forever"


def test_compose_environment_names_only_known_settings(compose):
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert set(compose["services"]["api"]["environment"]) <= documented


def test_mongodb_timeout_is_documented_with_its_default():
    assert re.search(r"^# MONGODB_TIMEOUT_MS=15000", (ROOT / ".env.example").read_text(), re.M)


def test_dockerfile_is_multi_stage_non_root_with_a_curl_free_readiness_check():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    healthcheck = re.search(r"^HEALTHCHECK (?:.*\\\n)*.*", dockerfile, re.M)
    assert healthcheck and "curl" not in healthcheck.group(0) and "/ready" in healthcheck.group(0)
    assert "COPY --from=build" in dockerfile


# ---------------------------------------------------------------- the lock file


def _lock() -> dict:
    return tomllib.loads((ROOT / "uv.lock").read_text())


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def _packages() -> dict[str, dict]:
    return {canonicalize_name(package["name"]): package for package in _lock()["package"]}


def _specified(requirements: list[str]) -> set[tuple[str, str, str]]:
    """(name, extras, specifier) of pyproject's requirement strings, the way uv.lock records them."""
    parsed = map(Requirement, requirements)
    return {(canonicalize_name(r.name), ",".join(sorted(r.extras)), str(r.specifier)) for r in parsed}


def _locked(entries: list[dict]) -> set[tuple[str, str, str]]:
    return {
        (
            canonicalize_name(e["name"]),
            ",".join(sorted(e.get("extras", []))),
            str(Requirement("x" + e.get("specifier", "")).specifier),
        )
        for e in entries
    }


def test_the_image_installs_only_from_the_lock():
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"pip install ([^\n]*)", dockerfile)
    assert installs == [installs[0]] and "--require-hashes" in installs[0]
    assert "-r /tmp/uv-requirements.txt" in installs[0] and "--only-binary=:all:" in installs[0]
    syncs = re.findall(r"uv sync ([^\n]*)", dockerfile)
    assert syncs == [syncs[0]] and "--locked" in syncs[0] and "--no-dev" in syncs[0]
    assert "COPY pyproject.toml uv.lock" in dockerfile


def test_the_scripts_install_from_the_lock_and_pin_uv_with_hashes():
    venv = (ROOT / "scripts" / "_venv.sh").read_text()
    assert "sync --locked" in venv and "--require-hashes" in venv and "pip install -e" not in venv
    pins = (ROOT / "scripts" / "uv-requirements.txt").read_text()
    assert re.match(r"uv==[\d.]+ \\\n", pins) and len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pins)) > 3


def test_every_locked_package_from_the_registry_is_hashed():
    registry = [p for p in _lock()["package"] if "registry" in p.get("source", {})]
    assert len(registry) > 50
    for package in registry:
        files = package.get("wheels", []) + ([package["sdist"]] if "sdist" in package else [])
        assert files and all(f.get("hash", "").startswith("sha256:") for f in files), package["name"]


def test_the_lock_agrees_with_pyproject():
    """Changing pyproject.toml without ./scripts/lock fails here (and `uv sync --locked` refuses to install)."""
    root = _packages()["orbix"]
    project = _pyproject()
    assert _locked(root["metadata"]["requires-dist"]) == _specified(project["project"]["dependencies"])
    locked_groups = root["metadata"]["requires-dev"]
    assert set(locked_groups) == set(project["dependency-groups"])
    for group, requirements in project["dependency-groups"].items():
        assert _locked(locked_groups[group]) == _specified(requirements), group


def test_the_runtime_install_carries_no_test_tool():
    """What the image installs (the runtime dependencies and theirs) holds no tool of the dev or bench groups
    unless a runtime dependency needs it (litestar needs pyyaml)."""
    packages = _packages()
    wanted, seen = [canonicalize_name(d["name"]) for d in packages["orbix"]["dependencies"]], set()
    while wanted:
        name = wanted.pop()
        if name not in seen:
            seen.add(name)
            wanted += [canonicalize_name(d["name"]) for d in packages[name].get("dependencies", [])]
    for tool in ("pytest", "pytest-asyncio", "pytest-xdist", "schemathesis", "hypothesis", "ruff", "mypy",
                 "uvicorn", "asgi-lifespan", "py-spy", "aiosmtpd", "trustme"):  # fmt: skip
        assert tool not in seen, tool


def test_dockerignore_keeps_secrets_and_venv_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed"
)
def test_compose_file_passes_a_real_compose_parser():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"JWT_SECRET": "x" * 40, "PUBLIC_URL": "https://app.example.com", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def api(compose) -> dict:
    return compose["services"]["api"]


def test_compose_passes_every_documented_setting_through_from_env(api):
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    # HOST and PORT are fixed by the image, the port mapping and the health check.
    assert documented - set(api["environment"]) == {"HOST", "PORT"}


def test_compose_lets_the_api_reach_an_ai_service_on_the_host(api):
    # docs/operations.md: "From inside a container, use http://host.docker.internal:11434/v1" (Linux engines need this).
    assert "host.docker.internal:host-gateway" in api.get("extra_hosts", [])


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _ensure_venv(project: Path, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    (project / "scripts").mkdir(exist_ok=True)
    for name in ("pyproject.toml", "uv.lock", "scripts/_venv.sh", "scripts/uv-requirements.txt"):
        shutil.copy(ROOT / name, project / name)
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project)}
    if python is not None:
        env["PYTHON"] = str(python)
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail; source scripts/_venv.sh; ensure_venv runtime"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_venv_that_cannot_be_created_is_not_left_half_made(tmp_path):
    # Debian/Ubuntu without python3-venv: `python3 -m venv` leaves bin/python behind and fails. A half-made venv
    # made every later run skip creation and fail.
    fake = tmp_path / "bin" / "python3"
    _executable(
        fake,
        "#!/bin/bash\n"
        'if [ "$1 $2" = "-m venv" ]; then mkdir -p "$3/bin"; ln -s ' + sys.executable + ' "$3/bin/python"\n'
        '  echo "The virtual environment was not created successfully because ensurepip is not available." >&2\n'
        "  exit 1\nfi\n"
        f'exec {sys.executable} "$@"\n',
    )
    project = tmp_path / "project"
    project.mkdir()
    result = _ensure_venv(project, fake)
    assert result.returncode != 0
    assert not (project / ".tools").exists() and not (project / ".venv").exists(), result.stderr
    assert "python3-venv" in result.stderr


def test_venv_with_a_failed_install_is_not_stamped_as_installed(tmp_path):
    # A failed sync (no network, pyproject.toml changed without ./scripts/lock) must not be stamped: the stamp
    # means "done", and a stamped venv is never installed into again.
    project = tmp_path / "project"
    (project / ".tools" / "bin").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "uv-requirements.txt", project / ".tools" / ".orbix-uv")
    _executable(
        project / ".tools" / "bin" / "uv",
        '#!/bin/bash\necho "error: the lockfile needs to be updated" >&2\nexit 1\n',
    )
    _executable(project / ".venv" / "bin" / "python", f'#!/bin/bash\nexec {sys.executable} "$@"\n')
    (project / ".venv" / ".orbix-installed").write_text("an older lock dev\n")
    result = _ensure_venv(project)
    assert result.returncode != 0
    assert "./scripts/lock" in result.stderr
    assert not (project / ".venv" / ".orbix-installed").exists(), result.stderr


def test_compose_runs_jobs_in_a_worker_service_of_the_same_image(compose):
    api, worker = compose["services"]["api"], compose["services"]["worker"]
    assert api["environment"]["WORKER"] == "off"
    assert worker["image"] == api["image"]
    assert worker["command"] == ["python", "-m", "app", "worker"]
    assert worker["stop_grace_period"] == "35s"
    assert worker["environment"]["MONGODB_URL"] == api["environment"]["MONGODB_URL"]
    assert worker["depends_on"]["mongo"]["condition"] == "service_healthy"
    assert "WORKER_METRICS_PORT" in " ".join(worker["healthcheck"]["test"])
