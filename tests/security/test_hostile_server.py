"""The respond.io client against hostile servers, real ones on loopback: the token never leaves
the configured origin, and no answer hangs or loops a run.

Each case scripts the configured server (`hostile`) and runs a second server on another port
(`other`, another origin) that answers like the API and records every request it gets. Every walk
must stop within a generous bound, with an error that says what happened and never shows the
token; the other origin must see no request at all.
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import dagster as dg
import pytest

from extract.http import BearerSession, RetryPolicy, SourceRequestError
from extract.respondio import ALL_CONTACTS_QUERY, RespondioClient
from orchestration.defs.raw.respondio import respondio__contacts
from orchestration.defs.resources import RespondioApiResource, WarehouseResource

TOKEN = "hostile-token-0c7f3a9d51"
FAST_RETRY = RetryPolicy(attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
# What every walk here must end within: far above what each case needs (a few seconds at most)
# so that a busy shared machine does not fail it, and far below a hang.
BOUND_SECONDS = 30.0
# The slow answers' pace, and the deadline the client is given against them.
TRICKLE_SECONDS = 0.5
DEADLINE_SECONDS = 3.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes

    @property
    def cursor(self) -> int:
        return int(self.query.get("cursorId", ["0"])[0])


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _serve(self) -> None:
        url = urlsplit(self.path)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        seen = Seen(self.command, url.path, parse_qs(url.query), dict(self.headers), body)
        self.server.seen.append(seen)
        try:
            self.server.respond(self, seen)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True  # the client hung up, as it should on a slow answer

    do_GET = do_POST = _serve

    def send(self, status: int, body: bytes, content_type: str, **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def send_json(self, payload: object) -> None:
        self.send(200, json.dumps(payload).encode(), "application/json")


Respond = Callable[[_Handler, Seen], None]


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, respond: Respond) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.respond = respond
        self.seen: list[Seen] = []

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v2"


def _page(ids: list[int], next_url: str) -> dict[str, object]:
    return {"items": [{"id": n} for n in ids], "pagination": {"next": next_url, "previous": ""}}


def _unscripted(handler: _Handler, seen: Seen) -> None:
    handler.send(500, b"no script", "text/plain")


@contextmanager
def _serving(respond: Respond) -> Iterator[_Server]:
    server = _Server(respond)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@pytest.fixture
def hostile() -> Iterator[_Server]:
    """The configured origin; each test sets its `respond`."""
    with _serving(_unscripted) as server:
        yield server


@pytest.fixture
def other() -> Iterator[_Server]:
    """Another origin: answers a last page, as the API would, and records every request."""
    with _serving(lambda handler, seen: handler.send_json(_page([999], ""))) as server:
        yield server


@pytest.fixture(autouse=True)
def _token_never_logged(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert TOKEN not in caplog.text


def _client(server: _Server, **session: object) -> RespondioClient:
    return RespondioClient(BearerSession(server.base_url, TOKEN, retry=FAST_RETRY, **session))


def _failed_walk(client: RespondioClient, walk: str = "contacts") -> str:
    """Walk a list to its failure; the error's message, checked to come in time and clean."""
    started = time.monotonic()
    with pytest.raises(SourceRequestError) as error:
        list(getattr(client, walk)())
    assert time.monotonic() - started < BOUND_SECONDS
    message = str(error.value)
    assert TOKEN not in message
    return message


# -- (a) the token goes only to the configured origin -------------------------------------------
@pytest.mark.parametrize("elsewhere", ["another port", "https on the same port"])
def test_a_next_link_to_another_origin_stops_the_walk_before_any_request_goes_there(
    hostile, other, elsewhere
):
    https = hostile.origin.replace("http", "https")
    target = other.origin if elsewhere == "another port" else https
    hostile.respond = lambda handler, seen: handler.send_json(
        _page([1, 2], f"{target}/v2/contact/list?limit=100&cursorId=2")
    )

    message = _failed_walk(_client(hostile))

    assert message.startswith(
        f"pagination of /contact/list: the next link points to {target}, another origin than "
        f"{hostile.origin}: refused"
    )
    assert "cursorId" not in message
    assert len(hostile.seen) == 1
    assert other.seen == []


