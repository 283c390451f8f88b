"""Bad input gets a clear error and loses nothing (SOURCES.md §1-2), case by case.

Captures. Each case writes its file(s) into a fresh capture directory beside `good.jsonl`, one
real Meta payload (tests/fixtures/whatsapp_cloud/message_text.json as one line) that must always
load, and loads the directory with `load_captures` into a real DuckDB file. Then:
- the run does not raise, and the good payload's message is stored;
- the raw tables hold exactly the rows the case expects on top of the good payload's;
- each reject the case expects, and no other, is counted in the report, logged in `raw._batches`
  and present in `raw.rejected_records` with its source, location (`<path>:<line>`; damaged gzip
  data is one reject for the file, located by its path alone) and specific reason;
- another run over the same directory loads no new row and rejects nothing new. The exception is
  a last line without its newline that could still become a payload: the receiver may be writing
  it, so the first run holds it back and the second, finding the file the same size, rejects it;
  the third then changes nothing.

Decisions these cases pin down:
- Raw keeps what came. Wrong-typed fields inside a payload (`timestamp` as a number instead of a
  string) and unknown message types (`"type": "hologram"`: Meta adds types) are accepted and
  stored as they came; staging casts and filters. The loader checks only what it needs: the
  envelope's containers (`entry`, `changes`, `value`, `messages`/`statuses`/...), which must be
  of the right type for the payload to be unpacked (else the whole line is rejected, naming the
  place), and each element's key (else that element is rejected and the payload kept).
- A line over 16 MiB (the default object limit of DuckDB's own JSON reader; real payloads are
  kilobytes) is rejected without being held whole, valid JSON or not: the reject keeps its first
  64 KiB. The big cases run in a subprocess that bounds its peak RSS.

API. `RawLoader` gets pages of records: a record that is not an object, has no usable key, or
cannot be written as JSON is rejected with the reason and the page URL; the rest of the page loads.
"""

from __future__ import annotations

import gzip
import json
import random
import re
import subprocess
import sys
import zlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import duckdb
import pytest

from extract.captures import KEPT_BYTES, MAX_LINE_BYTES, NOT_A_PAYLOAD, load_captures
from extract.load import RawLoader, RawTable
from tests.extract.payloads import envelope

PROJECT_ROOT = Path(__file__).parents[2]
FIXTURES = PROJECT_ROOT / "tests" / "fixtures" / "whatsapp_cloud"


def _compact(name: str) -> bytes:
    """A fixture payload as one line (no newline)."""
    payload = json.loads((FIXTURES / f"{name}.json").read_text())
    return json.dumps(payload, separators=(",", ":")).encode()


GOOD = _compact("message_text")
GOOD_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA="
# Two more real payloads (one status each) written around a bad line: the rest of its file loads.
BEFORE = _compact("status_delivered_cbp_service")
AFTER = _compact("status_read_no_pricing_2023")
AROUND = {"payloads": 2, "statuses": 2}
RAW_TABLES = ("payloads", "messages", "statuses", "contacts", "errors", "events")
# What good.jsonl alone stores.
GOOD_ROWS = {"payloads": 1, "messages": 1, "contacts": 1}
MIB = 1 << 20
BIG = 50 * MIB


class Reject(NamedTuple):
    source: str
    location: str
    reason: str | re.Pattern[str]  # exact, or a pattern the whole reason matches
    text: str | None = None  # what raw_text starts with, when checked


Writer = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    # path under the capture directory -> its bytes, or a function writing it (big files)
    files: dict[str, bytes | Writer]
    rejects: tuple[Reject, ...] = ()
    # Rows per raw table (short names) beyond good.jsonl's.
    rows: dict[str, int] = field(default_factory=dict)
    # How many of `rejects` (the last ones) the first run holds back and the second rejects.
    held_back: int = 0
    # (raw table, _record_id, text the stored record holds): kept as it came.
    stored: tuple[tuple[str, str, str], ...] = ()
    # Run the first load in a subprocess and bound its peak RSS (MiB over its warmed-up start).
    # Measured: about 70 MiB for either 50 MB line (before the 16 MiB limit, 1.4 GB for the
    # valid one), 375 MiB for the 8 MiB payload (DuckDB unpacking it in SQL).
    max_rss_mib: int | None = None


