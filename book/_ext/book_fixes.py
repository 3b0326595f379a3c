"""Sphinx extension for this book: a banner on every study page; drop duplicated inline scripts; mark
claim verdicts for CSS; printed tables in their narrow form, identifiers in tables breakable at their
underscores, and book/_static/fashionrepro.js on every page; launch buttons that open today's notebooks.

The banner (:func:`fashionlib.verdict_words.page_banner`) is generated when Sphinx reads an executed study
notebook, from the notebook's own profile and parameters (its ``fashionlib`` metadata, written by the
runner) and the committed records: so the committed full-setting pages, made by older code, get today's
banner too without being edited.

With Jupyter Book 1.0.4 and Sphinx 7.4 the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton are added twice to every page; the second `const THEBE_JS_URL` declaration is a
JavaScript SyntaxError in the browser console. The browser test (tests/test_browser.py) caught it.
"""

import json
import re
import shutil
from pathlib import Path

STUDY_PAGE = re.compile(r"^book/(?:executed|paper-runs|standin-runs)/(?P<nb>[ab]\d_\w+)$")
PROVENANCE_PAGE = re.compile(r"^book/(?P<folder>paper-runs|standin-runs)/(?P<nb>[ab]\d_\w+)$")
_H1 = re.compile(r"^# .*$", re.M)


def add_banner(notebook_json: str, banner: str, prefix: str | None = None) -> str:
    """The notebook (JSON text) with ``banner`` as a Markdown cell right after its title (the first
    Markdown cell's ``# `` line, split off the text after it). ``prefix``: a committed full-setting page,
    whose labels get the prefix (``book.as_paper_page``, idempotent) so they do not collide with its
    study page's; a page executed elsewhere and committed unedited may lack it."""
    import nbformat

    nb = nbformat.reads(notebook_json, as_version=4)
    if prefix is not None:
        from fashionlib import book

        book.as_paper_page(nb, prefix=prefix)
    for i, cell in enumerate(nb.cells):
        m = _H1.search(cell.source) if cell.cell_type == "markdown" else None
        if m is None:
            continue
        head, tail = cell.source[:m.end()], cell.source[m.end():].lstrip("\n")
        new = [nbformat.v4.new_markdown_cell(head), nbformat.v4.new_markdown_cell(banner)]
        if tail:
            new.append(nbformat.v4.new_markdown_cell(tail))
        nb.cells[i:i + 1] = new
        return nbformat.writes(nb)
    raise ValueError("the notebook has no '# ' title in a Markdown cell to put the banner under")


def _banner_on_study_pages(app, docname, source):
    m = STUDY_PAGE.match(docname)
    if m is None or not source or not source[0].lstrip().startswith("{"):
        return
    from fashionlib import verdict_words

    meta = json.loads(source[0]).get("metadata", {}).get("fashionlib")
    if not meta:
        raise ValueError(f"{docname}: an executed page without its fashionlib metadata (profile, parameters); "
                         "re-run it with `python -m fashionlib run`.")
    banner = verdict_words.page_banner(m["nb"], meta["profile"], meta.get("parameters", {}))
    committed = not docname.startswith("book/executed/")
    source[0] = add_banner(source[0], banner, prefix=f"{meta['profile']}-" if committed else None)


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""),  # None and "" both mean inline
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    # In place, and after the other handlers (priority 900): Sphinx's MathJax handler appends its script
    # to this same list during this event; replacing the list early had dropped MathJax from every page.
    context.get("script_files", [])[:] = kept


# The verdicts of the claims table (fashionlib.claims); book/_static/fashionrepro.css
# colours a cell whose whole text is one of them.
VERDICTS = ("reproduced", "not reproduced", "inconclusive", "above the paper", "reduced run", "smoke run only",
            "not run yet", "not reproducible offline", "measured", "setting not in the run", "no valid value",
            "supported on the stand-in", "contradicted on the stand-in", "not shown on the stand-in")
_VERDICT_CELL = re.compile(r"<td>(?P<text>" + "|".join(map(re.escape, VERDICTS)) + r")</td>")


def _verdict_class(match) -> str:
    text = match["text"]
    return f'<td class="verdict verdict-{text.replace(" ", "-")}">{text}</td>'


def mark_verdicts(html: str) -> str:
    """Give each table cell that holds exactly a verdict the classes ``verdict verdict-<words>``."""
    return _VERDICT_CELL.sub(_verdict_class, html)


def _mark_verdicts(app, pagename, templatename, context, doctree):
    if "body" in context:
        context["body"] = mark_verdicts(context["body"])


def _narrow_tables(app, pagename, templatename, context, doctree):
    """Every printed table of more than seven columns in its narrow form (``html_tables.narrow_tables``);
    the committed provenance pages, printed by older code, too."""
    if "dataframe" in context.get("body", ""):
        from fashionlib import html_tables

        context["body"] = html_tables.narrow_tables(context["body"])


