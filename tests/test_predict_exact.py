"""The predictor's whole answers: memory by hand, every refusal's words, the threads it picks.

test_predict.py and test_phone_model.py check the numbers against measurements; this file pins the
arithmetic and the messages, so that a changed sign, constant or branch shows.
"""

from __future__ import annotations

import dataclasses

import pytest

from profiler.errors import BadInput
from profiler.phone import predict as pr
from profiler.phone.shape import model_shape
from tests.test_predict import fake_model, phone

MB = 1024 * 1024


def shape():  # type: ignore[no-untyped-def]
    # 10 layers × 2 KV heads × (64 + 64) dims: 2,560 elements per position
    return model_shape(fake_model(vocab_size=32_000, tensor_bytes=400_000_000), None)


def test_bytes_read_per_token_is_the_weights_and_half_the_context():
    s = shape()
    assert pr.bytes_read_per_token(s, 1000, 1.0) == s.bytes_multiplied + 2560 * 1.0 * 1000 / 2
    assert pr.bytes_read_per_token(s, 1000) == s.bytes_multiplied + 2560 * 2.0 * 1000 / 2
    assert pr.bytes_read_per_token(s, 0) == s.bytes_multiplied


def test_memory_by_hand_with_every_field():
    s = shape()
    got = pr.estimate_memory(s, ctx=4096, budget_mb=1000.0, kv_bytes_per_elem=1.0)
    weights, kv = s.weight_bytes / MB, 2560 * 4096 / MB
    overhead = pr.RUNTIME_BASE_MB + pr.VOCAB_BYTES * 32_000 / MB
    compute = 32_000 * pr.N_UBATCH * 4 / MB
    assert got == pr.MemoryEstimate(
        weights_mb=pytest.approx(weights),
        kv_cache_mb=pytest.approx(kv),
        overhead_mb=pytest.approx(overhead),
        total_mb=pytest.approx(weights + kv + overhead),
        budget_mb=1000.0,
        fits=True,
        verdict="fits",
        buffers_mb=pytest.approx(weights + kv + compute),
        compute_buffer_mb=pytest.approx(compute),
    )
    exact = pr.estimate_memory(s, ctx=4096, budget_mb=got.total_mb, kv_bytes_per_elem=1.0)
    assert exact.fits and exact.verdict == "tight"  # a budget of exactly the total still fits
    over = pr.estimate_memory(s, ctx=4096, budget_mb=got.total_mb - 0.01, kv_bytes_per_elem=1.0)
    assert not over.fits and over.verdict == "killed"
    unlimited = pr.estimate_memory(s, ctx=4096, budget_mb=None)
    assert unlimited.fits and unlimited.verdict == "fits" and unlimited.budget_mb is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"ctx": 0}, "--ctx must be positive, got 0"),
        ({"ctx": -5}, "--ctx must be positive, got -5"),
        ({"decode_tps": float("inf")}, "--decode-tps must be finite, got inf"),
        ({"decode_tps": float("nan")}, "--decode-tps must be positive, got nan"),
        ({"kv_bytes_per_elem": 0.0}, "KV bytes per element must be positive, got 0"),
        ({"prompt_tokens": -1}, "--prompt-tokens must be positive, got -1"),
        ({"params_b": 1.0, "bits_per_weight": 65.0}, "--bits-per-weight 65 is more than 64 bits per weight"),
        ({"params_b": 1.0, "bits_per_weight": 4.0, "quant": "Q4_0"}, "give --quant or --bits-per-weight, not both"),
        ({"model": fake_model(), "params_b": 1.0}, "give a model or --params-b, not both"),
        ({"model": fake_model(parameters=0)}, "fake.gguf: the model has no parameters to predict with"),
        ({}, "give a model (--model) or a size (--params-b with --quant or --bits-per-weight)"),
        ({"params_b": 1.0}, "--params-b needs --quant (a GGUF type such as Q4_K_M) or --bits-per-weight"),
        ({"model": fake_model(), "threads": 0}, "--threads must be at least 1, got 0"),
        ({"model": fake_model(), "threads": 9}, "--threads 9: Test phone has 8 cores (a phone has no more)"),
    ],
)
def test_every_refusal_is_one_line_naming_the_option(kwargs: dict, message: str):
    with pytest.raises(BadInput) as caught:
        pr.predict(phone(), **kwargs)
    assert str(caught.value) == message


def test_the_host_has_nothing_to_predict():
    from profiler.phone.profiles import load_profile

    with pytest.raises(
        BadInput, match=r"^the host profile has no phone numbers to predict with; pick a phone profile$"
    ):
        pr.predict(load_profile("host"), model=fake_model())


