"""The built book as a reader sees it: headless Chromium opens the pages from a local web server.

Uses Debian's Chromium (/usr/bin/chromium) driven by playwright-python. Without it the tests are
skipped, except in CI (CI=true), where they fail: `.ci/run` installs it.
Screenshots go to the test's tmp_path and are copied to ``_build/screenshots/`` for humans.
"""
from __future__ import annotations

import functools
import os
import shutil
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

pytestmark = pytest.mark.slow

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]
# Pages with live demo figures, checked as well as the paper-figure pages.
DEMO_PAGES = ["book/methods/nsvq", "book/methods/multicodebook", "book/methods/sfvq", "book/methods/complexity"]
PAGE_TIMEOUT_MS = 30_000


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: browser tests must run in CI; .ci/run installs chromium)")
    pytest.skip(reason)


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (stdlib signature)
        pass


@pytest.fixture(scope="module")
def site(built_book: Path):
    """The built HTML served on 127.0.0.1 at a free port; yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(built_book))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[test]')")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


class PageVisit:
    """A page opened in a fresh context, with the console errors and page errors it produced."""

    def __init__(self, browser, base_url: str) -> None:
        self.base = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        # The machine has no network: requests that leave 127.0.0.1 (MathJax from its CDN) are
        # aborted and recorded, and their console messages are not counted as page errors.
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))

    def _route(self, route) -> None:
        if urlsplit(route.request.url).hostname in {"127.0.0.1", "localhost"}:
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _console(self, msg) -> None:
        if msg.type != "error":
            return
        url = (msg.location or {}).get("url", "")
        text = msg.text
        if any(ext in text or ext == url for ext in self.external) or (
                "net::ERR_FAILED" in text and not url.startswith(self.base)):
            return
        self.errors.append(f"console error: {text} ({url})")

    def open(self, path: str) -> None:
        response = self.page.goto(f"{self.base}/{path}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
        assert response is not None and response.ok, f"{path}: HTTP {response.status if response else 'no response'}"
        self.page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)

    def images(self) -> list[dict]:
        """Natural and rendered size of every <img> in the article body."""
        return self.page.eval_on_selector_all(
            "article img, main img",
            """imgs => imgs.map(i => ({src: i.currentSrc.slice(0, 80), complete: i.complete,
                                       w: i.naturalWidth, h: i.naturalHeight,
                                       shown: i.getBoundingClientRect().width}))""")

    def screenshot(self, tmp_path: Path, repo_root: Path, name: str) -> Path:
        shot = tmp_path / f"{name}.png"
        self.page.screenshot(path=str(shot), full_page=True)
        keep = repo_root / "_build" / "screenshots"
        keep.mkdir(parents=True, exist_ok=True)
        shutil.copy2(shot, keep / shot.name)
        return shot

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, site):
    visits: list[PageVisit] = []

    def _open(path: str) -> PageVisit:
        v = PageVisit(browser, site)
        visits.append(v)
        v.open(path)
        return v

    yield _open
    for v in visits:
        v.close()


def test_root_redirects_to_landing_page(visit):
    v = visit("index.html")
    v.page.wait_for_url("**/book/index.html", timeout=PAGE_TIMEOUT_MS)
    assert not v.errors, "\n".join(v.errors)


def test_landing_page(visit, tmp_path: Path, repo_root: Path):
    v = visit("book/index.html")
    title = v.page.title()
    assert "vqcore" in title.lower(), f"unexpected title {title!r}"
    heading = v.page.inner_text("article h1")
    assert "vector quantization" in heading.lower()
    tables = v.page.eval_on_selector_all("article table", "ts => ts.map(t => t.innerText)")
    assert any("4c" in t and "exact" in t for t in tables), "the table of ICASSP figures is not rendered"
    assert any("phone groups" in t for t in tables), "the table of Interspeech figures is not rendered"
    # the left sidebar shows every part of the book
    nav = v.page.inner_text("nav.bd-docs-nav")
    for caption in ("Methods", "Reproduction", "Reference"):
        assert caption in nav, f"the navigation lacks {caption!r}"
    shot = v.screenshot(tmp_path, repo_root, "landing_page")
    assert shot.stat().st_size > 10_000
    assert not v.errors, "\n".join(v.errors)


def _figure_page_paths(book_figure_pages: list[str]) -> list[str]:
    return [f"{page}.html" for page in (book_figure_pages[:1] + DEMO_PAGES)]


def test_figure_pages_render(visit, tmp_path: Path, repo_root: Path, book_figure_pages: list[str]):
    """The first paper-figure page (once the notebooks exist) and the demo pages show their figures."""
    for path in _figure_page_paths(book_figure_pages):
        v = visit(path)
        imgs = v.images()
        assert imgs, f"{path}: no <img> in the page"
        bad = [i for i in imgs if not (i["complete"] and i["w"] > 0 and i["h"] > 0 and i["shown"] > 0)]
        assert not bad, f"{path}: images not rendered: {bad}"
        shot = v.screenshot(tmp_path, repo_root, Path(path).with_suffix("").as_posix().replace("/", "_"))
        assert shot.stat().st_size > 10_000
        assert not v.errors, f"{path}:\n" + "\n".join(v.errors)
