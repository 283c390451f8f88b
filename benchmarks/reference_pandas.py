"""What an analyst would write: rpt_messages_daily, rpt_conversations_daily and
rpt_user_performance_daily in pandas, from the raw tables (each record's JSON parsed with
`json.loads`), following the same definitions as benchmarks/reference.sql and the dbt marts.
"""

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from benchmarks.reference import ReferenceVars

SENDER_SOURCES = {"user", "workflow", "broadcast", "api", "ai_agent", "echo"}
AUTOMATION_SOURCES = {"zapier", "make", "n8n"}


def _raw(con: duckdb.DuckDBPyConnection, table: str, columns: str = "") -> pd.DataFrame:
    frame = con.execute(f"select _record_id, record{columns} from raw.{table}").df()
    frame["record"] = [json.loads(text) for text in frame["record"]]
    return frame


def _epoch(values: list) -> pd.Series:
    return pd.to_datetime(pd.Series(values, dtype="float64"), unit="s")


def _path(record: dict, *keys: str) -> object:
    for key in keys:
        if not isinstance(record, dict):
            return None
        record = record.get(key)
    return record


def _text(value: object) -> str | None:
    """A JSON value as DuckDB's json_extract_string reads it."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else json.dumps(value)


def _local_date(utc: pd.Series, timezone: str) -> pd.Series:
    return utc.dt.tz_localize("UTC").dt.tz_convert(timezone).dt.tz_localize(None).dt.normalize()


def _sender_type(direction: str | None, source: str | None) -> str | None:
    if direction == "incoming":
        return "contact"
    if source in SENDER_SOURCES:
        return source
    if source == "bot":
        return "workflow"
    if source in AUTOMATION_SOURCES:
        return "api"
    return None


def messages_frame(con: duckdb.DuckDBPyConnection, variables: ReferenceVars) -> pd.DataFrame:
    """One row per message, counted once across sources, with its state and report date."""
    phone_hash = variables.pii_key.phone_hash
    respondio = _raw(con, "respondio__messages")
    records = respondio["record"]
    wamids = [_text(r.get("channelMessageId")) for r in records]
    respondio_messages = pd.DataFrame(
        {
            "message_id": [
                w if w is not None and w.startswith("wamid.") else f"respondio:{i}"
                for w, i in zip(wamids, respondio["_record_id"], strict=True)
            ],
            "channel_id": [_text(r.get("channelId")) for r in records],
            "contact_id": [_text(r.get("contactId")) for r in records],
            "direction": [_text(r.get("traffic")) for r in records],
            "sender_type": [
                _sender_type(_text(r.get("traffic")), _text(_path(r, "sender", "source")))
                for r in records
            ],
            "user_id": [_text(_path(r, "sender", "userId")) for r in records],
            "created_at": _epoch([r.get("timestamp") for r in records]),
        }
    )
    respondio_events = pd.DataFrame(
        [
            (message_id, _text(entry.get("value")), entry.get("timestamp"))
            for message_id, record in zip(respondio_messages["message_id"], records, strict=True)
            for entry in (record.get("status") or [])
        ],
        columns=["message_id", "status", "status_epoch"],
    )

    meta = _raw(con, "whatsapp_cloud__statuses", ", phone_number_id")
    meta_statuses = pd.DataFrame(
        {
            "message_id": [_text(r.get("id")) for r in meta["record"]],
            "status": [_text(r.get("status")) for r in meta["record"]],
            "status_epoch": [r.get("timestamp") for r in meta["record"]],
            "phone_number_id": meta["phone_number_id"],
            "recipient_phone_hash": [
                phone_hash(_text(r.get("recipient_id"))) for r in meta["record"]
            ],
            "recipient_user_id": [_text(r.get("recipient_user_id")) for r in meta["record"]],
        }
    )
    incoming = _raw(con, "whatsapp_cloud__messages", ", phone_number_id")
    meta_incoming = pd.DataFrame(
        {
            "message_id": incoming["_record_id"],
            "channel_id": "whatsapp_cloud:" + incoming["phone_number_id"],
            "contact_id": [
                None if h is None else f"whatsapp_cloud:{h}"
                for h in (phone_hash(_text(r.get("from"))) for r in incoming["record"])
            ],
            "direction": "incoming",
            "sender_type": "contact",
            "user_id": None,
            "created_at": _epoch([r.get("timestamp") for r in incoming["record"]]),
        }
    )

    events = pd.concat([respondio_events, meta_statuses[respondio_events.columns]])
    events["status_at"] = _epoch(events["status_epoch"].tolist()).to_numpy()
    times = events.pivot_table(
        index="message_id", columns="status", values="status_at", aggfunc="min"
    ).reindex(columns=["sent", "delivered", "read", "failed"])
    times.columns = [f"{status}_at" for status in times.columns]
    times["first_status_at"] = events.groupby("message_id")["status_at"].min()

    # outgoing messages Meta knows only from their statuses
    outgoing = meta_statuses[~meta_statuses["message_id"].isin(meta_incoming["message_id"])].copy()
    outgoing["status_at"] = _epoch(outgoing["status_epoch"].tolist()).to_numpy()
    outgoing["sent_at"] = outgoing["status_at"].where(outgoing["status"] == "sent")
    by_wamid = outgoing.groupby("message_id").agg(
        phone_number_id=("phone_number_id", "max"),
        recipient_phone_hash=("recipient_phone_hash", "max"),
        recipient_user_id=("recipient_user_id", "max"),
        sent_at=("sent_at", "min"),
        first_at=("status_at", "min"),
    )
    meta_outgoing = pd.DataFrame(
        {
            "message_id": by_wamid.index,
            "channel_id": ("whatsapp_cloud:" + by_wamid["phone_number_id"]).to_numpy(),
            "contact_id": (
                "whatsapp_cloud:"
                + by_wamid["recipient_phone_hash"].fillna(by_wamid["recipient_user_id"])
            ).to_numpy(),
            "direction": "outgoing",
            "sender_type": None,
            "user_id": None,
            "created_at": by_wamid["sent_at"].fillna(by_wamid["first_at"]).to_numpy(),
        }
    )
    meta_only = pd.concat([meta_incoming, meta_outgoing])
    meta_only = meta_only[~meta_only["message_id"].isin(respondio_messages["message_id"])]
    messages = pd.concat([respondio_messages, meta_only], ignore_index=True)

    outgoing_mask = messages["direction"] == "outgoing"
    state = messages[["message_id"]].join(times, on="message_id")
    state.loc[~outgoing_mask.to_numpy()] = np.nan
    for column in ("sent_at", "delivered_at", "read_at", "failed_at", "first_status_at"):
        messages[column] = pd.to_datetime(state[column].to_numpy())
    messages["status"] = np.select(
        [
            messages["direction"] == "incoming",
            messages["read_at"].notna(),
            messages["delivered_at"].notna(),
            messages["failed_at"].notna(),
            messages["sent_at"].notna(),
        ],
        ["received", "read", "delivered", "failed", "sent"],
        default="pending",
    )
    messages["reported_at"] = messages["created_at"].where(
        messages["direction"] == "incoming",
        messages["sent_at"].fillna(messages["first_status_at"]).fillna(messages["created_at"]),
    )

    # the customer-service window: the contact's last incoming message on the channel before
    messages["incoming_first"] = (messages["direction"] != "incoming").astype(int)
    messages = messages.sort_values(["contact_id", "channel_id", "reported_at", "incoming_first"])
    messages["incoming_at"] = messages["reported_at"].where(messages["direction"] == "incoming")
    # rows are in time order: the last incoming instant so far is the latest one carried forward
    messages["last_incoming_at"] = messages.groupby(["contact_id", "channel_id"], dropna=False)[
        "incoming_at"
    ].ffill()
    window = pd.Timedelta(hours=variables.messaging_window_hours)
    messages["is_outside_window"] = outgoing_mask.reindex(messages.index) & (
        messages["last_incoming_at"].isna()
        | (messages["reported_at"] > messages["last_incoming_at"] + window)
    )
    messages["report_date"] = _local_date(messages["reported_at"], variables.reporting_timezone)
    return messages


def rpt_messages_daily(messages: pd.DataFrame) -> pd.DataFrame:
    flags = pd.DataFrame(
        {
            "report_date": messages["report_date"],
            "channel_id": messages["channel_id"],
            "received": messages["direction"] == "incoming",
            "sent": messages["direction"] == "outgoing",
            "delivered": messages["status"].isin(["delivered", "read"]),
            "read": messages["status"] == "read",
            "failed": messages["status"] == "failed",
            "sent_outside_window": messages["is_outside_window"],
            **{
                f"sent_by_{sender}": messages["sender_type"] == sender
                for sender in ("user", "workflow", "broadcast", "api")
            },
        }
    )
    daily = flags.groupby(["report_date", "channel_id"], dropna=False).sum().reset_index()
    daily["delivery_rate"] = daily["delivered"] / daily["sent"].replace(0, np.nan)
    daily["read_rate"] = daily["read"] / daily["delivered"].replace(0, np.nan)
    daily["failure_rate"] = daily["failed"] / daily["sent"].replace(0, np.nan)
    return daily


def events_frame(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    raw = _raw(con, "respondio__events")

    def first(record: dict, *paths: tuple[str, ...]) -> str | None:
        return next(
            (value for path in paths if (value := _text(_path(record, *path))) is not None), None
        )

    records = raw["record"]
    return pd.DataFrame(
        {
            "event_id": raw["_record_id"],
            "event_name": [_text(r.get("event")) for r in records],
            "contact_id": [_text(_path(r, "contact", "id")) for r in records],
            "conversation_id": [_text(_path(r, "conversation", "id")) for r in records],
            "channel_id": [_text(_path(r, "conversation", "channelId")) for r in records],
            "actor_source": [
                first(
                    r,
                    ("conversation", "openedBy", "source"),
                    ("assignedBy", "source"),
                    ("conversation", "closedBy", "source"),
                    ("deletedBy", "source"),
                    ("contact", "source"),
                )
                for r in records
            ],
            "actor_user_id": [
                first(
                    r,
                    ("conversation", "openedBy", "userId"),
                    ("assignedBy", "userId"),
                    ("conversation", "closedBy", "userId"),
                    ("deletedBy", "userId"),
                    ("comment", "userId"),
                    ("user", "id"),
                )
                for r in records
            ],
            "assignee_id": [_text(_path(r, "assignee", "id")) for r in records],
            "occurred_at": _epoch([r.get("timestamp") for r in records]),
            "opened_at": _epoch([_path(r, "conversation", "openedAt") for r in records]),
            "closed_at": _epoch([_path(r, "conversation", "closedAt") for r in records]),
            "contact_created_at": _epoch([_path(r, "contact", "created_at") for r in records]),
        }
    )


def conversations_frame(
    events: pd.DataFrame, messages: pd.DataFrame, variables: ReferenceVars
) -> pd.DataFrame:
    """One row per conversation with its first response and resolution times."""

    def first_event(name: str) -> pd.DataFrame:
        chosen = events[events["event_name"] == name].sort_values(["occurred_at", "event_id"])
        return chosen.drop_duplicates("conversation_id").set_index("conversation_id")

    openings, closings = first_event("conversationOpened"), first_event("conversationClosed")
    conversations = pd.DataFrame(index=openings.index.union(closings.index))
    conversations.index.name = "conversation_id"
    opened, closed = openings.reindex(conversations.index), closings.reindex(conversations.index)
    for column in ("channel_id", "contact_id", "opened_at"):
        conversations[column] = opened[column].fillna(closed[column])
    conversations["opened_by"] = opened["actor_source"]
    conversations["closed_at"] = closed["closed_at"]
    conversations["closed_by_user_id"] = closed["actor_user_id"]
    conversations = conversations.reset_index()

    # each message in its contact's conversation open at its creation; the later-opened wins
    candidates = messages[
        ["message_id", "contact_id", "direction", "sender_type", "user_id", "created_at"]
    ].merge(conversations[["conversation_id", "contact_id", "opened_at", "closed_at"]])
    candidates = candidates[
        (candidates["opened_at"] <= candidates["created_at"])
        & (candidates["closed_at"].isna() | (candidates["created_at"] <= candidates["closed_at"]))
    ]
    attributed = candidates.sort_values(
        ["opened_at", "conversation_id"], ascending=False
    ).drop_duplicates("message_id")

    # turns: the contact's messages and human users' messages, in creation order
    turns = attributed[
        (attributed["direction"] == "incoming") | (attributed["sender_type"] == "user")
    ].copy()
    turns["incoming_first"] = (turns["direction"] != "incoming").astype(int)
    turns = turns.sort_values(["conversation_id", "created_at", "incoming_first", "message_id"])
    previous = turns.groupby("conversation_id")["direction"].shift()
    turns["is_answer"] = (turns["direction"] == "outgoing") & (previous == "incoming")
    run_start = (turns["direction"] == "incoming") & (previous.fillna("outgoing") == "outgoing")
    turns["run_number"] = run_start.astype(int).groupby(turns["conversation_id"]).cumsum()
    first_runs = turns[turns["run_number"] == 1]
    first_incoming = (
        first_runs[first_runs["direction"] == "incoming"].groupby("conversation_id")["created_at"]
    ).min()
    answers = first_runs[first_runs["is_answer"]].set_index("conversation_id")
    conversations = conversations.set_index("conversation_id")
    conversations["first_response_user_id"] = answers["user_id"]
    conversations["first_response_seconds"] = (
        answers["created_at"] - first_incoming.reindex(answers.index)
    ).dt.total_seconds()
    conversations["resolution_seconds"] = (
        conversations["closed_at"] - conversations["opened_at"]
    ).dt.total_seconds()
    timezone = variables.reporting_timezone
    conversations["opened_date"] = _local_date(conversations["opened_at"], timezone)
    conversations["closed_date"] = _local_date(conversations["closed_at"], timezone)
    return conversations.reset_index()


def rpt_conversations_daily(
    con: duckdb.DuckDBPyConnection,
    events: pd.DataFrame,
    messages: pd.DataFrame,
    conversations: pd.DataFrame,
    variables: ReferenceVars,
) -> pd.DataFrame:
    timezone = variables.reporting_timezone
    contacts = _raw(con, "respondio__contacts")
    new_contacts = events[events["event_name"] == "newContact"]
    activity = pd.concat(
        [
            _local_date(_epoch([r.get("created_at") for r in contacts["record"]]), timezone),
            _local_date(
                new_contacts["contact_created_at"].fillna(new_contacts["occurred_at"]), timezone
            ),
            _local_date(events[events["event_name"] == "contactDeleted"]["occurred_at"], timezone),
            messages[messages["direction"] == "incoming"]["report_date"],
            conversations["opened_date"],
            conversations["closed_date"],
        ]
    )
    last_day = activity.max()
    first_days = conversations.groupby("channel_id")["opened_date"].min()
    days = pd.DataFrame(
        [
            (day, channel)
            for channel, first_day in first_days.items()
            for day in pd.date_range(first_day, last_day, freq="D")
        ],
        columns=["report_date", "channel_id"],
    )
    opener = conversations["opened_by"]
    openings = (
        conversations.assign(
            opened=1,
            **{f"opened_by_{who}": opener == who for who in ("contact", "user", "workflow", "api")},
        )
        .groupby(["opened_date", "channel_id"])[
            ["opened", "opened_by_contact", "opened_by_user", "opened_by_workflow", "opened_by_api"]
        ]
        .sum()
    )
    openings.index.names = ["report_date", "channel_id"]
    closed = conversations[conversations["closed_date"].notna()]
    grouped = closed.groupby(["closed_date", "channel_id"])
    closings = pd.DataFrame(
        {
            "closed": grouped.size(),
            "first_response_seconds_median": grouped["first_response_seconds"].quantile(0.5),
            "first_response_seconds_p90": grouped["first_response_seconds"].quantile(0.9),
            "resolution_seconds_median": grouped["resolution_seconds"].quantile(0.5),
        }
    )
    closings.index.names = ["report_date", "channel_id"]
    daily = days.join(openings, on=["report_date", "channel_id"]).join(
        closings, on=["report_date", "channel_id"]
    )
    counts = ["opened", "opened_by_contact", "opened_by_user", "opened_by_workflow"]
    counts += ["opened_by_api", "closed"]
    daily[counts] = daily[counts].fillna(0).astype("int64")
    daily = daily.sort_values(["channel_id", "report_date"])
    daily["open_at_end_of_day"] = (
        (daily["opened"] - daily["closed"]).groupby(daily["channel_id"]).cumsum()
    )
    return daily


def rpt_user_performance_daily(
    events: pd.DataFrame, messages: pd.DataFrame, conversations: pd.DataFrame, timezone: str
) -> pd.DataFrame:
    keys = ["report_date", "user_id"]
    assignments = events[
        (events["event_name"] == "contactAssigneeUpdated") & events["assignee_id"].notna()
    ]
    assigned = (
        assignments.assign(
            report_date=_local_date(assignments["occurred_at"], timezone),
            user_id=assignments["assignee_id"],
        )
        .groupby(keys)["conversation_id"]
        .nunique()
        .rename("conversations_assigned")
    )
    closed_by_user = conversations[
        conversations["closed_at"].notna() & conversations["closed_by_user_id"].notna()
    ].rename(columns={"closed_date": "report_date", "closed_by_user_id": "user_id"})
    by_closer = closed_by_user.groupby(keys)["resolution_seconds"]
    closed = pd.DataFrame(
        {
            "conversations_closed": by_closer.size(),
            "resolution_seconds_avg": by_closer.mean(),
            "resolution_seconds_median": by_closer.quantile(0.5),
        }
    )
    answered = conversations[
        conversations["closed_at"].notna()
        & conversations["first_response_seconds"].notna()
        & conversations["first_response_user_id"].notna()
    ].rename(columns={"closed_date": "report_date", "first_response_user_id": "user_id"})
    by_responder = answered.groupby(keys)["first_response_seconds"]
    first_responses = pd.DataFrame(
        {
            "first_response_seconds_avg": by_responder.mean(),
            "first_response_seconds_median": by_responder.quantile(0.5),
            "first_response_seconds_p90": by_responder.quantile(0.9),
        }
    )
    sent = (
        messages[(messages["sender_type"] == "user") & messages["user_id"].notna()]
        .groupby(keys)
        .size()
        .rename("messages_sent")
    )
    daily = pd.concat([assigned, closed, first_responses, sent], axis=1).reset_index()
    counts = ["conversations_assigned", "conversations_closed", "messages_sent"]
    daily[counts] = daily[counts].fillna(0).astype("int64")
    return daily


def run_pandas_reference(warehouse_path: Path, variables: ReferenceVars) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(warehouse_path), read_only=True) as con:
        messages = messages_frame(con, variables)
        events = events_frame(con)
        conversations = conversations_frame(events, messages, variables)
        return {
            "rpt_messages_daily": rpt_messages_daily(messages),
            "rpt_conversations_daily": rpt_conversations_daily(
                con, events, messages, conversations, variables
            ),
            "rpt_user_performance_daily": rpt_user_performance_daily(
                events, messages, conversations, variables.reporting_timezone
            ),
        }
