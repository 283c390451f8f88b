"""Load webhook capture files into the raw layer, every line once (SOURCES.md §1 and §2).

Files. `load_captures(con, root)` walks `root` recursively for `*.json` (one payload, possibly
pretty-printed), `*.jsonl` and `*.ndjson` (one payload a line), each optionally gzipped, and reads
them in sorted relative-path order. Hidden files and directories (a leading `.`, where receivers
keep their temporary files) are skipped; symlinked directories are not followed. A `.gz` file is
read as the concatenation of its members, so a receiver appending a gzip member per flush looks
like a plain file that grew; everything below is about the decompressed content.

Manifest. `raw._capture_files` holds one row per file (path relative to `root`, so always pass the
same root): `size` (content bytes seen at the last run), `bytes_loaded` and `lines_loaded` (the
prefix consumed so far), and `sha256` of that prefix. Each run hashes the file's first
`bytes_loaded` bytes again:
- same hash and nothing after it: skipped, nothing written;
- same hash and more after it: appended, only the lines after the prefix are read;
- another hash, or a shorter file: reloaded from the start, with a warning. The upserts keep that
  idempotent; only the rejects of re-read lines are recorded again.
A `.json` file is one document: any change reloads it.

Unterminated last line. A receiver may still be writing the last line. A last line without a
newline is consumed at once if it parses as JSON (a proper prefix of a JSON object never does);
otherwise it is held back, with the file's size recorded, until a run finds the file at the same
size as the previous run saw it (it stopped growing), and is then rejected like any invalid line.
A last line that can never become a payload is rejected at once instead: one that does not start
with `{`, holds bytes that are not UTF-8 before its last character, or follows damaged gzip data.
If a line consumed without its newline later grows, the file is reloaded. A `.json` document
follows the same rule. A `.gz` file that ends inside a member (cut short) is read as far as it
goes; a last line it cuts is held back as above, then rejected as truncated gzip data.

Long lines. No real payload comes near `MAX_LINE_BYTES` (16 MiB, the default object limit of
DuckDB's own JSON reader; webhook payloads are kilobytes, media travel by reference). A longer
line (or `.json` document) is rejected without ever being held whole in memory: the reject keeps
its first `KEPT_BYTES` and its length, and its location points at the rest in the file.

Lines. Each non-blank line is parsed in Python (the canonical form needs it) and classified:
- a Meta envelope goes to `raw.whatsapp_cloud__payloads`, unpacked by `extract.whatsapp_cloud`;
- a respond.io event (string `event` and `eventId`) goes to `raw.respondio__events`, keyed by
  `eventId`, every event name alike (respond.io's own names and wabi's `contactDeleted`);
- a payload naming `whatsapp_business_account` whose containers are of the wrong type (`entry`
  not a list, `changes` not a list, `value` not an object, `messages` not a list, ...) or an event
  whose `event` or `eventId` is missing, empty or not a string is rejected as malformed, with the
  place named;
- anything else, invalid UTF-8 or invalid JSON goes to `raw.rejected_records` (source `captures`,
  location `<path>:<line>`, the reason, the text). Damaged gzip data is one reject for the file,
  located by its path alone.
The stored `record` is the text as it came (surrounding whitespace and a UTF-8 byte-order mark
trimmed). Wrong-typed fields inside a payload (a `timestamp` as a number, an unknown message
`type`) are not the loader's business: raw keeps what came, and staging casts.

Transactions. Files are loaded in groups of about `commit_lines` lines, a file never split. A group
commits its raw rows, rejects, batches and manifest rows in one transaction, so a run killed
mid-way leaves each file wholly loaded or not at all and the next run resumes from the manifest:
nothing lost, nothing doubled. Each group logs in `raw._batches` one batch per raw table it wrote
(source `whatsapp_cloud` or `respondio`) and one `captures`/`lines` batch (fetched = lines read,
inserted = lines accepted, rejected = lines rejected) to which the manifest's `last_batch_id` and
the line rejects refer. Logs name paths, line numbers and counts, never a record's content (it
holds phone numbers).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from extract import whatsapp_cloud
from extract.load import (
    CHUNK_ROWS,
    RAW_SCHEMA,
    LoadResult,
    RawTable,
    create_staging,
    ensure_raw_schema,
    ensure_raw_table,
    insert_rejects,
    log_batch,
    merge_batch,
    utc_now,
)

log = logging.getLogger("wabi.extract.captures")

SOURCE = "captures"
RESPONDIO_EVENTS = RawTable("respondio", "events", key_field="eventId")
MANIFEST = f"{RAW_SCHEMA}._capture_files"
SUFFIXES = (".json", ".jsonl", ".ndjson")
COMMIT_LINES = 200_000
READ_BYTES = 1 << 20
NOT_A_PAYLOAD = "not a Meta webhook envelope nor a respond.io event"
META_OBJECT = "whatsapp_business_account"
MAX_LINE_BYTES = 16 << 20
KEPT_BYTES = 64 << 10
BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
# (line number, the line without its newline, a reason when the reader already rejects it)
Line = tuple[int, bytes, str | None]
# Each group's staging table per raw table that capture lines go to, and the columns it fills.
STAGING = {whatsapp_cloud.PAYLOADS: "_cap_payloads", RESPONDIO_EVENTS: "_cap_events"}
STAGED_COLUMNS = ("_record_id", "record", "_record_hash", "_file", "_line", "_ord")


@dataclass(frozen=True)
class ManifestEntry:
    size: int
    sha256: str
    lines_loaded: int
    bytes_loaded: int
    first_loaded_at: datetime


@dataclass
class CaptureLoadReport:
    """What one `load_captures` run did."""

    root: str
    files_seen: int = 0
    files_new: int = 0
    files_appended: int = 0
    files_reloaded: int = 0
    files_skipped: int = 0
    lines_read: int = 0
    lines_rejected: int = 0
    lines_held_back: int = 0
    # Every reject written (lines and unpacked elements), by kind of reason.
    rejection_reasons: Counter[str] = field(default_factory=Counter)
    batches: list[LoadResult] = field(default_factory=list)

    @property
    def tables(self) -> dict[str, dict[str, int]]:
        """Counts per raw table, summed over the run's batches (the lines batches are in
        `lines_read` and `lines_rejected`)."""
        totals: dict[str, Counter[str]] = {}
        for batch in self.batches:
            if batch.table == MANIFEST:
                continue
            counts = totals.setdefault(batch.table, Counter())
            counts.update(
                fetched=batch.fetched,
                inserted=batch.inserted,
                updated=batch.updated,
                unchanged=batch.unchanged,
                rejected=batch.rejected,
            )
        return {table: dict(counts) for table, counts in sorted(totals.items())}

    @property
    def rejected(self) -> int:
        return sum(self.rejection_reasons.values())

    def as_metadata(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files": {
                "seen": self.files_seen,
                "new": self.files_new,
                "appended": self.files_appended,
                "reloaded": self.files_reloaded,
                "skipped": self.files_skipped,
            },
            "lines_read": self.lines_read,
            "lines_rejected": self.lines_rejected,
            "lines_held_back": self.lines_held_back,
            "rejection_reasons": dict(self.rejection_reasons),
            "tables": self.tables,
            "batch_ids": [batch.batch_id for batch in self.batches],
        }


class _Rejected(Exception):
    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason)
        self.reason, self.text = reason, text


def _reason_kind(reason: str) -> str:
    """A reason without its position, to count: `invalid JSON: Expecting ...` -> `invalid JSON`."""
    return reason.partition(":")[0]


def _parses(data: bytes) -> bool:
    try:
        json.loads(data)
    except (ValueError, RecursionError):
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


# Built once: json.loads/dumps with options build a new decoder/encoder per call. NaN and Infinity
# are refused: they are not JSON.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)
_CANONICAL = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _may_become_a_payload(data: bytes) -> bool:
    """Whether an unterminated last line (or document) could still grow into a payload: it starts
    with `{` and any bytes that are not UTF-8 are a character cut at its end."""
    if not data.lstrip().removeprefix(BOM).lstrip().startswith(b"{"):
        return False
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"
    return True


def _too_long(size: int) -> str:
    return (
        f"line too long: {size} bytes, over the {MAX_LINE_BYTES >> 20} MiB limit "
        f"(the text kept is its first {KEPT_BYTES >> 10} KiB)"
    )


def _parse(data: bytes) -> tuple[str, Any, str]:
    """(text, payload, md5 of its canonical JSON) or `_Rejected`."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = f"invalid UTF-8: byte {exc.start}"
        if data.startswith(UTF16_BOMS):
            reason += " (a UTF-16 byte-order mark: captures must be UTF-8)"
        raise _Rejected(reason, data.decode("utf-8", "replace")) from None
    # A byte-order mark some editors write, on the first line or where files were concatenated.
    text = text.strip().removeprefix("\ufeff").lstrip()
    try:
        payload = _DECODER.decode(text)
        # The canonical form, as RawLoader hashes records; DuckDB's JSON refuses lone
        # surrogates, which Python accepts, and encoding them raises.
        digest = hashlib.md5(_CANONICAL.encode(payload).encode()).hexdigest()
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}" if "\n" in text else f"column {exc.colno}"
        # Some messages end in "at" ("Unterminated string starting at"): not twice.
        raise _Rejected(f"invalid JSON: {exc.msg.removesuffix(' at')} at {where}", text) from None
    except UnicodeEncodeError:
        raise _Rejected("invalid JSON: a string holds a lone surrogate", text) from None
    except ValueError as exc:
        raise _Rejected(f"invalid JSON: {exc}", text) from None
    except RecursionError:
        raise _Rejected("invalid JSON: nested too deeply", text) from None
    return text, payload, digest


