"""The built book as a reader sees it offline: headless Chromium opens the pages from ``file://``.

README tells readers to open ``_build/html/index.html`` from disk, so that is how the pages are
opened here, with the network blocked twice over: Chromium resolves no host name
(``--host-resolver-rules``) and every request that is not for a local file is aborted and recorded.
On every page of _toc.yml but the API pages, and on a sample of those (per layer of vqcore its
own page and its largest module page: they all come from one template and autodoc):

- no request leaves the machine, and no console or page error;
- every maths element is typeset by MathJax, and no raw ``\\(``, ``\\[`` or ``$$`` is left in the
  text a reader sees (prose and cell outputs; code is not read);
- no raw Markdown table text (``| --- |`` rules or ``| a | b |`` rows) is left in that text;

and on every figure page, a table names the paper's curves (a header cell with "paper"). Every API
page gets the same checks from its HTML file, without a browser: no resource from the network,
every local script, stylesheet and picture present, the local MathJax loaded where there is maths,
no raw maths or table text outside code and maths, and one title naming its module.

Uses Debian's Chromium (/usr/bin/chromium) driven by playwright-python. Without it the tests are
skipped, except in CI (CI=true), where they fail: `.ci/run` installs it.
Screenshots go to the test's tmp_path and are copied to ``_build/screenshots/`` for humans.
"""
from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--host-resolver-rules=MAP * ~NOTFOUND"]
# Pages with live demo figures, checked as well as the paper-figure pages.
DEMO_PAGES = ["book/methods/nsvq", "book/methods/multicodebook", "book/methods/sfvq", "book/methods/complexity"]
PAGE_TIMEOUT_MS = 30_000
#: the parts of _toc.yml, read when the tests are collected (their pages are read after the build)
PARTS = [part.get("caption", "") for part in
         yaml.safe_load((REPO / "_toc.yml").read_text(encoding="utf-8")).get("parts", [])]

#: raw maths a reader must never see: MathJax's delimiters, and display maths left as typed
RAW_MATH = re.compile(r"\\\(|\\\)|\\\[|\\\]|\$\$")
#: a Markdown table rule ``|---|:---:|`` or a row ``| a | b |`` left as text
RAW_TABLE_RULE = re.compile(r"\|\s*:?(?:-{3,}|[\u2013\u2014]+):?\s*\|")  # "---", or its typographic dashes
RAW_TABLE_ROW = re.compile(r"^\s*\|[^|\n]+\|[^|\n]+\|.*\|\s*$", re.MULTILINE)

#: the text a reader sees as prose or cell output, one string per text node: code cells' sources,
#: code blocks and inline code in the prose, scripts and MathJax's own markup are left out
_READER_TEXT_JS = """() => {
  const root = document.querySelector('main article') || document.querySelector('article') || document.body;
  const code = el => el.closest('.cell_input, script, style, textarea, code, mjx-container, svg')
      || (el.closest('pre, div[class*="highlight-"]') && !el.closest('.cell_output'));
  const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
  const out = [];
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (parent && !code(parent) && node.textContent.trim()) out.push(node.textContent);
  }
  return out;
}"""

#: maths elements Sphinx wrote (span.math / div.math) that MathJax did not typeset
_UNTYPESET_MATH_JS = """() => Array.from(document.querySelectorAll('span.math, div.math'))
    .filter(el => !el.querySelector('mjx-container')).map(el => el.textContent.slice(0, 60))"""

#: waits for MathJax's first typesetting, if the page loads MathJax
_MATHJAX_READY_JS = """async () => {
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) { await MathJax.startup.promise; return true; }
  return false;
}"""

