"""The app's own changes as Forge reports them back (FORGE.md 4, "Loops").

Forge sends an app the events of changes it made itself, like any other (rulequeue keeps
``ignoreSelf`` off so rules may react to rules), marked ``selfGenerated: true``, with the app's
user as ``atlassianId`` and, when the call that made the change sent
``X-Atlassian-Webhook-Trace``, that value as ``webhookTraceValue``. The REST server notes which
call it is serving (:func:`serving`) so the simulator, told of a change
(:meth:`JiraSimulator.app_changed`), can build those events (:func:`self_events`).

Nothing here is used in production.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from rulequeue.simulator.catalog import JsonObject
from rulequeue.simulator.forge_events import events_for
from rulequeue.simulator.state import Change

TRACE_HEADER = 'x-atlassian-webhook-trace'


@dataclass(frozen=True)
class AppCall:
    """The REST call being served: how it authenticated ('connect' or 'forge') and its trace header."""

    auth: str
    trace: str | None = None


# Set by the REST endpoint for the duration of one call; the resource handlers run inside it.
_CURRENT: ContextVar[AppCall | None] = ContextVar('rulequeue_simulator_app_call', default=None)


@contextlib.contextmanager
def serving(call: AppCall) -> Iterator[None]:
    """Within the block, :func:`current` is ``call``."""
    token = _CURRENT.set(call)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def current() -> AppCall | None:
    """The call being served, None outside one (a test changing the site directly)."""
    return _CURRENT.get()


def self_events(change: Change, app_user: Mapping[str, Any], call: AppCall | None) -> list[JsonObject]:
    """Forge's events for a change the app made: self-generated, by the app user, traced.

    Every change the app user makes is the app's own, whichever way the call authenticated
    (Connect-on-Forge is one app), so ``selfGenerated`` is always true here.
    """
    out = events_for(change, app_user, self_generated=True)
    trace = call.trace if call is not None else None
    if trace:
        for event in out:
            event['webhookTraceValue'] = trace
    return out
