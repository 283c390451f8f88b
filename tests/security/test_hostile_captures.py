"""Hostile capture directories: whatever sits in WABI_WEBHOOK_DIR, a refresh ends, stays within
its memory, reads nothing outside the directory, and the good files beside it load.

Every case loads a real capture directory into a real DuckDB file. The cases that could hang or
take the machine's memory on a loader without bounds run the load in a child process, under a
timeout (and, for the unreadable file, without the capabilities that let root read any file).
The FIFO and the device are never opened in this process: a loader that opens them would hang it.
"""

import gzip
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import duckdb
import pytest

from extract.captures import (
    GZIP_FREE_BYTES,
    LINK_DANGLING,
    LINK_INSIDE,
    LINK_LOOP,
    LINK_OUTSIDE,
    MAX_GZIP_RATIO,
    MAX_LINE_BYTES,
    CaptureFile,
    CaptureLoadReport,
    Unreadable,
    _Group,
    capture_paths,
    ensure_capture_tables,
    load_captures,
)
from extract.load import CHUNK_ROWS, utc_now, warehouse_config
from orchestration.defs.partitions import run_arguments
from orchestration.defs.raw.webhooks import webhook_captures
from orchestration.defs.resources import WarehouseResource, WebhookCapturesResource
from tests.extract.payloads import envelope, incoming, line

PROJECT_ROOT = Path(__file__).parents[2]
# Content that must never reach the warehouse: it sits outside the capture directory.
OUTSIDE_MARK = "outside-the-capture-directory-15550009999"
# Generous: the machine is shared; a hang is forever.
LOAD_TIMEOUT = 120
# Prints the load report's metadata as JSON: root, database.
LOADER = """
import json, sys
from pathlib import Path
import duckdb
from extract.captures import load_captures
from extract.load import warehouse_config
with duckdb.connect(sys.argv[2], config=warehouse_config()) as con:
    print(json.dumps(load_captures(con, Path(sys.argv[1])).as_metadata()))
"""


@pytest.fixture
def captures(tmp_path: Path) -> Path:
    """A capture directory holding one good file (message 1), and a file outside it."""
    root = tmp_path / "captures"
    root.mkdir()
    (root / "good.jsonl").write_text(line(incoming(1)))
    outside = tmp_path / "outside"
    outside.mkdir()
    event = {"event": "contactTagUpdated", "eventId": OUTSIDE_MARK, "timestamp": 1750000000}
    (outside / "secret.jsonl").write_text(line(event))
    return root


def load(root: Path, database: Path) -> CaptureLoadReport:
    with duckdb.connect(str(database), config=warehouse_config()) as con:
        return load_captures(con, root)


def load_in_child(root: Path, database: Path, *, obey_modes: bool = False) -> tuple[dict, int]:
    """The report's metadata of a load in a child process, and the child's peak RSS in bytes.
    `obey_modes`: as root, the child runs without the capabilities that let root read any file
    (the interpreter lies where only root may go, so it stays root)."""
    prefix = []
    if obey_modes and os.getuid() == 0:
        prefix = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--"]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        child = subprocess.Popen(
            [*prefix, sys.executable, "-c", LOADER, str(root), str(database)],
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=err,
        )
        watchdog = threading.Timer(LOAD_TIMEOUT, child.kill)
        watchdog.start()
        try:
            # wait4, not wait: the child's own peak memory.
            _, status, usage = os.wait4(child.pid, 0)
        finally:
            watchdog.cancel()
        child.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        errors = err.read().decode(errors="replace")
        assert child.returncode == 0, f"the load failed or hung ({child.returncode}): {errors}"
        return json.loads(out.read()), usage.ru_maxrss * 1024


def good_message_loaded(database: Path) -> bool:
    with duckdb.connect(str(database), read_only=True) as con:
        ids = con.execute("select _record_id from raw.whatsapp_cloud__messages").fetchall()
    return ("wamid.TEST1",) in ids