def _event_problem(payload: dict) -> str | None:
    """Why a respond.io event (a dict with `event` or `eventId`) cannot be keyed, or None."""
    for name in ("event", "eventId"):
        value = payload.get(name)
        if value is None:
            return f"{name} is missing" if name not in payload else f"{name} is null"
        if not isinstance(value, str):
            return f"{name} is {whatsapp_cloud.describe(value)}, not a string"
        if not value:
            return f"{name} is empty"
    return None


def _classify(payload: Any, digest: str) -> tuple[RawTable, str]:
    """The raw table and key of a parsed line, or `_Rejected` (without the text)."""
    if isinstance(payload, dict):
        if payload.get("object") == META_OBJECT:
            problem = whatsapp_cloud.envelope_problem(payload)
            if problem:
                raise _Rejected(f"malformed Meta webhook envelope: {problem}", "")
            # Content-addressed: the same payload delivered twice is one row.
            return whatsapp_cloud.PAYLOADS, digest
        if "event" in payload or "eventId" in payload:
            problem = _event_problem(payload)
            if problem:
                raise _Rejected(f"malformed respond.io event: {problem}", "")
            return RESPONDIO_EVENTS, payload["eventId"]
    raise _Rejected(NOT_A_PAYLOAD, "")


class CaptureFile:
    """The unread part of one capture file.

    Iterate `lines()`; afterwards `outcome` (new, appended, reloaded, skipped), `size`,
    `bytes_loaded`, `lines_loaded`, `sha256` and `held_back` describe the file for the manifest.
    """

    def __init__(
        self, root: Path, path: Path, stored: ManifestEntry | None, *, reread: bool = False
    ) -> None:
        self.path = path
        self.relative = path.relative_to(root).as_posix()
        self.stored = stored
        # Read from the start whatever the manifest says (a reload of some days).
        self.reread = reread
        self.is_document = path.name.removesuffix(".gz").endswith(".json")
        self.outcome = "reloaded" if reread else "new" if stored is None else "skipped"
        self.size = self.bytes_loaded = self.lines_loaded = 0
        self.sha256 = hashlib.sha256().hexdigest()
        self.held_back = False
        self.damage: str | None = None
        # A `.gz` file ending inside a member: cut short, or still being written.
        self.cut_short = False

    @property
    def changed(self) -> bool:
        """Whether the manifest row needs writing."""
        stored = self.stored
        return stored is None or self.outcome != "skipped" or self.size != stored.size

    def lines(self) -> Iterator[Line]:
        """(line number, line without its newline, reason or None) of every unread non-blank
        line; a reason when the reader rejects the line itself (too long, cut short)."""
        if self.is_document:
            yield from self._document()
        else:
            yield from self._lines(resume=self.stored is not None and not self.reread)

    def _chunks(self) -> Iterator[bytes]:
        """The file's content; for `.gz` every member decompressed, an unfinished last member as
        far as it goes, and damaged data ends the content (recorded in `damage`)."""
        self.damage, self.cut_short = None, False
        with self.path.open("rb") as raw:
            if self.path.suffix != ".gz":
                while block := raw.read(READ_BYTES):
                    yield block
                return
            inflate = zlib.decompressobj(wbits=31)
            started = False  # whether the current member has received any bytes
            while block := raw.read(READ_BYTES):
                while block:
                    started = True
                    try:
                        yield inflate.decompress(block)
                    except zlib.error as exc:
                        self.damage = f"unreadable gzip data: {exc}"
                        return
                    block = b""
                    if inflate.eof:  # the next member starts right after this one
                        block = inflate.unused_data
                        inflate, started = zlib.decompressobj(wbits=31), False
            self.cut_short = started and not inflate.eof

    def _reload(self, why: str) -> None:
        log.warning("%s: %s since the last load; reloading it from the start", self.relative, why)
        self.outcome = "reloaded"

    def _finish(self, size: int, consumed: int, lines: int, digest: str) -> None:
        self.size, self.bytes_loaded, self.lines_loaded, self.sha256 = size, consumed, lines, digest
        if self.outcome == "skipped" and self.stored and consumed > self.stored.bytes_loaded:
            self.outcome = "appended"

    def _stable(self, stored: ManifestEntry | None, size: int, tail: bytes) -> bool:
        """Whether an unterminated last line (or document) is final: the file stopped growing,
        its gzip data is damaged, or it can never become a payload."""
        if stored is not None and stored.size == size:
            return True
        return self.damage is not None or not _may_become_a_payload(tail)

    def _cut(self, tail: bytes) -> str | None:
        """The reason of a final last line a `.gz` file cuts short, or None."""
        if self.cut_short and not _parses(tail):
            return "truncated gzip data: the file ends inside a gzip member, within this line"
        return None

    def _document(self) -> Iterator[Line]:
        hasher, size, kept = hashlib.sha256(), 0, bytearray()
        for chunk in self._chunks():
            hasher.update(chunk)
            size += len(chunk)
            if len(kept) <= MAX_LINE_BYTES:
                kept += chunk
        digest = hasher.hexdigest()
        stored = None if self.reread else self.stored
        if stored is not None and stored.bytes_loaded:
            if stored.sha256 == digest and stored.bytes_loaded == size:
                self._finish(size, size, 1, digest)
                return
            self._reload("the document changed")
            stored = None
        if size > MAX_LINE_BYTES:
            self._finish(size, size, 1, digest)
            yield 1, bytes(kept[:KEPT_BYTES]), _too_long(size)
            return
        content = bytes(kept)
        if content.strip() and (self._stable(stored, size, content) or _parses(content)):
            self._finish(size, size, 1, digest)
            yield 1, content, self._cut(content)
        else:
            self.held_back = bool(content.strip())
            self._finish(size, 0, 0, hashlib.sha256().hexdigest())

    def _lines(self, resume: bool) -> Iterator[Line]:
        stored = self.stored if resume else None
        hasher = hashlib.sha256()
        chunks = self._chunks()
        buffer = bytearray()
        consumed = lines = 0
        # True when the prefix consumed ends inside a line: an unterminated last line was taken.
        continuation = False
        if stored is not None and stored.bytes_loaded:
            remaining, last = stored.bytes_loaded, b""
            for chunk in chunks:
                taken = chunk[:remaining]
                hasher.update(taken)
                remaining -= len(taken)
                last = taken[-1:] or last
                if not remaining:
                    buffer += chunk[len(taken) :]
                    break
            if remaining or hasher.hexdigest() != stored.sha256:
                chunks.close()
                self._reload(f"the content before byte {stored.bytes_loaded} changed")
                yield from self._lines(resume=False)
                return
            consumed, lines, continuation = stored.bytes_loaded, stored.lines_loaded, last != b"\n"
        # A line over MAX_LINE_BYTES on its way through: its first bytes and its length so far.
        long_head: bytes | None = None
        long_size = 0
        # The empty first chunk makes the loop go through what the prefix check left in `buffer`.
        for chunk in chain((b"",), chunks):
            buffer += chunk
            start = 0
            while (end := buffer.find(b"\n", start)) >= 0:
                hasher.update(buffer[start : end + 1])
                consumed += end + 1 - start
                if long_head is not None:  # the newline that ends a long line
                    lines += 1
                    yield lines, long_head, _too_long(long_size + end - start)
                    long_head, start = None, end + 1
                    continue
                line = bytes(buffer[start:end])
                start = end + 1
                if continuation:
                    continuation = False
                    if line.strip():
                        chunks.close()
                        self._reload("a last line loaded without its newline grew")
                        yield from self._lines(resume=False)
                        return
                    continue  # the newline the line taken last time was waiting for
                lines += 1
                if len(line) > MAX_LINE_BYTES:
                    yield lines, line[:KEPT_BYTES], _too_long(len(line))
                elif line.strip():
                    yield lines, line, None
            del buffer[:start]
            if long_head is None and len(buffer) > MAX_LINE_BYTES:
                if continuation:
                    chunks.close()
                    self._reload("a last line loaded without its newline grew")
                    yield from self._lines(resume=False)
                    return
                long_head, long_size = bytes(buffer[:KEPT_BYTES]), 0
            if long_head is not None:  # consumed as it comes, never held whole
                hasher.update(buffer)
                consumed += len(buffer)
                long_size += len(buffer)
                buffer.clear()
        if long_head is not None:  # the content ends inside a long line: it can never load
            lines += 1
            yield lines, long_head, _too_long(long_size)
        size = consumed + len(buffer)
        tail = bytes(buffer)
        if tail.strip():
            if continuation:
                self._reload("a last line loaded without its newline grew")
                yield from self._lines(resume=False)
                return
            if self._stable(stored, size, tail) or _parses(tail):
                hasher.update(tail)
                consumed, lines = size, lines + 1
                yield lines, tail, self._cut(tail)
            else:
                self.held_back = True
        self._finish(size, consumed, lines, hasher.hexdigest())


