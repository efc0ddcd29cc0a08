"""The one home of every use of Litestar's private API (modules under `litestar._*` or `_internal`, private
methods), each with why no public way serves; pinned by `litestar>=2.12,<3` in pyproject.toml and exercised by
the tests named beside it. Nothing here replaces or patches Litestar's code: subclasses and imports only.

- `ProblemCORSMiddleware`: Litestar's CORS middleware answers a refused preflight with a text/plain 400; every
  other error is problem+json, so the preflight refusal is rebuilt as one (tests/security/test_headers.py).
  `Orbix._create_asgi_handler` (app/main.py) wraps the router with it as Litestar itself does, with Litestar's
  `wrap_in_exception_handler`; `/health`, answered before routing, gets the same CORS headers through the
  middleware's `send_wrapper`.
- `SchemaCreator`, `StructSchemaPlugin`: the OpenAPI generator's struct plugin, subclassed so that request
  structs are described as they are validated (app/http/openapi.py; tests/system/test_openapi.py).
"""

from __future__ import annotations

from typing import Any

from litestar._asgi.utils import wrap_in_exception_handler
from litestar._openapi.schema_generation import SchemaCreator
from litestar._openapi.schema_generation.plugins.struct import StructSchemaPlugin
from litestar.middleware._internal.cors import CORSMiddleware

from app.core.errors import CorsRejected
from app.http.problems import problem_response

__all__ = ["ProblemCORSMiddleware", "SchemaCreator", "StructSchemaPlugin", "wrap_in_exception_handler"]


class ProblemCORSMiddleware(CORSMiddleware):
    def _create_preflight_response(self, origin: str, request_headers: Any) -> Any:
        response = super()._create_preflight_response(origin, request_headers)
        if response.status_code == 400:  # Litestar's own refusal is a text/plain "Disallowed CORS ..."
            detail = f"{response.content}: this origin may not call the API"
            return problem_response(CorsRejected.status, CorsRejected.code, detail)
        return response
