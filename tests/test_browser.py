"""The built book in a real browser: headless Chromium (Debian's `chromium` + `chromium-driver`).

Visits every page of the table of contents (the list is read from ``_toc.yml``) and checks, on each:

- every image loaded (``naturalWidth > 0``);
- the console shows no entry of level SEVERE or WARNING (read after each page, the last one too);
- no table is wider than the article that holds it (at a 1280 px window), nor, on a 412 px phone
  screen, wider than the article or the screen (``test_no_table_wider_than_a_phone_screen``);
- on a 412 px phone screen, with every "More columns" block open, no word split inside in a table cell
  unless its table cannot fit whole words (``test_no_word_split_in_a_table_cell_on_a_phone``);
- no traceback, error or stderr output block;
- no tqdm progress text and no TensorFlow/absl/oneDNN start-up lines in any cell output;
- at most 15 stream-output boxes;
- every ``.math`` element is typeset (holds an ``mjx-container``) and no raw ``\\[`` / ``\\(`` is left;
- no request leaves the machine: every URL the page requests is the local server's (or data:/blob:).
  The browser also cannot resolve any other host (``--host-resolver-rules``), so math that renders
  here renders offline.

All failures of all pages are collected and reported together, one line per page and check.
Screenshots land in ``<book>/_build/screenshots``. The book is the smoke-profile copy `make test`
builds (``$FASHIONLIB_SMOKE_BOOK``); run alone, the test builds it first.
"""

import functools
import http.server
import json
import os
import re
import shutil
import threading
import time
from pathlib import Path
from urllib.parse import urlparse

import pytest
import yaml

