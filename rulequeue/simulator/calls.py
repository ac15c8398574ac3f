"""What the app asked of Jira (:class:`RecordedCall`) and the failures Jira answers with (:class:`FaultPlan`)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class RecordedCall:
    """One REST call the app made to the simulated Jira, as received and as answered.

    Attributes:
        method: HTTP method, upper case.
        path: The raw request path (percent-encoding kept), without the query.
        query: The raw query string ('' for none).
        json: The parsed JSON body, or None (no body, or not JSON).
        status: The HTTP status the simulator answered with.
        jwt_valid: Whether the Connect JWT verified (signature, claims, issuer and qsh).
        jwt_error: Why it did not, or None.
        claims: The verified token's claims, or None when it did not verify.
        at: When the call arrived (epoch seconds).
        auth: 'connect' (a Connect JWT) or 'forge' (``Authorization: Bearer`` with an app system
            token, under ``/ex/jira/<cloudId>``); for 'forge', ``jwt_valid`` says whether the
            token was one Forge minted for this site and unexpired, and ``claims`` are its claims.
    """

    method: str
    path: str
    query: str
    json: Any
    status: int
    jwt_valid: bool
    jwt_error: str | None
    claims: dict[str, Any] | None
    at: float
    auth: str = 'connect'


@dataclass
class Fault:
    """Answer the next ``times`` matching calls with ``status`` instead of serving them."""

    status: int
    times: int
    retry_after: float | None = None
    method: str | None = None
    path_contains: str | None = None

    def matches(self, method: str, path: str) -> bool:
        if self.times <= 0:
            return False
        if self.method is not None and self.method.upper() != method:
            return False
        return self.path_contains is None or self.path_contains in path


class FaultPlan:
    """Faults queued by ``fail_next``, consumed in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(self, fault: Fault) -> None:
        self._faults.append(fault)

    def take(self, method: str, path: str) -> Fault | None:
        """The first fault matching this call, with one use consumed; None if none applies."""
        for fault in self._faults:
            if fault.matches(method, path):
                fault.times -= 1
                return fault
        self._faults = [f for f in self._faults if f.times > 0]
        return None

    def clear(self) -> None:
        self._faults.clear()

    @property
    def pending(self) -> int:
        """How many faulty answers are still to come."""
        return sum(max(f.times, 0) for f in self._faults)


def fault_headers(fault: Fault) -> dict[str, str]:
    """Headers of a faulty answer; a 429 carries Jira's rate-limit headers."""
    headers: dict[str, str] = {}
    if fault.retry_after is not None:
        # Jira sends whole seconds; a fraction is rounded up rather than sent as a non-standard value.
        headers['Retry-After'] = str(math.ceil(fault.retry_after))
    if fault.status == 429:
        headers.update(
            {'X-RateLimit-Limit': '100', 'X-RateLimit-Remaining': '0', 'RateLimit-Reason': 'jira-burst-based'}
        )
        # The points-based quota's beta headers, sent beside them since March 2026 (FORGE.md 6).
        headers.update(
            {
                'Beta-RateLimit-Policy': '"tenant-app-quota";q=65000;w=3600',
                'Beta-RateLimit': '"tenant-app-quota";r=0;t=' + str(math.ceil(fault.retry_after or 1)),
                'X-Beta-RateLimit-Reason': 'jira-quota-tenant-based',
                'X-Beta-RateLimit-NearLimit': 'true',
            }
        )
    return headers


def fault_body(status: int) -> dict[str, Any]:
    if status == 429:
        message = 'Rate limit exceeded.'
    elif status >= 500:
        message = 'Internal server error (injected by the Jira simulator).'
    else:
        message = f'Injected failure {status}.'
    return {'errorMessages': [message], 'errors': {}}
