"""A BI tool holding analytics.duckdb open never blocks a refresh, and never sees half of one."""

import json
import subprocess
import sys
import time

import duckdb

from tests.conftest import refresh_from

# A reader as a BI tool is one: its own process, the file open read-only the whole time,
# querying every 50 ms and printing what it sees.
READER = """
import sys, time, duckdb
con = duckdb.connect(sys.argv[1], read_only=True)
while True:
    print(con.execute("select count(*) from fct_messages").fetchone()[0], flush=True)
    time.sleep(0.05)
"""


def _one_more_message(workspace_dir) -> None:
    """A new message for a contact with an open conversation (so the walk visits it)."""
    contacts = (workspace_dir / "api" / "contacts.jsonl").read_text().splitlines()
    open_ids = {c["id"] for c in map(json.loads, contacts) if c["status"] == "open"}
    messages = workspace_dir / "api" / "messages.jsonl"
    template = next(
        m
        for m in map(json.loads, messages.read_text().splitlines())
        if m["traffic"] == "incoming" and m["contactId"] in open_ids
    )
    record = template | {"messageId": 999_000_002, "channelMessageId": "web-reader-test"}
    with messages.open("a") as handle:
        handle.write(json.dumps(record) + "\n")


def _count(path) -> int:
    with duckdb.connect(str(path), read_only=True) as con:
        return con.execute("select count(*) from fct_messages").fetchone()[0]


def test_a_refresh_succeeds_while_a_reader_holds_the_published_file(pipeline_copy):
    before = _count(pipeline_copy.analytics_path)
    _one_more_message(pipeline_copy.workspace_dir)
    reader = subprocess.Popen(
        [sys.executable, "-c", READER, str(pipeline_copy.analytics_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert reader.stdout.readline().strip() == str(before)  # open and reading
        refresh_from(pipeline_copy.workspace_dir, pipeline_copy.data_dir)
        time.sleep(0.2)
        assert reader.poll() is None, reader.stderr.read()
    finally:
        reader.kill()
        out, err = reader.communicate(timeout=30)
    seen = {int(line) for line in out.split()}
    # the reader kept its file: every answer it got was the old, complete one
    assert seen == {before}
    assert "Error" not in err
    # a new connection opens the new file
    assert _count(pipeline_copy.analytics_path) == before + 1
