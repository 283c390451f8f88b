"""Capture files into the raw layer on real DuckDB files: once each, appends only, rejects kept."""

import gzip
import json
import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from extract.captures import NOT_A_PAYLOAD, load_captures
from extract.load import RawLoader, RawTable
from simulator.generate import generate
from simulator.model import WorkspaceSpec
from tests.extract.payloads import PHONE, envelope, incoming

PROJECT_ROOT = Path(__file__).parents[2]
RAW_TABLES = (
    "whatsapp_cloud__payloads",
    "whatsapp_cloud__messages",
    "whatsapp_cloud__statuses",
    "whatsapp_cloud__contacts",
    "whatsapp_cloud__errors",
    "respondio__events",
)


def status(n: int, value: str) -> dict:
    return envelope(
        {
            "statuses": [
                {
                    "id": f"wamid.OUT{n}",
                    "status": value,
                    "timestamp": str(1750000100 + n),
                    "recipient_id": PHONE,
                }
            ]
        }
    )


def line(payload: object) -> str:
    return json.dumps(payload, separators=(",", ":")) + "\n"


def gzip_member(text: str) -> bytes:
    return gzip.compress(text.encode(), mtime=0)


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as connection:
        yield connection


@pytest.fixture
def captures(tmp_path):
    root = tmp_path / "captures"
    root.mkdir()
    return root


def count(con, table: str) -> int:
    return con.execute(f"select count(*) from raw.{table}").fetchone()[0]


def manifest(con, path: str) -> tuple:
    return con.execute(
        "select lines_loaded, bytes_loaded, size from raw._capture_files where path = ?", [path]
    ).fetchone()


def test_a_second_run_skips_every_file_and_writes_nothing(con, captures):
    (captures / "day").mkdir()
    (captures / "day" / "a.jsonl").write_text(line(incoming(1)) + line(status(1, "sent")))
    (captures / "b.jsonl.gz").write_bytes(gzip_member(line(incoming(2))))
    (captures / "c.json").write_text(json.dumps(status(2, "read"), indent=2))

    first = load_captures(con, captures)
    batches = count(con, "_batches")
    second = load_captures(con, captures)

    assert (first.files_new, first.lines_read) == (3, 4)
    assert first.tables["raw.whatsapp_cloud__messages"]["inserted"] == 2
    assert (second.files_seen, second.files_skipped, second.lines_read) == (3, 3, 0)
    assert second.batches == []
    assert count(con, "_batches") == batches
    assert {table: count(con, table) for table in RAW_TABLES[:4]} == {
        "whatsapp_cloud__payloads": 4,
        "whatsapp_cloud__messages": 2,
        "whatsapp_cloud__statuses": 2,
        "whatsapp_cloud__contacts": 1,
    }


def test_appended_lines_alone_are_read(con, captures):
    path = captures / "2026-01-01.jsonl"
    path.write_text("".join(line(incoming(n)) for n in range(3)))
    load_captures(con, captures)
    assert manifest(con, "2026-01-01.jsonl")[0] == 3

    with path.open("a") as handle:
        handle.write(line(incoming(3)) + line(incoming(4)))
    report = load_captures(con, captures)

    assert (report.files_appended, report.lines_read) == (1, 2)
    assert report.tables["raw.whatsapp_cloud__messages"] == {
        "fetched": 2,
        "inserted": 2,
        "updated": 0,
        "unchanged": 0,
        "rejected": 0,
        "quarantined": 0,
    }
    assert manifest(con, "2026-01-01.jsonl") == (5, path.stat().st_size, path.stat().st_size)
    new_rows = con.execute(
        "select _record_id, _line from raw.whatsapp_cloud__messages where _line > 3 order by 2"
    ).fetchall()
    assert new_rows == [("wamid.TEST3", 4), ("wamid.TEST4", 5)]


def test_a_gzip_file_gaining_a_member_loads_only_the_new_lines(con, captures):
    path = captures / "2026-01-01.jsonl.gz"
    first_member = line(incoming(1)) + line(incoming(2))
    path.write_bytes(gzip_member(first_member))
    load_captures(con, captures)

    with path.open("ab") as handle:
        handle.write(gzip_member(line(incoming(3)) + line(status(3, "sent"))))
    report = load_captures(con, captures)

    assert (report.files_appended, report.lines_read) == (1, 2)
    assert report.tables["raw.whatsapp_cloud__payloads"]["inserted"] == 2
    lines, loaded, size = manifest(con, "2026-01-01.jsonl.gz")
    # Sizes are of the decompressed content.
    assert lines == 4
    assert loaded == size == len(gzip.decompress(path.read_bytes()))
    assert count(con, "whatsapp_cloud__messages") == 3


