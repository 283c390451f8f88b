"""An incremental refresh publishes the same marts as a full refresh, on real dbt over real DuckDB
files.

One simulated workspace, loaded into two warehouses:
- incrementally, as a daily refresh would: one load a day at LOAD_TIME up to the cut (day
  CUT_DAY), each stamped with its time and holding what had arrived by then (respond.io's message
  records as the API listed them then, statuses so far included; the capture files as the
  receivers had written them, the day's file cut short), then `dbt build`; then one load of
  everything else (full records: statuses of old messages arrive late; the day's capture files
  grown) and `dbt build` again, which runs the incremental models incrementally;
- at once, then `dbt build --full-refresh`.
What arrives late reaches messages built long before the second build's lookback: incoming
messages respond.io's walk missed (which move the window of a contact's later messages, on
respond.io's contact and on Meta's numbers they leave), a day of respond.io events (which moves
messages between conversations), and wamids of messages first listed without one.
Every published mart must hold the same rows in both: fct_messages and every report and
dimension (order aside, floats to 1e-9). The second build must have run incrementally: each
incremental model from its newest `_loaded_at` less the lookback, leaving the rows loaded
before that alone.
"""

from __future__ import annotations

import json
import math
import shutil
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path

import pytest
import yaml

from extract.load import RawTable
from extract.respondio import CHANNELS, CLOSING_NOTES, CONTACTS, MESSAGES, USERS
from orchestration.project import DBT_PROJECT_DIR
from simulator.model import WorkspaceSpec
from simulator.warehouse import (
    Warehouse,
    Workspace,
    load_raw,
    loader_clock,
    new_warehouse,
    read_lines,
)
from tests.dbt_project.warehouse import DbtRun, dbt_build

SPEC = WorkspaceSpec(seed=21, contacts=300, agents=8, days=21, messages_per_day=200)
# Daily loads run at noon UTC, in the working day, while statuses are still coming in.
LOAD_TIME = time(12)
CUT_DAY = 14
CUT = datetime.combine(SPEC.start + timedelta(days=CUT_DAY), LOAD_TIME)
# respond.io's walk missed these incoming messages until the second load: one in HELD_BACK_EVERY
# of those written in the first days, long before the lookback of the second build.
HELD_BACK_DAYS = range(2, 7)
HELD_BACK_EVERY = 3
# respond.io never lists one WhatsApp outgoing message in NEVER_PULLED_EVERY (in neither
# warehouse): Meta's statuses alone tell of it, on Meta's numbers, where a held-back incoming
# message also sits until respond.io lists it and it moves to respond.io's contact and channel.
NEVER_PULLED_EVERY = 4
# The respond.io events captured on this day reach the loader only with the second load (the
# receiver's disk was out of reach): conversations opened and closed that day move messages that
# were built long before from one conversation to another.
EVENTS_OUTAGE_DAY = SPEC.start + timedelta(days=4)
INCREMENTAL_MODELS = {
    "stg_respondio__events": "staging",
    "stg_respondio__messages": "staging",
    "int_message_records_unioned": "intermediate",
    "int_message_status_events": "intermediate",
    "int_message_statuses_pivoted": "intermediate",
    "int_messages": "intermediate",
    "int_messages_reported": "intermediate",
    "fct_messages": "marts",
}


def _lookback() -> timedelta:
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return timedelta(hours=project["vars"]["incremental_lookback_hours"])


def _epoch(instant: datetime) -> int:
    return int((instant - datetime(1970, 1, 1)).total_seconds())


def _capture_day(path: Path) -> date:
    return date.fromisoformat(path.name.split(".")[0])


def _event_time(line: str) -> int:
    """When what a capture line reports happened (unix s): a respond.io event's `timestamp`, the
    latest message or status time of a Meta payload. A line arrives at or after it."""
    payload = json.loads(line)
    if "event" in payload:
        return int(payload["timestamp"])
    values = [change["value"] for entry in payload["entry"] for change in entry["changes"]]
    return max(
        int(element["timestamp"])
        for value in values
        for element in value.get("messages", []) + value.get("statuses", [])
    )


