"""What a reader, a re-runner and a teacher get: clean pages, offline maths, launchable notebooks, exercises."""

import os
import re
import shlex
import sys
from pathlib import Path

import nbformat
import pytest
import yaml

from fashionlib import book, course_plan, parameters_cell, progress, rules, run

REPO = Path(__file__).resolve().parent.parent
CONFIG = yaml.safe_load((REPO / "_config.yml").read_text())
REPO_URL = CONFIG["repository"]["url"]
STUDY_NOTEBOOKS = [n for n in book.NOTEBOOKS if re.match(r"[ab]\d_", n)]
SOURCES = sorted((REPO / "notebooks").glob("*.md"))


def _stream(text, name="stdout"):
    return nbformat.v4.new_output("stream", name=name, text=text)


def _cell(*outputs):
    cell = nbformat.v4.new_code_cell("pass")
    cell.outputs = list(outputs)
    return cell


# --- pages that read cleanly -------------------------------------------------------------------

def test_clean_outputs_merges_streams_and_drops_progress_states():
    bar = "\rdeit_micro epoch 1/1:   0%|          | 0/6 [00:00<?, ?it/s]\r" + " " * 40 + "\r"
    nb = nbformat.v4.new_notebook(cells=[_cell(_stream(bar), _stream("epoch 1/1: train loss 2.07\n"),
                                               _stream(bar), _stream("deit_micro: done\n"))])
    book.clean_outputs(nb)
    outs = nb.cells[0].outputs
    assert len(outs) == 1 and outs[0].text == "epoch 1/1: train loss 2.07\ndeit_micro: done\n"


def test_clean_outputs_drops_tensorflow_startup_and_warning_lines_but_keeps_text():
    err = ("WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n"
           "I0000 00:00:1795960861.001976    9458 port.cc:153] oneDNN custom operations are on. You may see\n"
           "2026-11-29 14:00:01.123456: I tensorflow/core/platform/cpu_feature_guard.cc:210] This TensorFlow "
           "binary is optimized to use available CPU instructions\n"
           "/x/site-packages/keras/src/layers/core.py:12: UserWarning: Do not pass an `input_shape`\n"
           "  super().__init__(**kwargs)\n"
           "WARNING:tensorflow:5 out of the last 5 calls to <function f at 0x7f> triggered tf.function retracing.\n")
    nb = nbformat.v4.new_notebook(cells=[_cell(_stream(err, "stderr"), _stream("Keras 3 on tensorflow\n")),
                                         _cell(_stream("a line with Warning: in it stays\n"))])
    book.clean_outputs(nb)
    assert [o.text for o in nb.cells[0].outputs] == ["Keras 3 on tensorflow\n"]
    assert nb.cells[1].outputs[0].text == "a line with Warning: in it stays\n"


def test_clean_outputs_leaves_rich_outputs_alone():
    html = nbformat.v4.new_output("display_data", data={"text/html": "<table></table>"})
    nb = nbformat.v4.new_notebook(cells=[_cell(_stream("a\n"), html, _stream("b\n"))])
    book.clean_outputs(nb)
    assert [o.output_type for o in nb.cells[0].outputs] == ["stream", "display_data", "stream"]


def test_progress_goes_to_stdout_interactively_and_nowhere_under_a_runner_without_tty(monkeypatch):
    monkeypatch.delenv(progress.PROGRESS_ENV, raising=False)
    assert progress.progress_stream() is sys.stdout
    monkeypatch.setenv(progress.PROGRESS_ENV, "terminal")
    monkeypatch.setattr(progress.os, "isatty", lambda fd: False)
    assert progress.progress_stream() is None


def test_verdict_cells_get_css_classes():
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import book_fixes

    html = "<td>reproduced</td><td>not reproduced</td><td>reduced run</td><td>reproduced twice</td>"
    out = book_fixes.mark_verdicts(html)
    assert '<td class="verdict verdict-reproduced">reproduced</td>' in out
    assert '<td class="verdict verdict-not-reproduced">not reproduced</td>' in out
    assert '<td class="verdict verdict-reduced-run">reduced run</td>' in out
    assert "<td>reproduced twice</td>" in out
    statuses = set(re.findall(r'status"\] = "([^"]+)"', (REPO / "fashionlib" / "claims.py").read_text()))
    assert statuses and statuses <= set(book_fixes.VERDICTS), statuses - set(book_fixes.VERDICTS)
    css = (REPO / "book" / "_static" / "fashionrepro.css").read_text()
    for verdict in book_fixes.VERDICTS:
        assert f"td.verdict-{verdict.replace(' ', '-')}" in css, verdict


