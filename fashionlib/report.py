"""Tables for the book built from the runs of results records: paper vs reproduced, paired differences,
timings.

Every "paper vs reproduced" row comes from :func:`compare` (paper value, reproduced mean, std, n, 95%
confidence interval of the mean from the t distribution, difference, and the profile, device and
commit of the runs); every "A beats B" statement from :func:`paired_difference` (the same seeds run
under both settings, the mean of the per-seed differences and its 95% CI). :func:`compare_table` shows
rows rounded to the precision the paper prints.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import stats

from . import results

CONFIDENCE = 0.95


def _mean_ci(values) -> dict:
    """Mean, std (ddof=1), n and the half-width of the t-based 95% CI of the mean (NaN below 2 values)."""
    vals = np.asarray([v for v in np.atleast_1d(values) if v is not None], dtype=float)
    n = int(vals.size)
    mean = float(vals.mean()) if n else math.nan
    std = float(vals.std(ddof=1)) if n > 1 else math.nan
    half = float(stats.t.ppf(0.5 + CONFIDENCE / 2, n - 1) * std / math.sqrt(n)) if n > 1 else math.nan
    return {"mean": mean, "std": std, "n": n, "ci95": half}


def provenance_columns(source) -> dict:
    """The profile, device and commit of a record (``{"provenance": ...}``), of a runs_frame row
    (Series or dict) or of a runs_frame (distinct values joined with ", ")."""
    if source is None:
        return {"profile": "", "device": "", "commit": ""}
    if isinstance(source, dict) and "provenance" in source:
        p = source["provenance"]
        return {"profile": p.get("profile"), "device": p["device"].get("accelerator", "cpu"),
                "commit": str(p.get("git_commit"))[:10]}
    if isinstance(source, pd.DataFrame):
        return {c: ", ".join(dict.fromkeys(str(v)[:10] if c == "commit" else str(v) for v in source[c]))
                for c in ("profile", "device", "commit")}
    return {"profile": source["profile"], "device": source["device"], "commit": str(source["commit"])[:10]}


def compare(values, paper_value: float | None = None, record_or_row=None, *, digits: int = 2) -> dict:
    """One "paper vs reproduced" row: paper, mean, std, n, ci95 (half-width), difference, provenance.

    ``values``: the reproduced metric, one value per seed. ``record_or_row``: where they come from (a
    record, a runs_frame row or the runs_frame rows themselves). ``digits``: the precision the paper
    prints this number with; :func:`compare_table` rounds to it, the returned numbers are exact.
    """
    s = _mean_ci(values)
    diff = s["mean"] - paper_value if paper_value is not None else math.nan
    return {"paper": paper_value, **s, "difference": diff, **provenance_columns(record_or_row), "digits": digits}


def paired_difference(frame: pd.DataFrame, metric: str, by: str, a, b, *, pair_on=("seed",),
                      average_over=(), digits: int = 2) -> dict:
    """Mean of ``metric`` under ``by == a`` minus under ``by == b``, paired over the same seeds.

    Each seed must have exactly one run under each setting (filter the frame first when other settings
    vary, or name them in ``pair_on``, e.g. ``("backbone", "seed")`` to pair per backbone and seed) and
    both settings the same seeds: unpaired seeds are an error, never dropped. ``average_over``: settings
    whose runs are averaged within a pair first, e.g. ``("backbone", "balance")`` for "EdgeNet helps" as
    one difference per seed (the runs of one seed share a split, so they are not independent pairs);
    both sides must then hold the same combinations of those settings for every seed. Returns difference
    (mean of the per-pair differences), std, n (pairs), ci95 (half-width), ci_low, ci_high, seeds (the
    pair keys), diffs (the per-pair differences, in the order of seeds), p (two-sided paired t-test,
    :func:`paired_p_value`), mean_a, mean_b and the provenance columns.
    """
    pair_on, average_over = list(pair_on), list(average_over)
    for col in (metric, by, *pair_on, *average_over):
        if col not in frame.columns:
            raise KeyError(f"paired_difference: no column '{col}' in the runs frame (columns: "
                           f"{', '.join(map(str, frame.columns))}).")
    if average_over:
        combos = {v: frame[frame[by] == v].groupby(pair_on)[average_over].apply(
            lambda g: frozenset(map(tuple, g.astype(str).values))) for v in (a, b)}
        differ = [k for k in set(combos[a].index) & set(combos[b].index) if combos[a][k] != combos[b][k]]
        if differ:
            raise ValueError(f"paired_difference: {by} == {a!r} and {by} == {b!r} have different "
                             f"{'/'.join(average_over)} settings for {sorted(differ)}; run the same grid under both.")
        prov = provenance_columns(frame[frame[by].isin([a, b])])
        frame = frame.groupby([by, *pair_on], as_index=False, sort=False)[metric].mean().assign(**prov)
    sides = {}
    for label, value in (("a", a), ("b", b)):
        rows = frame[frame[by] == value]
        if rows.empty:
            raise ValueError(f"paired_difference: no runs with {by} == {value!r}; values present: "
                             f"{sorted(map(str, frame[by].unique()))}.")
        keys = rows.set_index(pair_on).index
        dup = keys[keys.duplicated()].tolist()
        if dup:
            raise ValueError(f"paired_difference: {by} == {value!r} has more than one run for seed(s) {dup}; "
                             "filter the frame to one run per seed (another setting varies).")
        sides[label] = rows.set_index(pair_on)[metric]
    only_a = sorted(set(sides["a"].index) - set(sides["b"].index))
    only_b = sorted(set(sides["b"].index) - set(sides["a"].index))
    if only_a or only_b:
        raise ValueError(f"paired_difference: unpaired seeds: {by} == {a!r} only has {only_a}, {by} == {b!r} only "
                         f"has {only_b}; run both settings with the same seeds.")
    seeds = sorted(sides["a"].index)
    diffs = [float(sides["a"][s]) - float(sides["b"][s]) for s in seeds]
    s = _mean_ci(diffs)
    return {"a": a, "b": b, "metric": metric, "difference": s["mean"], "std": s["std"], "n": s["n"],
            "ci95": s["ci95"], "ci_low": s["mean"] - s["ci95"], "ci_high": s["mean"] + s["ci95"], "seeds": seeds,
            "diffs": diffs, "p": paired_p_value(s["mean"], s["std"], s["n"]),
            "mean_a": float(sides["a"].mean()), "mean_b": float(sides["b"].mean()),
            **provenance_columns(frame[frame[by].isin([a, b])]), "digits": digits}


def paired_p_value(mean: float, std: float, n: int) -> float:
    """Two-sided p-value of a paired t-test (mean difference zero) from the differences' mean, std and n."""
    if n < 2 or math.isnan(std):
        return math.nan
    if std == 0:
        return 0.0 if mean != 0 else 1.0
    return float(2 * stats.t.sf(abs(mean) / (std / math.sqrt(n)), n - 1))


