"""The phone model: the dataset and spec sheets it reads, its formulas, its fitter, and the fit it ships."""

from __future__ import annotations

import csv
import dataclasses
import math
from pathlib import Path

import numpy as np
import pytest

from profiler.cli import predict_cmd
from profiler.errors import BadInput
from profiler.phone import cases, cpu_model, dataset, fidelity, fit, measured, specs
from profiler.phone import predict as pr
from profiler.phone.cpu_model import Case, Cases, Constants, Core
from profiler.phone.profiles import load_profile, load_profile_file
from profiler.phone.speed import load_fit
from profiler.report import describe
from tests.test_predict import fake_model

FOLDER = dataset.default_folder()


# -- the dataset ------------------------------------------------------------------------
def test_every_shipped_row_reads_and_the_holdout_is_only_the_poco_phones() -> None:
    rows = dataset.load()
    assert len(rows) > 900
    held = {r.device for r in rows if r.split == "holdout"}
    assert held == {"POCO (codename myron)", "POCO X7 Pro (codename klee)"}
    assert all(r.source for r in rows)
    assert {r.trust for r in rows} <= set(dataset.TRUST)


def write_csv(path: Path, **changes: str) -> Path:
    row = dict.fromkeys(dataset.COLUMNS, "")
    row |= {
        "device": "Phone",
        "soc_id": "snapdragon-8-gen-2",
        "backend": "cpu",
        "runtime": "llama.cpp",
        "quant": "Q4_0",
        "trust": "B",
        "split": "fit",
        "source": "here",
        "decode_tps": "10",
    }
    row |= changes
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=dataset.COLUMNS)
        writer.writeheader()
        writer.writerow(row)
    return path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"decode_tps": "fast"}, "bad.csv:2: column 'decode_tps': expected a number"),
        ({"decode_tps": "nan"}, "column 'decode_tps': must be a positive number"),
        ({"threads": "-4"}, "column 'threads': must be a positive number"),
        ({"backend": "tpu"}, "column 'backend': must be one of cpu, gpu, npu"),
        ({"split": "train"}, "column 'split'"),
        ({"memory_mb": "100"}, "column 'memory_kind': a memory figure needs its kind"),
        ({"source": ""}, "column 'source' is empty"),
    ],
)
def test_a_bad_cell_names_file_line_and_column(tmp_path: Path, change: dict[str, str], message: str) -> None:
    write_csv(tmp_path / "bad.csv", **change)
    with pytest.raises(dataset.DatasetError, match=message.replace("(", r"\(")):
        dataset.load(tmp_path)


def test_a_wrong_header_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("device,decode\nphone,3\n")
    with pytest.raises(dataset.DatasetError, match="header does not match"):
        dataset.load(tmp_path)


# -- spec sheets ------------------------------------------------------------------------
def test_every_soc_and_profile_names_known_core_types() -> None:
    known = specs.cores()
    for soc in specs.socs().values():
        assert all(c.core in known for c in soc.clusters), soc.id
    for profile_id in ("galaxy-s23", "pixel-8", "iphone-16", "budget-4gb", "galaxy-a25", "oneplus-12"):
        profile = load_profile(profile_id)
        assert all(c.core in known for c in profile.cpu_clusters), profile_id
        soc = specs.socs()[profile.soc_id]
        assert soc.memory_bandwidth_gbs is None or profile.memory_bandwidth_gbs == pytest.approx(
            soc.memory_bandwidth_gbs, rel=0.02
        ), profile_id


def test_a_bad_spec_sheet_names_the_field(tmp_path: Path) -> None:
    (tmp_path / "cores.toml").write_text('[my-core]\nrole = "huge"\nsimd_pipes_128 = 2\n')
    with pytest.raises(specs.SpecError, match=r"my-core\.role"):
        specs.cores.__wrapped__(tmp_path)


