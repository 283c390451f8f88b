"""`wabi rejects` on a real warehouse file: what was quarantined or rejected, by rule and place,
read-only, without the records (they hold phone numbers) unless asked for."""

import json
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from extract.load import ensure_raw_schema
from orchestration.cli import main

PHONE = "15550001111"
MILLISECONDS = "timestamp: in milliseconds"
PAGE = "http://127.0.0.1:8765/v2/contact/5/message/list?limit=50"
WRITER_TIMEOUT_SECONDS = 60

QUARANTINED = [
    # source, raw table, record id, location, rule, record, quarantined at
    *[
        (
            "whatsapp_cloud",
            "raw.whatsapp_cloud__statuses",
            f"wamid.{line}",
            f"captures/a.jsonl:{line}",
            MILLISECONDS,
            json.dumps(
                {"id": f"wamid.{line}", "recipient_id": PHONE, "timestamp": "1773700000000"}
            ),
            datetime(2026, 3, 16, 10, line),
        )
        for line in (1, 2, 3)
    ],
    (
        "respondio",
        "raw.respondio__messages",
        "m-9",
        PAGE,
        "status: not one of sent, delivered, read",
        json.dumps({"messageId": 9, "contact": {"phone": f"+{PHONE}"}}),
        datetime(2026, 3, 17, 8, 0),
    ),
]
REJECTED = [
    # source, location, reason, raw text, rejected at
    (
        "captures",
        "captures/b.jsonl:4",
        "invalid JSON: Expecting value at column 1",
        f'{{"from": "{PHONE}", ',
        datetime(2026, 3, 15, 9, 0),
    ),
    (
        "captures",
        "captures/b.jsonl:9",
        "invalid JSON: Unterminated string starting at column 9",
        f'{{"from": "{PHONE}',
        datetime(2026, 3, 18, 9, 0),
    ),
]


def make_warehouse(data_dir: Path, quarantined=QUARANTINED, rejected=REJECTED) -> Path:
    """A warehouse file with the two tables of records kept aside, holding these rows."""
    path = data_dir / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        ensure_raw_schema(con)  # both tables
        for row in quarantined:
            con.execute(
                "insert into raw.quarantined_records values (?, ?, ?, ?, ?, ?, 'batch-q', ?)", row
            )
        for row in rejected:
            con.execute(
                "insert into raw.rejected_records "
                "(source, location, reason, raw_text, rejected_at, batch_id) "
                "values (?, ?, ?, ?, ?, 'batch-r')",
                row,
            )
    return path


def _rejects(capsys, data_dir: Path, *arguments: str) -> tuple[int, str, str]:
    code = main(["rejects", "--data-dir", str(data_dir), *arguments])
    out, err = capsys.readouterr()
    return code, out, err


def test_the_summary_counts_each_rule_and_reason_and_lists_the_places(tmp_path, capsys):
    make_warehouse(tmp_path)

    code, out, err = _rejects(capsys, tmp_path)

    assert code == 0
    assert err == ""
    # The table's columns, spaces squeezed.
    summary = [" ".join(line.split()) for line in out.split("(times in UTC)")[0].splitlines()]
    assert summary == [
        "kind source raw table rule / reason count first seen last seen",
        "quarantined whatsapp_cloud raw.whatsapp_cloud__statuses timestamp: in milliseconds 3 "
        "2026-03-16 10:01:00 2026-03-16 10:03:00",
        "rejected captures - invalid JSON 2 2026-03-15 09:00:00 2026-03-18 09:00:00",
        "quarantined respondio raw.respondio__messages status: not one of sent, delivered, read 1 "
        "2026-03-17 08:00:00 2026-03-17 08:00:00",
    ]
    for line in (1, 2, 3):
        assert f"  captures/a.jsonl:{line}  (2026-03-16 10:0{line}:00)" in out
    assert f"  {PAGE}  (2026-03-17 08:00:00)" in out
    # A reject's full reason, with its position, is shown beside its place.
    assert "  captures/b.jsonl:9  invalid JSON: Unterminated string starting at column 9" in out
    assert PHONE not in out
    assert "--show-records prints them" in out


def test_the_places_are_listed_up_to_the_limit(tmp_path, capsys):
    make_warehouse(tmp_path)

    code, out, _ = _rejects(capsys, tmp_path, "--limit", "1")

    assert code == 0
    assert "captures/a.jsonl:3" in out  # the newest of its group
    assert "captures/a.jsonl:1" not in out
    assert "… and 2 more (raise --limit to list them)" in out
    assert "… and 1 more" in out  # the rejects
    assert main(["rejects", "--data-dir", str(tmp_path), "--limit", "0"]) == 0
    assert "captures/" not in capsys.readouterr().out


def test_json_output_parses_and_holds_no_record_unless_asked(tmp_path, capsys):
    make_warehouse(tmp_path)

    code, out, _ = _rejects(capsys, tmp_path, "--json")

    assert code == 0
    groups = json.loads(out)["groups"]
    assert [(g["kind"], g["source"], g["raw_table"], g["reason"], g["count"]) for g in groups] == [
        ("quarantined", "whatsapp_cloud", "raw.whatsapp_cloud__statuses", MILLISECONDS, 3),
        ("rejected", "captures", None, "invalid JSON", 2),
        (
            "quarantined",
            "respondio",
            "raw.respondio__messages",
            "status: not one of sent, delivered, read",
            1,
        ),
    ]
    assert groups[1]["first_seen"] == "2026-03-15 09:00:00"
    assert [place["location"] for place in groups[1]["places"]] == [
        "captures/b.jsonl:9",
        "captures/b.jsonl:4",
    ]
    assert all(place["record"] is None for group in groups for place in group["places"])
    assert PHONE not in out

    code, out, _ = _rejects(capsys, tmp_path, "--json", "--show-records")
    shown = json.loads(out)["groups"]
    assert shown[0]["places"][0]["record"] == QUARANTINED[2][5]
    assert shown[1]["places"][0]["record"] == REJECTED[1][3]


