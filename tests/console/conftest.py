"""Browser fixtures: the service on a loopback port (SQLite) and Debian's Chromium driven by Playwright.

Chromium is not optional here: without /usr/bin/chromium (or TRIAGE_CHROMIUM) these tests fail with the
command that installs it, so CI can never pass by silently skipping the console.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.deps import ModelHolder
from api.security import add_user
from api.settings import Settings
from tests.servers import serve_in_thread

try:
    from playwright.sync_api import Browser, BrowserContext, ConsoleMessage, Page, Playwright, sync_playwright
except ImportError:  # reported as a failure by the `browser` fixture, with the fix
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = os.environ.get("TRIAGE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--lang=zh-CN",
]
VIEWPORT = {"width": 1366, "height": 768}
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
ROLES = ("operator", "dispatcher", "analyst", "admin")


def create(client: httpx.Client, text: str) -> dict:
    """An order created over the API (as the operator), its JSON."""
    response = client.post("/v1/orders", json={"text": text})
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture(scope="module")
def console_app(tmp_path_factory: pytest.TempPathFactory, default_bundle: Path) -> FastAPI:
    home = tmp_path_factory.mktemp("console")
    settings = Settings(database_url=f"sqlite:///{home / 'triage.db'}", home=home, model_dir=default_bundle)
    return create_app(settings, model=ModelHolder(default_bundle))


@pytest.fixture(scope="module")
def server(console_app: FastAPI) -> Iterator[str]:
    """The app under a real uvicorn on a free loopback port: the browser needs a URL."""
    with serve_in_thread(console_app) as base:
        yield base


@pytest.fixture(scope="module")
def tokens(server: str, console_app: FastAPI) -> dict[str, str]:
    """One user per role; the server fixture first, so the lifespan has migrated the database."""
    out = {}
    with console_app.state.sessions() as session:
        for role in ROLES:
            _, out[role] = add_user(session, f"{role}-console", role)
    return out


@pytest.fixture(scope="module")
def http(server: str, tokens: dict[str, str]) -> Callable[[str], httpx.Client]:
    """An API client for a role, for seeding orders and checking what the page stored."""
    clients: list[httpx.Client] = []

    def client(role: str) -> httpx.Client:
        c = httpx.Client(base_url=server, headers={"Authorization": f"Bearer {tokens[role]}"}, timeout=30)
        clients.append(c)
        return c

    yield client
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    if sync_playwright is None:
        pytest.fail("the browser tests need Playwright's Python package: .venv/bin/pip install -e '.[dev]'")
    with sync_playwright() as p:
        yield p


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    """Debian's Chromium, never a downloaded one (no `playwright install`: CI and intranets have no internet)."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: install it with "
            "`apt-get install -y chromium fonts-wqy-microhei` (or set TRIAGE_CHROMIUM to its path)"
        )
    # launch() gives the browser a fresh temporary profile (user-data-dir) and deletes it on close
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
    yield browser
    browser.close()


@pytest.fixture()
def new_page(browser: Browser, server: str) -> Iterator[Callable[[], Page]]:
    """Fresh pages, each in its own context (own sessionStorage), at 1366x768, failing on any JS error."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def make() -> Page:
        context = browser.new_context(viewport=VIEWPORT, locale="zh-CN", timezone_id="Asia/Shanghai", base_url=server)
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("console", lambda message: note(message, errors))
        return page

    yield make
    for context in contexts:
        context.close()
    assert not errors, f"errors in the page: {errors}"


def note(message: ConsoleMessage, errors: list[str]) -> None:
    """Keep console errors, except Chromium's line for each 4xx response (the tests provoke 401 and 409)."""
    if message.type == "error" and "Failed to load resource" not in message.text:
        errors.append(message.text)


@pytest.fixture()
def sign_in(tokens: dict[str, str]) -> Callable[[Page, str], None]:
    def _sign_in(page: Page, role: str) -> None:
        page.goto("/console")
        page.fill("#token", tokens[role])
        page.click("#signin-form button[type=submit]")
        page.wait_for_selector("#signin", state="hidden")

    return _sign_in


@pytest.fixture()
def screenshot(tmp_path: Path) -> Callable[[Page, str], Path]:
    """Save the page to docs/screenshots/<name>.png (for the README) and to the test's tmp dir."""

    def _shot(page: Page, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        target = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(target))
        shutil.copy(target, tmp_path / target.name)
        return target

    return _shot
