"""The simulator's WhatsApp Cloud API captures look like Meta's real payloads and carry the
simulated truth: same wamids, same times, with redeliveries, late statuses and torn lines."""

import gzip
import hashlib
import json
import random
from dataclasses import replace
from pathlib import Path

import pytest

from simulator.generate import SimMessage, play_contacts
from simulator.model import Contact, WorkspaceSpec, make_agents, make_channels
from simulator.whatsapp_cloud import MetaCaptureWriter, business_number

FIXTURES = Path(__file__).parents[1] / "fixtures" / "whatsapp_cloud"
SPEC = WorkspaceSpec()  # the default: 200 contacts over 28 days
History = list[tuple[Contact, list[SimMessage]]]


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def value_of(payload: dict) -> dict:
    return payload["entry"][0]["changes"][0]["value"]


def shape(value: object) -> object:
    """Keys in order and nesting, and JSON types of the leaves; the values themselves not."""
    if isinstance(value, dict):
        return ("object", tuple((key, shape(item)) for key, item in value.items()))
    if isinstance(value, list):
        return ("array", tuple(shape(item) for item in value))
    return type(value).__name__


def without_caption(name: str, kind: str) -> dict:
    """Meta omits `caption` when the customer wrote none; the simulated media have none."""
    payload = fixture(name)
    del value_of(payload)["messages"][0][kind]["caption"]
    return payload


def delivered_pmp() -> dict:
    """The delivered capture predates per-message pricing: PMP pricing is the sent capture's."""
    payload = fixture("status_delivered_cbp_service.json")
    pmp = value_of(fixture("status_sent_pmp_marketing.json"))["statuses"][0]["pricing"]
    value_of(payload)["statuses"][0]["pricing"] = pmp
    return payload


EXPECTED_SHAPES = {
    "text": shape(fixture("message_text.json")),
    "image": shape(without_caption("message_image.json", "image")),
    "audio": shape(fixture("message_audio_voice.json")),
    "video": shape(without_caption("message_video.json", "video")),
    "document": shape(fixture("message_document.json")),
    "sent": shape(fixture("status_sent_pmp_marketing.json")),
    "delivered": shape(delivered_pmp()),
    "read": shape(fixture("status_read_no_pricing_2023.json")),
    "failed": shape(fixture("status_failed_131047.json")),
}


def event_of(payload: dict) -> dict:
    """The one incoming message or status a payload carries."""
    value = value_of(payload)
    return (value.get("messages") or value["statuses"])[0]


def kind_of(payload: dict) -> str:
    event = event_of(payload)
    return event.get("status") or event["type"]


def make_histories(spec: WorkspaceSpec) -> History:
    """Every contact's messages, drawn exactly as `simulator.generate.generate` draws them."""
    channels = make_channels(spec)
    agents = make_agents(spec, random.Random(f"wabi-workspace:{spec.seed}"))
    return [(contact, messages) for contact, _, messages in play_contacts(spec, channels, agents)]


def write(out_dir: Path, histories: History, **options) -> dict[str, int]:
    writer = MetaCaptureWriter(out_dir, SPEC, **options)
    for contact, messages in histories:
        writer.add(contact, messages)
    return writer.close()


def read_lines(out_dir: Path) -> list[str]:
    """All lines in arrival order (not splitlines: payloads may hold U+2028)."""
    lines = []
    for path in sorted(out_dir.iterdir()):
        data = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
        lines += data.decode("utf-8").split("\n")[:-1]
    return lines


def digest(out_dir: Path) -> str:
    sha = hashlib.sha256()
    for path in sorted(out_dir.rglob("*")):
        sha.update(path.name.encode() + b"\0" + path.read_bytes())
    return sha.hexdigest()


@pytest.fixture(scope="module")
def histories() -> History:
    return make_histories(SPEC)


@pytest.fixture(scope="module")
def month(histories, tmp_path_factory) -> tuple[Path, dict[str, int], list[dict]]:
    out_dir = tmp_path_factory.mktemp("meta") / "whatsapp_cloud"
    counts = write(out_dir, histories)
    return out_dir, counts, [json.loads(line) for line in read_lines(out_dir)]