def warehouse_holds(database: Path, text: str) -> list[str]:
    """The columns of any table in the warehouse holding `text`."""
    found = []
    with duckdb.connect(str(database), read_only=True) as con:
        columns = con.execute(
            """select table_schema, table_name, column_name from information_schema.columns
            where table_catalog = current_database()"""
        ).fetchall()
        for schema, table, column in columns:
            holding = con.execute(
                f'select count(*) from "{schema}"."{table}" where contains("{column}"::varchar, ?)',
                [text],
            ).fetchone()[0]
            if holding:
                found.append(f"{schema}.{table}.{column}")
    return found


def not_read(report: CaptureLoadReport | dict) -> dict:
    metadata = report if isinstance(report, dict) else report.as_metadata()
    return metadata["files"]["unsafe_skipped_reasons"]


def test_a_fifo_is_not_opened_and_the_load_ends(captures, tmp_path):
    # No writer ever opens it: reading it the ordinary way would wait forever.
    os.mkfifo(captures / "x.jsonl")

    report, _ = load_in_child(captures, tmp_path / "warehouse.duckdb")

    assert not_read(report) == {"a FIFO": 1}
    assert report["files"]["unsafe_skipped"] == 1
    assert (report["files"]["seen"], report["lines_read"]) == (1, 1)
    assert good_message_loaded(tmp_path / "warehouse.duckdb")


@pytest.mark.skipif(os.geteuid() != 0, reason="only root may create a device node")
def test_a_device_is_not_opened_and_the_load_ends(captures, tmp_path):
    # The node of /dev/zero: endless content for a loader that reads it.
    os.mknod(captures / "zero.jsonl", stat.S_IFCHR | 0o644, os.makedev(1, 5))

    report, _ = load_in_child(captures, tmp_path / "warehouse.duckdb")

    assert not_read(report) == {"a character device": 1}
    assert (report["files"]["seen"], report["lines_read"]) == (1, 1)
    assert good_message_loaded(tmp_path / "warehouse.duckdb")


def test_a_socket_is_not_read(captures, tmp_path, caplog):
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(captures / "s.ndjson"))
    try:
        report = load(captures, tmp_path / "warehouse.duckdb")
    finally:
        listener.close()

    assert not_read(report) == {"a socket": 1}
    assert "s.ndjson is not read: a socket" in caplog.text
    assert good_message_loaded(tmp_path / "warehouse.duckdb")


def test_symbolic_links_are_never_followed_and_what_lies_outside_is_not_stored(
    captures, tmp_path, caplog
):
    secret = tmp_path / "outside" / "secret.jsonl"
    (captures / "outside.jsonl").symlink_to(secret)
    (captures / "passwd.jsonl").symlink_to("/etc/passwd")
    (captures / "loop.jsonl").symlink_to("loop.jsonl")
    (captures / "gone.jsonl").symlink_to(tmp_path / "nowhere.jsonl")
    (captures / "elsewhere").symlink_to(secret.parent, target_is_directory=True)
    (captures / "day").mkdir()
    (captures / "day" / "2.jsonl").write_text(line(incoming(2)))
    (captures / "current.jsonl").symlink_to("day/2.jsonl")
    (captures / "day" / "up").symlink_to("..", target_is_directory=True)
    database = tmp_path / "warehouse.duckdb"

    report = load(captures, database)

    assert not_read(report) == {
        LINK_OUTSIDE: 3,  # outside.jsonl, passwd.jsonl, elsewhere
        LINK_LOOP: 1,
        LINK_DANGLING: 1,
        LINK_INSIDE: 2,  # current.jsonl (day/2.jsonl is read as itself), day/up
    }
    assert report.as_metadata()["files"]["unsafe_skipped"] == 7
    assert "loop.jsonl is not read: a symbolic link loop" in caplog.text
    assert (report.files_seen, report.lines_read) == (2, 2)
    assert good_message_loaded(database)
    assert warehouse_holds(database, OUTSIDE_MARK) == []
    assert warehouse_holds(database, "root:x:0:0") == []
    with duckdb.connect(str(database), read_only=True) as con:
        assert con.execute("select count(*) from raw.rejected_records").fetchone()[0] == 0
        files = con.execute("select path from raw._capture_files order by path").fetchall()
    assert files == [("day/2.jsonl",), ("good.jsonl",)]
    # The sensor's fingerprint walks the same regular files only: a loop does not break it.
    assert capture_paths(captures) == [captures / "day" / "2.jsonl", captures / "good.jsonl"]


