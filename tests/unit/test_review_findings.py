"""Review findings on the configuration."""

from __future__ import annotations

import pytest

from app.core.config import ConfigError, Settings


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