def test_show_records_prints_each_record_under_its_place(tmp_path, capsys):
    make_warehouse(tmp_path)

    code, out, _ = _rejects(capsys, tmp_path, "--show-records", "--source", "captures")

    assert code == 0
    assert f'    {{"from": "{PHONE}' in out
    assert "Records are not printed" not in out


@pytest.mark.parametrize(
    ("arguments", "groups"),
    [
        (["--source", "respondio"], [("respondio", "status: not one of sent, delivered, read", 1)]),
        (["--rule", "MILLI"], [("whatsapp_cloud", MILLISECONDS, 3)]),
        (["--reason", "unterminated"], [("captures", "invalid JSON", 1)]),
        (
            ["--since", "2026-03-17"],
            [
                ("respondio", "status: not one of sent, delivered, read", 1),
                ("captures", "invalid JSON", 1),
            ],
        ),
        # An offset is converted: 10:02+01:00 is 09:02 UTC, after the reject of 09:00 UTC.
        (["--since", "2026-03-18T10:02+01:00", "--source", "captures"], []),
        (["--since", "2026-03-18T09:30+01:00"], [("captures", "invalid JSON", 1)]),
    ],
)
def test_filters(tmp_path, capsys, arguments, groups):
    make_warehouse(tmp_path)

    code, out, _ = _rejects(capsys, tmp_path, "--json", *arguments)

    assert code == 0
    found = json.loads(out)["groups"]
    assert [(g["source"], g["reason"], g["count"]) for g in found] == groups


def test_nothing_kept_aside_is_said_and_is_no_error(tmp_path, capsys):
    make_warehouse(tmp_path, quarantined=[], rejected=[])

    assert _rejects(capsys, tmp_path) == (0, "no quarantined or rejected records\n", "")
    assert _rejects(capsys, tmp_path, "--json") == (0, '{"groups": []}\n', "")


def test_a_filter_that_matches_nothing_says_so(tmp_path, capsys):
    make_warehouse(tmp_path)

    code, out, _ = _rejects(capsys, tmp_path, "--source", "elsewhere")

    assert (code, out) == (0, "no quarantined or rejected records match\n")


def test_a_warehouse_without_the_quarantine_table_lists_its_rejects(tmp_path, capsys):
    """A warehouse last written before quarantine existed."""
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_raw_schema(con)
        con.execute("drop table raw.quarantined_records")
        con.execute(
            "insert into raw.rejected_records values ('respondio', 'contacts', 'id is missing', "
            "'{}', '2026-03-01 00:00:00', 'batch')"
        )

    code, out, _ = _rejects(capsys, tmp_path, "--json")

    assert code == 0
    assert [(g["kind"], g["reason"], g["count"]) for g in json.loads(out)["groups"]] == [
        ("rejected", "id is missing", 1)
    ]


def test_a_missing_warehouse_is_one_line_and_exit_2(tmp_path, capsys):
    code, out, err = _rejects(capsys, tmp_path / "nowhere")

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "warehouse.duckdb does not exist" in err
    assert not (tmp_path / "nowhere").exists()


def test_a_file_that_is_no_warehouse_is_one_line_and_exit_2(tmp_path, capsys):
    (tmp_path / "warehouse.duckdb").write_text("not a database")

    code, out, err = _rejects(capsys, tmp_path)

    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert "warehouse.duckdb cannot be read: " in err


def test_a_warehouse_held_by_a_refresh_is_one_line_not_a_traceback(tmp_path, capsys):
    path = make_warehouse(tmp_path)
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; con = duckdb.connect(sys.argv[1]); print('open', flush=True); "
            "sys.stdin.read()",
            str(path),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert writer.stdout.readline() == "open\n"
        code, out, err = _rejects(capsys, tmp_path)
    finally:
        writer.communicate(input="", timeout=WRITER_TIMEOUT_SECONDS)

    assert code == 3
    assert out == ""
    assert err.count("\n") == 1
    assert "is being written by a refresh" in err
    # Once the writer is gone, the same call answers.
    assert _rejects(capsys, tmp_path)[0] == 0


def test_the_warehouse_is_opened_read_only(tmp_path, capsys):
    path = make_warehouse(tmp_path)
    before = path.read_bytes()

    assert _rejects(capsys, tmp_path)[0] == 0

    assert path.read_bytes() == before
    assert not path.with_name("warehouse.duckdb.wal").exists()


def test_control_characters_in_a_place_or_a_record_are_escaped(tmp_path, capsys):
    hostile = "captures/\x1b[2Jevil.jsonl:1"
    make_warehouse(
        tmp_path,
        quarantined=[],
        rejected=[
            ("captures", hostile, "invalid JSON: x", "\x1b]0;owned\x07", datetime(2026, 3, 1))
        ],
    )

    code, out, _ = _rejects(capsys, tmp_path, "--show-records")

    assert code == 0
    assert "\x1b" not in out
    assert "\x07" not in out
    assert "captures/\\x1b[2Jevil.jsonl:1" in out
    assert "\\x1b]0;owned\\x07" in out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--limit", "-1"], "argument --limit: -1 is negative"),
        (["--since", "last week"], "argument --since: 'last week' is not an ISO date or time"),
    ],
)
def test_a_flag_it_cannot_use_is_refused_in_one_line(tmp_path, capsys, arguments, message):
    make_warehouse(tmp_path)

    with pytest.raises(SystemExit) as exit_info:
        main(["rejects", "--data-dir", str(tmp_path), *arguments])

    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err