@pytest.fixture(scope="module")
def truth(histories) -> dict[str, tuple[Contact, SimMessage]]:
    return {
        message.channel_message_id: (contact, message)
        for contact, messages in histories
        if contact.channel.kind == "whatsapp"
        for message in messages
    }


def test_every_payload_has_the_shape_of_the_real_capture_of_its_kind(month):
    _, _, payloads = month
    kinds = set()
    for payload in payloads:
        kind = kind_of(payload)
        assert shape(payload) == EXPECTED_SHAPES[kind], kind
        kinds.add(kind)
    assert kinds == set(EXPECTED_SHAPES) - {"video"}  # the simulator sends no video


def test_an_incoming_video_has_the_shape_of_the_real_capture(histories, tmp_path):
    contact, message = next(
        (contact, message)
        for contact, messages in histories
        if contact.channel.kind == "whatsapp"
        for message in messages
        if message.direction == "incoming"
    )
    video = {"type": "attachment", "attachment": {"type": "video", "url": "https://x/v"}}
    write(tmp_path, [(contact, [replace(message, body=video)])])
    [payload] = [json.loads(line) for line in read_lines(tmp_path)]
    assert shape(payload) == EXPECTED_SHAPES["video"]


@pytest.mark.parametrize("name", ["status_failed_131047.json", "status_failed_131049.json"])
def test_failures_carry_meta_error_texts(month, name):
    real = value_of(fixture(name))["statuses"][0]["errors"][0]
    failures = [value_of(p)["statuses"][0]["errors"][0] for p in month[2] if kind_of(p) == "failed"]
    same_code = [error for error in failures if error["code"] == real["code"]]
    assert same_code
    for error in same_code:
        assert {k: error[k] for k in ("title", "message", "error_data")} == {
            k: real[k] for k in ("title", "message", "error_data")
        }


def test_payloads_carry_the_simulated_ids_numbers_and_times(month, truth):
    _, _, payloads = month
    for payload in payloads:
        value = value_of(payload)
        if "messages" in value:
            event = value["messages"][0]
            contact, message = truth[event["id"]]
            assert message.direction == "incoming"
            assert event["from"] == value["contacts"][0]["wa_id"] == contact.phone[1:]
            assert value["contacts"][0]["profile"]["name"] == (
                f"{contact.first_name} {contact.last_name}"
            )
            assert event["timestamp"] == str(message.created_at)
        else:
            event = value["statuses"][0]
            contact, message = truth[event["id"]]
            assert message.direction == "outgoing"
            assert event["recipient_id"] == contact.phone[1:]
            assert (event["status"], int(event["timestamp"])) in {
                (s.value, s.at) for s in message.statuses
            }
        waba_id, phone_number_id, display = business_number(message.channel)
        assert payload["entry"][0]["id"] == waba_id
        assert value["metadata"] == {
            "display_phone_number": display,
            "phone_number_id": phone_number_id,
        }


def test_every_event_long_enough_before_the_end_is_captured(month, truth):
    _, _, payloads = month
    captured = {(event_of(p)["id"], event_of(p).get("status", "incoming")) for p in payloads}
    horizon = int(SPEC.end_at.timestamp()) - 9 * 3600  # beyond the latest late arrival
    expected = set()
    for wamid, (_, message) in truth.items():
        if message.direction == "incoming" and message.created_at < horizon:
            expected.add((wamid, "incoming"))
        expected |= {
            (wamid, s.value) for s in message.statuses if s.value != "pending" and s.at < horizon
        }
    assert expected <= captured


def test_pricing_follows_who_sent_what(month, truth):
    for payload in month[2]:
        if kind_of(payload) != "sent":
            continue
        status = value_of(payload)["statuses"][0]
        message = truth[status["id"]][1]
        if message.body["type"] != "whatsapp_template":
            expected = "service"
        elif message.sender_source == "broadcast":
            expected = "marketing"
        else:
            expected = "utility"
        assert status["pricing"]["category"] == status["conversation"]["origin"]["type"]
        assert status["pricing"]["category"] == expected
        assert status["pricing"]["pricing_model"] == "PMP"


