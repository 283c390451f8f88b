"""One refresh at a time per data directory: `<data_dir>/refresh.lock`, held with `flock`.

`wabi refresh`, `wabi demo` and every Dagster run (through the warehouse resource) take it, so a
second writer stops at once with a clear message instead of a DuckDB lock error halfway through.
The kernel releases a `flock` when its holder dies, so a killed refresh never blocks the next.
Within one process the lock is re-entrant: `wabi refresh` holds it, and the run it executes in
that process takes it again through the resource.
"""

from __future__ import annotations

import fcntl
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

LOCK_FILE = "refresh.lock"


class RefreshLocked(RuntimeError):
    """Another process is refreshing this data directory."""


@dataclass
class _Held:
    descriptor: int
    depth: int


_held: dict[Path, _Held] = {}
_guard = threading.Lock()


def lock_path(data_dir: Path | str) -> Path:
    return Path(data_dir).resolve() / LOCK_FILE


def acquire(data_dir: Path | str) -> Path:
    """Take the refresh lock of `data_dir` (or take it once more, in the process holding it);
    raise `RefreshLocked` naming the holder's pid when another process holds it."""
    path = lock_path(data_dir)
    with _guard:
        held = _held.get(path)
        if held:
            held.depth += 1
            return path
        path.parent.mkdir(parents=True, exist_ok=True)
        # Not O_TRUNC: the holder's pid stays readable until this process owns the lock.
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(descriptor, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(descriptor)
            raise RefreshLocked(f"another refresh (pid {holder}) holds {path}") from None
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        _held[path] = _Held(descriptor, 1)
        return path


def release(data_dir: Path | str) -> None:
    """Give back one `acquire`; the last one unlocks (the file stays, emptied)."""
    path = lock_path(data_dir)
    with _guard:
        held = _held[path]
        held.depth -= 1
        if held.depth == 0:
            del _held[path]
            os.ftruncate(held.descriptor, 0)
            os.close(held.descriptor)  # closing the last descriptor drops the flock


@contextmanager
def refresh_lock(data_dir: Path | str) -> Iterator[Path]:
    """Hold the refresh lock of `data_dir` for the duration."""
    path = acquire(data_dir)
    try:
        yield path
    finally:
        release(data_dir)
