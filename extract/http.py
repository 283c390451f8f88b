"""The one HTTP layer every API source uses: pooled connections, timeouts, retries, bearer auth.

429 answers are waited out for `Retry-After` seconds; 5xx and 449 answers, dropped connections and
bodies cut short (a success whose JSON does not parse) are retried after `Retry-After` when given,
else with exponential backoff and jitter; 401/403 stop the run. The token is never logged, printed
or put in an exception message.
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import dataclass
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.exceptions import ChunkedEncodingError

log = logging.getLogger("wabi.extract.http")

RETRYABLE_STATUS = frozenset({500, 502, 503, 504, 449})


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


class BearerSession:
    """A `requests.Session` bound to one base URL and token."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
    ) -> None:
        if not token:
            raise SourceAuthError("no API token given (set WABI_PLATFORM_TOKEN)")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._rng = random.Random()
        self._session = requests.Session()
        adapter = HTTPAdapter(pool_connections=pool_size, pool_maxsize=pool_size, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.headers.update(
            {
                "Authorization": f"Bearer {token}",
                "Accept": "application/json",
                "User-Agent": "wabi/0.1",
            }
        )
        self.stats = {"requests": 0, "retries": 0, "rate_limited": 0}

    def __repr__(self) -> str:  # never show the token
        return f"BearerSession({self.base_url!r})"

    def close(self) -> None:
        self._session.close()

    def url(self, path: str) -> str:
        return path if path.startswith(("http://", "https://")) else f"{self.base_url}{path}"

    def request_json(self, method: str, path_or_url: str, **kwargs: Any) -> Any:
        """Send one request, retrying what is worth retrying; return the decoded JSON body."""
        url = self.url(path_or_url)
        problem = ""
        for attempt in range(self.retry.attempts):
            self.stats["requests"] += 1
            try:
                response = self._session.request(method, url, timeout=self.timeout, **kwargs)
            # ChunkedEncodingError: the connection closed before the declared body had arrived.
            except (requests.ConnectionError, requests.Timeout, ChunkedEncodingError) as error:
                problem = type(error).__name__  # the message could quote the request
                wait = self.retry.backoff(attempt, self._rng)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
                continue
            if response.status_code == 429:
                self.stats["rate_limited"] += 1
                problem = "HTTP 429"
                wait = self._retry_after(response, attempt)
                log.info("%s %s: rate limited, waiting %.1fs", method, _safe(url), wait)
                self._pause(wait, attempt)
                continue
            if response.status_code in (401, 403):
                raise SourceAuthError(
                    f"{method} {_safe(url)} was refused ({response.status_code}): "
                    "check WABI_PLATFORM_TOKEN and the token's permissions"
                )
            if response.status_code in RETRYABLE_STATUS:
                problem = f"HTTP {response.status_code}"
                wait = self._retry_after(response, attempt)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
                continue
            if response.status_code >= 400:
                raise SourceRequestError(
                    f"{method} {_safe(url)} failed with HTTP {response.status_code}: "
                    f"{_error_text(response)}",
                    response.status_code,
                )
            try:
                return response.json()
            except ValueError:
                # A body sent without a length and cut short reads as a whole, broken document.
                problem = "the body is not complete JSON"
                wait = self.retry.backoff(attempt, self._rng)
                log.warning("%s %s: %s; retrying in %.1fs", method, _safe(url), problem, wait)
                self._pause(wait, attempt)
        raise SourceRequestError(
            f"{method} {_safe(url)} still failing after {self.retry.attempts} attempts "
            f"(last: {problem})"
        )

    def _retry_after(self, response: requests.Response, attempt: int) -> float:
        """The server's `Retry-After` (seconds, capped), else our own backoff."""
        header = response.headers.get("Retry-After", "")
        try:
            return min(float(header), self.retry.max_retry_after_seconds)
        except ValueError:
            return self.retry.backoff(attempt, self._rng)

    def _pause(self, seconds: float, attempt: int) -> None:
        if attempt + 1 < self.retry.attempts:
            self.stats["retries"] += 1
            time.sleep(seconds)


def _safe(url: str) -> str:
    """The URL without its query string (cursors are noise in logs)."""
    return url.split("?", 1)[0]


def _error_text(response: requests.Response) -> str:
    try:
        body = response.json()
        return f"{body.get('code')} {body.get('message')}"
    except (ValueError, AttributeError):
        return response.text[:200]