_TABLE_HEADERS_JS = """() => Array.from(document.querySelectorAll('article table')).map(
    t => Array.from(t.querySelectorAll('th')).map(th => th.innerText.trim()))"""


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def _unavailable(reason: str) -> None:
    if _in_ci():
        pytest.fail(f"{reason} (CI=true: browser tests must run in CI; .ci/run installs chromium)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def site(built_book: Path) -> str:
    """The built HTML folder as a ``file://`` URL (no web server: the reader opens the files)."""
    return built_book.resolve().as_uri()


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



def raw_markup(texts: list[str]) -> list[str]:
    """What of ``texts`` (a page's visible text blocks) is raw maths or a raw Markdown table."""
    found = []
    for text in texts:
        for pattern, what in ((RAW_MATH, "raw maths"), (RAW_TABLE_RULE, "raw Markdown table rule"),
                              (RAW_TABLE_ROW, "raw Markdown table row")):
            match = pattern.search(text)
            if match:
                start = max(0, match.start() - 30)
                found.append(f"{what}: {text[start:match.end() + 30]!r}")
    return found

class PageVisit:
    """A browser tab that opens pages of the book and records what went wrong on each."""

    def __init__(self, browser, base_url: str) -> None:
        self.base = base_url
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.external: list[str] = []
        self.page.route("**/*", self._route)
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._failed)

    def _route(self, route) -> None:
        if urlsplit(route.request.url).scheme in {"file", "data", "blob", "about"}:
            route.continue_()
        else:
            self.external.append(route.request.url)
            route.abort()

    def _console(self, msg) -> None:
        if msg.type == "error":
            self.errors.append(f"console error: {msg.text} ({(msg.location or {}).get('url', '')})")

    def _failed(self, request) -> None:
        if urlsplit(request.url).scheme == "file":
            self.errors.append(f"missing file: {request.url[len(self.base):]} ({request.failure})")

    def open(self, path: str) -> None:
        self.errors.clear()
        self.external.clear()
        self.page.goto(f"{self.base}/{path}", wait_until="load", timeout=PAGE_TIMEOUT_MS)
        self.page.wait_for_load_state("networkidle", timeout=PAGE_TIMEOUT_MS)
        self.page.evaluate(_MATHJAX_READY_JS)

    def problems(self) -> list[str]:
        """What a reader of this page would see wrong: network use, errors, raw maths or tables."""
        found = [f"requests the network: {url}" for url in self.external] + list(self.errors)
        found += [f"maths not typeset: {text!r}" for text in self.page.evaluate(_UNTYPESET_MATH_JS)]
        return found + raw_markup(self.page.evaluate(_READER_TEXT_JS))

    def table_headers(self) -> list[list[str]]:
        return self.page.evaluate(_TABLE_HEADERS_JS)

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


@pytest.fixture(scope="module")
def tab(browser, site):
    """One tab for the page-by-page checks (a fresh context per page costs more than the check)."""
    v = PageVisit(browser, site)
    yield v
    v.close()


def test_root_redirects_to_landing_page(visit):
    v = visit("index.html")
    v.page.wait_for_url("**/book/index.html", timeout=PAGE_TIMEOUT_MS)
    assert not v.errors, "\n".join(v.errors)
    assert not v.external, f"the root page requests the network: {v.external}"


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


# -- every page: in the browser, or for the API pages a sample in it and all from their HTML -------

API_PREFIX = "book/api/"


def browser_pages(pages: list[str], html: Path) -> list[str]:
    """``pages`` without the API pages but a sample of them: per layer of vqcore (``vqcore.io``,
    ``vqcore.eval``, ...; ``vqcore`` itself) the layer's own page and its largest module page."""
    layers: dict[str, list[str]] = {}
    for page in pages:
        if page.startswith(API_PREFIX):
            parts = page[len(API_PREFIX):].split(".")
            layers.setdefault(".".join(parts[:2]), []).append(page)
    sample = set()
    for layer, members in layers.items():
        own = [m for m in members if m == API_PREFIX + layer]
        modules = [m for m in members if m not in own]
        sample.update(own)
        if modules:
            sample.add(max(modules, key=lambda m: ((html / f"{m}.html").stat().st_size, m)))
    return [page for page in dict.fromkeys(pages) if not page.startswith(API_PREFIX) or page in sample]


