"""Litestar's CORS middleware, with a refused preflight answered as problem+json like every other error."""

from __future__ import annotations

from typing import Any

from litestar.middleware._internal.cors import CORSMiddleware

from app.core.errors import CorsRejected
from app.http.problems import problem_response


class ProblemCORSMiddleware(CORSMiddleware):
    def _create_preflight_response(self, origin: str, request_headers: Any) -> Any:
        response = super()._create_preflight_response(origin, request_headers)
        if response.status_code == 400:  # Litestar's own refusal is a text/plain "Disallowed CORS ..."
            detail = f"{response.content}: this origin may not call the API"
            return problem_response(CorsRejected.status, CorsRejected.code, detail)
        return response
