"""The one module that reads wabi's settings from the environment (never at import time)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import zoneinfo
from dataclasses import dataclass
from datetime import time
from pathlib import Path

from extract.pii import key_from_environment, load_key

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
# The dbt project's own default (dbt_project.yml var business_hours), also the simulator's.
DEFAULT_BUSINESS_HOURS = json.dumps({str(day): ["09:00", "18:00"] for day in range(1, 6)})
DEFAULT_MAX_QUARANTINE_SHARE = 0.01


class SettingsError(ValueError):
    """A setting that cannot be used; the message names it, its value and the rule (one line)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    timezone: str
    platform_url: str | None
    platform_token: str | None
    webhook_dir: Path | None = None
    refresh_at: time = time(6, 0)  # local time of the daily refresh, in `timezone`
    # Opening hours per ISO weekday, as JSON: {"1": ["09:00", "18:00"], ...}; NULL = the dbt
    # project's default (Monday to Friday, 09:00 to 18:00).
    business_hours: str | None = None
    alert_webhook: str | None = None
    run_retention_days: int = 90  # runs, their event logs and refresh logs kept this long

    @classmethod
    def from_env(cls) -> Settings:
        # Checked here, read where they are used: the key is never kept, and the raw gates
        # read the share from the environment in runs Dagster launches too.
        key_from_environment()
        max_quarantine_share()
        return cls(
            data_dir=_path(os.environ.get("WABI_DATA_DIR")) or DEFAULT_DATA_DIR.resolve(),
            timezone=checked_timezone(os.environ.get("WABI_TIMEZONE") or "UTC"),
            platform_url=os.environ.get("WABI_PLATFORM_URL") or None,
            platform_token=os.environ.get("WABI_PLATFORM_TOKEN") or None,
            webhook_dir=_path(os.environ.get("WABI_WEBHOOK_DIR")),
            refresh_at=time.fromisoformat(os.environ.get("WABI_REFRESH_AT") or "06:00"),
            alert_webhook=os.environ.get("WABI_ALERT_WEBHOOK") or None,
            business_hours=_business_hours(os.environ.get("WABI_BUSINESS_HOURS")),
            run_retention_days=_days(os.environ.get("WABI_RUN_RETENTION_DAYS") or "90"),
        )

    @property
    def sources(self) -> list[str]:
        """The sources this deployment reads: the platform API and/or webhook captures."""
        found = []
        if self.platform_url and self.platform_token:
            found.append("respondio_api")
        if self.webhook_dir:
            found.append("webhooks")
        return found

    def __repr__(self) -> str:  # the token stays out of reprs, logs and tracebacks
        token = "set" if self.platform_token else "unset"
        return (
            f"Settings(data_dir={self.data_dir}, timezone={self.timezone}, "
            f"platform_url={self.platform_url}, platform_token={token}, "
            f"webhook_dir={self.webhook_dir})"
        )

    def export(self) -> None:
        """Make these settings the process environment, which Dagster's EnvVar and dbt read."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        load_key(self.data_dir, create=True)  # the first run creates the key file, and says so
        values = {
            "WABI_DATA_DIR": str(self.data_dir),
            "WABI_TIMEZONE": self.timezone,
            "WABI_PLATFORM_URL": self.platform_url,
            "WABI_PLATFORM_TOKEN": self.platform_token,
            "WABI_WEBHOOK_DIR": str(self.webhook_dir) if self.webhook_dir else None,
            "WABI_BUSINESS_HOURS": self.business_hours or DEFAULT_BUSINESS_HOURS,
        }
        for name, value in values.items():
            if value:
                os.environ[name] = value
        prepare_dagster_home(self.data_dir)


def checked_timezone(name: str, variable: str = "WABI_TIMEZONE") -> str:
    """`name` when both Python's zoneinfo and DuckDB's ICU know it: report dates are cut in both
    (the report page and the dbt models), and dbt writes the name into SQL."""
    if name in _python_time_zones() and name in _duckdb_time_zones():
        return name
    raise SettingsError(
        f"{variable} must be an IANA time zone name such as Europe/Berlin, not {name!r}"
    )


@functools.cache
def _python_time_zones() -> frozenset[str]:
    return frozenset(zoneinfo.available_timezones())


@functools.cache
def _duckdb_time_zones() -> frozenset[str]:
    import duckdb

    with duckdb.connect() as con:
        names = con.execute("select name from pg_timezone_names()").fetchall()
    return frozenset(name for (name,) in names)


def max_quarantine_share() -> float:
    """WABI_MAX_QUARANTINE_SHARE from the environment: a fraction from 0 to 1 (default 0.01)."""
    value = os.environ.get("WABI_MAX_QUARANTINE_SHARE") or repr(DEFAULT_MAX_QUARANTINE_SHARE)
    try:
        share = float(value)
    except ValueError:
        share = -1.0
    if not 0 <= share <= 1:  # NaN fails too
        raise SettingsError(
            f"WABI_MAX_QUARANTINE_SHARE must be a fraction from 0 to 1 such as 0.01, not {value!r}"
        )
    return share


def _days(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise SettingsError(
            f"WABI_RUN_RETENTION_DAYS must be a whole number of days >= 1, not {value!r}"
        )
    return int(value)


def _business_hours(value: str | None) -> str | None:
    """WABI_BUSINESS_HOURS checked early, so a typo stops the run with a clear message."""
    if not value:
        return None
    problem = f"WABI_BUSINESS_HOURS must map ISO weekdays 1-7 to [opening, closing]: {value!r}"
    try:
        hours = json.loads(value)
        for weekday, (opening, closing) in hours.items():
            if int(weekday) not in range(1, 8) or time.fromisoformat(opening) >= time.fromisoformat(
                closing
            ):
                raise SettingsError(problem)
    except (ValueError, TypeError, AttributeError) as error:
        raise SettingsError(problem) from error
    return json.dumps(hours, sort_keys=True)


def _path(value: str | None) -> Path | None:
    return Path(value).resolve() if value else None


def prepare_dagster_home(data_dir: Path) -> Path:
    """Point DAGSTER_HOME inside the data directory (unless set) and give it our dagster.yaml."""
    home = Path(os.environ.get("DAGSTER_HOME") or data_dir / "dagster_home").resolve()
    home.mkdir(parents=True, exist_ok=True)
    source = REPO_ROOT / "dagster.yaml"
    target = home / "dagster.yaml"
    if not target.exists() or target.read_bytes() != source.read_bytes():
        shutil.copyfile(source, target)
    os.environ["DAGSTER_HOME"] = str(home)
    return home