def _written_by(path: Path, until: datetime) -> str:
    """A capture file as its receiver had written it at `until`: the lines, in arrival order,
    before the first one reporting something that happened at or after `until`."""
    lines = read_lines(path)
    cutoff = _epoch(until)
    written = next(
        (number for number, line in enumerate(lines) if _event_time(line) >= cutoff), len(lines)
    )
    return "".join(lines[:written])


def _held_back(message: dict) -> bool:
    created = datetime(1970, 1, 1) + timedelta(seconds=message["timestamp"])
    day = (created.date() - SPEC.start).days
    return (
        message["traffic"] == "incoming"
        and day in HELD_BACK_DAYS
        and message["messageId"] % HELD_BACK_EVERY == 0
    )


def _never_pulled(message: dict) -> bool:
    return (
        message["traffic"] == "outgoing"
        and str(message["channelMessageId"]).startswith("wamid.")
        and message["messageId"] % NEVER_PULLED_EVERY == 0
    )


def _api_tables(workspace: Workspace) -> dict[RawTable, list[dict]]:
    """Everything the API ever lists: the workspace's API files but the never-pulled messages."""
    api = workspace.api_tables()
    return api | {MESSAGES: [m for m in api[MESSAGES] if not _never_pulled(m)]}


def _messages_as_of(messages: list[dict], until: datetime) -> list[dict]:
    """respond.io's message records as the API listed them at `until`: the messages written
    before it (but the held-back ones), each with the status entries it had reached by then. An
    outgoing WhatsApp message WhatsApp had not accepted yet (no `sent` entry) has no wamid yet:
    it is `respondio:<messageId>` until a later load gives it its wamid."""
    cutoff = _epoch(until)
    listed = []
    for message in messages:
        if message["timestamp"] >= cutoff or _held_back(message):
            continue
        if "status" in message:
            reached = [entry for entry in message["status"] if entry["timestamp"] < cutoff]
            message = message | {"status": reached}
            if all(entry["value"] != "sent" for entry in reached):
                message |= {"channelMessageId": None}
        listed.append(message)
    return listed


@dataclass(frozen=True)
class IncrementalWarehouse:
    warehouse: Warehouse
    first_run: DbtRun
    second_run: DbtRun
    # after the first build: each intermediate incremental model's newest `_loaded_at`, and
    # fct_messages by message_id
    watermarks: dict[str, datetime]
    first_fct_messages: dict[str, dict]
    second_load_at: datetime


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return Workspace.generate(SPEC, tmp_path_factory.mktemp("incremental_workspace"))


@pytest.fixture(scope="module")
def incremental(
    workspace: Workspace, tmp_path_factory: pytest.TempPathFactory
) -> IncrementalWarehouse:
    warehouse = new_warehouse(tmp_path_factory.mktemp("incremental") / "data")
    captures_dir = warehouse.data_dir / "captures"
    api = _api_tables(workspace)
    capture_files = {
        kind: sorted(directory.iterdir())
        for kind, directory in (
            ("whatsapp_cloud", workspace.meta_dir),
            ("respondio_events", workspace.events_dir),
        )
    }
    for kind in capture_files:
        (captures_dir / kind).mkdir(parents=True)

    def deliver(until: datetime | None) -> None:
        """Put the capture files where the loader reads them as the receivers had written them
        at `until` (all of them when None)."""
        for kind, files in capture_files.items():
            for path in files:
                day, target = _capture_day(path), captures_dir / kind / path.name
                if until is None:
                    shutil.copy2(path, target)
                elif (kind, day) == ("respondio_events", EVENTS_OUTAGE_DAY):
                    continue  # the receiver's disk is out of reach until the second load
                elif day < until.date():
                    shutil.copy2(path, target)
                elif day == until.date():
                    target.write_text(_written_by(path, until), encoding="utf-8")

    for day in range(1, CUT_DAY + 1):
        load_at = datetime.combine(SPEC.start + timedelta(days=day), LOAD_TIME)
        deliver(load_at)
        as_of = {
            USERS: api[USERS],
            CHANNELS: api[CHANNELS],
            CLOSING_NOTES: api[CLOSING_NOTES],
            CONTACTS: [c for c in api[CONTACTS] if c["created_at"] < _epoch(load_at)],
            MESSAGES: _messages_as_of(api[MESSAGES], load_at),
        }
        with loader_clock(load_at):
            load_raw(warehouse, as_of, captures_dir)
    first_run = dbt_build(warehouse, run_name="first")
    watermarks = {
        model: warehouse.query(f"select max(_loaded_at) from {schema}.{model}")[0][0]
        for model, schema in INCREMENTAL_MODELS.items()
        if schema != "marts"
    }
    _, first_rows = warehouse.rows("fct_messages")

    last_day = max(_capture_day(path) for files in capture_files.values() for path in files)
    second_load_at = datetime.combine(last_day + timedelta(days=1), LOAD_TIME)
    deliver(None)
    with loader_clock(second_load_at):
        load_raw(warehouse, api, captures_dir)
    second_run = dbt_build(warehouse, run_name="incremental")
    return IncrementalWarehouse(
        warehouse=warehouse,
        first_run=first_run,
        second_run=second_run,
        watermarks=watermarks,
        first_fct_messages={row["message_id"]: row for row in first_rows},
        second_load_at=second_load_at,
    )


