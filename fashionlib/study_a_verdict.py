"""Study A's verdict (a6): which reading of Table 1 under which protocol reaches the paper's 92.87%, as a
table and in plain words, from the A6 claims (:data:`claims.A6_CLAIMS`)."""

from __future__ import annotations

import math

import pandas as pd

from . import claims, paper, verdict_words

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