def test_sixty_four_bits_per_weight_is_still_allowed():
    got = pr.predict(phone(), params_b=1.0, bits_per_weight=64.0)
    assert got.inputs["bits_per_weight"] == 64.0 and got.inputs["quant"] is None


def test_threads_come_from_the_option_the_profile_or_all_cores():
    assert pr.predict(phone(), model=fake_model()).inputs["threads"] == 5
    assert pr.predict(phone(), model=fake_model(), threads=8).inputs["threads"] == 8
    assert pr.predict(dataclasses.replace(phone(), threads=None), model=fake_model()).inputs["threads"] == 8
    assert pr._threads(dataclasses.replace(phone(), threads=None, cpu_clusters=()), None) == 1
    assert pr._threads(dataclasses.replace(phone(), cpu_clusters=()), 64) == 64  # no cores known: no cap


def test_a_size_and_a_quant_give_that_quants_bits_and_kernels():
    got = pr.predict(phone(), params_b=2.0, quant="Q8_0")
    assert got.inputs["quant"] == "Q8_0" and got.inputs["params"] == 2_000_000_000
    assert got.inputs["bits_per_weight"] == pytest.approx(8.5, abs=0.01) and got.inputs["model"] is None
    assert got.inputs["weight_bytes"] == pytest.approx(2e9 * 8.5 / 8, rel=0.02)
    bits = pr.predict(phone(), params_b=2.0, bits_per_weight=5.5)
    assert bits.inputs["quant"] is None and bits.inputs["weight_bytes"] == pytest.approx(2e9 * 5.5 / 8, rel=0.02)


def test_a_models_own_type_unless_bits_or_a_quant_override_it():
    model = fake_model()
    assert pr.predict(phone(), model=model).inputs["quant"] == "Q4_0"
    assert pr.predict(phone(), model=model, quant="Q8_0").inputs["quant"] == "Q8_0"
    assert pr.predict(phone(), model=model, bits_per_weight=6.0).inputs["quant"] is None
    unknown = pr.predict(phone(), model=fake_model(quantization="unknown")).inputs
    assert unknown["quant"] is None and unknown["bits_per_weight"] == 4.0
    assert pr.predict(phone(), model=model).inputs["model_path"] == "/nowhere/fake.gguf"


def test_the_dict_form_keeps_every_part():
    got = pr.predict(phone(), model=fake_model())
    data = got.to_dict()
    assert data["profile_id"] == "test-phone" and data["memory"] == dataclasses.asdict(got.memory)
    assert data["speed"] == dataclasses.asdict(got.speed) and data["inputs"] == got.inputs
    assert got.energy is not None and data["energy"] == dataclasses.asdict(got.energy)
    assert data["measured"] == [dataclasses.asdict(m) for m in got.measured]
    no_energy = dataclasses.replace(got, energy=None)
    assert no_energy.to_dict()["energy"] is None


# -- the speed model's edges -------------------------------------------------------------------------------


def test_speed_refusals_name_the_profile_and_the_field():
    from profiler.phone import speed
    from profiler.phone.profiles import CpuCluster

    nameless = (CpuCluster(4, "big", 3.0, ""),)
    with pytest.raises(BadInput) as caught:
        speed.phone_cores(nameless, "p.toml")
    assert str(caught.value) == "p.toml: cpu_clusters need a core type (core = 'cortex-x3' ...; see profiles/README.md)"
    with pytest.raises(BadInput) as odd:
        speed.class_for("Q9_Z", None)
    assert str(odd.value) == "quantization 'Q9_Z' has no known llama.cpp kernel; give --quant with a GGUF type"
    with pytest.raises(BadInput) as no_bw:
        pr.predict(dataclasses.replace(phone(), memory_bandwidth_gbs=None), model=fake_model())
    assert str(no_bw.value) == "profile 'test-phone' lacks memory_bandwidth_gbs"
    with pytest.raises(BadInput) as no_gpu:
        pr.predict(phone(), model=fake_model(), backend="gpu")
    assert str(no_gpu.value) == "Test phone has no gpu backend here (it has: cpu)"


def test_without_a_type_the_nearest_common_one_by_bits_is_assumed():
    from profiler.phone import speed

    assert speed.class_for(None, None)[1] == "Q4_K_M (assumed from 4.9 bits per weight)"
    assert speed.class_for(None, 8.4)[1] == "Q8_0 (assumed from 8.4 bits per weight)"
    assert speed.class_for("q4_k_m", 99.0)[1] == "Q4_K_M"


