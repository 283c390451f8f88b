"""The one module that reads wabi's settings from the environment (never at import time)."""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from datetime import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_DIR = REPO_ROOT / "data"
# The dbt project's own default (dbt_project.yml var business_hours), also the simulator's.
DEFAULT_BUSINESS_HOURS = json.dumps({str(day): ["09:00", "18:00"] for day in range(1, 6)})


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
        return cls(
            data_dir=_path(os.environ.get("WABI_DATA_DIR")) or DEFAULT_DATA_DIR.resolve(),
            timezone=os.environ.get("WABI_TIMEZONE") or "UTC",
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


def _days(value: str) -> int:
    if not value.isdigit() or int(value) < 1:
        raise ValueError(
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
                raise ValueError(problem)
    except (ValueError, TypeError, AttributeError) as error:
        raise ValueError(problem) from error
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