def test_a_file_whose_loaded_part_changed_is_reloaded_without_doubling(con, captures, caplog):
    path = captures / "a.jsonl"
    path.write_text(line(incoming(1)) + line(incoming(2)))
    load_captures(con, captures)

    # A receiver rewrote the file: another first line, same second line, one more.
    path.write_text(line(incoming(9)) + line(incoming(2)) + line(incoming(3)))
    with caplog.at_level(logging.WARNING, logger="wabi.extract.captures"):
        report = load_captures(con, captures)

    assert (report.files_reloaded, report.lines_read) == (1, 3)
    assert "a.jsonl: the content before byte" in caplog.text
    messages = report.tables["raw.whatsapp_cloud__messages"]
    assert (messages["inserted"], messages["unchanged"]) == (2, 1)
    assert count(con, "whatsapp_cloud__messages") == 4
    assert manifest(con, "a.jsonl")[0] == 3


def test_an_unterminated_last_line_waits_for_its_newline(con, captures):
    path = captures / "a.jsonl"
    whole = line(incoming(2))
    path.write_text(line(incoming(1)) + whole[:40])

    held = load_captures(con, captures)
    assert (held.lines_read, held.lines_held_back, held.rejected) == (1, 1, 0)
    assert manifest(con, "a.jsonl")[:2] == (1, len(line(incoming(1))))

    with path.open("a") as handle:
        handle.write(whole[40:])
    done = load_captures(con, captures)
    assert (done.files_appended, done.lines_read, done.lines_held_back) == (1, 1, 0)
    assert count(con, "whatsapp_cloud__messages") == 2
    assert count(con, "rejected_records") == 0


def test_an_unterminated_line_is_rejected_once_the_file_stops_growing(con, captures):
    path = captures / "a.jsonl"
    path.write_text(line(incoming(1)) + line(incoming(2))[:40])
    load_captures(con, captures)  # held back: the receiver may still be writing

    stopped = load_captures(con, captures)  # the same size: the receiver crashed

    assert (stopped.lines_read, stopped.lines_rejected) == (1, 1)
    location, reason = con.execute("select location, reason from raw.rejected_records").fetchone()
    assert location == "a.jsonl:2"
    assert reason.startswith("invalid JSON: ")
    assert load_captures(con, captures).files_skipped == 1


def test_a_complete_last_line_without_newline_loads_at_once(con, captures):
    path = captures / "a.jsonl"
    path.write_text(line(incoming(1)) + line(incoming(2)).rstrip("\n"))
    assert load_captures(con, captures).lines_read == 2

    # The receiver then writes the newline and goes on: only the new line is read.
    with path.open("a") as handle:
        handle.write("\n" + line(incoming(3)))
    report = load_captures(con, captures)

    assert (report.files_appended, report.lines_read) == (1, 1)
    assert manifest(con, "a.jsonl")[0] == 3
    assert count(con, "whatsapp_cloud__messages") == 3


def test_malformed_lines_are_rejected_with_location_and_the_rest_loads(con, captures):
    truncated = line(incoming(2))[:57]
    (captures / "day").mkdir()
    (captures / "day" / "a.jsonl").write_bytes(
        (
            line(incoming(1))
            + truncated
            + "\n"
            + line(incoming(2))
            + "\n"  # blank lines are skipped, not rejected
            + line({"hello": "world"})
            + line([1, 2])
        ).encode()
        + b'{"bad": "\xff"}\n'
        + line(incoming(3)).encode()
    )

    report = load_captures(con, captures)

    assert (report.lines_read, report.lines_rejected) == (7, 4)
    assert report.rejection_reasons == {"invalid JSON": 1, NOT_A_PAYLOAD: 2, "invalid UTF-8": 1}
    rejects = con.execute(
        """select source, location, reason, raw_text from raw.rejected_records
        order by location"""
    ).fetchall()
    assert rejects == [
        (
            "captures",
            "day/a.jsonl:2",
            f"invalid JSON: {_json_error(truncated)}",
            truncated,
        ),
        ("captures", "day/a.jsonl:5", NOT_A_PAYLOAD, '{"hello":"world"}'),
        ("captures", "day/a.jsonl:6", NOT_A_PAYLOAD, "[1,2]"),
        ("captures", "day/a.jsonl:7", "invalid UTF-8: byte 9", '{"bad": "\ufffd"}'),
    ]
    assert count(con, "whatsapp_cloud__messages") == 3
    (batch_rejected,) = con.execute(
        "select rejected from raw._batches where source = 'captures'"
    ).fetchone()
    assert batch_rejected == 4