def test_the_cpu_estimate_carries_the_fits_errors_and_basis():
    from profiler.phone import speed

    fit = speed.load_fit()["cpu"]
    got = pr.predict(phone(), model=fake_model(quantization="Q4_K_M", file_type=15)).speed
    table = fit["errors"]["decode"]
    entry = table.get("by_class", {}).get(got.kernel_class) or table["all"]
    assert (got.decode_error_pct, got.decode_error_p90_pct) == (entry["median_pct"], entry["p90_pct"])
    own = fit["errors"]["prefill"].get("by_class", {}).get(got.kernel_class)
    every = fit["errors"]["prefill"]["all"]  # a class never scored across phones quotes every class's p90
    expected = (own["median_pct"], own["p90_pct"]) if own else (every["p90_pct"], every["p90_pct"])
    assert (got.prefill_error_pct, got.prefill_error_p90_pct) == expected
    assert (
        got.backend == "cpu" and got.basis == f"llama.cpp CPU model fitted to {fit['rows']} phone measurements (Q4_K_M)"
    )


def test_a_smaller_kv_cache_and_a_longer_prompt_move_the_speeds():
    model = fake_model(n_layers=32, n_kv_heads=8, head_dim_k=128, head_dim_v=128)
    f16 = pr.predict(phone(), model=model, ctx=32768).speed
    q8 = pr.predict(phone(), model=model, ctx=32768, kv_bytes_per_elem=1.0).speed
    assert q8.decode_tokens_per_s > f16.decode_tokens_per_s  # half the KV bytes read per token
    short = pr.predict(phone(), model=model, prompt_tokens=16).speed
    long = pr.predict(phone(), model=model, prompt_tokens=2048).speed
    assert short.prefill_tokens_per_s != long.prefill_tokens_per_s


def test_a_default_accelerator_without_data_falls_back_to_the_cpu_and_says_so():
    gpu_phone = dataclasses.replace(phone(), backends=("cpu", "gpu"), default_backend="gpu", soc_id="no-such-soc")
    got = pr.predict(gpu_phone, model=fake_model()).speed
    assert got.backend == "cpu" and got.decode_tokens_per_s
    assert got.note.startswith(
        "apps default to the gpu here, but no gpu measurement of no-such-soc in the dataset to predict it from: "
        "llama.cpp's CPU path is shown"
    )
    asked = pr.predict(gpu_phone, model=fake_model(), backend="gpu").speed
    assert asked.decode_tokens_per_s is None and asked.basis == "not predicted" and asked.backend == "gpu"
    assert asked.note == "no gpu measurement of no-such-soc in the dataset to predict it from"
    by_name = dataclasses.replace(gpu_phone, soc_id=None)
    assert "measurement of Test SoC in" in pr.predict(by_name, model=fake_model(), backend="gpu").speed.note


def test_inputs_record_what_the_prediction_was_given():
    model = fake_model()
    given = pr.predict(phone(), model=model, decode_tps=7.0, ctx=1024, kv_bytes_per_elem=1.0)
    assert given.inputs["decode_tps_given"] is True and given.inputs["decode_tokens_per_s_used"] == 7.0
    assert given.inputs["bytes_read_per_token"] == pr.bytes_read_per_token(model_shape(model, None), 1024, 1.0)
    assert given.inputs["model"] == "Fake 1B"
    free = pr.predict(phone(), model=model)
    assert free.inputs["decode_tps_given"] is False and free.inputs["bits_per_weight"] == 4.0
    sized = pr.predict(phone(), params_b=1.0, quant="Q4_0")
    assert sized.inputs["model"] is None and sized.inputs["model_path"] is None
    assert sized.speed.kernel_class == pr.predict(phone(), model=model).speed.kernel_class
    unbudgeted = pr.predict(dataclasses.replace(phone(), app_memory_budget_mb=None), model=model)
    assert unbudgeted.memory.budget_mb is None and unbudgeted.memory.verdict == "fits"


def test_a_backend_asked_for_without_data_keeps_the_threads_and_kernel():
    gpu_phone = dataclasses.replace(phone(), backends=("cpu", "gpu"), default_backend="cpu", soc_id="no-such-soc")
    asked = pr.predict(gpu_phone, model=fake_model(), backend="gpu", threads=3).speed
    assert asked.threads == 3 and asked.kernel_class == pr.predict(gpu_phone, model=fake_model()).speed.kernel_class
