"""Every real Meta payload in tests/fixtures/whatsapp_cloud loads, and yields what it holds.

The expected element counts were read off the fixture files by hand, not computed by the loader.
"""

import gzip
import json
import shutil
from pathlib import Path

import duckdb
import pytest

from extract.captures import load_captures

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp_cloud"

# fixture -> (messages[], statuses[], contacts[], value-level errors[]) elements it holds
EXPECTED: dict[str, tuple[int, int, int, int]] = {
    "account_update_account_restriction": (0, 0, 0, 0),
    "message_audio_voice": (1, 0, 1, 0),
    "message_button_template_quick_reply": (1, 0, 1, 0),
    "message_contacts": (1, 0, 1, 0),  # the shared card is inside the message
    "message_document": (1, 0, 1, 0),
    "message_image": (1, 0, 1, 0),
    "message_interactive_button_reply": (1, 0, 1, 0),
    "message_interactive_list_reply": (1, 0, 1, 0),
    "message_location": (1, 0, 1, 0),
    "message_order": (1, 0, 1, 0),
    "message_reaction": (1, 0, 1, 0),
    "message_sticker": (1, 0, 1, 0),
    "message_system_user_changed_number": (1, 0, 0, 0),  # no contacts[]
    "message_template_status_update_rejected_invalid_format": (0, 0, 0, 0),
    "message_text": (1, 0, 1, 0),
    "message_text_context_referred_product": (1, 0, 1, 0),
    "message_text_referral_ctwa_ad": (1, 0, 1, 0),
    "message_unsupported_131051": (1, 0, 1, 0),  # its errors[] is the message's own
    "message_video": (1, 0, 1, 0),
    "multi_change_two_text_messages": (2, 0, 2, 0),
    "phone_number_quality_update_throughput_upgrade": (0, 0, 0, 0),
    "status_delivered_cbp_service": (0, 1, 0, 0),
    "status_failed_131047": (0, 1, 0, 0),
    "status_failed_131049": (0, 1, 0, 0),
    "status_read_no_pricing_2023": (0, 1, 0, 0),
    "status_sent_cbp_business_initiated_2023": (0, 1, 0, 0),
    "status_sent_pmp_marketing": (0, 1, 0, 0),
    "status_sent_pmp_v25_bsuid": (0, 1, 1, 0),  # a status payload with contacts[]
    "status_sent_v24_no_conversation_no_pricing": (0, 1, 0, 0),
    "template_category_update_impending": (0, 0, 0, 0),
    "value_errors_130429_rate_limit": (0, 0, 0, 1),
}
KINDS = ("messages", "statuses", "contacts", "errors")


def test_the_expected_table_covers_every_fixture():
    assert {path.stem for path in FIXTURES.glob("*.json")} == set(EXPECTED)


def _load_one(tmp_path: Path, name: str) -> tuple[duckdb.DuckDBPyConnection, dict]:
    captures = tmp_path / "captures"
    captures.mkdir()
    shutil.copy(FIXTURES / f"{name}.json", captures)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"))
    report = load_captures(con, captures)
    return con, report.tables


def _record(con, table: str, record_id: str) -> dict:
    (record,) = con.execute(
        f"select record::varchar from raw.whatsapp_cloud__{table} where _record_id = ?",
        [record_id],
    ).fetchone()
    return json.loads(record)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_fixture_yields_its_elements(tmp_path, name):
    con, tables = _load_one(tmp_path, name)
    with con:
        fetched = tuple(
            tables.get(f"raw.whatsapp_cloud__{kind}", {}).get("fetched", 0) for kind in KINDS
        )
        assert fetched == EXPECTED[name]
        assert con.execute("select count(*) from raw.whatsapp_cloud__payloads").fetchone() == (1,)
        assert con.execute("select count(*) from raw.rejected_records").fetchone() == (0,)
        # The payload is stored as it came: the file's text.
        stored = con.execute("select record::varchar from raw.whatsapp_cloud__payloads").fetchone()
        assert stored[0] == (FIXTURES / f"{name}.json").read_text(encoding="utf-8").strip()


def test_multi_change_messages_sharing_a_wamid_collapse_to_the_latest(tmp_path):
    # The library-authored payload gives both messages the placeholder id `wamid.ID`.
    con, tables = _load_one(tmp_path, "multi_change_two_text_messages")
    with con:
        assert tables["raw.whatsapp_cloud__messages"]["inserted"] == 1
        assert _record(con, "messages", "wamid.ID")["text"] == {"body": "MESSAGE_BODY2"}


