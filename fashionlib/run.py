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
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from . import book, files
from .files import REPO_ROOT, atomic_write_text, git_commit
from .parameters_cell import declared_parameters
from .progress import PROGRESS_ENV
from .rules import ParameterError, parse_cli_value

BOOK_FILES = ["_config.yml", "_toc.yml", "book", "references.bib", "CITATION.cff", "binder", "requirements-lock.txt"]

def default_out_dir(profile: str, root: Path = REPO_ROOT) -> Path:
    return root / "book" / book.EXECUTED_DIRS[profile]


LIBRARY_DIR = Path(__file__).resolve().parent
LOCK_FILES = [REPO_ROOT / "requirements.lock", REPO_ROOT / "requirements-lock.txt"]


def _fingerprint(source: Path, params: dict, results_dir=None) -> str:
    """What an executed notebook depends on: its source, its parameters, the code of ``fashionlib``
    (every module, in sub-folders too, under its path in the package: the notebook may call any of them),
    the environment lock file where there is one, and the results folder its record goes to (a run into
    another folder must write a record there).
    """
    h = hashlib.sha256(source.read_bytes())
    h.update(json.dumps(params, sort_keys=True).encode())
    library = Path(LIBRARY_DIR)
    hashed = [(p.relative_to(library).as_posix(), p) for p in sorted(library.rglob("*.py"))]
    hashed += [(Path(p).name, Path(p)) for p in LOCK_FILES if Path(p).is_file()]
    for name, path in hashed:
        h.update(f"\0{name}\0".encode())
        h.update(path.read_bytes())
    h.update(str(files.results_dir(results_dir).resolve()).encode())
    return h.hexdigest()


def is_up_to_date(output: Path, fingerprint: str) -> bool:
    if not output.is_file():
        return False
    try:
        meta = json.loads(output.read_text()).get("metadata", {}).get("fashionlib", {})
    except (json.JSONDecodeError, OSError):
        return False
    return meta.get("fingerprint") == fingerprint and meta.get("status") == "ok"


def run_notebook(name, profile: str = "cpu", overrides: dict | None = None, out_dir=None,
                 results_dir=None, prepare_only: bool = False, force: bool = False,
                 log_output: bool = False) -> Path:
    """Execute one notebook with a profile and overrides; return the executed notebook's path."""
    import nbformat
    import papermill

    source = book.notebook_path(name)
    stem = source.stem
    out_dir = Path(out_dir) if out_dir else default_out_dir(profile)
    book.check_paths(out_dir, results_dir)  # before any work: a notebook would train, then fail to write
    nb = book.read_source(source)
    params = book.resolve(stem, declared_parameters(nb, f"{stem}: "), profile, overrides)  # fails before work
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
    os.environ[PROGRESS_ENV] = "terminal"  # progress to this terminal, not into the notebook (progress.py)
    os.environ["FASHIONLIB_PROFILE"] = profile  # tables of the run in progress name their profile
    os.environ.setdefault("FASHIONLIB_GIT_COMMIT", git_commit())  # the code the run starts from
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
        book.copy_hiding_tags(executed)
        book.clean_outputs(executed)
        if out_dir.name in book.COMMITTED_PAGE_DIRS:
            book.as_paper_page(executed, prefix=f"{profile}-")
        executed.metadata["fashionlib"] = {"notebook": stem, "profile": profile, "parameters": params,
                                           "fingerprint": fingerprint,
                                           "status": "prepared" if prepare_only else "ok"}
        text = nbformat.writes(executed)
        atomic_write_text(output, text if text.endswith("\n") else text + "\n")
    finally:
        shutil.rmtree(tmp_dir, ignore_errors=True)
        os.environ.clear()
        os.environ.update(env_backup)
    return output


def run_all(profile: str = "cpu", out_dir=None, results_dir=None, prepare_only=False,
            force=False, only=None) -> list[Path]:
    book.check_paths(Path(out_dir) if out_dir else default_out_dir(profile), results_dir)
    names = only or [n for n in book.NOTEBOOKS if (book.NOTEBOOK_DIR / f"{n}.md").is_file()
                     and profile in book.PROFILES.get(n, {profile: {}})]
    names = sorted(names, key=lambda n: n in book.RUN_LAST)  # stable: summaries last
    # summary pages read the other notebooks' records: always re-run them (they take seconds)
    return [run_notebook(n, profile, out_dir=out_dir, results_dir=results_dir, prepare_only=prepare_only,
                         force=force or n in book.RUN_LAST) for n in names]


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
    files.check_writable_dir(root, "--root")
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
    return {name: parse_cli_value(value) for name, value in (pairs or [])}


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
    except (ParameterError, files.PathError, FileNotFoundError) as exc:
        print(f"fashionlib: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
