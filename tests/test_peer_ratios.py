"""peer_ratios.peer_ratio_table: each variant's seconds per epoch over the peer's of the same round."""

import pandas as pd
import pytest

from fashionlib.peer_ratios import peer_ratio_table


def _run(variant, rnd, s, cpu, prof="cpu"):
    return {"profile": prof, "variant": variant, "round": rnd, "seconds_per_epoch": s, "cpu_seconds_per_epoch": cpu,
            "train_images": 4800, "load_1min_before": 1.0 + rnd, "device": "cpu", "commit": "0123456789abcdef"}


def test_ratios_are_per_round_medians_against_the_peer():
    peer = pd.DataFrame([_run("peer", 0, 10.0, 20.0), _run("peer", 1, 20.0, 40.0), _run("peer", 2, 10.0, 20.0),
                         _run("fast", 0, 5.0, 20.0), _run("fast", 1, 16.0, 20.0), _run("fast", 2, 7.0, 10.0)])
    t = peer_ratio_table(peer).set_index("variant")
    assert list(t.index) == ["peer", "fast"]
    assert t.loc["peer", "ratio to peer (wall)"] == 1.0 and t.loc["fast", "rounds"] == 3
    assert t.loc["fast", "ratio to peer (wall)"] == pytest.approx(0.7)  # median of 0.5, 0.8, 0.7
    assert t.loc["fast", "ratio to peer (CPU)"] == pytest.approx(0.5)  # median of 1.0, 0.5, 0.5
    assert t.loc["fast", "s/epoch (median)"] == 7.0 and t.loc["fast", "load avg (median)"] == 2.0
    assert t.loc["fast", "commit"] == "0123456789"


def test_a_variant_is_compared_with_the_peer_of_its_own_profile():
    peer = pd.DataFrame([_run("peer", 0, 10.0, 10.0), _run("peer", 0, 40.0, 40.0, prof="paper"),
                         _run("fast", 0, 20.0, 20.0, prof="paper")])
    t = peer_ratio_table(peer)
    assert t.loc[t["variant"] == "fast", "ratio to peer (wall)"].item() == 0.5
