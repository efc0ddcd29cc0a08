"""Where a request's credentials travel, as the edge names them: the session cookies of a browser app, the
CSRF header that must pair with the session cookie on every method that is not safe. The authentication
middleware (app/auth) reads them, and the OpenAPI document declares them, from these names alone."""

from __future__ import annotations

SESSION_COOKIE = "orbix_session"
CSRF_COOKIE = "orbix_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