def message(**fields: object) -> dict:
    base = {
        "from": "16505551234",
        "id": "wamid.BAD",
        "timestamp": "1749416400",
        "type": "text",
        "text": {"body": "hello"},
    }
    return {key: value for key, value in (base | fields).items() if value is not ...}


def status(**fields: object) -> dict:
    base = {
        "id": "wamid.OUT",
        "status": "sent",
        "timestamp": "1750263700",
        "recipient_id": "16505551234",
    }
    return {key: value for key, value in (base | fields).items() if value is not ...}


def dumps(payload: object) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def around(bad: bytes, name: str = "case.jsonl") -> dict[str, bytes]:
    """A capture file with `bad` as line 2, between two good payloads."""
    return {name: BEFORE + b"\n" + bad + b"\n" + AFTER + b"\n"}


def at_line_2(reason: str | re.Pattern[str], source: str = "captures", **kwargs) -> Reject:
    return Reject(source, "case.jsonl:2", reason, **kwargs)


def line_case(bad: bytes | object, *rejects: Reject, **rows: int) -> Case:
    """`bad` (bytes, or a payload to write as a line) as line 2 of case.jsonl."""
    data = bad if isinstance(bad, bytes) else dumps(bad)
    return Case(files=around(data), rejects=rejects, rows=dict(Counter(AROUND) + Counter(rows)))


def malformed(problem: str) -> Reject:
    return at_line_2(f"malformed Meta webhook envelope: {problem}")


def junk_rejects(path: str, data: bytes) -> tuple[Reject, ...]:
    """One reject per non-blank line of junk bytes, whatever its exact parser message."""
    junk = re.compile(r"invalid (UTF-8|JSON): .+")
    return tuple(
        Reject("captures", f"{path}:{number}", junk)
        for number, line in enumerate(data.split(b"\n"), start=1)
        if line.strip()
    )


def png() -> bytes:
    """A real 1x1 PNG: its signature holds `\\r\\n` and `\\n`, so it splits into lines."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body).to_bytes(4, "big")
        return len(body).to_bytes(4, "big") + kind + body + crc

    header = (1).to_bytes(4, "big") * 2 + bytes([8, 2, 0, 0, 0])
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )


def too_long(size: int) -> str:
    return (
        f"line too long: {size} bytes, over the {MAX_LINE_BYTES >> 20} MiB limit "
        f"(the text kept is its first {KEPT_BYTES >> 10} KiB)"
    )


def big_valid_line(size: int) -> tuple[Writer, int]:
    """A writer of a valid Meta payload padded to `size` bytes by its text body, then a newline
    and BEFORE on line 2; and the payload line's length."""
    head, tail = GOOD.replace(GOOD_ID.encode(), b"wamid.BIG").split(
        b"Does it come in another color?"
    )
    body = size - len(head) - len(tail)

    def write(path: Path) -> None:
        with path.open("wb") as out:
            out.write(head)
            for start in range(0, body, MIB):
                out.write(b"x" * min(MIB, body - start))
            out.write(tail + b"\n" + BEFORE + b"\n")

    return write, size


