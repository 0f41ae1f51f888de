"""The built HTML book in headless Chromium (Debian's, driven by Playwright): every page in
`_toc.yml` loads with no console error, no failed request and nothing fetched from outside
localhost; every image loads, every formula is typeset by MathJax, and moving any explorer control
changes the plotted data. Screenshots go to `_build/screenshots/`.

`make test` builds the book first; this module is skipped only when `_build/html` is missing.
Set BOOK_HTML to test a book built elsewhere (its `_toc.yml` is read from two folders up).
"""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import pytest

from vxglib.browser import launch, serve, toc_pages, wait_until_rendered

HTML = Path(os.environ.get("BOOK_HTML", Path(__file__).resolve().parents[1] / "_build" / "html"))
BOOK = HTML.parents[1]
SHOTS = HTML.parent / "screenshots"
PAGES = toc_pages(BOOK)

pytestmark = pytest.mark.skipif(not HTML.is_dir(), reason=f"no built book at {HTML}: run `make book` "
                                "(or `make test`, which builds it before this test)")

PLOTTED = "el => JSON.stringify(el.querySelector('.js-plotly-plot').data.map(t => [t.x, t.y]))"


@pytest.fixture(scope="module")
def base_url():
    with serve(HTML) as url:
        yield url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = launch(playwright)
        yield chromium
        chromium.close()


@pytest.fixture
def visit(browser, base_url):
    """Open a page in a fresh context; collect console errors, failed and outside requests."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    problems: dict[str, list[str]] = {"console": [], "failed": [], "outside": []}

    def route(route_) -> None:
        if route_.request.url.startswith(base_url):
            route_.continue_()
        else:
            problems["outside"].append(route_.request.url)
            route_.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("console", lambda message: message.type == "error" and problems["console"].append(message.text))
    page.on("pageerror", lambda error: problems["console"].append(str(error)))
    page.on("requestfailed", lambda request: problems["failed"].append(f"{request.url}: {request.failure}"))
    page.on("response", lambda response: response.status >= 400 and problems["failed"].append(
        f"{response.url}: HTTP {response.status}"))

    def open_page(name: str):
        response = page.goto(base_url + name + ".html", wait_until="networkidle")
        assert response is not None and response.status == 200, f"{name}.html did not load"
        wait_until_rendered(page)
        return page, problems

    yield open_page
    context.close()


def test_toc_lists_the_chapters():
    assert len(PAGES) >= 2 and all((HTML / f"{name}.html").is_file() for name in PAGES), PAGES


@pytest.mark.parametrize("name", PAGES)
def test_page_renders_offline(visit, name):
    page, problems = visit(name)
    broken_images = page.evaluate("""() => Promise.all([...document.images].map(img => {
        img.loading = 'eager';
        return img.decode().then(() => img.naturalWidth > 0 ? null : img.src, () => img.src);
    })).then(srcs => srcs.filter(Boolean))""")
    assert broken_images == []
    math = page.evaluate("""() => [...document.querySelectorAll('.math')].map(el => ({
        text: el.textContent.slice(0, 60),
        typeset: !!el.querySelector('mjx-container') && !el.querySelector('mjx-merror')}))""")
    assert [m["text"] for m in math if not m["typeset"]] == [], "formulas MathJax did not render"
    if page.locator(".math").count():
        assert page.evaluate("() => MathJax.version").startswith("3."), "MathJax 3 did not load"
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SHOTS / f"{name.replace('/', '_')}.png", full_page=True)
    page.wait_for_load_state("networkidle")
    assert problems == {"console": [], "failed": [], "outside": []}


def _move_slider(page, explorer, index: int, step: int) -> None:
    slider = explorer.locator(".slider-group").nth(index)
    label = slider.locator(".slider-label-group").nth(step).bounding_box()
    rail = slider.locator(".slider-rail-touch-rect").bounding_box()
    page.mouse.click(label["x"] + label["width"] / 2, rail["y"] + rail["height"] / 2)


def _pick_dropdown(page, explorer, index: int, option: int) -> None:
    explorer.locator(".updatemenu-header-group").nth(index).click()
    explorer.locator(".updatemenu-dropdown-button-group .updatemenu-dropdown-button").nth(option).click()


EXPLORER_PAGES = [name for name in PAGES if (HTML / f"{name}.html").is_file()
                  and "vx-explorer" in (HTML / f"{name}.html").read_text()]


def test_some_page_has_an_explorer():
    assert EXPLORER_PAGES, "no page in _toc.yml holds an explorer ({explorer} directive)"


@pytest.mark.parametrize("name", EXPLORER_PAGES)
def test_moving_each_explorer_control_changes_the_plotted_data(visit, name):
    page, problems = visit(name)
    explorers = page.locator("figure.vx-explorer")
    for number in range(explorers.count()):
        explorer = explorers.nth(number)
        explorer.scroll_into_view_if_needed()
        data = json.loads(explorer.locator(".vx-explorer-data").text_content())
        assert data["controls"], f"explorer {data['name']} has no control to move"
        assert len(data["runs"]) == math.prod(len(control["values"]) for control in data["controls"])
        shot = SHOTS / f"{name.replace('/', '_')}-{data['name']}"
        SHOTS.mkdir(parents=True, exist_ok=True)
        explorer.screenshot(path=f"{shot}-before.png")
        menus, sliders = 0, 0
        for control in data["controls"]:
            before_data, before_key = explorer.evaluate(PLOTTED), explorer.locator(".vx-explorer-plot").get_attribute("data-key")
            target = (control["default"] + len(control["values"]) // 2) % len(control["values"])
            if control["kind"] == "dropdown":
                _pick_dropdown(page, explorer, menus, target)
                menus += 1
                shown = explorer.locator(".updatemenu-header-group").nth(menus - 1).text_content()
            else:
                _move_slider(page, explorer, sliders, target)
                sliders += 1
                shown = explorer.locator(".slider-group").nth(sliders - 1).locator(".slider-label").first.text_content()
            page.wait_for_function("([el, key]) => el.dataset.key !== key",
                                   arg=[explorer.locator(".vx-explorer-plot").element_handle(), before_key])
            assert shown.replace("▼", "").strip() == f"{control['label']}: {control['values'][target]}"
            after_key = explorer.locator(".vx-explorer-plot").get_attribute("data-key")
            assert after_key.split("-")[data["controls"].index(control)] == str(target)
            assert explorer.evaluate(PLOTTED) != before_data, f"moving {control['label']} changed nothing"
        explorer.screenshot(path=f"{shot}-after.png")
    assert problems == {"console": [], "failed": [], "outside": []}
