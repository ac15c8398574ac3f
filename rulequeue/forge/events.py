"""Forge event bodies: the two envelopes, the events rulequeue handles, and their dedupe key.

Forge sends product and lifecycle events either bare or wrapped as ``{"payload": {...}}`` with
a ``retryContext`` on re-deliveries (FORGE.md §4); both are accepted. Forge sends no delivery
id and a new token per delivery, so duplicates are recognised by a key over the body's
identifying fields minus ``retryContext``.

Anything malformed or of a type we don't handle raises
:class:`~rulequeue.errors.ForgeEventRejected`: the route answers 2xx and dead-letters it,
because Forge re-delivers every non-2xx answer four times.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rulequeue.errors import ForgeEventRejected
from rulequeue.forge import link_worklog
from rulequeue.forge.link_worklog import IssueLinkEvent, WorklogEvent

CREATED = 'avi:jira:created:issue'
UPDATED = 'avi:jira:updated:issue'
ASSIGNED = 'avi:jira:assigned:issue'
DELETED = 'avi:jira:deleted:issue'
COMMENTED = 'avi:jira:commented:issue'
INSTALLED = 'avi:forge:installed:app'
UPGRADED = 'avi:forge:upgraded:app'

# Forge event -> (the Connect webhookEvent our matching understands, the rule triggers it may
# fire). Forge fires ``updated`` beside every ``assigned``, so issue_assigned comes only from
# ``assigned`` and the other update triggers only from ``updated``: each rule runs once.
# A commented event is also sent for an edit; an edited comment maps to comment_updated,
# which fires nothing, as with Connect.
TRIGGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    CREATED: ('jira:issue_created', ('issue_created',)),
    UPDATED: ('jira:issue_updated', ('issue_updated', 'field_value_changed', 'issue_transitioned')),
    ASSIGNED: ('jira:issue_updated', ('issue_assigned',)),
    DELETED: ('jira:issue_deleted', ('issue_deleted',)),
    COMMENTED: ('comment_created', ('issue_commented',)),
    # A new link or worklog: no issue in the event, admitted by issue id (rulequeue/forge/link_worklog.py).
    **link_worklog.TRIGGERS,
}
LIFECYCLE_EVENTS = frozenset({INSTALLED, UPGRADED})
_ID = Field(min_length=1, max_length=64)


class _Open(BaseModel):
    model_config = ConfigDict(extra='allow')


class ForgeIssue(_Open):
    """Forge's partial issue (not a REST snapshot: the worker fetches the issue)."""

    id: str = Field(min_length=1, max_length=64, pattern=r'^[0-9]+$')
    key: str | None = Field(None, max_length=275)
    fields: dict[str, Any] = Field(default_factory=dict)

    @field_validator('id', mode='before')
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ForgeChangelog(_Open):
    id: str | None = Field(None, max_length=64)
    items: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator('id', mode='before')
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class ForgeComment(_Open):
    id: str = _ID
    created: str | None = None
    updated: str | None = None

    @field_validator('id', mode='before')
    @classmethod
    def _text(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class RetryContext(_Open):
    retryCount: int = Field(0, ge=0)
    retryReason: str | None = None


class ProductEvent(_Open):
    """An issue or comment event (FORGE.md §4); ``timestamp`` is epoch milliseconds."""

    eventType: Literal[
        'avi:jira:created:issue',
        'avi:jira:updated:issue',
        'avi:jira:assigned:issue',
        'avi:jira:deleted:issue',
        'avi:jira:commented:issue',
    ]
    timestamp: int = Field(ge=0)
    issue: ForgeIssue
    changelog: ForgeChangelog | None = None
    comment: ForgeComment | None = None
    selfGenerated: bool = False
    atlassianId: str | None = None
    webhookTraceValue: str | None = None


class LifecycleApp(_Open):
    id: str = Field(min_length=1, max_length=200)
    version: str | None = None


class LifecycleEvent(_Open):
    """``avi:forge:installed:app`` / ``avi:forge:upgraded:app``; ``id`` is the installation."""

    eventType: Literal['avi:forge:installed:app', 'avi:forge:upgraded:app']
    id: str = Field(min_length=1, max_length=200)
    app: LifecycleApp
    installerAccountId: str | None = None
    upgraderAccountId: str | None = None
    context: str | None = None
    timestamp: int | None = Field(None, ge=0)


@dataclass(frozen=True)
class ForgeEvent:
    """A parsed delivery.

    Attributes:
        event: The event itself, unwrapped from its envelope.
        envelope: 'bare' or 'payload'.
        retry_count: ``retryContext.retryCount``; 0 on the first delivery.
        retry_reason: ``retryContext.retryReason`` on re-deliveries.
    """

    event: ProductEvent | IssueLinkEvent | WorklogEvent | LifecycleEvent
    envelope: Literal['bare', 'payload']
    retry_count: int
    retry_reason: str | None

    @property
    def event_type(self) -> str:
        return self.event.eventType

    @property
    def connect_event(self) -> str | None:
        """The Connect ``webhookEvent`` this stands for; None for lifecycle events."""
        if isinstance(self.event, LifecycleEvent):
            return None
        if isinstance(self.event, ProductEvent) and self.event.eventType == COMMENTED and _edited(self.event.comment):
            return 'comment_updated'
        return TRIGGERS[self.event.eventType][0]

    @property
    def triggers(self) -> tuple[str, ...]:
        """The rule trigger types this event may fire (matching still checks the changelog)."""
        if self.connect_event in (None, 'comment_updated'):
            return ()
        return TRIGGERS[self.event.eventType][1]


def _edited(comment: ForgeComment | None) -> bool:
    return comment is not None and comment.updated is not None and comment.updated != comment.created


def _unwrap(body: Mapping[str, Any]) -> tuple[Mapping[str, Any], Literal['bare', 'payload'], Any]:
    """(event, envelope, retryContext): a ``payload`` object holding event fields is the event."""
    payload = body.get('payload')
    if isinstance(payload, Mapping) and 'eventType' in payload:
        return payload, 'payload', payload.get('retryContext', body.get('retryContext'))
    return body, 'bare', body.get('retryContext')


def parse_event(body: bytes | str | Mapping[str, Any]) -> ForgeEvent:
    """Parse a Forge event delivery in either envelope.

    Raises:
        ForgeEventRejected: Not JSON, not an object, an event type we don't handle, or a
            handled type missing what we need (``issue.id``, ``timestamp``, ``comment.id``; a
            link's id, its issues' ids and its type's name; a worklog's id and its issue's id).
    """
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            raise ForgeEventRejected('body is not JSON') from None
    if not isinstance(body, Mapping):
        raise ForgeEventRejected('body is not a JSON object')
    event, envelope, retry = _unwrap(body)
    event_type = event.get('eventType')
    if not isinstance(event_type, str):
        raise ForgeEventRejected('event has no eventType')
    model: type[ProductEvent] | type[IssueLinkEvent] | type[WorklogEvent] | type[LifecycleEvent]
    if event_type in link_worklog.MODELS:
        model = link_worklog.MODELS[event_type]
    elif event_type in TRIGGERS:
        model = ProductEvent
    elif event_type in LIFECYCLE_EVENTS:
        model = LifecycleEvent
    else:
        raise ForgeEventRejected('unknown eventType')
    try:
        parsed = model.model_validate({k: v for k, v in event.items() if k != 'retryContext'})
        context = RetryContext.model_validate(retry) if isinstance(retry, Mapping) else RetryContext.model_validate({})
    except ValidationError as exc:
        raise ForgeEventRejected(f'invalid {event_type} event: {_where(exc)}') from None
    if isinstance(parsed, ProductEvent) and parsed.eventType == COMMENTED and parsed.comment is None:
        raise ForgeEventRejected('commented event has no comment')
    return ForgeEvent(parsed, envelope, context.retryCount, context.retryReason)


def _where(exc: ValidationError) -> str:
    """The failing fields' paths and error types, never their values (they may be issue data)."""
    return '; '.join('.'.join(str(part) for part in error['loc']) + ' ' + error['type'] for error in exc.errors())


def idempotency_key(installation_id: str, event: ForgeEvent) -> str:
    """sha256 over (installationId, eventType, issue.id, changelog.id, comment.id, timestamp).

    ``installation_id`` comes from the verified token, never the body. Absent fields are null
    in a JSON array, so no two field combinations can produce the same input. ``retryContext``
    and the token's ``jti`` change on every re-delivery and are left out; lifecycle events add
    ``app.version`` so each upgrade is its own event. A link or worklog event is
    (installationId, eventType, issue id, link or worklog id): each is created once, and its
    timestamp is not promised.
    """
    inner = event.event
    parts: list[str | int | None]
    if isinstance(inner, IssueLinkEvent | WorklogEvent):
        parts = [installation_id, inner.eventType, link_worklog.issue_id_of(inner), link_worklog.entity_id_of(inner)]
    elif isinstance(inner, ProductEvent):
        parts = [
            installation_id,
            inner.eventType,
            inner.issue.id,
            inner.changelog.id if inner.changelog else None,
            inner.comment.id if inner.comment else None,
            inner.timestamp,
        ]
    else:
        parts = [installation_id, inner.eventType, inner.id, None, None, inner.timestamp, inner.app.version]
    return hashlib.sha256(json.dumps(parts, separators=(',', ':')).encode()).hexdigest()
