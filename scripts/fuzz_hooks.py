"""schemathesis hooks for scripts/fuzz.py (loaded through SCHEMATHESIS_HOOKS; not imported by the app).

Every request carries `Authorization: Bearer <token>` of a user that scripts/fuzz.py registered. The
operations that revoke their caller's tokens (logout, change-password) run as a second user, so the main
session survives them; each provider logs its user in again whenever an answer is 401.
"""

from __future__ import annotations

import os
from typing import Any

import httpx
import schemathesis

REVOKING_PATHS = ["/api/auth/logout", "/api/auth/change-password"]


def _login(prefix: str) -> str:
    response = httpx.post(
        f"{os.environ['FUZZ_BASE_URL']}/api/auth/login",
        json={"email": os.environ[f"{prefix}_EMAIL"], "password": os.environ[f"{prefix}_PASSWORD"]},
        timeout=10,
    )
    response.raise_for_status()
    return str(response.json()["access_token"])


class _Bearer:
    prefix = ""

    def get(self, case: Any, context: Any) -> str:
        return _login(self.prefix)

    def set(self, case: Any, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.auth(refresh_interval=3600, retry_on=[401]).skip_for(path=REVOKING_PATHS)
class MainUser(_Bearer):
    prefix = "FUZZ_USER"


@schemathesis.auth(refresh_interval=3600, retry_on=[401]).apply_to(path=REVOKING_PATHS)
class RevokingUser(_Bearer):
    prefix = "FUZZ_REVOKER"
