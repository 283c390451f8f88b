"""`wabi rejects`: the records the loaders kept aside, read from the warehouse without writing.

Two tables hold them: `raw.quarantined_records` (valid records that break a value rule, by rule)
and `raw.rejected_records` (what could not be parsed or keyed, by reason). Records are grouped by
kind, source, raw table and rule or reason (a reject's reason up to its first `:`, as the loaders
count them: the rest is a position), and each group lists the places its records came from. The
records themselves hold customers' phone numbers: they are read only when asked for.
"""

from __future__ import annotations

import unicodedata
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from extract.load import RAW_SCHEMA, warehouse_config

QUARANTINED, REJECTED = "quarantined", "rejected"
# A record printed with --show-records is cut here: a capture line may be megabytes long.
RECORD_CHARS = 2_000

# One select per table, in the same columns. `reason` is what records are grouped by, `detail`
# what is shown beside each place; the rule of a quarantined record is both.
_ISSUES = {
    "quarantined_records": f"""
        select '{QUARANTINED}' as kind, source, raw_table, rule as reason, rule as detail,
            location, quarantined_at as seen_at, {{record}} as record_text
        from {RAW_SCHEMA}.quarantined_records""",
    "rejected_records": f"""
        select '{REJECTED}' as kind, source, null as raw_table,
            split_part(reason, ':', 1) as reason, reason as detail,
            location, rejected_at as seen_at, {{record}} as record_text
        from {RAW_SCHEMA}.rejected_records""",
}
_RECORD_COLUMNS = {"quarantined_records": "cast(record as varchar)", "rejected_records": "raw_text"}


class WarehouseUnreadable(Exception):
    """The warehouse is missing or not a DuckDB file: said in one line."""


class WarehouseBusy(WarehouseUnreadable):
    """A refresh is writing the warehouse (DuckDB allows one writer): said in one line."""


@dataclass(frozen=True)
class Filters:
    since: datetime | None = None  # UTC, as the tables' times are
    source: str | None = None
    reason: str | None = None  # a substring of the rule or reason, any case


@dataclass(frozen=True)
class Place:
    location: str | None
    detail: str
    seen_at: datetime
    record: str | None = None  # only with show_records


@dataclass
class Group:
    kind: str
    source: str
    raw_table: str | None
    reason: str
    count: int
    first_seen: datetime
    last_seen: datetime
    places: list[Place] = field(default_factory=list)

    @property
    def places_not_shown(self) -> int:
        return self.count - len(self.places)

    def as_json(self) -> dict[str, Any]:
        listed = asdict(self)
        listed["places_not_shown"] = self.places_not_shown
        return listed


def _connect(warehouse_path: Path) -> duckdb.DuckDBPyConnection:
    if not warehouse_path.exists():
        raise WarehouseUnreadable(
            f"{warehouse_path} does not exist: no refresh has loaded anything here yet"
        )
    try:
        return duckdb.connect(str(warehouse_path), read_only=True, config=warehouse_config())
    except duckdb.Error as error:
        first_line = str(error).splitlines()[0]
        if "lock" in first_line.lower():
            raise WarehouseBusy(
                f"{warehouse_path} is being written by a refresh (DuckDB allows one writer): "
                "run `wabi rejects` again when it has ended"
            ) from error
        raise WarehouseUnreadable(f"{warehouse_path} cannot be read: {first_line}") from error


def read_groups(
    warehouse_path: Path, filters: Filters, limit: int, show_records: bool = False
) -> list[Group]:
    """Every group of kept-aside records matching `filters`, most records first, each with up to
    `limit` of its places (the newest first)."""
    with _connect(warehouse_path) as con:
        present = {
            name
            for (name,) in con.execute(
                "select table_name from duckdb_tables() where schema_name = $schema",
                {"schema": RAW_SCHEMA},
            ).fetchall()
        }
        selects = [
            sql.format(record=_RECORD_COLUMNS[table] if show_records else "null")
            for table, sql in _ISSUES.items()
            if table in present
        ]
        if not selects:
            return []
        params: dict[str, Any] = {
            "since": filters.since,
            "source": filters.source,
            "reason": filters.reason,
        }
        con.execute(
            f"""
            create temp table matching as
            with issues as ({" union all ".join(selects)})
            select * from issues
            where ($since::timestamp is null or seen_at >= $since::timestamp)
                and ($source::varchar is null or source = $source::varchar)
                and ($reason::varchar is null or contains(lower(detail), lower($reason::varchar)))
            """,
            params,
        )
        groups = {
            (kind, source, raw_table, reason): Group(
                kind, source, raw_table, reason, count, first_seen, last_seen
            )
            for kind, source, raw_table, reason, count, first_seen, last_seen in con.execute(
                """
                select kind, source, raw_table, reason, count(*), min(seen_at), max(seen_at)
                from matching
                group by all
                order by count(*) desc, kind, source, raw_table, reason
                """
            ).fetchall()
        }
        places = con.execute(
            """
            select kind, source, raw_table, reason, location, detail, seen_at, record_text
            from matching
            qualify row_number() over (
                partition by kind, source, raw_table, reason order by seen_at desc, location
            ) <= $limit
            order by seen_at desc, location
            """,
            {"limit": limit},
        ).fetchall()
    for kind, source, raw_table, reason, location, detail, seen_at, record in places:
        groups[(kind, source, raw_table, reason)].places.append(
            Place(location, detail, seen_at, _cut(record) if show_records else None)
        )
    return list(groups.values())


def _cut(text: str | None) -> str | None:
    if text is None or len(text) <= RECORD_CHARS:
        return text
    return f"{text[:RECORD_CHARS]}… ({len(text) - RECORD_CHARS:,} more characters)"


def printable(text: str | None) -> str:
    """`text` safe to print on a terminal: a hostile file name, reason or record cannot move the
    cursor or recolour the screen (control characters are written as escapes)."""
    if text is None:
        return "-"
    return "".join(
        f"\\x{ord(char):02x}" if unicodedata.category(char) == "Cc" else char for char in text
    )


def _when(value: datetime) -> str:
    return f"{value:%Y-%m-%d %H:%M:%S}"


def render_text(groups: list[Group], show_records: bool) -> str:
    """The summary table, then each group's places (and records, when asked for)."""
    header = ("kind", "source", "raw table", "rule / reason", "count", "first seen", "last seen")
    rows = [
        (
            group.kind,
            printable(group.source),
            printable(group.raw_table),
            printable(group.reason),
            f"{group.count:,}",
            _when(group.first_seen),
            _when(group.last_seen),
        )
        for group in groups
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    numeric = {4}
    lines = [
        "  ".join(
            cell.rjust(width) if i in numeric else cell.ljust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in [header, *rows]
    ]
    lines.append("(times in UTC)")
    for group in groups:
        names = [group.kind, group.source, group.raw_table, group.reason]
        lines += ["", " · ".join(printable(name) for name in names if name) + ":"]
        for place in group.places:
            detail = f"  {printable(place.detail)}" if place.detail != group.reason else ""
            lines.append(f"  {printable(place.location)}{detail}  ({_when(place.seen_at)})")
            if show_records:
                lines.append(f"    {printable(place.record)}")
        if group.places_not_shown:
            lines.append(f"  … and {group.places_not_shown:,} more (raise --limit to list them)")
    if not show_records:
        lines += [
            "",
            "Records are not printed: they hold customers' phone numbers. "
            "--show-records prints them.",
        ]
    return "\n".join(lines)
