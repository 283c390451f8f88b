"""Load webhook capture files into the raw layer, every line once (SOURCES.md §1 and §2).

Files. `load_captures(con, root)` walks `root` recursively for `*.json` (one payload, possibly
pretty-printed), `*.jsonl` and `*.ndjson` (one payload a line), each optionally gzipped, and reads
them in sorted relative-path order. Hidden files and directories (a leading `.`, where receivers
keep their temporary files) are skipped. A `.gz` file is read as the concatenation of its members,
so a receiver appending a gzip member per flush looks like a plain file that grew; everything
below is about the decompressed content.

Only regular files are read. Anything else named like a capture file (a FIFO, a socket, a
device), every symbolic link (to a file or a directory, inside the root or not, dangling or a
loop), a file that cannot be opened or read and a directory that cannot be listed are skipped
with a warning naming the path and the reason, counted in the report (`files.unsafe_skipped`, by
reason), and nothing of them is stored, not even as a reject; the other files load. Links are
never followed, even to a file inside the root: that file is read under its own path anyway, and
refusing every link lets each directory and the file be opened without following one
(`O_NOFOLLOW`, relative to the directory opened before), so the file checked is the file read,
whatever changes meanwhile. The opened file is checked to be a regular file before any read, and
is opened with `O_NONBLOCK`, so a FIFO put in its place cannot block. An I/O error part way
through a file leaves out the lines already read from it.

Gzip bounds. At most `READ_BYTES` are decompressed at a time, so memory stays within the line
limit below whatever a file expands to. Past its first `GZIP_FREE_BYTES` (64 MiB) of content, a
file may expand at most `MAX_GZIP_RATIO` (250) times its compressed size: real captures compress
10 to 80 times, zeros about 1000. Past that the rest of the file is not read and the file gets one
reject saying so, like damaged gzip data: a gzip bomb costs at most 250 times its size in CPU.

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

import errno
import hashlib
import json
import logging
import os
import stat
import uuid
import zlib
from collections import Counter
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from pathlib import Path
from typing import Any, BinaryIO

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
# A `.gz` file's content may be at most this many times its compressed size once past
# GZIP_FREE_BYTES: real captures compress 10 to 80 times, deflate at most 1032 (all zeros).
MAX_GZIP_RATIO = 250
GZIP_FREE_BYTES = 64 << 20
# Each directory on the way to a capture file and the file itself are opened relative to the one
# before, refusing symbolic links, so what is checked is what is read. The root may be a link the
# operator chose. O_NONBLOCK: opening a FIFO or a device swapped in after the walk cannot block
# (regular files ignore it); the descriptor is then checked to be a regular file.
ROOT_FLAGS = os.O_RDONLY | os.O_DIRECTORY
DIRECTORY_FLAGS = ROOT_FLAGS | os.O_NOFOLLOW
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY
# Why an entry named like a capture file is not read (none of its content is stored anywhere).
NOT_REGULAR = {
    stat.S_IFIFO: "a FIFO",
    stat.S_IFSOCK: "a socket",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFDIR: "a directory",
}
LINK_OUTSIDE = "a symbolic link leading outside the capture directory"
LINK_INSIDE = "a symbolic link within the capture directory (its target is read under its own path)"
LINK_DANGLING = "a dangling symbolic link"
LINK_LOOP = "a symbolic link loop"
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
    # Entries not read at all (links, FIFOs, unreadable files, ...), by kind of reason.
    files_unsafe_skipped: Counter[str] = field(default_factory=Counter)
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
                quarantined=batch.quarantined,
            )
        return {table: dict(counts) for table, counts in sorted(totals.items())}

    @property
    def rejected(self) -> int:
        return sum(self.rejection_reasons.values())

    @property
    def quarantine_rules(self) -> Counter[str]:
        """Records quarantined by the run's batches (`raw.quarantined_records`), by rule."""
        return sum((batch.quarantine_rules for batch in self.batches), Counter())

    def as_metadata(self) -> dict[str, Any]:
        return {
            "root": self.root,
            "files": {
                "seen": self.files_seen,
                "new": self.files_new,
                "appended": self.files_appended,
                "reloaded": self.files_reloaded,
                "skipped": self.files_skipped,
                "unsafe_skipped": sum(self.files_unsafe_skipped.values()),
                "unsafe_skipped_reasons": dict(self.files_unsafe_skipped),
            },
            "lines_read": self.lines_read,
            "lines_rejected": self.lines_rejected,
            "lines_held_back": self.lines_held_back,
            "rejection_reasons": dict(self.rejection_reasons),
            "quarantined": self.quarantine_rules.total(),
            "quarantine_rules": dict(self.quarantine_rules),
            "tables": self.tables,
            "batch_ids": [batch.batch_id for batch in self.batches],
        }


