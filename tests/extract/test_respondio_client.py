"""The respond.io client against the simulator over real HTTP on loopback."""

import json
import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from extract.http import BearerSession, RetryPolicy, SourceAuthError, SourceRequestError
from extract.respondio import PAGE_LIMIT, RespondioClient
from simulator.generate import generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

TOKEN = "test-token-5f1c2b9e"
# 230 contacts: two full pages of 100 and a last one of 30.
SPEC = WorkspaceSpec(
    seed=3, contacts=230, agents=3, days=7, messages_per_day=120, start=date(2026, 5, 4)
)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("client_workspace")
    generate(SPEC, directory)
    return directory


@pytest.fixture
def server(workspace: Path) -> Iterator[SimulatorServer]:
    with SimulatorServer(workspace, token=TOKEN, rate_limit_per_second=1000) as running:
        yield running


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _client(server: SimulatorServer, token: str = TOKEN, **kwargs) -> RespondioClient:
    retry = RetryPolicy(attempts=8, backoff_base_seconds=0.01, backoff_max_seconds=0.05)
    return RespondioClient(BearerSession(server.base_url, token, retry=retry), **kwargs)


def test_contact_pages_follow_next_links_until_empty(server, workspace):
    pages = list(_client(server).contacts())

    listed = [c["id"] for c in _lines(workspace / "api" / "contacts.jsonl")]
    assert 2 * PAGE_LIMIT < len(listed) < 3 * PAGE_LIMIT
    assert [len(page.items) for page in pages] == [PAGE_LIMIT, PAGE_LIMIT, len(listed) - 200]
    fetched = [item["id"] for page in pages for item in page.items]
    assert fetched == listed
    # every page after the first was reached through the previous page's `next` cursor
    cursors = [parse_qs(urlsplit(page.url).query).get("cursorId") for page in pages]
    assert cursors == [None, [str(fetched[99])], [str(fetched[199])]]


def test_next_and_previous_are_full_urls_and_empty_at_the_ends(server):
    session = BearerSession(server.base_url, TOKEN)
    first = session.request_json("POST", "/contact/list?limit=100", json={})
    assert first["pagination"]["previous"] == ""
    assert first["pagination"]["next"].startswith(server.base_url + "/contact/list?")
    last = session.request_json("POST", "/contact/list?limit=100&cursorId=1000200", json={})
    assert last["pagination"]["next"] == ""
    assert last["pagination"]["previous"].startswith("http://127.0.0.1:")


def test_each_contacts_messages_are_fetched_once_across_pages(server, workspace):
    expected = _lines(workspace / "api" / "messages.jsonl")
    busiest = max(
        {m["contactId"] for m in expected}, key=lambda c: sum(m["contactId"] == c for m in expected)
    )
    client = _client(server)

    pages = client.contact_messages(str(busiest))

    fetched = [m["messageId"] for page in pages for m in page.items]
    assert fetched == sorted(m["messageId"] for m in expected if m["contactId"] == busiest)
    assert len(fetched) == len(set(fetched))


def test_rate_limited_requests_wait_for_retry_after_and_lose_nothing(workspace):
    contact_ids = [str(c["id"]) for c in _lines(workspace / "api" / "contacts.jsonl")[:30]]
    expected = {
        m["messageId"]
        for m in _lines(workspace / "api" / "messages.jsonl")
        if str(m["contactId"]) in contact_ids
    }
    with SimulatorServer(workspace, token=TOKEN, rate_limit_per_second=10) as limited:
        client = _client(limited, concurrency=4)
        fetched = [
            m["messageId"] for page in client.messages_of_contacts(contact_ids) for m in page.items
        ]
        assert limited.stats["rate_limited"] > 0
        assert client.session.stats["rate_limited"] == limited.stats["rate_limited"]
    assert sorted(fetched) == sorted(expected)


def test_a_wrong_token_stops_with_a_clear_error_that_does_not_show_it(server, caplog):
    secret = "wrong-secret-token-93ab"
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SourceAuthError, match="refused \\(401\\)") as error:
        list(_client(server, token=secret).users())
    assert secret not in str(error.value)
    session = _client(server, token=secret).session
    assert secret not in repr(session)
    # nor in the session's attributes, as a debugger or a traceback's locals would show them
    assert secret not in repr(vars(session))
    assert secret not in repr(dict(session._session.headers))
    assert secret not in caplog.text


def test_missing_token_is_refused_before_any_request():
    with pytest.raises(SourceAuthError, match="WABI_PLATFORM_TOKEN"):
        BearerSession("http://127.0.0.1:9/v2", "")


def test_a_contact_deleted_since_it_was_listed_is_skipped_and_counted(server, workspace):
    """The server answers 404 for a contact it does not know, as respond.io does for a deleted
    one: the walk goes on with the others and reports the contact as gone."""
    listed = [str(c["id"]) for c in _lines(workspace / "api" / "contacts.jsonl")]
    client = _client(server)

    pages = list(client.messages_of_contacts([listed[0], "999", listed[1]]))

    walked = {str(m["contactId"]) for page in pages for m in page.items}
    expected = {str(m["contactId"]) for m in _lines(workspace / "api" / "messages.jsonl")}
    assert walked == {listed[0], listed[1]} & expected
    assert client.contacts_gone == ["999"]


def test_out_of_range_limit_is_refused_by_the_server(server):
    session = BearerSession(server.base_url, TOKEN)
    with pytest.raises(SourceRequestError, match="400"):
        session.request_json("GET", "/space/user?limit=101")


def test_a_refused_connection_is_retried_then_reported():
    retry = RetryPolicy(attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
    session = BearerSession("http://127.0.0.1:9/v2", TOKEN, retry=retry, timeout=1)
    with pytest.raises(SourceRequestError, match="after 3 attempts"):
        session.request_json("GET", "/space/user")
    assert session.stats["requests"] == 3
