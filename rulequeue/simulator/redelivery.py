"""Jira's webhook re-delivery: a failed delivery is sent again, same identifier, a retry count.

Jira Cloud retries a delivery when the app answers 408, 409, 425, 429 or 5xx, or does not
answer (shared/CONNECT.md section 3), about five times over up to half an hour. The simulator
plays that with a configurable, compressed schedule, and logs every delivery so a test can
tell which ones the app accepted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import httpx

from rulequeue.simulator.catalog import JsonObject

RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})
TRANSPORT_ERROR = 0  # logged as the status of an attempt that got no answer

Send = Callable[[JsonObject, str, int | None], Awaitable[httpx.Response]]


def retryable(status: int) -> bool:
    return status == TRANSPORT_ERROR or status in RETRYABLE_STATUSES or status >= 500


@dataclass
class Delivery:
    """One webhook delivery and the status of each attempt (0: no answer)."""

    delivery_id: str
    body: JsonObject
    statuses: list[int] = field(default_factory=list)

    @property
    def accepted(self) -> bool:
        """Whether the app's last answer was 2xx: from then on the app owns the event."""
        return bool(self.statuses) and 200 <= self.statuses[-1] < 300

    @property
    def event(self) -> str:
        return str(self.body.get('webhookEvent'))

    @property
    def issue_key(self) -> str | None:
        issue = self.body.get('issue')
        return str(issue['key']) if isinstance(issue, dict) and 'key' in issue else None


async def deliver(send: Send, delivery: Delivery, delays: Sequence[float]) -> httpx.Response | None:
    """Send ``delivery``, then again after each of ``delays`` while the answer is retryable.

    With no delays this is one plain attempt whose transport errors propagate, as before
    re-delivery existed. Returns the last answer (None if the last attempt got none).
    """
    attempts = len(delays) + 1
    answer: httpx.Response | None = None
    for attempt in range(attempts):
        retry = attempt if attempt else None
        try:
            answer = await send(delivery.body, delivery.delivery_id, retry)
        except httpx.TransportError:
            if not delays:
                raise
            answer = None
            delivery.statuses.append(TRANSPORT_ERROR)
        else:
            delivery.statuses.append(answer.status_code)
        if not retryable(delivery.statuses[-1]) or attempt == attempts - 1:
            return answer
        await asyncio.sleep(delays[attempt])
    return answer