def test_identifiers_in_tables_break_at_their_underscores():
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import book_fixes

    page = ('<p>val_accuracy</p><table class="a_b"><tr><th>val_accuracy</th>'
            '<td><a href="b2_backbones.html">b2_backbones</a> __init__ 1_000</td></tr></table>')
    assert book_fixes.identifier_breaks(page) == (
        '<p>val_accuracy</p><table class="a_b"><tr><th>val_<wbr>accuracy</th>'
        '<td><a href="b2_backbones.html">b2_<wbr>backbones</a> __init__ 1_<wbr>000</td></tr></table>')


def test_maths_renders_offline_and_figures_keep_the_papers_numbers():
    sphinx = CONFIG["sphinx"]["config"]
    assert sphinx["numfig"] is False
    path = sphinx["mathjax_path"]
    assert not path.startswith(("http:", "https:", "//")), "MathJax must ship with the book, not a CDN"
    static = [REPO / p for p in sphinx["html_static_path"]]
    assert any((s / path).is_file() for s in static), f"{path} not under {static}"
    fonts = next(s for s in static if (s / path).is_file()) / "mathjax" / "output" / "chtml" / "fonts" / "woff-v2"
    assert len(list(fonts.glob("*.woff"))) >= 20


# --- launch buttons that work ------------------------------------------------------------------

def _code_cells(path):
    import jupytext

    return [c for c in jupytext.read(path).cells if c.cell_type == "code"]


def test_every_notebook_starts_with_the_same_install_cell_naming_the_repository():
    first = {p.stem: _code_cells(p)[0] for p in SOURCES}
    reference = first["a0_fashion_mnist"].source
    assert f'"git+{REPO_URL}"' in reference
    for stem, cell in first.items():
        assert cell.source == reference, f"{stem}: first code cell differs from a0's install cell"
        assert "parameters" not in cell.metadata.get("tags", []), stem
        assert "remove-cell" in cell.metadata.get("tags", []), stem


def test_repository_url_is_one_setting():
    assert REPO_URL.startswith("https://github.com/")
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["repository-code"] == REPO_URL
    assert REPO_URL in (REPO / "README.md").read_text()
    urls = set()
    for p in [*SOURCES, REPO / "README.md", REPO / "CITATION.cff"]:
        urls |= set(re.findall(r"https://github\.com/fashion-repro/[\w.-]+", p.read_text()))
    assert urls == {REPO_URL}, f"other repository URLs than {REPO_URL}: {urls - {REPO_URL}}"


def test_binder_folder_installs_data_and_locked_environment():
    assert "dataset-fashion-mnist" in (REPO / "binder" / "apt.txt").read_text().split()
    req = (REPO / "binder" / "requirements.txt").read_text().split()
    assert req == ["-r", "../requirements-lock.txt"] and (REPO / "requirements-lock.txt").is_file()
    assert (REPO / "binder" / "postBuild").stat().st_mode & 0o111


def test_launch_buttons_open_the_published_executed_notebooks():
    """The buttons point at <branch>/<path_to_book>/<page>.ipynb: Sphinx's _sources copy of each page."""
    assert CONFIG["repository"]["path_to_book"] == "_sources"
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = [toc["root"]] + [ch["file"] for part in toc["parts"] for ch in part["chapters"]]
    executed = [f for f in files if f.startswith(("book/executed/", "book/paper-runs/"))]
    stems = {Path(f).name for f in executed}
    assert stems >= set(book.NOTEBOOKS), f"notebooks missing from _toc.yml: {set(book.NOTEBOOKS) - stems}"


# --- lessons that fit a class --------------------------------------------------------------------

EXERCISE_CMD = re.compile(r"^python -m fashionlib run .*$", re.M)


