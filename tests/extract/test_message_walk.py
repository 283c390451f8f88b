"""Which contacts' messages a run fetches: all of them the first time and once a week, else the
ones whose activity moved. State advances only once the walk's batch is committed."""

from datetime import timedelta

import duckdb
import pytest

from extract import respondio
from extract.captures import RESPONDIO_EVENTS, ensure_capture_tables
from extract.load import RawLoader, utc_now

DAY = 86_400
# Event times: days after a day in 2025 (the loader quarantines times before 2009).
EPOCH = 1_750_000_000


def _contact(contact_id: int, status: str = "close", name: str = "Ana") -> dict:
    return {"id": contact_id, "firstName": name, "status": status, "created_at": 1_700_000_000}


def _event(event_id: str, contact_id: int, at: int) -> dict:
    return {
        "event": "conversationOpened",
        "eventId": event_id,
        "timestamp": at,
        "contact": {"id": contact_id},
    }


def _load(con, table, records) -> None:
    loader = RawLoader(con, table)
    loader.add(records, "test")
    loader.commit()


@pytest.fixture
def con(tmp_path):
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        ensure_capture_tables(con)
        _load(con, respondio.CONTACTS, [_contact(1), _contact(2, "open"), _contact(3)])
        # contact 1 was active long before the newest event; contact 3 within the lookback
        _load(
            con,
            RESPONDIO_EVENTS,
            [_event("a", 1, EPOCH), _event("b", 3, EPOCH + 10 * DAY - 3600)],
        )
        yield con


def _plan(con, **options) -> respondio.MessageWalk:
    return respondio.plan_message_walk(con, RESPONDIO_EVENTS.qualified, **options)


def test_the_first_walk_visits_every_contact(con):
    walk = _plan(con)
    assert walk.full
    assert walk.reason == "first walk"
    assert walk.contact_ids == ["1", "2", "3"]


def test_a_walk_that_was_not_recorded_is_planned_again(con):
    """A run that died before committing leaves no state: the next run walks the same set."""
    assert _plan(con).contact_ids == _plan(con).contact_ids == ["1", "2", "3"]


def test_after_a_walk_only_open_and_recently_active_contacts_are_walked(con):
    respondio.record_message_walk(con, _plan(con))

    walk = _plan(con)

    assert not walk.full
    # 2 has an open conversation, 3 an event within the lookback; 1 nothing since
    assert walk.contact_ids == ["2", "3"]


def test_changed_and_new_contacts_and_new_events_are_walked(con):
    respondio.record_message_walk(con, _plan(con))
    _load(con, respondio.CONTACTS, [_contact(1, name="Ana Maria"), _contact(4)])
    _load(con, RESPONDIO_EVENTS, [_event("c", 5, EPOCH + 20 * DAY)])
    _load(con, respondio.CONTACTS, [_contact(5)])

    walk = _plan(con)

    # 1 changed, 4 and 5 are new (5 also has an event), 2 is open, and 3's event still lies
    # within the lookback before the last walk's watermark (late events may follow it)
    assert walk.contact_ids == ["1", "2", "3", "4", "5"]


def test_an_event_for_a_contact_not_listed_is_not_walked(con):
    """A contact deleted since its event was captured: its message list would answer 404."""
    respondio.record_message_walk(con, _plan(con))
    _load(con, RESPONDIO_EVENTS, [_event("d", 99, EPOCH + 30 * DAY)])
    assert "99" not in _plan(con).contact_ids


def test_every_contact_is_walked_again_once_a_week(con):
    first = _plan(con)
    respondio.record_message_walk(con, first)

    six_days = _plan(con, now=first.started_at + timedelta(days=6))
    a_week = _plan(con, now=first.started_at + timedelta(days=7))

    assert not six_days.full
    assert a_week.full
    assert a_week.contact_ids == ["1", "2", "3"]
    assert _plan(con, full_walk_every=timedelta(0)).full


def test_recorded_state_holds_the_newest_event_time(con):
    walk = _plan(con)
    respondio.record_message_walk(con, walk)
    state = dict(
        con.execute(
            f"select name, value from {respondio.STATE_TABLE} where source = 'respondio'"
        ).fetchall()
    )
    assert state["events_watermark"] == str(EPOCH + 10 * DAY - 3600)
    assert state["last_full_walk_at"] == state["last_walk_at"] == walk.started_at.isoformat()
    assert walk.started_at <= utc_now()
