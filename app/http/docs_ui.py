"""The interactive API docs at /schema, served with no internet: Redoc's script comes from an installed
package (openapi-ui-bundles), not a CDN, and the page loads nothing else from outside. Redoc's bundle shows
Redocly's logo from their CDN in the sidebar's "API docs by Redocly" link: the script is served with that
image's address emptied (a browser requests nothing for an empty `src`, and Redoc then hides the image),
the link and its text unchanged.

An unknown path under /schema is a 404 problem like every other (Litestar's docs router answers an HTML
page of its own): `docs_router` turns it into one."""

from __future__ import annotations

from functools import cache
from html import escape
from typing import Any

import openapi_ui_bundles
from litestar import Request, Response, Router, get
from litestar.constants import OPENAPI_JSON_HANDLER_NAME
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin

from app.core.errors import NotFound
from app.http.problems import problem_response

REDOC_SCRIPT = openapi_ui_bundles.redoc.static_path / "redoc.standalone.js"
ASSET_PATH = "/assets/redoc.standalone.js"
# The one image Redoc loads from outside (the sidebar's Redocly logo).
CDN_LOGO = b'src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'


@cache
def redoc_script() -> bytes:
    """Redoc's bundle without the address of its CDN logo (read once per process)."""
    return REDOC_SCRIPT.read_bytes().replace(CDN_LOGO, b'src:""')


def docs_router(path: str) -> Router:
    """The router Litestar serves the OpenAPI document and the docs from, 404s as problem+json."""
    return Router(path, route_handlers=[], include_in_schema=False, after_request=_not_found_as_problem)


def _not_found_as_problem(response: Response[Any]) -> Response[Any]:
    if response.status_code == 404:
        return problem_response(404, NotFound.code, "No such resource")
    return response


class OfflineRedocPlugin(OpenAPIRenderPlugin):
    """Redoc reading /schema/openapi.json, its script served from this app."""

    def __init__(self, path: str = "/redoc") -> None:
        super().__init__(path=path, favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        spec_url = request.app.route_reverse(OPENAPI_JSON_HANDLER_NAME)
        script_url = spec_url.rsplit("/", 1)[0] + ASSET_PATH
        title = escape(str(openapi_schema.get("info", {}).get("title", "API")))
        page = f"""<!DOCTYPE html>
<html>
  <head>
    <meta charset="utf-8">
    <meta name="viewport" content="width=device-width, initial-scale=1">
    <title>{title}</title>
    <style>body {{ margin: 0; padding: 0 }}</style>
  </head>
  <body>
    <redoc spec-url="{escape(spec_url)}"></redoc>
    <script src="{escape(script_url)}"></script>
  </body>
</html>
"""
        return page.encode("utf-8")

    def receive_router(self, router: Router) -> None:
        @get(
            ASSET_PATH,
            include_in_schema=False,
            sync_to_thread=False,
            cache_control=CacheControlHeader(max_age=86400),
        )
        def serve_redoc_script() -> Response[bytes]:
            return Response(redoc_script(), media_type="application/javascript")

        router.register(serve_redoc_script)
