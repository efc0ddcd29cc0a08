"""`docker compose --profile dev up` adds a mail catcher (API.md section 13); the SMTP settings reach the
API and the worker. No Docker engine runs here: the compose file is checked as a document."""

from __future__ import annotations

from pathlib import Path

import yaml

from app.config import Settings

ROOT = Path(__file__).resolve().parents[2]


def _compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_mail_catcher_runs_only_in_the_dev_profile_and_serves_its_inbox_locally():
    services = _compose()["services"]
    mailpit = services["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert mailpit["profiles"] == ["dev"]
    assert mailpit["ports"] == ["127.0.0.1:8025:8025"]  # the inbox; SMTP (1025) stays inside the network
    assert all("profiles" not in service for name, service in services.items() if name != "mailpit")


def test_the_api_and_the_worker_get_every_smtp_setting_from_the_environment():
    services = _compose()["services"]
    names = {field.upper() for field in Settings.__dataclass_fields__ if field.startswith("smtp_")}
    for service in ("api", "worker"):
        environment = services[service]["environment"]
        assert names <= set(environment), service
        assert all(environment[name].startswith(f"${{{name}:-") for name in names)


def test_the_dev_profile_settings_the_readme_gives_are_valid():
    settings = Settings.from_env(
        {
            "SMTP_HOST": "mailpit",
            "SMTP_PORT": "1025",
            "SMTP_STARTTLS": "false",
            "SMTP_FROM": "invoices@orbix.localhost",
        }
    )
    assert settings.smtp_configured and (settings.smtp_port, settings.smtp_starttls) == (1025, False)