def holm(p_values) -> np.ndarray:
    """Holm's step-down adjustment of a family of p-values (NaN stays NaN, and is not counted).

    The adjusted p of the k-th smallest of m is ``max over j <= k of min(1, (m - j + 1) * p_(j))``; a claim is
    significant at level alpha when its adjusted p is below alpha (Holm 1979: the family-wise error rate
    stays at alpha). The same numbers as ``statsmodels.stats.multitest.multipletests(method="holm")``.
    """
    p = np.asarray(p_values, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = len(ok)
    if not m:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adjusted = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adjusted
    return out


def min_detectable_difference(std: float, n: int, alpha: float = 0.05, power: float = 0.8) -> float:
    """The smallest true mean difference a two-sided paired t-test on ``n`` pairs detects with ``power``.

    From the noncentral t distribution (scipy): the effect size d with power(d) = ``power`` at level
    ``alpha``, times the observed std of the differences. NaN below 2 pairs. Beside a "not shown": a
    difference this large would have been detected 80% of the time; smaller ones may be there.
    """
    if n < 2 or math.isnan(std):
        return math.nan
    from scipy.optimize import brentq

    df = n - 1
    crit = stats.t.ppf(1 - alpha / 2, df)

    def gap(d):
        nc = d * math.sqrt(n)
        lower = stats.nct.cdf(-crit, df, nc)  # the wrong-sign rejections; scipy gives NaN where it is ~0
        return stats.nct.sf(crit, df, nc) + (0.0 if math.isnan(lower) else lower) - power

    return float(brentq(gap, 1e-6, 50.0) * std)


def best_group(frame: pd.DataFrame, by, metric: str = "val_accuracy") -> tuple:
    """The values of the ``by`` columns whose runs have the highest mean ``metric``: a choice made on the
    validation split (the default metric), never on the test set."""
    means = frame.groupby(list(by), sort=False, dropna=False)[metric].mean()
    best = means.idxmax()
    return tuple(v.item() if hasattr(v, "item") else v for v in (best if isinstance(best, tuple) else (best,)))


def _fmt(value, digits: int) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    return f"{value:.{digits}f}"


def compare_table(rows: dict[str, dict], index_name: str = "") -> pd.DataFrame:
    """A "paper vs reproduced" table from ``{label: compare(...)}``, each row rounded to its ``digits``.

    Columns: paper, mean, std, n, 95% CI (of the mean, t distribution), difference, profile, device,
    commit. Empty cells: no paper value, or one seed (no spread is known).
    """
    out = []
    for label, r in rows.items():
        d = r.get("digits", 2)
        ci = "" if math.isnan(r["ci95"]) else f"[{_fmt(r['mean'] - r['ci95'], d)}, {_fmt(r['mean'] + r['ci95'], d)}]"
        out.append({index_name: label, "paper": _fmt(r["paper"], d), "mean": _fmt(r["mean"], d),
                    "std": _fmt(r["std"], d), "n": r["n"], "95% CI": ci,
                    "difference": _fmt(r["difference"], d) if r["paper"] is not None else "",
                    "profile": r["profile"], "device": r["device"], "commit": r["commit"]})
    return pd.DataFrame(out).set_index(index_name)


def _groups(frame: pd.DataFrame, by: list[str]):
    if not by:
        yield (), frame
        return
    for key, rows in frame.groupby(by, sort=False, dropna=False):
        yield (key if isinstance(key, tuple) else (key,)), rows


def compare_groups(frame: pd.DataFrame, metrics: dict[str, int], *, by: list[str] | tuple = (),
                   paper_values=None) -> dict[str, dict]:
    """:func:`compare` rows for each group of ``by`` columns and each metric, labelled "group, metric".

    ``metrics``: metric -> digits the paper prints it with. ``paper_values``: ``(group key tuple, metric)
    -> paper value or None``.
    """
    rows = {}
    for key, runs in _groups(frame, list(by)):
        for metric, digits in metrics.items():
            value = paper_values(key, metric) if paper_values else None
            rows[", ".join([*map(str, key), metric])] = compare(runs[metric], value, runs, digits=digits)
    return rows


def paper_runs_table(notebook: str, metrics: dict[str, int], *, by: list[str] | tuple = (), paper_values=None,
                     profile: str = "paper", results_dir=None) -> pd.DataFrame | None:
    """The committed ``profile`` runs of a notebook as a compare table (:func:`compare_groups`), or None."""
    frame = results.runs_frame(notebook, profile, results_dir_=results_dir)
    if frame.empty:
        return None
    return compare_table(compare_groups(frame, metrics, by=by, paper_values=paper_values))


def show_paper_runs(notebook: str, metrics: dict[str, int], **kw) -> None:
    """Display :func:`paper_runs_table` (or how to produce it when nothing is committed).

    The one call of a notebook's cell tagged ``paper-record``; the runner hides that cell on paper pages.
    It returns nothing: a returned table, the cell's last value, would be shown a second time.
    """
    from IPython.display import display

    table = paper_runs_table(notebook, metrics, **kw)
    if table is None:
        print(f"no committed paper-profile record yet: run `python -m fashionlib run {notebook} --profile paper`")
    else:
        display(table)


def timings_table(results_dir=None) -> pd.DataFrame:
    """Wall time of the newest run of each notebook at each profile, from the records."""
    rows = []
    for rec in results.load_records(results_dir_=results_dir):
        p = rec["provenance"]
        if p.get("wall_time_s") is None or p.get("notebook", "").startswith("bench"):
            continue
        rows.append({"notebook": p["notebook"], "profile": p["profile"], "minutes": p["wall_time_s"] / 60,
                     "device": p["device"].get("accelerator", "cpu"), "cores": p["device"].get("cpu_count"),
                     "started": p["started"]})
    if not rows:
        return pd.DataFrame(columns=["notebook", "profile", "minutes", "device", "cores"])
    df = pd.DataFrame(rows).sort_values("started").groupby(["notebook", "profile"]).last().reset_index()
    return df.drop(columns="started")


def chance_at_least(values, target: float) -> dict:
    """The chance that one more run reaches ``target``, estimated two ways from per-seed values.

    ``empirical``: the fraction of the given runs at or above ``target`` (with n runs it can only be a
    multiple of 1/n, and 0 says little when n is small). ``normal``: ``P(X >= target)`` for a normal
    distribution with the runs' mean and standard deviation (ddof=1); NaN for fewer than two runs.
    """
    from scipy import stats

    vals = np.asarray([v for v in np.atleast_1d(values) if v is not None], dtype=float)
    if vals.size == 0:
        raise ValueError("chance_at_least needs at least one value.")
    sd = float(vals.std(ddof=1)) if vals.size > 1 else np.nan
    if vals.size < 2:
        normal = np.nan
    elif sd == 0:
        normal = float(vals.mean() >= target)
    else:
        normal = float(stats.norm.sf(target, loc=vals.mean(), scale=sd))
    return {"empirical": float(np.mean(vals >= target)), "normal": normal, "n": int(vals.size)}


def expected_best_of(values, k: int) -> dict:
    """The expected best of ``k`` independent runs, from per-seed values, two ways.

    ``empirical``: ``E[max]`` of ``k`` draws with replacement from the observed values (closed form over
    the order statistics: ``sum_i x_(i) * ((i/n)^k - ((i-1)/n)^k)``), which never exceeds the best value
    seen. ``normal``: ``mean + sd * E[max of k standard normals]`` (the latter by numerical integration),
    which can; NaN for fewer than two runs. Both say how far "report the best of k runs" moves a number.
    """
    from scipy import integrate, stats

    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or k < 1:
        raise ValueError(f"k must be an integer >= 1 (number of runs), got {k!r}.")
    vals = np.sort(np.asarray([v for v in np.atleast_1d(values) if v is not None], dtype=float))
    n = vals.size
    if n == 0:
        raise ValueError("expected_best_of needs at least one value.")
    i = np.arange(1, n + 1)
    empirical = float(np.sum(vals * ((i / n) ** k - ((i - 1) / n) ** k)))
    if n < 2:
        normal = np.nan
    else:
        pdf_max = lambda z: z * k * stats.norm.pdf(z) * stats.norm.cdf(z) ** (k - 1)  # noqa: E731
        e_max = integrate.quad(pdf_max, -np.inf, np.inf)[0]
        normal = float(vals.mean() + vals.std(ddof=1) * e_max)
    return {"empirical": empirical, "normal": normal, "n": int(n), "k": int(k)}


def paired_difference_same_env(frame: pd.DataFrame, metric: str, by: str, a, b, env: str = "env", **kw) -> dict:
    """:func:`paired_difference` restricted to runs of ``a`` and ``b`` made in the same environment.

    ``env``: a column naming where each run was trained (e.g. device and Keras backend); runs of the two
    settings are paired only within one environment and over the seeds both have there (the environment
    with the most such seeds wins; where ``a`` has several runs of a seed there, the one from a record
    that also holds ``b`` is taken). Returns ``paired_difference``'s dict plus ``comparable=True`` and
    ``env``; or ``{"comparable": False, "reason": ...}`` when no environment holds both with a common
    seed -- a margin across backends or devices is then not computed at all.
    """
    for col in (metric, by, env):
        if col not in frame.columns:
            raise KeyError(f"paired_difference_same_env: no column '{col}' in the runs frame.")
    side = {v: frame[frame[by] == v] for v in (a, b)}
    for v, rows in side.items():
        if rows.empty:
            raise ValueError(f"paired_difference_same_env: no runs with {by} == {v!r}.")
    shared = {e: sorted(set(side[a].loc[side[a][env] == e, "seed"]) & set(side[b].loc[side[b][env] == e, "seed"]))
              for e in set(side[a][env]) & set(side[b][env])}
    shared = {e: s for e, s in shared.items() if s}
    if not shared:
        return {"comparable": False, "a": a, "b": b,
                "reason": f"{a} ran on {', '.join(sorted(map(str, set(side[a][env]))))}; {b} on "
                          f"{', '.join(sorted(map(str, set(side[b][env]))))}: no environment and seed in common"}
    e = max(shared, key=lambda k: (len(shared[k]), str(k)))
    pick_b = side[b][(side[b][env] == e) & side[b]["seed"].isin(shared[e])]
    pick_a = side[a][(side[a][env] == e) & side[a]["seed"].isin(shared[e])]
    if "record" in frame.columns:
        pick_a = pick_a.assign(_own=~pick_a["record"].isin(set(pick_b["record"]))).sort_values("_own", kind="stable")
        pick_a = pick_a.drop(columns="_own")
    pick_a = pick_a.drop_duplicates("seed", keep="first")
    pick_b = pick_b.drop_duplicates("seed", keep="first")
    return {**paired_difference(pd.concat([pick_a, pick_b]), metric, by, a, b, **kw), "comparable": True, "env": e}


def curve_claims(frame: pd.DataFrame, keys) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check the paper's Fig. 4/5 descriptions (``paper.JICT_CURVE_CLAIMS[key]``) on runs' histories.

    ``frame``: one row per run with columns model, seed and history (a runs_frame, or the same built
    from a notebook's runs). Returns ``(per_run, claims)``: :func:`metrics.curve_summary` of every run
    of the claims' models, and one row per claim -- the value the description implies, the measured mean,
    min and max over the runs, n, whether it holds (every run at or above the implied value) and the
    epochs where training and validation curves cross (min-max over the runs).
    """
    from . import metrics, paper

    missing = [k for k in keys if k not in paper.JICT_CURVE_CLAIMS]
    if missing:
        raise KeyError(f"curve_claims: unknown claim(s) {missing}; known: {', '.join(paper.JICT_CURVE_CLAIMS)}.")
    models = {paper.JICT_CURVE_CLAIMS[k]["model"] for k in keys}
    runs = frame[frame["model"].isin(models)]
    per_run = pd.DataFrame([{"model": r.model, "seed": r.seed, **metrics.curve_summary(r.history)}
                            for r in runs.itertuples() if r.history is not None])

    def span(values):
        vals = [int(v) for v in values if v is not None and not pd.isna(v)]
        if len(vals) < len(values):
            return f"never in {len(values) - len(vals)} of {len(values)} runs" + (
                f"; {min(vals)}-{max(vals)} in the others" if vals else "")
        return f"{min(vals)}" if min(vals) == max(vals) else f"{min(vals)}-{max(vals)}"

    rows = []
    for key in keys:
        c = paper.JICT_CURVE_CLAIMS[key]
        mine = per_run[per_run["model"] == c["model"]] if len(per_run) else per_run
        vals = mine[c["measure"]] if len(mine) else pd.Series(dtype=float)
        rows.append({"claim": c["claim"], "reference": c["reference"], "implied by the text": c["paper_value"],
                     "mean": float(vals.mean()) if len(vals) else math.nan,
                     "min": float(vals.min()) if len(vals) else math.nan,
                     "max": float(vals.max()) if len(vals) else math.nan, "n": int(len(vals)),
                     "holds": ("no runs" if not len(vals) else "yes" if bool((vals >= c["paper_value"]).all())
                               else "no"),
                     "training passes validation accuracy (epoch)": span(list(mine["accuracy_crossing_epoch"]))
                     if len(mine) else "",
                     "validation loss passes training loss (epoch)": span(list(mine["loss_crossing_epoch"]))
                     if len(mine) else "",
                     "validation loss lowest (epoch)": span(list(mine["val_loss_min_epoch"])) if len(mine) else ""})
    return per_run, pd.DataFrame(rows).set_index("claim")
