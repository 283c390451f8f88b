"""The one HTTP layer every API source uses: pooled connections, timeouts, retries, bearer auth,
and the bounds that keep a hostile or broken server from leaking the token or hanging a run.

- The token goes only to the origin (scheme, host, port) of the base URL. A URL of another origin,
  whether asked for directly, named by a page's link or by a redirect, stops the run before any
  request goes there; redirects are followed here (never by `requests`), same-origin ones up to
  `max_redirects`. The environment adds nothing: no `.netrc` credentials, no proxies.
- Every request ends within `deadline` seconds, connect, headers and body together (a server
  sending a byte now and then never trips the per-read `timeout`), and its body within
  `max_body_bytes`. Neither is retried: a page of a hundred records that is still arriving after
  two minutes, or that outgrows 64 MiB, comes from a server trickling or misbehaving on purpose,
  and retrying would multiply the wait by the attempts for nothing.
- 429 answers are waited out for `Retry-After` seconds; 5xx and 449 answers, dropped connections,
  stalled reads and bodies cut short (a JSON answer that does not parse) are retried after
  `Retry-After` when given, else with exponential backoff and jitter; 401/403 stop the run, and
  so does a success that is not JSON at all (say a proxy's or captive portal's HTML page).

The token is never logged, printed, shown by `repr` or put in an exception message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import random
import socket
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError
from requests.structures import CaseInsensitiveDict
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

log = logging.getLogger("wabi.extract.http")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504, 449})
DEFAULT_PORTS = {"http": 80, "https": 443}
# respond.io answers a page of at most 100 records in well under a second; two minutes leaves
# room for a slow day without letting a trickling server hold a run.
DEFAULT_DEADLINE_SECONDS = 120.0
# A page of 100 contacts or messages is a few hundred KiB: 64 MiB is room for the largest
# records, not for an endless body.
DEFAULT_MAX_BODY_BYTES = 64 * 2**20
DEFAULT_MAX_REDIRECTS = 5
_CHUNK_BYTES = 64 * 1024


class SourceAuthError(RuntimeError):
    """The source refused the credentials (401/403)."""


class SourceRequestError(RuntimeError):
    """The source answered with an error that retrying will not fix, or retries ran out."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 6
    backoff_base_seconds: float = 0.5
    backoff_max_seconds: float = 20.0
    max_retry_after_seconds: float = 120.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        """Full jitter: a random wait up to the exponential ceiling."""
        ceiling = min(self.backoff_max_seconds, self.backoff_base_seconds * 2**attempt)
        return rng.uniform(ceiling / 2, ceiling)


