"""`/docs` and `/redoc` work offline: a real headless Chromium (Debian's, driven by Playwright; no browser
download) loads them with every request to another host blocked and finds every operation.

The app is the replica's FastAPI app (`routes.create_api` + `app.install_offline_docs`) served by
uvicorn on a free port in this process: no Ray needed to render the docs. As a control, FastAPI's
default docs page (Swagger UI from a CDN) renders nothing under the same blocking.
"""
from __future__ import annotations

import shutil
import threading
import time
from typing import Iterator
from urllib.parse import urlsplit

import pytest

playwright_api = pytest.importorskip("playwright.sync_api")
uvicorn = pytest.importorskip("uvicorn")

from actors.settings import ServeConfig  # noqa: E402
from deployments.app import install_offline_docs  # noqa: E402
from deployments.http.routes import Service, create_api  # noqa: E402
from deployments.service import free_port  # noqa: E402

pytestmark = pytest.mark.slow

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
METHODS = ("get", "post", "put", "delete", "patch")


def serve(app) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def offline_url() -> Iterator[str]:
    api = create_api(Service(None, ServeConfig()))
    install_offline_docs(api)
    yield from serve(api)


@pytest.fixture(scope="module")
def cdn_url() -> Iterator[str]:
    yield from serve(create_api(Service(None, ServeConfig())))  # FastAPI's default: assets from a CDN


@pytest.fixture(scope="module")
def browser():
    if not shutil.which("chromium") and not shutil.which(CHROMIUM):
        pytest.skip("no chromium (Debian's chromium package; .ci/run installs it with apt-get)")
    with playwright_api.sync_playwright() as p:
        try:
            b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        except Exception as exc:  # noqa: BLE001 - a broken browser install is a skip, with the reason
            pytest.skip(f"chromium does not start: {exc}")
        yield b
        b.close()


def offline_page(browser, base: str):
    """A page that can reach only `base`'s host: every other request is aborted (and recorded)."""
    page = browser.new_page()
    host = urlsplit(base).netloc
    blocked: list[tuple[str, str]] = []  # (resource type, URL)

    def route(r):
        if urlsplit(r.request.url).netloc == host:
            r.continue_()
        else:
            blocked.append((r.request.resource_type, r.request.url))
            r.abort()

    page.route("**/*", route)
    return page, blocked


def operations(spec: dict) -> set[tuple[str, str]]:
    return {(m.upper(), path) for path, item in spec["paths"].items() for m in item if m in METHODS}


def test_swagger_ui_renders_every_operation_offline(browser, offline_url):
    page, blocked = offline_page(browser, offline_url)
    spec = page.request.get(f"{offline_url}/openapi.json").json()
    want = operations(spec)
    assert len(want) >= 20
    page.goto(f"{offline_url}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    page.wait_for_function(f"document.querySelectorAll('.opblock').length >= {len(want)}", timeout=30_000)
    shown = page.eval_on_selector_all(".opblock", """els => els.map(e => [
        e.querySelector('.opblock-summary-method').textContent.trim(),
        e.querySelector('.opblock-summary-path').getAttribute('data-path')])""")
    assert {tuple(s) for s in shown} == want and len(shown) == len(want)
    assert blocked == [], f"the page asked for other hosts: {blocked}"
    page.close()


def test_redoc_renders_every_operation_offline(browser, offline_url):
    page, blocked = offline_page(browser, offline_url)
    spec = page.request.get(f"{offline_url}/openapi.json").json()
    summaries = {op["summary"] for item in spec["paths"].values() for m, op in item.items() if m in METHODS}
    page.goto(f"{offline_url}/redoc")
    page.wait_for_selector("[data-section-id^='tag/'], [data-section-id^='operation/']", timeout=60_000)
    text = page.inner_text("body")
    missing = sorted(s for s in summaries if s not in text)
    assert not missing, missing
    # ReDoc's sidebar asks its CDN for a decorative logo (an <img> that hides itself when it fails);
    # no script, style sheet, font or data comes from another host.
    assert all(kind == "image" for kind, _ in blocked), f"the page asked for other hosts: {blocked}"
    page.close()


def test_the_cdn_docs_page_is_blank_offline(browser, cdn_url):
    """The control: FastAPI's default page needs a CDN, so with other hosts blocked it shows no operation."""
    page, blocked = offline_page(browser, cdn_url)
    page.goto(f"{cdn_url}/docs")
    page.wait_for_timeout(2_000)
    assert page.locator(".opblock").count() == 0
    assert any(kind == "script" for kind, _ in blocked)
    page.close()