@pytest.fixture(scope="module")
def seen(tab, built_book: Path):
    """What a reader would see wrong on a page, and its tables' headers, each page opened once."""
    found: dict[str, tuple[list[str], list[list[str]]]] = {}

    def _look(page: str) -> tuple[list[str], list[list[str]]]:
        if page not in found:
            assert (built_book / f"{page}.html").is_file(), f"{page}.html was not built"
            tab.open(f"{page}.html")
            found[page] = (tab.problems(), tab.table_headers())
        return found[page]

    return _look


@pytest.mark.parametrize("part", PARTS)
def test_every_page_reads_clean_offline(built_book: Path, built_source: Path, seen, part: str):
    """Every page of the part (of the API pages a sample): no network, no errors, maths typeset,
    no raw maths or table text."""
    from tests.conftest import toc_parts

    pages = toc_parts(built_source).get(part, [])  # the API pages' globs match where the build wrote them
    assert pages, f"the part {part!r} of _toc.yml lists no page"
    for page in pages:
        assert (built_book / f"{page}.html").is_file(), f"{page}.html was not built"
    report = {}
    for page in browser_pages(pages, built_book):
        found, _ = seen(page)
        if found:
            report[page] = found[:8] + ([f"... and {len(found) - 8} more"] if len(found) > 8 else [])
    assert not report, "pages a reader would see broken:\n" + "\n".join(
        f"{page}:\n    " + "\n    ".join(items) for page, items in report.items())


def test_figure_pages_name_the_papers_curves(seen, book_figure_pages: list[str]):
    """Each figure page tabulates the paper beside ours: a table header names "paper"."""
    if not book_figure_pages:
        pytest.skip("no figure notebooks are listed in _toc.yml yet")
    without = []
    for page in book_figure_pages:
        _, tables = seen(page)
        headers = [h for table in tables for h in table]
        if not any(re.search(r"\bpaper\b", h, re.IGNORECASE) for h in headers):
            without.append(f"{page} (table headers: {headers[:12]})")
    assert not without, "figure pages whose tables do not name the paper's curves:\n" + "\n".join(without)


#: elements whose text a reader does not read as prose (code, maths before MathJax, scripts)
_NOT_PROSE = {"script", "style", "textarea", "code", "svg", "mjx-container"}
_VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
_LOADED = {"script": "src", "img": "src", "iframe": "src", "source": "src", "audio": "src", "video": "src",
           "embed": "src"}
_LINKS_LOADED = {"stylesheet", "preload", "modulepreload", "icon"}


