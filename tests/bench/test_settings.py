"""bench.settings: the knobs → a frozen Settings, parsed from plain mappings (nothing is started)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from bench.settings import BENCH_DIR, PHASES_ALL, Settings, SettingsError, parse_duration, parse_list


def settings(**env: str) -> Settings:
    return Settings.from_env(env, home=Path("/home/x"), which=lambda _tool: "/usr/sbin/nginx")


def test_defaults_are_the_documented_ones() -> None:
    s = settings()
    assert s.projects == ("requests", "setuptools")
    assert s.tiers == ("all", "reviewed", "vetted")
    assert s.workers == (1, 2)
    assert (s.duration, s.dur_s, s.conns, s.threads) == ("5s", 5, 32, 2)
    assert s.phases == tuple(p for p in PHASES_ALL if p != "profile")  # profile only with PROFILE=1
    assert (s.big_files, s.cold_load, s.list_size) == (15000, 10, 700_000)
    assert s.peers == BENCH_DIR / "peers"  # inside the repository: runs from a clean clone
    assert s.peers_home == Path("/home/x/.cache/mirror-peers")
    assert s.upstream == "pypi" and s.log_level == "warning"
    assert s.with_nginx and not s.profile and not s.record
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.soak = 1  # type: ignore[misc]


def test_lists_take_spaces_and_commas() -> None:
    assert parse_list(" a, b  c,,d ") == ("a", "b", "c", "d")
    s = settings(PROJECTS="requests,six", WORKERS="1, 4", TIERS="vetted")
    assert s.projects == ("requests", "six") and s.workers == (1, 4) and s.tiers == ("vetted",)


def test_phases_knob_selects_in_execution_order_and_knows_aliases() -> None:
    s = settings(PHASES="project-list cold-install,warm")
    assert s.phases == ("warm", "project-list", "install")
    assert settings(PHASES="all").phases == PHASES_ALL
    assert not settings(PHASES="prepare-big").main_mirror
    assert settings(PHASES="soak").main_mirror


def test_with_flags_drop_phases_from_the_default_and_profile_adds_one() -> None:
    s = settings(WITH_COLD="0", WITH_INSTALL="no", WITH_SOAK="false", PROFILE="1")
    assert "cold" not in s.phases and "install" not in s.phases and "soak" not in s.phases
    assert "profile" in s.phases and s.profile
    assert settings(PHASES="profile").profile  # selecting the phase turns profiling on


def test_empty_values_count_as_unset() -> None:
    assert settings(DURATION="", PROJECTS="").projects == ("requests", "setuptools")


def test_log_level_may_be_set_empty_to_use_the_mirrors_default() -> None:
    assert settings(MIRROR_LOG_LEVEL="").log_level == ""


def test_nginx_defaults_to_whether_it_is_installed() -> None:
    s = Settings.from_env({}, home=Path("/h"), which=lambda _tool: None)
    assert not s.with_nginx


def test_peers_dir_and_the_old_shared_knob() -> None:
    assert settings(PEERS_DIR="/opt/peers").peers == Path("/opt/peers")
    assert settings(SHARED="/srv/shared").peers == Path("/srv/shared/peers")


@pytest.mark.parametrize(("env", "named"), [
    ({"CONNS": "many"}, "CONNS"),
    ({"SOAK": "0"}, "SOAK"),
    ({"WORKERS": "1 x"}, "WORKERS"),
    ({"WORKERS": "0"}, "WORKERS"),
    ({"DURATION": "5 minutes"}, "DURATION"),
    ({"TIERS": "all gold"}, "TIERS"),
    ({"MORE_WORKERS_TIERS": "silver"}, "MORE_WORKERS_TIERS"),
    ({"PROJECTS": "Requests"}, "PROJECTS"),
    ({"PHASES": "warm bogus"}, "PHASES"),
    ({"MIRROR_LOG_LEVEL": "loud"}, "MIRROR_LOG_LEVEL"),
    ({"LIST_SIZE": "-3"}, "LIST_SIZE"),
])
def test_a_bad_value_names_its_knob(env: dict[str, str], named: str) -> None:
    with pytest.raises(SettingsError, match=named):
        settings(**env)


def test_durations() -> None:
    assert [parse_duration(t) for t in ("5s", "10", "2m", "1h")] == [5, 10, 120, 3600]