@pytest.mark.parametrize("stem", STUDY_NOTEBOOKS)
def test_exercises_are_three_valid_reruns_with_hidden_solutions(stem):
    source = REPO / "notebooks" / f"{stem}.md"
    text = source.read_text()
    assert "## Exercises" in text, f"{stem}: no Exercises section"
    section = text[text.index("## Exercises"):]
    commands = EXERCISE_CMD.findall(section)
    solutions = re.findall(r"```\{admonition\} Solution[^\n]*\n:class: dropdown", section)
    assert len(commands) >= 3 and len(solutions) >= len(commands), (stem, len(commands), len(solutions))
    declared = parameters_cell.declared_parameters(book.read_source(source))
    for cmd in commands:
        args = shlex.split(cmd)[4:]
        assert args[0] == stem, cmd
        pairs = [(args[i + 1], args[i + 2]) for i, a in enumerate(args) if a == "-p"]
        assert pairs, f"{stem}: exercise without a -p change: {cmd}"
        book.resolve(stem, declared, "cpu", run._parse_overrides(pairs))  # raises on a broken exercise


@pytest.mark.parametrize("stem", STUDY_NOTEBOOKS)
def test_each_exercise_changes_one_setting(stem):
    """An exercise is one re-run that changes one parameter against the page itself (its baseline)."""
    section = (REPO / "notebooks" / f"{stem}.md").read_text().split("## Exercises", 1)[1]
    for cmd in EXERCISE_CMD.findall(section):
        changed = [a for i, a in enumerate(shlex.split(cmd)[4:]) if i and shlex.split(cmd)[4:][i - 1] == "-p"]
        assert len(changed) == 1, f"{stem}: an exercise changes {changed}, not one setting: {cmd}"


def test_course_plan_has_a_row_for_every_notebook():
    rows = set(course_plan.PLAN)
    assert set(book.NOTEBOOKS) <= rows, set(book.NOTEBOOKS) - rows
    assert {"a6_protocol", "a7_modern_recipe", "b0_pretraining"} <= rows


def test_script_dedupe_keeps_the_list_sphinx_appends_mathjax_to():
    """Replacing the page's script list (instead of editing it) had dropped MathJax from every page."""
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import book_fixes

    scripts = ["a.js", "b.js", "a.js"]
    context = {"script_files": scripts}
    book_fixes._dedupe_scripts(None, "page", "page.html", context, None)
    assert context["script_files"] is scripts and scripts == ["a.js", "b.js"]


def test_built_book_holds_what_the_launch_buttons_open():
    """Each page's Colab/Binder link names a notebook under _sources/ of the published tree, beside binder/."""
    root = os.environ.get("FASHIONLIB_SMOKE_BOOK")
    if not root:
        pytest.skip("needs the built smoke book of `make test` (FASHIONLIB_SMOKE_BOOK)")
    html = Path(root) / "_build" / "html"
    assert (html / "binder" / "apt.txt").is_file() and (html / "requirements-lock.txt").is_file()
    targets = []
    for page in (html / "book").rglob("*.html"):
        text = page.read_text()
        targets += re.findall(r'href="https://colab\.research\.google\.com/github/[^"]+?/blob/gh-pages/([^"]+)"', text)
        targets += re.findall(r'href="https://mybinder\.org/v2/gh/[^"]+?/gh-pages\?urlpath=tree/([^"]+)"', text)
    assert len(targets) >= 2 * len(book.NOTEBOOKS), f"too few launch links: {len(targets)}"
    missing = [t for t in targets if not (html / t).is_file()]
    assert not missing, f"launch buttons open files the published book lacks: {missing[:5]}"


def _launch_targets(text: str) -> list[str]:
    return (re.findall(r'href="https://colab\.research\.google\.com/github/[^"]+?/blob/gh-pages/([^"]+)"', text)
            + re.findall(r'href="https://mybinder\.org/v2/gh/[^"]+?/gh-pages\?urlpath=tree/([^"]+)"', text)
            + re.findall(r'git-pull\?[^"]*urlpath=[^"&]*?(book/[^"&]+\.ipynb)', text))


