"""Headless Chromium (Debian's `chromium`) driven over the DevTools protocol: open a report file,
wait until its charts have rendered, and tell what the page logged and requested.

The report screenshot in `docs/`, the render benchmark and the browser tests all look at the page
through this one class, so what they see is what a reader's browser shows.
"""

import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_NAMES = ("chromium", "chromium-browser")
# The page sets this once every chart has rendered (or failed to): see report.html.j2.
RENDERED_FLAG = "window.wabiReport && window.wabiReport.done"
VIEWPORT = {"width": 1280, "height": 900}


class BrowserError(RuntimeError):
    """Chromium could not be started, or the page did not finish rendering in time."""


def find_chromium() -> str | None:
    """The path of Debian's chromium, or None when it is not installed."""
    return next((path for name in CHROMIUM_NAMES if (path := shutil.which(name))), None)


@dataclass
class PageVisit:
    """What happened while a page loaded: its console errors and uncaught exceptions, every URL
    it requested, and how long it took until its charts had rendered."""

    url: str
    console_errors: list[str] = field(default_factory=list)
    requested_urls: list[str] = field(default_factory=list)
    render_seconds: float = 0.0

    @property
    def requests_leaving_the_file(self) -> list[str]:
        """Requests for anything but the file itself (inline `data:` URLs never leave it)."""
        return [
            url for url in self.requested_urls if url != self.url and not url.startswith("data:")
        ]


class HeadlessChromium:
    """One headless Chromium process and one tab, spoken to over the DevTools protocol.

    Every host name resolves to nothing (`--host-resolver-rules`), so a page that tries to reach
    another host fails to, and the attempt is still seen as a request.
    """

    def __init__(self, timeout_seconds: float = 60.0) -> None:
        executable = find_chromium()
        if not executable:
            raise BrowserError("chromium is not installed (Debian: apt-get install chromium)")
        self.executable = executable
        self.timeout_seconds = timeout_seconds
        self._ids = count(1)
        self._events: list[dict[str, Any]] = []

    def __enter__(self) -> "HeadlessChromium":
        self._profile = tempfile.TemporaryDirectory(prefix="wabi-chromium-")
        try:
            self._start()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _start(self) -> None:
        self._process = subprocess.Popen(
            [
                self.executable,
                "--headless",
                "--no-sandbox",  # runs as root in CI
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--host-resolver-rules=MAP * ~NOTFOUND",
                "--remote-debugging-port=0",
                f"--user-data-dir={self._profile.name}",
                "about:blank",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self._socket = connect(self._browser_endpoint(), max_size=None, open_timeout=10)
        target = self._call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self._session = self._call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self._call(f"{domain}.enable", session=True)
        self._call(
            "Emulation.setDeviceMetricsOverride",
            {**VIEWPORT, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    def __exit__(self, *exc_info: object) -> None:
        socket = getattr(self, "_socket", None)
        if socket is not None:
            socket.close()
        process = getattr(self, "_process", None)
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._profile.cleanup()

    def _browser_endpoint(self) -> str:
        """Chromium writes the port it chose, and the browser's path, to DevToolsActivePort."""
        active_port = Path(self._profile.name) / "DevToolsActivePort"
        deadline = time.monotonic() + self.timeout_seconds
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise BrowserError(f"{self.executable} exited with {self._process.returncode}")
            lines = active_port.read_text().split() if active_port.exists() else []
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
            time.sleep(0.05)
        raise BrowserError(f"{self.executable} did not open its DevTools port")

    def _call(
        self, method: str, params: dict[str, Any] | None = None, session: bool = False
    ) -> dict[str, Any]:
        """Send one command and wait for its answer, keeping the events that arrive meanwhile."""
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = self._session
        self._socket.send(json.dumps(message))
        while True:
            answer = json.loads(self._socket.recv(timeout=self.timeout_seconds))
            if answer.get("id") == message_id:
                if "error" in answer:
                    raise BrowserError(f"{method}: {answer['error'].get('message')}")
                return answer.get("result", {})
            if "method" in answer:
                self._events.append(answer)

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page (awaited if a promise)."""
        result = self._call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"{expression}: {result['exceptionDetails'].get('text')}")
        return result["result"].get("value")

    def open(self, page: Path) -> PageVisit:
        """Load `page` and wait until it says its charts have rendered."""
        url = page.resolve().as_uri()
        self._events.clear()
        started = time.monotonic()
        self._call("Page.navigate", {"url": url}, session=True)
        deadline = started + self.timeout_seconds
        while not self.evaluate(f"Boolean({RENDERED_FLAG})"):
            if time.monotonic() > deadline:
                raise BrowserError(f"{url} did not render within {self.timeout_seconds:.0f} s")
            time.sleep(0.02)
        visit = PageVisit(url=url, render_seconds=time.monotonic() - started)
        for event in self._events:
            self._record(event, visit)
        return visit

    @staticmethod
    def _record(event: dict[str, Any], visit: PageVisit) -> None:
        method, params = event["method"], event.get("params", {})
        if method == "Network.requestWillBeSent":
            visit.requested_urls.append(params["request"]["url"])
        elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
            text = " ".join(str(arg.get("value", arg.get("description"))) for arg in params["args"])
            visit.console_errors.append(text)
        elif method == "Runtime.exceptionThrown":
            details = params["exceptionDetails"]
            visit.console_errors.append(
                details.get("exception", {}).get("description") or details.get("text", "")
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
            visit.console_errors.append(params["entry"]["text"])

    def screenshot(self, out: Path, selector: str = "body") -> Path:
        """A PNG of the element `selector` (the whole page by default), at its full height."""
        height = self.evaluate(
            f"Math.ceil(document.querySelector({json.dumps(selector)}).getBoundingClientRect()"
            ".bottom + window.scrollY)"
        )
        png = self._call(
            "Page.captureScreenshot",
            {
                "format": "png",
                "captureBeyondViewport": True,
                "clip": {"x": 0, "y": 0, "width": VIEWPORT["width"], "height": height, "scale": 1},
            },
            session=True,
        )["data"]
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(base64.b64decode(png))
        return out


def screenshot_page(page: Path, out: Path) -> Path:
    """A PNG of `page` as it first shows (the report's Overview), once its charts have rendered."""
    with HeadlessChromium() as browser:
        visit = browser.open(page)
        if visit.console_errors:
            raise BrowserError(f"{page} logged errors: {visit.console_errors}")
        return browser.screenshot(out)