class _Secret:
    """A value that never shows in a `repr`, a traceback's locals or a debugger."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return "<hidden>"


@dataclass(frozen=True)
class _Answer:
    status_code: int
    headers: CaseInsensitiveDict[str]
    body: bytes


class BearerSession:
    """Requests to one base URL with one bearer token, under the bounds of this module."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        deadline: float = DEFAULT_DEADLINE_SECONDS,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_redirects: int = DEFAULT_MAX_REDIRECTS,
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
    ) -> None:
        if not token:
            raise SourceAuthError("no API token given (set WABI_PLATFORM_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self.origin = _origin(self.base_url)
        if self.origin is None:
            raise SourceRequestError("the API base URL (WABI_PLATFORM_URL) is not an http(s) URL")
        self.timeout = timeout  # per connect and per read
        self.deadline = deadline  # per request: connect, headers and the whole body
        self.max_body_bytes = max_body_bytes
        self.max_redirects = max_redirects
        self.retry = retry or RetryPolicy()
        self._token = _Secret(token)
        self._rng = random.Random()
        self._session = requests.Session()
        # No `.netrc` credentials and no proxies from the environment: a proxy on a plain-http
        # base URL would read the token.
        self._session.trust_env = False
        adapter = _DeadlineAdapter(
            pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0
        )
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # The token is not among these: it is added to each request once its URL is checked.
        self._session.headers.update({"Accept": "application/json", "User-Agent": "wabi/0.1"})
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0}

    def __repr__(self) -> str:  # never show the token
        return f"BearerSession({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def require_same_origin(self, url: str, what: str) -> None:
        """Refuse `url` unless it is on the base URL's origin; `what` says where it came from.
        The message names the other origin only: a path or query could carry anything."""
        origin = _origin(url)
        if origin != self.origin:
            named = "a URL that is not http(s)" if origin is None else origin
            raise SourceRequestError(
                f"{what} points to {named}, another origin than {self.origin}: refused, "
                f"the token goes only to the origin of WABI_PLATFORM_URL"
            )

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """Send one request, retrying what is worth retrying; return the decoded JSON body."""
        url = self.url(path_or_url)
        self.require_same_origin(url, f"{method} {_safe(url)}")
        problem = ""
        for attempt in range(self.retry.attempts):
            self.stats["requests"] += 1
            try:
                answer = self._send(method, url, kwargs)
            # ChunkedEncodingError: the connection closed before the declared body had arrived.
            except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as error:
                problem = type(error).__name__  # the message could quote the request
                wait = self.retry.backoff(attempt, self._rng)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
                continue
            if answer.status_code == 429:
                self.stats["rate_limited"] += 1
                problem = "HTTP 429"
                wait = self._retry_after(answer, attempt)
                log.info("%s %s: rate limited, waiting %.1fs", method, _safe(url), wait)
                self._pause(wait, attempt)
                continue
            if answer.status_code in (401, 403):
                raise SourceAuthError(
                    f"{method} {_safe(url)} was refused ({answer.status_code}): "
                    "check WABI_PLATFORM_TOKEN and the token's permissions"
                )
            if answer.status_code in RETRYABLE_STATUS:
                problem = f"HTTP {answer.status_code}"
                wait = self._retry_after(answer, attempt)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
                continue
            if answer.status_code >= 300:
                raise SourceRequestError(
                    f"{method} {_safe(url)} failed with HTTP {answer.status_code}: "
                    f"{self._error_text(answer)}",
                    answer.status_code,
                )
            content_type = _media_type(answer.headers)
            if not _is_json(content_type):
                raise SourceRequestError(
                    f"{method} {_safe(url)} answered {content_type}, not JSON "
                    f"(HTTP {answer.status_code}; a proxy's or captive portal's page?)",
                    answer.status_code,
                )
            try:
                return json.loads(answer.body)
            except (ValueError, RecursionError):
                # A body sent without a length and cut short reads as a whole, broken document.
                problem = "the body is not complete JSON"
                wait = self.retry.backoff(attempt, self._rng)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
        raise SourceRequestError(
            f"{method} {_safe(url)} still failing after {self.retry.attempts} attempts "
            f"(last: {problem})"
        )

    def _send(self, method: str, url: str, kwargs: dict[str, Any]) -> _Answer:
        """One attempt: the request and the same-origin redirects it meets, all within the
        deadline, the token added to each request only after its URL is checked."""
        first = f"{method} {_safe(url)}"
        deadline = _Deadline(self.deadline)
        _watched.deadline = deadline
        try:
            for _hop in range(self.max_redirects + 1):
                response = self._session.request(
                    method,
                    url,
                    headers={"Authorization": f"Bearer {self._token.value}"},
                    timeout=(min(self.timeout, deadline.remaining()), self.timeout),
                    allow_redirects=False,
                    stream=True,
                    **kwargs,
                )
                with response:
                    target = self._session.get_redirect_target(response)
                    if target is None:
                        return _Answer(
                            response.status_code,
                            response.headers,
                            self._read_body(response, deadline, first),
                        )
                    url = urljoin(response.url, target)
                    self.require_same_origin(url, f"{first}: the redirect")
                    method, kwargs = _redirected(response.status_code, method, kwargs)
            raise SourceRequestError(f"{first} redirects more than {self.max_redirects} times")
        except requests.RequestException:
            # The watchdog closing the connection shows up as a dropped one: say what it was.
            if deadline.expired:
                raise self._deadline_error(first) from None
            raise
        finally:
            deadline.cancel()
            _watched.deadline = None

    def _read_body(self, response: requests.Response, deadline: _Deadline, what: str) -> bytes:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_body_bytes:
            raise self._too_large_error(what)
        body = bytearray()
        for chunk in response.iter_content(_CHUNK_BYTES):
            body += chunk
            if len(body) > self.max_body_bytes:
                raise self._too_large_error(what)
        # A body without a declared length ends when the connection does, the watchdog's too.
        if deadline.expired:
            raise self._deadline_error(what)
        return bytes(body)

    def _deadline_error(self, what: str) -> SourceRequestError:
        return SourceRequestError(
            f"{what} did not finish within its {self.deadline:g} s deadline "
            "(connect, headers and body): the server is trickling or stalled"
        )

    def _too_large_error(self, what: str) -> SourceRequestError:
        return SourceRequestError(
            f"{what} answered a body over the {self.max_body_bytes / 2**20:g} MiB limit"
        )

    def _error_text(self, answer: _Answer) -> str:
        """The API's error code and message, else the start of the body; never the token,
        should a proxy echo the request."""
        try:
            body = json.loads(answer.body)
            text = f"{body.get('code')} {body.get('message')}"
        except (ValueError, RecursionError, AttributeError):
            text = answer.body[:200].decode("utf-8", errors="replace")
        return text.replace(self._token.value, "<token>")

    def _retry_after(self, answer: _Answer, attempt: int) -> float:
        """The server's `Retry-After` (seconds, capped), else our own backoff."""
        header = answer.headers.get("Retry-After", "")
        try:
            return min(float(header), self.retry.max_retry_after_seconds)
        except ValueError:
            return self.retry.backoff(attempt, self._rng)

    def _pause(self, seconds: float, attempt: int) -> None:
        if attempt + 1 < self.retry.attempts:
            self.stats["retries"] += 1
            time.sleep(seconds)