def test_provenance_pages_launch_todays_notebook_not_the_old_run():
    """A Provenance page (an executed notebook of older code) launches the study page's notebook."""
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import book_fixes

    base = "https://mybinder.org/v2/gh/o/r/gh-pages?urlpath=tree/_sources/"
    buttons = [{"label": "download-buttons", "buttons": [{"url": "../../_sources/book/paper-runs/a1_improved_cnn.ipynb"}]},
               {"label": "launch-buttons", "buttons": [{"url": base + "book/paper-runs/a1_improved_cnn.ipynb",
                                                        "tooltip": "Launch on Binder"}]}]
    assert book_fixes.launch_todays_notebook("book/paper-runs/a1_improved_cnn", buttons) == 1
    assert buttons[1]["buttons"][0]["url"] == base + "book/executed/a1_improved_cnn.ipynb"
    assert buttons[0]["buttons"][0]["url"].endswith("paper-runs/a1_improved_cnn.ipynb"), "the download stays the run"
    study = [{"label": "launch-buttons", "buttons": [{"url": base + "book/executed/b2_backbones.ipynb"}]}]
    assert book_fixes.launch_todays_notebook("book/executed/b2_backbones", study) == 0
    root = os.environ.get("FASHIONLIB_SMOKE_BOOK")
    if not root:
        pytest.skip("the built pages need the smoke book of `make test` (FASHIONLIB_SMOKE_BOOK)")
    html = Path(root) / "_build" / "html" / "book"
    pages = sorted(html.glob("paper-runs/*.html")) + sorted(html.glob("standin-runs/*.html"))
    assert pages
    for page in pages:
        targets = _launch_targets(page.read_text())
        assert targets, f"{page.name}: no launch button at all"
        old = [t for t in targets if "/paper-runs/" in t or "/standin-runs/" in t]
        assert not old, f"{page.parent.name}/{page.name} launches the old run: {old}"
        assert all(t.endswith(f"book/executed/{page.stem}.ipynb") for t in targets), targets


# --- one story: the front page, the banners and the pages agree with the records ---------------

from fashionlib import claims, results, standin_claims, verdict_words  # noqa: E402

COMMITTED = REPO / "book" / "results"
MAIN_PARTS = [p for p in yaml.safe_load((REPO / "_toc.yml").read_text())["parts"]
              if not p["caption"].startswith("Provenance")]


def test_main_table_of_contents_has_one_entry_per_notebook():
    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    main = [toc["root"]] + [ch["file"] for part in MAIN_PARTS for ch in part["chapters"]]
    stems = [Path(f).name for f in main if f.startswith("book/executed/")]
    assert sorted(stems) == sorted(set(stems)), f"a notebook twice in the main parts: {stems}"
    assert set(stems) == set(book.NOTEBOOKS), set(book.NOTEBOOKS) ^ set(stems)
    assert not [f for f in main if f.startswith(("book/paper-runs/", "book/standin-runs/"))], \
        "committed full-setting pages belong in the Provenance part only"
    committed = {f"book/{p.parent.name}/{p.stem}" for d in ("paper-runs", "standin-runs")
                 for p in (REPO / "book" / d).glob("*.ipynb")}
    provenance = {ch["file"] for part in toc["parts"] if part["caption"].startswith("Provenance")
                  for ch in part["chapters"]}
    assert provenance == committed, committed ^ provenance


def test_no_verdict_heading_in_any_notebook_source():
    """A heading "Verdict" on a page whose cells run at a reduced profile reads as the paper's verdict."""
    for path in SOURCES:
        text = "\n".join(c.source for c in book.read_source(path).cells if c.cell_type == "markdown")
        headings = re.findall(r"^#+ .*verdict.*$", text, re.M | re.I)
        assert not headings, f"{path.name}: {headings}"


@pytest.mark.parametrize("profile", ["smoke", "cpu"])
def test_reduced_run_verdict_text_states_no_verdict(profile):
    for stem in ("a1_improved_cnn", "a5_closing_the_gap", "a3_batch_size"):
        text = verdict_words.verdict_text(stem, profile, COMMITTED)
        assert text.startswith(f"*This run (profile `{profile}`) is reduced: its numbers give no verdict.*"), text
    full = verdict_words.verdict_text("a5_closing_the_gap", "paper", COMMITTED)
    assert "reduced" not in full and "**inconclusive**" in full  # the record's own status, nothing else


