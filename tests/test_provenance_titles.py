"""The Provenance part of _toc.yml: each page's title says what its executed notebook ran.

The titles are typed by hand. Each is checked against its executed notebook (book/paper-runs/,
book/standin-runs/: the parameters papermill injected, over the parameters cell's defaults) and the
results record that notebook wrote: the profile, the epochs, the number of seeds, an ``lr_end`` the title
names, and the machine (a GPU, an H200) exactly when the record's device is not the CPU.
"""

import json
import re

import nbformat
import pytest
import yaml

from fashionlib import book, files, parameters_cell

TOC = yaml.safe_load((files.REPO_ROOT / "_toc.yml").read_text())
PROVENANCE = {ch["file"]: ch["title"] for part in TOC["parts"] if part["caption"].startswith("Provenance")
              for ch in part["chapters"]}
RECORDS = files.REPO_ROOT / "book" / "results"  # the committed records, whatever $FASHIONLIB_RESULTS_DIR says
_RECORD = re.compile(r"results/(\w+)/(\w+)/([\w-]+\.json)")
_TITLE = re.compile(r"(?P<page>[AB]\d) run: (?P<profile>\w+) profile \((?P<details>.+)\)")
_MACHINE = re.compile(r"\b(GPU|[A-Z]\d{3})\b")  # GPU, or a model such as H200


def run_facts(page: str) -> dict:
    """What the executed notebook ``page`` (``book/paper-runs/a1_improved_cnn``) ran: its parameters
    (defaults, then papermill's), and the record it wrote (the one record path its outputs name)."""
    nb = nbformat.read(files.REPO_ROOT / f"{page}.ipynb", as_version=4)
    params = {**parameters_cell.declared_parameters(nb), **nb.metadata["papermill"]["parameters"]}
    named = {m.groups() for cell in nb.cells for out in cell.get("outputs", [])
             for m in _RECORD.finditer(json.dumps(out))}
    assert len(named) == 1, f"{page}: its outputs name {len(named)} records, not the one it wrote: {named}"
    [(profile, notebook, name)] = named
    record = json.loads((RECORDS / profile / notebook / name).read_text())
    return {"params": params, "record_params": record["provenance"]["parameters"],
            "device": record["provenance"]["device"].get("accelerator", "cpu")}


def title_facts(title: str) -> dict:
    """The facts a Provenance title states: page, profile, and the numbers and machines of its details."""
    m = _TITLE.fullmatch(title)
    assert m, f"{title!r}: a Provenance title reads '<A1> run: <profile> profile (<details>)'"
    details = m["details"]
    return {"page": m["page"], "profile": m["profile"],
            "epochs": [int(n) for n in re.findall(r"\b(\d+) epochs\b", details)],
            "seeds": [int(n) for n in re.findall(r"\b(\d+) (?:\w+ )?seeds\b", details)],
            "lr_end": [float(v) for v in re.findall(r"\blr_end ([0-9.e+-]+)", details)],
            "machines": _MACHINE.findall(details)}


def test_the_provenance_part_lists_every_committed_executed_notebook():
    committed = {f"book/{d}/{p.stem}" for d in sorted(book.COMMITTED_PAGE_DIRS)
                 for p in (files.REPO_ROOT / "book" / d).glob("*.ipynb")}
    assert set(PROVENANCE) == committed


@pytest.mark.parametrize("page", sorted(PROVENANCE), ids=lambda p: p.rsplit("/", 1)[-1])
def test_provenance_title_states_the_runs_profile_epochs_seeds_and_machine(page):
    title, stated, run = PROVENANCE[page], title_facts(PROVENANCE[page]), run_facts(page)
    params = run["params"]
    for key in ("profile", "epochs", "seeds"):
        assert params[key] == run["record_params"][key], f"{page}: notebook and record differ in {key}"
    assert stated["page"] == page.rsplit("/", 1)[-1][:2].upper(), title
    assert stated["profile"] == params["profile"] and page.split("/")[1] == book.EXECUTED_DIRS[params["profile"]], title
    assert stated["epochs"] == [params["epochs"]], f"{title!r}: the run has {params['epochs']} epochs"
    assert stated["seeds"] == [len(params["seeds"])], f"{title!r}: the run has {len(params['seeds'])} seeds"
    lr_ends = params.get("lr_ends") or [params.get("lr_end")]
    assert all([lr] == lr_ends for lr in stated["lr_end"]), f"{title!r}: the run's lr_end is {lr_ends}"
    if run["device"] == "cpu":
        assert not stated["machines"], f"{title!r}: the run was on the CPU"
    else:
        assert stated["machines"], f"{title!r}: the run was on {run['device']}; name it (GPU or its model)"
        assert all(m == "GPU" or m in run["device"] for m in stated["machines"]), \
            f"{title!r}: the run was on {run['device']}"


def test_title_facts_reads_the_numbers_a_title_states():
    facts = title_facts("B2 run: standin profile (BEiT x 2 balancings x 10 seeds, 4 epochs, lr_end 1e-4; H200)")
    assert facts == {"page": "B2", "profile": "standin", "epochs": [4], "seeds": [10], "lr_end": [1e-4],
                     "machines": ["H200"]}
    assert title_facts("B0 run: standin profile (2 pretraining seeds, GPU)")["seeds"] == [2]
