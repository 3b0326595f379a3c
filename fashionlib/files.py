"""Files at the bottom of the house: the one atomic writer, the commit reader, the results folder and the
check that a folder can be written to.

Every module that writes a file (records, models, downloads, checkpoints, manifests) writes it through
``atomic_write_bytes``, so a kill leaves the old file or the new one, never half of one. This module
imports nothing from ``fashionlib``, so any module may import it without an upward import or a cycle.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to a temporary file beside ``path``, fsync it, then rename it into place.

    A kill at any moment leaves either the old file or the new one, never a partial file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    return atomic_write_bytes(path, text.encode("utf-8"))


def git_commit() -> str:
    """The current commit (with ``-dirty`` when the tree has changes), or 'unknown'.

    ``$FASHIONLIB_GIT_COMMIT`` wins when set: the runner sets it when a notebook *starts* (a long run
    must name the code it started from, not a commit made while it ran), and whoever copies the tree
    to a machine without its ``.git`` folder sets it by hand.
    """
    if os.environ.get("FASHIONLIB_GIT_COMMIT"):
        return os.environ["FASHIONLIB_GIT_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO_ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha + ("-dirty" if dirty else "")) if sha else "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


class PathError(ValueError):
    """A folder a run will write into cannot take it (a file is in the way, or no write permission)."""


def check_writable_dir(path: str | os.PathLike, what: str) -> Path:
    """Refuse, before any work, a folder that a run will write into but could not; create nothing.

    ``what`` names the option (``--results-dir``) in the message. A folder that does not exist yet is
    fine when its nearest existing parent is a writable folder (it is created when the run writes).
    """
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise PathError(f"{what} {path} exists and is a file, not a folder. Fix: point {what} at a folder "
                        "(a new one is created), or move the file away.")
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise PathError(f"{what} {path} cannot be created: {existing} is a file, not a folder. Fix: point "
                        f"{what} at a folder outside {existing}.")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PathError(f"{what} {path} is not writable (no write permission on {existing}). Fix: point "
                        f"{what} at a folder you can write to, or change the permissions of {existing}.")
    return path


def results_dir(override: str | os.PathLike | None = None) -> Path:
    """The folder the results records go to: ``override``, else ``$FASHIONLIB_RESULTS_DIR`` (set by the
    runner), else ``book/results`` of this repository."""
    if override is not None:
        return Path(override)
    return Path(os.environ.get("FASHIONLIB_RESULTS_DIR") or REPO_ROOT / "book" / "results")
