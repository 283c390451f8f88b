"""What the report reads from the published marts, as SQL over `analytics.duckdb`.

Every figure is a mart's: a period total is the sum of a mart's daily counts, and a period ratio
is taken from those sums exactly as the mart's yml defines the daily ratio. Medians and p90s
cannot be recombined across days, so they are read per day, as the marts hold them.
"""

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb

DEFAULT_PERIOD_DAYS = 28
# The reports that have a row for every day with activity: the last of their dates is "today"
# for the report, the first "the beginning".
DATED_REPORTS = ("rpt_messages_daily", "rpt_conversations_daily", "rpt_contacts_daily")
LOG_ROWS = 25

Row = dict[str, Any]


class ReportInputError(ValueError):
    """The report cannot be cut as asked (an unknown channel, a period that ends before it
    starts): said in one line."""


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> "Period":
        """The period of the same length that ends the day before this one starts."""
        return Period(self.start - timedelta(days=self.days), self.start - timedelta(days=1))

    def __str__(self) -> str:
        return f"{self.start} to {self.end}"


def data_dates(con: duckdb.DuckDBPyConnection) -> tuple[date, date] | None:
    """The first and last report dates of the warehouse, or None when it holds no activity."""
    union = " union all ".join(
        f"select min(report_date) as first, max(report_date) as last from {table}"
        for table in DATED_REPORTS
    )
    first, last = _rows(con, f"select min(first), max(last) from ({union})")[0].values()
    return (first, last) if last else None


def resolve_period(
    last_data_date: date, start: date | None, end: date | None, days: int = DEFAULT_PERIOD_DAYS
) -> Period:
    """The period asked for: by default it ends on the last date with data and spans `days`."""
    end = end or last_data_date
    if start is None:
        if days < 1:
            raise ReportInputError(f"a period of {days} days is empty")
        start = end - timedelta(days=days - 1)
    if start > end:
        raise ReportInputError(f"the period starts ({start}) after it ends ({end})")
    return Period(start, end)


def kept_aside_totals(con: duckdb.DuckDBPyConnection, period: Period | None) -> Row:
    """Records the loaders quarantined and rejected in `period` (in all, without one): the daily
    counts of rpt_load_issues_daily summed per kind. All channels: the mart has none."""
    return _rows(
        con,
        """
        select
            coalesce(sum(records) filter (kind = 'quarantined'), 0) as quarantined,
            coalesce(sum(records) filter (kind = 'rejected'), 0) as rejected
        from rpt_load_issues_daily
        where $start::date is null or report_date between $start::date and $end::date
        """,
        {"start": period and period.start, "end": period and period.end},
    )[0]


def connect(analytics_path: Path) -> duckdb.DuckDBPyConnection:
    return duckdb.connect(str(analytics_path), read_only=True)


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: dict[str, Any] | None = None
) -> list[Row]:
    cursor = con.execute(sql, params or {})
    names = [column[0] for column in cursor.description]
    return [dict(zip(names, values, strict=True)) for values in cursor.fetchall()]


