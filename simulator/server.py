"""Serve a simulated workspace on 127.0.0.1 as respond.io's Developer API v2 serves a real one.

Paths, field names, the `{items, pagination: {next, previous}}` envelope with full-URL links, bearer
auth, `{code, message}` errors and per-endpoint rate limits (429 with `Retry-After`,
`X-RateLimit-Limit`, `X-RateLimit-Remaining`) follow `shared/spec/RESPONDIO.md`.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

log = logging.getLogger("wabi.simulator")

API_PREFIX = "/v2"
DEFAULT_LIMIT, MAX_LIMIT = 10, 100
CONTACT_IDENTIFIER = re.compile(r"^id:(\d+)$")


class ApiError(Exception):
    def __init__(self, status: HTTPStatus, message: str) -> None:
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


def _page(
    items: list[dict[str, object]], key: str, query: dict[str, str], base_url: str, path: str
) -> dict[str, object]:
    """One page of `items` (sorted by `key`) after `cursorId`, with full-URL links."""
    try:
        limit = int(query.get("limit", DEFAULT_LIMIT))
        cursor = int(query["cursorId"]) if "cursorId" in query else None
    except ValueError as error:
        raise ApiError(HTTPStatus.BAD_REQUEST, "limit and cursorId must be numbers") from error
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(HTTPStatus.BAD_REQUEST, f"limit must be between 1 and {MAX_LIMIT}")
    start = 0
    if cursor is not None:
        start = next((i for i, item in enumerate(items) if int(item[key]) > cursor), len(items))
    page = items[start : start + limit]

    def link(cursor_id: object) -> str:
        return f"{base_url}{path}?{urlencode({'limit': limit, 'cursorId': cursor_id})}"

    has_next = start + limit < len(items)
    previous = ""
    if start > 0:
        previous = link(items[start - limit - 1][key]) if start - limit > 0 else link(0)
    return {
        "items": page,
        "pagination": {"next": link(page[-1][key]) if has_next else "", "previous": previous},
    }


class SimulatorServer:
    """A threaded HTTP server over one workspace; use as a context manager."""

    def __init__(
        self, workspace_dir: Path, token: str, port: int = 0, rate_limit_per_second: int = 50
    ) -> None:
        self.workspace = Workspace.load(workspace_dir)
        self.token = token
        self.rate_limiter = RateLimiter(rate_limit_per_second)
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
    def route(self, method: str, path: str) -> tuple[str, Callable[..., object]]:
        """(endpoint name for rate limiting, handler taking (query, body))."""
        ws = self.workspace
        if method == "GET" and path == "/space/user":
            return "space.user", lambda q, b: _page(ws.users, "id", q, self.base_url, path)
        if method == "GET" and path == "/space/channel":
            return "space.channel", lambda q, b: _page(ws.channels, "id", q, self.base_url, path)
        if method == "GET" and path == "/space/closing_notes":
            numbered = [{"_n": i} | note for i, note in enumerate(ws.closing_notes, start=1)]

            def closing_notes(q: dict[str, str], b: object) -> object:
                page = _page(numbered, "_n", q, self.base_url, path)
                page["items"] = [{k: v for k, v in n.items() if k != "_n"} for n in page["items"]]
                return page

            return "space.closing_notes", closing_notes
        if method == "POST" and path == "/contact/list":
            return "contact.list", lambda q, b: _page(ws.contacts, "id", q, self.base_url, path)
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
            if not any(c["id"] == contact_id for c in ws.contacts):
                raise ApiError(HTTPStatus.NOT_FOUND, "Contact not found")
            return "contact.message.list", lambda q, b: _page(
                ws.messages_of(contact_id), "messageId", q, self.base_url, path
            )
        raise ApiError(HTTPStatus.NOT_FOUND, f"No route for {method} {API_PREFIX}{path}")

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                log.debug("%s %s", self.address_string(), format % args)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def _send(self, status: int, payload: object, headers: dict[str, str]) -> None:
                body = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
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
                    endpoint, handler = server.route(method, url.path[len(API_PREFIX) :])
                    allowed, remaining, reset = server.rate_limiter.take(endpoint)
                    headers = {
                        "X-RateLimit-Limit": str(server.rate_limiter.per_second),
                        "X-RateLimit-Remaining": str(max(remaining, 0)),
                    }
                    if not allowed:
                        server.count("rate_limited")
                        headers["Retry-After"] = str(max(1, round(reset + 0.5)))
                        raise ApiError(HTTPStatus.TOO_MANY_REQUESTS, "Too many requests")
                    body = json.loads(raw_body) if raw_body else None
                    if method == "POST" and not isinstance(body, dict):
                        raise ApiError(HTTPStatus.BAD_REQUEST, "Body must be a JSON object")
                    query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                    self._send(HTTPStatus.OK, handler(query, body), headers)
                except json.JSONDecodeError:
                    self._send(400, {"code": 400, "message": "Body is not valid JSON"}, headers)
                except ApiError as error:
                    self._send(
                        error.status, {"code": int(error.status), "message": error.message}, headers
                    )

        return Handler
