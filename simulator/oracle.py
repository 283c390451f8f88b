"""The simulator's own account of the figures the marts must show.

Computed in plain Python from the true events as they are generated: it never reads the API
records, the capture files, the warehouse or dbt, so a disagreement with the marts is a finding,
not an echo. `expected/<report>.csv` holds one file per report table of `shared/spec/MARTS.md`;
an empty cell is NULL. Dates, weekdays and hours are in the workspace's time zone.

Definitions where the contract leaves a choice (the dbt yml must say the same):
- An outgoing message is reported at its `sent` time, else its earliest status; its furthest
  state wins whatever the order of events (delivered or read outrank failed).
- Conversation times use messages' creation times. First response: the first outgoing message
  by a user (a human agent) created after the conversation's first incoming message. A run of
  incoming messages starts at an incoming message with no user message since the previous run;
  its response time runs to the next user message; `responses` counts answered runs.
- Medians and p90 interpolate linearly between ranks (DuckDB `quantile_cont`).
- Response and resolution figures of the daily reports are over conversations *closed* that day
  (respond.io's reading); first-response figures of a user go to the user who sent it.
- `open_at_end_of_day`: opened before the day's end and not closed by then.
- `conversations_reassigned`: distinct conversations given that day, by that kind of assigner,
  to a user other than the one who had them.
- `rpt_busiest_hours.weeks`: how many days of that weekday the history spans (first to last day
  with an incoming message or an opened conversation).
- `deleted_contacts`: contacts deleted that day (the `contactDeleted` event's time); a deleted
  contact still counts among `new_contacts` on the day it was added.
- Daily reports with a spine (conversations, contacts) have a row for every day from their first
  to their last day of activity, zero-filled; the others have rows only where something happened.
"""

from __future__ import annotations

import csv
import math
from array import array
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from simulator.model import BUSINESS_HOURS, utc_day

if TYPE_CHECKING:
    from simulator.generate import SimConversation, SimMessage
    from simulator.model import Contact, WorkspaceSpec

UTC = ZoneInfo("UTC")
MESSAGES_DAILY_COLUMNS = (
    "received",
    "sent",
    "delivered",
    "read",
    "failed",
    "sent_outside_window",
    "sent_by_user",
    "sent_by_workflow",
    "sent_by_broadcast",
    "sent_by_api",
)
FIRST_RESPONSE_BUCKETS = (
    ("<30s", 30),
    ("30s-2m", 120),
    ("2m-5m", 300),
    ("5m-10m", 600),
    ("10m-30m", 1800),
    ("30m-1h", 3600),
    (">1h", math.inf),
)
OPENED_BY = ("contact", "user", "workflow", "api")
# The grain of every table the oracle writes: the columns that identify a row.
TABLE_KEYS: dict[str, tuple[str, ...]] = {
    "fct_conversations": ("conversation_id",),
    "rpt_messages_daily": ("report_date", "channel_id"),
    "rpt_whatsapp_app_statistics": ("report_date", "channel_id"),
    "rpt_conversations_daily": ("report_date", "channel_id"),
    "rpt_conversations_by_category": ("report_date", "closing_category"),
    "rpt_first_response_buckets": ("report_date", "channel_id", "bucket"),
    "rpt_assignments_daily": ("report_date", "assigned_by_type"),
    "rpt_busiest_hours": ("day_of_week", "hour_of_day"),
    "rpt_user_performance_daily": ("report_date", "user_id"),
    "rpt_contacts_daily": ("report_date",),
}
CONTACT_SOURCES = ("inbound", "manual", "import", "api")


def local_date(ts: int, zone: ZoneInfo) -> date:
    return datetime.fromtimestamp(ts, UTC).astimezone(zone).date()


