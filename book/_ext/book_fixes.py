"""Sphinx extension for this book: drop duplicated inline scripts; mark claim verdicts for CSS.

With Jupyter Book 1.0.4 and Sphinx 7.4 the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton are added twice to every page; the second `const THEBE_JS_URL` declaration is a
JavaScript SyntaxError in the browser console. The browser test (tests/test_browser.py) caught it.
"""

import re
import shutil
from pathlib import Path


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
VERDICTS = ("reproduced", "not reproduced", "above the paper", "reduced run", "smoke run only", "not run yet",
            "not reproducible offline", "measured", "setting not in the run", "no valid value")
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


def _publish_binder(app, exception):
    """Put binder/ and the lock beside the pages: the launch buttons open the published tree."""
    if exception is not None or app.builder.format != "html":
        return
    src, out = Path(app.srcdir), Path(app.outdir)
    if (src / "binder").is_dir():
        shutil.copytree(src / "binder", out / "binder", dirs_exist_ok=True)
    if (src / "requirements-lock.txt").is_file():
        shutil.copy2(src / "requirements-lock.txt", out / "requirements-lock.txt")


def setup(app):
    app.connect("build-finished", _publish_binder)
    app.connect("html-page-context", _dedupe_scripts, priority=900)
    app.connect("html-page-context", _mark_verdicts, priority=600)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
