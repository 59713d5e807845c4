"""The quantization ladder of the default SmolLM2 model: F16, Q8_0, Q4_K_M and Q2_K, really quantized."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from profiler.ladder import Ladder, LadderConfig
from profiler.model import quality
from profiler.report import ladder_html
from tests.conftest import run_cli

pytestmark = pytest.mark.model
QUANTS = ("F16", "Q8_0", "Q4_K_M", "Q2_K")


def config(out: Path, **overrides: object) -> LadderConfig:
    values = {
        "model": "smollm2-135m",
        "profile": "iphone-16",
        "quants": QUANTS,
        "out": out,
        "max_tokens": 8,
        "quality_tokens": 128,
    } | overrides
    return LadderConfig(**values)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def result(tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("ladder")
    done = run_cli(
        "ladder",
        "--quants",
        ",".join(QUANTS),
        "--out",
        str(out),
        "--max-tokens",
        "8",
        "--quality-tokens",
        "128",
        "--json",
        str(out / "table.json"),
    )
    assert done.returncode == 0, done.stderr
    assert "best quantization that fits: " in done.stdout
    return json.loads((out / "table.json").read_text())


def test_size_and_footprint_fall_and_kl_rises_along_the_ladder(result: dict):
    entries = result["entries"]
    assert [e["quant"] for e in entries] == list(QUANTS)
    for key in ("file_size_mb", "peak_footprint_mb", "weights_mb"):
        values = [e[key] for e in entries]
        assert values == sorted(values, reverse=True) and len(set(values)) == 4, (key, values)
    kl = [e["kl_divergence"] for e in entries]
    assert kl[0] == 0.0 and kl == sorted(kl) and len(set(kl)) == 4, kl
    agreement = [e["top1_agreement"] for e in entries]
    assert agreement[0] == 1.0 and agreement == sorted(agreement, reverse=True)
    assert 0.45 <= entries[1]["weights_mb"] / entries[0]["weights_mb"] <= 0.60  # Q8_0 against F16
    for e in entries:
        assert {
            "quant",
            "file_size_mb",
            "peak_footprint_mb",
            "fits",
            "decode_tokens_per_s",
            "prefill_tokens_per_s",
            "j_per_token",
            "perplexity",
            "kl_divergence",
            "top1_agreement",
        } <= set(e)
        assert e["fits"] and e["decode_tokens_per_s"] > 0 and e["j_per_token"] > 0
    assert result["best_fitting_quant"] == "F16"  # everything fits an iPhone 16: the most faithful wins
    assert result["requantized"] is True and result["source"]["quantization"] == "Q4_1"


def test_perplexity_matches_one_computed_here_from_the_references_logits(result: dict):
    from llama_cpp import Llama

    reference = result["entries"][0]
    llm = Llama(model_path=reference["path"], n_ctx=256, logits_all=True, verbose=False)
    try:
        tokens = llm.tokenize(quality.text_path().read_bytes(), add_bos=True)[:128]
        llm.eval(tokens)
        logits = np.array(llm.scores[:128], dtype=np.float64)
    finally:
        llm.close()
    logp = logits - logits.max(axis=1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(axis=1, keepdims=True))
    nll = -np.mean([logp[i, tokens[i + 1]] for i in range(127)])
    assert reference["perplexity"] == pytest.approx(float(np.exp(nll)), rel=1e-3)


def test_an_interrupted_ladder_keeps_its_members_and_a_rerun_reuses_the_cache(tmp_path: Path):
    first = Ladder(config(tmp_path, quants=("F16", "Q8_0", "Q2_K")))
    first.on_progress = lambda stage, quant, f: (
        first.stop() if (stage, quant, f) == ("profiling", "Q8_0", 1.0) else None
    )
    partial = first.run()
    assert [e["quant"] for e in partial["entries"]] == ["F16", "Q8_0"] and partial["complete"] is False
    on_disk = json.loads((tmp_path / "ladder.json").read_text())
    assert [e["run_id"] for e in on_disk["entries"]] == [e["run_id"] for e in partial["entries"]]
    second = Ladder(config(tmp_path, quants=("F16", "Q8_0", "Q2_K")))
    final = second.run()
    assert final["complete"] is True and [e["quant"] for e in final["entries"]] == ["F16", "Q8_0", "Q2_K"]
    assert {"F16", "Q8_0"} <= set(second.cache_hits)  # no second quantization of what was done
    assert [e["run_id"] for e in final["entries"][:2]] == [e["run_id"] for e in partial["entries"]]  # not rerun


def test_bad_quant_names_are_one_line_exit_2(tmp_path: Path):
    done = run_cli("ladder", "--quants", "F16,Q9_X", "--out", str(tmp_path))
    assert done.returncode == 2
    assert done.stderr.strip() == "error: --quants: unknown quantization Q9_X; known: " + ", ".join(
        [
            "F32",
            "BF16",
            "F16",
            "Q8_0",
            "Q6_K",
            "Q5_K_M",
            "Q5_K_S",
            "Q5_1",
            "Q5_0",
            "Q4_K_M",
            "Q4_K_S",
            "Q4_1",
            "Q4_0",
            "Q3_K_L",
            "Q3_K_M",
            "Q3_K_S",
            "Q2_K",
        ]
    )


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Chromium is not installed (.ci/run installs it)")
def test_the_ladder_report_renders_in_chromium(result: dict, tmp_path: Path):
    from tests.test_reports import chromium

    page = tmp_path / "ladder.html"
    page.write_text(ladder_html.ladder_html(result), encoding="utf-8")
    dom = chromium("--dump-dom", page.as_uri()).stdout
    assert dom.count("<svg") == 1 and dom.count('class="series"') == 4
    assert "Best quantization that fits: <b>F16</b>" in dom
    assert "Requantized from an already quantized file (Q4_1)" in dom
    assert 'data-axis="x"' in dom  # the budget as a vertical line


def test_stop_while_quantizing_keeps_the_members_done_and_leaves_no_partial_file(tmp_path: Path):
    from profiler import paths

    ladder = Ladder(config(tmp_path, quants=("F16", "Q5_K_M")))

    def stop_at_q5(stage: str, quant: str, fraction: float) -> None:
        if (stage, quant) == ("quantizing", "Q5_K_M"):
            ladder.stop()

    ladder.on_progress = stop_at_q5
    result = ladder.run()
    assert [e["quant"] for e in result["entries"]] == ["F16"] and result["complete"] is False
    assert json.loads((tmp_path / "ladder.json").read_text())["entries"][0]["quant"] == "F16"
    assert not list((paths.cache_dir() / "quants").glob("*.partial"))


def test_an_unwritable_out_folder_is_one_line_before_any_quantizing(tmp_path: Path):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    done = run_cli("ladder", "--quants", "F16,Q8_0", "--out", str(blocker / "ladder"))
    assert done.returncode == 2
    assert done.stderr.strip().startswith(f"error: --out: cannot write there: {blocker}/ladder: ")
    assert "quantizing" not in done.stderr
