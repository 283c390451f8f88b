"""Capture files as webhook receivers leave them: one payload per line, in arrival order, one
file per arrival day (UTC), optionally gzipped. Shared by every capture format the simulator
writes (Meta's WhatsApp webhooks, respond.io's webhook events).

Payloads are generated one contact at a time, not in arrival order, so lines go first to a
temporary bucket per arrival day and `close()` sorts one day at a time, a busy day in bounded
runs merged from disk.
"""

import heapq
import shutil
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from gzip import GzipFile
from pathlib import Path
from typing import IO, BinaryIO

import orjson

from simulator.model import utc_day

# Day buckets kept open at once (per writer, two writers per run: well under the usual limit of
# 1024 open files); a long simulation touches thousands of days.
MAX_OPEN_BUCKETS = 200
# A day bucket bigger than this is sorted in runs of this size and merged: memory stays flat
# however busy a day is.
SORT_RUN_BYTES = 8 * 2**20


def dumps(payload: object) -> str:
    """Compact JSON, as a webhook body arrives: UTF-8 unescaped, no spaces (orjson writes the
    same bytes as `json.dumps(ensure_ascii=False, separators=(",", ":"))` about five times
    faster, and every record of a workspace goes through here)."""
    return orjson.dumps(payload).decode()


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
        day = utc_day(arrival // 86_400)
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
            with self._day_file(day) as out:
                for row in self._sorted_rows(bucket):
                    line, cut = row.split("\t", 1)[1].rsplit("\t", 1)
                    if cut != "0\n":
                        out.write(line[: int(cut)].encode() + b"\n")
                    out.write(line.encode() + b"\n")
            bucket.unlink()
        self._bucket_dir.rmdir()
        return len(self._days)

    def _sorted_rows(self, bucket: Path) -> Iterator[str]:
        """The bucket's rows in order, holding about `SORT_RUN_BYTES` of them at most: a bigger
        bucket is sorted in runs of that size, each to its own file, merged as they are read.

        The arrival prefix is fixed-width and compact JSON holds no raw tab, so the rows' string
        order is (arrival, line, cut) order. Rows split on "\n" only: a payload may hold U+2028
        or U+0085, which JSON leaves unescaped and `splitlines()` would cut at."""
        with bucket.open(encoding="utf-8", newline="\n") as rows:
            if bucket.stat().st_size <= SORT_RUN_BYTES:
                day = rows.readlines()
                day.sort()
                yield from day
                return
            runs: list[Path] = []
            while chunk := rows.readlines(SORT_RUN_BYTES):
                chunk.sort()
                runs.append(bucket.with_suffix(f".run{len(runs)}"))
                runs[-1].write_text("".join(chunk), encoding="utf-8")
                del chunk  # before the next run is read, not after
        handles = [run.open(encoding="utf-8", newline="\n") for run in runs]
        try:
            yield from heapq.merge(*handles)
        finally:
            for handle, run in zip(handles, runs, strict=True):
                handle.close()
                run.unlink()
