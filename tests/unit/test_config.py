from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, Settings

ROOT = Path(__file__).resolve().parents[2]
SECRET = "s" * 32


def test_defaults_match_the_contract():
    settings = Settings.from_env({})
    assert settings.app_env == "development"
    assert settings.mongodb_url is None and settings.mongodb_db == "orbix"
    assert settings.jwt_secret_generated and len(settings.jwt_secret) >= 32
    assert settings.jwt_expires_minutes == 10080
    assert settings.bcrypt_rounds == 12
    assert settings.cors_origins == ()
    assert settings.auth_rate_limit_per_minute == 10
    assert settings.ai_configured is False
    assert (settings.ai_timeout_seconds, settings.ai_max_retries) == (30.0, 2)
    assert (settings.log_level, settings.log_format) == ("INFO", "json")
    assert (settings.host, settings.port) == ("0.0.0.0", 8000)  # noqa: S104
    # API.md section 24, the fair-share limits
    assert (settings.webhook_endpoints_max, settings.email_daily_limit) == (20, 200)
    assert settings.webhook_manual_retries_per_hour == 60
    assert (settings.render_concurrency_per_org, settings.render_wait_seconds) == (2, 10.0)
    assert (settings.document_max_pages, settings.render_timeout_seconds) == (50, 30.0)


def test_generated_secrets_differ_per_process_start():
    assert Settings.from_env({}).jwt_secret != Settings.from_env({}).jwt_secret


def test_values_are_parsed():
    settings = Settings.from_env(
        {
            "CORS_ORIGINS": "https://a.example, https://b.example ,",
            "BCRYPT_ROUNDS": "4",
            "PORT": "9000",
            "TRUSTED_PROXIES": "10.0.0.0/8,127.0.0.1",
            "LOG_LEVEL": "debug",
            "AI_BASE_URL": "http://localhost:11434/v1/",
            "AI_MODEL": "llama3.1",
            "WEBHOOK_ENDPOINTS_MAX": "5",
            "EMAIL_DAILY_LIMIT": "1000",
            "WEBHOOK_MANUAL_RETRIES_PER_HOUR": "10",
        }
    )
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert settings.bcrypt_rounds == 4 and settings.port == 9000 and settings.log_level == "DEBUG"
    assert [str(n) for n in settings.trusted_proxies] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert settings.ai_base_url == "http://localhost:11434/v1" and settings.ai_configured
    assert (settings.webhook_endpoints_max, settings.email_daily_limit) == (5, 1000)
    assert settings.webhook_manual_retries_per_hour == 10


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"PORT": "eighty"}, "PORT"),
        ({"PORT": "70000"}, "PORT"),
        ({"APP_ENV": "staging"}, "APP_ENV"),
        ({"BCRYPT_ROUNDS": "3"}, "BCRYPT_ROUNDS"),
        ({"BCRYPT_ROUNDS": "17"}, "BCRYPT_ROUNDS"),
        ({"JWT_EXPIRES_MINUTES": "0"}, "JWT_EXPIRES_MINUTES"),
        ({"AUTH_RATE_LIMIT_PER_MINUTE": "-1"}, "AUTH_RATE_LIMIT_PER_MINUTE"),
        ({"AI_TIMEOUT_SECONDS": "nan"}, "AI_TIMEOUT_SECONDS"),
        ({"AI_MAX_RETRIES": "many"}, "AI_MAX_RETRIES"),
        ({"AI_BASE_URL": "localhost:11434"}, "AI_BASE_URL"),
        ({"LOG_FORMAT": "xml"}, "LOG_FORMAT"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
        ({"MONGODB_URL": "postgres://x"}, "MONGODB_URL"),
        ({"TRUSTED_PROXIES": "not-an-ip"}, "TRUSTED_PROXIES"),
        ({"WEBHOOK_ENDPOINTS_MAX": "0"}, "WEBHOOK_ENDPOINTS_MAX"),
        ({"EMAIL_DAILY_LIMIT": "lots"}, "EMAIL_DAILY_LIMIT"),
        ({"WEBHOOK_MANUAL_RETRIES_PER_HOUR": "-5"}, "WEBHOOK_MANUAL_RETRIES_PER_HOUR"),
        ({"RENDER_CONCURRENCY_PER_ORG": "0"}, "RENDER_CONCURRENCY_PER_ORG"),
        ({"RENDER_WAIT_SECONDS": "-1"}, "RENDER_WAIT_SECONDS"),
        ({"DOCUMENT_MAX_PAGES": "0"}, "DOCUMENT_MAX_PAGES"),
        ({"RENDER_TIMEOUT_SECONDS": "0"}, "RENDER_TIMEOUT_SECONDS"),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        Settings.from_env(env)


@pytest.mark.parametrize(
    "env, variable",
    [
        ({"APP_ENV": "production", "MONGODB_URL": "mongodb://m"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "MONGODB_URL": "mongodb://m", "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({"APP_ENV": "production", "JWT_SECRET": SECRET}, "MONGODB_URL"),
        ({"APP_ENV": "production", "MONGODB_URL": "mongodb://m", "JWT_SECRET": SECRET}, "PUBLIC_URL"),
        (
            {
                "APP_ENV": "production",
                "MONGODB_URL": "mongodb://m",
                "JWT_SECRET": SECRET,
                "PUBLIC_URL": "http://a.b",
            },
            "PUBLIC_URL",
        ),
    ],
)
def test_production_refuses_unsafe_settings(env, variable):
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        Settings.from_env(env)


def test_production_starts_with_a_secret_and_a_database():
    settings = Settings.from_env(
        {
            "APP_ENV": "production",
            "MONGODB_URL": "mongodb://m:27017",
            "JWT_SECRET": SECRET,
            "PUBLIC_URL": "https://app.example.com",
        }
    )
    assert settings.is_production and not settings.jwt_secret_generated and settings.jwt_secret == SECRET


def test_a_bad_variable_stops_start_up_with_one_clear_line():
    env = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET",)}
    env.update({"PORT": "eighty", "APP_ENV": "development"})
    result = subprocess.run(
        [sys.executable, "-c", "import app.main"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2  # a configuration error: compose shows it instead of restarting into it
    assert (
        result.stderr.strip().splitlines()[-1]
        == "orbix: configuration error: PORT: expected an integer, got 'eighty'"
    )
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    "url", ["mongodb://mongo:27O17", "mongodb://orbix:p@ss@mongo:27017", "mongodb://", "mongodb+srv://a b@/"]
)
def test_malformed_mongodb_url_stops_start_up_with_one_line_naming_it(url):
    # It used to pass validation and then fail inside the lifespan with a driver traceback.
    with pytest.raises(ConfigError, match=r"^MONGODB_URL: ") as raised:
        Settings.from_env({"MONGODB_URL": url})
    assert "p@ss" not in str(raised.value)


def test_srv_mongodb_url_is_checked_without_the_network():
    settings = Settings.from_env(
        {"MONGODB_URL": "mongodb+srv://u:pw@cluster0.example.net/orbix?retryWrites=true"}
    )
    assert settings.mongodb_url == "mongodb+srv://u:pw@cluster0.example.net/orbix?retryWrites=true"
