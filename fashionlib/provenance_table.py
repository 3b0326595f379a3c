"""The execution report's table: the newest record of every (notebook, profile), how it ran.

One row per (notebook, profile) that has a record, from that pair's newest record (a benchmark's
record holds its runs in extras, so records are read here, not runs): when it started, its wall time,
the device, the commit, whether the environment matched the lock file, and the library versions that
decide the numbers. Rows follow the book's reading order.
"""

from __future__ import annotations

import os

from . import book, results

# The libraries whose versions decide the numbers; "keras (torch)" names the Keras backend.
SHOWN = ["python", "numpy", "scikit-learn", "keras", "tensorflow-cpu", "tensorflow", "jax", "torch", "timm"]
COLUMNS = ["notebook", "profile", "started", "wall time (min)", "device", "commit", "locked", "library versions"]


def versions_text(prov: dict) -> str:
    """The :data:`SHOWN` libraries a record lists, with their versions, in that order."""
    v = prov.get("versions", {})
    parts = []
    for name in SHOWN:
        if name in v:
            extra = f" ({v['keras_backend']})" if name == "keras" and "keras_backend" in v else ""
            parts.append(f"{name} {v[name]}{extra}")
    return ", ".join(parts)


def device_text(prov: dict) -> str:
    """The accelerator a record ran on, or ``CPU x<cores>``."""
    d = prov.get("device", {})
    acc = d.get("accelerator", "cpu")
    return f"CPU x{d.get('cpu_count')}" if acc == "cpu" else str(acc)


def locked_text(prov: dict, lock: dict) -> str:
    """yes/no from the record; a record older than the lock is judged by the versions it lists."""
    if "locked" in prov:
        return "yes" if prov["locked"] else "no"
    recorded = {k: v for k, v in prov.get("versions", {}).items() if k in lock}
    differ = [f"{k} {v} (lock {lock[k]})" for k, v in recorded.items() if v != lock[k]]
    if differ:
        return "no: " + ", ".join(differ)
    return "not recorded; its listed libraries match the lock"


def newest_records_table(results_dir_: str | os.PathLike | None = None):
    """One row per (notebook, profile): its newest record's provenance (see the module docstring)."""
    import pandas as pd

    lock = results.locked_versions()
    groups = results.by_notebook_and_profile(results.load_records(results_dir_=results_dir_))
    newest = {key: group[-1]["provenance"] for key, group in groups.items()}
    rows = []
    for (notebook, prof), p in newest.items():
        wall = p.get("wall_time_s")
        rows.append({"notebook": notebook, "profile": prof,
                     "started": str(p.get("started", ""))[:16].replace("T", " "),
                     "wall time (min)": None if wall is None else round(wall / 60, 1), "device": device_text(p),
                     "commit": str(p.get("git_commit", ""))[:10], "locked": locked_text(p, lock),
                     "library versions": versions_text(p)})
    table = pd.DataFrame(rows, columns=COLUMNS)
    order = {name: i for i, name in enumerate(book.NOTEBOOKS)}
    table["reading order"] = table["notebook"].map(lambda n: order.get(n, len(order)))
    return table.sort_values(["reading order", "notebook", "profile"]).drop(columns="reading order")