def test_a_url_of_another_origin_is_refused_even_when_asked_for_directly(hostile, other):
    session = BearerSession(hostile.base_url, TOKEN, retry=FAST_RETRY)
    with pytest.raises(SourceRequestError, match="another origin") as error:
        session.request_json("GET", f"{other.base_url}/space/user?secret=1")
    assert f"points to {other.origin}," in str(error.value)
    assert "secret" not in str(error.value)
    assert other.seen == []


def test_the_default_port_is_the_same_origin():
    session = BearerSession("https://api.respond.io/v2", TOKEN)
    session.require_same_origin("https://API.respond.io:443/v2/contact/list?cursorId=1", "next")
    with pytest.raises(SourceRequestError, match=r"points to https://api\.respond\.io:8443,"):
        session.require_same_origin("https://api.respond.io:8443/v2/contact/list", "next")
    with pytest.raises(SourceRequestError, match="points to a URL that is not http"):
        session.require_same_origin("ftp://api.respond.io/v2/contact/list", "next")


# -- (b) redirects -------------------------------------------------------------------------------
@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_another_origin_is_refused_before_any_request_goes_there(
    hostile, other, status
):
    hostile.respond = lambda handler, seen: handler.send(
        status, b"", "text/plain", Location=f"{other.base_url}/contact/list?cursorId=7"
    )

    message = _failed_walk(_client(hostile))

    assert message.startswith(
        f"POST {hostile.base_url}/contact/list: the redirect points to {other.origin}, "
        f"another origin than {hostile.origin}: refused"
    )
    assert "cursorId" not in message
    assert len(hostile.seen) == 1  # refused at once, not retried
    assert other.seen == []


@pytest.mark.parametrize(("walk", "status"), [("users", 302), ("contacts", 307)])
def test_same_origin_redirects_and_absolute_next_links_are_followed_with_the_token(
    hostile, other, walk, status
):
    """Every list request is moved to /v2/moved/..., by an absolute Location on the first page
    and a relative one on the second; the first page's `next` is an absolute same-origin URL."""

    def respond(handler: _Handler, seen: Seen) -> None:
        if not seen.path.startswith("/v2/moved/"):
            moved = f"/v2/moved/{seen.path.removeprefix('/v2/')}?{urlsplit(handler.path).query}"
            location = moved if seen.cursor else f"{hostile.origin}{moved}"
            handler.send(status, b"", "text/plain", Location=location)
        elif seen.cursor == 0:
            path = seen.path.removeprefix("/v2/moved")
            handler.send_json(_page([1, 2], f"{hostile.base_url}{path}?limit=100&cursorId=2"))
        else:
            handler.send_json(_page([3], ""))

    hostile.respond = respond

    pages = list(getattr(_client(hostile), walk)())

    assert [item["id"] for page in pages for item in page.items] == [1, 2, 3]
    assert len(hostile.seen) == 4
    assert all(seen.headers["Authorization"] == f"Bearer {TOKEN}" for seen in hostile.seen)
    moved = [seen for seen in hostile.seen if seen.path.startswith("/v2/moved/")]
    if status == 307:  # the request is repeated as it was, body and all
        assert [json.loads(seen.body) for seen in moved] == [ALL_CONTACTS_QUERY] * 2
    else:
        assert [seen.method for seen in moved] == ["GET", "GET"]
    assert other.seen == []


def test_a_redirect_that_never_lands_stops_after_the_bound(hostile):
    hostile.respond = lambda handler, seen: handler.send(
        302, b"", "text/plain", Location="/v2/space/user?again=1"
    )

    message = _failed_walk(_client(hostile, max_redirects=4), "users")

    assert message == f"GET {hostile.base_url}/space/user redirects more than 4 times"
    assert len(hostile.seen) == 5


