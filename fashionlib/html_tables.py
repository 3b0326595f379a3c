"""The narrow form of a wide printed table, so that every table of the book fits a 412 px phone: its
first columns, the rest under "More columns" (a ``<details>`` below it, the row labels repeated).
Applied to the front page's claims table (four columns) and to every printed table of every page
(book/_ext/book_fixes.py). Also what a page displays for a table that may be missing (:func:`table_or_note`),
and the bad-input catalogue as blocks instead of a table (:func:`error_cases_html`).
"""
from __future__ import annotations

import html
import re

# Seven columns fit a 412 px phone only because book/_static/fashionrepro.css turns the column headers
# vertical at <= 576 px (tables of 5+ columns); the front page shows four.
MAX_COLUMNS = 7
_DATAFRAME = re.compile(r'<table\b[^>]*class="[^"]*\bdataframe\b[^"]*"[^>]*>.*?</table>', re.S)


def _cell_positions(table) -> list[tuple[int, int, object]]:
    """(first column, column span, cell) of every th/td of a bs4 table, honouring rowspan and colspan."""
    taken, out = set(), []
    for r, tr in enumerate(table.find_all("tr")):
        col = 0
        for cell in tr.find_all(["th", "td"], recursive=False):
            while (r, col) in taken:
                col += 1
            rows, cols = int(cell.get("rowspan", 1)), int(cell.get("colspan", 1))
            taken.update((r + i, col + j) for i in range(rows) for j in range(cols))
            out.append((col, cols, cell))
            col += cols
    return out


def _keep_columns(table, keep) -> None:
    """Remove from ``table`` (in place) every cell outside the columns ``keep`` (a predicate on a column)."""
    for start, span, cell in _cell_positions(table):
        kept = [c for c in range(start, start + span) if keep(c)]
        if not kept:
            if cell.next_sibling is not None and not str(cell.next_sibling).strip():
                cell.next_sibling.extract()  # the line break pandas puts after each cell
            cell.decompose()
        elif len(kept) < span:
            cell["colspan"] = str(len(kept))


def narrow_table(table_html: str, max_columns: int = MAX_COLUMNS) -> str:
    """A pandas table (HTML) of more than ``max_columns`` columns as its first ``max_columns`` columns
    and a ``<details>`` "More columns: ..." holding the row labels and the other columns (narrowed in
    turn); a narrower table unchanged. The row labels are the index columns (``th`` cells of the body),
    or the first column of a table printed without its index. The one narrow form of the book: the
    front page's claims table (four columns) and every printed table (book/_ext/book_fixes.py)."""
    from bs4 import BeautifulSoup

    table = BeautifulSoup(table_html, "html.parser").find("table")
    cells = _cell_positions(table)
    width = max((start + span for start, span, _ in cells), default=0)
    if width <= max_columns:
        return table_html
    body = table.find("tbody") or table
    labels = max([start + span for start, span, cell in _cell_positions(body) if cell.name == "th"] + [1])
    split = max(max_columns, labels + 2)
    head = table.find("thead")
    names = []
    for start, span, cell in _cell_positions(head) if head else []:
        text = " ".join(cell.get_text(" ", strip=True).split())
        if text and start + span > split and text not in names:
            names.append(text)
    shown = BeautifulSoup(str(table), "html.parser").find("table")
    _keep_columns(shown, lambda c: c < split)
    shown["class"] = shown.get("class", []) + ["narrow-table"]
    rest = BeautifulSoup(str(table), "html.parser").find("table")
    _keep_columns(rest, lambda c: c < labels or c >= split)
    summary = ", ".join(names) if len(names) <= 6 else ", ".join(names[:5]) + f" and {len(names) - 5} more"
    return (f"{shown}\n<details class=\"more-columns\"><summary>More columns: {html.escape(summary)}</summary>\n"
            f"{narrow_table(str(rest), max_columns)}\n</details>")


def narrow_tables(page_html: str) -> str:
    """Every pandas table (``class="dataframe"``) of ``page_html`` in its narrow form (:func:`narrow_table`):
    book/_ext/book_fixes.py applies it to every page, so a table printed by a notebook fits a phone."""
    return _DATAFRAME.sub(lambda m: narrow_table(m.group(0)), page_html)


def table_or_note(table, missing: str, record: str | None = None) -> list:
    """What a page displays for ``table`` (a DataFrame or None): the table as HTML, after the line
    "Record: ..." when ``record`` names the record it comes from (the provenance line that
    :func:`fashionlib.results.extras_table` returns with its table); the Markdown ``missing`` when there
    is no table or it is empty. A list of IPython display objects, for ``display(*...)``."""
    from IPython.display import HTML, Markdown

    if table is None or len(table) == 0:
        return [Markdown(missing)]
    shown_record = [Markdown(f"Record: {record}.")] if record else []
    return shown_record + [HTML(table.to_html(index=False))]


def error_cases_html(table, max_message: int = 220) -> str:
    """The catalogue (``catalogue.run_catalogue``'s table) as short blocks, one per case, grouped by area: the
    case as a heading, its outcome and exception, the message a user sees, and the fix.

    Blocks rather than a six-column table, so that a message and its fix read as whole lines on a
    412 px phone as on a desktop. Each case ran in a fresh temporary folder: a path into it shows as
    ``<case folder>``, not the building machine's path; a message longer than ``max_message`` characters
    is cut there and ends with an ellipsis.
    """
    out = ['<div class="error-cases">']
    for area, cases in table.groupby("area", sort=False):
        out.append(f'<p class="error-area">{html.escape(str(area))}</p>')
        for row in cases.itertuples(index=False):
            message = re.sub(r"\S*fashionlib-case-[^/\s]+", "<case folder>", str(row.message))
            if len(message) > max_message:
                message = message[:max_message].rstrip() + "\u2026"
            seen = html.escape(str(row.outcome))
            seen += f", <code>{html.escape(row.exception)}</code>" if row.exception else ""
            out += ['<div class="error-case">',
                    f'<p class="error-case-name"><strong>{html.escape(str(row.case))}</strong>'
                    f' <span class="error-outcome">({seen})</span></p>',
                    f'<p class="error-message">{html.escape(message)}</p>' if message else "",
                    f'<p class="error-fix"><em>Fix:</em> {html.escape(str(row.fix))}</p>', "</div>"]
    return "\n".join(line for line in out + ["</div>"] if line)
