"""Faults on demand: the simulated API misbehaves as real ones do and the client loses nothing."""

import itertools
import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from extract.http import BearerSession, RetryPolicy, SourceAuthError, SourceRequestError
from extract.respondio import RespondioClient
from simulator.faults import FAULT_KINDS, FaultInjector, FaultProfile
from simulator.generate import generate
from simulator.model import WorkspaceSpec
from simulator.server import SimulatorServer

TOKEN = "fault-token-7d2e91c4"
# 230 contacts (three contact pages) with long histories: about 90 pages come after a first one,
# so a repeated page has somewhere to happen. About 330 requests in all without faults.
SPEC = WorkspaceSpec(
    seed=3, contacts=230, agents=3, days=28, messages_per_day=1500, start=date(2026, 5, 4)
)
# Among the first 300 draws of this seed every failure kind comes at least 3 times (checked by
# `test_the_heavy_seed_draws_every_failure_kind_often`), so each fires whatever order the
# concurrent client's requests take.
HEAVY_SEED = 164
FAST_RETRY = RetryPolicy(attempts=8, backoff_base_seconds=0.01, backoff_max_seconds=0.05)


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("faults_workspace")
    generate(SPEC, directory)
    return directory


def _lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _client(server: SimulatorServer, token: str = TOKEN) -> RespondioClient:
    return RespondioClient(BearerSession(server.base_url, token, retry=FAST_RETRY), concurrency=4)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@dataclass
class Walk:
    contact_ids: list[int]
    message_ids: list[int]
    server_stats: dict[str, int]
    faults: dict[str, int]
    client_stats: dict[str, int]
    log_lines: list[str]
    seconds: float


@pytest.fixture(scope="module")
def heavy_walk(workspace: Path) -> Walk:
    """Every contact and every contact's messages, read through the `heavy` profile once."""
    logger = logging.getLogger("wabi.simulator")
    handler, level = _Collect(), logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with SimulatorServer(
            workspace,
            token=TOKEN,
            rate_limit_per_second=10_000,
            faults=FaultProfile.named("heavy"),
            fault_seed=HEAVY_SEED,
        ) as server:
            client = _client(server)
            started = time.monotonic()
            contact_ids = [c["id"] for page in client.contacts() for c in page.items]
            message_ids = [
                m["messageId"]
                for page in client.messages_of_contacts([str(c) for c in sorted(set(contact_ids))])
                for m in page.items
            ]
            seconds = time.monotonic() - started
            return Walk(
                contact_ids,
                message_ids,
                dict(server.stats),
                server.fault_summary(),
                dict(client.session.stats),
                handler.lines,
                seconds,
            )
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


def test_heavy_faults_lose_no_record_and_invent_none(heavy_walk, workspace):
    expected_contacts = {c["id"] for c in _lines(workspace / "api" / "contacts.jsonl")}
    expected_messages = {m["messageId"] for m in _lines(workspace / "api" / "messages.jsonl")}

    assert set(heavy_walk.contact_ids) == expected_contacts
    assert set(heavy_walk.message_ids) == expected_messages
    # Repeated pages hand some records over twice; the loader keeps one row per id.
    duplicates = len(heavy_walk.contact_ids) + len(heavy_walk.message_ids)
    duplicates -= len(expected_contacts) + len(expected_messages)
    assert 0 < duplicates <= 3 * heavy_walk.faults["repeated_page"]
    assert heavy_walk.seconds < 25


def test_heavy_fires_every_fault_kind_and_counts_it(heavy_walk):
    assert all(heavy_walk.faults[kind] > 0 for kind in FAULT_KINDS), heavy_walk.faults
    assert heavy_walk.faults == {
        kind: heavy_walk.server_stats[f"fault.{kind}"] for kind in FAULT_KINDS
    }
    # every 429 the server sent, a real one or a burst's, was seen and waited out by the client
    answered_429 = heavy_walk.server_stats["rate_limited"]
    answered_429 += heavy_walk.faults["burst_429"] + heavy_walk.faults["rate_limited"]
    assert heavy_walk.client_stats["rate_limited"] == answered_429
    assert heavy_walk.server_stats["unauthorized"] == 0


def test_fault_log_lines_name_each_fault_but_never_the_token(heavy_walk):
    fault_lines = [line for line in heavy_walk.log_lines if line.startswith("fault ")]
    logged = {line.split(":", 1)[0].removeprefix("fault ") for line in fault_lines}
    assert logged >= set(FAULT_KINDS) - {"rate_limited"}  # a burst's 429s log at DEBUG
    assert "fault status_449: GET /v2/contact/id:" in "\n".join(fault_lines)
    assert not any(TOKEN in line for line in heavy_walk.log_lines)


def test_the_heavy_seed_draws_every_failure_kind_often():
    injector = FaultInjector(FaultProfile.named("heavy"), HEAVY_SEED)
    kinds = [injector.draw(f"endpoint-{n}").kind for n in range(300)]
    drawn = set(FAULT_KINDS) - {"rate_limited", "repeated_page"}
    assert min(kinds.count(kind) for kind in drawn) >= 3


def test_no_fault_fires_with_the_none_profile(workspace):
    with SimulatorServer(
        workspace, token=TOKEN, rate_limit_per_second=10_000, faults=FaultProfile.named("none")
    ) as server:
        client = _client(server)
        contact_ids = [str(c["id"]) for page in client.contacts() for c in page.items]
        pages = list(client.messages_of_contacts(contact_ids[:60]))
        assert server.faults is None
        assert not any(server.fault_summary().values())
        assert not [stat for stat in server.stats if stat.startswith("fault.")]
        assert client.session.stats["retries"] == 0
    listed = json.loads((workspace / "workspace.json").read_text())["counts"]["contacts"]
    assert len(contact_ids) == len(set(contact_ids)) == listed
    assert 0 < listed < SPEC.contacts  # some contacts were added after the period or deleted
    message_ids = [m["messageId"] for page in pages for m in page.items]
    assert len(message_ids) == len(set(message_ids))