from fashionlib import run

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
TOC = run.REPO_ROOT / "_toc.yml"
MAX_STREAM_BOXES = 15
PROGRESS = re.compile(r"\d+%\|[^|\n]*\|\s*\d+/\d+|\d+(\.\d+)?\s?(it/s|s/it)\]")
STARTUP = re.compile(r"absl::InitializeLog|oneDNN custom operations|cpu_feature_guard|"
                     r"This TensorFlow binary is optimized|^[IWEF]\d{4} \d\d:\d\d:\d\d[.\d]*\s+\d+ \S+:\d+\]",
                     re.M)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def toc_pages(toc: Path = TOC) -> list[str]:
    """Every page of the table of contents, in reading order, as paths without suffix."""
    spec = yaml.safe_load(toc.read_text())
    pages = [spec["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                pages.append(entry["file"])
            walk(entry.get("sections"))
            walk(entry.get("chapters"))

    for part in spec.get("parts", []):
        walk(part.get("chapters"))
    walk(spec.get("chapters"))
    return pages


def test_toc_pages_reads_every_entry(tmp_path):
    toc = tmp_path / "_toc.yml"
    toc.write_text("format: jb-book\nroot: intro\nparts:\n  - caption: A\n    chapters:\n      - file: a\n"
                   "        sections:\n          - file: a/b\n      - file: c\n  - caption: B\n"
                   "    chapters:\n      - file: d\n")
    assert toc_pages(toc) == ["intro", "a", "a/b", "c", "d"]
    assert len(toc_pages()) == len(set(toc_pages())) >= 18


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
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):
            pass

    handler = functools.partial(Quiet, directory=str(book_root / "_build" / "html"))
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
                 "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",  # no other host exists
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# Runs in the page: waits for images and MathJax, then measures everything the checks need.
INSPECT = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const article = document.querySelector('article') || document.body;
  const imgs = Array.from(article.querySelectorAll('img'));
  imgs.forEach(i => { i.loading = 'eager'; });
  const t0 = Date.now();
  while (imgs.some(i => !i.complete) && Date.now() - t0 < 20000) await new Promise(r => setTimeout(r, 100));
  if (window.MathJax && MathJax.startup && MathJax.startup.promise) {
    try { await MathJax.startup.promise; } catch (e) {}
  }
  const visibleText = (root) => {
    const out = [];
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {acceptNode: n =>
      n.parentElement.closest('pre, code, script, style, mjx-container') ? NodeFilter.FILTER_REJECT
                                                                         : NodeFilter.FILTER_ACCEPT});
    while (walker.nextNode()) out.push(walker.currentNode.nodeValue);
    return out.join('');
  };
  const cs = getComputedStyle(article);
  const articleWidth = article.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight);
  done({
    images: imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth]),
    articleWidth: articleWidth,
    tables: Array.from(article.querySelectorAll('table')).map((t, k) => {
      let clipped = false;
      for (let e = t.parentElement; e && e !== article; e = e.parentElement)
        if (e.scrollWidth > e.clientWidth + 1) clipped = true;
      // overflows: the table itself reaches past a box that holds it (not a wide code block beside it)
      const r = t.getBoundingClientRect();
      let overflows = false;
      for (let e = t.parentElement; e && e !== article; e = e.parentElement) {
        const b = e.getBoundingClientRect();
        if (r.right > b.left + e.clientWidth + 1) overflows = true;
      }
      const cap = t.querySelector('caption');
      return {n: k + 1, width: r.width, clipped: clipped, overflows: overflows,
              caption: (cap ? cap.innerText : t.innerText).slice(0, 60)};
    }),
    errorBlocks: Array.from(article.querySelectorAll('.output.stderr, .output.traceback, .output.error'))
      .map(e => e.className + ': ' + e.innerText.slice(0, 120)),
    outputs: Array.from(article.querySelectorAll('.cell_output')).map(e => e.innerText),
    streamBoxes: article.querySelectorAll('.output.stream').length,
    math: Array.from(article.querySelectorAll('.math')).map(m =>
      [m.querySelector('mjx-container') !== null, m.textContent.slice(0, 60)]),
    rawMath: (visibleText(article).match(/\\[\[\(]/g) || []).length,
    tracebackText: /Traceback \(most recent call last\)/.test(article.innerText),
  });
})();
"""


def _requests(browser) -> list[str]:
    urls = []
    for entry in browser.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def _leaves_machine(url: str) -> bool:
    u = urlparse(url)
    if u.scheme in ("data", "blob", "about", "file", "chrome", "devtools"):
        return False
    return u.hostname not in ("127.0.0.1", "localhost", "::1")


def check_page(info: dict, console: list[dict], requests: list[str]) -> dict[str, str]:
    """The failed checks of one page: {check name: what was found}."""
    failed = {}
    broken = [src for src, complete, width in info["images"] if not complete or width == 0]
    if broken:
        failed["images"] = f"{len(broken)} did not load: {broken[:3]}"
    noisy = [f"{e['level']}: {e['message'][:160]}" for e in console if e["level"] in ("SEVERE", "WARNING")]
    if noisy:
        failed["console"] = f"{len(noisy)} entries: {noisy[:3]}"
    wide = [f"table {t['n']} ({t['caption']!r}): {t['width']:.0f} px" + (", clipped" if t["clipped"] else "")
            for t in info["tables"] if t["width"] > info["articleWidth"] + 1 or t["clipped"]]
    if wide:
        failed["table width"] = f"content column {info['articleWidth']:.0f} px; " + "; ".join(wide[:3])
    if info["errorBlocks"] or info["tracebackText"]:
        failed["traceback/stderr"] = f"{len(info['errorBlocks'])} blocks: {info['errorBlocks'][:2]}" + (
            ", 'Traceback (most recent call last)' in the text" if info["tracebackText"] else "")
    progress = [m.group(0) for o in info["outputs"] for m in PROGRESS.finditer(o)]
    if progress:
        failed["progress text"] = f"{len(progress)} tqdm states, e.g. {progress[:2]}"
    startup = [m.group(0) for o in info["outputs"] for m in STARTUP.finditer(o)]
    if startup:
        failed["start-up lines"] = f"{len(startup)}, e.g. {startup[:2]}"
    if info["streamBoxes"] > MAX_STREAM_BOXES:
        failed["stream boxes"] = f"{info['streamBoxes']} > {MAX_STREAM_BOXES}"
    raw = [text for typeset, text in info["math"] if not typeset]
    if raw or info["rawMath"]:
        failed["math"] = (f"{len(raw)} of {len(info['math'])} .math elements not typeset, e.g. {raw[:1]}; "
                          f"{info['rawMath']} raw \\[ or \\( in the text")
    outside = [u for u in requests if _leaves_machine(u)]
    if outside:
        failed["offline"] = f"{len(outside)} requests leave the machine: {outside[:3]}"
    return failed


def test_check_page_flags_each_problem():
    """The checks themselves: a clean page passes, each planted problem is named."""
    clean = {"images": [["a.png", True, 10]], "articleWidth": 800.0,
             "tables": [{"n": 1, "width": 700.0, "clipped": False, "caption": "t"}], "errorBlocks": [],
             "outputs": ["Epoch 1/2 done", "accuracy 91.2"], "streamBoxes": 3,
             "math": [[True, "x"]], "rawMath": 0, "tracebackText": False}
    assert check_page(clean, [{"level": "INFO", "message": "hello"}], ["http://127.0.0.1:8000/x.js"]) == {}
    bad = {**clean, "images": [["a.png", True, 0]],
           "tables": [{"n": 1, "width": 900.0, "clipped": False, "caption": "t"}],
           "errorBlocks": ["output stderr: oops"], "streamBoxes": 16, "math": [[False, r"\[x\]"]],
           "outputs": ["b2 epoch 1/3:  40%|████      | 4/10 [00:01<00:02,  2.50it/s]",
                       "I0000 00:00:1795960726.553288    6898 port.cc:153] oneDNN custom operations are on."]}
    failed = check_page(bad, [{"level": "WARNING", "message": "x.js 1:2 deprecated"}],
                        ["https://cdn.jsdelivr.net/npm/mathjax@3/es5/tex-mml-chtml.js"])
    assert set(failed) == {"images", "console", "table width", "traceback/stderr", "progress text",
                           "start-up lines", "stream boxes", "math", "offline"}


def test_every_page_of_the_table_of_contents(browser, book_root, server):
    pages = toc_pages()
    html = book_root / "_build" / "html"
    missing = [p for p in pages if not (html / f"{p}.html").is_file()]
    assert not missing, f"pages of _toc.yml that were not built: {missing}"
    shots = book_root / "_build" / "screenshots"
    shots.mkdir(parents=True, exist_ok=True)
    browser.get_log("browser"), browser.get_log("performance")  # start clean
    visited, failures = [], {}
    for page in pages:
        browser.get(f"{server}/{page}.html")
        info = browser.execute_async_script(INSPECT)
        time.sleep(0.2)  # late console entries (e.g. a failed font) belong to this page
        browser.save_screenshot(str(shots / f"{page.replace('/', '__')}.png"))
        failed = check_page(info, browser.get_log("browser"), _requests(browser))
        visited.append(page)
        failures.update({(page, check): found for check, found in failed.items()})
    assert visited == pages, "the test visits exactly the table of contents"
    report = "\n".join(f"{page} [{check}]: {found}" for (page, check), found in failures.items())
    assert not failures, f"{len(failures)} failed checks on {len({p for p, _ in failures})} pages:\n{report}"


PHONE = {"width": 412, "height": 915, "deviceScaleFactor": 1, "mobile": True}


def phone_table_failures(info: dict, screen_width: int) -> str | None:
    """What is too wide on one page at a phone's width: a table wider than the article or reaching past a
    box that holds it (``overflows``; a box made to scroll by a code block beside the table does not
    count), or an article wider than the screen. None when everything fits."""
    tables = [{**t, "clipped": t.get("overflows", t["clipped"])} for t in info["tables"]]
    failed = check_page({**info, "tables": tables, "images": [], "errorBlocks": [], "outputs": [], "streamBoxes": 0,
                         "math": [], "rawMath": 0, "tracebackText": False}, [], []).get("table width")
    if info["articleWidth"] > screen_width + 1:
        failed = f"article {info['articleWidth']:.0f} px on a {screen_width} px screen" + (f"; {failed}" if failed else "")
    return failed


def test_phone_table_failures_names_wide_tables():
    fits = {"articleWidth": 380.0, "tables": [{"n": 1, "width": 380.0, "clipped": False, "caption": "t"}]}
    assert phone_table_failures(fits, 412) is None
    wide = {**fits, "tables": [{"n": 2, "width": 513.0, "clipped": False, "caption": "paper mean std"}]}
    assert "table 2 ('paper mean std'): 513 px" in phone_table_failures(wide, 412)
    assert "clipped" in phone_table_failures({**fits, "tables": [{**fits["tables"][0], "overflows": True}]}, 412)
    beside_code = {**fits["tables"][0], "clipped": True, "overflows": False}
    assert phone_table_failures({**fits, "tables": [beside_code]}, 412) is None
    assert "article 500 px" in phone_table_failures({**fits, "articleWidth": 500.0}, 412)


def failures_on_a_phone(browser, server, script: str, check) -> dict[str, str]:
    """Every page of the table of contents at a phone's size (``PHONE``): ``check`` of what ``script``
    (an async script) returns, where it finds something: {page: what it found}."""
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", PHONE)
    try:
        failures = {}
        for page in toc_pages():
            browser.get(f"{server}/{page}.html")
            failed = check(browser.execute_async_script(script))
            if failed:
                failures[page] = failed
        browser.get_log("browser"), browser.get_log("performance")  # the other test reads its own entries
    finally:
        browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
    return failures


def test_no_table_wider_than_a_phone_screen(browser, book_root, server):
    """Every page at 412 px (a phone): each table fits the article, the article fits the screen."""
    failures = failures_on_a_phone(browser, server, INSPECT, lambda info: phone_table_failures(info, PHONE["width"]))
    report = "\n".join(f"{page}: {found}" for page, found in failures.items())
    assert not failures, f"{len(failures)} pages have a table wider than a {PHONE['width']} px screen:\n{report}"


# Runs in the page at a phone's width: opens every "More columns" block, then finds each word of a
# table cell that the browser split across lines other than after a hyphen, dash, slash or underscore
# (the line fragments of a Range over the word), and each table that fashionrepro.js squeezed (cells
# allowed to break words) although it fits with whole words (measured with the squeezing taken off).
SPLIT_WORDS = r"""
const done = arguments[arguments.length - 1];
(async () => {
  const article = document.querySelector('article') || document.body;
  article.querySelectorAll('details').forEach(d => { d.open = true; });
  await new Promise(r => setTimeout(r, 200));  // the toggle events, and fashionrepro.js on them
  const range = document.createRange();
  const lines = (node, start, end) => {
    range.setStart(node, start); range.setEnd(node, end);
    return Array.from(range.getClientRects()).filter(r => r.width > 0 && r.height > 0).length;
  };
  const splits = [];
  for (const cell of article.querySelectorAll('table td, table th')) {
    if (!cell.getClientRects().length) continue;
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    while (walker.nextNode()) {
      const node = walker.currentNode;
      for (const m of node.nodeValue.matchAll(/\S+/g)) {
        if (lines(node, m.index, m.index + m[0].length) < 2) continue;
        let at = 1;
        while (at < m[0].length && lines(node, m.index, m.index + at + 1) < 2) at++;
        if (/[-\u2010-\u2014\/_]/.test(m[0][at - 1])) continue;  // a line break between words
        splits.push({word: m[0], at: at, squeezed: cell.classList.contains('squeezed')});
      }
    }
  }
  const cs = getComputedStyle(article);
  const articleRight = article.getBoundingClientRect().left + article.clientLeft + article.clientWidth
                       - parseFloat(cs.paddingRight);
  const needless = [];
  for (const t of article.querySelectorAll('table')) {
    const cells = Array.from(t.querySelectorAll('.squeezed'));
    if (!cells.length) continue;
    const widths = cells.map(c => c.style.width);
    cells.forEach(c => { c.classList.remove('squeezed'); c.style.width = ''; });
    const r = t.getBoundingClientRect();
    let fits = r.right <= articleRight + 1;
    for (let e = t.parentElement; e && e !== article; e = e.parentElement)
      if (r.right > e.getBoundingClientRect().left + e.clientWidth + 1) fits = false;
    if (fits) needless.push((t.querySelector('thead') || t).innerText.replace(/\s+/g, ' ').slice(0, 60));
    cells.forEach((c, k) => { c.classList.add('squeezed'); c.style.width = widths[k]; });
  }
  done({splits: splits, needless: needless});
})();
"""


def split_word_failures(info: dict) -> str | None:
    """What breaks a word on one page at a phone's width: a word split inside in a cell that
    fashionrepro.js did not squeeze, or a table squeezed although it fits with whole words. A squeezed
    cell (a column of a table that cannot fit whole words) may split its words longer than its width."""
    split = [s["word"] for s in info["splits"] if not s["squeezed"]]
    failed = []
    if split:
        failed.append(f"{len(split)} words split inside, e.g. {split[:5]}")
    if info["needless"]:
        failed.append(f"{len(info['needless'])} tables squeezed that fit whole words: {info['needless'][:2]}")
    return "; ".join(failed) or None


def test_split_word_failures_names_split_words():
    clean = {"splits": [{"word": "FileNotFoundError", "at": 9, "squeezed": True}], "needless": []}
    assert split_word_failures(clean) is None
    split = {**clean, "splits": clean["splits"] + [{"word": "accuracy", "at": 5, "squeezed": False}]}
    assert split_word_failures(split) == "1 words split inside, e.g. ['accuracy']"
    assert "1 tables squeezed that fit" in split_word_failures({**clean, "needless": ["paper mean std"]})


def test_no_word_split_in_a_table_cell_on_a_phone(browser, book_root, server):
    """Every page at 412 px, every "More columns" block open: a table cell breaks lines between words
    (or after a hyphen, slash or underscore) and never inside a word, unless its table cannot fit with
    whole words; then fashionrepro.js lets only its widest columns break a word longer than they are."""
    failures = failures_on_a_phone(browser, server, SPLIT_WORDS, split_word_failures)
    report = "\n".join(f"{page}: {found}" for page, found in failures.items())
    assert not failures, f"{len(failures)} pages split words in table cells at {PHONE['width']} px:\n{report}"