class _Group:
    """The lines of a group of files on their way in; `commit` writes them in one transaction."""

    def __init__(self, con: duckdb.DuckDBPyConnection, clock: Callable[[], datetime]) -> None:
        self.con = con
        self.clock = clock
        self.started_at = clock()
        # The `captures`/`lines` batch: every line read, accepted or rejected.
        self.lines = LoadResult(table=MANIFEST, batch_id=uuid.uuid4().hex)
        self.rows: dict[RawTable, dict[str, list[Any]]] = {}
        self.staged = Counter[RawTable]()
        self.rejects: list[dict[str, Any]] = []
        self.files: list[CaptureFile] = []
        self.ordinal = 0
        for table, staging in STAGING.items():
            create_staging(con, staging, table)
            self._clear(table)

    def _clear(self, table: RawTable) -> None:
        self.rows[table] = {name: [] for name in STAGED_COLUMNS}

    def add_file(self, file: CaptureFile) -> None:
        for number, data, reason in file.lines():
            if reason is None:
                self._add_line(file.relative, number, data)
            else:
                self.lines.fetched += 1
                self._reject(f"{file.relative}:{number}", reason, data.decode("utf-8", "replace"))
        if file.damage and file.outcome in ("new", "reloaded"):
            self._reject(file.relative, file.damage, "")
        if file.changed:
            self.files.append(file)

    def _reject(self, location: str, reason: str, text: str) -> None:
        self.lines.rejected += 1
        self.lines.rejection_reasons[_reason_kind(reason)] += 1
        self.rejects.append({"location": location, "reason": reason, "raw_text": text})

    def _add_line(self, relative: str, number: int, data: bytes) -> None:
        self.lines.fetched += 1
        location = f"{relative}:{number}"
        try:
            text, payload, digest = _parse(data)
        except _Rejected as rejected:
            self._reject(location, rejected.reason, rejected.text)
            return
        try:
            table, key = _classify(payload, digest)
        except _Rejected as rejected:
            self._reject(location, rejected.reason, text)
            return
        self.lines.inserted += 1
        rows = self.rows[table]
        values = (key, text, digest, relative, number, self.ordinal)
        for name, value in zip(STAGED_COLUMNS, values, strict=True):
            rows[name].append(value)
        self.ordinal += 1
        if len(rows["_record_id"]) >= CHUNK_ROWS:
            self._flush(table)

    def _flush(self, table: RawTable) -> None:
        rows = self.rows[table]
        if not rows["_record_id"]:
            return
        self.staged[table] += len(rows["_record_id"])
        self.con.register("_cap_chunk", pa.table(rows))
        try:
            self.con.execute(f"insert into {STAGING[table]} by name select * from _cap_chunk")
        finally:
            self.con.unregister("_cap_chunk")
        self._clear(table)

    def commit(self) -> list[LoadResult]:
        """Write the group; return its batches (none when no file changed)."""
        con, results = self.con, []
        for table in STAGING:
            self._flush(table)
        try:
            if not self.files:
                return results
            now = self.clock()
            con.execute("begin transaction")
            try:
                for table, staging in STAGING.items():
                    if self.staged[table]:
                        results.append(merge_batch(con, table, staging, [], self.started_at, now))
                if self.staged[whatsapp_cloud.PAYLOADS]:
                    results += whatsapp_cloud.merge_elements(
                        con, STAGING[whatsapp_cloud.PAYLOADS], self.started_at, now
                    )
                insert_rejects(con, SOURCE, self.rejects, self.lines.batch_id, now)
                log_batch(con, self.lines, SOURCE, "lines", self.started_at, now)
                self._write_manifest(now)
                con.execute("commit")
            except Exception:
                con.execute("rollback")
                raise
        finally:
            for staging in STAGING.values():
                con.execute(f"drop table if exists {staging}")
        results.append(self.lines)
        log.info(
            "captures: committed %d files, %d lines read, %d rejected",
            len(self.files),
            self.lines.fetched,
            self.lines.rejected,
        )
        return results

    def _write_manifest(self, now: datetime) -> None:
        rows = pa.Table.from_pylist(
            [
                {
                    "path": file.relative,
                    "size": file.size,
                    "sha256": file.sha256,
                    "lines_loaded": file.lines_loaded,
                    "bytes_loaded": file.bytes_loaded,
                    "first_loaded_at": file.stored.first_loaded_at if file.stored else now,
                    "last_loaded_at": now,
                    "last_batch_id": self.lines.batch_id,
                }
                for file in self.files
            ]
        )
        self.con.register("_cap_manifest", rows)
        try:
            self.con.execute(
                f"insert or replace into {MANIFEST} by name select * from _cap_manifest"
            )
        finally:
            self.con.unregister("_cap_manifest")