@pytest.fixture(scope="module")
def full_refresh(workspace: Workspace, tmp_path_factory: pytest.TempPathFactory) -> Warehouse:
    warehouse = new_warehouse(tmp_path_factory.mktemp("full_refresh") / "data")
    load_raw(warehouse, _api_tables(workspace), workspace.captures_dir)
    dbt_build(warehouse, full_refresh=True)
    return warehouse


# -- the split exercises what an incremental run must get right ------------------------------


def test_statuses_of_messages_written_before_the_cut_arrive_in_the_second_load(incremental):
    """Late statuses of old messages, in both sources: respond.io records that changed, and Meta
    status events of wamids written before the cut."""
    parameters = [incremental.second_load_at, _epoch(CUT)]
    ((respondio_late,),) = incremental.warehouse.query(
        """select count(*) from raw.respondio__messages
        where _loaded_at = $1
            and cast(json_extract_string(record, '$.timestamp') as bigint) < $2
            and list_max(cast(json_extract(record, '$.status[*].timestamp') as bigint[])) >= $2""",
        parameters,
    )
    ((meta_late,),) = incremental.warehouse.query(
        """select count(*)
        from raw.whatsapp_cloud__statuses as statuses
        inner join raw.respondio__messages as messages
            on json_extract_string(statuses.record, '$.id')
                = json_extract_string(messages.record, '$.channelMessageId')
        where statuses._loaded_at = ?
            and cast(json_extract_string(messages.record, '$.timestamp') as bigint) < ?""",
        parameters,
    )

    assert respondio_late > 0
    assert meta_late > 0


def test_late_incoming_messages_move_the_window_of_messages_built_long_before(incremental):
    """Outgoing messages none of whose own rows were loaded within the lookback of the second
    build, whose `is_outside_window` the held-back incoming messages changed: only the rule that
    re-derives a contact's later messages rebuilds them (the marts tests check the values). Both
    where a late message arrived (respond.io's contact) and where it left (Meta's numbers)."""
    since = incremental.watermarks["int_messages_reported"] - _lookback()
    final = incremental.warehouse.query(
        """select fct.message_id, fct.contact_id, fct.is_outside_window, messages._loaded_at
        from marts.fct_messages as fct
        inner join intermediate.int_messages as messages using (message_id)
        where fct.direction = 'outgoing'"""
    )
    first = incremental.first_fct_messages
    moved = [
        contact_id
        for message_id, contact_id, is_outside_window, loaded_at in final
        if message_id in first
        and first[message_id]["is_outside_window"] != is_outside_window
        and loaded_at < since
    ]

    assert any(not contact_id.startswith("whatsapp_cloud:") for contact_id in moved)
    assert any(contact_id.startswith("whatsapp_cloud:") for contact_id in moved)


def test_late_conversation_events_move_messages_built_long_before(incremental):
    """Messages none of whose own rows were loaded within the lookback of the second build,
    whose conversation the late respond.io events changed (the marts tests check the values)."""
    since = incremental.watermarks["int_messages_reported"] - _lookback()
    final = incremental.warehouse.query(
        """select fct.message_id, fct.conversation_id
        from marts.fct_messages as fct
        inner join intermediate.int_messages as messages using (message_id)
        where messages._loaded_at < ?""",
        [since],
    )
    first = incremental.first_fct_messages
    moved = [
        message_id
        for message_id, conversation_id in final
        if first[message_id]["conversation_id"] != conversation_id
    ]

    assert len(moved) > 0


