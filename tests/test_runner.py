"""The runner: parameters injected, outputs atomic, up-to-date notebooks skipped, parallel runs independent."""

import json
import os
import subprocess
import sys

import nbformat
import pytest

from fashionlib import run


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
    names = [n for n in run.profiles.NOTEBOOKS if (run.NOTEBOOK_DIR / f"{n}.md").is_file()]
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
    run.as_paper_page(nb)
    run.as_paper_page(nb)  # idempotent
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
    run.as_paper_page(nb)
    run.as_paper_page(nb)
    hidden = [i for i, c in enumerate(nb.cells) if "remove-cell" in c.metadata.get("tags", [])]
    assert hidden == [2, 3]
    assert nb.cells[3].metadata["tags"] == ["paper-record", "remove-cell"], "tagged once"


def test_a_paper_section_heading_joined_to_a_figure_is_split_off_before_hiding():
    figure = "```{glue:figure} f\n:name: fig-f\nCaption.\n```"
    nb = nbformat.v4.new_notebook(cells=[
        nbformat.v4.new_markdown_cell(figure + "\n\n(a9-paper-profile)=\n## The committed paper-profile run"),
        nbformat.v4.new_code_cell('report.show_paper_runs(NB, {"accuracy": 2})', metadata={"tags": ["paper-record"]}),
    ])
    run.as_paper_page(nb)
    run.as_paper_page(nb)
    assert len(nb.cells) == 3
    assert nb.cells[0].source == figure.replace("fig-f", "paper-fig-f") and not nb.cells[0].metadata.get("tags")
    assert nb.cells[1].source.startswith("(paper-a9-paper-profile)=")
    assert [c.metadata.get("tags") for c in nb.cells[1:]] == [["remove-cell"], ["paper-record", "remove-cell"]]
