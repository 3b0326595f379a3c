"""Where progress bars and per-epoch lines go: the notebook, the runner's terminal, or nowhere.

The runner (``fashionlib run``) sets :data:`PROGRESS_ENV` for the notebook's kernel; the training loops of
both studies ask :func:`progress_stream` where to write.
"""

from __future__ import annotations

import os
import sys

PROGRESS_ENV = "FASHIONLIB_PROGRESS"  # set to "terminal" by the runner for the notebook's kernel


def progress_stream():
    """Where progress bars and per-epoch lines go, or None when they are not shown.

    Interactively (Jupyter, a script) they go to ``sys.stdout``. Under ``fashionlib run`` (which sets
    ``FASHIONLIB_PROGRESS=terminal``) they go to the terminal the runner was started from, past the
    notebook, so the executed notebook, and the book made from it, holds no progress text; when that
    terminal is not a TTY (a book build, CI) progress is off.
    """
    if os.environ.get(PROGRESS_ENV) != "terminal":
        return sys.stdout
    try:
        fd = sys.stderr.fileno()  # in a kernel: the kernel process's own stderr, not the notebook's
    except (AttributeError, OSError, ValueError):
        return None
    return open(fd, "w", closefd=False) if os.isatty(fd) else None
