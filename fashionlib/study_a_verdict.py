"""Study A's verdict (a6): which reading of Table 1 under which protocol reaches the paper's 92.87%, as a
table and in plain words, from the A6 claims (:data:`claims.A6_CLAIMS`)."""

from __future__ import annotations

import math

import pandas as pd

from . import claims, paper, report, verdict_words

_PAPER_ACCURACY = paper.JICT_HEADLINE["test_accuracy"]


def a6_verdict(results_dir=None) -> pd.DataFrame | None:
    """Study A's verdict as a table, from the A6 claims: one row per (protocol, reading), the diagnostic last.

    Index: (protocol key of :data:`claims.A6_PROTOCOLS` or "diagnostic", model). Columns: protocol and reading
    (in words), mean, low and high (the 95% CI of the mean), n, chance (P(one run >= the paper's value),
    normal fit), reached (seeds at or above it), status and note. None until a paper-profile a6 record
    exists (a reduced-profile record says nothing about the paper's number).
    """
    rows = {}
    keys = [(p, m) for p in claims.A6_PROTOCOLS for m in claims.A6_READINGS] + [("diagnostic", "improved_cnn_strided")]
    for protocol, model in keys:
        r = claims.claim_status(claims.a6_claim(protocol, model), results_dir)
        if r["profile"] != "paper":
            return None
        label = (f"diagnostic: {claims.A6_DIAGNOSTIC[0]}" if protocol == "diagnostic"
                 else claims.A6_PROTOCOLS[protocol][0])
        chance = r["chance"] or {"normal": math.nan, "empirical": math.nan, "n": 0}
        rows[(protocol, model)] = {"protocol": label, "reading": claims.A6_READINGS[model], "mean": r["value"],
                                   "low": r["value"] - r["ci95"], "high": r["value"] + r["ci95"], "n": r["n"],
                                   "chance": chance["normal"], "reached": round(chance["empirical"] * chance["n"]),
                                   "status": r["status"], "note": r["note"]}
    return pd.DataFrame.from_dict(rows, orient="index")


def a6_in_words(results_dir=None) -> str | None:
    """Study A's verdict in plain words (Markdown) from :func:`a6_verdict`: which reading of Table 1 under
    which protocol reaches the paper's number, with the mean, its 95% CI, n and the chance of one run; the
    diagnostic row is left out (it chooses on the test set). None until a paper-profile a6 record exists."""
    table = a6_verdict(results_dir)
    if table is None:
        return None
    table = table.drop(index="diagnostic", level=0)

    def cell(r) -> str:
        return (f"{r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}], n={r['n']}; one run reaches "
                f"{_PAPER_ACCURACY:.2f} with chance {verdict_words.chance_words(r['chance'])}")

    reached = table[table["status"] == "reproduced"]
    missed = table[table["status"] != "reproduced"]
    if reached.empty:
        return (f"**Study A's verdict:** no reading of Table 1 under any of the {len(claims.A6_PROTOCOLS)} protocols "
                f"reaches the paper's {_PAPER_ACCURACY:.2f}%; the closest: " +
                "; ".join(f"{r['reading']} under {r['protocol']}: {cell(r)}" for _, r in missed.iterrows()) + ".")
    return (f"**Study A's verdict:** the paper's {_PAPER_ACCURACY:.2f}% is reached by " +
            " and by ".join(f"the {r['reading']} of Table 1 under {r['protocol']} ({cell(r)})"
                            for _, r in reached.iterrows()) +
            ". It is not reached by " + "; ".join(f"the {r['reading']} under {r['protocol'].split(':')[0]} "
                                                  f"({r['mean']:.2f} [{r['low']:.2f}, {r['high']:.2f}])"
                                                  for _, r in missed.iterrows()) + ".")


# glue name -> (protocol, reading) of the a6 page's verdict rows
A6_PAGE_ROWS = {"a6v_text_stride": ("paper_text", "improved_cnn_strided"),
                "a6v_text_plain": ("paper_text", "improved_cnn"),
                "a6v_ours_stride": ("ours", "improved_cnn_strided"),
                "a6v_ours_plain": ("ours", "improved_cnn"),
                "a6v_keras_stride": ("keras_60k", "improved_cnn_strided"),
                "a6v_keras_plain": ("keras_60k", "improved_cnn"),
                "a6v_diag": ("diagnostic", "improved_cnn_strided")}


