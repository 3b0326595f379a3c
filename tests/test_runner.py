"""The runner: parameters injected, outputs atomic, up-to-date notebooks skipped, parallel runs independent."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from fashionlib import book, parameters_cell, run


def _injected(nb):
    cells = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(cells) == 1
    return cells[0].source


def test_prepare_only_injects_profile_and_overrides(tmp_path):
    out = run.run_notebook("a0_fashion_mnist", "smoke", {"seed": 4}, out_dir=tmp_path, prepare_only=True)
    src = _injected(nbformat.read(out, as_version=4))
    assert 'profile = "smoke"' in src and "seed = 4" in src and "samples_per_class = 3" in src


@pytest.mark.slow
def test_execute_then_skip_when_up_to_date(tmp_path, capsys):
    out = run.run_notebook("a0_fashion_mnist", "smoke", out_dir=tmp_path, results_dir=tmp_path / "r")
    nb = nbformat.read(out, as_version=4)
    assert nb.metadata["fashionlib"]["status"] == "ok"
    records = list((tmp_path / "r" / "smoke" / "a0_fashion_mnist").glob("*.json"))
    assert len(records) == 1
    assert json.loads(records[0].read_text())["extras"]["n_train"] == 48_000
    mtime = out.stat().st_mtime_ns
    run.run_notebook("a0_fashion_mnist", "smoke", out_dir=tmp_path, results_dir=tmp_path / "r")
    assert "up to date" in capsys.readouterr().out and out.stat().st_mtime_ns == mtime
    run.run_notebook("a0_fashion_mnist", "smoke", {"seed": 1}, out_dir=tmp_path, results_dir=tmp_path / "r")
    assert out.stat().st_mtime_ns != mtime, "changed parameters must re-run"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a0_fashion_mnist.ipynb", "r"], "no temp left"


@pytest.mark.slow
def test_failing_notebook_leaves_nothing_half_written(tmp_path):
    from papermill.exceptions import PapermillExecutionError

    with pytest.raises(PapermillExecutionError, match="lacks train-images"):
        run.run_notebook("a0_fashion_mnist", "smoke", {"data_dir": str(tmp_path)}, out_dir=tmp_path / "o",
                         results_dir=tmp_path / "r")
    assert list((tmp_path / "o").iterdir()) == []
    assert not (tmp_path / "r").exists()


@pytest.mark.slow
def test_interrupted_run_all_resumes_where_it_stopped(tmp_path):
    """A run killed (SIGKILL) mid-notebook leaves no output for it; the re-run skips finished notebooks."""
    import signal
    import time

    out, res = tmp_path / "out", tmp_path / "r"
    first = run.run_notebook("a0_fashion_mnist", "smoke", out_dir=out, results_dir=res)
    mtime = first.stat().st_mtime_ns
    proc = subprocess.Popen([sys.executable, "-m", "fashionlib", "run", "for_teachers", "--profile", "smoke",
                             "--out", str(out), "--results-dir", str(res)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline and not any(p.name.startswith(".for_teachers") for p in out.iterdir()):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not (out / "for_teachers.ipynb").exists(), "a killed run must not leave a half-written notebook"
    run.run_all("smoke", out_dir=out, results_dir=res, only=["a0_fashion_mnist", "for_teachers"])
    assert first.stat().st_mtime_ns == mtime, "the finished notebook is not run again"
    assert nbformat.read(out / "for_teachers.ipynb", as_version=4).metadata["fashionlib"]["status"] == "ok"


@pytest.mark.slow
def test_every_smoke_notebook_twice_in_parallel(tmp_path):
    """Stress: two `run-all --profile smoke` processes at once, separate output folders, no interference."""
    procs = [subprocess.Popen([sys.executable, "-m", "fashionlib", "run-all", "--profile", "smoke",
                               "--out", str(tmp_path / f"o{i}"), "--results-dir", str(tmp_path / f"r{i}")],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for i in range(2)]
    for p in procs:
        log, _ = p.communicate(timeout=1800)
        assert p.returncode == 0, log[-3000:]
    names = [n for n in book.NOTEBOOKS if (book.NOTEBOOK_DIR / f"{n}.md").is_file()]
    for i in range(2):
        for name in names:
            nb = nbformat.read(tmp_path / f"o{i}" / f"{name}.ipynb", as_version=4)
            assert nb.metadata["fashionlib"]["status"] == "ok"
        assert {p.name for p in (tmp_path / f"r{i}" / "smoke").iterdir()} == set(names), "one record per notebook"
        leftovers = [p for p in (tmp_path / f"o{i}").iterdir() if p.name.startswith(".")]
        assert not leftovers


def test_paper_pages_get_their_own_labels():
    """A paper-profile page sits beside its cpu twin: its labels are prefixed, links still resolve."""
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("(a9-table)=\n## T\nsee {ref}`a9-table` and {ref}`a0-split`, {doc}`a1_improved_cnn`"),
        nbformat.v4.new_markdown_cell("```{glue:figure} k\n:name: fig-a9\n```\n{numref}`Fig <fig-a9>`"),
    ])
    book.as_paper_page(nb)
    book.as_paper_page(nb)  # idempotent
    src = "\n".join(c.source for c in nb.cells)
    assert "(paper-a9-table)=" in src and "{ref}`paper-a9-table`" in src
    assert "{ref}`a0-split`" in src, "labels of other pages are left alone"
    assert ":name: paper-fig-a9" in src and "<paper-fig-a9>`" in src
    assert "{doc}`../executed/a1_improved_cnn`" in src and "paper-paper-" not in src


def test_paper_pages_hide_the_section_that_shows_an_earlier_paper_record():
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell("## Fig. 4"),
        nbformat.v4.new_code_cell("plot()"),
        nbformat.v4.new_markdown_cell("(a9-paper-profile)=\n## The committed paper-profile run"),
        nbformat.v4.new_code_cell('report.show_paper_runs(NB, {"accuracy": 2})',
                                  metadata={"tags": ["paper-record"]}),
        nbformat.v4.new_code_cell('results.load_records(NB, "paper")  # an untagged cell stays'),
        nbformat.v4.new_markdown_cell("## Results record"),
    ])
    book.as_paper_page(nb)
    book.as_paper_page(nb)
    hidden = [i for i, c in enumerate(nb.cells) if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden == [2, 3]
    assert nb.cells[3].metadata["tags"] == ["paper-record", "remove-cell"], "tagged once"


def test_a_paper_section_heading_joined_to_a_figure_is_split_off_before_hiding():
    figure = "```{glue:figure} f\n:name: fig-f\nCaption.\n```"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(figure + "\n\n(a9-paper-profile)=\n## The committed paper-profile run"),
        nbformat.v4.new_code_cell('report.show_paper_runs(NB, {"accuracy": 2})', metadata={"tags": ["paper-record"]}),
    ])
    book.as_paper_page(nb)
    book.as_paper_page(nb)
    assert len(nb.cells) == 3
    assert nb.cells[0].source == figure.replace("fig-f", "paper-fig-f") and not nb.cells[0].metadata.get("tags")
    assert nb.cells[1].source.startswith("(paper-a9-paper-profile)=")
    assert [c.metadata.get("tags") for c in nb.cells[1:]] == [["remove-cell"], ["paper-record", "remove-cell"]]


# ---------------------------------------------------------------- the up-to-date check, case by case
TINY_NOTEBOOK = """---
jupytext:
  text_representation: {extension: .md, format_name: myst}
