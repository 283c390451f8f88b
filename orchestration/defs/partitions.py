"""Daily partitions of the message and status assets: a partition is a UTC day of the messages'
own times (created, or the status's time), not of when they were loaded.

A run of some days (a backfill, or a partition launched from the UI) reloads just those days
from the source: the respond.io messages created in them, and the capture files holding
messages or statuses of them; the marts then follow through the incremental models. The daily
refresh, the capture sensor and `wabi refresh` instead load whatever is new, whatever day it
belongs to: their runs carry the `wabi/load: new` tag and today's partition as a label.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import dagster as dg

# WhatsApp Business launched in January 2018: no business message is older.
MESSAGE_DAYS = dg.DailyPartitionsDefinition(start_date="2018-01-01", end_offset=1)
# A backfill of many days is one run: one walk of the source and one commit, not one per day.
ONE_RUN_PER_BACKFILL = dg.BackfillPolicy.single_run()
# The tag of a run that loads what is new rather than reloading its partitions' days.
LOAD_TAG = "wabi/load"
LOAD_NEW = {LOAD_TAG: "new"}


@dataclass(frozen=True)
class DayRange:
    """UTC days `[start, end)` a run reloads."""

    start: datetime
    end: datetime

    @property
    def epochs(self) -> tuple[int, int]:
        return int(self.start.timestamp()), int(self.end.timestamp())

    def as_metadata(self) -> dict[str, str]:
        last = datetime.fromtimestamp(self.end.timestamp() - 1, UTC)
        return {"reloaded_days": f"{self.start:%Y-%m-%d}..{last:%Y-%m-%d}"}


def refresh_partition(now: datetime | None = None) -> str:
    """The partition a refresh of what is new is filed under: today's (UTC), the newest, as
    `end_offset=1` makes today a partition."""
    return (now or datetime.now(UTC)).astimezone(UTC).date().isoformat()


def run_arguments(reload_days: tuple[date, date] | None = None) -> dict[str, Any]:
    """`execute_in_process` arguments of a refresh run, or of a run reloading the UTC days
    `(first, last)` as one run, as a backfill does."""
    if reload_days is None:
        return {"partition_key": refresh_partition(), "tags": LOAD_NEW}
    first, last = reload_days
    return {
        "tags": {
            "dagster/asset_partition_range_start": first.isoformat(),
            "dagster/asset_partition_range_end": last.isoformat(),
        }
    }


def days_to_reload(context: dg.AssetExecutionContext) -> DayRange | None:
    """The days this run reloads, or None for a refresh, which loads what is new."""
    if context.run.tags.get(LOAD_TAG) == LOAD_NEW[LOAD_TAG]:
        return None
    window = context.partition_time_window
    return DayRange(window.start.astimezone(UTC), window.end.astimezone(UTC))