def a6_page_values(verdict: pd.DataFrame | None, target: float) -> dict:
    """The values the a6 page glues from :func:`a6_verdict` (``verdict``; None before a paper-profile record):
    per row of :data:`A6_PAGE_ROWS` its mean, 95% CI, chance in words, seeds that reached ``target`` and n,
    and three sentences on the paper's text protocol, the output-size reading and our protocol."""
    if verdict is None:
        out = {}
        for key in A6_PAGE_ROWS:
            out.update({f"{key}_{part}": math.nan for part in ("mean", "low", "high", "reached", "n")})
            out[f"{key}_chance"] = "unknown"
        return {**out, "a6v_text_words": "cannot be said yet (no paper-profile record)",
                "a6v_plain_words": "cannot be said yet", "a6v_ours_words": "cannot be said yet"}
    out = {}
    for key, (protocol, model) in A6_PAGE_ROWS.items():
        row = verdict.loc[(protocol, model)]
        out.update(_row_values(verdict, protocol, model, key))
        out.update({f"{key}_{part}": float(row[part]) for part in ("low", "high")})
        out.update({f"{key}_{part}": int(row[part]) for part in ("reached", "n")})
    text = verdict.loc[("paper_text", "improved_cnn_strided")]
    out["a6v_text_words"] = ("contains the paper's number in its 95% CI" if text["low"] <= target <= text["high"]
                             else "lies above the paper's number" if text["low"] > target
                             else "stays below the paper's number")
    plain = verdict.xs("improved_cnn", level=1)
    out["a6v_plain_words"] = ("stays below it under every protocol" if (plain["high"] < target).all()
                              else "reaches it under at least one protocol")
    ours = verdict.loc[("ours", "improved_cnn_strided")]
    out["a6v_ours_words"] = ("below it: its whole 95% CI lies under the paper's number" if ours["high"] < target
                             else "compatible with it")
    return out


def a6_page_table(verdict: pd.DataFrame, target: float) -> pd.DataFrame:
    """:func:`a6_verdict` as the a6 page shows it: by protocol and reading, the mean, its 95% CI as text, n,
    the chance that one run reaches ``target`` and how many seeds did, and the note."""
    chance = f"P(one run >= {target})"
    shown = verdict.assign(**{"95% CI": [f"[{lo:.2f}, {hi:.2f}]" for lo, hi in zip(verdict["low"], verdict["high"])],
                              "mean": verdict["mean"].round(2), chance: verdict["chance"].round(3),
                              "seeds that did": [f"{r} of {n}" for r, n in zip(verdict["reached"], verdict["n"])]})
    return shown.set_index(["protocol", "reading"])[["mean", "95% CI", "n", chance, "seeds that did", "note"]]


def _row_values(verdict: pd.DataFrame, protocol: str, model: str, prefix: str) -> dict:
    """``<prefix>_mean`` and ``<prefix>_chance`` (in words) of one row of :func:`a6_verdict`."""
    row = verdict.loc[(protocol, model)]
    return {f"{prefix}_mean": float(row["mean"]), f"{prefix}_chance": verdict_words.chance_words(float(row["chance"]))}


def a1_page_values(a1_claim: dict, verdict: pd.DataFrame | None) -> dict:
    """The values a1's closing section glues: the paper-profile a1 mean, its 95% CI, n and chance
    (``a1_claim``, :func:`claims.claim_status`), beside the A6 rows (``verdict``, :func:`a6_verdict`) of the
    paper's text protocol and of ours. NaN (and "unknown" chances) until both paper-profile records exist."""
    have = a1_claim["profile"] == "paper" and verdict is not None
    nan = math.nan
    out = {"a1v_mean": a1_claim["value"] if have else nan,
           "a1v_low": a1_claim["value"] - a1_claim["ci95"] if have else nan,
           "a1v_high": a1_claim["value"] + a1_claim["ci95"] if have else nan,
           "a1v_n": a1_claim["n"],
           "a1v_chance": verdict_words.chance_words(a1_claim["chance"]["normal"] if have and a1_claim["chance"] else nan)}
    for key, (protocol, model) in {"a1v_text": ("paper_text", "improved_cnn_strided"),
                                   "a1v_ours_stride": ("ours", "improved_cnn_strided"),
                                   "a1v_ours_plain": ("ours", "improved_cnn")}.items():
        out.update(_row_values(verdict, protocol, model, key) if have
                   else {f"{key}_mean": nan, f"{key}_chance": verdict_words.chance_words(nan)})
    return out


