"""The Overview's figures computed independently of the report's code: the mart rows of the
period summed here in Python, each ratio taken from those sums as the mart's yml defines it."""

from datetime import date, timedelta
from pathlib import Path

import duckdb

WHATSAPP = ("sent", "delivered", "read", "received")
DATED_REPORTS = ("rpt_messages_daily", "rpt_conversations_daily", "rpt_contacts_daily")


def last_report_date(analytics_path: Path) -> date:
    with duckdb.connect(str(analytics_path), read_only=True) as con:
        return max(
            con.execute(f"select max(report_date) from {table}").fetchall()[0][0]
            for table in DATED_REPORTS
        )


def _sum(con, table: str, column: str, start: date, end: date, channel: str | None) -> int:
    rows = con.execute(f"select report_date, {column} from {table}").fetchall()
    if channel is not None and table != "rpt_contacts_daily":
        rows = con.execute(
            f"select report_date, {column} from {table} where channel_id = ?", [channel]
        ).fetchall()
    return sum(value for day, value in rows if start <= day <= end)


def _period_figures(con, start: date, end: date, channel: str | None) -> dict[str, float | None]:
    figures: dict[str, float | None] = {
        column: _sum(con, "rpt_whatsapp_app_statistics", column, start, end, channel)
        for column in WHATSAPP
    }
    figures["engagement_ratio"] = (
        figures["received"] / figures["delivered"] if figures["delivered"] else None
    )
    figures["read_ratio"] = figures["read"] / figures["sent"] if figures["sent"] else None
    figures["conversations_opened"] = _sum(
        con, "rpt_conversations_daily", "opened", start, end, channel
    )
    figures["conversations_closed"] = _sum(
        con, "rpt_conversations_daily", "closed", start, end, channel
    )
    figures["messages_failed"] = _sum(con, "rpt_messages_daily", "failed", start, end, channel)
    figures["new_contacts"] = _sum(con, "rpt_contacts_daily", "new_contacts", start, end, None)
    return figures


def expected_overview(
    analytics_path: Path, start: date, end: date, channel: str | None = None
) -> dict[str, tuple[str, str]]:
    """Each Overview tile's value and change as the page must write them."""
    previous_start = start - (end - start) - timedelta(days=1)
    with duckdb.connect(str(analytics_path), read_only=True) as con:
        now = _period_figures(con, start, end, channel)
        before = _period_figures(con, previous_start, start - timedelta(days=1), channel)
    shown = {}
    for metric, value in now.items():
        old = before[metric]
        if metric == "engagement_ratio":
            text = "—" if value is None else f"{value:.2f}"
            change = None if value is None or old is None else f"{value - old:+.2f}"
        elif metric == "read_ratio":
            text = "—" if value is None else f"{value:.1%}"
            change = None if value is None or old is None else f"{(value - old) * 100:+.1f} pp"
        else:
            text = f"{value:,}"
            change = f"{(value - old) / old:+.1%}" if old else None
        shown[metric] = (
            text,
            "no data in the previous period" if change is None else f"{change} vs previous period",
        )
    return shown