def ensure_capture_tables(con: duckdb.DuckDBPyConnection) -> None:
    ensure_raw_schema(con)
    con.execute(f"""
        create table if not exists {MANIFEST} (
            path varchar primary key,
            size bigint not null,
            sha256 varchar not null,
            lines_loaded bigint not null,
            bytes_loaded bigint not null,
            first_loaded_at timestamp not null,
            last_loaded_at timestamp not null,
            last_batch_id varchar not null
        )""")
    whatsapp_cloud.ensure_tables(con)
    ensure_raw_table(con, RESPONDIO_EVENTS)


def capture_paths(root: Path) -> list[Path]:
    """The capture files under `root`, in sorted relative-path order."""
    found = []
    for directory, subdirectories, names in os.walk(root):
        subdirectories[:] = [name for name in subdirectories if not name.startswith(".")]
        found += [
            Path(directory, name)
            for name in names
            if not name.startswith(".") and name.removesuffix(".gz").endswith(SUFFIXES)
        ]
    return sorted(found, key=lambda path: path.relative_to(root).as_posix())


def _manifest(con: duckdb.DuckDBPyConnection) -> dict[str, ManifestEntry]:
    rows = con.execute(
        f"""select path, size, sha256, lines_loaded, bytes_loaded, first_loaded_at
        from {MANIFEST}"""
    ).fetchall()
    return {row[0]: ManifestEntry(*row[1:]) for row in rows}


