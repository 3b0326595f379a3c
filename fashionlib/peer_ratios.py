"""The study-A speed comparison against a plain Keras script (``benchmarks/bench_peer_a.py``).

Each round trains the paper's network once per variant (the project's training path and its speed
options) and once with the plain script ("peer"), in alternating processes; a variant's ratio is its
seconds per epoch over the peer's of the same round, so that load on the machine cancels out.
"""

from __future__ import annotations


def peer_ratio_table(peer):
    """One row per (profile, variant) of the benchmark's runs (``results.runs_frame`` of
    ``bench_study_a_peer``): rounds, median seconds per epoch (wall and CPU), the median ratio to the
    peer within a round (wall and CPU), the median load before a run, device and commit."""
    import pandas as pd

    rows = []
    for (prof, variant), g in peer.groupby(["profile", "variant"], sort=False):
        ref = peer[(peer["profile"] == prof) & (peer["variant"] == "peer")].set_index("round")
        ratio = (g.set_index("round")["seconds_per_epoch"] / ref["seconds_per_epoch"]).dropna()
        cpu_ratio = (g.set_index("round")["cpu_seconds_per_epoch"] / ref["cpu_seconds_per_epoch"]).dropna()
        rows.append({"variant": variant, "train images": int(g["train_images"].iloc[0]), "rounds": len(g),
                     "s/epoch (median)": round(g["seconds_per_epoch"].median(), 2),
                     "CPU s/epoch (median)": round(g["cpu_seconds_per_epoch"].median(), 2),
                     "ratio to peer (wall)": round(ratio.median(), 2),
                     "ratio to peer (CPU)": round(cpu_ratio.median(), 2),
                     "load avg (median)": round(g["load_1min_before"].median(), 1),
                     "device": g["device"].iloc[0], "commit": g["commit"].iloc[0][:10]})
    return pd.DataFrame(rows)
