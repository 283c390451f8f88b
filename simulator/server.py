"""Serve a simulated workspace on 127.0.0.1 as respond.io's Developer API v2 serves a real one.

Paths, field names, the `{items, pagination: {next, previous}}` envelope with full-URL links, bearer
auth, `{code, message}` errors and per-endpoint rate limits (429 with `Retry-After`,
`X-RateLimit-Limit`, `X-RateLimit-Remaining`) follow `shared/spec/RESPONDIO.md`. On demand it also
misbehaves as real APIs do (`simulator.faults`): 429 bursts, 5xx, 449, slow answers, dropped
connections and pages that repeat records.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

from simulator.faults import FAULT_KINDS, NO_FAULT, Fault, FaultInjector, FaultProfile

log = logging.getLogger("wabi.simulator")

API_PREFIX = "/v2"
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
CONTACT_IDENTIFIER = re.compile(r"^id:(\d+)$")
RETRY_WITH = 449  # respond.io's "Retry With" (RESPONDIO.md 1.6); not in http.HTTPStatus
FAULT_ANSWERS: dict[str, tuple[int, str]] = {
    "burst_429": (HTTPStatus.TOO_MANY_REQUESTS, "Too many requests"),
    "rate_limited": (HTTPStatus.TOO_MANY_REQUESTS, "Too many requests"),
    "status_500": (HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error"),
    "status_503": (HTTPStatus.SERVICE_UNAVAILABLE, "Service unavailable"),
    "status_449": (RETRY_WITH, "Retry with: the request was queued, send it again"),
}


class ApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Workspace:
    """The records a workspace directory holds, indexed the way the API looks them up."""

    directory: Path
    users: list[dict[str, object]]
    channels: list[dict[str, object]]
    closing_notes: list[dict[str, object]]
    contacts: list[dict[str, object]]
    # contact id -> byte ranges of its lines in api/messages.jsonl (read on demand, not held)
    message_spans: dict[int, list[tuple[int, int]]] = field(default_factory=dict)

    @cached_property
    def contact_ids(self) -> frozenset[int]:
        return frozenset(int(contact["id"]) for contact in self.contacts)

    @classmethod
    def load(cls, directory: Path) -> Workspace:
        api = directory / "api"
        contacts = [json.loads(line) for line in (api / "contacts.jsonl").open(encoding="utf-8")]
        spans: dict[int, list[tuple[int, int]]] = {}
        with (api / "messages.jsonl").open("rb") as handle:
            offset = 0
            for line in handle:
                contact_id = json.loads(line)["contactId"]
                spans.setdefault(contact_id, []).append((offset, len(line)))
                offset += len(line)
        return cls(
            directory=directory,
            users=json.loads((api / "users.json").read_text()),
            channels=json.loads((api / "channels.json").read_text()),
            closing_notes=json.loads((api / "closing_notes.json").read_text()),
            contacts=sorted(contacts, key=lambda c: c["id"]),
            message_spans=spans,
        )

    def messages_of(self, contact_id: int) -> list[dict[str, object]]:
        spans = self.message_spans.get(contact_id, [])
        with (self.directory / "api" / "messages.jsonl").open("rb") as handle:
            records = []
            for offset, length in spans:
                handle.seek(offset)
                records.append(json.loads(handle.read(length)))
        return sorted(records, key=lambda m: m["messageId"])


class RateLimiter:
    """Fixed one-second windows per endpoint, as respond.io limits per API method."""

    def __init__(self, per_second: int) -> None:
        self.per_second = per_second
        self._lock = threading.Lock()
        self._windows: dict[str, tuple[int, int]] = {}

    def take(self, endpoint: str) -> tuple[bool, int, float]:
        """(allowed, remaining, seconds until the window resets)."""
        now = time.monotonic()
        window = int(now)
        with self._lock:
            start, used = self._windows.get(endpoint, (window, 0))
            if start != window:
                start, used = window, 0
            allowed = used < self.per_second
            used += allowed
            self._windows[endpoint] = (start, used)
        return allowed, self.per_second - used, (window + 1) - now


@dataclass(frozen=True)
class Listing:
    """A list endpoint: its name for rate limiting, its records in cursor order, their cursor."""

    endpoint: str
    records: Callable[[], list[dict[str, object]]]
    key: str | None  # None: the cursor is the record's 1-based position (closing notes have no id)


def _page(
    items: list[dict[str, object]],
    key: str | None,
    query: dict[str, str],
    base_url: str,
    path: str,
    repeat: int = 0,
) -> tuple[dict[str, object], int]:
    """One page of `items` after `cursorId`, with full-URL links, and how many records of the
    page before it it repeats: `repeat` asks for that many at its head, as an API does when data
    shifts under its cursor (`next` still moves forward, so a client cannot loop)."""
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        cursor = int(query["cursorId"]) if "cursorId" in query else None
    except ValueError as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "limit and cursorId must be numbers") from error
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be between 1 and {MAX_LIMIT}")

    def cursor_of(index: int) -> int:
        return int(items[index][key]) if key else index + 1

    start = 0
    if cursor is not None:
        # items are in cursor order: the page starts after the last cursor <= cursorId
        start = bisect_right(range(len(items)), cursor, key=cursor_of)
    repeated = min(repeat, start, limit - 1) if start < len(items) else 0
    first = start - repeated
    page = items[first : first + limit]

    def link(cursor_id: object) -> str:
        return f"{base_url}{path}?{urlencode({'limit': limit, 'cursorId': cursor_id})}"

    has_next = first + limit < len(items)
    previous = ""
    if start > 0:
        previous = link(cursor_of(start - limit - 1)) if start - limit > 0 else link(0)
    next_link = link(cursor_of(first + len(page) - 1)) if has_next else ""
    return {"items": page, "pagination": {"next": next_link, "previous": previous}}, repeated


class SimulatorServer:
    """A threaded HTTP server over one workspace; use as a context manager."""

    def __init__(
        self,
        workspace_dir: Path,
        token: str,
        port: int = 0,
        rate_limit_per_second: int = 50,
        faults: FaultProfile | None = None,
        fault_seed: int = 0,
    ) -> None:
        self.workspace = Workspace.load(workspace_dir)
        self.token = token
        self.rate_limiter = RateLimiter(rate_limit_per_second)
        self.faults = (
            FaultInjector(faults, fault_seed) if faults is not None and faults.enabled else None
        )
        self.stats: dict[str, int] = {"requests": 0, "rate_limited": 0, "unauthorized": 0}
        self._stats_lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self._handler_class())
        self.httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}{API_PREFIX}"

    def count(self, stat: str) -> None:
        with self._stats_lock:
            self.stats[stat] = self.stats.get(stat, 0) + 1

    def count_fault(self, kind: str, method: str, path: str) -> None:
        self.count(f"fault.{kind}")
        # Each 429 of a burst would drown the log; the burst's start is logged instead.
        level = logging.DEBUG if kind == "rate_limited" else logging.INFO
        log.log(level, "fault %s: %s %s", kind, method, path)

    def fault_summary(self) -> dict[str, int]:
        """How many times each fault fired, every kind listed."""
        with self._stats_lock:
            return {kind: self.stats.get(f"fault.{kind}", 0) for kind in FAULT_KINDS}

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, daemon=True, name="wabi-simulator"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- routing ----------------------------------------------------------------------------
    def route(self, method: str, path: str) -> Listing:
        ws = self.workspace
        if method == "GET" and path == "/space/user":
            return Listing("space.user", lambda: ws.users, "id")
        if method == "GET" and path == "/space/channel":
            return Listing("space.channel", lambda: ws.channels, "id")
        if method == "GET" and path == "/space/closing_notes":
            return Listing("space.closing_notes", lambda: ws.closing_notes, None)
        if method == "POST" and path == "/contact/list":
            return Listing("contact.list", lambda: ws.contacts, "id")
        parts = path.strip("/").split("/")
        if (
            method == "GET"
            and len(parts) == 4
            and parts[0] == "contact"
            and parts[2:] == ["message", "list"]
        ):
            match = CONTACT_IDENTIFIER.match(parts[1])
            if not match:
                raise ApiError(HTTPStatus.BAD_REQUEST, "identifier must be id:<number>")
            contact_id = int(match.group(1))
            if contact_id not in ws.contact_ids:
                raise ApiError(HTTPStatus.NOT_FOUND, "Contact not found")
            return Listing("contact.message.list", lambda: ws.messages_of(contact_id), "messageId")
        raise ApiError(HTTPStatus.NOT_FOUND, f"No route for {method} {API_PREFIX}{path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes; with Nagle on, the body waits for the
            # client's delayed ACK (~40 ms a response on loopback).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _send(
                self, status: int, payload: object, headers: dict[str, str], fault: Fault = NO_FAULT
            ) -> None:
                body = json.dumps(payload).encode()
                cut = fault.kind == "dropped_mid_body"
                self.send_response(status, "Retry With" if status == RETRY_WITH else None)
                self.send_header("Content-Type", "application/json")
                if cut and not fault.declare_length:
                    self.send_header("Connection", "close")  # the body then ends where it stops
                else:
                    self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                if cut:
                    self.wfile.write(body[: len(body) // 2])
                    self.close_connection = True
                else:
                    self.wfile.write(body)

            def _serve(self, method: str) -> None:
                server.count("requests")
                length = int(self.headers.get("Content-Length") or 0)
                raw_body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                headers: dict[str, str] = {}
                try:
                    if not url.path.startswith(API_PREFIX + "/"):
                        raise ApiError(HTTPStatus.NOT_FOUND, "Unknown API version")
                    expected = f"Bearer {server.token}".encode()
                    given = (self.headers.get("Authorization") or "").encode()
                    if not hmac.compare_digest(given, expected):
                        server.count("unauthorized")
                        raise ApiError(HTTPStatus.UNAUTHORIZED, "Unauthorized")
                    path = url.path[len(API_PREFIX) :]
                    listing = server.route(method, path)
                    allowed, remaining, reset = server.rate_limiter.take(listing.endpoint)
                    headers = {
                        "X-RateLimit-Limit": str(server.rate_limiter.per_second),
                        "X-RateLimit-Remaining": str(max(remaining, 0)),
                    }
                    if not allowed:
                        server.count("rate_limited")
                        headers["Retry-After"] = str(max(1, round(reset + 0.5)))
                        raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, "Too many requests")
                    fault = server.faults.draw(listing.endpoint) if server.faults else NO_FAULT
                    if fault.kind in FAULT_ANSWERS:
                        server.count_fault(fault.kind, method, url.path)
                        if fault.retry_after:
                            headers["Retry-After"] = str(fault.retry_after)
                        if fault.kind in ("burst_429", "rate_limited"):
                            headers["X-RateLimit-Remaining"] = "0"
                        raise ApiError(*FAULT_ANSWERS[fault.kind])
                    if fault.kind == "dropped":
                        server.count_fault(fault.kind, method, url.path)
                        self.close_connection = True  # hang up without a word
                        return
                    if fault.kind == "slow":
                        server.count_fault(fault.kind, method, url.path)
                        time.sleep(fault.delay)
                    body = json.loads(raw_body) if raw_body else None
                    if method == "POST" and not isinstance(body, dict):
                        raise ApiError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
                    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    page, repeated = _page(
                        listing.records(), listing.key, query, server.base_url, path, fault.repeat
                    )
                    if repeated:
                        server.count_fault("repeated_page", method, url.path)
                    if fault.kind == "dropped_mid_body":
                        server.count_fault(fault.kind, method, url.path)
                    self._send(HTTPStatus.OK, page, headers, fault)
                except json.JSONDecodeError:
                    self._send(400, {"code": 400, "message": "Body is not valid JSON"}, headers)
                except ApiError as error:
                    self._send(
                        error.status, {"code": int(error.status), "message": error.message}, headers
                    )

        return Handler
