"""SMTP_* (API.md section 12): off by default, a host needs a From address, credentials stay encrypted in
production, and each bad value names its variable."""

from __future__ import annotations

import pytest

from app.config import ConfigError, Settings

HOST = {"SMTP_HOST": "smtp.example.com", "SMTP_FROM": "Invoices@Orbix.example"}
PRODUCTION = {
    "APP_ENV": "production",
    "MONGODB_URL": "mongodb://m:27017",
    "JWT_SECRET": "s" * 32,
    "PUBLIC_URL": "https://app.example.com",
}


def test_email_is_off_by_default_and_the_contracts_defaults_apply():
    settings = Settings.from_env({})
    assert settings.smtp_host is None and not settings.smtp_configured
    assert (settings.smtp_port, settings.smtp_starttls, settings.smtp_timeout_seconds) == (587, True, 30.0)


def test_a_host_with_a_from_address_is_configured():
    settings = Settings.from_env(
        {**HOST, "SMTP_PORT": "1025", "SMTP_STARTTLS": "false", "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"}
    )
    assert settings.smtp_configured and settings.smtp_from == "invoices@orbix.example"
    assert (settings.smtp_port, settings.smtp_starttls) == (1025, False)
    assert (settings.smtp_username, settings.smtp_password) == ("u", "p")
    assert "'p'" not in repr(settings)  # the password never reaches a log line


@pytest.mark.parametrize(
    ("env", "variable"),
    [
        ({"SMTP_HOST": "smtp.example.com"}, "SMTP_FROM"),
        ({**HOST, "SMTP_FROM": "not an address"}, "SMTP_FROM"),
        ({**HOST, "SMTP_PORT": "smtp"}, "SMTP_PORT"),
        ({**HOST, "SMTP_STARTTLS": "maybe"}, "SMTP_STARTTLS"),
        ({**HOST, "SMTP_TIMEOUT_SECONDS": "0"}, "SMTP_TIMEOUT_SECONDS"),
        ({**HOST, "SMTP_USERNAME": "u"}, "SMTP_USERNAME and SMTP_PASSWORD"),
        (
            {**HOST, **PRODUCTION, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p", "SMTP_STARTTLS": "false"},
            "SMTP_STARTTLS",
        ),
    ],
)
def test_bad_values_name_the_variable(env, variable):
    with pytest.raises(ConfigError, match=f"^{variable}: "):
        Settings.from_env(env)


def test_production_allows_credentials_over_starttls_or_implicit_tls():
    credentials = {**HOST, **PRODUCTION, "SMTP_USERNAME": "u", "SMTP_PASSWORD": "p"}
    assert Settings.from_env(credentials).smtp_starttls
    assert Settings.from_env({**credentials, "SMTP_STARTTLS": "false", "SMTP_PORT": "465"}).smtp_port == 465
    # Without credentials (a relay on the private network, Mailpit in development) plain SMTP is allowed.
    assert Settings.from_env({**HOST, **PRODUCTION, "SMTP_STARTTLS": "false"}).smtp_configured
