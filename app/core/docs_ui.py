"""The interactive API docs at /schema, served with no internet: Redoc's script comes from an installed
package (openapi-ui-bundles), not a CDN, and the page loads nothing else from outside."""

from __future__ import annotations

from html import escape
from typing import Any

import openapi_ui_bundles
from litestar import Request, Router, get
from litestar.constants import OPENAPI_JSON_HANDLER_NAME
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.response import File

REDOC_SCRIPT = openapi_ui_bundles.redoc.static_path / "redoc.standalone.js"
ASSET_PATH = "/assets/redoc.standalone.js"


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
        def redoc_script() -> File:
            return File(REDOC_SCRIPT, media_type="application/javascript", content_disposition_type="inline")

        router.register(redoc_script)
