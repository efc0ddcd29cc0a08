"""No Docker engine runs here: the compose file and the Dockerfile are checked as documents."""

from __future__ import annotations

import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_compose_runs_mongo_7_with_a_named_volume_and_a_health_check(compose):
    mongo = compose["services"]["mongo"]
    assert mongo["image"] == "mongo:7"
    volume, target = mongo["volumes"][0].split(":")
    assert target == "/data/db" and volume in compose["volumes"]
    assert "ping" in " ".join(mongo["healthcheck"]["test"])


def test_compose_api_waits_for_a_healthy_mongo_and_runs_in_production(compose):
    api = compose["services"]["api"]
    assert api["depends_on"]["mongo"]["condition"] == "service_healthy"
    env = api["environment"]
    assert env["APP_ENV"] == "production"
    assert env["MONGODB_URL"] == "mongodb://mongo:27017"
    assert re.fullmatch(r"\$\{JWT_SECRET:\?.+\}", env["JWT_SECRET"]), "JWT_SECRET must come from env or .env"
    assert api["ports"] == ["8000:8000"]
    assert "/health" in " ".join(api["healthcheck"]["test"])


def test_compose_environment_names_only_known_settings(compose):
    documented = set(re.findall(r"^#? ?([A-Z_]+)=", (ROOT / ".env.example").read_text(), re.M))
    assert set(compose["services"]["api"]["environment"]) <= documented


def test_dockerfile_is_multi_stage_non_root_with_a_curl_free_healthcheck():
    dockerfile = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.M)
    assert len(stages) >= 2 and all("slim" in s for s in stages)
    assert re.search(r"^USER (?!root)\w+", dockerfile, re.M)
    healthcheck = re.search(r"^HEALTHCHECK (?:.*\\\n)*.*", dockerfile, re.M)
    assert healthcheck and "curl" not in healthcheck.group(0) and "/health" in healthcheck.group(0)
    assert "COPY --from=build" in dockerfile


def test_dockerignore_keeps_secrets_and_venv_out():
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".venv", ".git"} <= set(ignored)


@pytest.mark.skipif(
    shutil.which("docker-compose") is None, reason="docker-compose (Debian package) not installed"
)
def test_compose_file_passes_a_real_compose_parser():
    result = subprocess.run(
        ["docker-compose", "-f", str(ROOT / "docker-compose.yml"), "config", "-q"],
        env={"JWT_SECRET": "x" * 40, "PATH": "/usr/bin:/bin"},
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
    # README: "From inside a container, use http://host.docker.internal:11434/v1" (Linux engines need this).
    assert "host.docker.internal:host-gateway" in api.get("extra_hosts", [])


def _executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def _ensure_venv(project: Path, python: Path | None = None) -> subprocess.CompletedProcess[str]:
    shutil.copy(ROOT / "pyproject.toml", project / "pyproject.toml")
    (project / "scripts").mkdir(exist_ok=True)
    shutil.copy(ROOT / "scripts" / "_venv.sh", project / "scripts" / "_venv.sh")
    env = {"PATH": "/usr/bin:/bin", "HOME": str(project)}
    if python is not None:
        env["PYTHON"] = str(python)
    return subprocess.run(
        ["bash", "-c", 'set -euo pipefail; source scripts/_venv.sh; ensure_venv ""'],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_venv_that_cannot_be_created_is_not_left_half_made(tmp_path):
    # Debian/Ubuntu without python3-venv: `python3 -m venv` leaves .venv/bin/python behind and fails. A
    # half-made .venv made every later run skip creation and fail at "dependency install failed".
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
    assert not (project / ".venv").exists(), result.stderr
    assert "python3-venv" in result.stderr


def test_venv_with_a_failed_install_is_not_stamped_as_installed(tmp_path):
    # pip failing (no network, a new dependency not found) was ignored (`|| true`); the import check still
    # passed on the old dependencies, the stamp was written and the install was never tried again.
    project = tmp_path / "project"
    (project / "app").mkdir(parents=True)
    (project / "app" / "__init__.py").write_text("")
    real = ROOT / ".venv" / "bin" / "python"
    _executable(
        project / ".venv" / "bin" / "python",
        "#!/bin/bash\n"
        'case "$*" in\n'
        '  *"pip install"*" -e "*) echo "ERROR: No matching distribution found for newdep" >&2; exit 1;;\n'
        '  *"-m pip"*) exit 0;;\n'
        f'  *) exec {real} "$@";;\n'
        "esac\n",
    )
    result = _ensure_venv(project)
    assert result.returncode != 0
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
