"""Sphinx extension for this book: drop duplicated inline scripts.

With Jupyter Book 1.0.4 and Sphinx 7.4 the inline configuration scripts of sphinx-thebe and
sphinx-togglebutton are added twice to every page; the second `const THEBE_JS_URL` declaration is a
JavaScript SyntaxError in the browser console. The browser test (tests/test_browser.py) caught it.
"""


def _dedupe_scripts(app, pagename, templatename, context, doctree):
    seen, kept = set(), []
    for script in context.get("script_files", []):
        key = (str(getattr(script, "filename", script) or ""),  # None and "" both mean inline
               tuple(sorted((k, str(v)) for k, v in getattr(script, "attributes", {}).items())))
        if key not in seen:
            seen.add(key)
            kept.append(script)
    context["script_files"] = kept


def setup(app):
    app.connect("html-page-context", _dedupe_scripts, priority=100)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
