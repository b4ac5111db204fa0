"""Browser fixtures, registered for the whole run by tests/conftest.py: the app served on loopback in
a thread (one per test) and a headless Debian Chromium driven through Playwright's sync API (never
`playwright install`)."""

from __future__ import annotations

import os
import socket
import threading
import time

import pytest

CHROMIUM = os.environ.get("KETNOI_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
TIMEOUT_MS = 10_000  # every Playwright wait and expectation; the whole test stays well under 15 s

# Injected before the page's own scripts: records the hub events app.js dispatches as `ketnoi:<type>`
# on document, so a test can wait until the page's WebSocket is registered with the hub.
HUB_SPY = """
window.__hubEvents = [];
for (const t of ["hub.ready", "hub.unauthenticated", "session.replaced", "session.ended"]) {
  document.addEventListener("ketnoi:" + t, () => window.__hubEvents.push(t));
}
"""


@pytest.fixture
def live_server(database, world):
    """Base URL of the app served on 127.0.0.1 in a background thread, on the test's database."""
    import uvicorn

    from ketnoi.app import create_app
    from ketnoi.settings import get_settings

    app = create_app(get_settings(), database, background=False)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on",
                            timeout_graceful_shutdown=3)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="ketnoi-live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@pytest.fixture(scope="session")
def browser():
    if not os.access(CHROMIUM, os.X_OK):
        pytest.skip(f"Chromium not found at {CHROMIUM} (Debian package 'chromium')")
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=TIMEOUT_MS)
    pw = sync_playwright().start()
    try:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()
    finally:
        pw.stop()


@pytest.fixture
def new_page(browser, live_server):
    """Factory: a page in a fresh browser context (its own cookies, like a separate device).
    Contexts are closed before the live server stops."""
    contexts = []

    def make(**context_options):
        ctx = browser.new_context(base_url=live_server, locale="vi-VN", **context_options)
        ctx.set_default_timeout(TIMEOUT_MS)
        ctx.add_init_script(HUB_SPY)
        contexts.append(ctx)
        return ctx.new_page()

    yield make
    for ctx in contexts:
        ctx.close()