@dataclass(frozen=True)
class ReportQueries:
    """The report's queries for one period, optionally cut to one channel."""

    con: duckdb.DuckDBPyConnection
    period: Period
    channel_id: str | None
    timezone: str

    def _read(self, sql: str, period: Period | None = None) -> list[Row]:
        period = period or self.period
        params = {"start": period.start, "end": period.end, "channel": self.channel_id}
        # DuckDB refuses a parameter the statement does not use.
        return _rows(self.con, sql, {k: v for k, v in params.items() if f"${k}" in sql})

    def channels(self) -> list[Row]:
        return _rows(
            self.con,
            "select channel_id, coalesce(channel_name, channel_id) as channel_name, channel_type "
            "from dim_channels order by channel_id",
        )

    def whatsapp_totals(self, period: Period) -> Row:
        """The WhatsApp Business app's four numbers over `period`, and its two ratios."""
        return self._read(
            """
            select
                coalesce(sum(sent), 0) as sent,
                coalesce(sum(delivered), 0) as delivered,
                coalesce(sum(read), 0) as read,
                coalesce(sum(received), 0) as received,
                -- The period's ratios from the period's sums, as the mart defines the daily
                -- ones: engagement = received / delivered, read = read / sent (NULL over 0).
                sum(received) / nullif(sum(delivered), 0) as engagement_ratio,
                sum(read) / nullif(sum(sent), 0) as read_ratio
            from rpt_whatsapp_app_statistics
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            """,
            period,
        )[0]

    def activity_totals(self, period: Period) -> Row:
        """Period sums of the daily counts the Overview shows beside the WhatsApp numbers."""
        return self._read(
            """
            select
                (select coalesce(sum(opened), 0) from rpt_conversations_daily
                    where report_date between $start and $end
                        and ($channel is null or channel_id = $channel)) as conversations_opened,
                (select coalesce(sum(closed), 0) from rpt_conversations_daily
                    where report_date between $start and $end
                        and ($channel is null or channel_id = $channel)) as conversations_closed,
                (select coalesce(sum(failed), 0) from rpt_messages_daily
                    where report_date between $start and $end
                        and ($channel is null or channel_id = $channel)) as messages_failed,
                (select coalesce(sum(new_contacts), 0) from rpt_contacts_daily
                    where report_date between $start and $end) as new_contacts
            """,
            period,
        )[0]

    def whatsapp_counts_daily(self) -> list[Row]:
        """The four numbers per day, summed over the WhatsApp channels in view."""
        return self._read(
            """
            select report_date, sum(sent) as sent, sum(delivered) as delivered,
                sum(read) as read, sum(received) as received
            from rpt_whatsapp_app_statistics
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            group by report_date
            order by report_date
            """
        )

    def whatsapp_ratios_daily(self) -> list[Row]:
        """The two ratios per day and channel, as the mart holds them."""
        return self._read(
            """
            select report_date, coalesce(channel_name, channel_id) as channel_name,
                engagement_ratio, read_ratio
            from rpt_whatsapp_app_statistics
            left join dim_channels using (channel_id)
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            order by report_date, channel_name
            """
        )

    def conversations_daily(self) -> list[Row]:
        """Per day, summed over the channels in view (counts only: medians stay per channel)."""
        return self._read(
            """
            select report_date,
                sum(opened) as opened, sum(closed) as closed,
                sum(open_at_end_of_day) as open_at_end_of_day,
                sum(opened_by_contact) as opened_by_contact,
                sum(opened_by_user) as opened_by_user,
                sum(opened_by_workflow) as opened_by_workflow,
                sum(opened_by_api) as opened_by_api
            from rpt_conversations_daily
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            group by report_date
            order by report_date
            """
        )

    def response_times_daily(self) -> list[Row]:
        """First-response median and p90 (minutes) and resolution median (hours), per day and
        channel as the mart holds them: medians of different days or channels do not add up."""
        return self._read(
            """
            select report_date, coalesce(channel_name, channel_id) as channel_name,
                first_response_seconds_median / 60 as first_response_minutes_median,
                first_response_seconds_p90 / 60 as first_response_minutes_p90,
                resolution_seconds_median / 3600 as resolution_hours_median
            from rpt_conversations_daily
            left join dim_channels using (channel_id)
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
                and closed > 0
            order by report_date, channel_name
            """
        )

    def closed_by_category(self) -> list[Row]:
        return self._read(
            """
            select coalesce(closing_category, '(no closing note)') as closing_category,
                sum(closed) as closed
            from rpt_conversations_by_category
            where report_date between $start and $end
            group by all
            order by closed desc, closing_category
            """
        )

    def assignments_daily(self) -> list[Row]:
        """Assignment changes per day, one column per kind of assigner (the mart's rows, one
        per day and kind, side by side)."""
        return self._read(
            """
            select report_date,
                coalesce(sum(assignments) filter (assigned_by_type = 'user'), 0) as by_user,
                coalesce(sum(assignments) filter (assigned_by_type = 'workflow'), 0) as by_workflow,
                coalesce(sum(assignments) filter (assigned_by_type = 'api'), 0) as by_api,
                coalesce(sum(assignments) filter (assigned_by_type = 'system'), 0) as by_system
            from rpt_assignments_daily
            where report_date between $start and $end
            group by report_date
            order by report_date
            """
        )

    def busiest_hours(self) -> list[Row]:
        return _rows(
            self.con,
            """
            select ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'][day_of_week] as weekday,
                hour_of_day, incoming_messages, conversations_opened, incoming_per_week
            from rpt_busiest_hours
            order by day_of_week, hour_of_day
            """,
        )

    def first_response_buckets(self) -> list[Row]:
        """Conversations per first-response bucket over the period; the share is the bucket's
        count over all buckets' counts, as the mart defines the daily share."""
        return self._read(
            """
            select bucket,
                sum(conversations) as conversations,
                sum(conversations) / sum(sum(conversations)) over () as share
            from rpt_first_response_buckets
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            group by bucket
            """
        )

    def users(self) -> list[Row]:
        """Per user over the period: sums of the daily counts (no recombined medians)."""
        return self._read(
            """
            select performance.user_id,
                coalesce(users.user_name, performance.user_id) as user_name,
                users.role, users.team,
                sum(conversations_assigned) as conversations_assigned,
                sum(conversations_closed) as conversations_closed,
                sum(messages_sent) as messages_sent
            from rpt_user_performance_daily as performance
            left join dim_users as users using (user_id)
            where report_date between $start and $end
            group by all
            order by conversations_closed desc, messages_sent desc, user_name
            """
        )

    def user_first_response_daily(self) -> list[Row]:
        return self._read(
            """
            select performance.report_date,
                coalesce(users.user_name, performance.user_id) as user_name,
                performance.first_response_seconds_median / 60 as first_response_minutes_median
            from rpt_user_performance_daily as performance
            left join dim_users as users using (user_id)
            where report_date between $start and $end
                and first_response_seconds_median is not null
            order by report_date, user_name
            """
        )

    def contacts_daily(self) -> list[Row]:
        return self._read(
            """
            select report_date, new_contacts, deleted_contacts, new_inbound, new_manual,
                new_import, new_api, active_new, active_returning
            from rpt_contacts_daily
            where report_date between $start and $end
            order by report_date
            """
        )

    def messages_daily(self) -> list[Row]:
        """Per day and channel, as the mart holds them."""
        return self._read(
            """
            select report_date, coalesce(channel_name, channel_id) as channel_name,
                received, sent, delivered, read, failed, sent_outside_window
            from rpt_messages_daily
            left join dim_channels using (channel_id)
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            order by report_date, channel_name
            """
        )

    def messages_by_sender_daily(self) -> list[Row]:
        """Outgoing messages per day by who sent them, summed over the channels in view."""
        return self._read(
            """
            select report_date,
                sum(sent_by_user) as sent_by_user, sum(sent_by_workflow) as sent_by_workflow,
                sum(sent_by_broadcast) as sent_by_broadcast, sum(sent_by_api) as sent_by_api
            from rpt_messages_daily
            where report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            group by report_date
            order by report_date
            """
        )

    def failures_by_error(self) -> list[Row]:
        """Failed messages (furthest state `failed`, as `rpt_messages_daily.failed` counts
        them) by the channel's error code, over the period."""
        return self._read(
            """
            select coalesce(cast(error_code as varchar), 'no code') as error_code,
                coalesce(min(error_title), '') as error_title,
                count(*) as failed
            from fct_messages
            where status = 'failed'
                and report_date between $start and $end
                and ($channel is null or channel_id = $channel)
            group by all
            order by failed desc, error_code
            """
        )

    def _end_instant(self) -> datetime:
        """The end of the period's last local day, in UTC as the facts' `_at` columns are."""
        local_end = datetime.combine(
            self.period.end + timedelta(days=1), time(), ZoneInfo(self.timezone)
        )
        return local_end.astimezone(ZoneInfo("UTC")).replace(tzinfo=None)

    def latest_assignments(self) -> list[Row]:
        return _rows(
            self.con,
            f"""
            select assignments.assigned_at, assignments.conversation_id,
                assignee.user_name as assignee, previous.user_name as previous_assignee,
                assignments.assignee_id, assignments.previous_assignee_id,
                assignments.assigned_by_type, assigner.user_name as assigned_by
            from fct_assignments as assignments
            left join dim_users as assignee on assignee.user_id = assignments.assignee_id
            left join dim_users as previous on previous.user_id = assignments.previous_assignee_id
            left join dim_users as assigner on assigner.user_id = assignments.assigned_by_user_id
            -- The mart has no channel: an assignment is on its conversation's channel.
            left join fct_conversations as conversations using (conversation_id)
            where assignments.assigned_at < $end_instant
                and ($channel is null or conversations.channel_id = $channel)
            order by assignments.assigned_at desc, assignments.assignment_id
            limit {LOG_ROWS}
            """,
            {"end_instant": self._end_instant(), "channel": self.channel_id},
        )

    def latest_closing_notes(self) -> list[Row]:
        return _rows(
            self.con,
            f"""
            select conversations.closed_at, conversations.conversation_id,
                coalesce(channels.channel_name, conversations.channel_id) as channel_name,
                conversations.closed_by_type, closer.user_name as closed_by,
                conversations.closing_category, conversations.closing_summary
            from fct_conversations as conversations
            left join dim_channels as channels using (channel_id)
            left join dim_users as closer on closer.user_id = conversations.closed_by_user_id
            where conversations.closed_at < $end_instant
                and conversations.closing_category is not null
                and ($channel is null or conversations.channel_id = $channel)
            order by conversations.closed_at desc, conversations.conversation_id
            limit {LOG_ROWS}
            """,
            {"end_instant": self._end_instant(), "channel": self.channel_id},
        )