# -- the deadline: a watchdog that closes the request's connection when its time is up --------
_watched = threading.local()  # .deadline: the _Deadline of the request this thread is sending


class _Deadline:
    """Shuts the connection of one request down when `seconds` have passed, which wakes a read
    blocked on it whatever the per-read timeout: connect, headers and body are all bounded."""

    def __init__(self, seconds: float) -> None:
        self.ends = time.monotonic() + seconds
        self.expired = False
        self.connection: Any = None  # the urllib3 connection in use, set by _DeadlinePool
        self._lock = threading.Lock()
        self._done = False
        self._timer: threading.Timer | None = None
        self._arm(seconds)

    def remaining(self) -> float:
        return max(0.001, self.ends - time.monotonic())

    def cancel(self) -> None:
        with self._lock:
            self._done = True
            if self._timer is not None:
                self._timer.cancel()

    def _arm(self, seconds: float) -> None:
        self._timer = threading.Timer(seconds, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            if self._done:
                return
            self.expired = True
            sock = getattr(self.connection, "sock", None)
            if sock is None:  # not connected yet: the connect timeout is at most the deadline
                self._arm(0.05)
                return
            # socket.socket's own shutdown: a TLS socket's would drop its state under the
            # reading thread. OSError: the connection is already closed.
            with contextlib.suppress(OSError):
                socket.socket.shutdown(sock, socket.SHUT_RDWR)


class _DeadlinePoolMixin:
    """Hands the connection a request takes to the deadline of the thread sending it."""

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        deadline: _Deadline | None = getattr(_watched, "deadline", None)
        if deadline is not None:
            deadline.connection = conn
        return conn


class _DeadlineHTTPPool(_DeadlinePoolMixin, HTTPConnectionPool):
    pass


class _DeadlineHTTPSPool(_DeadlinePoolMixin, HTTPSConnectionPool):
    pass


class _DeadlineAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {
            "http": _DeadlineHTTPPool,
            "https": _DeadlineHTTPSPool,
        }


# -- small rules ---------------------------------------------------------------------------------
def _origin(url: str) -> str | None:
    """`scheme://host:port` of an http(s) URL, the port always written; None for anything else."""
    try:
        parts = urlsplit(url)
        scheme = parts.scheme.lower()
        port = parts.port or DEFAULT_PORTS.get(scheme)
    except ValueError:  # a port that is not a number
        return None
    host = parts.hostname or ""
    if scheme not in DEFAULT_PORTS or not host:
        return None
    return f"{scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _redirected(status: int, method: str, kwargs: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """What a redirect asks for next: 307 and 308 repeat the request as it was; 301, 302 and 303
    turn it into a GET without a body, as browsers and `requests` do."""
    if status in (307, 308) or method in ("GET", "HEAD"):
        return method, kwargs
    return "GET", {name: value for name, value in kwargs.items() if name not in ("json", "data")}


def _media_type(headers: CaseInsensitiveDict[str]) -> str:
    return headers.get("Content-Type", "").split(";", 1)[0].strip().lower()


def _is_json(media_type: str) -> bool:
    """JSON, or no type said (some servers send none; the body decides)."""
    return not media_type or media_type.endswith(("/json", "+json"))


def _safe(url: str) -> str:
    """The URL without its query string (cursors are noise in logs)."""
    return url.split("?", 1)[0]