class PageHtml(HTMLParser):
    """A built page read as the browser checks it: the resources it loads, its maths elements and
    titles, and the text of its article outside code and maths (as ``_READER_TEXT_JS`` reads it)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.loads: list[str] = []
        self.maths = 0
        self.h1: list[str] = []
        self.texts: list[str] = []
        self._stack: list[tuple[str, bool, bool, bool]] = []  # (tag, skips its text, cell output, heading link)
        self._article = 0
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = {k: v or "" for k, v in attrs}
        classes = attr.get("class", "").split()
        if tag in _LOADED and attr.get(_LOADED[tag]):
            self.loads.append(attr[_LOADED[tag]])
        if tag == "link" and _LINKS_LOADED & set(attr.get("rel", "").split()) and attr.get("href"):
            self.loads.append(attr["href"])
        if tag in _VOID:
            return
        maths = tag in {"span", "div"} and "math" in classes
        self.maths += maths
        output = "cell_output" in classes or any(o for _, _, o, _ in self._stack)
        code_block = tag == "pre" or any(c.startswith("highlight-") for c in classes)
        skips = (maths or tag in _NOT_PROSE or "cell_input" in classes or (code_block and not output)
                 or any(s for _, s, _, _ in self._stack))
        anchor = "headerlink" in classes or any(a for _, _, _, a in self._stack)
        self._stack.append((tag, skips, output, anchor))
        self._article += tag == "article"
        self._in_h1 = self._in_h1 or (tag == "h1" and self._article > 0)
        if tag == "h1" and self._article > 0:
            self.h1.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID or not any(t == tag for t, *_ in self._stack):
            return
        while self._stack:
            top, *_ = self._stack.pop()
            self._article -= top == "article"
            if top == "h1":
                self._in_h1 = False
            if top == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._in_h1 and self.h1 and not (self._stack and self._stack[-1][3]):
            self.h1[-1] += data
        if self._article > 0 and data.strip() and not any(s for _, s, _, _ in self._stack):
            self.texts.append(data)


def html_problems(html: Path, page: str) -> list[str]:
    """What the browser checks would find on ``page``, read from its HTML file."""
    path = html / f"{page}.html"
    reader = PageHtml()
    reader.feed(path.read_text(encoding="utf-8"))
    found = []
    for src in reader.loads:
        parts = urlsplit(src)
        if parts.scheme in {"http", "https"} or src.startswith("//"):
            found.append(f"requests the network: {src}")
        elif not parts.scheme and parts.path and not (path.parent / unquote(parts.path)).resolve().is_file():
            found.append(f"missing file: {src}")
    if reader.maths and not any("_static/mathjax/" in src for src in reader.loads):
        found.append(f"{reader.maths} maths elements but no local MathJax")
    module = page[len(API_PREFIX):]
    titles = [h.strip() for h in reader.h1]
    if titles != [module]:
        found.append(f"titles {titles}, expected one: {module!r}")
    return found + raw_markup(reader.texts)


def test_every_api_page_reads_clean_in_its_html(built_book: Path, built_source: Path):
    """The browser's checks, from the HTML files, on every API page (the browser opens a sample)."""
    from tests.conftest import toc_parts

    pages = [page for pages in toc_parts(built_source).values() for page in pages if page.startswith(API_PREFIX)]
    assert len(pages) > 20, f"only {len(pages)} API pages in _toc.yml"
    report = {page: found[:8] for page in pages if (found := html_problems(built_book, page))}
    assert not report, "API pages a reader would see broken:\n" + "\n".join(
        f"{page}:\n    " + "\n    ".join(items) for page, items in report.items())


def test_the_html_reader_sees_what_the_browser_checks_see(tmp_path: Path):
    """The HTML checks can fail: raw maths in prose, a remote script, a missing stylesheet, no title."""
    page = tmp_path / "book" / "api" / "vqcore.x.html"
    page.parent.mkdir(parents=True)
    (tmp_path / "_static").mkdir()
    (tmp_path / "_static" / "here.css").write_text("", encoding="utf-8")
    page.write_text(
        '<html><head><script src="https://cdn.example/x.js"></script>'
        '<link rel="stylesheet" href="../../_static/here.css"><link rel="stylesheet" href="../../_static/gone.css">'
        '<link rel="next" href="nowhere.html"></head><body><article><h1><code>vqcore.x</code><a class="headerlink" href="#">#</a></h1>'
        '<p>fine <code>$$ in code</code> <span class="math">\\(x\\)</span></p><br><p>raw \\(y\\) here</p>'
        '<pre>| a | b | c |</pre><p>| a | b | c |</p></article></body></html>', encoding="utf-8")
    found = html_problems(tmp_path, "book/api/vqcore.x")
    assert found == ["requests the network: https://cdn.example/x.js", "missing file: ../../_static/gone.css",
                     "1 maths elements but no local MathJax", "raw maths: 'raw \\\\(y\\\\) here'",
                     "raw Markdown table row: '| a | b | c |'"], found
    page.write_text("<html><body><article><h1>other</h1></article></body></html>", encoding="utf-8")
    assert html_problems(tmp_path, "book/api/vqcore.x") == ["titles ['other'], expected one: 'vqcore.x'"]