_TABLE = re.compile(r"<table\b.*?</table>", re.S)
_TEXT_WITH_UNDERSCORE = re.compile(r">([^<>]*_[^<>]*)<")
_UNDERSCORE_IN_WORD = re.compile(r"(?<=[^\W_])_(?=[^\W_])")


def identifier_breaks(html: str) -> str:
    """Every table of ``html`` with a line-break opportunity (``<wbr>``) after each underscore inside a
    word of its text ("val_<wbr>accuracy"): on a narrow screen a long identifier breaks between its
    parts, as a word does after a hyphen, instead of inside a part or past the screen's edge."""
    def in_text(m):
        return ">" + _UNDERSCORE_IN_WORD.sub("_<wbr>", m[1]) + "<"

    return _TABLE.sub(lambda table: _TEXT_WITH_UNDERSCORE.sub(in_text, table[0]), html)


def _identifier_breaks(app, pagename, templatename, context, doctree):
    if "<table" in context.get("body", ""):
        context["body"] = identifier_breaks(context["body"])


def launch_todays_notebook(pagename: str, header_buttons: list) -> int:
    """On a Provenance page (``book/paper-runs/<nb>``, ``book/standin-runs/<nb>``), point every launch
    button (Binder, Colab, JupyterHub) at the study page's notebook, ``book/executed/<nb>.ipynb``.

    A provenance page is a notebook executed by older code; launched, it fails on today's library.
    The study page's notebook is today's source executed by this build (its parameters cell names the
    profile, which a reader can change). Returns the number of buttons re-pointed.
    """
    m = PROVENANCE_PAGE.match(pagename)
    if m is None:
        return 0
    old, new = f"book/{m['folder']}/{m['nb']}.ipynb", f"book/executed/{m['nb']}.ipynb"
    changed = 0
    for group in header_buttons:
        if group.get("label") != "launch-buttons":
            continue
        for button in group.get("buttons", []):
            if old in button.get("url", ""):
                button["url"] = button["url"].replace(old, new)
                button["tooltip"] = f"{button.get('tooltip', 'Launch')}: today's notebook ({m['nb']})"
                changed += 1
    return changed


def _launch_todays_notebook(app, pagename, templatename, context, doctree):
    # After sphinx-book-theme adds its launch buttons (priority 501).
    launch_todays_notebook(pagename, context.get("header_buttons", []))


def _publish_binder(app, exception):
    """Put binder/ and the lock beside the pages: the launch buttons open the published tree."""
    if exception is not None or app.builder.format != "html":
        return
    src, out = Path(app.srcdir), Path(app.outdir)
    if (src / "binder").is_dir():
        shutil.copytree(src / "binder", out / "binder", dirs_exist_ok=True)
    if (src / "requirements-lock.txt").is_file():
        shutil.copy2(src / "requirements-lock.txt", out / "requirements-lock.txt")


_FILE_NAME = re.compile(r"^[\w./-]+\.(?:png|jpe?g|svg|gif)$|^$", re.I)


def figure_alt_text(doctree) -> int:
    """Give every figure's image the figure's caption as alt text where its alt is empty or a file name
    (a glued matplotlib figure otherwise reads to a screen reader as "a1_fig.png"). Returns the count."""
    from docutils import nodes

    changed = 0
    for figure in doctree.findall(nodes.figure):
        caption = next(iter(figure.findall(nodes.caption)), None)
        legend = next(iter(figure.findall(nodes.legend)), None)
        text = " ".join(n.astext() for n in (caption, legend) if n is not None).strip()
        if not text:
            continue
        for image in figure.findall(nodes.image):
            if _FILE_NAME.match(image.get("alt", "") or ""):
                image["alt"] = " ".join(text.split())[:400]
                changed += 1
    return changed


def _figure_alt_text(app, doctree, docname):
    figure_alt_text(doctree)


def _no_figure_numbers(app, config):
    """Figures keep the paper's numbers in their captions ("Fig. 2 (reproduced)"); Jupyter Book turns
    Sphinx's numfig on whatever _config.yml says, which printed "Fig. 3 Fig. 2 (reproduced)"."""
    config.numfig = False


def setup(app):
    app.connect("config-inited", _no_figure_numbers, priority=900)
    app.connect("doctree-resolved", _figure_alt_text)
    app.connect("source-read", _banner_on_study_pages)
    app.connect("build-finished", _publish_binder)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _mark_verdicts, priority=600)
    app.connect("html-page-context", _launch_todays_notebook, priority=600)
    app.connect("html-page-context", _narrow_tables, priority=600)
    app.connect("html-page-context", _identifier_breaks, priority=700)  # after the narrow form's parsing
    app.add_js_file("fashionrepro.js")  # book/_static: a table that cannot fit whole words
    return {"parallel_read_safe": True, "parallel_write_safe": True}
