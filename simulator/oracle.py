"""The simulator's own account of the figures the marts must show.

Computed in plain Python from the true events as they are generated: it never reads the API
records, the warehouse or dbt, so a disagreement with the marts is a finding, not an echo.
Definitions follow `shared/spec/MARTS.md`; each method names the report it stands for.
"""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

if TYPE_CHECKING:
    from simulator.generate import SimMessage
    from simulator.model import WorkspaceSpec

MESSAGES_DAILY_COLUMNS = (
    "received", "sent", "delivered", "read", "failed", "sent_outside_window",
    "sent_by_user", "sent_by_workflow", "sent_by_broadcast", "sent_by_api",
)  # fmt: skip
STATUS_ORDER = ("pending", "sent", "delivered", "read")


def local_date(ts: int, zone: ZoneInfo) -> str:
    return datetime.fromtimestamp(ts, ZoneInfo("UTC")).astimezone(zone).date().isoformat()


def furthest_status(values: set[str]) -> str:
    """A message's state whatever the order its events came in: delivered or read beat failed."""
    if "read" in values:
        return "read"
    if "delivered" in values:
        return "delivered"
    if "failed" in values:
        return "failed"
    return "sent" if "sent" in values else "pending"


class Oracle:
    def __init__(self, spec: WorkspaceSpec) -> None:
        self.zone = spec.zone
        self.messages_daily: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)

    def add_message(self, message: SimMessage) -> None:
        """rpt_messages_daily: one row per (report_date, channel_id)."""
        if message.direction == "incoming":
            key = (local_date(message.created_at, self.zone), str(message.channel.channel_id))
            self.messages_daily[key]["received"] += 1
            return
        sent_times = [s.at for s in message.statuses if s.value == "sent"]
        basis = min(sent_times) if sent_times else min(s.at for s in message.statuses)
        key = (local_date(basis, self.zone), str(message.channel.channel_id))
        status = furthest_status({s.value for s in message.statuses})
        row = self.messages_daily[key]
        row["sent"] += 1
        row["delivered"] += status in ("delivered", "read")
        row["read"] += status == "read"
        row["failed"] += status == "failed"
        row["sent_outside_window"] += message.is_outside_window
        row[f"sent_by_{message.sender_source}"] += 1

    def write(self, out_dir: Path) -> None:
        out_dir.mkdir(parents=True, exist_ok=True)
        with (out_dir / "rpt_messages_daily.csv").open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(("report_date", "channel_id", *MESSAGES_DAILY_COLUMNS))
            for key in sorted(self.messages_daily):
                row = self.messages_daily[key]
                writer.writerow((*key, *(row[column] for column in MESSAGES_DAILY_COLUMNS)))


def read_expected(workspace_dir: Path, table: str) -> list[dict[str, str]]:
    with (workspace_dir / "expected" / f"{table}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))