# -- the formulas -----------------------------------------------------------------------
def constants(**changes: object) -> Constants:
    base = Constants(
        classes=("q4_0", "q4_k"),
        k_dec=(1.0, 2.0),
        k_pp=(0.1, 0.2),
        eta_bw=0.5,
        role=(1.0, 1.0, 1.0, 0.5),
        tier_dec=((1.0, 1.0), (0.5, 0.5), (0.3, 0.3), (1.0, 1.0), (1.0, 1.0)),
        tier_pp=((1.0, 1.0), (0.5, 0.5), (0.3, 0.3), (1.0, 1.0), (1.0, 1.0)),
        beta_dec=0.0,
        beta_pp=0.0,
        contention_dec=0.5,
        contention_pp=0.5,
        combine_p=1.0,
        c_layer=0.0,
        c_token=0.0,
        k_attn=0.0,
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


BIG = Core(3.0, 4, "prime", "i8mm", "x")
LITTLE = Core(2.0, 1, "little", "i8mm", "y")


def case(threads: int, **changes: object) -> Case:
    base = Case((BIG, BIG, LITTLE, LITTLE), 50.0, threads, "q4_0", 1e9, 0.5e9, 10, 0.0)
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_decode_by_hand_memory_and_compute_add_up_with_p_1() -> None:
    k = constants()
    t = cpu_model.decode_seconds(Cases([case(2)], k.classes), k)[0]
    t_mem = 0.5e9 / (50 * 0.5 * 1e9)
    t_cmp = 1e9 * 1.0 / (2 * 12 * 1e9)  # two big cores: 3 GHz × 4 pipes each
    assert t == pytest.approx(t_mem + t_cmp)
    both = cpu_model.decode_seconds(Cases([case(2)], k.classes), constants(combine_p=50.0))[0]
    assert both == pytest.approx(max(t_mem, t_cmp), rel=0.02)  # large p: the slower one alone


def test_the_barrier_waits_for_the_slowest_core_and_contention_when_all_are_taken() -> None:
    k = constants(beta_dec=1.0)
    role, tier, kind = np.asarray(k.role), np.asarray(k.tier_dec), np.asarray([1.0])
    three = cpu_model.throughput(Cases([case(3)], k.classes), role, tier, 1.0, 0.5, kind)[0]
    assert three == pytest.approx(3 * 2.0 * 1 * 0.5)  # three threads at the little core's pace
    four = cpu_model.throughput(Cases([case(4)], k.classes), role, tier, 1.0, 0.5, kind)[0]
    assert four == pytest.approx(4 * 2.0 * 0.5 * 0.5)  # every core taken: the slowest also shares its core
    summed = cpu_model.throughput(Cases([case(3)], k.classes), role, tier, 0.0, 0.5, kind)[0]
    assert summed == pytest.approx(12 + 12 + 1)


def test_nothing_is_repacked_on_neon_only_cores_and_q4_0_keeps_its_own_family() -> None:
    """Repacking needs dotprod or i8mm: on NEON-only cores Q4_K runs the K-quants' plain
    kernel (the second family's factor), while Q4_0 keeps the first (plain block kernels)."""
    neon = tuple(dataclasses.replace(c, tier="neon") for c in (BIG, BIG, LITTLE, LITTLE))
    tier = ((1.0, 1.0), (0.5, 0.5), (0.2, 0.4), (1.0, 1.0), (1.0, 1.0))
    k = constants(tier_dec=tier, combine_p=50.0, eta_bw=100.0)  # compute alone

    def speed(cores: tuple[Core, ...], klass: str) -> float:
        return 1 / cpu_model.decode_seconds(Cases([case(2, cores=cores, klass=klass)], k.classes), k)[0]

    assert speed(neon, "q4_0") / speed(case(2).cores, "q4_0") == pytest.approx(0.2, rel=0.02)
    assert speed(neon, "q4_k") / speed(case(2).cores, "q4_k") == pytest.approx(0.4, rel=0.02)
    assert cpu_model.family(case(2, klass="q4_k")) == 0  # repacked where the cores can


def test_the_fallback_matrices_prefill_at_their_own_class_and_family() -> None:
    """A quarter of a Q4_K file's weights stored as Q5_0 (never repacked): that quarter runs at
    Q5_0's cost and at the plain family's speed, the rest at Q4_K's, repacked."""
    dotprod = tuple(dataclasses.replace(c, tier="dotprod") for c in (BIG, BIG, LITTLE, LITTLE))
    tier = ((1.0, 1.0), (0.5, 0.25), (0.3, 0.3), (1.0, 1.0), (1.0, 1.0))
    k = constants(classes=("q4_0", "q4_k", "q5_0"), k_pp=(0.1, 0.2, 0.4), k_dec=(1.0, 2.0, 3.0), tier_pp=tier)
    mixed = case(2, cores=dotprod, klass="q4_k", fallback_klass="q5_0", fallback_share=0.25)
    t = cpu_model.prefill_seconds(Cases([mixed], k.classes), k)[0]
    assert t == pytest.approx(1e9 * (0.75 * 0.2 / (24 * 0.5) + 0.25 * 0.4 / (24 * 0.25)) / 1e9)
    whole = cpu_model.prefill_seconds(Cases([dataclasses.replace(mixed, fallback_share=0.0)], k.classes), k)[0]
    assert whole == pytest.approx(0.2 / (24 * 0.5))


@pytest.mark.parametrize(
    ("klass", "fallback"),
    [
        ("q4_k", "q5_0"),
        ("q6_k", "q8_0"),
        ("q6_k-plain", "q8_0-plain"),
        ("q4_k-plain", "q5_0"),
        ("q2_k", "q4_0"),
        ("q4_0", None),
        ("q8_0", None),
    ],
)
def test_a_256_block_class_falls_back_to_a_32_block_one(klass: str, fallback: str | None) -> None:
    from profiler.model import kernels

    assert kernels.fallback_class(klass) == fallback


def test_the_fallback_types_are_llama_cpps() -> None:
    """As src/llama-quant.cpp's tensor_type_fallback names them; their kernels are the classes'."""
    from profiler.model import kernels

    assert [kernels.fallback_type(c) for c in ("q5_k", "iq2", "q4_k-plain", "q8_0")] == ["Q5_1", "IQ4_NL", "Q5_0", None]
    assert kernels.fallback_class("q5_k") == "q5_0" and kernels.fallback_class("iq4_xs") == "q4_0"


def test_a_width_nobody_read_never_misfits() -> None:
    """A size-only prediction has no file whose matrices could misfit: its guessed widths (and an
    unknown feed-forward width) count as multiples of 256."""
    from profiler.phone.shape import estimated_shape

    guess = estimated_shape(1.5e9, 4.5, "Q4_K_M")  # width 1,626: a guess, not a file's
    assert guess.embedding_length % 256 and guess.misfit_share() == 0.0
    known = dataclasses.replace(guess, estimated=False, embedding_length=1536, n_heads=24, ffn_dim=0)
    assert known.misfit_share() == 0.0  # every width read fits; the down matrix's is unknown
    assert "stores as" not in pr.predict(load_profile("galaxy-s23"), params_b=1.5, quant="Q4_K_M").speed.note


def test_size_only_predictions_agree_with_the_galaxy_s23_rows_the_fit_was_made_from() -> None:
    """Not a fidelity score (these rows are fitted; docs/FIDELITY.md has those): the path a user
    takes (`predict --params-b --quant`) must land where the fit's own cases do."""
    models = specs.models(dataset.default_folder())
    phone = load_profile("galaxy-s23")
    errors: dict[str, list[float]] = {"decode": [], "prefill": []}
    for row in dataset.load():
        if row.device != "Samsung Galaxy S23" or row.backend != "cpu" or row.model_id not in models:
            continue
        params_b = row.params_b or models[row.model_id].params_b
        if not params_b or not row.quant:
            continue
        speed = pr.predict(
            phone,
            params_b=params_b,
            quant=row.quant,
            threads=row.threads,
            prompt_tokens=row.prompt_tokens or 512,
            backend="cpu",
        ).speed
        for phase, measured_tps, predicted in (
            ("decode", row.decode_tps, speed.decode_tokens_per_s),
            ("prefill", row.prefill_tps, speed.prefill_tokens_per_s),
        ):
            if measured_tps and predicted:
                errors[phase].append(abs(predicted / measured_tps - 1))
    assert len(errors["decode"]) >= 70 and len(errors["prefill"]) >= 70
    assert np.median(errors["decode"]) < 0.2 and np.median(errors["prefill"]) < 0.2


def test_the_misfit_share_is_what_llama_cpp_stored_in_another_type(gemma3: Path) -> None:
    """Gemma 3 270M (width 640): the share of the multiplied weights the shape calls misfit is the
    share the Q4_K_M file really holds in 32-block types (read tensor by tensor with gguf)."""
    import gguf

    from profiler.model import gguf_meta
    from profiler.phone.shape import model_shape

    reader = gguf.GGUFReader(str(gemma3))
    blocks32 = {gguf.GGMLQuantizationType.Q5_0, gguf.GGMLQuantizationType.Q8_0, gguf.GGMLQuantizationType.Q4_0}
    layer = [t for t in reader.tensors if t.name.startswith("blk.") and len(t.shape) == 2]
    stored = sum(int(t.n_elements) for t in layer if t.tensor_type in blocks32)
    shape = model_shape(gguf_meta.read_metadata(gemma3))
    assert stored > 0
    assert shape.misfit_share() == pytest.approx(stored / shape.params_matmul, rel=0.03)
    assert dataclasses.replace(shape, embedding_length=1024, ffn_dim=4096).misfit_share() == 0.0


def test_a_prediction_says_which_matrices_fall_back_and_prefills_them_so(gemma3: Path, monkeypatch) -> None:
    from profiler.model import gguf_meta, kernels

    phone = load_profile("galaxy-s23")
    model = gguf_meta.read_metadata(gemma3)  # Q4_K_M, width 640: a quarter of it is Q5_0
    speed = pr.predict(phone, model=model).speed
    assert "which llama.cpp stores as Q5_0" in speed.note
    fits = pr.predict(phone, model=dataclasses.replace(model, embedding_length=1024, ffn_dim=4096)).speed
    assert "stores as" not in fits.note
    monkeypatch.setattr(kernels, "FALLBACK", {})  # a quantizer that never falls back
    whole = pr.predict(phone, model=model).speed
    assert whole.prefill_tokens_per_s != pytest.approx(speed.prefill_tokens_per_s, rel=0.02)
    assert whole.decode_tokens_per_s == pytest.approx(speed.decode_tokens_per_s)  # decode keeps one class


def test_prefill_by_hand() -> None:
    k = constants(k_attn=2.0)
    t = cpu_model.prefill_seconds(Cases([case(2, attn_work=1e8)], k.classes), k)[0]
    assert t == pytest.approx((1e9 * 0.1 + 1e8 * 2.0) / (24 * 1e9))


# -- the fitter -------------------------------------------------------------------------
def synthetic(k: Constants, socs: dict[str, tuple[Core, ...]]) -> list[fit.Sample]:
    """Rows generated by the model itself, so a correct fitter must find them again."""
    out = []
    for soc, cores in socs.items():
        for params in (0.5e9, 1.5e9, 3e9, 7e9):
            for klass in k.classes:
                for threads in (2, 4):
                    c = Case(cores, 60.0, threads, klass, params, params * 0.6, int(16 + params / 3e8), params * 0.001)
                    arrays = Cases([c], k.classes)
                    for phase, fn in (("decode", cpu_model.decode_seconds), ("prefill", cpu_model.prefill_seconds)):
                        row = dataclasses.replace(STUB, soc_id=soc, model_id=f"m{params:g}")
                        out.append(fit.Sample(row, phase, c, float(fn(arrays, k)[0]), 1.0))
    return out


STUB = dataset.parse_row(
    dict.fromkeys(dataset.COLUMNS, "")
    | {
        "device": "d",
        "soc_id": "s",
        "backend": "cpu",
        "runtime": "llama.cpp",
        "quant": "Q4_0",
        "trust": "B",
        "split": "fit",
        "source": "synthetic",
    },
    "synthetic",
    1,
)


def test_the_fitter_finds_constants_that_generated_the_data() -> None:
    truth = constants(beta_dec=0.3, beta_pp=0.2, combine_p=2.0, c_layer=2e-5, c_token=1e-3, k_attn=1.0)
    socs = {
        "a": (Core(3.2, 4, "prime", "i8mm"), *[Core(2.8, 2, "big", "i8mm")] * 3, *[Core(2.0, 1, "little", "i8mm")] * 4),
        "b": (*[Core(3.0, 2, "big", "i8mm")] * 4, *[Core(2.0, 1, "little", "i8mm")] * 4),
        "c": (*[Core(4.0, 4, "prime", "i8mm")] * 2, *[Core(3.5, 4, "big", "i8mm")] * 6),
    }
    data = synthetic(truth, socs)
    found = fit.fit([s for s in data if s.row.soc_id != "c"])
    held = [s for s in data if s.row.soc_id == "c"]  # a phone the fit never saw, from its cores alone
    errors = fit.relative_errors(held, found)
    assert float(np.median(np.abs(errors))) < 0.05


def test_leave_one_soc_out_scores_only_what_others_have_seen() -> None:
    truth = constants()
    socs = {"a": (*[Core(3.0, 4, "prime", "i8mm")] * 4,), "b": (*[Core(2.0, 2, "big", "dotprod")] * 4,)}
    data = synthetic(truth, socs)
    scored, unscored = fit.lodo(data)
    assert not scored  # each SoC's cores are of a tier the other never had
    assert unscored == {
        "a": len([s for s in data if s.row.soc_id == "a"]),
        "b": len([s for s in data if s.row.soc_id == "b"]),
    }


# -- the shipped fit ----------------------------------------------------------------------
def test_a_caller_changing_the_fit_changes_no_one_elses() -> None:
    """load_fit() is shared by every prediction: a caller's edit must not reach the next one."""
    mine = load_fit()
    mine["cpu"]["constants"]["eta_bw"] = 123.0
    mine["power"].clear()
    again = load_fit()
    assert again["cpu"]["constants"]["eta_bw"] != 123.0 and again["power"]


def test_fit_json_was_made_from_this_dataset() -> None:
    """A changed dataset without a new fit fails here: run `make fit`."""
    assert load_fit()["dataset_sha256_16"] == fidelity.Inputs.load().digest()


def test_the_shipped_constants_reproduce_their_own_scores() -> None:
    """Pins formula and constants together: the held-out phones' error recomputed equals what fit.json states."""
    inp = fidelity.Inputs.load()
    k = cpu_model.constants_from_dict(load_fit()["cpu"]["constants"])
    held = [r for r in inp.rows if r.split == "holdout"]
    data, _ = fit.samples(held, models=inp.models, socs=inp.socs, core_types=inp.cores)
    for phase in fit.PHASES:
        errors = fit.relative_errors([s for s in data if s.phase == phase], k)
        stated = load_fit()["scores"][f"cpu {phase} holdout"]
        assert round(float(np.median(np.abs(errors))) * 100, 1) == stated["median_pct"]
        assert stated["n"] == len(errors)


def test_the_fit_meets_the_issues_targets() -> None:
    """Within one device (leave one model out) and across devices (leave one SoC out)."""
    scores = load_fit()["device_medians"]
    assert scores["cpu decode lomo"]["median_pct"] <= 15
    assert scores["cpu prefill lomo"]["median_pct"] <= 25
    assert scores["cpu decode lodo"]["median_pct"] <= 25
    assert scores["cpu prefill lodo"]["median_pct"] <= 35
    assert load_fit()["scores"]["memory buffers (weights from the file)"]["median_pct"] <= 15


def test_builds_of_different_instruction_sets_are_not_sources_that_disagree() -> None:
    """PocketTune ran the Pixel 7a with and without dotprod (2x apart): two experiments, not a
    disagreement; two apps' Galaxy A25 runs of one build are one."""
    import importlib.util

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_fidelity.py"
    spec = importlib.util.spec_from_file_location("bench_fidelity", path)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    lines = [line.strip() for line in bench.disagreements(dataset.load())]
    assert not [line for line in lines if line.startswith("tensor-g2 llama-3.2-1b")]
    assert [line for line in lines if line.startswith("exynos-1280 llama-3.2-1b Q8_0")]


# -- a phone the project has never seen -----------------------------------------------------
NEW_PHONE = """
name = "Imaginary 1"
year = 2026
soc = "Imaginary SoC"
platform = "android"
dram_mb = 12288
app_memory_budget_mb = 6144
threads = 6
memory_bandwidth_gbs = 85.3
battery_mah = 5000
battery_v = 3.87
battery_wh = 19.35

[[cpu_clusters]]
count = 1
core = "cortex-x925"
max_ghz = 3.6

[[cpu_clusters]]
count = 5
core = "cortex-a725"
max_ghz = 3.0

[[cpu_clusters]]
count = 2
core = "imaginary-little"
max_ghz = 2.0
simd_pipes_128 = 1
role = "little"
features = ["neon", "dotprod", "i8mm"]
"""


def test_a_hand_written_profile_of_an_unseen_phone_gets_a_prediction(tmp_path: Path) -> None:
    path = tmp_path / "imaginary-1.toml"
    path.write_text(NEW_PHONE)
    phone = load_profile_file(path)
    p = pr.predict(phone, params_b=3, quant="Q4_K_M")
    assert p.speed.decode_tokens_per_s and p.speed.prefill_tokens_per_s
    assert "cortex-x925" in p.speed.note and "90th percentile" in p.speed.note  # never measured
    eight = pr.predict(phone, params_b=3, quant="Q4_K_M", threads=8).speed
    assert "imaginary-little" in eight.note  # the user-described cores join at 7 and 8 threads
    assert p.speed.decode_error_pct == p.speed.decode_error_p90_pct
    slower = dataclasses.replace(phone, memory_bandwidth_gbs=40.0)
    assert pr.predict(slower, params_b=3, quant="Q4_K_M").speed.decode_tokens_per_s < p.speed.decode_tokens_per_s


def test_a_core_type_nobody_describes_is_a_one_line_error(tmp_path: Path) -> None:
    path = tmp_path / "vague.toml"
    path.write_text(NEW_PHONE.replace('simd_pipes_128 = 1\nrole = "little"\n', ""))
    with pytest.raises(BadInput, match="imaginary-little"):
        pr.predict(load_profile_file(path), params_b=3, quant="Q4_K_M")


# -- backends and measurements beside predictions -------------------------------------------
def test_iphones_predict_metal_by_default_and_say_prefill_is_not_predicted() -> None:
    p = pr.predict(load_profile("iphone-16"), params_b=1.5, quant="Q8_0")
    assert p.speed.backend == "gpu" and "metal" in p.speed.basis
    assert p.speed.prefill_tokens_per_s is None and "prefill not predicted" in p.speed.note
    cpu = pr.predict(load_profile("iphone-16"), params_b=1.5, quant="Q8_0", backend="cpu")
    assert cpu.speed.backend == "cpu" and cpu.speed.prefill_tokens_per_s


def test_hexagon_runs_only_its_kernels() -> None:
    s23 = load_profile("galaxy-s23")
    npu = pr.predict(s23, params_b=1.5, quant="Q4_0", backend="npu").speed
    k_quant = pr.predict(s23, params_b=1.5, quant="Q4_K_M", backend="npu").speed
    cpu = pr.predict(s23, params_b=1.5, quant="Q4_K_M", backend="cpu").speed
    assert "hexagon" in npu.basis
    assert "runs on the CPU" in k_quant.note and k_quant.decode_tokens_per_s == cpu.decode_tokens_per_s


def test_a_backend_without_data_is_not_guessed() -> None:
    p = pr.predict(load_profile("pixel-8"), params_b=1.5, quant="Q4_0", backend="gpu")
    assert p.speed.decode_tokens_per_s is None and "no gpu measurement" in p.speed.note
    with pytest.raises(BadInput, match="no npu backend"):
        pr.predict(load_profile("galaxy-a25"), params_b=1.5, quant="Q4_0", backend="npu")


def test_a_measurement_of_the_same_phone_model_and_type_is_shown() -> None:
    qwen = fake_model(name="Qwen2.5 1.5B Instruct", quantization="Q4_0")
    p = pr.predict(load_profile("galaxy-s23"), model=qwen)
    assert p.measured, "PocketPal measured Qwen2.5-1.5B Q4_0 on a Galaxy S23"
    row = p.measured[0]
    assert row.decode_tps == pytest.approx(19.66) and "pocketpal" in row.source
    assert measured.yardstick(p.measured) == row
    assert measured.model_id_for(qwen) == "qwen2.5-1.5b"
    assert not pr.predict(load_profile("pixel-8"), model=qwen).measured


def test_a_measurement_that_is_not_comparable_says_so() -> None:
    """The Pixel 9 Pro's Gemma 4 E4B CPU run is a throttled test-farm phone (a context row): never a yardstick."""
    gemma = fake_model(name="Gemma 4 E4B It", quantization="Q4_K_M")
    cpu = pr.predict(load_profile("pixel-9-pro"), model=gemma, backend="cpu")
    (row,) = cpu.measured
    assert row.decode_tps == pytest.approx(0.73) and row.caveat == measured.CONTEXT
    assert row.label.endswith(measured.CONTEXT)
    text = predict_cmd.single_text(cpu, load_profile("pixel-9-pro"))
    assert "decode 0.7 tokens/s" in text and "not comparable: kept as context" in text
    assert measured.yardstick(cpu.measured) is None  # the app's badge quotes no context row
    reported = dict(describe.prediction_items(cpu.to_dict()))  # the HTML report's rows
    assert reported["measured on Google Pixel 9 Pro"].endswith(measured.CONTEXT)
    # a decode-only row: its prompt held an image, so its prefill is not shown beside a predicted one
    gpu = pr.predict(load_profile("pixel-9-pro"), model=gemma, backend="gpu")
    assert gpu.measured and all(m.prefill_tps is None and not m.caveat for m in gpu.measured)
    assert [m.decode_tps for m in gpu.measured] == [pytest.approx(6.89)] * 2


def test_cases_use_the_fastest_cores_first() -> None:
    c = case(2)
    assert c.used() == (BIG, BIG)
    assert cases.default_threads(c.cores) == 2
    assert math.isclose(sum(x.raw for x in case(3).used()), 26.0)
