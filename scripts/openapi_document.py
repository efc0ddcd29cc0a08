"""Print the OpenAPI document as the app serves it at /schema/openapi.json (test settings, embedded store)."""

from __future__ import annotations

import os
import sys

os.environ.update({"APP_ENV": "test", "LOG_LEVEL": "ERROR", "LOG_FORMAT": "console"})
for name in [n for n in os.environ if n.startswith("MONGODB_")]:
    del os.environ[name]

from litestar.testing import TestClient  # noqa: E402

from app.main import create_app  # noqa: E402

with TestClient(create_app()) as http:
    response = http.get("/schema/openapi.json")
response.raise_for_status()
sys.stdout.write(response.text)
