"""No Docker engine runs here: the compose file and the Dockerfile are checked as documents."""

from __future__ import annotations

import re
import shutil
import subprocess
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