def test_raw_only_fields_are_kept(tmp_path):
    captures = tmp_path / "captures"
    shutil.copytree(FIXTURES, captures, ignore=shutil.ignore_patterns("*.md"))
    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        load_captures(con, captures)
        ctwa = _record(
            con, "messages", "wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQUQ0N0VFMDA2MTQ0RkJFNkNDNAA="
        )
        assert ctwa["referral"]["source_type"] == "ad"
        assert ctwa["referral"]["ctwa_clid"].startswith("Aff-n8ZTODiE79d22KtAwQKj9e_mIEOOj27vDVwF")
        assert ctwa["referral"]["welcome_message"] == {
            "text": "Hi there! Let us know how we can help!"
        }

        v25 = _record(con, "statuses", "ABGGFlA5Fpa|sent|1504902988")
        assert v25["pricing"] == {
            "billable": True,
            "pricing_model": "PMP",
            "type": "regular",
            "category": "marketing",
        }
        assert v25["recipient_user_id"] == "US.13491208655302741918"
        assert _record(con, "contacts", "16315551181")["user_id"] == "US.13491208655302741918"

        failed = _record(
            con,
            "statuses",
            "wamid.HBgNN5NzAzMDkTUyNzkzNhUEjA1MjUwNCAUIyNEYUQ0OTVGNTY0MwA=|failed|1682651887",
        )
        assert failed["errors"][0]["code"] == 131047
        assert failed["errors"][0]["error_data"]["details"] == (
            "Message failed to send because more than 24 hours have passed since the customer "
            "last replied to this number."
        )

        location = _record(
            con, "messages", "wamid.HBgNNVENjUTzk5NzAzMUyNDkzIYFDNBMERNhUCABBMkYzNjhFQzzNEUwAA=="
        )
        assert location["location"]["latitude"] == -10.93941311633

        (error_id, error, field, waba_id) = con.execute(
            "select _record_id, record::varchar, field, waba_id from raw.whatsapp_cloud__errors"
        ).fetchone()
        (payload_id,) = con.execute(
            """select _record_id from raw.whatsapp_cloud__payloads
            where _file = 'value_errors_130429_rate_limit.json'"""
        ).fetchone()
        assert error_id == f"{payload_id}|0|0|0"
        assert json.loads(error)["error_data"]["details"].startswith(
            "Message failed to send because there were too many messages sent"
        )
        assert (field, waba_id) == ("messages", "102290129340398")

        # Context columns of an element: its payload's entry and metadata.
        context = con.execute(
            """select waba_id, phone_number_id, display_phone_number, field, _file, _line
            from raw.whatsapp_cloud__messages
            where _record_id = 'wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTA2NTUwRkNEMDdFQjJCRUU0NQA='"""
        ).fetchone()
        assert context == (
            "419561257915477",
            "106540352242922",
            "15550783881",
            "messages",
            "message_text_context_referred_product.json",
            1,
        )


def _write_jsonl(path: Path, payloads: list[dict], compress: bool) -> None:
    text = "".join(json.dumps(payload, ensure_ascii=False) + "\n" for payload in payloads)
    if compress:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")


def test_every_fixture_loads_from_json_jsonl_and_gzip_files(tmp_path):
    captures = tmp_path / "captures"
    names = sorted(EXPECTED)
    # Pretty-printed .json, gzipped .json, and the rest as lines of .jsonl/.ndjson files.
    (captures / "pretty").mkdir(parents=True)
    for name in names[:8]:
        shutil.copy(FIXTURES / f"{name}.json", captures / "pretty")
    for name in names[8:14]:
        data = (FIXTURES / f"{name}.json").read_bytes()
        (captures / "pretty" / f"{name}.json.gz").write_bytes(gzip.compress(data))
    payloads = [json.loads((FIXTURES / f"{name}.json").read_text()) for name in names[14:]]
    _write_jsonl(captures / "a.jsonl", payloads[:6], compress=False)
    _write_jsonl(captures / "b.jsonl.gz", payloads[6:12], compress=True)
    _write_jsonl(captures / "c.ndjson", payloads[12:], compress=False)

    with duckdb.connect(str(tmp_path / "warehouse.duckdb")) as con:
        report = load_captures(con, captures)
        assert (report.files_new, report.lines_read, report.rejected) == (17, 31, 0)
        fetched = {kind: report.tables[f"raw.whatsapp_cloud__{kind}"]["fetched"] for kind in KINDS}
        assert fetched == {
            kind: sum(counts[i] for counts in EXPECTED.values()) for i, kind in enumerate(KINDS)
        }
        assert con.execute("select count(*) from raw.whatsapp_cloud__payloads").fetchone() == (31,)
        lines = con.execute(
            "select _line from raw.whatsapp_cloud__payloads where _file = 'c.ndjson' order by 1"
        ).fetchall()
        assert lines == [(line,) for line in range(1, len(payloads[12:]) + 1)]
