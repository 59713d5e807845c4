"""Run settings: every bad option is one BadInput naming it, and the limit plan follows profile and options."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import pytest

from profiler.errors import BadInput
from profiler.model.gguf_meta import ModelInfo, read_metadata
from profiler.phone.profiles import load_profile
from profiler.run import config as cfg
from profiler.run.config import RunConfig, check_threads, plan_limits, validate
from profiler.run.limits import host_cores

BASE = RunConfig(model="smollm2-135m")


@pytest.fixture(scope="module")
def model(smollm2: Path) -> ModelInfo:
    return read_metadata(smollm2)


def refused(model: ModelInfo, **changes: object) -> str:
    with pytest.raises(BadInput) as caught:
        validate(replace(BASE, **changes), model)  # type: ignore[arg-type]
    message = str(caught.value)
    assert "\n" not in message
    return message


def test_a_sound_config_passes_and_round_trips(model: ModelInfo):
    validate(BASE, model)
    validate(replace(BASE, speed_factor=1.0, threads=1, memory_budget_mb=1.0, prompt_tokens=0, prompt=""), model)
    validate(replace(BASE, ctx=model.context_length or 2048, gpu_layers=0, reserve_cores=0), model)
    assert BASE.to_dict()["model"] == "smollm2-135m" and BASE.to_dict()["ubatch"] == 512
    assert RunConfig(**BASE.to_dict()) == BASE


@pytest.mark.parametrize("name", cfg.FLOATS)
@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_every_float_option_refuses_nan_and_infinity(model: ModelInfo, name: str, bad: float):
    message = refused(model, **{name: bad})
    assert message.startswith(cfg._option(name) + " must be a finite number")


@pytest.mark.parametrize(
    ("name", "option"),
    [
        ("max_tokens", "--max-tokens"),
        ("ctx", "--ctx"),
        ("threads", "--threads"),
        ("memory_budget_mb", "--memory-budget-mb"),
        ("dram_mb", "--dram-mb"),
        ("sample_hz", "--sample-hz"),
        ("load_timeout_s", "--load-timeout"),
        ("stream_interval_s", "--stream-interval"),
        ("batch", "--batch"),
        ("ubatch", "--ubatch"),
    ],
)
@pytest.mark.parametrize("bad", [0, -1])
def test_counts_and_sizes_must_be_positive(model: ModelInfo, name: str, option: str, bad: int):
    assert refused(model, **{name: bad}) == f"{option} must be positive, got {bad}"


def test_each_choice_and_range_is_checked(model: ModelInfo):
    assert refused(model, speed_factor=1.5) == "--speed-factor must be in (0, 1], got 1.5"
    assert refused(model, speed_factor=0.0).startswith("--speed-factor must be in (0, 1]")
    assert refused(model, throttle="sleep") == "--throttle must be 'duty' or 'quota', got 'sleep'"
    validate(replace(BASE, throttle="quota", flash_attn="off"), model)
    assert refused(model, flash_attn="yes").startswith("--flash-attn must be auto, on or off")
    assert refused(model, prompt_tokens=-1).endswith("got -1")
    assert refused(model, prompt="  \n ").startswith("--prompt is empty")
    too_long = (model.context_length or 2048) + 1
    assert refused(model, ctx=too_long).startswith(f"--ctx {too_long} is larger than {model.file_name}")
    assert refused(model, reserve_cores=-1) == "reserve_cores must be 0 or more, got -1"
    assert refused(model, gpu_layers=-2) == "--gpu-layers must be 0 or more, got -2"


def test_threads_past_the_phone_are_refused_and_past_the_host_warned():
    phone = load_profile("galaxy-a25")
    assert phone.cores
    assert check_threads(BASE, phone) is None
    assert check_threads(replace(BASE, threads=phone.cores), phone) is None or phone.cores > len(host_cores())
    with pytest.raises(BadInput, match=f"--threads {phone.cores + 1}: the galaxy-a25 profile has {phone.cores}"):
        check_threads(replace(BASE, threads=phone.cores + 1), phone)
    host = load_profile("host")
    many = len(host_cores()) + 1
    warning = check_threads(replace(BASE, threads=many), host)
    assert warning is not None and warning.startswith(f"--threads {many} is more than this host's {many - 1} cores")
    assert check_threads(replace(BASE, threads=len(host_cores())), host) is None


def test_the_plan_takes_the_profile_unless_an_option_overrides_it():
    phone = load_profile("galaxy-a25")
    plan = plan_limits(BASE, phone)
    assert plan.budget_mb == float(phone.app_memory_budget_mb or 0)
    assert plan.dram_mb == float(phone.dram_mb or 0)
    assert plan.cores == min(phone.threads or phone.cores or 0, len(host_cores()))
    assert plan.threads == min(phone.threads or phone.cores or 0, len(host_cores()))
    assert plan.speed_factor == 1.0 and plan.throttle == "duty" and plan.reserved_cores == 0
    assert plan.follows_curve == (len(phone.sustained_minutes) > 1)
    mine = plan_limits(
        replace(BASE, memory_budget_mb=700.5, dram_mb=3000, threads=1, speed_factor=0.25, throttle="quota"), phone
    )
    assert (mine.budget_mb, mine.dram_mb, mine.threads, mine.speed_factor, mine.throttle) == (
        700.5,
        3000.0,
        1,
        0.25,
        "quota",
    )


def test_the_host_plan_has_no_caps_and_reserved_cores_pin_it():
    host = load_profile("host")
    plan = plan_limits(BASE, host)
    assert plan.budget_mb is None and plan.dram_mb is None and plan.cores is None
    assert plan.threads == len(host_cores()) and not plan.follows_curve
    reserved = plan_limits(replace(BASE, reserve_cores=1), host)
    cores = len(host_cores())
    assert reserved.reserved_cores == min(1, cores - 1)
    assert reserved.cores == (cores - reserved.reserved_cores if reserved.reserved_cores else None)
    assert reserved.threads == cores - reserved.reserved_cores
    greedy = plan_limits(replace(BASE, reserve_cores=cores + 5), host)
    assert greedy.reserved_cores == cores - 1  # one core is always left to the run
