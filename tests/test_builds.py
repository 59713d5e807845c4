"""Which kernels a measurement's llama.cpp build ran: K-quants and Q8_0 repacked for ARM, or not."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from profiler.phone import builds, dataset, fidelity, fit, specs
from tests.test_phone_model import write_csv


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("b9025", 9025),
        ("b10369", 10369),
        ("build 6602 (72b24d96)", 6602),
        ("e21cdc11a (8783)", 8783),
        ("b4248 (3b4f2e33)", 4248),
        ("master, build 3246fe8 (3637)", 3637),  # a hash that starts with digits is not the number
        ("build: 6602 (72b24d96)", 6602),  # llama.cpp's own load log
        ("version: 4404 (0827b2c1)", 4404),  # llama-cli --version
        ("PocketPal 1.10.3 (2025)", None),  # an app's year in brackets is no build
        ("llama.rn 0.12.0-rc.9", None),
        ("", None),
    ],
)
def test_build_numbers_are_read_from_the_version(text: str, number: int | None) -> None:
    assert builds.build_number(text) == number


def row(tmp_path: Path, **changes: str) -> dataset.Measurement:
    return dataset.load(write_csv(tmp_path / "one.csv", **changes).parent)[0]


@pytest.mark.parametrize(
    ("version", "quant", "klass"),
    [
        ("build 6602", "Q4_K_M", "q4_k-plain"),  # before llama.cpp repacked K-quants on ARM
        ("b7058", "Q8_0", "q8_0-plain"),
        ("b9025", "Q4_K_M", "q4_k"),
        ("b8672", "Q6_K", "q6_k"),
        ("b7500", "Q4_K_M", None),  # while the repacks landed: unknown
        ("", "Q5_K_M", None),
        ("", "Q4_0", "q4_0"),  # Q4_0 was repacked long before any row here
        ("b4248", "IQ2_M", "iq2"),  # never repacked: one class whatever the build
    ],
)
def test_a_rows_class_follows_its_build(tmp_path: Path, version: str, quant: str, klass: str | None) -> None:
    assert builds.row_class(row(tmp_path, runtime_version=version, quant=quant), ()) == klass


def test_the_table_matches_runtime_or_source_and_a_number_wins(tmp_path: Path) -> None:
    table = (builds.Build("Some App 1.0", False, "its source"), builds.Build("example.org/study", True, "its log"))
    assert builds.row_class(row(tmp_path, runtime_version="Some App 1.0", quant="Q8_0"), table) == "q8_0-plain"
    assert builds.row_class(row(tmp_path, source="example.org/study table 2", quant="Q8_0"), table) == "q8_0"
    assert builds.row_class(row(tmp_path, runtime_version="Some App 1.0 (b9025)", quant="Q8_0"), table) == "q8_0"
    # a number from the months the repacks landed says nothing; the table still may
    assert builds.row_class(row(tmp_path, runtime_version="Some App 1.0 b7500", quant="Q8_0"), table) == "q8_0-plain"
    assert builds.row_class(row(tmp_path, runtime_version="b7500", quant="Q8_0"), table) is None


def test_prefill_of_an_old_build_is_its_own_class_and_decode_shares_it(tmp_path: Path) -> None:
    inp = fidelity.Inputs.load()
    old = row(
        tmp_path, runtime_version="build 6602", quant="Q4_K_M", model_id="qwen2.5-1.5b", prefill_tps="80", threads="6"
    )
    unknown = row(tmp_path, quant="Q4_K_M", model_id="qwen2.5-1.5b", prefill_tps="80", threads="6")
    models, socs, cores = inp.models, inp.socs, inp.cores
    data, skipped = fit.samples([old, unknown], models=models, socs=socs, core_types=cores, kernel_builds=())
    # decode does not depend on the build (repacking moves it 1.0-1.2x): the unknown row's decode is kept
    assert sorted((s.row is old, s.phase, s.case.klass) for s in data) == [
        (False, "decode", "q4_k"),
        (True, "decode", "q4_k"),
        (True, "prefill", "q4_k-plain"),
    ]
    assert skipped == {"prefill: K-quant or Q8_0 kernels unknown (llama.cpp build not stated)": 1}


def test_a_build_without_dotprod_runs_its_rows_at_the_neon_tier(tmp_path: Path) -> None:
    """A build compiled without dotprod (the NDK's default target) caps the tier of every core, and
    only of that build's rows; a capped core is slower in the fitted model, as it is on the phone."""
    inp = fidelity.Inputs.load()
    table = (builds.Build("example.org/ndk-default", False, "its build script", isa="neon"),)
    fields = {"soc_id": "tensor-g1", "quant": "Q4_K_M", "model_id": "llama-3.2-3b", "threads": "4"}
    capped = row(tmp_path, source="example.org/ndk-default", **fields)
    native = row(tmp_path, source="example.org/other", **fields)
    data, _ = fit.samples([capped, native], models=inp.models, socs=inp.socs, core_types=inp.cores, kernel_builds=table)
    tiers = {s.row is capped: {c.tier for c in s.case.used()} for s in data if s.phase == "decode"}
    assert tiers == {True: {"neon"}, False: {"dotprod"}}  # Tensor G1: Cortex-X1 and A76, dotprod without i8mm
    k = fit.fit(fit.samples(dataset.load(), models=inp.models, socs=inp.socs, core_types=inp.cores)[0])
    decode = sorted((s for s in data if s.phase == "decode"), key=lambda s: s.row is not capped)
    slow, fast = (1 / fit.predict_seconds([s], k)[0] for s in decode)
    assert slow < 0.9 * fast
    assert builds.capped_tier("i8mm", "dotprod") == "dotprod" and builds.capped_tier("avx2", "neon") == "avx2"
    assert builds.capped_tier("dotprod", "i8mm") == "dotprod" and builds.capped_tier("i8mm", None) == "i8mm"


def test_pocketpals_load_logs_bear_out_the_table() -> None:
    """Every row the table calls repacked by its llama.rn version shows it in its own load log."""
    table = builds.table()
    seen = 0
    for r in dataset.load():
        late = r.quant in ("Q4_K_M", "Q5_K_M", "Q6_K", "Q8_0")
        if r.backend != "cpu" or not late or "llama.rn" not in r.runtime_version:
            continue
        logged = re.search(r"CPU ([\d.]+), CPU_REPACK ([\d.]+)", r.note)
        if logged is None:
            continue
        plain, repacked = map(float, logged.groups())
        assert builds.repacked(r, table) is True, r.where
        # without these repacks CPU_REPACK holds next to nothing of such a file; with them, all but the
        # token table (large for Gemma's 262k vocabulary: 43 % of its weights stay plain)
        assert repacked > 0.35 * (plain + repacked), f"{r.where}: {r.quant} not repacked ({plain} vs {repacked} MiB)"
        seen += 1
    assert seen >= 60


def test_every_shipped_entry_matches_a_row() -> None:
    rows = dataset.load()
    for build in builds.table():
        assert any(build.match in r.runtime_version or build.match in r.source for r in rows), build.match


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[build]]\nmatch = "x"\nrepacked = "yes"\nevidence = "e"\n', r"build\[0\]\.repacked: expected true or false"),
        ('[[build]]\nmatch = ""\nrepacked = true\nevidence = "e"\n', r"build\[0\]\.match: expected a non-empty"),
        ('[[build]]\nmatch = "x"\nrepacked = true\n', r"build\[0\]\.evidence: say where it shows"),
        ("build = 3\n", r"build: expected an array of tables"),
        ('[[build]]\nmatch = "x"\nrepacked = false\nisa = "sve"\nevidence = "e"\n', r"build\[0\]\.isa: expected"),
    ],
)
def test_a_bad_table_entry_is_one_line_naming_the_field(tmp_path: Path, body: str, message: str) -> None:
    (tmp_path / "kernels.toml").write_text(body)
    with pytest.raises(specs.SpecError, match=message) as caught:
        builds.table(tmp_path)
    assert "\n" not in str(caught.value) and "kernels.toml" in str(caught.value)