def files_holding(con: duckdb.DuckDBPyConnection, since: int, until: int) -> set[str]:
    """The loaded capture files (paths under the capture directory) holding a WhatsApp Cloud
    payload with a message or status timed in `[since, until)` (epoch seconds), or a respond.io
    event of that time. Payloads are searched, not the rows unpacked from them, so a file is
    found even when those rows were lost."""
    ensure_capture_tables(con)
    rows = con.execute(
        f"""
        select _file from {whatsapp_cloud.PAYLOADS.qualified}
        where list_bool_or(
            list_transform(
                regexp_extract_all(record::varchar, '"timestamp":\\s*"?([0-9]+)', 1),
                lambda stamp: stamp::bigint between $since and $until - 1
            )
        )
        union
        select _file from {RESPONDIO_EVENTS.qualified}
        where try_cast(json_extract_string(record, '$.timestamp') as bigint)
            between $since and $until - 1""",
        {"since": since, "until": until},
    ).fetchall()
    return {row[0] for row in rows}


def load_captures(
    con: duckdb.DuckDBPyConnection,
    root: Path,
    *,
    commit_lines: int = COMMIT_LINES,
    reload: Collection[str] | None = None,
    clock: Callable[[], datetime] = utc_now,
) -> CaptureLoadReport:
    """Load the capture files under `root` that are new or grew since the last run; or, given
    `reload` (paths under `root`), read only those files again from the start. `clock` times
    each batch (its start, and the `_loaded_at` of its rows)."""
    if not root.is_dir():
        raise FileNotFoundError(f"capture directory {root} does not exist")
    ensure_capture_tables(con)
    stored = _manifest(con)
    report = CaptureLoadReport(root=str(root))
    group = _Group(con, clock)
    for path in capture_paths(root):
        relative = path.relative_to(root).as_posix()
        if reload is not None and relative not in reload:
            continue
        file = CaptureFile(root, path, stored.get(relative), reread=reload is not None)
        group.add_file(file)
        report.files_seen += 1
        setattr(report, f"files_{file.outcome}", getattr(report, f"files_{file.outcome}") + 1)
        report.lines_held_back += file.held_back
        if group.lines.fetched >= commit_lines:
            _add_batches(report, group.commit())
            group = _Group(con, clock)
    _add_batches(report, group.commit())
    log.info("captures under %s: %s", root, report.as_metadata())
    if report.rejected:
        log.warning(
            "captures under %s: %d rejected: %s",
            root,
            report.rejected,
            dict(report.rejection_reasons),
        )
    return report


def _add_batches(report: CaptureLoadReport, batches: list[LoadResult]) -> None:
    report.batches += batches
    for batch in batches:
        if batch.table == MANIFEST:
            report.lines_read += batch.fetched
            report.lines_rejected += batch.rejected
        # Several reasons may share a kind (`... without id: id is empty`, `...: id is null`).
        for reason, count in batch.rejection_reasons.items():
            report.rejection_reasons[_reason_kind(reason)] += count
