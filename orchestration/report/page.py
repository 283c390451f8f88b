"""`wabi report`: one self-contained HTML page of the published marts, tabbed like respond.io's
Reports module, with the WhatsApp Business app's numbers on its Overview.

Vega, Vega-Lite and vega-embed come inlined from the `vl-convert-python` package's offline
bundle and every chart's rows are inlined in its spec, so the file opens with no network at all.
"""

import json
import os
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import altair as alt
import duckdb
import jinja2
import vl_convert

from orchestration.report import charts
from orchestration.report.queries import (
    DEFAULT_PERIOD_DAYS,
    Period,
    ReportInputError,
    ReportQueries,
    Row,
    connect,
    data_dates,
    kept_aside_totals,
    resolve_period,
)

TEMPLATE = "report.html.j2"
REPORT_FILE = "report.html"  # beside analytics.duckdb in the data directory
# The inlined bundle's Vega-Lite is the one Altair writes its specs for ("v6.4.1" -> "6.4").
VEGA_LITE_VERSION = ".".join(alt.SCHEMA_VERSION.removeprefix("v").split(".")[:2])
ALL_CHANNELS_NOTE = "All channels: this mart has no channel."


class AnalyticsFileMissing(FileNotFoundError):
    """There is no published analytics.duckdb to report on yet."""


@dataclass(frozen=True)
class Tile:
    """One headline figure of the Overview, with its change against the previous period."""

    metric: str
    label: str
    value: str
    change: str
    trend: str  # "good", "bad" or "" (no change, or nothing to compare with): the colour


@dataclass(frozen=True)
class Tiles:
    title: str
    tiles: list[Tile]
    note: str = ""
    kind: str = "tiles"


@dataclass(frozen=True)
class Chart:
    chart_id: str
    title: str
    spec: dict[str, Any]
    note: str = ""
    wide: bool = False
    kind: str = "chart"


@dataclass(frozen=True)
class Table:
    title: str
    columns: list[str]
    rows: list[list[Any]]
    numeric: frozenset[int] = (
        frozenset()
    )  # indexes of numeric columns (right-aligned, sorted as numbers)
    sortable: bool = False
    note: str = ""
    kind: str = "table"


@dataclass
class Tab:
    tab_id: str
    title: str
    items: list[Tiles | Chart | Table] = field(default_factory=list)


@dataclass(frozen=True)
class ReportSummary:
    path: Path
    size_bytes: int
    period: Period | None  # None: the warehouse has no activity yet
    charts: int


# -- formatting: how a mart's figure is written on the page (never what it is) ------------------


def _count(value: int) -> str:
    return f"{value:,}"


def _trend(change: float, good_when_up: bool = True) -> str:
    if not change:
        return ""
    return "good" if (change > 0) == good_when_up else "bad"


def _count_change(current: int, previous: int, good_when_up: bool) -> tuple[str, str]:
    if not previous:
        return "no data in the previous period", ""
    change = (current - previous) / previous
    return f"{change:+.1%} vs previous period", _trend(change, good_when_up)


