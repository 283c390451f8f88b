"""The oracle's definitions on hand-built inputs: quantiles, business time, message states and
the response times of one conversation."""

from datetime import datetime
from zoneinfo import ZoneInfo

import duckdb
import pytest

from simulator.generate import SimMessage
from simulator.model import Channel
from simulator.oracle import business_seconds, conversation_facts, furthest_status, quantile

NEW_YORK = ZoneInfo("America/New_York")
CHANNEL = Channel(
    channel_id=100_001, kind="whatsapp", source="whatsapp_cloud", name="WhatsApp", created_at=0
)
AGENT, OTHER_AGENT = 500_001, 500_002


def _duckdb_quantile(values, q):
    query = "select quantile_cont(x, $q) from unnest($v::DOUBLE[]) t(x)"
    return duckdb.sql(query, params={"v": list(values), "q": q}).fetchall()[0][0]


@pytest.mark.parametrize(
    "values",
    [
        [7.0, 1.0, 4.0],  # odd
        [10.0, 2.0, 8.0, 3.0],  # even
        [42.0],  # single
        [0.5, 120.0, 3.25, 3.25, 9000.0, 17.0, 61.0],  # duplicates, wide range
    ],
)
@pytest.mark.parametrize("q", [0.0, 0.1, 0.5, 0.9, 1.0])
def test_quantile_matches_duckdb_quantile_cont(values, q):
    assert quantile(values, q) == pytest.approx(_duckdb_quantile(values, q))


@pytest.mark.parametrize("q", [0.5, 0.9])
def test_quantile_of_nothing_is_null_as_in_duckdb(q):
    assert quantile([], q) is None
    assert _duckdb_quantile([], q) is None


def _at(*args) -> int:
    """A unix time from a New York wall-clock time."""
    return int(datetime(*args, tzinfo=NEW_YORK).timestamp())


@pytest.mark.parametrize(
    ("start", "end", "expected"),
    [
        # Saturday 00:00 to Monday 00:00: no business hours at all
        (_at(2026, 3, 7), _at(2026, 3, 9), 0),
        # one full Wednesday
        (_at(2026, 3, 4), _at(2026, 3, 5), 9 * 3600),
        # Tuesday 17:00 to Wednesday 10:00, across midnight
        (_at(2026, 3, 3, 17), _at(2026, 3, 4, 10), 2 * 3600),
        # inside one day's window
        (_at(2026, 3, 4, 9, 30), _at(2026, 3, 4, 11, 45), 2 * 3600 + 15 * 60),
        # Friday 17:00 EST to Monday 10:00 EDT, across the spring-forward Sunday
        (_at(2026, 3, 6, 17), _at(2026, 3, 9, 10), 3600 + 3600),
        # Friday 17:00 EDT to Monday 10:00 EST, across the fall-back Sunday
        (_at(2026, 10, 30, 17), _at(2026, 11, 2, 10), 3600 + 3600),
        # backwards or empty intervals
        (_at(2026, 3, 4, 12), _at(2026, 3, 4, 12), 0),
        (_at(2026, 3, 4, 12), _at(2026, 3, 4, 11), 0),
    ],
)
def test_business_seconds(start, end, expected):
    assert business_seconds(start, end, NEW_YORK) == expected


def test_business_seconds_uses_the_local_day_not_utc():
    # Monday 13:00-20:00 in New York (EST) is 18:00-01:00 UTC.
    start, end = _at(2026, 3, 2, 13), _at(2026, 3, 2, 20)
    assert business_seconds(start, end, NEW_YORK) == 5 * 3600
    assert business_seconds(start, end, ZoneInfo("UTC")) == 0


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"pending", "sent", "failed", "delivered"}, "delivered"),
        ({"failed", "delivered"}, "delivered"),
        ({"failed", "read"}, "read"),
        ({"read"}, "read"),
        ({"delivered"}, "delivered"),
        ({"pending", "sent", "failed"}, "failed"),
        ({"pending", "sent"}, "sent"),
        ({"pending"}, "pending"),
    ],
)
def test_furthest_status(values, expected):
    assert furthest_status(values) == expected


def _message(at, direction, sender=None, user_id=None):
    return SimMessage(
        message_id=0,
        channel_message_id=f"wamid.{direction}.{at}",
        contact_id=1_000_001,
        channel=CHANNEL,
        direction=direction,
        created_at=at,
        body={"type": "text", "text": "hi"},
        sender_source=sender,
        user_id=user_id,
    )


def _in(at):
    return _message(at, "incoming")


def _out(at, sender="user", user_id=AGENT):
    return _message(at, "outgoing", sender, user_id if sender == "user" else None)


def test_a_workflow_reply_is_not_the_first_response():
    facts = conversation_facts([_in(1000), _out(1002, "workflow"), _out(1300)])
    assert facts.first_incoming_at == 1000
    assert facts.first_response_at == 1300
    assert facts.first_response_seconds == 300
    assert facts.first_response_user_id == AGENT
    assert facts.response_seconds == [300]


@pytest.mark.parametrize("sender", ["workflow", "broadcast", "api"])
def test_only_non_user_replies_mean_no_response(sender):
    facts = conversation_facts([_in(1000), _out(1010, sender), _out(1020, sender)])
    assert facts.first_incoming_at == 1000
    assert facts.first_response_at is None
    assert facts.first_response_seconds is None
    assert facts.response_seconds == []


def test_a_run_of_incoming_messages_measures_from_its_first():
    facts = conversation_facts([_in(1000), _in(1050), _in(1090), _out(1200)])
    assert facts.first_response_seconds == 200
    assert facts.response_seconds == [200]


def test_two_runs_give_two_responses_and_their_average():
    messages = [
        _in(1000),
        _out(1060, user_id=AGENT),
        _out(1080, user_id=OTHER_AGENT),  # a second message of the same reply: no new response
        _in(1500),
        _in(1520),
        _out(1600, "workflow"),
        _out(1700, user_id=OTHER_AGENT),
    ]
    facts = conversation_facts(messages)
    assert facts.first_response_seconds == 60
    assert facts.first_response_user_id == AGENT
    assert facts.response_seconds == [60, 200]
    assert len(facts.response_seconds) == 2
    assert sum(facts.response_seconds) / len(facts.response_seconds) == 130


def test_messages_are_taken_in_time_order_whatever_the_input_order():
    messages = [_out(1700, user_id=OTHER_AGENT), _in(1500), _out(1060), _in(1000)]
    facts = conversation_facts(messages)
    assert facts.first_incoming_at == 1000
    assert facts.first_response_at == 1060
    assert facts.response_seconds == [60, 200]


def test_a_user_message_before_any_incoming_is_no_response():
    facts = conversation_facts([_out(900), _in(1000), _out(1100, user_id=OTHER_AGENT)])
    assert facts.first_response_at == 1100
    assert facts.first_response_user_id == OTHER_AGENT
    assert facts.response_seconds == [100]


def test_a_conversation_without_incoming_messages_has_no_first_response():
    facts = conversation_facts([_out(1000, "workflow"), _out(1100), _out(1200)])
    assert facts.first_incoming_at is None
    assert facts.first_response_at is None
    assert facts.first_response_user_id is None
    assert facts.first_response_seconds is None
    assert facts.response_seconds == []


def test_an_empty_conversation_has_no_facts():
    facts = conversation_facts([])
    assert facts.first_incoming_at is None
    assert facts.first_response_seconds is None
    assert facts.response_seconds == []
