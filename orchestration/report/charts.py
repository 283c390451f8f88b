"""The report's charts as Vega-Lite specs, written with Altair.

Each chart plots mart rows as they are read (`queries.py`): a fold turns a row's columns into
series, a stack lays rows on top of each other; no chart aggregates, so what a mark shows is a
figure of the warehouse.
"""

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import altair as alt

from orchestration.report.queries import Row

WIDE = 1000
HALF = 440
HEIGHT = 220
PALETTE = ["#1f6feb", "#2da44e", "#bf8700", "#cf222e", "#8250df", "#1b7c83", "#d1467c"]
BUCKETS = ["<30s", "30s-2m", "2m-5m", "5m-10m", "10m-30m", "30m-1h", ">1h"]
WEEKDAYS = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
# Report dates are calendar days: read and shown in UTC, so no browser's zone shifts them.
DAY = alt.X("utcyearmonthdate(report_date):T", title=None, axis=alt.Axis(format="%d %b"))
DAY_TOOLTIP = alt.Tooltip("utcyearmonthdate(report_date):T", title="day")
CHANNEL_TOOLTIP = alt.Tooltip("channel_name:N", title="channel")

Spec = dict[str, Any]


def _json_value(value: object) -> object:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _data(rows: Sequence[Row]) -> alt.Data:
    """Rows inline in the spec, so the page needs no data file."""
    return alt.Data(values=[{k: _json_value(v) for k, v in row.items()} for row in rows])


def _spec(chart: alt.TopLevelMixin) -> Spec:
    return (
        chart.configure(font="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif")
        .configure_view(stroke=None)
        .configure_axis(labelColor="#57606a", titleColor="#57606a", gridColor="#eaeef2")
        .configure_legend(orient="bottom", title=None, labelColor="#24292f")
        .configure_range(category=PALETTE)
        .to_dict()
    )


def _folded(
    rows: Sequence[Row], fields: Mapping[str, str], keys: Sequence[str] = ("report_date",)
) -> alt.Chart:
    """The rows, with each of `fields` (column: series label) as one series."""
    renamed = [
        {
            **{key: row[key] for key in keys},
            **{label: row[column] for column, label in fields.items()},
        }
        for row in rows
    ]
    return alt.Chart(_data(renamed)).transform_fold(list(fields.values()), as_=["series", "value"])


def _series_color(fields: Mapping[str, str]) -> alt.Color:
    return alt.Color(
        "series:N", sort=list(fields.values()), scale=alt.Scale(domain=list(fields.values()))
    )


def daily_lines(rows: Sequence[Row], fields: Mapping[str, str], y_title: str) -> Spec:
    """One line per column of `fields`, per day."""
    chart = (
        _folded(rows, fields)
        .mark_line(point=True)
        .encode(
            x=DAY,
            y=alt.Y("value:Q", title=y_title),
            color=_series_color(fields),
            tooltip=[DAY_TOOLTIP, "series:N", "value:Q"],
        )
    )
    return _spec(chart.properties(width=HALF, height=HEIGHT))


def daily_bars(
    rows: Sequence[Row],
    fields: Mapping[str, str],
    y_title: str,
    stacked: bool = True,
) -> Spec:
    """One bar per column of `fields` and day: stacked parts of a whole, or side by side."""
    encoding: dict[str, Any] = {
        "x": DAY,
        "y": alt.Y("value:Q", title=y_title, stack="zero" if stacked else None),
        "color": _series_color(fields),
        "order": alt.Order("series_order:Q"),
        "tooltip": [DAY_TOOLTIP, "series:N", "value:Q"],
    }
    if not stacked:
        encoding["xOffset"] = alt.XOffset("series:N", sort=list(fields.values()))
    order = {label: index for index, label in enumerate(fields.values())}
    chart = (
        _folded(rows, fields)
        .transform_calculate(series_order=f"{json.dumps(order)}[datum.series]")
        .mark_bar()
        .encode(**encoding)
    )
    return _spec(chart.properties(width=HALF, height=HEIGHT))


def per_channel_lines(rows: Sequence[Row], field: str, y_title: str) -> Spec:
    """One line per channel of a per-day-and-channel figure (a median, a ratio)."""
    chart = (
        alt.Chart(_data(rows))
        .mark_line(point=True)
        .encode(
            x=DAY,
            y=alt.Y(f"{field}:Q", title=y_title),
            color=alt.Color("channel_name:N"),
            tooltip=[
                DAY_TOOLTIP,
                CHANNEL_TOOLTIP,
                alt.Tooltip(f"{field}:Q", title=y_title, format=",.2f"),
            ],
        )
    )
    return _spec(chart.properties(width=HALF, height=HEIGHT))