@pytest.mark.parametrize("stem", STUDY_NOTEBOOKS)
@pytest.mark.parametrize("profile", ["smoke", "cpu", "paper", "standin"])
def test_every_study_page_banner_names_its_profile_and_flags_reduced_runs(stem, profile):
    params = {"epochs": 3, "seeds": [0, 1]} if stem not in ("a0_fashion_mnist", "b1_apparel_data") else {}
    banner = verdict_words.page_banner(stem, profile, params, COMMITTED)
    assert banner.startswith(f":::{{admonition}} Evidence and this run ({profile} profile)"), banner
    assert f"profile `{profile}`" in banner
    assert (verdict_words.REDUCED_WARNING in banner) == (profile not in claims.FULL_PROFILE_NAMES), banner
    for full in claims.FULL_PROFILE_NAMES:  # every committed full-setting record of the page is named
        rec = results.load_records(stem, full, COMMITTED)
        if rec:
            assert f"the committed `{full}` record" in banner and str(rec[-1]["provenance"]["git_commit"])[:10] in banner


def test_banner_goes_under_the_title_of_every_executed_study_page():
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import json

    import book_fixes

    pages = sorted((REPO / "book" / "paper-runs").glob("*.ipynb")) + sorted((REPO / "book" / "standin-runs").glob("*.ipynb"))
    assert pages
    for page in pages:
        docname = f"book/{page.parent.name}/{page.stem}"
        source = [page.read_text()]
        book_fixes._banner_on_study_pages(None, docname, source)
        texts = ["".join(c["source"]) for c in json.loads(source[0])["cells"]]
        profile = json.loads(page.read_text())["metadata"]["fashionlib"]["profile"]
        assert texts[0].startswith("# ") and "page-banner" in texts[1] and f"({profile} profile)" in texts[1], docname
        labels = re.findall(r"^\(([\w-]+)\)=", "\n".join(texts), re.M)  # none may clash with the study page's
        assert labels and all(lbl.startswith(f"{profile}-") for lbl in labels), (docname, labels)


def test_front_page_paragraphs_name_every_claim_once_with_its_table_status():
    """The prose is the table in words: each claim sits in the group of exactly its status, once."""
    table = claims.status_table(results_dir=COMMITTED, full_only=True)
    assert not set(table["profile"]) - {"", *claims.FULL_PROFILE_NAMES}, "the front page shows full-setting rows only"
    paragraphs = verdict_words.summaries(table)
    assert set(paragraphs) == set(table["paper"])
    group = re.compile(r"\*(?P<label>[^*]+)\* \((?P<n>\d+)\)(?P<body>.*?)(?= \*[A-Z]|$)")
    for paper_name, rows in table.groupby("paper"):
        groups = {m["label"]: (int(m["n"]), m["body"]) for m in group.finditer(paragraphs[paper_name].split(" All ", 1)[1])}
        assert sum(n for n, _ in groups.values()) == len(rows)
        for _, r in rows.iterrows():
            item = verdict_words.short_claim(r["claim"])
            at_start = re.compile(r"(?:^|: |; )" + re.escape(item) + r"(?: \(|;|\.)")
            holders = [label for label, (_, body) in groups.items() if at_start.search(body)]
            assert holders == [verdict_words.STATUS_WORDS[r["status"]][0]], (item, r["status"], holders)


def test_every_status_has_front_page_wording():
    produced = set(re.findall(r'status"\] = "([^"]+)"', (REPO / "fashionlib" / "claims.py").read_text()))
    produced |= set(claims.TOLERANCE_VERDICTS) | set(standin_claims.STANDIN_VERDICTS)
    assert produced <= set(verdict_words.STATUS_WORDS), produced - set(verdict_words.STATUS_WORDS)


def test_reproduction_notes_state_the_starting_rate_of_the_committed_runs():
    notes = (REPO / "book" / "reproduction_notes.md").read_text()
    rates = {r["provenance"]["parameters"].get("lr") for nb in ("a1_improved_cnn", "a2_models", "a5_closing_the_gap",
                                                                "a6_protocol") for r in results.load_records(nb, "paper", COMMITTED)}
    assert len(rates) == 1, rates
    assert f"start Adam at `lr` = {rates.pop():g}" in notes


