from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from profiler.errors import ProfileError
from profiler.phone import profiles

IPHONE = profiles.builtin_dir() / "iphone-16.toml"


def write(tmp_path: Path, text: str, name: str = "phone.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def edited(tmp_path: Path, old: str, new: str) -> Path:
    text = IPHONE.read_text()
    assert old in text
    return write(tmp_path, text.replace(old, new, 1))


def test_every_builtin_profile_loads_and_cites_every_number():
    loaded = profiles.load_all()
    ids = {p.id for p in loaded}
    assert {"iphone-16", "host"} <= ids
    for profile in loaded:
        assert profiles.missing_sources(profile) == [], profile.id
        if not profile.is_host:
            assert profile.app_memory_budget_mb < profile.dram_mb
            assert profile.cores and profile.threads


def test_host_has_no_limits():
    host = profiles.load_profile("host")
    assert host.is_host and host.dram_mb is None and host.app_memory_budget_mb is None


def test_load_by_path_and_user_folder(tmp_path: Path, pocketprof_home: Path):
    copy = shutil.copy(IPHONE, tmp_path / "my-phone.toml")
    assert profiles.load_profile(str(copy)).name == "Apple iPhone 16"
    user = pocketprof_home / "profiles"
    user.mkdir(parents=True)
    (user / "lab-phone.toml").write_text(IPHONE.read_text().replace('id = "iphone-16"', 'id = "lab-phone"'))
    assert "lab-phone" in profiles.available_ids()
    assert profiles.load_profile("lab-phone").id == "lab-phone"


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("dram_mb = 8192", 'dram_mb = "8 GB"', "field 'dram_mb': expected int, got str"),
        ("dram_mb = 8192", "dram_mb = -8192", "field 'dram_mb': must be positive"),
        ("battery_wh = ", "battery_wh = 0 #", "field 'battery_wh': must be positive"),
        ("dram_mb = 8192", "dram_mb = 2048", "field 'app_memory_budget_mb': 3328 MB is above dram_mb"),
        ("dram_mb = 8192", "# no dram", "field 'dram_mb': missing"),
        ('platform = "ios"', 'platform = "symbian"', "field 'platform': must be one of"),
        ('name = "Apple iPhone 16"', "name = 16", "field 'name': expected a non-empty string"),
    ],
)
def test_bad_fields_name_file_and_field(tmp_path: Path, old: str, new: str, message: str):
    path = edited(tmp_path, old, new)
    with pytest.raises(ProfileError) as info:
        profiles.load_profile(str(path))
    text = str(info.value)
    assert str(path) in text and message in text and "\n" not in text


def test_invalid_toml_and_missing_file(tmp_path: Path):
    with pytest.raises(ProfileError, match="not valid TOML"):
        profiles.load_profile(str(write(tmp_path, "dram_mb = = 3")))
    with pytest.raises(ProfileError, match="profile file not found"):
        profiles.load_profile(str(tmp_path / "nope.toml"))


def test_unknown_id_suggests_the_closest():
    with pytest.raises(ProfileError, match="did you mean iphone-16"):
        profiles.load_profile("iphone-61")


def test_sustained_curve_interpolates(tmp_path: Path):
    text = "\n".join(
        line for line in IPHONE.read_text().splitlines() if not line.startswith(("minutes =", "fraction ="))
    )
    text = text.replace("[sustained]", "[sustained]\nminutes = [0, 10]\nfraction = [1.0, 0.5]")
    profile = profiles.load_profile(str(write(tmp_path, text)))
    assert profile.speed_fraction_at(0) == 1.0
    assert profile.speed_fraction_at(300) == pytest.approx(0.75)
    assert profile.speed_fraction_at(3600) == 0.5


def test_a_number_without_a_source_is_reported(tmp_path: Path):
    path = edited(tmp_path, "\ndram_mb = ", "\n# sourceless\ndram_mb = ")
    text = path.read_text()
    lines = [line for line in text.split("\n[sources]", 1)[1].splitlines() if line.startswith("dram_mb")]
    assert lines, "the iphone-16 profile should cite dram_mb"
    path.write_text(text.replace(lines[0], ""))
    assert "dram_mb" in profiles.missing_sources(profiles.load_profile(str(path)))
