"""What the partner portal's browser test runs on, all of it real and on this machine:

- the built portal (``make portal``: examples/partner-portal/dist), served by the stack's edge at
  ``/portal/`` as ``make run`` serves it (``PRM_PORTAL_OIDC_CLIENT_ID``);
- an OpenID provider (oidc-provider-mock, in this process on a free port), whose users carry
  the claims the API reads (``prm_partner_id``, ``roles``) and ``name``, ``email``, ``locale``;
- the whole stack as processes with OIDC on (``PRM_OIDC_*`` naming that provider), in its own
  database on the session's PostgreSQL and with its own broker;
- Debian's Chromium, headless, driven by Playwright (no browser download).

A missing browser, provider or build fails the test with what to do; nothing skips.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from prm_stack.embedded import free_port
from prm_stack.launch import RunningStack, fresh_database, running_stack

ROOT = Path(__file__).resolve().parents[2]
PORTAL = ROOT / "examples" / "partner-portal"
# Screenshots of each screen, kept after the run (git-ignored); PRM_PORTAL_ARTEFACTS moves them.
ARTEFACTS = Path(os.environ.get("PRM_PORTAL_ARTEFACTS") or Path(__file__).parent / "artefacts")
CLIENT_ID = "prm-partner-portal"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if ARTEFACTS.is_dir() and any(ARTEFACTS.glob("*.png")):
        terminalreporter.write_line(f"partner portal screenshots: {ARTEFACTS}")


FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: Any) -> Any:
    report = yield
    if report.when == "call" and report.failed:
        item.stash[FAILED] = True
    return report


class Browsers:
    """The pages the tests open, each with what its console said: on a failure, a screenshot
    of each and the console's lines go to the artefacts."""

    def __init__(self) -> None:
        self.pages: dict[str, Any] = {}
        self.console: dict[str, list[str]] = {}

    def watch(self, name: str, page: Any) -> None:
        self.pages[name] = page
        lines = self.console.setdefault(name, [])
        page.on("console", lambda message: lines.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: lines.append(f"pageerror: {error}"))
        page.on("response", lambda response: lines.append(
            f"{response.status} {response.request.method} {response.url}")
            if response.status >= 400 else None)
        page.on("requestfailed", lambda request: lines.append(
            f"failed {request.method} {request.url}: {request.failure}"))

    def record_failure(self, test: str) -> None:
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        for name, page in self.pages.items():
            try:
                page.screenshot(path=str(ARTEFACTS / f"FAILED-{test}-{name}.png"), full_page=True)
            except Exception as error:  # noqa: BLE001 - a closed page: nothing to show
                self.console[name].append(f"(no screenshot: {error})")
            (ARTEFACTS / f"FAILED-{test}-{name}.log").write_text(
                f"url: {getattr(page, 'url', '?')}\n" + "\n".join(self.console[name]) + "\n")


@pytest.fixture(scope="module")
def browsers() -> Browsers:
    return Browsers()


@pytest.fixture(autouse=True)
def _failure_artefacts(request: pytest.FixtureRequest, browsers: Browsers) -> Iterator[None]:
    yield
    if request.node.stash.get(FAILED, False):
        browsers.record_failure(request.node.name)


def chromium_binary() -> str:
    """Debian's chromium (or PRM_CHROMIUM): Playwright drives it instead of a browser of its own."""
    for candidate in (os.environ.get("PRM_CHROMIUM"), shutil.which("chromium"),
                      shutil.which("chromium-browser"), "/usr/bin/chromium"):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    pytest.fail("no Chromium to drive: the partner portal's test needs Debian's chromium "
                "(`make system-tools` as root installs it, or `apt-get install chromium`); "
                "PRM_CHROMIUM names another binary", pytrace=False)


def check_portal_built() -> None:
    """The build the edge serves must be the sources' (``make portal``)."""
    stamp = PORTAL / "dist" / ".built"
    if not stamp.is_file():
        pytest.fail(f"the partner portal is not built ({stamp} is missing): run `make portal`",
                    pytrace=False)
    sources = [p for p in (PORTAL / "src").rglob("*.ts")] + list((PORTAL / "public").iterdir())
    stale = [p for p in sources if p.stat().st_mtime > stamp.stat().st_mtime]
    if stale:
        pytest.fail(f"the partner portal's build is older than {stale[0].relative_to(ROOT)}: run "
                    "`make portal`", pytrace=False)