def test_non_whatsapp_contacts_produce_nothing(histories, tmp_path):
    others = [(c, m) for c, m in histories if c.channel.kind != "whatsapp" and m]
    assert others
    counts = write(tmp_path, others)
    assert counts["payloads"] == counts["files"] == 0
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compress", [False, True])
def test_same_inputs_give_identical_bytes(histories, tmp_path, compress):
    write(tmp_path / "a", histories, gzip=compress, malformed_rate=0.01)
    write(tmp_path / "b", histories, gzip=compress, malformed_rate=0.01)
    write(tmp_path / "c", histories, gzip=compress, malformed_rate=0.01, seed=1)
    assert digest(tmp_path / "a") == digest(tmp_path / "b") != digest(tmp_path / "c")


def test_gzip_holds_the_same_lines_with_a_fixed_header(month, histories, tmp_path):
    plain_dir, _, _ = month
    write(tmp_path, histories, gzip=True)
    files = sorted(tmp_path.iterdir())
    assert [p.name for p in files] == [p.name + ".gz" for p in sorted(plain_dir.iterdir())]
    for path in files:
        header = path.read_bytes()[:10]
        assert header[3] == 0  # no FNAME (nor any other optional field)
        assert header[4:8] == b"\0\0\0\0"  # mtime 0
    assert read_lines(tmp_path) == read_lines(plain_dir)


def test_a_rerun_replaces_the_previous_files(histories, tmp_path):
    write(tmp_path, histories, gzip=True)
    write(tmp_path, histories)
    assert all(path.suffix == ".jsonl" for path in tmp_path.iterdir())


def test_a_month_has_redeliveries_late_statuses_and_a_read_before_its_delivered(month):
    _, counts, payloads = month
    assert counts["duplicates"] > 0
    assert counts["late"] > 0
    lines = [json.dumps(p) for p in payloads]
    assert len(lines) - len(set(lines)) == counts["duplicates"]

    seen: dict[str, set[str]] = {}
    read_first = set()
    for payload in payloads:
        if kind_of(payload) in ("delivered", "read"):
            status = value_of(payload)["statuses"][0]
            before = seen.setdefault(status["id"], set())
            if status["status"] == "delivered" and "read" in before:
                read_first.add(status["id"])
            before.add(status["status"])
    assert read_first


def test_counts_add_up_and_nothing_arrives_at_or_after_the_end(month):
    out_dir, counts, payloads = month
    assert counts["payloads"] == len(payloads)
    assert counts["payloads"] == (
        counts["incoming_messages"] + counts["statuses"] + counts["duplicates"]
    )
    assert counts["malformed"] == 0
    names = sorted(path.name for path in out_dir.iterdir())  # no temporary bucket is left
    assert len(names) == counts["files"]
    # Files are per UTC arrival day and SPEC ends at a UTC midnight.
    assert names[-1] < f"{SPEC.end_at.date().isoformat()}.jsonl"
    assert all(int(event_of(p)["timestamp"]) < SPEC.end_at.timestamp() for p in payloads)


def test_malformed_lines_are_torn_copies_and_lose_nothing(month, histories, tmp_path):
    plain_dir, _, _ = month
    counts = write(tmp_path, histories, malformed_rate=0.05)
    lines = read_lines(tmp_path)
    whole = []
    for index, line in enumerate(lines):
        try:
            json.loads(line)
        except json.JSONDecodeError:
            following = lines[index + 1]
            assert following.startswith(line)  # the whole payload follows its torn copy
            assert len(line) < len(following)
        else:
            whole.append(line)
    assert len(lines) - len(whole) == counts["malformed"] > 0
    assert whole == read_lines(plain_dir)  # the payloads are those written without faults