def _json_error(text: str) -> str:
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{exc.msg.removesuffix(' at')} at column {exc.colno}"
    raise AssertionError("expected invalid JSON")


def test_the_reason_names_the_parser_error_and_its_column(con, captures):
    (captures / "a.jsonl").write_text('{"object": "whatsapp_business_account" "entry": []}\n')
    load_captures(con, captures)
    (reason,) = con.execute("select reason from raw.rejected_records").fetchone()
    assert reason == "invalid JSON: Expecting ',' delimiter at column 40"


def test_a_payload_delivered_twice_is_stored_once_where_it_first_arrived(con, captures):
    payload = line(status(1, "delivered"))
    (captures / "2026-01-01.jsonl").write_text(line(incoming(1)) + payload + payload)
    (captures / "2026-01-02.jsonl").write_text(payload + line(status(1, "read")))

    report = load_captures(con, captures)

    assert report.tables["raw.whatsapp_cloud__payloads"]["fetched"] == 5
    assert count(con, "whatsapp_cloud__payloads") == 3
    assert count(con, "whatsapp_cloud__statuses") == 2
    where = con.execute(
        """select _file, _line from raw.whatsapp_cloud__statuses
        where _record_id = 'wamid.OUT1|delivered|1750000101'"""
    ).fetchone()
    assert where == ("2026-01-01.jsonl", 2)


def test_respondio_events_are_keyed_by_event_id_whatever_their_name(con, captures):
    deleted = {
        "event": "contactDeleted",
        "eventId": "9f2c4e6a8b0d1f3a5c7e9b1d",
        "timestamp": 1757300000,
        "contact": {"id": 1000007},
        "deletedBy": {"source": "user", "userId": 500002},
    }
    comment = {
        "event": "newComment",
        "eventId": "0a1b2c3d4e5f60718293a4b5",
        "timestamp": 1757200000,
        "contact": {"id": 1000007},
        "comment": {"id": 90000001, "text": "VIP", "createdAt": 1757200000, "userId": 500001},
    }
    (captures / "respondio").mkdir()
    (captures / "respondio" / "2026-09-07.jsonl").write_text(
        line(comment) + line(deleted) + line(deleted)
    )

    report = load_captures(con, captures)

    assert report.tables["raw.respondio__events"] == {
        "fetched": 3,
        "inserted": 2,
        "updated": 0,
        "unchanged": 1,
        "rejected": 0,
        "quarantined": 0,
    }
    stored = con.execute(
        """select record::varchar, _source, _file, _line, _url from raw.respondio__events
        where _record_id = '9f2c4e6a8b0d1f3a5c7e9b1d'"""
    ).fetchone()
    assert json.loads(stored[0]) == deleted
    assert stored[1:] == ("respondio", "respondio/2026-09-07.jsonl", 2, None)
    assert con.execute(
        "select source, entity, fetched, inserted from raw._batches where source = 'respondio'"
    ).fetchall() == [("respondio", "events", 3, 2)]


def test_a_json_file_is_one_document_reloaded_when_it_changes(con, captures):
    path = captures / "payload.json"
    path.write_text(json.dumps(incoming(1), indent=2))
    load_captures(con, captures)
    assert manifest(con, "payload.json")[0] == 1

    path.write_text(json.dumps(incoming(2), indent=4))
    report = load_captures(con, captures)

    assert (report.files_reloaded, report.lines_read) == (1, 1)
    assert count(con, "whatsapp_cloud__messages") == 2


