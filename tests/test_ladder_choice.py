"""The ladder's choice: the most faithful quantization that fits (no model needed to check it)."""

from __future__ import annotations

from profiler.ladder import best_fitting


def test_best_fitting_skips_members_that_did_not_fit():
    entries = [
        {"quant": "F16", "fits": False, "kl_divergence": 0.0, "file_size_mb": 258, "weights_mb": 257},
        {"quant": "Q8_0", "fits": True, "kl_divergence": 0.02, "file_size_mb": 138, "weights_mb": 137},
        {"quant": "Q2_K", "fits": True, "kl_divergence": 2.0, "file_size_mb": 84, "weights_mb": 83},
    ]
    assert best_fitting(entries) == "Q8_0"
    assert best_fitting([dict(e, fits=False) for e in entries]) is None


def test_best_fitting_is_the_lowest_kl_wherever_it_stands_else_the_most_bits():
    entries = [
        {"quant": "Q2_K", "fits": True, "kl_divergence": 2.0, "file_size_mb": 84, "weights_mb": 83},
        {"quant": "Q4_K_M", "fits": True, "kl_divergence": 0.1, "file_size_mb": 105, "weights_mb": 104},
        {"quant": "Q8_0", "fits": True, "kl_divergence": 0.02, "file_size_mb": 138, "weights_mb": 137},
        {"quant": "F16", "fits": False, "kl_divergence": 0.0, "file_size_mb": 258, "weights_mb": 257},
    ]
    for order in (entries, entries[::-1], entries[1:] + entries[:1]):  # not the first or last that fits
        assert best_fitting(order) == "Q8_0"
    unscored = [{k: v for k, v in e.items() if k != "kl_divergence"} for e in entries]
    for order in (unscored, unscored[::-1]):  # no KL measured: the most bits that fit, not the fewest
        assert best_fitting(order) == "Q8_0"


def test_equal_kl_goes_to_the_smaller_file_and_only_scored_members_compete():
    entries = [
        {"quant": "Q6_K", "fits": True, "kl_divergence": 0.05, "file_size_mb": 120, "weights_mb": 119},
        {"quant": "Q5_K_M", "fits": True, "kl_divergence": 0.05, "file_size_mb": 110, "weights_mb": 109},
        {"quant": "Q8_0", "fits": True, "file_size_mb": 138, "weights_mb": 137},  # not scored: not a candidate
    ]
    assert best_fitting(entries) == "Q5_K_M"
    assert best_fitting(entries[::-1]) == "Q5_K_M"
    assert best_fitting([]) is None
    assert best_fitting([{"quant": "F16", "weights_mb": 257}]) is None  # no verdict: not known to fit
