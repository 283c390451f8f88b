"""Settings come from the environment, checked early: a typo stops the run with a clear message."""

import json
from datetime import time

import pytest

from orchestration.settings import DEFAULT_BUSINESS_HOURS, Settings


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