class LocalClock:
    """Local (date, ISO weekday, hour) of UTC instants, memoised per quarter hour: every UTC
    offset in use, and every DST change, falls on a whole quarter hour, so the instants of one
    quarter hour share them. (A zone conversion per message was the oracle's main cost.)"""

    def __init__(self, zone: ZoneInfo) -> None:
        self.zone = zone
        self._quarters: dict[int, tuple[date, int, int]] = {}

    def __call__(self, ts: int) -> tuple[date, int, int]:
        quarter = ts // 900
        found = self._quarters.get(quarter)
        if found is None:
            local = datetime.fromtimestamp(quarter * 900, UTC).astimezone(self.zone)
            found = self._quarters[quarter] = (local.date(), local.isoweekday(), local.hour)
        return found

    def date(self, ts: int) -> date:
        return self(ts)[0]


def furthest_status(values: set[str]) -> str:
    """A message's state whatever the order its events came in: delivered or read beat failed."""
    if "read" in values:
        return "read"
    if "delivered" in values:
        return "delivered"
    if "failed" in values:
        return "failed"
    return "sent" if "sent" in values else "pending"


def reported_at(message: SimMessage) -> int:
    if message.direction == "incoming":
        return message.created_at
    sent = [s.at for s in message.statuses if s.value == "sent"]
    return min(sent) if sent else min(s.at for s in message.statuses)


def quantile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks, as DuckDB's quantile_cont."""
    if not values:
        return None
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator else None


def business_seconds(start: int, end: int, zone: ZoneInfo) -> float:
    """Seconds of [start, end) inside business hours (local weekday windows, DST-aware)."""
    if end <= start:
        return 0.0
    total = 0.0
    day = local_date(start, zone)
    last = local_date(end, zone)
    while day <= last:
        hours = BUSINESS_HOURS.get(day.isoweekday())
        if hours:
            opening = datetime.combine(day, hours[0], zone).timestamp()
            closing = datetime.combine(day, hours[1], zone).timestamp()
            total += max(0.0, min(end, closing) - max(start, opening))
        day += timedelta(days=1)
    return total


@dataclass
class ConversationFacts:
    """What fct_conversations must hold for one conversation."""

    first_incoming_at: int | None
    first_response_at: int | None
    first_response_user_id: int | None
    response_seconds: list[int]

    @property
    def first_response_seconds(self) -> int | None:
        if self.first_incoming_at is None or self.first_response_at is None:
            return None
        return self.first_response_at - self.first_incoming_at


def conversation_facts(messages: Iterable[SimMessage]) -> ConversationFacts:
    ordered = sorted(messages, key=lambda m: (m.created_at, m.direction != "incoming"))
    first_incoming = next((m.created_at for m in ordered if m.direction == "incoming"), None)
    first_response = None
    run_started: int | None = None
    response_seconds = []
    for message in ordered:
        if message.direction == "incoming":
            run_started = message.created_at if run_started is None else run_started
        elif message.sender_source == "user" and run_started is not None:
            response_seconds.append(message.created_at - run_started)
            run_started = None
            if first_response is None:
                first_response = message
    return ConversationFacts(
        first_incoming_at=first_incoming,
        first_response_at=first_response.created_at if first_response else None,
        first_response_user_id=first_response.user_id if first_response else None,
        response_seconds=response_seconds,
    )


def _cell(value: object) -> object:
    return "" if value is None else value


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


FCT_CONVERSATIONS_COLUMNS = (
    "conversation_id",
    "channel_id",
    "contact_id",
    "opened_at",
    "opened_by",
    "first_assignee_id",
    "assignee_id",
    "assignments",
    "first_incoming_at",
    "first_response_at",
    "first_response_seconds",
    "first_response_business_seconds",
    "avg_response_seconds",
    "responses",
    "closed_at",
    "closed_by_type",
    "closed_by_user_id",
    "closing_category",
    "closing_summary",
    "resolution_seconds",
    "resolution_business_seconds",
    "incoming_messages",
    "outgoing_messages",
    "is_open",
)


def _timestamp(ts: int | None) -> str | None:
    """A UTC timestamp as the marts print it."""
    if ts is None:
        return None
    day, seconds = divmod(ts, 86_400)
    return f"{utc_day(day)} {seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


Durations = array  # of "q": whole seconds