def a5_page_values(a5_claim: dict, verdict: pd.DataFrame | None, a5_record: dict | None, target: float) -> dict:
    """The values a5's closing section glues: the reading a5 chose on validation (from its paper-profile
    record ``a5_record``), its test mean, n and chance (``a5_claim``), and the A6 rows (``verdict``) of the
    stride reading under the paper's text protocol and ours, with whether each reaches ``target``."""
    have = a5_claim["profile"] == "paper" and verdict is not None and a5_record is not None
    nan = math.nan
    chosen_model = a5_record["extras"]["chosen"]["model"] if have else None
    out = {"a5v_reading": claims.A6_READINGS.get(chosen_model, "(no committed paper-profile run yet)"),
           "a5v_mean": a5_claim["value"] if have else nan, "a5v_n": a5_claim["n"],
           "a5v_chance": verdict_words.chance_words(a5_claim["chance"]["normal"] if have and a5_claim["chance"] else nan)}
    for key, protocol in {"a5v_text": "paper_text", "a5v_ours": "ours"}.items():
        if not have:
            out.update({f"{key}_mean": nan, f"{key}_chance": verdict_words.chance_words(nan), f"{key}_n": 0,
                        f"{key}_words": "cannot be said yet"})
            continue
        row = verdict.loc[(protocol, "improved_cnn_strided")]
        out.update(_row_values(verdict, protocol, "improved_cnn_strided", key))
        out[f"{key}_n"] = int(row["n"])
        out[f"{key}_words"] = "reaches" if row["high"] >= target else "does not reach"  # its 95% CI reaches target
    return out


def _label(key: str) -> str:
    """A :func:`protocol_runs.protocol_stats` row key as prose: "<protocol>, <reading>"."""
    return key.replace(" | ", ", ")


def _labels(keys: list[str]) -> str:
    return "; ".join(_label(k) for k in keys) if keys else "none"


def headline_values(stats, long, target: float) -> dict:
    """What A6's run says in numbers, keyed by the page's glue names: the better reading under our protocol
    (``a6_ours_*``: its label, mean, 95% CI, chance of one run in words, n and the expected best of ten runs,
    normal fit), the protocols whose CI reaches ``target`` or lies above it (``a6_reach``), those whose CI
    contains it (``a6_typical``), and the protocol whose mean lies closest (``a6_closest``, ``_mean``).

    ``stats``: :func:`protocol_runs.protocol_stats`; ``long``: :func:`protocol_runs.by_protocol`'s one row per (protocol, run)."""
    ours = stats.loc[[i for i in stats.index if i.startswith("ours: test")]]
    best = ours["mean"].astype(float).idxmax()
    reach = [i for i in stats.index if float(stats.loc[i, "high"]) >= target]
    typical = [i for i in stats.index if float(stats.loc[i, "low"]) <= target <= float(stats.loc[i, "high"])]
    closest = (stats["mean"].astype(float) - target).abs().idxmin()
    best_values = long[(long["protocol"] + " | " + long["reading"]) == best]["accuracy"]
    return {"a6_ours_label": _label(best), "a6_ours_mean": float(ours.loc[best, "mean"]),
            "a6_ours_low": float(ours.loc[best, "low"]), "a6_ours_high": float(ours.loc[best, "high"]),
            "a6_ours_chance": verdict_words.chance_words(float(stats.loc[best, "chance"])),
            "a6_ours_n": int(ours.loc[best, "n"]),
            "a6_ours_best10": float(report.expected_best_of(best_values, 10)["normal"]),
            "a6_reach": _labels(reach), "a6_typical": _labels(typical),
            "a6_closest": _label(closest), "a6_closest_mean": float(stats.loc[closest, "mean"])}