def test_an_unreadable_file_is_skipped_and_the_rest_loads(captures, tmp_path):
    (captures / "secret.jsonl").write_text(line(incoming(3)))
    (captures / "secret.jsonl").chmod(0o000)
    (captures / "closed").mkdir()
    (captures / "closed" / "inside.jsonl").write_text(line(incoming(4)))
    (captures / "closed").chmod(0o000)
    database = tmp_path / "warehouse.duckdb"

    try:
        report, _ = load_in_child(captures, database, obey_modes=True)
    finally:
        (captures / "closed").chmod(0o755)  # for pytest to clean up

    assert not_read(report) == {"cannot be opened": 1, "cannot be listed": 1}
    assert (report["files"]["seen"], report["lines_read"]) == (1, 1)
    assert good_message_loaded(database)
    assert warehouse_holds(database, "wamid.TEST3") == []


class FailingPartWay(CaptureFile):
    """A capture file whose disk fails once its content is read. No real device fails on demand:
    the error is raised where the read would raise it."""

    def _chunks(self) -> Iterator[bytes]:
        yield from super()._chunks()
        raise Unreadable("cannot be read: Input/output error")


def test_an_io_error_part_way_leaves_out_every_line_of_the_file(captures, tmp_path):
    # A reject, then more lines than a staging chunk: some are staged when the read fails.
    lines = "".join(line(incoming(n)) for n in range(2, CHUNK_ROWS + 12))
    (captures / "failing.jsonl").write_text("not JSON\n" + lines)
    database = tmp_path / "warehouse.duckdb"

    with duckdb.connect(str(database), config=warehouse_config()) as con:
        ensure_capture_tables(con)
        group = _Group(con, utc_now)
        assert group.add_file(CaptureFile(captures, "good.jsonl", None)) is None
        failing = FailingPartWay(captures, "failing.jsonl", None)
        assert group.add_file(failing) == "cannot be read: Input/output error"
        [lines_batch] = [batch for batch in group.commit() if batch.table.endswith("_files")]
        assert (lines_batch.fetched, lines_batch.inserted, lines_batch.rejected) == (1, 1, 0)
        assert con.execute("select count(*) from raw.rejected_records").fetchone()[0] == 0
        files = con.execute("select path from raw._capture_files").fetchall()
    assert files == [("good.jsonl",)]
    assert warehouse_holds(database, "wamid.TEST2") == []
    assert good_message_loaded(database)


def gzip_bomb(size: int) -> bytes:
    """`size` bytes of zeros, gzipped (about a thousandth of it)."""
    deflate = zlib.compressobj(9, wbits=31)
    block = bytes(1 << 20)
    return b"".join(deflate.compress(block) for _ in range(size >> 20)) + deflate.flush()


def test_a_gzip_bomb_is_cut_off_within_bounded_memory(captures, tmp_path):
    (captures / "bomb.jsonl.gz").write_bytes(gzip_bomb(1 << 30))
    empty = tmp_path / "empty"
    empty.mkdir()
    _, baseline = load_in_child(empty, tmp_path / "baseline.duckdb")

    report, peak = load_in_child(captures, tmp_path / "warehouse.duckdb")

    assert peak - baseline < 400 << 20, f"{(peak - baseline) >> 20} MiB over the baseline"
    # The content read before the cut is one long line of zeros: rejected too.
    assert report["rejection_reasons"] == {
        f"gzip data expanding over {MAX_GZIP_RATIO} times": 1,
        "line too long": 1,
    }
    assert good_message_loaded(tmp_path / "warehouse.duckdb")


def test_a_compressed_endless_line_is_rejected_once(captures, tmp_path):
    # Under the expansion bound (a 60 MiB line of zeros): the line limit cuts it.
    (captures / "long.jsonl.gz").write_bytes(gzip_bomb(60 << 20))

    report = load(captures, tmp_path / "warehouse.duckdb")

    assert report.rejection_reasons == {"line too long": 1}
    assert good_message_loaded(tmp_path / "warehouse.duckdb")