def test_show_paper_runs_returns_nothing_so_the_table_is_shown_once(tmp_path, monkeypatch):
    from fashionlib import report

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj: shown.append(obj))
    results.write_record("nb", {"profile": "paper"}, [{"setting": {"model": "m"}, "seed": 0,
                                                       "metrics": {"accuracy": 90.0}}], results_dir_=tmp_path)
    assert report.show_paper_runs("nb", {"accuracy": 2}, results_dir=tmp_path) is None
    assert len(shown) == 1


def test_pages_show_record_paths_relative_to_the_results_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("FASHIONLIB_RESULTS_DIR", str(tmp_path / "book" / "results"))
    inside = tmp_path / "book" / "results" / "paper" / "a1_improved_cnn" / "r.json"
    assert results.shown_path(inside) == "results/paper/a1_improved_cnn/r.json"
    assert results.shown_path("/somewhere/else/model.keras") == "model.keras"
    for path in SOURCES:  # every printed record or model path goes through shown_path
        raw = re.findall(r'print\("(?:wrote|saved)", (?!results\.shown_path\()[^\n]*', path.read_text())
        assert not raw, f"{path.name}: {raw}"


def test_built_book_pages_hold_no_machine_paths():
    root = os.environ.get("FASHIONLIB_SMOKE_BOOK")
    if not root:
        pytest.skip("needs the built smoke book of `make test` (FASHIONLIB_SMOKE_BOOK)")
    import nbformat

    leaks = []
    for page in sorted((Path(root) / "book" / "executed").glob("*.ipynb")):
        for cell in nbformat.read(page, as_version=4).cells:
            for out in cell.get("outputs", []):
                text = out.get("text", "") + "".join(str(v) for v in out.get("data", {}).values())
                # the build's own folder, or a temporary folder of a run (a catalogue case's made-up
                # input such as '/tmp/w' is the case itself, not a leak)
                if str(root) in text or re.search(r"/tmp/(?:tmp|fashionlib-case-)\w+", text):
                    leaks.append(page.stem)
    assert not leaks, f"machine paths in the outputs of: {sorted(set(leaks))}"


@pytest.mark.parametrize("stem", STUDY_NOTEBOOKS)
def test_setup_code_is_collapsed_so_the_page_opens_with_prose(stem):
    cells = book.read_source(REPO / "notebooks" / f"{stem}.md").cells
    code = [c for c in cells if c.cell_type == "code"]
    first = next(i for i, c in enumerate(code) if "parameters" in c.metadata.get("tags", []))
    for cell in code[:first + 2]:  # the install cell, the parameters cell, the setup cell after it
        assert {"hide-input", "remove-input", "remove-cell"} & set(cell.metadata.get("tags", [])), \
            f"{stem}: visible setup code:\n{cell.source[:120]}"


def test_figures_get_their_caption_as_alt_text():
    sys.path.insert(0, str(REPO / "book" / "_ext"))
    import book_fixes
    from docutils import nodes

    doc = nodes.document(None, None)
    fig = nodes.figure("", nodes.image(uri="a1_fig.png", alt="a1_fig.png"),
                       nodes.caption("", "Fig. 2 (reproduced): the learning rate per step."))
    kept = nodes.figure("", nodes.image(uri="x.png", alt="A hand-written description"), nodes.caption("", "c"))
    doc += [fig, kept]
    assert book_fixes.figure_alt_text(doc) == 1
    assert fig.children[0]["alt"] == "Fig. 2 (reproduced): the learning rate per step."
    assert kept.children[0]["alt"] == "A hand-written description"


def test_built_book_numbers_no_figure_twice():
    root = os.environ.get("FASHIONLIB_SMOKE_BOOK")
    if not root:
        pytest.skip("needs the built smoke book of `make test` (FASHIONLIB_SMOKE_BOOK)")
    numbered = [p.name for p in (Path(root) / "_build" / "html" / "book").rglob("*.html")
                if 'class="caption-number"' in p.read_text()]
    assert not numbered, f"book-wide figure numbers beside the paper's own: {numbered}"


# --- committed pages stay runnable with today's library ------------------------------------------

COMMITTED_PAGES = sorted((REPO / "book" / "paper-runs").glob("*.ipynb")) + sorted((REPO / "book" / "standin-runs").glob("*.ipynb"))
SIZE = {"epochs", "train_size", "batch_size", "seeds", "other_seeds", "per_class", "per_group", "probe_per_class",
        "image_size", "n_max", "imbalance_factor", "balance_target", "test_per_class", "lt_test_max", "jobs",
        "torch_threads"}  # how big and how parallel, not what