def _decimal(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _ratio_change(
    current: float | None, previous: float | None, in_percent: bool
) -> tuple[str, str]:
    if current is None or previous is None:
        return "no data in the previous period", ""
    difference = current - previous
    text = f"{difference * 100:+.1f} pp" if in_percent else f"{difference:+.2f}"
    return f"{text} vs previous period", _trend(difference)


def _local_time(value: datetime | None, zone: ZoneInfo) -> str:
    if value is None:
        return ""
    return value.replace(tzinfo=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _count_tile(
    metric: str, label: str, current: Row, previous: Row, good_when_up: bool = True
) -> Tile:
    change, trend = _count_change(current[metric], previous[metric], good_when_up)
    return Tile(metric, label, _count(current[metric]), change, trend)


def _ratio_tile(metric: str, label: str, current: Row, previous: Row, in_percent: bool) -> Tile:
    write = _percent if in_percent else _decimal
    change, trend = _ratio_change(current[metric], previous[metric], in_percent)
    return Tile(metric, label, write(current[metric]), change, trend)


def _kept_aside(con: duckdb.DuckDBPyConnection, period: Period | None) -> dict[str, Any]:
    """The records the loaders kept aside in `period` (so far, without one) as one sentence and
    the two counts. They are dated by the day they were loaded, which need not be in the period
    of the messages (a backfill, a simulated past): the sentence then gives the totals too."""
    in_all = kept_aside_totals(con, None)
    shown = kept_aside_totals(con, period) if period else in_all
    quarantined, rejected = shown["quarantined"], shown["rejected"]
    noun = "record" if quarantined == 1 else "records"
    text = f"{_count(quarantined)} {noun} quarantined, {_count(rejected)} rejected"
    if period is None:
        text += " so far"
    else:
        text += " in this period (by the day they were loaded"
        if shown != in_all:
            text += f"; {_count(in_all['quarantined'])} and {_count(in_all['rejected'])} in all"
        text += ")"
    return {**shown, "text": text, "any": any(in_all.values())}


# -- the tabs --------------------------------------------------------------------------------


def _overview(q: ReportQueries, whatsapp_in_view: bool) -> Tab:
    previous = q.period.previous()
    now, before = q.whatsapp_totals(q.period), q.whatsapp_totals(previous)
    whatsapp = Tiles(
        "WhatsApp: the app's four numbers and two ratios",
        [
            _count_tile("sent", "Sent", now, before),
            _count_tile("delivered", "Delivered", now, before),
            _count_tile("read", "Read", now, before),
            _count_tile("received", "Received", now, before),
            _ratio_tile("engagement_ratio", "Engagement ratio", now, before, in_percent=False),
            _ratio_tile("read_ratio", "Read ratio", now, before, in_percent=True),
        ],
        note=(
            "Engagement ratio = received / delivered; read ratio = read / sent, over the period's "
            "totals (rpt_whatsapp_app_statistics)."
            if whatsapp_in_view
            else "The channel shown is not a WhatsApp channel: these numbers cover WhatsApp only."
        ),
    )
    now, before = q.activity_totals(q.period), q.activity_totals(previous)
    activity = Tiles(
        "Conversations, contacts and failures",
        [
            _count_tile("conversations_opened", "Conversations opened", now, before),
            _count_tile("conversations_closed", "Conversations closed", now, before),
            _count_tile("new_contacts", "New contacts", now, before),
            _count_tile("messages_failed", "Messages failed", now, before, good_when_up=False),
        ],
        note=f"Compared with {previous}. New contacts: all channels (the mart has no channel).",
    )
    ratios = q.whatsapp_ratios_daily()
    return Tab(
        "overview",
        "Overview",
        [
            whatsapp,
            activity,
            Chart(
                "whatsapp-daily",
                "WhatsApp messages per day",
                charts.daily_lines(
                    q.whatsapp_counts_daily(),
                    {
                        "sent": "Sent",
                        "delivered": "Delivered",
                        "read": "Read",
                        "received": "Received",
                    },
                    "messages",
                ),
            ),
            Chart(
                "whatsapp-engagement-ratio",
                "Engagement ratio per day (received / delivered)",
                charts.per_channel_lines(ratios, "engagement_ratio", "engagement ratio"),
            ),
            Chart(
                "whatsapp-read-ratio",
                "Read ratio per day (read / sent)",
                charts.per_channel_lines(ratios, "read_ratio", "read ratio"),
            ),
        ],
    )


def _conversations(q: ReportQueries) -> Tab:
    daily = q.conversations_daily()
    return Tab(
        "conversations",
        "Conversations",
        [
            Chart(
                "conversations-opened-closed",
                "Opened vs closed per day",
                charts.daily_bars(
                    daily, {"opened": "Opened", "closed": "Closed"}, "conversations", stacked=False
                ),
            ),
            Chart(
                "conversations-opened-by",
                "Opened, by who opened them",
                charts.daily_bars(
                    daily,
                    {
                        "opened_by_contact": "Contact",
                        "opened_by_user": "User",
                        "opened_by_workflow": "Workflow",
                        "opened_by_api": "API",
                    },
                    "conversations",
                ),
            ),
            Chart(
                "conversations-open",
                "Open at the end of the day",
                charts.daily_lines(daily, {"open_at_end_of_day": "Open"}, "conversations"),
            ),
            Chart(
                "conversations-by-category",
                "Closed, by closing category",
                charts.ranked_bars(q.closed_by_category(), "closing_category", "closed", "closed"),
                note=ALL_CHANNELS_NOTE,
            ),
            Chart(
                "conversations-assignments",
                "Assignment changes per day, by who made them",
                charts.daily_bars(
                    q.assignments_daily(),
                    {
                        "by_user": "User",
                        "by_workflow": "Workflow",
                        "by_api": "API",
                        "by_system": "System",
                    },
                    "assignment changes",
                ),
                note=ALL_CHANNELS_NOTE,
            ),
            Chart(
                "busiest-hours",
                "Busiest hours: incoming messages per week, by weekday and hour",
                charts.busiest_hours(q.busiest_hours()),
                note="Over the whole history and all channels, in the reporting time zone.",
                wide=True,
            ),
        ],
    )


def _responses(q: ReportQueries) -> Tab:
    times = q.response_times_daily()
    per_day = "Per day of closing and channel, as the mart holds it: medians are never averaged."
    return Tab(
        "responses",
        "Responses and Resolutions",
        [
            Chart(
                "first-response-median",
                "First response time, median (minutes)",
                charts.per_channel_lines(times, "first_response_minutes_median", "minutes"),
                note=per_day,
            ),
            Chart(
                "first-response-p90",
                "First response time, 90th percentile (minutes)",
                charts.per_channel_lines(times, "first_response_minutes_p90", "minutes"),
                note=per_day,
            ),
            Chart(
                "resolution-median",
                "Resolution time, median (hours)",
                charts.per_channel_lines(times, "resolution_hours_median", "hours"),
                note=per_day,
            ),
            Chart(
                "first-response-buckets",
                "First responses by time taken",
                charts.first_response_buckets(q.first_response_buckets()),
                note="Closed conversations with a first response, over the period.",
            ),
        ],
    )


def _users(q: ReportQueries) -> Tab:
    users = q.users()
    return Tab(
        "users",
        "Users",
        [
            Chart(
                "users-leaderboard",
                "Top 10 by conversations closed",
                charts.ranked_bars(
                    users[:10],
                    "user_name",
                    "conversations_closed",
                    "conversations closed",
                    tooltip=["messages_sent:Q"],
                ),
                note=ALL_CHANNELS_NOTE,
            ),
            Table(
                "Users over the period",
                ["User", "Team", "Role", "Conversations assigned", "Closed", "Messages sent"],
                [
                    [
                        row["user_name"],
                        row["team"] or "",
                        row["role"] or "",
                        row["conversations_assigned"],
                        row["conversations_closed"],
                        row["messages_sent"],
                    ]
                    for row in users
                ],
                numeric=frozenset({3, 4, 5}),
                sortable=True,
                note=(
                    "Sums of the daily figures (rpt_user_performance_daily): a conversation "
                    "assigned on two days counts on both. Click a heading to sort."
                ),
            ),
            Chart(
                "users-first-response",
                "First response median per user and day (minutes)",
                charts.user_day_heatmap(q.user_first_response_daily()),
                note="As the mart holds it, per day of closing: medians are never averaged.",
                wide=True,
            ),
        ],
    )


def _contacts(q: ReportQueries) -> Tab:
    daily = q.contacts_daily()
    return Tab(
        "contacts",
        "Contacts",
        [
            Chart(
                "contacts-added-deleted",
                "Added vs deleted per day",
                charts.daily_bars(
                    daily,
                    {"new_contacts": "Added", "deleted_contacts": "Deleted"},
                    "contacts",
                    stacked=False,
                ),
                note=ALL_CHANNELS_NOTE,
            ),
            Chart(
                "contacts-added-how",
                "Added, by how",
                charts.daily_bars(
                    daily,
                    {
                        "new_inbound": "Wrote in",
                        "new_manual": "By a user",
                        "new_import": "Imported",
                        "new_api": "API",
                    },
                    "contacts",
                ),
                note=ALL_CHANNELS_NOTE,
            ),
            Chart(
                "contacts-new-returning",
                "Active contacts: new vs returning",
                charts.daily_bars(
                    daily, {"active_new": "New", "active_returning": "Returning"}, "contacts"
                ),
                note=ALL_CHANNELS_NOTE,
            ),
        ],
    )


def _messages(q: ReportQueries) -> Tab:
    daily = q.messages_daily()
    failures = q.failures_by_error()
    return Tab(
        "messages",
        "Messages",
        [
            Chart(
                "messages-per-channel",
                "Sent, delivered, read and failed per day, by channel",
                charts.channel_small_multiples(
                    daily,
                    {"sent": "Sent", "delivered": "Delivered", "read": "Read", "failed": "Failed"},
                ),
                wide=True,
            ),
            Chart(
                "messages-by-sender",
                "Sent per day, by sender",
                charts.daily_bars(
                    q.messages_by_sender_daily(),
                    {
                        "sent_by_user": "User",
                        "sent_by_workflow": "Workflow",
                        "sent_by_broadcast": "Broadcast",
                        "sent_by_api": "API",
                    },
                    "messages",
                ),
            ),
            Chart(
                "messages-outside-window",
                "Sent outside the 24-hour window, per day",
                charts.per_channel_stacked_bars(daily, "sent_outside_window", "messages"),
                note="WhatsApp refuses free-form messages then (error 131047).",
            ),
            Chart(
                "messages-failures",
                "Failures by error code",
                charts.ranked_bars(
                    failures, "error_code", "failed", "failed messages", tooltip=["error_title:N"]
                ),
            ),
            Table(
                "Failure codes",
                ["Error code", "Title", "Failed"],
                [[row["error_code"], row["error_title"], row["failed"]] for row in failures],
                numeric=frozenset({2}),
            ),
        ],
    )


def _logs(q: ReportQueries) -> Tab:
    zone = ZoneInfo(q.timezone)
    assignments = q.latest_assignments()
    notes = q.latest_closing_notes()
    upto = f"up to the end of {q.period.end}, times in {q.timezone}"
    return Tab(
        "logs",
        "Logs",
        [
            Table(
                "Latest assignments",
                ["When", "Conversation", "Assigned to", "Previously", "By"],
                [
                    [
                        _local_time(row["assigned_at"], zone),
                        row["conversation_id"],
                        row["assignee"] or row["assignee_id"] or "(unassigned)",
                        row["previous_assignee"] or row["previous_assignee_id"] or "",
                        row["assigned_by"] or row["assigned_by_type"],
                    ]
                    for row in assignments
                ],
                note=f"The latest {len(assignments)} (fct_assignments), {upto}.",
            ),
            Table(
                "Latest closing notes",
                ["When", "Conversation", "Channel", "Closed by", "Category", "Summary"],
                [
                    [
                        _local_time(row["closed_at"], zone),
                        row["conversation_id"],
                        row["channel_name"],
                        row["closed_by"] or row["closed_by_type"],
                        row["closing_category"],
                        row["closing_summary"] or "",
                    ]
                    for row in notes
                ],
                note=f"The latest {len(notes)} (fct_conversations), {upto}.",
            ),
        ],
    )


TAB_BUILDERS: Sequence[Callable[[ReportQueries], Tab]] = (
    _conversations,
    _responses,
    _users,
    _contacts,
    _messages,
    _logs,
)


# -- the page ------------------------------------------------------------------------------


@cache
def _vega_bundle() -> str:
    """vega, vega-lite and vega-embed as one script, bundled offline by vl-convert."""
    return vl_convert.javascript_bundle(vl_version=VEGA_LITE_VERSION)


def _script_json(value: object) -> str:
    """JSON that is safe inside a <script> element (no `</script>` can close it early)."""
    return json.dumps(value, separators=(",", ":")).replace("<", "\\u003c")


def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("orchestration.report", "."),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _write_atomically(path: Path, text: str) -> None:
    """Readers see the old page or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    staging = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    try:
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)
    finally:
        staging.unlink(missing_ok=True)


def _channel_in_view(q: ReportQueries) -> Row | None:
    channels = {row["channel_id"]: row for row in q.channels()}
    if q.channel_id is None:
        return None
    if q.channel_id not in channels:
        known = ", ".join(f"{k} ({v['channel_name']})" for k, v in channels.items()) or "none"
        raise ReportInputError(f"no channel {q.channel_id} in dim_channels; channels: {known}")
    return channels[q.channel_id]


def build_report(
    analytics_path: Path,
    out: Path,
    start: date | None = None,
    end: date | None = None,
    days: int = DEFAULT_PERIOD_DAYS,
    channel_id: str | None = None,
    timezone: str = "UTC",
) -> ReportSummary:
    """Write the report of `analytics_path` (opened read-only) to `out`."""
    if not analytics_path.exists():
        raise AnalyticsFileMissing(
            f"{analytics_path} does not exist: run `wabi demo` or `wabi refresh` first"
        )
    context: dict[str, Any] = {
        "generated_at": datetime.now(UTC).astimezone(ZoneInfo(timezone)),
        "timezone": timezone,
        "analytics_path": analytics_path,
        "vega_bundle": _vega_bundle(),
        "tabs": [],
        "specs": "{}",
        "chart_count": 0,
        "period": None,
        "channel": None,
        "kept_aside": None,
    }
    try:
        with connect(analytics_path) as con:
            dates = data_dates(con)
            if not dates:
                context["kept_aside"] = _kept_aside(con, None)
            else:
                period = resolve_period(dates[1], start, end, days)
                q = ReportQueries(con, period, channel_id, timezone)
                channel = _channel_in_view(q)
                whatsapp_in_view = channel is None or channel["channel_type"].startswith("whatsapp")
                tabs = [_overview(q, whatsapp_in_view), *(build(q) for build in TAB_BUILDERS)]
                specs = {
                    item.chart_id: item.spec
                    for tab in tabs
                    for item in tab.items
                    if isinstance(item, Chart)
                }
                context.update(
                    period=period,
                    previous=period.previous(),
                    data_dates=dates,
                    channel=channel,
                    tabs=tabs,
                    specs=_script_json(specs),
                    chart_count=len(specs),
                    kept_aside=_kept_aside(con, period),
                )
    except duckdb.CatalogException as error:
        raise ReportInputError(
            f"{analytics_path} is not wabi's published file: {str(error).splitlines()[0]}"
        ) from error
    html = _environment().get_template(TEMPLATE).render(**context)
    _write_atomically(out, html)
    return ReportSummary(
        path=out,
        size_bytes=out.stat().st_size,
        period=context["period"],
        charts=context["chart_count"],
    )