kernelspec: {name: python3, display_name: Python 3, language: python}
---
# A throwaway notebook

```{code-cell} ipython3
:tags: [parameters]
seed = 0
```

```{code-cell} ipython3
print(seed)
```
"""


@pytest.fixture
def tiny_runner(tmp_path, monkeypatch):
    """A tiny notebook, a fake library folder and lock file, and papermill replaced by a counter.

    Only the runner's decision (execute or skip) is under test here, so "executing" copies the
    prepared notebook; ``run(**kw)`` returns True when the notebook was executed.
    """
    import papermill

    source = tmp_path / "tiny.md"
    source.write_text(TINY_NOTEBOOK)
    lib = tmp_path / "lib"
    lib.mkdir()
    (lib / "core.py").write_text("def f():\n    return 1\n")
    (lib / "sub").mkdir()
    (lib / "sub" / "deep.py").write_text("Y = 1\n")
    monkeypatch.setattr(run, "LIBRARY_DIR", lib)
    monkeypatch.setattr(run, "LOCK_FILES", [tmp_path / "requirements.lock"])
    executed = []

    def fake_execute(src, out, parameters=None, prepare_only=False, **kw):
        executed.append(prepare_only)
        nbformat.write(nbformat.read(src, as_version=4), out)

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    out_dir, res = tmp_path / "out", tmp_path / "results"

    def do_run(**kw):
        before = len(executed)
        run.run_notebook(source, "smoke", kw.pop("overrides", None), out_dir=out_dir,
                         results_dir=kw.pop("results_dir", res), **kw)
        return len(executed) > before

    assert do_run(), "the first run executes"
    assert not do_run(), "an unchanged run is skipped"
    return {"run": do_run, "source": source, "lib": lib, "output": out_dir / "tiny.ipynb", "tmp": tmp_path}


def _edit_source(t):
    t["source"].write_text(t["source"].read_text().replace("print(seed)", "print(seed + 1)"))


def _add_package(t):
    (t["lib"] / "new").mkdir()
    (t["lib"] / "new" / "x.py").write_text("X = 1\n")


def _prepared_only(t):
    assert t["run"](prepare_only=True)  # a prepared (not executed) notebook now sits at the output


CHANGES = {  # name: (what changes, run keywords, executed again?)
    "nothing": (lambda t: None, {}, False),
    "source edit": (_edit_source, {}, True),
    "library edit": (lambda t: (t["lib"] / "core.py").write_text("def f():\n    return 2\n"), {}, True),
    "library module added": (lambda t: (t["lib"] / "extra.py").write_text("X = 1\n"), {}, True),
    "library edit in a sub-folder": (lambda t: (t["lib"] / "sub" / "deep.py").write_text("Y = 2\n"), {}, True),
    "library module added in a new sub-folder": (_add_package, {}, True),
    "library module moved into a sub-folder": (lambda t: (t["lib"] / "core.py").rename(t["lib"] / "sub" / "core.py"),
                                               {}, True),
    "lock file appears": (lambda t: (t["tmp"] / "requirements.lock").write_text("numpy==2.0.0\n"), {}, True),
    "parameter edit": (lambda t: None, {"overrides": {"seed": 1}}, True),
    "--force": (lambda t: None, {"force": True}, True),
    "corrupt output": (lambda t: t["output"].write_text('{"cells": [tru'), {}, True),
    "output deleted": (lambda t: t["output"].unlink(), {}, True),
    "half-prepared output": (_prepared_only, {}, True),
    "other results folder": (lambda t: None, {"results_dir": "other"}, True),
}


@pytest.mark.parametrize("change", list(CHANGES))
def test_up_to_date_check(change, tiny_runner):
    edit, kwargs, expect_run = CHANGES[change]
    edit(tiny_runner)
    if kwargs.get("results_dir") == "other":
        kwargs = {**kwargs, "results_dir": tiny_runner["tmp"] / "other-results"}
    assert tiny_runner["run"](**kwargs) is expect_run
    meta = nbformat.read(tiny_runner["output"], as_version=4).metadata["fashionlib"]
    assert meta["status"] == "ok"
    again = {k: v for k, v in kwargs.items() if k != "force"}
    assert not tiny_runner["run"](**again), "and the run after it is skipped again"


def test_the_fingerprint_covers_every_fashionlib_module():
    from pathlib import Path

    import fashionlib

    assert Path(run.LIBRARY_DIR) == Path(fashionlib.__file__).resolve().parent
    assert {p.name for p in Path(run.LIBRARY_DIR).glob("*.py")} >= {"run.py", "train_keras.py", "report.py"}
    assert [p.name for p in run.LOCK_FILES] == ["requirements.lock", "requirements-lock.txt"]


@pytest.mark.parametrize("args, message", [
    (["b2_backbones", "-p", "image_size", "2"], "'image_size' is 2, smaller than the 4-pixel patch"),
    (["a1_improved_cnn", "-p", "train_size", "100", "-p", "batch_size", "128"],
     "'batch_size' holds 128, more than the 100 training images"),
    (["a3_batch_size", "-p", "train_size", "5"], "'train_size' is 5, below the 10 classes"),
    (["b1_apparel_data", "-p", "data_root", "/data/x"], "'data_root'='/data/x' is ignored with dataset='fmnist_lt'"),
    (["a1_improved_cnn", "-p", "lr0", "0.1"], "'lr0' (from -p) was renamed 'lr'"),
    (["a1_improved_cnn", "-p", "fast_path", "true"], "'fast_path' is True but backend='tensorflow' cannot hold"),
    (["a6_protocol", "-p", "fast_path", "True", "-p", "backend", "tensorflow"], "'fast_path' is True but backend="),
    (["a1_improved_cnn", "-p", "fast_path", "vmap"], "'fast_path' is 'vmap' but backend='tensorflow'"),
    (["a3_batch_size", "-p", "fast_path", "vmap", "-p", "backend", "jax", "-p", "jobs", "2"],
     "'jobs'=2 is ignored with fast_path='vmap'"),
])
def test_runner_refuses_impossible_parameters_before_a_kernel(tmp_path, args, message):
    """Exit code 2, a message naming the parameter, the limit and the fix, and nothing written."""
    out, res = tmp_path / "out", tmp_path / "r"
    proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", *args, "--profile", "smoke",
                           "--out", str(out), "--results-dir", str(res)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert message in proc.stderr and "Fix:" in proc.stderr, proc.stderr[-2000:]
    assert not out.exists() and not res.exists(), "nothing may be written"


def test_parameters_cell_is_read_as_the_notebook_reads_it():
    cell = nbformat.v4.new_code_cell('epochs = 2\nmodels = ["cnn"]  # a list\n', metadata={"tags": ["parameters"]})
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import os"), cell])
    assert parameters_cell.declared_parameters(nb) == {"epochs": 2, "models": ["cnn"]}
    cell.source = "epochs = 2\nsteps = epochs * 10\n"
    with pytest.raises(ValueError, match=r"(?s)tagged 'parameters' holds more than assignments of literals.*"
                                         r"steps = epochs \* 10.*Fix: keep only"):
        parameters_cell.declared_parameters(nb)
    cell.metadata["tags"] = []
    with pytest.raises(ValueError, match="^x: notebook has no cell tagged 'parameters'; add one"):
        parameters_cell.declared_parameters(nb, "x: ")


@pytest.mark.parametrize("flag", ["--out", "--results-dir"])
def test_an_output_folder_that_is_a_file_stops_the_run_before_any_work(tmp_path, flag):
    """A file where a folder must go: exit 2 naming the path and the fix, before the kernel starts (the
    notebook would otherwise train, then fail at its record cell), and nothing written anywhere."""
    blocker = tmp_path / "blocker"
    blocker.write_text("a file, not a folder")
    folders = {"--out": tmp_path / "out", "--results-dir": tmp_path / "r", flag: blocker}
    proc = subprocess.run([sys.executable, "-m", "fashionlib", "run", "a0_fashion_mnist", "--profile", "smoke",
                           *(x for k, v in folders.items() for x in (k, str(v)))],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert f"{flag} {blocker} exists and is a file" in proc.stderr and "Fix:" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr and "a0_fashion_mnist: profile=" not in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker"], "nothing may be written"
    assert blocker.read_text() == "a file, not a folder"


def test_an_output_folder_below_a_file_or_without_permission_is_refused(tmp_path, monkeypatch, capsys):
    """In-process (so that a missing write permission can be simulated even as root): exit 2, the path
    named, nothing created. The same for a data folder named by $FASHION_MNIST_DIR that is not there."""
    blocker = tmp_path / "blocker"
    blocker.write_text("x")
    assert run.main(["run", "a0_fashion_mnist", "--profile", "smoke", "--out", str(blocker / "sub"),
                     "--results-dir", str(tmp_path / "r")]) == 2
    assert f"--out {blocker / 'sub'} cannot be created: {blocker} is a file" in capsys.readouterr().err
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    # 'locked' can be read and entered, not written
    monkeypatch.setattr(os, "access", lambda p, mode: not mode & os.W_OK if str(p) == str(locked) else real_access(p, mode))
    assert run.main(["run", "a0_fashion_mnist", "--profile", "smoke", "--out", str(tmp_path / "out"),
                     "--results-dir", str(locked / "results")]) == 2
    err = capsys.readouterr().err
    assert f"--results-dir {locked / 'results'} is not writable (no write permission on {locked})" in err
    assert "Fix:" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "locked"] and not list(locked.iterdir())
    monkeypatch.setenv("FASHION_MNIST_DIR", str(tmp_path / "fm"))  # a data folder that is not there
    assert run.main(["run", "a0_fashion_mnist", "--profile", "smoke", "--out", str(tmp_path / "out"),
                     "--results-dir", str(tmp_path / "r")]) == 2
    err = capsys.readouterr().err
    assert f"$FASHION_MNIST_DIR is set to {tmp_path / 'fm'}, but {tmp_path / 'fm'} does not exist" in err
    assert "Fix:" in err and sorted(p.name for p in tmp_path.iterdir()) == ["blocker", "locked"]
