"""The built book in a real browser: serve `_build/html` on localhost and drive Debian's headless
Chromium with Playwright (used by `tests/test_browser.py` and by `make bench` for page weights).

Only `/usr/bin/chromium` is used, never a browser that a tool downloads; `make test` installs it
with apt when it is missing.
"""
from __future__ import annotations

import contextlib
import functools
import gzip
import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
COMPRESSED = (".html", ".js", ".css", ".json", ".svg", ".txt", ".map")  # as any web host serves them


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Static files, text ones gzip-compressed when the browser accepts it (as a web host does)."""

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = Path(self.translate_path(self.path))
        if path.is_dir():
            path = path / "index.html"
        if path.suffix not in COMPRESSED or "gzip" not in self.headers.get("Accept-Encoding", "") \
                or not path.is_file():
            return super().do_GET()
        body = _gzipped(path)
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(str(path)))
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args) -> None:  # noqa: A002 (http.server's signature)
        pass


@functools.lru_cache(maxsize=512)
def _gzipped(path: Path) -> bytes:
    return gzip.compress(path.read_bytes(), compresslevel=6)


@contextlib.contextmanager
def serve(directory: str | Path) -> Iterator[str]:
    """Serve `directory` on a free localhost port in a thread; yield its base URL."""
    directory = Path(directory)
    if not directory.is_dir():
        raise ValueError(f"directory={str(directory)!r} does not exist; build the book first")
    handler = functools.partial(_Handler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def launch(playwright):
    """Debian's Chromium, headless, with no background traffic of its own."""
    if not Path(CHROMIUM).exists():
        raise FileNotFoundError(f"{CHROMIUM} is missing: apt-get install chromium (make test does it)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def toc_pages(book: str | Path) -> list[str]:
    """The pages `_toc.yml` lists (root first), as paths without suffix: 'chapters/01_gradient_descent'."""
    import yaml

    toc = yaml.safe_load((Path(book) / "_toc.yml").read_text())
    pages = [toc["root"]]

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                pages.append(str(node["file"]).removesuffix(".ipynb").removesuffix(".md"))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk({k: v for k, v in toc.items() if k != "root"})
    return pages


def page_weights(html: str | Path, pages: list[str]) -> dict[str, tuple[int, int]]:
    """For each page: (bytes transferred, bytes after decompression) for a first visit, counted by
    Chromium's DevTools protocol once the page, MathJax and the explorers have finished loading."""
    from playwright.sync_api import sync_playwright

    weights = {}
    with serve(html) as base, sync_playwright() as playwright:
        browser = launch(playwright)
        for name in pages:
            context = browser.new_context()
            page = context.new_page()
            cdp = context.new_cdp_session(page)
            counts = {"transferred": 0, "decoded": 0}
            cdp.on("Network.loadingFinished", lambda e: counts.__setitem__(
                "transferred", counts["transferred"] + int(e["encodedDataLength"])))
            cdp.on("Network.dataReceived", lambda e: counts.__setitem__(
                "decoded", counts["decoded"] + int(e["dataLength"])))
            cdp.send("Network.enable")
            page.goto(base + name + ".html", wait_until="networkidle")
            wait_until_rendered(page)
            page.wait_for_load_state("networkidle")
            weights[name] = (counts["transferred"], counts["decoded"])
            context.close()
        browser.close()
    return weights


def wait_until_rendered(page, timeout_ms: int = 30_000) -> None:
    """Wait for MathJax's typesetting (if the page loads it) and for every explorer's first draw."""
    page.wait_for_function("() => !document.querySelector('script[src*=\"mathjax\"]') || "
                           "(window.MathJax && MathJax.startup && MathJax.startup.promise)", timeout=timeout_ms)
    page.evaluate("() => window.MathJax && MathJax.startup ? MathJax.startup.promise.then(() => true) : true")
    page.wait_for_function("() => [...document.querySelectorAll('figure.vx-explorer')]"
                           ".every(f => f.classList.contains('vx-explorer-ready'))", timeout=timeout_ms)