def committed_page_overrides(page: Path) -> dict:
    """The settings a committed page ran with, as today's source of its notebook takes them at smoke size.

    Renamed parameters take their new names (``rules.upgrade_parameters``); a parameter today's source
    no longer declares is dropped only when the library's training default equals the page's value (the
    notebook now always uses it), else it is an error; size parameters (``SIZE``) come from the smoke profile.
    """
    import dataclasses

    import nbformat

    from fashionlib import train_keras, train_torch

    meta = nbformat.read(page, as_version=4).metadata["fashionlib"]
    declared = parameters_cell.declared_parameters(book.read_source(book.notebook_path(meta["notebook"])))
    defaults = {f.name: f.default for cfg in (train_keras.FitConfig, train_torch.TrainConfig)
                for f in dataclasses.fields(cfg) if f.default is not dataclasses.MISSING}
    out = {}
    for name, value in rules.upgrade_parameters(meta["parameters"]).items():
        if name == "profile" or name in SIZE or value == declared.get(name, object()):
            continue
        if name not in declared:
            assert defaults.get(name, object()) == value, \
                f"{page.name}: ran with {name}={value!r}, which today's {meta['notebook']} can no longer set"
            continue
        out[name] = value
    return out


@pytest.mark.parametrize("page", COMMITTED_PAGES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_committed_page_settings_are_accepted_by_todays_notebook(page):
    stem = page.stem
    declared = parameters_cell.declared_parameters(book.read_source(book.notebook_path(stem)))
    book.resolve(stem, declared, "smoke", committed_page_overrides(page))  # raises on a setting it refuses


@pytest.mark.slow
def test_committed_pages_run_at_smoke_size_with_todays_library(tmp_path):
    """Execute the source of every committed page with that page's settings at smoke size (B0 first: B2
    starts from its weights), so that launching any page from the book works with today's library."""
    pages = sorted(COMMITTED_PAGES, key=lambda p: p.stem != "b0_pretraining")
    for page in pages:
        run.run_notebook(page.stem, "smoke", committed_page_overrides(page), out_dir=tmp_path / "out",
                         results_dir=tmp_path / "results", force=True)
        assert results.load_records(page.stem, "smoke", tmp_path / "results"), page.stem


def test_tolerance_rule_states_every_claims_tolerance():
    rule = verdict_words.tolerance_rule()
    for c in claims.CLAIMS:
        if c.tolerance:
            section = rule[:rule.index(f"{c.tolerance:g}" + (" either way" if c.two_sided else " below"))]
            assert verdict_words.short_claim(c.claim) in section.rsplit(";", 1)[-1], c.claim


@pytest.mark.parametrize("text,short", [
    ("Improved CNN test accuracy (%)", "Improved CNN test accuracy"),
    ("Shirt, the hardest class: F1", "Shirt, the hardest class: F1"),           # the head alone is not the claim
    ("Basic CNN: validation loss falls, then rises (share of epochs after its minimum)",
     "Basic CNN: validation loss falls, then rises"),
    ("Improved CNN (stride reading), our protocol: 48,000 images, the test set read once after the last epoch (%)",
     "Improved CNN (stride reading), our protocol"),
])
def test_short_claim_names_for_running_text(text, short):
    assert verdict_words.short_claim(text) == short


def test_claim_cell_links_the_short_name_to_its_evidence():
    row = {"claim": "Basic CNN: validation loss falls, then rises (share of epochs)", "evidence": "a2_basic_cnn",
           "reference": "Fig. 5"}
    assert verdict_words.claim_cell(row) == ('<a href="a2_basic_cnn.html">Basic CNN: validation loss falls, then rises'
                                             '</a> <small>(Fig. 5)</small>')


@pytest.mark.parametrize("text, cell", [("91.2 ± 0.3 (n=3)", "91.2 ± 0.3<br>n=3"), ("", "&ndash;"), ("0.5", "0.5")])
def test_reproduced_cell_breaks_before_the_run_count(text, cell):
    assert verdict_words.reproduced_cell(text) == cell