def test_hidden_and_other_files_are_not_read(con, captures):
    (captures / ".tmp").mkdir()
    (captures / ".tmp" / "a.jsonl").write_text(line(incoming(1)))
    (captures / ".partial.jsonl").write_text(line(incoming(2)))
    (captures / "notes.txt").write_text("not a capture")
    (captures / "b.ndjson.gz").write_bytes(gzip_member(line(incoming(3))))

    report = load_captures(con, captures)

    assert (report.files_seen, report.lines_read) == (1, 1)


def test_a_damaged_gzip_file_loads_what_it_can_and_is_rejected_once(con, captures):
    good = gzip_member(line(incoming(1)))
    (captures / "a.jsonl.gz").write_bytes(good + b"this is not gzip data")

    first = load_captures(con, captures)
    second = load_captures(con, captures)

    assert first.lines_read == 1
    assert first.rejection_reasons == {"unreadable gzip data": 1}
    assert second.rejected == 0
    assert con.execute("select location from raw.rejected_records").fetchall() == [("a.jsonl.gz",)]


def test_elements_without_their_key_are_rejected_and_the_payload_kept(con, captures):
    payload = envelope(
        {
            "statuses": [
                {"id": "wamid.OUT1", "status": "sent", "recipient_id": PHONE},
                {"id": "wamid.OUT1", "status": "sent", "timestamp": "1750000000"},
            ]
        }
    )
    (captures / "a.jsonl").write_text(line(payload))

    report = load_captures(con, captures)

    assert report.tables["raw.whatsapp_cloud__statuses"]["rejected"] == 1
    assert report.rejection_reasons == {"statuses element without id, status or timestamp": 1}
    assert con.execute("select source, location from raw.rejected_records").fetchall() == [
        ("whatsapp_cloud", "a.jsonl:1")
    ]
    assert count(con, "whatsapp_cloud__payloads") == 1
    assert count(con, "whatsapp_cloud__statuses") == 1


def test_logs_hold_no_phone_number(con, captures, caplog):
    (captures / "a.jsonl").write_text(
        line(incoming(1)) + line(status(1, "sent"))[:80] + "\n" + line({"wa_id": PHONE})
    )
    with caplog.at_level(logging.DEBUG):
        report = load_captures(con, captures)
    assert report.lines_rejected == 2
    assert "rejected" in caplog.text
    assert PHONE not in caplog.text


def test_a_raw_table_from_before_file_columns_gets_them_and_the_api_loader_still_works(con):
    con.execute("create schema raw")
    con.execute("""
        create table raw.respondio__messages (
            _record_id varchar not null, record json not null, _record_hash varchar not null,
            _source varchar not null, _url varchar, _batch_id varchar not null,
            _loaded_at timestamp not null
        )""")
    loader = RawLoader(con, RawTable(source="respondio", entity="messages", key_field="messageId"))
    message = {
        "messageId": 1,
        "contactId": 1,
        "channelId": 1,
        "traffic": "incoming",
        "timestamp": 1757300000,
    }
    loader.add([message], "http://127.0.0.1/v2/contact/id:1/message/list")
    assert loader.commit().inserted == 1

    row = con.execute("select _url, _file, _line from raw.respondio__messages").fetchone()
    assert row == ("http://127.0.0.1/v2/contact/id:1/message/list", None, None)


