"""The built book in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`).

Visits the introduction and one page of each study, checks that every figure image loaded
(naturalWidth > 0), that tables are present, and that the console shows no errors. Screenshots land
in ``<book>/_build/screenshots``. The book is the smoke-profile copy `make test` builds
(``$FASHIONLIB_SMOKE_BOOK``); run alone, the test builds it first.
"""

import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

from fashionlib import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
PAGES = {
    "intro": "book/executed/intro.html",
    "data": "book/executed/a0_fashion_mnist.html",
    "study_a": "book/executed/a1_improved_cnn.html",
    "study_b": "book/executed/b1_apparel_data.html",
}

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def book_root(tmp_path_factory) -> Path:
    root = os.environ.get("FASHIONLIB_SMOKE_BOOK")
    if root and (Path(root) / "_build" / "html" / "index.html").is_file():
        return Path(root)
    root = tmp_path_factory.mktemp("smoke-book")
    run.build_book("smoke", root)
    return root


@pytest.fixture(scope="module")
def server(book_root):
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(book_root / "_build" / "html"))
    handler.log_message = lambda *a, **k: None
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if not (CHROMIUM and CHROMEDRIVER):
        pytest.skip("no browser: install Debian's chromium and chromium-driver (make setup does, where apt exists)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1600",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    yield driver
    driver.quit()


@pytest.mark.parametrize("page", list(PAGES))
def test_page_renders_figures_tables_without_console_errors(page, book_root, server, browser):
    path = book_root / "_build" / "html" / PAGES[page]
    assert path.is_file(), f"{PAGES[page]} was not built"
    browser.get(f"{server}/{PAGES[page]}")
    browser.execute_script("return document.readyState")
    images = browser.execute_script(
        "return Array.from(document.querySelectorAll('article img')).map(i => [i.src, i.complete, i.naturalWidth])")
    tables = browser.execute_script("return document.querySelectorAll('article table').length")
    shots = book_root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shots / f"{page}.png"))
    errors = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert not errors, f"console errors on {page}: {errors}"
    assert tables >= 1, f"no table on {page}"
    if page != "intro":
        assert images, f"no figure on {page}"
    broken = [src for src, complete, width in images if not complete or width == 0]
    assert not broken, f"images that did not load on {page}: {broken}"