class IdentityProvider:
    """oidc-provider-mock on 127.0.0.1 and a free port, in a thread of this process. Any client
    id is accepted with any redirect URI; users are added with their claims by ``add_user``; the
    authorization page asks for the user's ``sub``. Its access tokens are opaque, so the portal
    sends the ID token to the API (``PRM_PORTAL_API_TOKEN=id_token``, audience = client id).
    Set up as a provider is for a browser client (``_as_for_a_browser_client``): the discovery
    document and the token endpoint answer CORS, the code is redeemed by a public client (no
    secret: token endpoint authentication ``none``) and tokens name their key (``kid``), as
    real providers' do. It does not check PKCE; the test checks the challenge and the verifier
    on the wire instead."""

    def __init__(self) -> None:
        try:
            import oidc_provider_mock
            import werkzeug.serving
            from oidc_provider_mock import _app
        except ImportError as error:
            pytest.fail(f"the OpenID provider of the test is missing ({error}): `make env` "
                        "installs oidc-provider-mock", pytrace=False)
        _as_for_a_browser_client(_app)
        app = oidc_provider_mock.app(require_nonce=True)

        @app.after_request
        def cors(response: Any) -> Any:
            response.headers["Access-Control-Allow-Origin"] = "*"
            response.headers["Access-Control-Allow-Headers"] = "Content-Type, Accept"
            return response

        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        self.server = werkzeug.serving.make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.1,), daemon=True)
        self.thread.start()

    def add_user(self, sub: str, **claims: Any) -> None:
        response = httpx.put(f"{self.url}/users/{quote(sub, safe='')}", json=claims,
                             trust_env=False)
        assert response.status_code == 204, response.text

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _as_for_a_browser_client(mock: Any) -> None:
    """What oidc-provider-mock 0.3 lacks for a single-page app and the API's checks: its
    authorization-code grant accepts public clients, and its ID tokens carry the ``kid`` of the
    key its JWKS publishes (the API picks the key by it)."""
    grant = mock.AuthorizationCodeGrant
    if "none" not in grant.TOKEN_ENDPOINT_AUTH_METHODS:
        grant.TOKEN_ENDPOINT_AUTH_METHODS = [*grant.TOKEN_ENDPOINT_AUTH_METHODS, "none"]
    openid = mock.OpenIDCode
    if not getattr(openid.get_jwt_config, "names_its_key", False):
        plain = openid.get_jwt_config

        def get_jwt_config(self: Any, grant: Any, client: Any = None) -> dict[str, Any]:
            config: dict[str, Any] = plain(self, grant, client)
            return {**config, "kid": config["key"]["kid"]}

        get_jwt_config.names_its_key = True  # type: ignore[attr-defined]
        openid.get_jwt_config = get_jwt_config


@pytest.fixture(scope="module")
def identity_provider() -> Iterator[IdentityProvider]:
    provider = IdentityProvider()
    try:
        yield provider
    finally:
        provider.close()


@pytest.fixture(scope="module")
def portal_stack(prm_infra: Any, identity_provider: IdentityProvider) -> Iterator[RunningStack]:
    """The stack with OIDC on and the portal at /portal/, in its own database and broker."""
    check_portal_built()
    state_dir = Path(tempfile.mkdtemp(prefix="prm-portal-"))
    try:
        with fresh_database(prm_infra.database_url, prefix="prm_portal") as database_url, \
                running_stack(state_dir, {
                    "PRM_DATABASE_URL": database_url,
                    "PRM_KAFKA_BOOTSTRAP": None,  # its own broker: no other stack's consumers
                    # What the portal's screens read (a start in about half the time).
                    "PRM_STACK_ONLY": "gateway,partners,deals,incentives,portal",
                    "PRM_INTERNAL_SECRET": prm_infra.internal_secret,
                    "PRM_GATEWAY_PORT": str(free_port()),
                    "PRM_FAILED_AUTH_PER_MINUTE": "1000000",
                    "PRM_OIDC_ISSUER": identity_provider.url,
                    "PRM_OIDC_JWKS_URL": f"{identity_provider.url}/jwks",
                    "PRM_OIDC_AUDIENCE": CLIENT_ID,
                    "PRM_PORTAL_OIDC_CLIENT_ID": CLIENT_ID,
                    "PRM_PORTAL_API_TOKEN": "id_token",
                }) as stack:
            yield stack
    finally:
        shutil.rmtree(state_dir, ignore_errors=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    executable = chromium_binary()
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def artefacts() -> Path:
    shutil.rmtree(ARTEFACTS, ignore_errors=True)
    ARTEFACTS.mkdir(parents=True)
    return ARTEFACTS