class _Rejected(Exception):
    def __init__(self, reason: str, text: str) -> None:
        super().__init__(reason)
        self.reason, self.text = reason, text


class Unreadable(Exception):
    """A capture file that is not read: not a regular file, or it cannot be opened or read."""


def _open_beneath(root: Path, relative: str) -> BinaryIO:
    """The regular file at `relative` under `root`, opened for reading without following a
    symbolic link on the way; `Unreadable` when it is anything else or cannot be opened."""
    *directories, name = relative.split("/")
    try:
        directory = os.open(root, ROOT_FLAGS)
        try:
            for part in directories:
                parent, directory = directory, -1
                try:
                    directory = os.open(part, DIRECTORY_FLAGS, dir_fd=parent)
                finally:
                    os.close(parent)
            descriptor = os.open(name, FILE_FLAGS, dir_fd=directory)
        finally:
            if directory >= 0:
                os.close(directory)
    except OSError as exc:
        raise Unreadable(f"cannot be opened: {exc.strerror}") from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        raise Unreadable(NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file"))
    return open(descriptor, "rb")


def _blocks(raw: BinaryIO) -> Iterator[bytes]:
    while True:
        try:
            block = raw.read(READ_BYTES)
        except OSError as exc:
            raise Unreadable(f"cannot be read: {exc.strerror}") from None
        if not block:
            return
        yield block


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
        self, root: Path, relative: str, stored: ManifestEntry | None, *, reread: bool = False
    ) -> None:
        self.root = root
        self.relative = relative  # its path under `root`, `/`-separated
        path = Path(relative)
        self.stored = stored
        # Read from the start whatever the manifest says (a reload of some days).
        self.reread = reread
        self.is_gzip = path.suffix == ".gz"
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
        far as it goes, and damaged or over-expanding data ends the content (recorded in
        `damage`). Never more than READ_BYTES decompressed at once. `Unreadable` when the file
        cannot be opened or read."""
        self.damage, self.cut_short = None, False
        with _open_beneath(self.root, self.relative) as raw:
            if not self.is_gzip:
                yield from _blocks(raw)
                return
            inflate = zlib.decompressobj(wbits=31)
            started = False  # whether the current member has received any bytes
            compressed = expanded = 0
            for block in _blocks(raw):
                compressed += len(block)
                pending = True
                while pending:
                    started = started or bool(block)
                    try:
                        chunk = inflate.decompress(block, READ_BYTES)
                    except zlib.error as exc:
                        self.damage = f"unreadable gzip data: {exc}"
                        return
                    expanded += len(chunk)
                    if expanded > max(GZIP_FREE_BYTES, MAX_GZIP_RATIO * compressed):
                        self.damage = (
                            f"gzip data expanding over {MAX_GZIP_RATIO} times: the rest of the "
                            f"file after {expanded - len(chunk)} bytes of content is not read"
                        )
                        return
                    yield chunk
                    if inflate.eof:  # the next member starts right after this one
                        block = inflate.unused_data
                        inflate, started = zlib.decompressobj(wbits=31), False
                        pending = bool(block)
                    else:
                        # A full chunk may leave output inside zlib with no input left.
                        block = inflate.unconsumed_tail
                        pending = bool(block) or len(chunk) == READ_BYTES
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

    def add_file(self, file: CaptureFile) -> str | None:
        """Add the file's unread lines; when it cannot be opened or read, leave out every line
        of it and return why."""
        counts = (self.lines.fetched, self.lines.inserted, self.lines.rejected, len(self.rejects))
        reasons = Counter(self.lines.rejection_reasons)
        try:
            for number, data, reason in file.lines():
                if reason is None:
                    self._add_line(file.relative, number, data)
                else:
                    self.lines.fetched += 1
                    text = data.decode("utf-8", "replace")
                    self._reject(f"{file.relative}:{number}", reason, text)
        except Unreadable as unreadable:
            self.lines.fetched, self.lines.inserted, self.lines.rejected, rejects = counts
            self.lines.rejection_reasons = reasons
            del self.rejects[rejects:]
            self._drop_file(file.relative)
            return str(unreadable)
        if file.damage and file.outcome in ("new", "reloaded"):
            self._reject(file.relative, file.damage, "")
        if file.changed:
            self.files.append(file)

    def _drop_file(self, relative: str) -> None:
        """Take the lines of one file out of the staging tables (an I/O error part way)."""
        for table, staging in STAGING.items():
            self._flush(table)
            self.con.execute(f"delete from {staging} where _file = ?", [relative])
            self.staged[table] = self.con.execute(f"select count(*) from {staging}").fetchone()[0]

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


def _link_reason(real_root: str, path: str) -> str:
    """Why a symbolic link under the capture directory is not followed."""
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return LINK_LOOP
        if exc.errno in (errno.ENOENT, errno.ENOTDIR):
            return LINK_DANGLING
        return f"a symbolic link that cannot be followed: {exc.strerror}"
    target = os.path.realpath(path)
    return LINK_INSIDE if os.path.commonpath((real_root, target)) == real_root else LINK_OUTSIDE


def walk_captures(root: Path) -> tuple[list[str], list[tuple[str, str]]]:
    """The regular capture files under `root` (paths relative to it, sorted), and the entries
    not read with the reason: anything else named like a capture file (FIFO, socket, device,
    symbolic link), a symbolic link to a directory, a directory that cannot be listed. Hidden
    entries (a leading `.`) are left out silently; no link is followed."""
    real_root = os.path.realpath(root)
    files, skipped = [], []
    pending = [""]
    while pending:
        directory = pending.pop()
        try:
            with os.scandir(root / directory) as listing:
                entries = list(listing)
        except OSError as exc:
            if not directory:
                raise
            skipped.append((directory, f"cannot be listed: {exc.strerror}"))
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            relative = f"{directory}/{entry.name}" if directory else entry.name
            capture = entry.name.removesuffix(".gz").endswith(SUFFIXES)
            try:
                mode = entry.stat(follow_symlinks=False).st_mode
            except FileNotFoundError:
                continue  # removed since the listing
            if stat.S_ISLNK(mode):
                if capture or os.path.isdir(entry.path):
                    skipped.append((relative, _link_reason(real_root, entry.path)))
            elif stat.S_ISDIR(mode):
                pending.append(relative)
            elif capture and stat.S_ISREG(mode):
                files.append(relative)
            elif capture:
                skipped.append((relative, NOT_REGULAR.get(stat.S_IFMT(mode), "not a regular file")))
    return sorted(files), sorted(skipped)


def capture_paths(root: Path) -> list[Path]:
    """The regular capture files under `root`, in sorted relative-path order."""
    return [root / relative for relative in walk_captures(root)[0]]


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
    files, skipped = walk_captures(root)
    for relative, reason in skipped:
        if reload is None or relative in reload:
            _not_read(report, relative, reason)
    for relative in files:
        if reload is not None and relative not in reload:
            continue
        file = CaptureFile(root, relative, stored.get(relative), reread=reload is not None)
        unreadable = group.add_file(file)
        if unreadable:
            _not_read(report, relative, unreadable)
            continue
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


def _not_read(report: CaptureLoadReport, relative: str, reason: str) -> None:
    log.warning("captures: %s is not read: %s", relative, reason)
    report.files_unsafe_skipped[_reason_kind(reason)] += 1


def _add_batches(report: CaptureLoadReport, batches: list[LoadResult]) -> None:
    report.batches += batches
    for batch in batches:
        if batch.table == MANIFEST:
            report.lines_read += batch.fetched
            report.lines_rejected += batch.rejected
        # Several reasons may share a kind (`... without id: id is empty`, `...: id is null`).
        for reason, count in batch.rejection_reasons.items():
            report.rejection_reasons[_reason_kind(reason)] += count