def test_messages_listed_before_they_had_a_wamid_take_it_and_leave_no_row_behind(incremental):
    """A record first listed without its wamid (`respondio:<messageId>`) then with it changes
    the message's id: the old id's rows go (the marts tests check nothing else is left)."""
    first_ids = set(incremental.first_fct_messages)
    final = incremental.warehouse.query("select message_id from marts.fct_messages")
    gone = first_ids - {message_id for (message_id,) in final}

    assert len(gone) > 0
    assert all(message_id.startswith("respondio:") for message_id in gone)


# -- the second build ran incrementally --------------------------------------------------------


@pytest.mark.parametrize(
    "model", [model for model, schema in INCREMENTAL_MODELS.items() if schema != "marts"]
)
def test_the_second_build_rebuilt_each_model_from_its_watermark_less_the_lookback(
    incremental, model
):
    since = incremental.watermarks[model] - _lookback()
    literal = f"cast('{since:%Y-%m-%d %H:%M:%S.%f}' as timestamp)"
    ((loaded_since, rows),) = incremental.warehouse.query(
        f"select count(*) filter (where _loaded_at >= ?), count(*) "
        f"from {INCREMENTAL_MODELS[model]}.{model}",
        [since],
    )

    assert literal in incremental.second_run.compiled_sql(model)
    assert literal not in incremental.first_run.compiled_sql(model)
    # the rows before the lookback, loaded in the first days and untouched since, were kept
    assert 0 < loaded_since < rows * 0.8


def test_the_second_build_wrote_fct_messages_incrementally(incremental):
    """fct_messages cannot carry a watermark (the contract fixes its columns): an incremental
    run writes the rows whose published version differs from its inputs."""
    assert "published_messages" in incremental.second_run.compiled_sql("fct_messages")
    assert "published_messages" not in incremental.first_run.compiled_sql("fct_messages")


# -- the marts --------------------------------------------------------------------------------


def test_the_same_marts_are_published(incremental, full_refresh):
    assert incremental.warehouse.tables("marts") == full_refresh.tables("marts")
    assert "fct_messages" in full_refresh.tables("marts")


@pytest.mark.parametrize(
    "table",
    [
        "dim_channels",
        "dim_contacts",
        "dim_users",
        "fct_assignments",
        "fct_comments",
        "fct_conversations",
        "fct_messages",
        "rpt_assignments_daily",
        "rpt_busiest_hours",
        "rpt_contacts_daily",
        "rpt_conversations_by_category",
        "rpt_conversations_daily",
        "rpt_first_response_buckets",
        "rpt_messages_daily",
        "rpt_user_performance_daily",
        "rpt_whatsapp_app_statistics",
    ],
)
def test_an_incremental_refresh_publishes_what_a_full_refresh_does(
    incremental, full_refresh, table
):
    columns, incremental_rows = incremental.warehouse.table(table)
    full_columns, full_rows = full_refresh.table(table)

    assert columns == full_columns
    assert len(full_rows) > 0
    assert _differences(incremental_rows, full_rows) == []


def _differences(actual: list[tuple], expected: list[tuple]) -> list[tuple]:
    """Pairs of rows that differ once both sides are sorted, floats to 1e-9 (the first 10)."""
    if len(actual) != len(expected):
        return [("rows", len(actual), len(expected))]
    pairs = zip(sorted(actual, key=_sort_key), sorted(expected, key=_sort_key), strict=True)
    differences = [
        (got, want)
        for got, want in pairs
        if not all(_same(a, b) for a, b in zip(got, want, strict=True))
    ]
    return differences[:10]


def _same(actual: object, expected: object) -> bool:
    if isinstance(actual, float) and isinstance(expected, float):
        return math.isclose(actual, expected, rel_tol=0, abs_tol=1e-9)
    return actual == expected


def _sort_key(row: tuple) -> tuple:
    """Every value but floats (which may differ in their last bits), None first; then the
    floats, rounded."""
    exact = [value for value in row if not isinstance(value, float)]
    floats = [round(value, 6) for value in row if isinstance(value, float)]
    return (
        tuple((value is not None, json.dumps(value, default=str)) for value in exact),
        tuple(floats),
    )
