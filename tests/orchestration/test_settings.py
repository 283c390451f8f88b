"""Settings come from the environment, checked early: a typo stops the run with a clear message."""

import json
import zoneinfo
from datetime import time

import pytest

from orchestration.settings import DEFAULT_BUSINESS_HOURS, Settings, SettingsError, checked_timezone


@pytest.fixture
def env(monkeypatch):
    for name in ("WABI_BUSINESS_HOURS", "WABI_REFRESH_AT", "WABI_TIMEZONE", "WABI_PLATFORM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_defaults(env):
    settings = Settings.from_env()
    assert settings.timezone == "UTC"
    assert settings.refresh_at == time(6, 0)
    assert settings.business_hours is None
    assert json.loads(DEFAULT_BUSINESS_HOURS) == {
        str(day): ["09:00", "18:00"] for day in range(1, 6)
    }


def test_business_hours_are_read_and_normalised(env):
    env.setenv("WABI_BUSINESS_HOURS", '{"6": ["10:00", "14:00"], "1": ["08:30", "17:00"]}')
    hours = json.loads(Settings.from_env().business_hours)
    assert hours == {"1": ["08:30", "17:00"], "6": ["10:00", "14:00"]}


@pytest.mark.parametrize(
    "value",
    ['{"8": ["09:00", "18:00"]}', '{"1": ["18:00", "09:00"]}', '{"1": "9-18"}', "[1, 2]", "{"],
)
def test_malformed_business_hours_are_refused_by_name(env, value):
    env.setenv("WABI_BUSINESS_HOURS", value)
    with pytest.raises(ValueError, match="WABI_BUSINESS_HOURS must map ISO weekdays"):
        Settings.from_env()


def test_the_token_never_shows_in_the_settings_repr(env):
    env.setenv("WABI_PLATFORM_TOKEN", "s3cret-token")
    assert "s3cret-token" not in repr(Settings.from_env())


@pytest.mark.parametrize("name", ["America/Sao_Paulo", "Asia/Kathmandu", "Etc/GMT+5"])
def test_a_time_zone_both_python_and_duckdb_know_is_taken(env, name):
    env.setenv("WABI_TIMEZONE", name)
    assert Settings.from_env().timezone == name


@pytest.mark.parametrize(
    "name",
    [
        "Mars/Olympus",
        "europe/berlin",  # names are case-sensitive
        "Europe/Berlin'; drop table marts.rpt_messages_daily; --",
        "../../etc/passwd",
        "Europe",  # a directory of the time zone database, not a zone
    ],
)
def test_an_unknown_time_zone_is_refused_by_name(env, name):
    env.setenv("WABI_TIMEZONE", name)
    with pytest.raises(SettingsError) as refused:
        Settings.from_env()
    assert str(refused.value) == (
        f"WABI_TIMEZONE must be an IANA time zone name such as Europe/Berlin, not {name!r}"
    )


def test_a_time_zone_only_one_of_python_and_duckdb_knows_is_refused():
    import duckdb

    with duckdb.connect() as con:
        in_duckdb = {
            row[0] for row in con.execute("select name from pg_timezone_names()").fetchall()
        }
    in_python = zoneinfo.available_timezones()
    # Old Java-style abbreviations that ICU keeps and the IANA database dropped, and the other
    # way round, names of the system's database that ICU lacks.
    for name in sorted(in_duckdb - in_python)[:3] + sorted(in_python - in_duckdb)[:3]:
        with pytest.raises(SettingsError, match="WABI_TIMEZONE"):
            checked_timezone(name)
    assert in_duckdb - in_python, "no DuckDB-only name to try"