def test_a_simulated_workspace_loads_to_the_simulators_own_counts(con, tmp_path):
    spec = WorkspaceSpec(seed=3, contacts=60, agents=4, days=7, messages_per_day=40)
    out = tmp_path / "workspace"
    counts = generate(spec, out, faults="heavy", compress=True)
    # The capture root holds the capture directories only: the workspace's api/ files are
    # the respond.io API's records, not captures.
    root = out / "captures"

    report = load_captures(con, root)

    assert counts == json.loads((out / "workspace.json").read_text())["counts"]
    # The heavy fault profile did produce what is being tested.
    assert counts["whatsapp_cloud_malformed"] > 0
    assert counts["whatsapp_cloud_duplicates"] > 0
    assert report.files_seen == counts["whatsapp_cloud_files"] + counts["respondio_files"]
    assert count(con, "respondio__events") == counts["respondio_events"]
    malformed = counts["respondio_malformed"] + counts["whatsapp_cloud_malformed"]
    assert report.lines_rejected == count(con, "rejected_records") == malformed
    assert count(con, "whatsapp_cloud__payloads") == (
        counts["whatsapp_cloud_payloads"] - counts["whatsapp_cloud_duplicates"]
    )

    # Independently, from the API's message records: every WhatsApp incoming message is a
    # `messages[]` element and every status but `pending` a `statuses[]` element, unless its
    # webhook would arrive after the period's end (up to 30 s late for any payload, up to 8 h
    # more for a late status: simulator/whatsapp_cloud.py).
    end = int(spec.end_at.timestamp())
    channels = json.loads((out / "api" / "channels.json").read_text())
    whatsapp = {c["id"] for c in channels if c["source"] == "whatsapp_cloud"}
    incoming_at, statuses_at = {}, {}
    for text in (out / "api" / "messages.jsonl").read_text().splitlines():
        message = json.loads(text)
        if message["channelId"] not in whatsapp:
            continue
        if message["traffic"] == "incoming":
            incoming_at[message["channelMessageId"]] = message["timestamp"]
            continue
        for entry in message["status"]:
            if entry["value"] != "pending":
                key = f"{message['channelMessageId']}|{entry['value']}|{entry['timestamp']}"
                statuses_at[key] = entry["timestamp"]

    def stored(table: str) -> set[str]:
        return {row[0] for row in con.execute(f"select _record_id from raw.{table}").fetchall()}

    messages, statuses = stored("whatsapp_cloud__messages"), stored("whatsapp_cloud__statuses")
    assert len(messages) == counts["whatsapp_cloud_incoming_messages"]
    assert len(statuses) == counts["whatsapp_cloud_statuses"]
    assert messages <= set(incoming_at)
    assert {wamid for wamid, at in incoming_at.items() if at < end - 30} <= messages
    assert statuses <= set(statuses_at)
    assert {key for key, at in statuses_at.items() if at < end - 30 - 8 * 3600} <= statuses

    again = load_captures(con, root)
    assert (again.files_skipped, again.batches) == (report.files_seen, [])


KILLED_LOADER = """
import logging, sys
from pathlib import Path
import duckdb
from extract.captures import load_captures
logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
with duckdb.connect(sys.argv[1]) as con:
    load_captures(con, Path(sys.argv[2]), commit_lines=int(sys.argv[3]))
"""


def _snapshot(path: Path) -> dict[str, object]:
    """Everything a load leaves that a restart could lose or double."""
    with duckdb.connect(str(path)) as con:
        tables = {
            table: sorted(
                con.execute(
                    f"select _record_id, _record_hash, _file, _line from raw.{table}"
                ).fetchall()
            )
            for table in RAW_TABLES
        }
        tables["manifest"] = sorted(
            con.execute(
                "select path, size, sha256, lines_loaded, bytes_loaded from raw._capture_files"
            ).fetchall()
        )
        tables["rejected"] = sorted(
            con.execute("select location, reason from raw.rejected_records").fetchall()
        )
    return tables


def test_a_load_killed_mid_way_and_restarted_equals_a_clean_load(tmp_path):
    spec = WorkspaceSpec(seed=5, contacts=600, agents=6, days=14, messages_per_day=700)
    out = tmp_path / "workspace"
    generate(spec, out, faults="light")
    root = out / "captures" / "whatsapp_cloud"
    files = len(list(root.glob("*.jsonl")))
    killed_db, clean_db = tmp_path / "killed.duckdb", tmp_path / "clean.duckdb"

    # One commit per file: kill right after the first commit, mid-way through the next file.
    loader = subprocess.Popen(
        [sys.executable, "-c", KILLED_LOADER, str(killed_db), str(root), "1"],
        cwd=PROJECT_ROOT,
        stderr=subprocess.PIPE,
        text=True,
        env=os.environ | {"PYTHONUNBUFFERED": "1"},
    )
    try:
        for message in loader.stderr:
            if "captures: committed" in message:
                loader.send_signal(signal.SIGKILL)
                break
    finally:
        loader.kill()
        loader.wait(timeout=30)
    assert loader.returncode == -signal.SIGKILL

    with duckdb.connect(str(killed_db)) as con:
        loaded = count(con, "_capture_files")
        assert 0 < loaded < files
        restarted = load_captures(con, root)
    assert restarted.files_skipped == loaded
    assert restarted.files_new == files - loaded

    with duckdb.connect(str(clean_db)) as con:
        load_captures(con, root)
    assert _snapshot(killed_db) == _snapshot(clean_db)