def big_garbage_line(path: Path) -> None:
    """50 MB of random bytes without a newline, then a newline and BEFORE on line 2."""
    rng = random.Random(7)
    with path.open("wb") as out:
        for _ in range(BIG // MIB):
            out.write(rng.randbytes(MIB).replace(b"\n", b"#"))
        out.write(b"\n" + BEFORE + b"\n")


def truncated_gzip() -> bytes:
    """A finished member with BEFORE, then a member cut inside AFTER's line (stored blocks, so
    what arrived decompresses)."""
    cut = gzip.compress(AFTER + b"\n", compresslevel=0, mtime=0)[:200]
    return gzip.compress(BEFORE + b"\n", mtime=0) + cut


RANDOM_4K = random.Random(1).randbytes(4096)
UTF16 = (GOOD.decode() + "\n").encode("utf-16")
PRETTY = (FIXTURES / "status_failed_131047.json").read_bytes()
PRETTY_LINES = PRETTY.decode().splitlines()
TRUNCATED = GOOD.replace(GOOD_ID.encode(), b"wamid.CUT")[:120]
# Cut inside a string: the parser names the column where that string starts.
CUT_AT = TRUNCATED.rindex(b'"') + 1
CUT_REASON = f"invalid JSON: Unterminated string starting at column {CUT_AT}"
VALID_8MIB, _ = big_valid_line(8 * MIB)
VALID_50MB, VALID_50MB_SIZE = big_valid_line(BIG)
NUMERIC_TIMESTAMPS = envelope(
    {
        "messages": [message(id="wamid.NUMTS", timestamp=1749416400)],
        "statuses": [status(id="wamid.NUMTS.OUT", timestamp=1750263700)],
    }
)

CASES: dict[str, Case] = {
    # --- lines that are not JSON
    "truncated JSON line": line_case(
        TRUNCATED,
        at_line_2(CUT_REASON, text=TRUNCATED.decode()),
    ),
    "truncated last line without its newline (held back, then rejected)": Case(
        files={"case.jsonl": BEFORE + b"\n" + TRUNCATED},
        rejects=(at_line_2(CUT_REASON),),
        rows={"payloads": 1, "statuses": 1},
        held_back=1,
    ),
    "two payloads on one line": line_case(
        BEFORE + AFTER, at_line_2(f"invalid JSON: Extra data at column {len(BEFORE) + 1}")
    ),
    "NaN in a payload": line_case(
        GOOD.replace(b'"timestamp":"1749416383"', b'"timestamp":NaN'),
        at_line_2("invalid JSON: NaN is not valid JSON"),
    ),
    "a lone surrogate escape": line_case(
        GOOD.replace(b"Does it come", b"\\ud83d it come"),
        at_line_2("invalid JSON: a string holds a lone surrogate"),
    ),
    "invalid UTF-8 inside a string": line_case(
        GOOD.replace(b"Does it come", b"Do\xe9s it come"),
        at_line_2(f"invalid UTF-8: byte {GOOD.index(b'Does') + 2}"),
    ),
    "nested 100 000 levels deep": line_case(
        b"[" * 100_000 + b"]" * 100_000, at_line_2("invalid JSON: nested too deeply")
    ),
    # --- valid JSON of the wrong type
    "a number": line_case(b"42", at_line_2(NOT_A_PAYLOAD, text="42")),
    "a string": line_case(b'"hello"', at_line_2(NOT_A_PAYLOAD, text='"hello"')),
    "a list": line_case(b"[1, 2]", at_line_2(NOT_A_PAYLOAD, text="[1, 2]")),
    "null": line_case(b"null", at_line_2(NOT_A_PAYLOAD, text="null")),
    "an object of another kind": line_case({"hello": "world"}, at_line_2(NOT_A_PAYLOAD)),
    # --- Meta envelopes whose containers cannot be unpacked: the line is rejected
    "envelope: entry is not a list": line_case(
        {"object": "whatsapp_business_account", "entry": {"id": "1"}},
        malformed("entry is an object, not a list"),
    ),
    "envelope: entry is missing": line_case(
        {"object": "whatsapp_business_account"}, malformed("entry is missing")
    ),
    "envelope: an entry is not an object": line_case(
        {"object": "whatsapp_business_account", "entry": [42]},
        malformed("entry[0] is a number, not an object"),
    ),
    "envelope: changes is not a list": line_case(
        {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": "none"}]},
        malformed("entry[0].changes is a string, not a list"),
    ),
    "envelope: value is not an object": line_case(
        {
            "object": "whatsapp_business_account",
            "entry": [{"id": "1", "changes": [{"field": "messages", "value": [1]}]}],
        },
        malformed("entry[0].changes[0].value is a list, not an object"),
    ),
    "envelope: messages is not a list": line_case(
        envelope({"messages": message()}),
        malformed("entry[0].changes[0].value.messages is an object, not a list"),
    ),
    # --- elements without their key: the element is rejected, its payload kept
    "a messages[] element without id": line_case(
        envelope({"messages": [message(id=...), message(id="wamid.KEPT")]}),
        at_line_2("messages element without id: id is missing", source="whatsapp_cloud"),
        payloads=1,
        messages=1,
    ),
    "a messages[] element whose id is an object": line_case(
        envelope({"messages": [message(id={"wamid": "x"})]}),
        at_line_2(
            "messages element without id: id is an object, not a string or a number",
            source="whatsapp_cloud",
            text='{"from":"16505551234","id":{"wamid":"x"}',
        ),
        payloads=1,
    ),
    "a messages[] element that is null": line_case(
        envelope({"messages": [None]}),
        at_line_2("messages element without id: the element is null", source="whatsapp_cloud"),
        payloads=1,
    ),
    "a status without timestamp": line_case(
        envelope({"statuses": [status(timestamp=...)]}),
        at_line_2(
            "statuses element without id, status or timestamp: timestamp is missing",
            source="whatsapp_cloud",
        ),
        payloads=1,
    ),
    "a status whose id is empty and status is true": line_case(
        envelope({"statuses": [status(id="", status=True)]}),
        at_line_2(
            "statuses element without id, status or timestamp: "
            "id is empty; status is a boolean, not a string or a number",
            source="whatsapp_cloud",
        ),
        payloads=1,
    ),
    # --- accepted as they came
    "timestamps as numbers (accepted as-is)": Case(
        files=around(dumps(NUMERIC_TIMESTAMPS)),
        rows=dict(Counter(AROUND) + Counter(payloads=1, messages=1, statuses=1)),
        stored=(
            ("messages", "wamid.NUMTS", '"timestamp":1749416400'),
            ("statuses", "wamid.NUMTS.OUT|sent|1750263700", '"timestamp":1750263700'),
        ),
    ),
    "an unknown message type (accepted, kept raw)": Case(
        files=around(
            dumps(
                envelope(
                    {
                        "messages": [
                            message(
                                id="wamid.HOLO",
                                type="hologram",
                                text=...,
                                hologram={"beam": "blue", "seconds": 3},
                            )
                        ]
                    }
                )
            )
        ),
        rows=dict(Counter(AROUND) + Counter(payloads=1, messages=1)),
        stored=(("messages", "wamid.HOLO", '"hologram":{"beam":"blue","seconds":3}'),),
    ),
    # --- respond.io events
    "a respond.io event without eventId": line_case(
        {"event": "conversationOpened", "timestamp": 1750000000, "contact": {"id": 1}},
        at_line_2("malformed respond.io event: eventId is missing"),
    ),
    "a respond.io event whose eventId is a number": line_case(
        {"event": "newComment", "eventId": 12, "timestamp": 1750000000},
        at_line_2("malformed respond.io event: eventId is a number, not a string"),
    ),
    # --- files that hold nothing
    "empty files": Case(files={"empty.jsonl": b"", "empty.json": b"", "empty.ndjson.gz": b""}),
    "an empty gzip file": Case(files={"nothing.jsonl.gz": gzip.compress(b"", mtime=0)}),
    "only blank lines": Case(files={"blank.jsonl": b"\n\n   \n\t\r\n\n"}),
    # --- files that are not text
    "4 KB of random bytes named .jsonl": Case(
        files={"random.jsonl": RANDOM_4K}, rejects=junk_rejects("random.jsonl", RANDOM_4K)
    ),
    "a PNG named .jsonl": Case(
        files={"image.jsonl": png()},
        rejects=(
            Reject("captures", "image.jsonl:1", "invalid UTF-8: byte 0", text="\ufffdPNG"),
            Reject("captures", "image.jsonl:2", "invalid JSON: Expecting value at column 1"),
            *junk_rejects("image.jsonl", png())[2:],
        ),
    ),
    "random bytes named .json": Case(
        files={"random.json": RANDOM_4K},
        rejects=(Reject("captures", "random.json:1", "invalid UTF-8: byte 0"),),
    ),
    "a UTF-16 file": Case(
        files={"utf16.jsonl": UTF16},
        rejects=(
            Reject(
                "captures",
                "utf16.jsonl:1",
                "invalid UTF-8: byte 0 (a UTF-16 byte-order mark: captures must be UTF-8)",
            ),
            *junk_rejects("utf16.jsonl", UTF16)[1:],
        ),
    ),
    # --- gzip
    "a corrupt gzip file (a good member, then junk)": Case(
        files={"corrupt.jsonl.gz": gzip.compress(BEFORE + b"\n", mtime=0) + RANDOM_4K[:500]},
        rejects=(
            Reject(
                "captures",
                "corrupt.jsonl.gz",
                re.compile(r"unreadable gzip data: Error -3 while decompressing data: .+"),
                text="",
            ),
        ),
        rows={"payloads": 1, "statuses": 1},
    ),
    "plain text named .gz": Case(
        files={"plain.jsonl.gz": BEFORE + b"\n"},
        rejects=(
            Reject(
                "captures",
                "plain.jsonl.gz",
                "unreadable gzip data: Error -3 while decompressing data: incorrect header check",
            ),
        ),
    ),
    "a truncated gzip file (held back, then rejected)": Case(
        files={"cut.jsonl.gz": truncated_gzip()},
        rejects=(
            Reject(
                "captures",
                "cut.jsonl.gz:2",
                "truncated gzip data: the file ends inside a gzip member, within this line",
                text=AFTER.decode()[:40],
            ),
        ),
        rows={"payloads": 1, "statuses": 1},
        held_back=1,
    ),
    # --- layouts that are fine
    "a pretty-printed .json document": Case(
        files={"pretty.json": PRETTY}, rows={"payloads": 1, "statuses": 1}
    ),
    "a pretty-printed payload in a .jsonl (every line rejected)": Case(
        files={"pretty.jsonl": PRETTY},
        rejects=tuple(
            Reject("captures", f"pretty.jsonl:{number}", re.compile(r"invalid JSON: .+"))
            for number, text in enumerate(PRETTY_LINES, start=1)
            if text.strip()
        ),
    ),
    "a UTF-8 byte-order mark at the start of files": Case(
        files={
            "bom.jsonl": b"\xef\xbb\xbf" + BEFORE + b"\n" + AFTER + b"\n",
            "bom.json": b"\xef\xbb\xbf" + PRETTY,
        },
        rows=dict(Counter(AROUND) + Counter(payloads=1, statuses=1)),
    ),
    "a byte-order mark mid-file (BOM'd files concatenated)": Case(
        files={"cat.jsonl": b"\xef\xbb\xbf" + BEFORE + b"\n\xef\xbb\xbf" + AFTER + b"\n"},
        rows=AROUND,
    ),
    "CRLF line endings": Case(
        files={
            "crlf.jsonl": BEFORE + b"\r\n" + AFTER + b"\r\n",
            "crlf.json": PRETTY.replace(b"\n", b"\r\n"),
        },
        rows=dict(Counter(AROUND) + Counter(payloads=1, statuses=1)),
    ),
    # --- size
    "an 8 MiB payload (under the limit: loads)": Case(
        files={"big.jsonl": VALID_8MIB},
        rows={"payloads": 2, "messages": 1, "statuses": 1},
        max_rss_mib=768,
    ),
    "a 50 MB line of valid JSON": Case(
        files={"big.jsonl": VALID_50MB},
        rejects=(
            Reject("captures", "big.jsonl:1", too_long(VALID_50MB_SIZE), text=GOOD.decode()[:100]),
        ),
        rows={"payloads": 1, "statuses": 1},
        max_rss_mib=160,
    ),
    "a 50 MB line of garbage": Case(
        files={"garbage.jsonl": big_garbage_line},
        rejects=(Reject("captures", "garbage.jsonl:1", too_long(BIG)),),
        rows={"payloads": 1, "statuses": 1},
        max_rss_mib=160,
    ),
}


class Outcome(NamedTuple):
    rejected: int
    held_back: int
    rejection_reasons: dict[str, int]


def _outcome(report) -> Outcome:
    return Outcome(report.rejected, report.lines_held_back, dict(report.rejection_reasons))


# The first load of a case with a memory bound, in a process of its own: warmed up by a load of
# an empty directory (DuckDB and the raw tables set up), then its peak RSS measured over the load.
MEASURED_LOAD = """
import json, resource, sys, tempfile
from pathlib import Path
import duckdb
from extract.captures import load_captures

with duckdb.connect(sys.argv[1]) as con, tempfile.TemporaryDirectory() as empty:
    load_captures(con, Path(empty))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = load_captures(con, Path(sys.argv[2]))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({
    "rejected": report.rejected,
    "held_back": report.lines_held_back,
    "rejection_reasons": report.rejection_reasons,
    "rss_mib": (peak - before) / 1024,
}))
"""


def _measured_load(database: Path, root: Path) -> tuple[Outcome, float]:
    done = subprocess.run(
        [sys.executable, "-c", MEASURED_LOAD, str(database), str(root)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    result = json.loads(done.stdout.splitlines()[-1])
    outcome = Outcome(result["rejected"], result["held_back"], result["rejection_reasons"])
    return outcome, result["rss_mib"]


def _rows(con: duckdb.DuckDBPyConnection) -> dict[str, int]:
    counts = {}
    for table in RAW_TABLES:
        source = "respondio" if table == "events" else "whatsapp_cloud"
        (counts[table],) = con.execute(f"select count(*) from raw.{source}__{table}").fetchone()
    return {table: number for table, number in counts.items() if number}


def _rejects(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """raw.rejected_records by path, then line number."""
    rows = con.execute("select source, location, reason, raw_text from raw.rejected_records")

    def order(row: tuple) -> tuple:
        path, _, number = row[1].rpartition(":")
        return (path, int(number)) if number.isdigit() else (row[1], 0)

    return sorted(rows.fetchall(), key=order)


def _assert_rejects(con: duckdb.DuckDBPyConnection, expected: tuple[Reject, ...]) -> None:
    actual = _rejects(con)
    assert [(row[0], row[1]) for row in actual] == [(e.source, e.location) for e in expected]
    for (_, location, reason, text), want in zip(actual, expected, strict=True):
        if isinstance(want.reason, str):
            assert reason == want.reason, location
        else:
            assert want.reason.fullmatch(reason), (location, reason)
        if want.text is not None:
            assert text.startswith(want.text), location
    # Every reject is counted in the batches that wrote it ("the count is reported").
    (logged,) = con.execute("select coalesce(sum(rejected), 0) from raw._batches").fetchone()
    assert logged == len(actual)


def _kinds(rejects: list[tuple[str, str, str, str]]) -> dict[str, int]:
    return dict(Counter(reason.partition(":")[0] for _, _, reason, _ in rejects))


@pytest.mark.parametrize("name", list(CASES))
def test_bad_capture_input(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    root = tmp_path / "captures"
    root.mkdir()
    (root / "good.jsonl").write_bytes(GOOD + b"\n")
    for relative, content in case.files.items():
        if isinstance(content, bytes):
            (root / relative).write_bytes(content)
        else:
            content(root / relative)
    database = tmp_path / "warehouse.duckdb"
    expected_rows = dict(Counter(GOOD_ROWS) + Counter(case.rows))
    first_rejects = case.rejects[: len(case.rejects) - case.held_back]

    if case.max_rss_mib is None:
        with duckdb.connect(str(database)) as con:
            first = _outcome(load_captures(con, root))
    else:
        first, rss_mib = _measured_load(database, root)
        assert rss_mib < case.max_rss_mib

    with duckdb.connect(str(database)) as con:
        assert con.execute(
            "select count(*) from raw.whatsapp_cloud__messages where _record_id = ?", [GOOD_ID]
        ).fetchone() == (1,)
        assert _rows(con) == expected_rows
        for table, record_id, text in case.stored:
            (record,) = con.execute(
                f"select record::varchar from raw.whatsapp_cloud__{table} where _record_id = ?",
                [record_id],
            ).fetchone()
            assert text in record
        _assert_rejects(con, first_rejects)
        assert first == Outcome(len(first_rejects), case.held_back, _kinds(_rejects(con)))

        if case.held_back:  # the file has not grown since: the held-back lines are final
            second = _outcome(load_captures(con, root))
            assert (second.rejected, second.held_back) == (case.held_back, 0)
            _assert_rejects(con, case.rejects)
            assert _rows(con) == expected_rows

        again = load_captures(con, root)
        assert (again.rejected, again.lines_read, again.lines_held_back) == (0, 0, 0)
        assert again.files_skipped == again.files_seen == len(case.files) + 1
        assert _rows(con) == expected_rows
        _assert_rejects(con, case.rejects)


# --- the API side: RawLoader

# A table no value rule applies to (`extract.rules`): these tests are about the loader alone.
MESSAGES = RawTable("respondio", "loader_test_messages", key_field="messageId")
PAGE = "http://127.0.0.1/v2/contact/id:1/message/list?limit=100"


def _deep(levels: int) -> list:
    root: list = []
    inner = root
    for _ in range(levels):
        inner.append([])
        inner = inner[0]
    return root


API_REJECTS: dict[str, tuple[object, str]] = {
    "a string": ("not an object", "not a JSON object (str)"),
    "a number": (7, "not a JSON object (int)"),
    "a list": ([{"messageId": 1}], "not a JSON object (list)"),
    "null": (None, "not a JSON object (NoneType)"),
    "key missing": ({"traffic": "incoming"}, "missing or invalid messageId"),
    "key empty": ({"messageId": ""}, "missing or invalid messageId"),
    "key null": ({"messageId": None}, "missing or invalid messageId"),
    "key a bool": ({"messageId": True}, "missing or invalid messageId"),
    "key an object": ({"messageId": {"id": 1}}, "missing or invalid messageId"),
    "key a list": ({"messageId": [1]}, "missing or invalid messageId"),
    "key a float": ({"messageId": 1.5}, "missing or invalid messageId"),
    "NaN nested in the record": (
        {"messageId": 90, "message": {"meta": [float("nan")]}},
        "invalid JSON: a number is NaN or Infinity",
    ),
    "Infinity": (
        {"messageId": 91, "score": float("inf")},
        "invalid JSON: a number is NaN or Infinity",
    ),
    "a lone surrogate nested in the record": (
        {"messageId": 92, "message": {"text": "broken \ud83d emoji"}},
        "invalid JSON: a string holds a lone surrogate",
    ),
    "a lone surrogate in the key": (
        {"messageId": "\udc00"},
        "invalid JSON: a string holds a lone surrogate",
    ),
    "nesting deeper than Python's recursion limit": (
        {"messageId": 93, "deep": _deep(sys.getrecursionlimit() + 10)},
        "invalid JSON: nested too deeply",
    ),
    "a value JSON has no type for": (
        {"messageId": 94, "tags": {"a", "b"}},
        "invalid JSON: Object of type set is not JSON serializable",
    ),
}


@pytest.mark.parametrize("name", list(API_REJECTS))
def test_bad_api_records_are_rejected_with_reason_and_the_rest_loads(name, tmp_path):
    bad, reason = API_REJECTS[name]
    page = [{"messageId": "m-1", "traffic": "incoming"}, bad, {"messageId": "m-2"}]
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        loader = RawLoader(con, MESSAGES)
        loader.add(page, PAGE)
        result = loader.commit()

        assert (result.fetched, result.inserted, result.rejected) == (3, 2, 1)
        assert result.rejection_reasons == {reason: 1}
        rows = con.execute(
            "select source, location, reason, raw_text, batch_id from raw.rejected_records"
        ).fetchall()
        assert len(rows) == 1
        source, location, stored_reason, text, batch_id = rows[0]
        assert (source, location, stored_reason, batch_id) == (
            "respondio",
            PAGE,
            reason,
            result.batch_id,
        )
        assert text  # the record's text, as far as it can be written
        ids = con.execute(
            "select _record_id from raw.respondio__loader_test_messages order by 1"
        ).fetchall()
        assert ids == [("m-1",), ("m-2",)]

        # The API has no manifest: the same page fetched again stores nothing new, and the bad
        # record, sent again, is rejected again in the new batch.
        again = RawLoader(con, MESSAGES)
        again.add(page, PAGE)
        second = again.commit()
        assert (second.inserted, second.updated, second.unchanged, second.rejected) == (0, 0, 2, 1)


def test_odd_but_valid_json_in_api_records_loads_as_sent(tmp_path):
    odd = {
        "messageId": 10**30,
        "nothing": None,
        "empty": [[], {}, ""],
        "nested": [[[{"a": [None, True, False]}]]],
        "numbers": [0, -0.0, 1e308, -1e-308, 2**63, -(2**63) - 1],
        "text": 'NUL \u0000, emoji 🎉, RTL \u202e, quote " and backslash \\',
        "deep": _deep(200),
    }
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        loader = RawLoader(con, MESSAGES)
        loader.add([odd], PAGE)
        assert loader.commit().inserted == 1
        record_id, text = con.execute(
            "select _record_id, record::varchar from raw.respondio__loader_test_messages"
        ).fetchone()
        assert record_id == str(10**30)
        assert json.loads(text) == odd
        again = RawLoader(con, MESSAGES)
        again.add([json.loads(json.dumps(odd))], PAGE)
        assert again.commit().unchanged == 1
