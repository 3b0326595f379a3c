"""The project's own mutation check: every breakage that would change a verdict must fail a test.

Each entry of :data:`MUTANTS` names a realistic breakage (a wrong metric key, an off-by-one in a
confidence interval, a schedule formula, normalisation, seed handling, a data split, a claim's
threshold, a check of bad input removed ...) as one textual edit of one file, and the tests that must
catch it. The script copies the repository (tracked and untracked, not ignored files) to a scratch
folder, runs the union of those tests there once unchanged (they must pass), then applies each edit
alone and runs only its tests (``pytest -x``). It fails when

* a breakage survives (its tests pass with the edit applied),
* a breakage's old text is no longer found exactly once in its file (the list must follow the code,
  never rot silently), or its new text equals the old,
* a named test does not exist (pytest exit 4/5) or the edit breaks collection (exit 2): a breakage
  must be caught by a failing assertion, not by a missing test or a syntax error.

    python scripts/mutants.py               # all of them (make mutants)
    python scripts/mutants.py --list        # the table of breakages and their tests
    python scripts/mutants.py -k pairing    # those whose name contains 'pairing'
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Mutant:
    name: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


T_REPORT, T_DATA, T_TORCH, T_KERAS = "tests/test_report.py", "tests/test_data.py", "tests/test_train_torch.py", \
    "tests/test_train_keras.py"
T_CAT = "tests/test_catalogue.py::test_bad_input_ends_as_registered"
STATUS = f"{T_REPORT}::test_every_claim_keeps_its_paper_value_and_status_from_the_committed_records"
EDGES = f"{T_REPORT}::test_claim_status_edges"
CI = f"{T_REPORT}::test_compare_gives_mean_std_n_t_interval_and_difference"
PAIRS = f"{T_REPORT}::test_paired_difference_pairs_the_same_seeds"
LOSS_CW = f"{T_TORCH}::test_balancing_loss_and_gradient_are_not_plain_cross_entropy[class_weights]"
LOSS_LA = f"{T_TORCH}::test_balancing_loss_and_gradient_are_not_plain_cross_entropy[logit_adjust]"
TORCH_ORDER = f"{T_TORCH}::test_data_order_changes_every_epoch_and_is_reproducible_per_seed"
KERAS_ORDER = f"{T_KERAS}::test_batch_order_changes_every_epoch_and_is_reproducible_per_seed"
NORM = f"{T_DATA}::test_validation_and_test_are_normalised_with_the_training_statistics"
SPLIT = f"{T_DATA}::test_split_is_stratified_and_seed_stable"
PATHS = "tests/test_runner.py::test_an_output_folder_below_a_file_or_without_permission_is_refused"

MUTANTS: list[Mutant] = [
    # ---- study B: the losses the balancing verdicts rest on
    Mutant("class_weights trained as plain cross-entropy", "fashionlib/train_torch.py",
           "                               weight=run.class_weight)", "                               weight=None)",
           (LOSS_CW,)),
    Mutant("class_weights never built (setting name typo)", "fashionlib/train_torch.py",
           'if cfg.balance == "class_weights":', 'if cfg.balance == "class_weight":', (LOSS_CW,)),
    Mutant("logit_adjust trained as plain cross-entropy", "fashionlib/train_torch.py",
           "F.cross_entropy(logits if run.logit_offset is None else logits + run.logit_offset, y,",
           "F.cross_entropy(logits, y,", (LOSS_LA,)),
    Mutant("logit adjustment with the wrong sign", "fashionlib/balance.py",
           "torch.tensor(tau * np.log(priors)", "torch.tensor(-tau * np.log(priors)",
           (f"tests/test_balance.py::test_class_weights_and_logit_adjustment", LOSS_LA)),
    Mutant("class weights all one", "fashionlib/balance.py",
           'w[present] = compute_class_weight("balanced", classes=present, y=labels)', "w[present] = 1.0",
           ("tests/test_balance.py::test_class_weights_and_logit_adjustment", LOSS_CW)),
    Mutant("resampling target: the mean where the median is asked", "fashionlib/balance.py",
           '"median": np.median,', '"median": np.mean,', ("tests/test_balance.py::test_balance_targets",)),
    # ---- study B: seed handling and data order
    Mutant("sampler ignores the seed", "fashionlib/train_torch.py",
           "shuffle=True,\n                                                  seed=cfg.seed)",
           "shuffle=True,\n                                                  seed=0)", (TORCH_ORDER,)),
    Mutant("batches never reshuffled after the first epoch (torch)", "fashionlib/train_torch.py",
           "    run.sampler.set_epoch(epoch)\n", "    run.sampler.set_epoch(0)\n", (TORCH_ORDER,)),
    Mutant("test subset drawn per seed, not fixed", "fashionlib/fmnist_standin.py",
           "sets = {\"balanced\": np.sort(np.concatenate([ix[:balanced_per_class] for ix in per_class]))}",
           "sets = {\"balanced\": np.sort(np.concatenate([np.random.default_rng().permutation(ix)[:balanced_per_class]"
           " for ix in per_class]))}", ("tests/test_balance.py::test_official_test_subset_is_balanced_and_fixed",)),
    Mutant("record: test accuracy taken from the balanced accuracy", "fashionlib/train_torch.py",
           'metrics = {"accuracy": t["acc"],', 'metrics = {"accuracy": t["balanced_acc"],',
           (f"{T_TORCH}::test_a_run_records_each_metric_under_its_own_name",)),
    Mutant("record: best validation accuracy is the last epoch's", "fashionlib/train_torch.py",
           '"best_val_accuracy": max(h["val_acc"] for h in hist)', '"best_val_accuracy": last["val_acc"]',
           (f"{T_TORCH}::test_a_run_records_each_metric_under_its_own_name",)),
    # ---- study A: data order, saved models, schedule, normalisation, split
    Mutant("batches never reshuffled after the first epoch (Keras)", "fashionlib/keras_callbacks.py",
           "        self.batches.set_epoch(epoch)\n", "        self.batches.set_epoch(0)\n", (KERAS_ORDER,)),
    Mutant("Keras batch order ignores the epoch", "fashionlib/keras_batches.py",
           "return np.random.default_rng([int(seed), int(epoch)]).permutation", "return np.random.default_rng([int(seed), 0]).permutation",
           (KERAS_ORDER,)),
    Mutant("run_many saves an untrained model", "fashionlib/keras_runs.py",
           "path = save_model_atomic(inference_copy(res.model, cfg.model, cfg.augment), save_path)",
           "path = save_model_atomic(build_model(cfg.model, augment=cfg.augment), save_path)",
           (f"{T_KERAS}::test_run_many_saves_the_model_it_trained",)),
    Mutant("paper schedule reaches lr_end one epoch early", "fashionlib/schedules.py",
           "return (lr_end / lr0) ** (1.0 / epochs) if epochs > 0 else 1.0",
           "return (lr_end / lr0) ** (1.0 / max(epochs - 1, 1)) if epochs > 0 else 1.0",
           ("tests/test_schedules.py::test_paper_schedule_starts_at_lr0_and_reaches_lr_end",)),
    Mutant("val/test normalised with their own statistics", "fashionlib/data.py",
           "return ((images.astype(np.float32) / 255.0 - mean) / std)[..., None].astype(np.float32)",
           "return ((images.astype(np.float32) / 255.0 - images.mean() / 255.0) / (images.std() / 255.0))"
           "[..., None].astype(np.float32)", (NORM,)),
    Mutant("normalisation statistics from all 60,000 images", "fashionlib/data.py",
           "mean, std = normalisation_stats(x_tr)", "mean, std = normalisation_stats(fm.x_train)", (NORM,)),
    Mutant("validation split ignores the seed", "fashionlib/data.py",
           "test_size=val_size, stratify=labels, random_state=seed)", "test_size=val_size, stratify=labels, random_state=0)",
           (SPLIT,)),
    Mutant("validation split not stratified", "fashionlib/data.py",
           "test_size=val_size, stratify=labels, random_state=seed)", "test_size=val_size, stratify=None, random_state=seed)",
           (SPLIT,)),
    Mutant("long-tailed profile exponent off by one", "fashionlib/data.py",
           "(1 / imbalance_factor) ** (c / (num_classes - 1))", "(1 / imbalance_factor) ** (c / num_classes)",
           (f"{T_DATA}::test_long_tailed_profile",)),
    Mutant("accuracy as a fraction, not percent", "fashionlib/metrics.py",
           'out = {"accuracy": 100.0 * accuracy(y_true, proba),', 'out = {"accuracy": accuracy(y_true, proba),',
           ("tests/test_metrics.py::test_summary_in_percent",)),
    # ---- report: intervals and pairing
    Mutant("paired difference pairs by position, not by seed", "fashionlib/report.py",
           'diffs = [float(sides["a"][s]) - float(sides["b"][s]) for s in seeds]',
           'diffs = [float(x) - float(y) for x, y in zip(sides["a"], sides["b"])]', (PAIRS,)),
    Mutant("paired difference b - a", "fashionlib/report.py",
           'diffs = [float(sides["a"][s]) - float(sides["b"][s]) for s in seeds]',
           'diffs = [float(sides["b"][s]) - float(sides["a"][s]) for s in seeds]', (PAIRS,)),
    Mutant("CI: t quantile with n degrees of freedom", "fashionlib/report.py",
           "stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)", "stats.t.ppf(0.5 + CONFIDENCE / 2, n)", (CI,)),
    Mutant("CI: normal quantile instead of t", "fashionlib/report.py",
           "stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1)", "stats.norm.ppf(0.5 + CONFIDENCE / 2)", (CI,)),
    Mutant("CI: population std (ddof=0)", "fashionlib/report.py",
           "std = float(vals.std(ddof=1)) if n > 1 else math.nan", "std = float(vals.std(ddof=0)) if n > 1 else math.nan",
           (CI,)),
    Mutant("CI: standard error over sqrt(n - 1)", "fashionlib/report.py",
           "* std / math.sqrt(n))", "* std / math.sqrt(n - 1))", (CI,)),
    # ---- claims: paper values, thresholds, verdicts
    Mutant("headline 92.87 changed", "fashionlib/paper.py",
           '"test_accuracy": 92.87,', '"test_accuracy": 92.78,', (STATUS,)),
    Mutant("Table 2 CNN accuracy changed", "fashionlib/paper.py",
           '"cnn": {"accuracy": 89.10, "loss": 0.37},', '"cnn": {"accuracy": 89.01, "loss": 0.37},', (STATUS,)),
    Mutant("Table 2 tolerance widened", "fashionlib/claims.py",
           "TOLERANCE = 1.5", "TOLERANCE = 1.6", (STATUS,)),
    Mutant("claim limit without round-off slack", "fashionlib/claims.py",
           "    eps = 1e-9\n    low,", "    eps = 0.0\n    low,", (EDGES,)),
    Mutant("claim limit exclusive", "fashionlib/claims.py",
           'if mean >= low and', 'if mean > low + 2 * eps and',
           (EDGES,)),
    Mutant("two-sided claims never 'above the paper'", "fashionlib/claims.py",
           "return \"above the paper\" if mean - ci95 > high else", "return \"inconclusive\" if mean - ci95 > high else",
           (EDGES,)),
    Mutant("a reduced run gives a verdict", "fashionlib/claims.py",
           'elif out["profile"] != "paper":', 'elif out["profile"] not in ("paper", "cpu"):', (EDGES,)),
    Mutant("stand-in: an interval touching zero counts as support", "fashionlib/standin_claims.py",
           'if diff["ci_low"] > 0 else', 'if diff["ci_low"] >= 0 else',
           (f"{T_REPORT}::test_standin_verdict_needs_the_whole_interval_beyond_zero",)),
    Mutant("stand-in claims judged on the raw p, not Holm's", "fashionlib/standin_claims.py",
           'if row["p_holm"] < ALPHA:', 'if row["p"] < ALPHA:',
           (f"{T_REPORT}::test_standin_claims_are_judged_after_holm_over_the_claim_family",)),
    Mutant("Holm's adjustment without the step-down multiplier", "fashionlib/report.py",
           "np.maximum.accumulate((m - np.arange(m)) * p[order])", "np.maximum.accumulate(p[order])",
           (f"{T_REPORT}::test_holm_and_the_minimum_detectable_difference",)),
    Mutant("setting chosen on the test metric", "fashionlib/claims.py",
           "best = report.best_group(rows, claim.group, claim.choose_on)",
           "best = report.best_group(rows, claim.group, claim.metric)",
           (f"{T_REPORT}::test_chosen_on_validation_and_paired_claims",)),
    Mutant("headline claim reads the wrong metric key", "fashionlib/claims.py",
           '"a1_improved_cnn", "accuracy", _H["test_accuracy"],', '"a1_improved_cnn", "val_accuracy", _H["test_accuracy"],',
           (STATUS,)),
    # ---- bad input: refused before work, with the specific reason
    Mutant("test_per_class <= 1000 rule removed", "fashionlib/rules.py",
           "\"test_per_class\": (lambda v: v is None or (_positive_int(v) and v <= 1000),",
           "\"test_per_class\": (lambda v: v is None or _positive_int(v),",
           (f"{T_CAT}[test_per_class above the official test set]",)),
    Mutant("test_per_class limit exclusive", "fashionlib/rules.py",
           "\"test_per_class\": (lambda v: v is None or (_positive_int(v) and v <= 1000),",
           "\"test_per_class\": (lambda v: v is None or (_positive_int(v) and v < 1000),",
           ("tests/test_parameter_checks.py::test_limits_are_inclusive_and_unchanged_defaults_are_not_ignored_parameters",)),
    Mutant("FASHION_MNIST_DIR falls back to another copy", "fashionlib/data.py",
           "    if not os.environ.get(ENV_VAR):\n        return None", "    if True:\n        return None",
           (f"{T_CAT}[FASHION_MNIST_DIR names a missing folder]", f"{T_CAT}[FASHION_MNIST_DIR lacks one file]")),
    Mutant("checksum compared before the file's structure", "fashionlib/data.py",
           "        raws[key] = _decompress(folder / name)\n",
           "        raws[key] = _decompress(folder / name)\n        if verify:\n"
           "            verify_checksum(folder / name, raw=raws[key])\n",
           (f"{T_CAT}[wrong IDX magic number]",)),
    Mutant("label range off by one", "fashionlib/data.py",
           'if kind == "labels" and array.size and array.max() >= NUM_CLASSES:',
           'if kind == "labels" and array.size and array.max() > NUM_CLASSES:', (f"{T_CAT}[labels out of range]",)),
    Mutant("runner writes without checking its folders", "fashionlib/run.py",
           "    book.check_paths(out_dir, results_dir)  #", "    pass  #", (PATHS,)),
    Mutant("runner does not check FASHION_MNIST_DIR", "fashionlib/book.py",
           "    data.env_dir()\n", "    pass\n", (PATHS,)),
    Mutant("folder check ignores write permission", "fashionlib/files.py",
           "if not os.access(existing, os.W_OK | os.X_OK):", "if not os.access(existing, os.R_OK):", (PATHS,)),
]


def _copy_tree(dest: Path) -> None:
    """The working tree as git sees it (tracked, and untracked files that are not ignored)."""
    files = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                           capture_output=True, check=True).stdout.decode().split("\0")
    for rel in filter(None, files):
        src = REPO / rel
        if src.is_file() and not src.is_symlink():
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / rel)


def check_list(mutants: list[Mutant]) -> list[str]:
    """Problems with the list itself: an old text not found exactly once, a no-op edit, a repeated name."""
    problems, names = [], set()
    for m in mutants:
        if m.name in names:
            problems.append(f"{m.name}: the name is used twice")
        names.add(m.name)
        path = REPO / m.file
        count = path.read_text().count(m.old) if path.is_file() else 0
        if count != 1:
            problems.append(f"{m.name}: its old text is found {count} times in {m.file} (expected once); "
                            "update the breakage to the code")
        if m.old == m.new:
            problems.append(f"{m.name}: the new text equals the old")
        if not m.tests:
            problems.append(f"{m.name}: no test named to catch it")
    return problems


# Libraries every test process imports (tests/conftest.py imports torch): imported once per worker, before
# it forks one child per pytest run. Never fashionlib (each child must import the edited file) nor
# TensorFlow/JAX (they start threads, which a fork does not carry).
PRELOAD = ("numpy", "pandas", "scipy.stats", "sklearn.model_selection", "sklearn.metrics", "sklearn.utils",
           "imblearn.over_sampling", "torch", "triton", "torchvision", "timm", "PIL.Image", "nbformat", "jupytext",
           "pytest")


def _preload() -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - an absent library is the tests' concern, not this one's
            pass
    loaded = [m for m in sys.modules if m == "fashionlib" or m.startswith(("fashionlib.", "tests"))]
    if loaded:
        raise RuntimeError(f"mutants: {loaded} imported before the fork; the children would not see the edits.")


def _pytest(root: Path, tests, timeout: int) -> tuple[int, str, float]:
    """Run ``pytest -x tests`` in a forked child with ``root`` first on the path; (exit code, output, seconds).

    Exit code -1: killed after ``timeout`` seconds."""
    import signal

    t0 = time.perf_counter()
    with tempfile.TemporaryFile(mode="w+") as log:
        pid = os.fork()
        if pid == 0:  # the child: a fresh fashionlib from root, pytest's output into the log
            code = 3
            try:
                os.dup2(log.fileno(), 1)
                os.dup2(log.fileno(), 2)
                os.chdir(root)
                sys.path.insert(0, str(root))
                os.environ.update(PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1")
                os.environ.pop("FASHIONLIB_SMOKE_BOOK", None)
                sys.dont_write_bytecode = True
                import fashionlib
                import pytest

                if not Path(fashionlib.__file__).resolve().is_relative_to(root.resolve()):
                    raise RuntimeError(f"fashionlib imported from {fashionlib.__file__}, not from {root}")
                code = int(pytest.main(["-x", "-q", "-p", "no:cacheprovider", "--no-header",
                                        "-W", "ignore::pytest.PytestAssertRewriteWarning", *tests]))
            except BaseException as exc:  # noqa: BLE001 - reported as exit 3 with the reason
                print(f"mutants: the test process failed to run: {exc!r}", flush=True)
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        deadline = time.monotonic() + timeout
        while True:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                rc = os.waitstatus_to_exitcode(status)
                break
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                rc = -1
                break
            time.sleep(0.1)
        log.seek(0)
        out = log.read()
    if rc == -1:
        out = f"timed out after {timeout} s\n{out}"
    return rc, out, time.perf_counter() - t0


def run_worker(root: Path, mutants: list[Mutant], timeout: int) -> int:
    """Check the unchanged copy at ``root`` with the union of the tests, then each breakage alone."""
    _preload()
    tests = list(dict.fromkeys(t for m in mutants for t in m.tests))
    rc, out, secs = _pytest(root, tests, timeout * 2)
    print(f"[mutants] unchanged copy: {len(tests)} tests, exit {rc} ({secs:.0f} s)", flush=True)
    if rc != 0:
        print(out[-4000:] + "\nmutants: the tests fail on the unchanged code; fix them first.", file=sys.stderr)
        return 1
    failed = []
    for m in mutants:
        path = root / m.file
        original = path.read_text()
        path.write_text(original.replace(m.old, m.new, 1))
        try:
            rc, out, secs = _pytest(root, m.tests, timeout)
        finally:
            path.write_text(original)
        verdict = {0: "SURVIVED", 1: "caught"}.get(rc, f"ERROR (pytest exit {rc})")
        print(f"[mutants] {verdict:8s} {secs:5.1f} s  {m.name}", flush=True)
        if rc != 1:
            failed.append((m, verdict, out))
    for m, verdict, out in failed:
        print(f"\n{verdict}: {m.name} ({m.file}: {m.old.strip()!r} -> {m.new.strip()!r}); tests: "
              f"{', '.join(m.tests)}\n{out[-1500:]}", file=sys.stderr)
    return len(failed)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("-k", dest="select", help="only breakages whose name contains this text")
    ap.add_argument("--list", action="store_true", help="print the breakages and their tests, run nothing")
    ap.add_argument("--jobs", type=int, default=2, help="worker processes, each on its own copy (default 2)")
    ap.add_argument("--timeout", type=int, default=300, help="seconds per pytest run (default 300)")
    ap.add_argument("--worker", nargs=2, metavar=("ROOT", "K/N"), help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    mutants = [m for m in MUTANTS if not args.select or args.select in m.name]
    if args.worker:
        k, n = map(int, args.worker[1].split("/"))
        return 1 if run_worker(Path(args.worker[0]), mutants[k::n], args.timeout) else 0
    if args.list:
        for m in mutants:
            print(f"{m.name}\n    {m.file}: {m.old.strip()!r} -> {m.new.strip()!r}\n    caught by: {', '.join(m.tests)}")
        print(f"{len(mutants)} breakages")
        return 0
    problems = check_list(MUTANTS)
    if problems:
        print("mutants: the list no longer fits the code:\n  " + "\n  ".join(problems), file=sys.stderr)
        return 1
    if not mutants:
        print(f"mutants: no breakage matches -k {args.select!r}", file=sys.stderr)
        return 1
    started = time.perf_counter()
    jobs = max(1, min(args.jobs, len(mutants)))
    with tempfile.TemporaryDirectory(prefix="fashionlib-mutants-") as tmp:
        roots = [Path(tmp) / f"copy{k}" for k in range(jobs)]
        _copy_tree(roots[0])
        for root in roots[1:]:
            shutil.copytree(roots[0], root)
        cmd = [sys.executable, str(Path(__file__).resolve()), "--timeout", str(args.timeout)]
        cmd += ["-k", args.select] if args.select else []
        procs = [subprocess.Popen([*cmd, "--worker", str(root), f"{k}/{jobs}"]) for k, root in enumerate(roots)]
        codes = [p.wait() for p in procs]
    total = time.perf_counter() - started
    ok = all(c == 0 for c in codes)
    print(f"[mutants] {len(mutants)} breakages, {jobs} workers: {'all caught' if ok else 'NOT ALL CAUGHT (see above)'} "
          f"in {total:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
