"""Capture files as webhook receivers leave them: one payload per line, in arrival order, one
file per arrival day (UTC), optionally gzipped. Shared by every capture format the simulator
writes (Meta's WhatsApp webhooks, respond.io's webhook events).

Payloads are generated one contact at a time, not in arrival order, so lines go first to a
temporary bucket per arrival day and `close()` sorts one day at a time: memory holds one day.
"""

import json
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from gzip import GzipFile
from pathlib import Path
from typing import IO, BinaryIO

# Day buckets kept open at once; a long simulation touches thousands of days.
MAX_OPEN_BUCKETS = 64


# One encoder for every line: json.dumps with options would build a new one per call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))


def dumps(payload: object) -> str:
    """Compact JSON, as a webhook body arrives."""
    return _ENCODER.encode(payload)


class DayBucketWriter:
    """Writes `<out_dir>/<YYYY-MM-DD>.jsonl[.gz]`; the directory belongs to this writer."""

    def __init__(self, out_dir: Path, *, compress: bool = False) -> None:
        self.out_dir = out_dir
        self.compress = compress
        self._bucket_dir = out_dir / ".buckets"
        # A previous run's files would mix with this one's.
        shutil.rmtree(self._bucket_dir, ignore_errors=True)
        for stale in out_dir.glob("????-??-??.jsonl*"):
            stale.unlink()
        self._bucket_dir.mkdir(parents=True)
        self._days: set[str] = set()
        self._open: dict[str, IO[str]] = {}
        self._pending: dict[str, list[str]] = defaultdict(list)

    def add(self, arrival: int, line: str, cut: int = 0) -> None:
        """Queue `line` arriving at `arrival`; a `cut` > 0 also writes, just before it, its first
        `cut` characters: the truncated line a crashed receiver leaves."""
        day = datetime.fromtimestamp(arrival, UTC).date().isoformat()
        self._pending[day].append(f"{arrival:012d}\t{line}\t{cut}\n")

    def flush(self) -> None:
        """Append the queued lines to their day buckets (call once per contact)."""
        for day, rows in self._pending.items():
            self._bucket(day).write("".join(rows))
        self._pending.clear()

    def _bucket(self, day: str) -> IO[str]:
        handle = self._open.pop(day, None)
        if handle is None:
            if len(self._open) >= MAX_OPEN_BUCKETS:
                self._open.pop(next(iter(self._open))).close()
            handle = (self._bucket_dir / f"{day}.tsv").open("a", encoding="utf-8")
            self._days.add(day)
        self._open[day] = handle  # re-inserted last: the dict is the LRU order
        return handle

    @contextmanager
    def _day_file(self, day: str) -> Iterator[BinaryIO]:
        suffix = ".jsonl.gz" if self.compress else ".jsonl"
        with (self.out_dir / f"{day}{suffix}").open("wb") as raw:
            if not self.compress:
                yield raw
                return
            # mtime=0 and no file name in the header: the same lines give the same bytes. A
            # GzipFile does not close the file it was given; the outer `with` does.
            with GzipFile("", "wb", 6, raw, mtime=0) as compressed:
                yield compressed  # type: ignore[misc]

    def close(self) -> int:
        """Sort each day by arrival (then line text) and write its file; return the file count."""
        self.flush()
        for handle in self._open.values():
            handle.close()
        self._open.clear()
        for day in sorted(self._days):
            bucket = self._bucket_dir / f"{day}.tsv"
            # Not splitlines(): a payload may hold U+2028 or U+0085, which JSON leaves unescaped.
            rows = bucket.read_text(encoding="utf-8").removesuffix("\n").split("\n")
            # The arrival prefix is fixed-width and compact JSON holds no raw tab, so the rows'
            # string order is (arrival, line, cut) order; rows are sorted in place and streamed
            # out, so a day is held about once in memory.
            rows.sort()
            with self._day_file(day) as out:
                for row in rows:
                    line, cut = row.split("\t", 1)[1].rsplit("\t", 1)
                    if cut != "0":
                        out.write(line[: int(cut)].encode() + b"\n")
                    out.write(line.encode() + b"\n")
            bucket.unlink()
        self._bucket_dir.rmdir()
        return len(self._days)
