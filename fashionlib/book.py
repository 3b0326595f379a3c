"""The book: its notebooks in reading order, each notebook's profiles, and its executed pages.

A notebook's ``parameters`` cell holds the defaults (the ``cpu`` profile). A profile overrides some of
them; ``-p name value`` overrides win over the profile. :func:`resolve` merges the three and checks every
value (:mod:`fashionlib.rules`, :mod:`fashionlib.combinations`) before any work. The runner executes a
notebook into a folder of :data:`EXECUTED_DIRS`, then makes the executed notebook read cleanly as a page
(:func:`clean_outputs`; :func:`as_paper_page` for the committed paper and stand-in pages).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from . import data, files
from .choices import PROFILE_NAMES
from .combinations import check_combinations
from .files import REPO_ROOT
from .rules import ParameterError, check_value, unknown_parameter

# The stand-in for study B at its full setting: the paper profile means the paper's data and weights, which
# are not here, so the stand-in has a profile of its own, with its records in book/results/standin and its
# executed pages in book/standin-runs.
STANDIN_NOTEBOOKS = ("b0_pretraining", "b2_backbones")
# Where each profile's executed notebooks go (the committed ones: paper and standin) under book/.
EXECUTED_DIRS = {"smoke": "executed", "cpu": "executed", "standin": "standin-runs", "paper": "paper-runs"}
# Folders of the committed executed pages (paper, standin): they sit in the book beside their cpu twins.
COMMITTED_PAGE_DIRS = {d for p, d in EXECUTED_DIRS.items() if d != EXECUTED_DIRS["cpu"]}

# Notebooks in reading order: the book's table of contents follows this list.
NOTEBOOKS = [
    "intro",
    "a0_fashion_mnist",
    "a1_improved_cnn",
    "a2_models",
    "a3_batch_size",
    "a4_lr_schedules",
    "a5_closing_the_gap",
    "a6_protocol",
    "a7_modern_recipe",
    "b0_pretraining",
    "b1_apparel_data",
    "b2_backbones",
    "b3_hyperparameters",
    "b4_curves",
    "performance",
    "run_it_yourself",
    "for_teachers",
    "execution_report",
]
# Summary pages read the other notebooks' records, so they run after everything else.
RUN_LAST = ("intro", "for_teachers", "execution_report")

# The paper's data (inferred: Kaggle's Fashion Product Images, apparel59 preset), unzipped under the
# repository root; the paper profile of study B trains on it and stops with a clear error without it.
PAPER_DATA = {"dataset": "fashion_product_images", "data_root": "data/fashion-product-images"}

# Overrides of each notebook's defaults, per profile. The notebook's own defaults are the `cpu` profile.
PROFILES: dict[str, dict[str, dict]] = {
    "intro": {"smoke": {}, "cpu": {}, "paper": {}},
    "performance": {"smoke": {}, "cpu": {}, "paper": {}},
    "run_it_yourself": {"smoke": {}, "cpu": {}, "paper": {}},
    "for_teachers": {"smoke": {}, "cpu": {}, "paper": {}},
    "execution_report": {"smoke": {}, "cpu": {}, "paper": {}},
    "a0_fashion_mnist": {
        "smoke": {"samples_per_class": 3},
        "cpu": {},
        "paper": {},
    },
    # Study A (Keras). cpu = the notebook defaults.
    "a1_improved_cnn": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "seeds": [0, 1, 2], "train_size": None, "save_models": True},
    },
    "a2_models": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000, "save_models": True},
    },
    "a3_batch_size": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_sizes": [64, 128], "seeds": [0]},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_sizes": [32, 64, 128, 256, 512], "seeds": [0, 1, 2], "train_size": 48000,
                  "save_models": True},
    },
    "a4_lr_schedules": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "lrs": [0.1, 0.01, 0.001],
                  "schedules_to_compare": ["paper", "constant"], "include_sgd": False},
        "cpu": {},
        "paper": {"epochs": 50, "lr_end": 1e-05, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000,
                  "lrs": [0.1, 0.01, 0.001], "include_sgd": True,
                  "schedules_to_compare": ["paper", "constant", "exponential", "inverse_time", "cosine"],
                  "save_models": True},
    },
    "a5_closing_the_gap": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "lr_ends": [1e-4],
                  "augment_options": [False, True]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "seeds": [0, 1, 2], "train_size": 48000, "save_models": True,
                  "models": ["improved_cnn", "improved_cnn_strided"]},
    },
    # Both readings of Table 1 x {48k split, all 60k}: >= 5 seeds each at the paper profile (a GPU session
    # can pass -p seeds "[0, 1, ..., 9]" and -p jobs N); A1's schedule (1e-3 -> 1e-5), batch 128, 50 epochs.
    "a6_protocol": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0, 1], "models": ["improved_cnn"]},
        "cpu": {},
        "paper": {"epochs": 50, "batch_size": 128, "lr": 0.001, "lr_end": 1e-05, "schedule": "paper",
                  "optimizer": "adam", "seeds": [0, 1, 2, 3, 4], "train_size": 48000, "save_models": True,
                  "models": ["improved_cnn", "improved_cnn_strided"]},
    },
    # The Table-1 network with a modern recipe (crop/flip, label smoothing, AdamW + cosine, EMA, test-time
    # flip); label smoothing chosen on validation, the test set read once for the chosen value.
    # cpu: 12,000 images, 5 epochs, 2 seeds, the grid + A1's recipe beside it.
    "a7_modern_recipe": {
        "smoke": {"train_size": 512, "epochs": 1, "batch_size": 64, "seeds": [0], "warmup_epochs": 0},
        "cpu": {},
        "paper": {"train_size": 48000, "epochs": 40, "batch_size": 128, "seeds": [0, 1, 2], "ema_momentum": 0.999,
                  "save_models": True},
    },
    # Study B (PyTorch + timm). cpu = the notebook defaults (long-tailed Fashion-MNIST at 32 px, micro
    # backbones, random init); smoke = the smallest run; paper = 224 px, the real backbones, the paper's epochs (GPU).
    # B0 pretrains the micro backbones on half A of Fashion-MNIST on four coarse groups (never the ten fine
    # labels), two seeds; weights + manifests beside its record. cpu: 600 per group, 3 epochs; standin: 1,500
    # per group, 4 epochs. No paper profile: the paper's backbones come pretrained (timm), which B2's paper
    # profile loads.
    "b0_pretraining": {
        "smoke": {"per_group": 40, "image_size": 16, "epochs": 1, "seeds": [0], "probe_per_class": 10,
                  "backbones": ["vit_micro", "swinv2_micro"]},
        "cpu": {},
        "standin": {"per_group": 1500, "epochs": 4, "probe_per_class": 200},
    },
    "b1_apparel_data": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "samples_per_class": 2},
        "cpu": {},
        "paper": {"image_size": 224, "backbone": "beit_base_patch16_224", "balance_target": 500, **PAPER_DATA},
    },
    "b2_backbones": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16, "epochs": 1,
                  "backbones": ["vit_micro", "swinv2_micro"], "batch_size": 32, "seeds": [0, 1], "pretrain_seeds": [0],
                  "test_per_class": 20, "lt_test_max": 40, "other_balances": [], "other_seeds": [], "control_backbones": [],
                  "scratch_control": False},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epochs": 30, "batch_size": 32,
                  "backbones": ["beit_base_patch16_224", "swinv2_cr_tiny_ns_224", "deit_base_patch16_224",
                                "vit_base_patch16_224"], "lr": 0.0001, "pretrained": True, "trainable_blocks": 4,
                  "seeds": [0, 1, 2, 3, 4], "weights_dir": "none", "scratch_control": False,
                  "other_balances": ["oversample", "class_weights", "logit_adjust"], "other_seeds": [0, 1, 2],
                  "control_backbones": []},
        # The stand-in's full setting: BEiT and Swin V2 x EdgeNet on/off x {none, resample} x 10 seeds (spread
        # over B0's 2 pretraining seeds), 10 epochs; ViT (the control), class weights and logit adjustment
        # (EdgeNet on) and the from-scratch control on 3 seeds; two held-out sets from the official test set (long-tailed, 400 in
        # the largest class, 986 images; balanced, 60 per class). Oversampling (every class copied up to the largest: 4x the training images) is left to
        # -p other_balances '["oversample", ...]'.
        "standin": {"seeds": list(range(10)), "n_max": 200, "balance_target": 40, "epochs": 10,
                    "lt_test_max": 400, "test_per_class": 60,
                    "other_balances": ["class_weights", "logit_adjust"], "other_seeds": [0, 1, 2]},
    },
    "b3_hyperparameters": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16,
                  "epoch_fraction": 0.02, "rows": [1, 2]},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epoch_fraction": 1.0,
                  "backbone": "beit_base_patch16_224", "pretrained": True, "trainable_blocks": 4},
    },
    "b4_curves": {
        "smoke": {"n_max": 60, "imbalance_factor": 10.0, "balance_target": 10, "image_size": 16, "epochs": 2},
        "cpu": {},
        "paper": {**PAPER_DATA, "torch_threads": 8, "image_size": 224, "balance_target": 500, "epochs": 76, "lr": 0.0001,
                  "backbone": "beit_base_patch16_224", "pretrained": True, "trainable_blocks": 4},
    },
}


def resolve(notebook: str, declared: dict, profile: str = "cpu", overrides: dict | None = None) -> dict:
    """Merge notebook defaults <- profile <- overrides, validating every value before any work runs.

    ``declared`` maps each parameter name in the notebook's ``parameters`` cell to its default.
    """
    where = f"{notebook}: "
    if profile not in PROFILE_NAMES:
        raise ParameterError(f"{where}unknown profile {profile!r}; choose one of {', '.join(PROFILE_NAMES)}.")
    if notebook in PROFILES and profile not in PROFILES[notebook]:
        raise ParameterError(f"{where}has no {profile!r} profile; it has {', '.join(PROFILES[notebook])}. "
                             + (f"The {profile!r} profile is study B's stand-in ({', '.join(STANDIN_NOTEBOOKS)}). "
                                if profile == "standin" else "") + "Fix: choose one of those with --profile.")
    overrides = dict(overrides or {})
    preset = PROFILES.get(notebook, {}).get(profile, {})
    params = dict(declared)
    for source, values in (("profile " + profile, preset), ("-p", overrides)):
        for name, value in values.items():
            if name not in declared:
                raise unknown_parameter(name, source, declared, where)
            check_value(name, value, declared[name], where)
            params[name] = value
    if "profile" in declared:
        params["profile"] = profile
    for name, value in params.items():
        check_value(name, value, declared[name], where)
    # explicitly given: -p, and the profile's presets unless -p changes what chooses them (a profile's
    # stand-in knobs follow the profile, so they do not count against a dataset or schedule chosen with -p)
    given = set(overrides) | (set() if {"dataset", "schedule", "balances"} & set(overrides) else set(preset))
    check_combinations(params, given, where)
    return params


# --------------------------------------------------------------- notebook files -----
NOTEBOOK_DIR = REPO_ROOT / "notebooks"


def notebook_path(name: str | os.PathLike) -> Path:
    """Resolve a notebook name (``a1_improved_cnn``) or path to its MyST source file."""
    path = Path(name)
    if path.suffix != ".md":
        path = NOTEBOOK_DIR / f"{path.name}.md"
    if not path.is_file():
        known = ", ".join(NOTEBOOKS)
        raise FileNotFoundError(f"notebook source {path} does not exist. Known notebooks: {known}.")
    return path


def read_source(path: Path):
    """The MyST source at ``path`` as a notebook, set to the kernel the runner executes it on."""
    import jupytext

    nb = jupytext.read(path)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    return nb


def check_paths(out_dir, results_dir=None) -> None:
    """The paths a run depends on, checked before any work: the executed-notebook folder and the results
    folder (the argument, else ``$FASHIONLIB_RESULTS_DIR``, else ``book/results``) must be folders that can
    be written, and ``$FASHION_MNIST_DIR``, when set, must hold the four data files."""
    files.check_writable_dir(out_dir, "--out")
    files.check_writable_dir(files.results_dir(results_dir),
                             "--results-dir" if results_dir is not None else "the results folder ($FASHIONLIB_RESULTS_DIR)")
    data.env_dir()


# ------------------------------------------------------------ executed pages -----
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


def copy_hiding_tags(nb) -> None:
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
