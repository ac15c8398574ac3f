"""Our retry policy: capped exponential back-off with jitter, honouring Retry-After."""

from __future__ import annotations

import random


def backoff(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before attempt ``attempt + 1``.

    "Equal jitter": half the exponential delay is fixed, half random, so retries of many
    executions hit by the same 429 spread out instead of returning together. Jira's
    ``Retry-After`` is a floor: coming back sooner only earns another 429.
    """
    delay = min(cap, base * float(2 ** max(0, attempt - 1)))
    delay = delay / 2 + random.uniform(0, delay / 2)
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