def test_proxies_and_netrc_from_the_environment_are_ignored(hostile, other, tmp_path, monkeypatch):
    """A proxy named by the environment would be handed every request, token and all."""
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password netrc-secret\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    for name in ("HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, other.origin)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    hostile.respond = lambda handler, seen: handler.send_json(_page([1], ""))

    pages = list(_client(hostile).users())

    assert [page.items for page in pages] == [[{"id": 1}]]
    assert [seen.headers["Authorization"] for seen in hostile.seen] == [f"Bearer {TOKEN}"]
    assert other.seen == []


# -- (c) slow answers: every request has a deadline ---------------------------------------------
def _trickle_body(handler: _Handler, seen: Seen) -> None:
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", "1000")
    handler.end_headers()
    for _ in range(120):  # 60 s, past the bound, were the client never to hang up
        handler.wfile.write(b" ")
        time.sleep(TRICKLE_SECONDS)


def _trickle_headers(handler: _Handler, seen: Seen) -> None:
    handler.close_connection = True
    handler.wfile.write(b"HTTP/1.1 200 OK\r\n")
    for n in range(120):
        handler.wfile.write(f"X-Slow-{n}: 1\r\n".encode())
        time.sleep(TRICKLE_SECONDS)


@pytest.mark.parametrize("trickle", [_trickle_body, _trickle_headers], ids=["body", "headers"])
def test_an_answer_trickling_in_stops_at_the_deadline_and_is_not_retried(hostile, other, trickle):
    """A byte every half second never trips the 30 s per-read timeout: the deadline does."""
    hostile.respond = trickle
    client = _client(hostile, timeout=30.0, deadline=DEADLINE_SECONDS)

    started = time.monotonic()
    message = _failed_walk(client)

    assert time.monotonic() - started >= DEADLINE_SECONDS
    assert message == (
        f"POST {hostile.base_url}/contact/list did not finish within its 3 s deadline "
        "(connect, headers and body): the server is trickling or stalled"
    )
    assert len(hostile.seen) == 1
    assert other.seen == []


def _endless_body(handler: _Handler, seen: Seen) -> None:
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.end_headers()  # no length: the body lasts as long as the connection
    handler.wfile.write(b'{"items": [')
    for _ in range(64):  # 4 MiB at most
        handler.wfile.write(b"1, " * 21_845 + b"1,")


def _declared_huge(handler: _Handler, seen: Seen) -> None:
    handler.close_connection = True
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(2**40))
    handler.end_headers()


def _compressed_bomb(handler: _Handler, seen: Seen) -> None:
    """32 MiB of JSON whitespace in a 32 KiB gzip: the limit holds on the body as decoded."""
    handler.close_connection = True
    handler.send(200, BOMB, "application/json", **{"Content-Encoding": "gzip"})


BOMB = gzip.compress(b"[" + b" " * 32 * 2**20 + b"]")


@pytest.mark.parametrize(
    "answer",
    [_endless_body, _declared_huge, _compressed_bomb],
    ids=["endless", "declared", "compressed"],
)
def test_a_body_over_the_size_limit_stops_the_walk(hostile, answer):
    hostile.respond = answer

    message = _failed_walk(_client(hostile, max_body_bytes=2**20))

    assert message == f"POST {hostile.base_url}/contact/list answered a body over the 1 MiB limit"
    assert len(hostile.seen) == 1


# -- (d) cursors that never end ------------------------------------------------------------------
def _next_cursor(server: _Server, seen: Seen) -> str:
    return f"{server.base_url}/contact/list?limit=100&cursorId={seen.cursor + 1}"


@pytest.mark.parametrize(
    ("items", "pages_read"),
    [
        (lambda cursor: [1, 2, 3], 4),  # the same records under a new cursor every time
        (lambda cursor: [], 3),  # nothing, and always a next page
        (lambda cursor: [cursor % 2], 5),  # two records in turn
    ],
    ids=["same-records", "empty-pages", "records-in-turn"],
)
def test_a_cursor_that_brings_nothing_new_stops_the_walk(hostile, other, items, pages_read):
    hostile.respond = lambda handler, seen: handler.send_json(
        _page(items(seen.cursor), _next_cursor(hostile, seen))
    )

    message = _failed_walk(_client(hostile))

    assert message == (
        "pagination of /contact/list: 3 pages in a row name a next page but bring no record "
        "not already read in this walk: the cursor never ends"
    )
    assert len(hostile.seen) == pages_read
    assert other.seen == []


