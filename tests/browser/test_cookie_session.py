"""Cookie sessions in a real browser (API.md section 20, issue 27): headless Chromium (Debian's `chromium`,
driven by playwright-core from tests/browser/drive.mjs) loads a small page from one loopback origin and calls
Orbix, a real server on another origin of the same site (`http://localhost:<page port>` →
`http://localhost:<API port>`: same site, different origin), with `fetch(..., {credentials: "include"})`.

The page signs in with `session: "cookie"`, creates a client with `X-CSRF-Token`, is refused without it, finds
`orbix_csrf` but not `orbix_session` in `document.cookie`, and reads /api/auth/me with the cookie alone.

Cookies are not port-specific, and both carry `Path=/api`: the page is served under `/api/` on its own origin,
so that `document.cookie` there could show both cookies. That `orbix_session` is missing while the browser
holds it (its cookie jar, read by the driver) is HttpOnly at work, not a path that does not match.

Skips, with the reason, only where the browser cannot run here: no Chromium at /usr/bin/chromium (CI installs
Debian's `chromium` when root), no Node.js, or `npm ci` of tests/browser/package-lock.json failed."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.servers import PRODUCTION, free_port, server_env, start, stop, wait_until_healthy

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PAGE_PATH = "/api/cookie-session.html"  # under the cookies' Path=/api, see the module's docstring
EMAIL = "browser@example.com"
PASSWORD = "browser-password-123"


def _installed_version(package: str) -> str | None:
    manifest = HERE / "node_modules" / package / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text())["version"])


def _locked_version(package: str) -> str:
    lock = json.loads((HERE / "package-lock.json").read_text())
    return str(lock["packages"][f"node_modules/{package}"]["version"])


def _browser_or_skip() -> str:
    """The node executable, with the locked npm packages in place (`npm ci` when they are not)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium is not installed at {CHROMIUM} (as root: apt-get install chromium)")
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: playwright-core cannot drive Chromium")
    if _installed_version("playwright-core") != _locked_version("playwright-core"):
        try:
            ci = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, text=True, timeout=300
            )
        except subprocess.TimeoutExpired:
            pytest.skip("`npm ci` in tests/browser did not finish within 300 s")
        if ci.returncode != 0:
            pytest.skip(f"`npm ci` in tests/browser failed: {(ci.stderr or ci.stdout).strip()[-600:]}")
    return node


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path.split("?")[0] != PAGE_PATH:
            self.send_error(404)
            return
        body = (HERE / "page.html").read_bytes()
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def page_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def api_server(page_server: int) -> Iterator[int]:
    port = free_port()
    env = server_env(
        port,
        CORS_ORIGINS=f"http://localhost:{page_server}",
        SESSION_COOKIE_SECURE="false",  # plain http on loopback; production refuses false
        BCRYPT_ROUNDS="4",
        LOG_LEVEL="WARNING",
    )
    server = start(PRODUCTION, env)
    try:
        wait_until_healthy(server, port)
        yield port
    finally:
        stop(server)


@pytest.fixture
def node() -> str:
    return _browser_or_skip()


def _drive(node: str, page_port: int, api_port: int) -> dict[str, Any]:
    api = f"http://localhost:{api_port}"
    query = urlencode({"api": api, "email": EMAIL, "password": PASSWORD})
    url = f"http://localhost:{page_port}{PAGE_PATH}?{query}"
    run = subprocess.run(
        [node, str(HERE / "drive.mjs"), url, api],
        cwd=HERE, capture_output=True, text=True, timeout=180, env={**os.environ, "CHROMIUM": CHROMIUM},
    )  # fmt: skip
    lines = run.stdout.strip().splitlines()
    assert lines, f"drive.mjs printed nothing (exit {run.returncode}): {run.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(lines[-1])
    assert run.returncode == 0 and "driverError" not in result, (result, run.stderr[-2000:])
    return result


def _problem_code(answer: dict[str, Any]) -> str | None:
    assert answer["contentType"].startswith("application/problem+json"), answer
    return answer["body"]["code"]  # type: ignore[no-any-return]


def test_a_browser_app_on_another_origin_of_the_site_uses_the_cookie_session(
    node: str, page_server: int, api_server: int
) -> None:
    result = _drive(node, page_server, api_server)
    assert result["origin"] != result["api"] and result["cookiesBefore"] == [], result

    # Register, then log in, with the cookie: the token never reaches script, the CSRF token does.
    register, login = result["register"], result["login"]
    assert register["status"] == 201, register
    assert login["status"] == 200, login
    for answer in (register, login):
        assert "access_token" not in answer["body"] and answer["body"]["csrf_token"], answer
    csrf = login["body"]["csrf_token"]
    assert result["csrfCookie"] == csrf

    # document.cookie shows the readable CSRF cookie and not the HttpOnly session cookie, which the browser holds.
    assert "orbix_csrf" in result["cookieNames"], result["documentCookie"]
    assert "orbix_session" not in result["cookieNames"] and "orbix_session" not in result["documentCookie"]
    jar = {cookie["name"]: cookie for cookie in result["browserCookies"]}
    assert set(jar) == {"orbix_session", "orbix_csrf"}, jar
    assert jar["orbix_session"]["httpOnly"] is True and jar["orbix_csrf"]["httpOnly"] is False
    for cookie in jar.values():
        assert cookie["sameSite"] == "Lax" and cookie["path"] == "/api" and cookie["domain"] == "localhost"
        assert cookie["secure"] is False  # SESSION_COOKIE_SECURE=false: plain http on loopback

    # An unsafe request with the cookie: with the CSRF header 201; without it, or with a wrong one, 403.
    created = result["createWithCsrf"]
    assert created["status"] == 201, created
    assert created["body"]["name"] == "Acme from the browser"
    for refused in (result["createWithoutCsrf"], result["createWithWrongCsrf"]):
        assert refused["status"] == 403, refused
        assert _problem_code(refused) == "csrf_failed"

    # A safe request with the cookie alone works (and gives a reloaded page its CSRF token back); without
    # credentials the same call is anonymous.
    me = result["me"]
    assert me["status"] == 200, me
    assert me["body"]["email"] == EMAIL and me["body"]["csrf_token"] == csrf
    assert result["meWithoutCredentials"]["status"] == 401
    assert _problem_code(result["meWithoutCredentials"]) == "unauthorized"
    listed = result["clients"]
    assert listed["status"] == 200, listed
    assert [item["name"] for item in listed["body"]["items"]] == ["Acme from the browser"]  # nothing forged

    # Logout (with the CSRF header) clears both cookies in the browser; the session is over.
    after = result["afterLogout"]
    assert after["logout"]["status"] == 204, after
    assert after["cookieNames"] == [] and result["browserCookiesAfterLogout"] == []
    assert after["me"]["status"] == 401
    assert not [line for line in result["console"] if line.startswith("pageerror")], result["console"]
