"""The command line: run one notebook or all of them with a profile, and build the book.

    python -m fashionlib run notebooks/a1_improved_cnn.md --profile cpu -p epochs 5
    python -m fashionlib run-all --profile smoke --out /tmp/executed
    python -m fashionlib book --profile cpu

Each run: jupytext (MyST source -> notebook) -> parameters checked (unknown name, wrong type or
out-of-range value stops here, before any work) -> papermill executes into a temporary file ->
atomic rename to ``<out>/<name>.ipynb``. A finished output whose source, parameters, library code,
lock file and results folder are unchanged is skipped, so an interrupted ``make book`` picks up
where it stopped and a library change re-runs every page.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import profiles, results
from .backend import PROGRESS_ENV
from .results import REPO_ROOT

NOTEBOOK_DIR = REPO_ROOT / "notebooks"
BOOK_FILES = ["_config.yml", "_toc.yml", "book", "references.bib", "CITATION.cff", "binder", "requirements-lock.txt"]


def notebook_path(name: str | os.PathLike) -> Path:
    """Resolve a notebook name (``a1_improved_cnn``) or path to its MyST source file."""
    path = Path(name)
    if path.suffix != ".md":
        path = NOTEBOOK_DIR / f"{path.name}.md"
    if not path.is_file():
        known = ", ".join(profiles.NOTEBOOKS)
        raise FileNotFoundError(f"notebook source {path} does not exist. Known notebooks: {known}.")
    return path


# Folders of the committed executed pages (paper, standin): they sit in the book beside their cpu twins.
COMMITTED_PAGE_DIRS = {d for p, d in profiles.EXECUTED_DIRS.items() if d != profiles.EXECUTED_DIRS["cpu"]}


def default_out_dir(profile: str, root: Path = REPO_ROOT) -> Path:
    return root / "book" / profiles.EXECUTED_DIRS[profile]


def declared_parameters(nb, where: str = "") -> dict:
    """Names and literal defaults of the assignments in the cell tagged ``parameters``.

    The cell is read as the in-notebook check reads it (:func:`profiles.literal_assignments`), so the
    runner and the notebook agree on the names. ``where`` prefixes the errors (the notebook's name).
    """
    for cell in nb.cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            declared = profiles.literal_assignments(cell.source)
            if declared is None:
                raise profiles.ParameterError(
                    f"{where}the cell tagged 'parameters' holds more than assignments of literals:\n"
                    f"{cell.source}\nFix: keep only 'name = <literal>' lines there (one name a line) "
                    "and compute derived values in a later cell.")
            return declared
    raise profiles.ParameterError(f"{where}notebook has no cell tagged 'parameters'; add one as its first code cell.")


def read_source(path: Path):
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


LIBRARY_DIR = Path(__file__).resolve().parent
LOCK_FILES = [REPO_ROOT / "requirements.lock", REPO_ROOT / "requirements-lock.txt"]


def _fingerprint(source: Path, params: dict, results_dir=None) -> str:
    """What an executed notebook depends on: its source, its parameters, the code of ``fashionlib``
    (every module: the notebook may call any of them), the environment lock file where there is one,
    and the results folder its record goes to (a run into another folder must write a record there).
    """
    h = hashlib.sha256(source.read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    for path in sorted(Path(LIBRARY_DIR).glob("*.py")) + [p for p in LOCK_FILES if Path(p).is_file()]:
        h.update(f"\0{Path(path).name}\0".encode())
        h.update(Path(path).read_bytes())
    h.update(str(results.results_dir(results_dir).resolve()).encode())
    return h.hexdigest()


def is_up_to_date(output: Path, fingerprint: str) -> bool:
    if not output.is_file():
        return False
    try:
        meta = json.loads(output.read_text()).get("metadata", {}).get("fashionlib", {})
    except (json.JSONDecodeError, OSError):
        return False
    return meta.get("fingerprint") == fingerprint and meta.get("status") == "ok"


# Library start-up and log lines that say nothing about a run: TensorFlow/XLA/absl C++ logging (glog
# format "I0000 00:00:...", "2026-01-01 12:00:00.000000: I tensorflow/..."), absl's pre-init notice,
# TensorFlow's Python-logger warnings (tf.function retracing), the oneDNN notice, Python warnings
# ("file.py:12: UserWarning: ...") with the source line after them.
_LOG_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+\s+\d+ \S+:\d+\]"
    r"|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWEF] \S+"
    r"|WARNING: All log messages before absl::InitializeLog\(\)"
    r"|WARNING:(?:tensorflow|absl):"
    r"|.*oneDNN custom operations are on"
    r"|.*To enable the following instructions: .* rebuild TensorFlow"
    r"|.*This TensorFlow binary is optimized to use available CPU instructions"
    r"|\S+:\d+: \w*Warning: )")


def _clean_stream(text: str, name: str) -> str:
    """Resolve carriage returns (a progress bar's overwritten states) and drop log/warning lines."""
    lines, skip_source = [], False
    for line in text.split("\n"):
        shown = line.rsplit("\r", 1)[-1]  # what a terminal shows after the last carriage return
        if shown != line and not shown.strip():
            continue  # a progress bar that cleared itself
        line = shown
        if skip_source and line.startswith("  "):
            skip_source = False
            continue
        skip_source = False
        if _LOG_LINE.match(line):
            skip_source = name == "stderr"  # a warning is followed by its indented source line
            continue
        lines.append(line)
    return "\n".join(lines)


def clean_outputs(nb) -> None:
    """Make the executed notebook read cleanly in the book.

    Per cell, consecutive stream outputs of the same name merge into one box, overwritten progress
    states disappear (only the text after each line's last carriage return stays, so a cleared bar
    leaves nothing), and library start-up/log/warning lines are dropped; a box left empty goes.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and merged and merged[-1].get("output_type") == "stream" \
                    and merged[-1]["name"] == out["name"]:
                merged[-1]["text"] += out["text"]
            else:
                merged.append(out)
        for out in merged:
            if out.get("output_type") == "stream":
                out["text"] = _clean_stream(out["text"], out["name"])
        cell["outputs"] = [o for o in merged if o.get("output_type") != "stream" or o["text"].strip()]


def _copy_hiding_tags(nb) -> None:
    """Give papermill's injected-parameters cell the remove-*/hide-* tags of the parameters cell."""
    tags = next((c.metadata.get("tags", []) for c in nb.cells if "parameters" in c.metadata.get("tags", [])), [])
    hiding = [t for t in tags if t.startswith(("remove-", "hide-"))]
    for cell in nb.cells:
        if "injected-parameters" in cell.metadata.get("tags", []):
            cell.metadata["tags"] = list(dict.fromkeys(cell.metadata["tags"] + hiding))


_PAPER_SECTION = re.compile(r"^(\([\w-]*(?:paper|standin)-profile\)=\n)?#+ [^\n]*(?:paper|standin)-profile", re.M)
_LABEL = re.compile(r"^\((?P<label>[A-Za-z0-9_.:-]+)\)=\s*$", re.M)
_NAME = re.compile(r"^(?P<pre>:name:\s*)(?P<label>\S+)\s*$", re.M)
_DOC = re.compile(r"\{doc\}`(?P<target>[A-Za-z0-9_]+)`")


PAPER_RECORD_TAG = "paper-record"


def _hide_paper_record_section(nb) -> None:
    """Tag ``remove-cell`` the code cell tagged ``paper-record`` (it shows the committed paper-profile
    runs) and the heading of its section.

    The heading may share a markdown cell with the text before it (jupytext joins them); it is split off.
    """
    import nbformat

    i = 0
    while i < len(nb.cells):
        cell = nb.cells[i]
        if cell.cell_type == "code" and PAPER_RECORD_TAG in cell.metadata.get("tags", []):
            hide = [cell]
            prev = nb.cells[i - 1] if i > 0 else None
            m = _PAPER_SECTION.search(prev.source) if prev is not None and prev.cell_type == "markdown" else None
            if m and m.start() > 0:
                head, tail = prev.source[:m.start()].rstrip("\n"), prev.source[m.start():]
                prev.source = head
                nb.cells.insert(i, nbformat.v4.new_markdown_cell(tail))
                i += 1
                hide.append(nb.cells[i - 1])
            elif m:
                hide.append(prev)
            for c in hide:
                c.metadata["tags"] = list(dict.fromkeys(c.metadata.get("tags", []) + ["remove-cell"]))
        i += 1


def as_paper_page(nb, prefix: str = "paper-") -> None:
    """Make an executed notebook live beside its `book/executed` twin in the book.

    Labels and figure names defined on the page get ``prefix`` (so they do not collide with the
    cpu-profile page), references to them follow, and ``{doc}`` links point at ``../executed/``. The
    section that shows the committed paper-profile record is tagged ``remove-cell``: on this page it
    would show the record of an earlier run (the cell stays in the file, only the book hides it).
    """
    own = set()
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            own |= {m["label"] for m in _LABEL.finditer(cell.source)} | {m["label"] for m in _NAME.finditer(cell.source)}
    own = {lbl for lbl in own if not lbl.startswith(prefix)}
    _hide_paper_record_section(nb)
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        src = _LABEL.sub(lambda m: f"({prefix}{m['label']})=" if m["label"] in own else m[0], cell.source)
        src = _NAME.sub(lambda m: f"{m['pre']}{prefix}{m['label']}" if m["label"] in own else m[0], src)
        for lbl in own:
            src = src.replace(f"{{ref}}`{lbl}`", f"{{ref}}`{prefix}{lbl}`").replace(f"<{lbl}>`", f"<{prefix}{lbl}>`")
        cell.source = _DOC.sub(lambda m: f"{{doc}}`../executed/{m['target']}`", src)


def check_paths(out_dir, results_dir=None) -> None:
    """The paths a run depends on, checked before any work: the executed-notebook folder and the results
    folder (the argument, else ``$FASHIONLIB_RESULTS_DIR``, else ``book/results``) must be folders that can
    be written, and ``$FASHION_MNIST_DIR``, when set, must hold the four data files."""
    from . import data

    results.check_writable_dir(out_dir, "--out")
    results.check_writable_dir(results.results_dir(results_dir),
                               "--results-dir" if results_dir is not None else "the results folder ($FASHIONLIB_RESULTS_DIR)")
    data.env_dir()


def run_notebook(name, profile: str = "cpu", overrides: dict | None = None, out_dir=None,
                 results_dir=None, prepare_only: bool = False, force: bool = False,
                 log_output: bool = False) -> Path:
    """Execute one notebook with a profile and overrides; return the executed notebook's path."""
    import nbformat
    import papermill

    source = notebook_path(name)
    stem = source.stem
    out_dir = Path(out_dir) if out_dir else default_out_dir(profile)
    check_paths(out_dir, results_dir)  # before any work: a notebook would train, then fail to write
    nb = read_source(source)
    params = profiles.resolve(stem, declared_parameters(nb, f"{stem}: "), profile, overrides)  # fails before work
    out_dir.mkdir(parents=True, exist_ok=True)
    output = out_dir / f"{stem}.ipynb"
    fingerprint = _fingerprint(source, params, results_dir)
    if not force and not prepare_only and is_up_to_date(output, fingerprint):
        print(f"[fashionlib] {stem}: up to date at {output}, skipped (use --force to re-run)")
        return output

    env_backup = dict(os.environ)
    if results_dir is not None:
        os.environ["FASHIONLIB_RESULTS_DIR"] = str(Path(results_dir).resolve())
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ[PROGRESS_ENV] = "terminal"  # progress to this terminal, not into the notebook (backend.py)
    os.environ["FASHIONLIB_PROFILE"] = profile  # tables of the run in progress name their profile
    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", results.git_commit())  # the code the run starts from
    tmp_dir = Path(tempfile.mkdtemp(prefix=f".{stem}.", dir=out_dir))
    try:
        src_ipynb = tmp_dir / f"{stem}.src.ipynb"
        nbformat.write(nb, src_ipynb)
        tmp_out = tmp_dir / f"{stem}.ipynb"
        print(f"[fashionlib] {stem}: profile={profile} {params}")
        papermill.execute_notebook(str(src_ipynb), str(tmp_out), parameters=params,
                                   kernel_name="python3", prepare_only=prepare_only,
                                   cwd=str(REPO_ROOT), log_output=log_output, progress_bar=False)
        executed = nbformat.read(tmp_out, as_version=4)
        _copy_hiding_tags(executed)
        clean_outputs(executed)
        if out_dir.name in COMMITTED_PAGE_DIRS:
            as_paper_page(executed, prefix=f"{profile}-")
        executed.metadata["fashionlib"] = {"notebook": stem, "profile": profile, "parameters": params,
                                           "fingerprint": fingerprint,
                                           "status": "prepared" if prepare_only else "ok"}
        text = nbformat.writes(executed)
        results.atomic_write_text(output, text if text.endswith("\n") else text + "\n")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.environ.clear()
        os.environ.update(env_backup)
    return output


def run_all(profile: str = "cpu", out_dir=None, results_dir=None, prepare_only=False,
            force=False, only=None) -> list[Path]:
    check_paths(Path(out_dir) if out_dir else default_out_dir(profile), results_dir)
    names = only or [n for n in profiles.NOTEBOOKS if (NOTEBOOK_DIR / f"{n}.md").is_file()
                     and profile in profiles.PROFILES.get(n, {profile: {}})]
    names = sorted(names, key=lambda n: n in profiles.RUN_LAST)  # stable: summaries last
    # summary pages read the other notebooks' records: always re-run them (they take seconds)
    return [run_notebook(n, profile, out_dir=out_dir, results_dir=results_dir, prepare_only=prepare_only,
                         force=force or n in profiles.RUN_LAST) for n in names]


def copy_book_tree(root: Path) -> Path:
    """Copy the book's sources (config, toc, pages, committed records) into ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    for item in BOOK_FILES:
        src = REPO_ROOT / item
        if src.is_dir():
            shutil.copytree(src, root / item, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("executed", "smoke"))
        elif src.is_file():
            shutil.copy2(src, root / item)
    return root


def build_book(profile: str = "cpu", root=None, skip_run: bool = False, force: bool = False) -> Path:
    """Execute every notebook at ``profile`` into ``<root>/book/executed`` and build the HTML book.

    ``root`` defaults to the repository; another folder gets a copy of the book's sources first
    (the tests build a smoke-profile book that way without touching the repository).
    """
    root = Path(root).resolve() if root else REPO_ROOT
    results.check_writable_dir(root, "--root")
    if root != REPO_ROOT:
        copy_book_tree(root)
    if not skip_run:
        run_all(profile, out_dir=root / "book" / "executed", results_dir=root / "book" / "results",
                force=force)
    jb = Path(sys.executable).with_name("jupyter-book")
    cmd = [str(jb) if jb.exists() else "jupyter-book", "build", str(root), "--path-output", str(root),
           "--all", "-n", "-W", "--keep-going"]
    env = dict(os.environ, FASHIONLIB_RESULTS_DIR=str(root / "book" / "results"))
    proc = subprocess.run(cmd, env=env)
    index = root / "_build" / "html" / "index.html"
    if proc.returncode != 0 or not index.is_file():
        raise RuntimeError(f"jupyter-book build of {root} failed (exit {proc.returncode}); see the log above.")
    print(f"[fashionlib] book built: {index}")
    return index


def _parse_overrides(pairs) -> dict:
    return {name: profiles.parse_cli_value(value) for name, value in (pairs or [])}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="fashionlib", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for cmd in ("run", "run-all", "book"):
        p = sub.add_parser(cmd)
        if cmd == "run":
            p.add_argument("notebooks", nargs="+", help="notebook names or notebooks/*.md paths")
        p.add_argument("--profile", default="cpu", help="smoke, cpu (default), standin (study B's stand-in) or paper")
        if cmd != "book":
            p.add_argument("-p", "--parameter", nargs=2, action="append", metavar=("NAME", "VALUE"))
            p.add_argument("--out", help="folder for executed notebooks (default book/executed, "
                                         "book/paper-runs for the paper profile)")
            p.add_argument("--results-dir", help="folder for results records (default book/results)")
            p.add_argument("--prepare-only", action="store_true", help="inject parameters, do not execute")
        else:
            p.add_argument("--root", help="build a copy of the book in this folder")
            p.add_argument("--skip-run", action="store_true", help="build from already executed notebooks")
        p.add_argument("--force", action="store_true", help="re-run notebooks that are up to date")
    args = parser.parse_args(argv)
    try:
        if args.command == "run":
            overrides = _parse_overrides(args.parameter)
            for name in args.notebooks:
                path = run_notebook(name, args.profile, overrides, args.out, args.results_dir,
                                    args.prepare_only, args.force, log_output=True)
                print(f"[fashionlib] wrote {path}")
        elif args.command == "run-all":
            if args.parameter:
                parser.error("run-all takes no -p overrides (they differ per notebook); use run")
            run_all(args.profile, args.out, args.results_dir, args.prepare_only, args.force)
        else:
            build_book(args.profile, args.root, args.skip_run, args.force)
    except (profiles.ParameterError, results.PathError, FileNotFoundError) as exc:
        print(f"fashionlib: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