def per_channel_stacked_bars(rows: Sequence[Row], field: str, y_title: str) -> Spec:
    """Per day, one bar part per channel."""
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=DAY,
            y=alt.Y(f"{field}:Q", title=y_title),
            color=alt.Color("channel_name:N"),
            tooltip=[DAY_TOOLTIP, CHANNEL_TOOLTIP, alt.Tooltip(f"{field}:Q", title=y_title)],
        )
    )
    return _spec(chart.properties(width=HALF, height=HEIGHT))


def channel_small_multiples(rows: Sequence[Row], fields: Mapping[str, str]) -> Spec:
    """Per day and channel, one small chart per channel with one line per field."""
    chart = (
        _folded(rows, fields, keys=("report_date", "channel_name"))
        .mark_line()
        .encode(
            x=DAY,
            y=alt.Y("value:Q", title="messages"),
            color=_series_color(fields),
            tooltip=[DAY_TOOLTIP, CHANNEL_TOOLTIP, "series:N", "value:Q"],
        )
        .properties(width=280, height=150)
        .facet(facet=alt.Facet("channel_name:N", title=None), columns=3)
        .resolve_scale(y="independent")
    )
    return _spec(chart)


def ranked_bars(
    rows: Sequence[Row], category: str, value: str, x_title: str, tooltip: Sequence[str] = ()
) -> Spec:
    """Horizontal bars, largest first, one per row."""
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            y=alt.Y(f"{category}:N", sort="-x", title=None),
            x=alt.X(f"{value}:Q", title=x_title),
            tooltip=[f"{category}:N", f"{value}:Q", *tooltip],
        )
    )
    return _spec(chart.properties(width=HALF - 140, height=alt.Step(22)))


def first_response_buckets(rows: Sequence[Row]) -> Spec:
    chart = (
        alt.Chart(_data(rows))
        .mark_bar()
        .encode(
            x=alt.X("bucket:N", sort=BUCKETS, title="first response within"),
            y=alt.Y("conversations:Q", title="closed conversations"),
            tooltip=["bucket:N", "conversations:Q", alt.Tooltip("share:Q", format=".1%")],
        )
    )
    labels = chart.mark_text(dy=-8, color="#57606a").encode(text=alt.Text("share:Q", format=".0%"))
    return _spec(alt.layer(chart, labels).properties(width=HALF, height=HEIGHT))


def busiest_hours(rows: Sequence[Row]) -> Spec:
    chart = (
        alt.Chart(_data(rows))
        .mark_rect()
        .encode(
            x=alt.X("hour_of_day:O", title="hour of the day"),
            y=alt.Y("weekday:N", sort=WEEKDAYS, title=None),
            color=alt.Color(
                "incoming_per_week:Q",
                title="incoming messages per week",
                scale=alt.Scale(scheme="blues"),
                legend=alt.Legend(orient="right", title="per week"),
            ),
            tooltip=[
                "weekday:N",
                "hour_of_day:O",
                alt.Tooltip("incoming_per_week:Q", title="incoming per week", format=",.1f"),
                alt.Tooltip("incoming_messages:Q", title="incoming, whole history"),
                alt.Tooltip("conversations_opened:Q", title="conversations opened, whole history"),
            ],
        )
    )
    return _spec(chart.properties(width=WIDE - 120, height=alt.Step(26)))


def user_day_heatmap(rows: Sequence[Row]) -> Spec:
    """A user's first-response median per day, as the mart holds it (never averaged)."""
    chart = (
        alt.Chart(_data(rows))
        .mark_rect()
        .encode(
            x=DAY,
            y=alt.Y("user_name:N", title=None),
            color=alt.Color(
                "first_response_minutes_median:Q",
                title="minutes",
                scale=alt.Scale(type="symlog", scheme="orangered"),
                legend=alt.Legend(orient="right", title="minutes"),
            ),
            tooltip=[
                DAY_TOOLTIP,
                alt.Tooltip("user_name:N", title="user"),
                alt.Tooltip(
                    "first_response_minutes_median:Q", title="median, minutes", format=",.1f"
                ),
            ],
        )
    )
    return _spec(chart.properties(width=WIDE - 260, height=alt.Step(20)))