def test_a_wrong_token_under_heavy_faults_is_a_clean_401(workspace, caplog):
    secret = "wrong-secret-token-61fd"
    caplog.set_level(logging.DEBUG)
    with SimulatorServer(
        workspace, token=TOKEN, faults=FaultProfile.named("heavy"), fault_seed=HEAVY_SEED
    ) as server:
        client = _client(server, token=secret)
        for _ in range(40):
            with pytest.raises(SourceAuthError, match="refused \\(401\\)"):
                list(client.contacts())
        assert server.stats["unauthorized"] == 40
        assert client.session.stats["retries"] == 0
        assert not any(server.fault_summary().values())
    assert secret not in caplog.text
    assert TOKEN not in caplog.text


@pytest.mark.parametrize(
    ("kind", "status", "reason"),
    [
        ("status_500", 500, "Internal Server Error"),
        ("status_503", 503, "Service Unavailable"),
        ("status_449", 449, "Retry With"),
        ("burst_429", 429, "Too Many Requests"),
    ],
)
def test_a_failure_answers_with_the_apis_error_shape(workspace, kind, status, reason):
    with SimulatorServer(workspace, token=TOKEN, faults=FaultProfile(**{kind: 1.0})) as server:
        response = requests.get(
            f"{server.base_url}/space/user",
            headers={"Authorization": f"Bearer {TOKEN}"},
            timeout=5,
        )
        assert server.fault_summary()[kind] == 1
    assert (response.status_code, response.reason) == (status, reason)
    assert response.json()["code"] == status
    assert response.json()["message"]
    if kind == "burst_429":
        assert response.headers["Retry-After"] in {"1", "2"}
        assert response.headers["X-RateLimit-Remaining"] == "0"


def test_repeated_pages_carry_records_of_the_page_before_and_still_move_on(workspace):
    with SimulatorServer(
        workspace, token=TOKEN, faults=FaultProfile(repeated_page=1.0), fault_seed=1
    ) as server:
        pages = list(_client(server).contacts())
        repeated = server.fault_summary()["repeated_page"]
    ids = [[c["id"] for c in page.items] for page in pages]
    assert repeated == len(pages) - 1 >= 2  # every page after the first
    for before, page in itertools.pairwise(ids):
        assert 1 <= len(set(before) & set(page)) <= 3
        assert page[0] in before
        assert page[-1] > before[-1]
    expected = {c["id"] for c in _lines(workspace / "api" / "contacts.jsonl")}
    assert set(itertools.chain.from_iterable(ids)) == expected


def test_the_profiles_are_named_and_checked():
    assert FaultProfile.named("none") == FaultProfile()
    assert not FaultProfile.named("none").enabled
    assert FaultProfile.named("heavy").enabled
    assert FaultProfile.named("light").status_500 < FaultProfile.named("heavy").status_500
    with pytest.raises(ValueError, match="light, heavy"):
        FaultProfile.named("chaos")
    with pytest.raises(ValueError, match="add up to more than 1"):
        FaultProfile(status_500=0.6, dropped=0.6)


# -- the client against a scripted server: one broken answer, then a good one -----------------
PAYLOAD = {"items": [{"id": n, "name": "x" * 40} for n in range(50)], "pagination": {}}


@pytest.fixture
def scripted() -> Iterator[tuple[str, list[str]]]:
    """A server that plays each request's answer from a script: `ok`, `drop`, `cut`
    (Content-Length declared, half the body sent) or `cut_unframed` (no length, half the body)."""
    script: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            step = script.pop(0) if script else "ok"
            self.close_connection = step != "ok"
            if step == "drop":
                return
            body = json.dumps(PAYLOAD).encode()
            self.send_response(200)
            if step != "cut_unframed":
                self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if step == "ok" else body[: len(body) // 2])

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/v2", script
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.mark.parametrize(
    ("step", "problem"),
    [
        ("drop", "ConnectionError"),
        ("cut", "ChunkedEncodingError"),
        ("cut_unframed", "the body is not complete JSON"),
    ],
)
def test_a_dropped_connection_or_cut_body_is_retried(scripted, caplog, step, problem):
    base_url, script = scripted
    script.extend([step, step])
    session = BearerSession(base_url, TOKEN, retry=FAST_RETRY)
    caplog.set_level(logging.DEBUG)

    assert session.request_json("GET", "/space/user") == PAYLOAD
    assert session.stats == {"requests": 3, "retries": 2, "rate_limited": 0}
    assert caplog.text.count(f"/v2/space/user: {problem}; retrying") == 2
    assert TOKEN not in caplog.text


def test_a_body_that_never_arrives_whole_fails_after_the_attempts(scripted):
    base_url, script = scripted
    script.extend(["cut_unframed"] * 3)
    retry = RetryPolicy(attempts=3, backoff_base_seconds=0.01, backoff_max_seconds=0.02)
    session = BearerSession(base_url, TOKEN, retry=retry)
    with pytest.raises(SourceRequestError, match="after 3 attempts") as error:
        session.request_json("GET", "/space/user")
    assert "last: the body is not complete JSON" in str(error.value)
    assert TOKEN not in str(error.value)
