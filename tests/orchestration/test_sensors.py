"""The capture sensor starts a refresh when capture files appear or grow; the failure sensor
logs an alert and POSTs it when WABI_ALERT_WEBHOOK is set."""

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import dagster as dg
import pytest

from orchestration.definitions import defs
from orchestration.defs.sensors import alert_on_run_failure, new_captures_sensor, send_alert


def _tick(monkeypatch, webhook_dir, cursor=None):
    monkeypatch.setenv("WABI_WEBHOOK_DIR", str(webhook_dir))
    for name in ("WABI_PLATFORM_URL", "WABI_PLATFORM_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    context = dg.build_sensor_context(cursor=cursor, repository_def=defs.get_repository_def())
    return new_captures_sensor.evaluate_tick(context)


def test_new_and_grown_capture_files_start_a_refresh_once(monkeypatch, tmp_path):
    capture = tmp_path / "meta" / "2026-11-24.jsonl"
    capture.parent.mkdir()
    capture.write_text('{"object": "whatsapp_business_account", "entry": []}\n')

    first = _tick(monkeypatch, tmp_path)
    again = _tick(monkeypatch, tmp_path, first.cursor)
    capture.write_text(capture.read_text() * 2)
    grown = _tick(monkeypatch, tmp_path, first.cursor)

    (request,) = first.run_requests
    assert "raw/whatsapp_cloud__payloads" in {k.to_user_string() for k in request.asset_selection}
    assert not again.run_requests
    assert "no new or grown capture file" in again.skip_message
    (regrown,) = grown.run_requests
    assert regrown.run_key != request.run_key
    assert grown.cursor != first.cursor


def test_the_capture_sensor_skips_without_a_capture_directory(monkeypatch, tmp_path):
    result = _tick(monkeypatch, tmp_path / "missing")
    assert not result.run_requests
    assert "WABI_WEBHOOK_DIR" in result.skip_message


class _Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Receiver.received.append(json.loads(body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    _Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", _Receiver.received
    server.shutdown()
    server.server_close()


def test_a_failed_run_is_logged_and_posted(monkeypatch, receiver, caplog):
    url, received = receiver
    monkeypatch.setenv("WABI_ALERT_WEBHOOK", url)

    @dg.op
    def breaks() -> None:
        raise RuntimeError("the warehouse is on fire")

    @dg.job
    def failing_job() -> None:
        breaks()

    instance = dg.DagsterInstance.ephemeral()
    result = failing_job.execute_in_process(instance=instance, raise_on_error=False)
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.RUN_FAILURE)
    context = dg.build_run_status_sensor_context(
        sensor_name="alert_on_run_failure",
        dagster_event=failure,
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure()

    with caplog.at_level(logging.ERROR, logger="wabi.alerts"):
        alert_on_run_failure(context)

    (alert,) = received
    assert alert["text"].startswith(f"wabi: run {result.run_id[:8]} of failing_job failed")
    assert any("failing_job failed" in r.message for r in caplog.records)


def test_an_alert_that_cannot_be_sent_is_logged_not_raised(caplog):
    with caplog.at_level(logging.ERROR, logger="wabi.alerts"):
        send_alert("wabi: test", "http://127.0.0.1:9/unreachable")
    assert [r.message for r in caplog.records] == [
        "wabi: test",
        "the alert could not be sent: ConnectionError",
    ]
