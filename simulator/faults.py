"""Faults on demand for the simulated API: the ways real SaaS APIs misbehave, at chosen rates.

A `FaultProfile` says how often each fault hits a request; a `FaultInjector` draws them from a
seeded `random.Random` and remembers each endpoint's 429 burst. `SimulatorServer` applies what is
drawn, and only to requests that passed auth: a fault never turns a good token into a 401.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass

# Failures: at most one of these hits a request, drawn in this order from one number in [0, 1).
FAILURES = ("burst_429", "status_500", "status_503", "status_449", "dropped", "slow")
RATES = (*FAILURES, "repeated_page")
# Every fault the server counts, as `fault.<kind>` in `server.stats`. `rate_limited` is each 429
# answered while a burst lasts; a drawn `dropped` is either of the two dropped kinds.
FAULT_KINDS = (
    "burst_429",
    "rate_limited",
    "status_500",
    "status_503",
    "status_449",
    "dropped",
    "dropped_mid_body",
    "slow",
    "repeated_page",
)


@dataclass(frozen=True)
class FaultProfile:
    """Per-request chances of each fault (0 to 1) and how long the timed ones last."""

    burst_429: float = 0.0  # the endpoint starts answering 429 + Retry-After for burst_seconds
    status_500: float = 0.0
    status_503: float = 0.0  # half of them carry `Retry-After: 1`
    status_449: float = 0.0  # respond.io's "Retry With": the request was queued, send it again
    dropped: float = 0.0  # the connection closes unanswered, or (half) mid-body after the headers
    slow: float = 0.0  # the answer comes after slow_seconds
    repeated_page: float = 0.0  # a page after the first also repeats 1-3 records of the one before
    # Not the server's: the share of capture lines preceded by a torn copy (a crashed receiver).
    malformed_line: float = 0.0
    burst_seconds: tuple[float, float] = (1.0, 2.0)
    slow_seconds: tuple[float, float] = (0.1, 0.4)

    def __post_init__(self) -> None:
        rates = {kind: getattr(self, kind) for kind in RATES}
        if not all(0.0 <= rate <= 1.0 for rate in rates.values()):
            raise ValueError(f"fault rates must be between 0 and 1: {rates}")
        if sum(rates[kind] for kind in FAILURES) > 1.0:
            raise ValueError(f"the rates of {', '.join(FAILURES)} add up to more than 1")

    @classmethod
    def named(cls, name: str) -> FaultProfile:
        try:
            return PROFILES[name]
        except KeyError:
            raise ValueError(
                f"unknown fault profile {name!r}; choose one of {', '.join(PROFILES)}"
            ) from None

    @property
    def enabled(self) -> bool:
        return any(getattr(self, kind) for kind in RATES)


PROFILES: dict[str, FaultProfile] = {
    "none": FaultProfile(),
    # Now and then, as a healthy production API behaves.
    "light": FaultProfile(
        burst_429=0.002,
        status_500=0.005,
        status_503=0.005,
        status_449=0.003,
        dropped=0.005,
        slow=0.02,
        repeated_page=0.02,
        malformed_line=0.001,
        slow_seconds=(0.05, 0.2),
    ),
    # A bad day: about one request in six fails. Bursts and slow answers are kept short so a
    # 230-contact workspace still downloads in seconds with the client's default retry policy.
    "heavy": FaultProfile(
        burst_429=0.004,
        status_500=0.03,
        status_503=0.03,
        status_449=0.02,
        dropped=0.03,
        slow=0.05,
        repeated_page=0.1,
        malformed_line=0.01,
    ),
}


@dataclass(frozen=True)
class Fault:
    """What one request meets: a failure kind (or None) and how to carry it out."""

    kind: str | None = None  # one of FAULT_KINDS except repeated_page, or None
    retry_after: int | None = None  # seconds, for 429 and some 503
    delay: float = 0.0  # slow: seconds to wait before answering
    declare_length: bool = True  # dropped_mid_body: Content-Length sent (else close-delimited)
    repeat: int = 0  # records of the previous page to repeat at the head of this one


NO_FAULT = Fault()


class FaultInjector:
    """Draws each request's fault from a seeded generator, thread-safely."""

    def __init__(self, profile: FaultProfile, seed: int) -> None:
        self.profile = profile
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._bursts: dict[str, float] = {}  # endpoint -> monotonic time its 429 burst ends

    def draw(self, endpoint: str) -> Fault:
        p = self.profile
        with self._lock:
            # One draw of the seeded generator per request, so the n-th request meets the same
            # fault whatever the requests before it met (bursts, retries, concurrency).
            rng = random.Random(self._rng.getrandbits(64))
            now = time.monotonic()
            burst_ends = self._bursts.get(endpoint, 0.0)
            if now < burst_ends:
                return Fault("rate_limited", retry_after=_whole_seconds(burst_ends - now))
            kind = _pick(rng.random(), p)
            # Repeats ride only on answers that arrive whole: each one counted reaches the client.
            wants_repeat = rng.random() < p.repeated_page and kind in (None, "slow")
            repeat = rng.randint(1, 3) if wants_repeat else 0
            if kind == "burst_429":
                length = rng.uniform(*p.burst_seconds)
                self._bursts[endpoint] = now + length
                return Fault(kind, retry_after=_whole_seconds(length))
        if kind == "status_503":
            return Fault(kind, retry_after=1 if rng.random() < 0.5 else None)
        if kind == "dropped" and rng.random() < 0.5:
            return Fault("dropped_mid_body", declare_length=rng.random() < 0.5)
        if kind == "slow":
            return Fault(kind, delay=rng.uniform(*p.slow_seconds), repeat=repeat)
        return Fault(kind, repeat=repeat)


def _pick(u: float, profile: FaultProfile) -> str | None:
    for kind in FAILURES:
        rate = getattr(profile, kind)
        if u < rate:
            return kind
        u -= rate
    return None


def _whole_seconds(seconds: float) -> int:
    """Retry-After is a whole number of seconds; round up so waiting it out ends the burst."""
    return max(1, math.ceil(seconds))