def _durations() -> Durations:
    return array("q")


class Oracle:
    """Accumulates the reports contact by contact; `fct_conversations.csv` is streamed to
    `out_dir` as it goes (one row per conversation), the reports are written by `close()`."""

    def __init__(self, spec: WorkspaceSpec, out_dir: Path) -> None:
        self.zone = spec.zone
        self.clock = LocalClock(spec.zone)
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._conversations_file = (out_dir / "fct_conversations.csv").open("w", newline="")
        self._conversations_csv = csv.writer(self._conversations_file)
        self._conversations_csv.writerow(FCT_CONVERSATIONS_COLUMNS)
        self.messages_daily: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
        self.whatsapp_channels: set[str] = set()
        # conversations
        self.opened: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
        self.closed: Counter[tuple[date, str]] = Counter()
        self.open_delta: Counter[tuple[date, str]] = Counter()
        self.first_channel_day: dict[str, date] = {}
        # Durations are kept for exact medians: 8 bytes each in an array (a list of ints costs
        # 36), the oracle's only memory that grows with the workspace.
        self.closed_first_response: dict[tuple[date, str], Durations] = defaultdict(_durations)
        self.closed_resolution: dict[tuple[date, str], Durations] = defaultdict(_durations)
        self.by_category: dict[tuple[date, str | None], Durations] = defaultdict(_durations)
        # assignments
        self.assignments: dict[tuple[date, str], Counter[str]] = defaultdict(Counter)
        self.reassigned: Counter[tuple[date, str]] = Counter()  # distinct conversations
        # busiest hours
        self.hour_counts: dict[tuple[int, int], Counter[str]] = defaultdict(Counter)
        # users
        self.user_counts: dict[tuple[date, int], Counter[str]] = defaultdict(Counter)
        self.user_assigned: Counter[tuple[date, int]] = Counter()  # distinct conversations
        self.user_first_response: dict[tuple[date, int], Durations] = defaultdict(_durations)
        self.user_resolution: dict[tuple[date, int], Durations] = defaultdict(_durations)
        # contacts
        self.contacts_daily: dict[date, Counter[str]] = defaultdict(Counter)
        self.activity_days: list[date] = []  # first and last day of any activity

    def _touch(self, day: date) -> None:
        if not self.activity_days:
            self.activity_days = [day, day]
        self.activity_days = [min(self.activity_days[0], day), max(self.activity_days[1], day)]

    def add_contact(
        self, contact: Contact, messages: list[SimMessage], conversations: list[SimConversation]
    ) -> None:
        """Everything one contact did (comments reach no report, so they are not needed)."""
        created_day = self.clock.date(contact.created_at)
        self.contacts_daily[created_day]["new_contacts"] += 1
        self.contacts_daily[created_day][f"new_{contact.created_via}"] += 1
        self._touch(created_day)
        if contact.deleted_at is not None:
            deleted_day = self.clock.date(contact.deleted_at)
            self.contacts_daily[deleted_day]["deleted_contacts"] += 1
            self._touch(deleted_day)
        active_days = set()
        for message in messages:
            self.add_message(message)
            if message.direction == "incoming":
                day = self.clock.date(message.created_at)
                active_days.add(day)
                self._touch(day)
        for day in active_days:
            self.contacts_daily[day]["active_contacts"] += 1
            self.contacts_daily[day][
                "active_new" if day == created_day else "active_returning"
            ] += 1
        by_conversation: dict[int, list[SimMessage]] = defaultdict(list)
        for message in messages:
            if message.conversation is not None:
                by_conversation[message.conversation.conversation_id].append(message)
        for conversation in conversations:
            self.add_conversation(conversation, by_conversation[conversation.conversation_id])

    def add_message(self, message: SimMessage) -> None:
        channel = str(message.channel.channel_id)
        if message.channel.kind == "whatsapp":
            self.whatsapp_channels.add(channel)
        at = reported_at(message)
        day, weekday, hour = self.clock(at)
        row = self.messages_daily[(day, channel)]
        if message.direction == "incoming":
            row["received"] += 1
            self.hour_counts[(weekday, hour)]["incoming_messages"] += 1
            return
        status = furthest_status({s.value for s in message.statuses})
        row["sent"] += 1
        row["delivered"] += status in ("delivered", "read")
        row["read"] += status == "read"
        row["failed"] += status == "failed"
        row["sent_outside_window"] += message.is_outside_window
        row[f"sent_by_{message.sender_source}"] += 1
        if message.sender_source == "user" and message.user_id is not None:
            self.user_counts[(day, message.user_id)]["messages_sent"] += 1

    def add_conversation(self, conversation: SimConversation, messages: list[SimMessage]) -> None:
        channel = str(conversation.channel.channel_id)
        opened_day, opened_weekday, opened_hour = self.clock(conversation.opened_at)
        self._touch(opened_day)
        self.first_channel_day[channel] = min(
            self.first_channel_day.get(channel, opened_day), opened_day
        )
        self.opened[(opened_day, channel)]["opened"] += 1
        self.opened[(opened_day, channel)][f"opened_by_{conversation.opened_by}"] += 1
        self.hour_counts[(opened_weekday, opened_hour)]["conversations_opened"] += 1
        self.open_delta[(opened_day, channel)] += 1
        assigned_to: set[tuple[date, int]] = set()  # this conversation's, counted once each
        reassigned_by: set[tuple[date, str]] = set()
        for assignment in conversation.assignments:
            day = self.clock.date(assignment.at)
            counts = self.assignments[(day, assignment.by_type)]
            counts["assignments"] += 1
            counts["unassignments"] += assignment.assignee_id is None
            if assignment.assignee_id is not None:
                assigned_to.add((day, assignment.assignee_id))
                if assignment.previous_assignee_id not in (None, assignment.assignee_id):
                    reassigned_by.add((day, assignment.by_type))
        self.user_assigned.update(assigned_to)
        self.reassigned.update(reassigned_by)
        facts = conversation_facts(messages)
        self._write_conversation(conversation, messages, facts)
        if conversation.closed_at is None:
            return
        closed_day = self.clock.date(conversation.closed_at)
        self._touch(closed_day)
        key = (closed_day, channel)
        self.closed[key] += 1
        self.open_delta[key] -= 1
        resolution = conversation.closed_at - conversation.opened_at
        self.closed_resolution[key].append(resolution)
        self.by_category[(closed_day, conversation.closing_category)].append(resolution)
        if facts.first_response_seconds is not None:
            self.closed_first_response[key].append(facts.first_response_seconds)
            if facts.first_response_user_id is not None:
                user_key = (closed_day, facts.first_response_user_id)
                self.user_first_response[user_key].append(facts.first_response_seconds)
        if conversation.closed_by_user_id is not None:
            user_key = (closed_day, conversation.closed_by_user_id)
            self.user_counts[user_key]["conversations_closed"] += 1
            self.user_resolution[user_key].append(resolution)

    def _write_conversation(
        self, conversation: SimConversation, messages: list[SimMessage], facts: ConversationFacts
    ) -> None:
        """fct_conversations: every timestamp and duration of one conversation."""
        assignees = [a.assignee_id for a in conversation.assignments]
        closed_at = conversation.closed_at
        resolution = None if closed_at is None else closed_at - conversation.opened_at
        first_response_business = None
        if facts.first_response_seconds is not None:
            first_response_business = business_seconds(
                facts.first_incoming_at, facts.first_response_at, self.zone
            )
        incoming = sum(m.direction == "incoming" for m in messages)
        row = (
            conversation.conversation_id,
            conversation.channel.channel_id,
            conversation.contact_id,
            _timestamp(conversation.opened_at),
            conversation.opened_by,
            next((a for a in assignees if a is not None), None),
            assignees[-1] if assignees else None,
            len(assignees),
            _timestamp(facts.first_incoming_at),
            _timestamp(facts.first_response_at),
            facts.first_response_seconds,
            first_response_business,
            mean(facts.response_seconds),
            len(facts.response_seconds),
            _timestamp(closed_at),
            conversation.closed_by_type,
            conversation.closed_by_user_id,
            conversation.closing_category,
            conversation.closing_summary,
            resolution,
            None
            if closed_at is None
            else business_seconds(conversation.opened_at, closed_at, self.zone),
            incoming,
            len(messages) - incoming,
            closed_at is None,
        )
        self._conversations_csv.writerow([_cell(value) for value in row])

    # -- the report tables ------------------------------------------------------------------
    def tables(self) -> dict[str, tuple[tuple[str, ...], list[tuple]]]:
        """Every report: (columns, rows sorted by key)."""
        return {
            "rpt_messages_daily": self._messages_daily(),
            "rpt_whatsapp_app_statistics": self._whatsapp_app_statistics(),
            "rpt_conversations_daily": self._conversations_daily(),
            "rpt_conversations_by_category": self._conversations_by_category(),
            "rpt_first_response_buckets": self._first_response_buckets(),
            "rpt_assignments_daily": self._assignments_daily(),
            "rpt_busiest_hours": self._busiest_hours(),
            "rpt_user_performance_daily": self._user_performance_daily(),
            "rpt_contacts_daily": self._contacts_daily(),
        }

    def _messages_daily(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "channel_id",
            *MESSAGES_DAILY_COLUMNS,
            "delivery_rate",
            "read_rate",
            "failure_rate",
        )
        rows = []
        for (day, channel), row in sorted(self.messages_daily.items()):
            rows.append(
                (
                    day,
                    channel,
                    *(row[c] for c in MESSAGES_DAILY_COLUMNS),
                    ratio(row["delivered"], row["sent"]),
                    ratio(row["read"], row["delivered"]),
                    ratio(row["failed"], row["sent"]),
                )
            )
        return columns, rows

    def _whatsapp_app_statistics(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "channel_id",
            "sent",
            "delivered",
            "read",
            "received",
            "engagement_ratio",
            "read_ratio",
        )
        rows = [
            (
                day,
                channel,
                row["sent"],
                row["delivered"],
                row["read"],
                row["received"],
                ratio(row["received"], row["delivered"]),
                ratio(row["read"], row["sent"]),
            )
            for (day, channel), row in sorted(self.messages_daily.items())
            if channel in self.whatsapp_channels
        ]
        return columns, rows

    def _conversations_daily(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "channel_id",
            "opened",
            *(f"opened_by_{o}" for o in OPENED_BY),
            "closed",
            "open_at_end_of_day",
            "first_response_seconds_median",
            "first_response_seconds_p90",
            "resolution_seconds_median",
        )
        rows = []
        if not self.activity_days:
            return columns, rows
        for channel, first_day in sorted(self.first_channel_day.items()):
            open_now = 0
            for day in _days(first_day, self.activity_days[1]):
                key = (day, channel)
                open_now += self.open_delta[key]
                opened = self.opened.get(key, Counter())
                first_responses = self.closed_first_response.get(key, [])
                rows.append(
                    (
                        day,
                        channel,
                        opened["opened"],
                        *(opened[f"opened_by_{o}"] for o in OPENED_BY),
                        self.closed[key],
                        open_now,
                        quantile(first_responses, 0.5),
                        quantile(first_responses, 0.9),
                        quantile(self.closed_resolution.get(key, []), 0.5),
                    )
                )
        return columns, sorted(rows)

    def _conversations_by_category(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = ("report_date", "closing_category", "closed", "resolution_seconds_median")
        rows = [
            (day, category, len(values), quantile(values, 0.5))
            for (day, category), values in self.by_category.items()
        ]
        return columns, sorted(rows, key=lambda r: (r[0], r[1] or ""))

    def _first_response_buckets(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = ("report_date", "channel_id", "bucket", "conversations", "share")
        rows = []
        for (day, channel), values in sorted(self.closed_first_response.items()):
            counts = Counter(
                next(name for name, upper in FIRST_RESPONSE_BUCKETS if v < upper) for v in values
            )
            for name, _ in FIRST_RESPONSE_BUCKETS:
                if counts[name]:
                    rows.append((day, channel, name, counts[name], counts[name] / len(values)))
        return columns, rows

    def _assignments_daily(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "assigned_by_type",
            "assignments",
            "unassignments",
            "conversations_reassigned",
        )
        rows = [
            (
                day,
                by_type,
                c["assignments"],
                c["unassignments"],
                self.reassigned[(day, by_type)],
            )
            for (day, by_type), c in sorted(self.assignments.items())
        ]
        return columns, rows

    def _busiest_hours(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "day_of_week",
            "hour_of_day",
            "incoming_messages",
            "conversations_opened",
            "weeks",
            "incoming_per_week",
        )
        weekdays: Counter[int] = Counter()
        if self.activity_days:
            first, last = self._busy_span()
            weekdays.update(day.isoweekday() for day in _days(first, last))
        rows = []
        for day_of_week in range(1, 8):
            for hour in range(24):
                counts = self.hour_counts.get((day_of_week, hour), Counter())
                weeks = weekdays[day_of_week]
                rows.append(
                    (
                        day_of_week,
                        hour,
                        counts["incoming_messages"],
                        counts["conversations_opened"],
                        weeks,
                        ratio(counts["incoming_messages"], weeks),
                    )
                )
        return columns, rows

    def _busy_span(self) -> tuple[date, date]:
        """First and last day with an incoming message or an opened conversation."""
        days = [day for (day, _), row in self.messages_daily.items() if row["received"]]
        days += [day for (day, _) in self.opened]
        return min(days), max(days)

    def _user_performance_daily(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "user_id",
            "conversations_assigned",
            "conversations_closed",
            "messages_sent",
            "first_response_seconds_avg",
            "first_response_seconds_median",
            "first_response_seconds_p90",
            "resolution_seconds_avg",
            "resolution_seconds_median",
        )
        keys = set(self.user_counts) | set(self.user_assigned) | set(self.user_first_response)
        rows = []
        for day, user in sorted(keys):
            counts = self.user_counts.get((day, user), Counter())
            first = self.user_first_response.get((day, user), [])
            resolution = self.user_resolution.get((day, user), [])
            rows.append(
                (
                    day,
                    str(user),
                    self.user_assigned[(day, user)],
                    counts["conversations_closed"],
                    counts["messages_sent"],
                    mean(first),
                    quantile(first, 0.5),
                    quantile(first, 0.9),
                    mean(resolution),
                    quantile(resolution, 0.5),
                )
            )
        return columns, rows

    def _contacts_daily(self) -> tuple[tuple[str, ...], list[tuple]]:
        columns = (
            "report_date",
            "new_contacts",
            *(f"new_{s}" for s in CONTACT_SOURCES),
            "deleted_contacts",
            "active_contacts",
            "active_new",
            "active_returning",
        )
        if not self.activity_days:
            return columns, []
        first = min(self.contacts_daily)
        last = max(self.contacts_daily)
        rows = []
        for day in _days(first, last):
            c = self.contacts_daily.get(day, Counter())
            rows.append(
                (
                    day,
                    c["new_contacts"],
                    *(c[f"new_{s}"] for s in CONTACT_SOURCES),
                    c["deleted_contacts"],
                    c["active_contacts"],
                    c["active_new"],
                    c["active_returning"],
                )
            )
        return columns, rows

    def close(self) -> None:
        self._conversations_file.close()
        for table, (columns, rows) in self.tables().items():
            with (self.out_dir / f"{table}.csv").open("w", newline="") as handle:
                writer = csv.writer(handle)
                writer.writerow(columns)
                writer.writerows([_cell(value) for value in row] for row in rows)


def read_expected(workspace_dir: Path, table: str) -> list[dict[str, str]]:
    with (workspace_dir / "expected" / f"{table}.csv").open(newline="") as handle:
        return list(csv.DictReader(handle))