def test_a_cursor_that_always_brings_new_records_stops_at_the_page_bound(hostile):
    hostile.respond = lambda handler, seen: handler.send_json(
        _page([seen.cursor], _next_cursor(hostile, seen))
    )

    message = _failed_walk(RespondioClient(BearerSession(hostile.base_url, TOKEN), max_pages=25))

    assert message == "pagination of /contact/list goes on past 25 pages: the cursor never ends"
    assert len(hostile.seen) == 25


def test_a_next_link_back_to_a_page_already_read_stops_the_walk(hostile):
    hostile.respond = lambda handler, seen: handler.send_json(
        _page([seen.cursor + 1], f"{hostile.base_url}/space/user?limit=100&cursorId=0")
    )

    message = _failed_walk(_client(hostile), "users")

    assert message == "pagination of /space/user loops back to a page already read"
    assert len(hostile.seen) == 2


def test_a_page_repeating_some_records_is_not_a_stall(hostile):
    """Lists shift under their cursor: a page may repeat records, even be all repeats once."""

    def respond(handler: _Handler, seen: Seen) -> None:
        pages = {0: [1, 2, 3], 1: [3, 4], 2: [3, 4], 3: [5]}
        next_url = _next_cursor(hostile, seen) if seen.cursor < 3 else ""
        handler.send_json(_page(pages[seen.cursor], next_url))

    hostile.respond = respond

    pages = list(_client(hostile).contacts())

    assert [item["id"] for page in pages for item in page.items] == [1, 2, 3, 3, 4, 3, 4, 5]


# -- (e) and (f): answers that are not JSON ------------------------------------------------------
def test_an_html_page_answered_200_stops_at_once(hostile, other):
    """A captive portal or a proxy's error page: retrying will not turn it into the API."""
    hostile.respond = lambda handler, seen: handler.send(
        200, b"<html><body>Sign in to the hotel wifi</body></html>", "text/html; charset=utf-8"
    )

    message = _failed_walk(_client(hostile))

    assert message.startswith(f"POST {hostile.base_url}/contact/list answered text/html, not JSON")
    assert len(hostile.seen) == 1
    assert other.seen == []


def test_invalid_json_said_to_be_json_is_retried_then_reported(hostile, other):
    hostile.respond = lambda handler, seen: handler.send(
        200, b'{"items": [{"id": 1}, {"id"', "application/json"
    )

    message = _failed_walk(_client(hostile))

    assert message == (
        f"POST {hostile.base_url}/contact/list still failing after 3 attempts "
        "(last: the body is not complete JSON)"
    )
    assert len(hostile.seen) == 3
    assert other.seen == []


def test_an_error_page_echoing_the_token_does_not_show_it(hostile):
    hostile.respond = lambda handler, seen: handler.send(
        400, f"bad request, Authorization: {seen.headers['Authorization']}".encode(), "text/plain"
    )

    message = _failed_walk(_client(hostile))

    assert message == (
        f"POST {hostile.base_url}/contact/list failed with HTTP 400: "
        "bad request, Authorization: Bearer <token>"
    )


# -- through Dagster: the failure is a failed step that says why ---------------------------------
def test_a_hostile_answer_fails_the_contacts_asset_with_the_reason(hostile, tmp_path: Path):
    hostile.respond = lambda handler, seen: handler.send(
        200, b"<html>proxy error</html>", "text/html"
    )

    result = dg.materialize(
        [respondio__contacts],
        resources={
            "warehouse": WarehouseResource(data_dir=str(tmp_path)),
            "respondio_api": RespondioApiResource(base_url=hostile.base_url, token=TOKEN),
        },
        raise_on_error=False,
    )

    assert not result.success
    [failure] = result.get_step_failure_events()
    error = failure.step_failure_data.error
    assert error is not None
    assert "answered text/html, not JSON" in error.to_string()
    for event in result.all_events:
        assert TOKEN not in str(event)