def test_a_large_gzip_file_of_ordinary_ratio_is_read_to_its_end(captures, tmp_path):
    # Past the first GZIP_FREE_BYTES of content, cheaply: long lines are rejected unparsed.
    long_lines = 5 * (os.urandom(MAX_LINE_BYTES // 2 + 1).hex() + "\n")
    assert len(long_lines) > GZIP_FREE_BYTES
    content = (long_lines + line(incoming(2))).encode()
    (captures / "day.jsonl.gz").write_bytes(gzip.compress(content, compresslevel=1))
    database = tmp_path / "warehouse.duckdb"

    report = load(captures, database)

    assert report.rejection_reasons == {"line too long": 5}
    assert report.lines_read == 7
    with duckdb.connect(str(database), read_only=True) as con:
        ids = con.execute("select _record_id from raw.whatsapp_cloud__messages").fetchall()
    assert sorted(ids) == [("wamid.TEST1",), ("wamid.TEST2",)]


def widest(outer: dict, item: str) -> tuple[str, int]:
    """`outer` (JSON holding the list `["?"]`) with as many items as fit in a line just under
    MAX_LINE_BYTES in place of the list's `"?"`; `item` formats with the item's number."""
    head, tail = json.dumps(outer, separators=(",", ":")).split('"?"')
    items, size = [], len(head) + len(tail) + 1
    while True:
        text = item.format(n=len(items))
        if size + len(text) + 1 >= MAX_LINE_BYTES:
            return head + ",".join(items) + tail, len(items)
        items.append(text)
        size += len(text) + 1


def widest_envelope() -> tuple[str, int]:
    """One Meta envelope with as many statuses as fit in one line."""
    status = '{{"id":"wamid.{n}","status":"sent","timestamp":"1750000000"}}'
    return widest(envelope({"statuses": ["?"]}), status)


def test_a_widest_envelope_loads_every_status_through_the_asset(captures, tmp_path, monkeypatch):
    text, statuses = widest_envelope()
    (captures / "wide.jsonl").write_text(text + "\n")
    data_dir = tmp_path / "data"
    # The default memory limit, whatever the environment running the tests sets.
    monkeypatch.delenv("WABI_DUCKDB_MEMORY_LIMIT", raising=False)

    result = dg.materialize(
        [webhook_captures],
        resources={
            "warehouse": WarehouseResource(data_dir=str(data_dir)),
            "webhooks": WebhookCapturesResource(directory=str(captures)),
        },
        **run_arguments(),
    )

    assert result.success
    assert statuses > 200_000
    database = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(database), read_only=True) as con:
        loaded = con.execute("select count(*) from raw.whatsapp_cloud__statuses").fetchone()[0]
    assert loaded == statuses
    assert good_message_loaded(database)


def test_an_envelope_of_the_most_entries_that_fit_loads(captures, tmp_path):
    entry = (
        '{{"id":"1","changes":[{{"field":"messages","value":'
        '{{"statuses":[{{"id":"w{n}","status":"sent","timestamp":"1750000000"}}]}}}}]}}'
    )
    text, entries = widest({"object": "whatsapp_business_account", "entry": ["?"]}, entry)
    (captures / "entries.jsonl").write_text(text + "\n")
    database = tmp_path / "warehouse.duckdb"

    report = load(captures, database)

    assert entries > 100_000
    assert report.tables["raw.whatsapp_cloud__statuses"]["inserted"] == entries
    assert good_message_loaded(database)


def test_the_asset_reports_what_it_did_not_read(captures, tmp_path):
    # No FIFO here: in this process, a loader that opens it would hang the test run.
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(captures / "s.jsonl"))
    (captures / "outside.jsonl").symlink_to(tmp_path / "outside" / "secret.jsonl")

    try:
        result = dg.materialize(
            [webhook_captures],
            resources={
                "warehouse": WarehouseResource(data_dir=str(tmp_path / "data")),
                "webhooks": WebhookCapturesResource(directory=str(captures)),
            },
            **run_arguments(),
        )
    finally:
        listener.close()

    assert result.success
    materialization = result.asset_materializations_for_node("webhook_captures")[0]
    files = materialization.metadata["files"].value
    assert files["unsafe_skipped"] == 2
    assert files["unsafe_skipped_reasons"] == {"a socket": 1, LINK_OUTSIDE: 1}
    assert files["seen"] == 1
    assert good_message_loaded(tmp_path / "data" / "warehouse.duckdb")
