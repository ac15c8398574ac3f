"""Link and worklog webhooks at the door: named by issue id, turned into issue events.

``issuelink_created`` and ``worklog_created`` carry no ``issue`` (schemas/link_worklog.py).
The producer checks what it relies on, then admits them like any issue event whose snapshot
is the body plus ``issue: {"id": …}``: ordering, delivery records and de-duplication work by
issue id as for every event. The key is unknown here (the producer never calls Jira while
Jira waits for its answer); the worker reads the issue before matching (``fetch_issue``) and
fills the delivery record's key then (worker/execute.py).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from rulequeue.errors import BadRequest
from schemas.events import ID_ONLY_EVENTS, WebhookEvent
from schemas.link_worklog import BODIES, entity_id_of, named_by_issue


def as_issue_webhook(data: dict[str, Any], body: bytes) -> tuple[dict[str, Any], bytes]:
    """The body to validate and snapshot: unchanged for issue events, with ``issue: {id}`` added
    to a link or worklog event.

    Raises:
        BadRequest: A link or worklog body without the ids it needs, naming the first fault.
    """
    kind = data.get('webhookEvent')
    if kind not in ID_ONLY_EVENTS:
        return data, body
    try:
        named = named_by_issue(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = '.'.join(str(p) for p in error['loc'])
        raise BadRequest(f'not a Jira {kind} webhook: {where}: {error["msg"]}') from None
    if 'issue' in data:
        raise BadRequest(f'not a Jira {kind} webhook: it names its issue by id, never with an "issue" object')
    return named, json.dumps(named, separators=(',', ':')).encode()


def needs_issue(event: WebhookEvent) -> bool:
    """Whether the worker must read the issue first: its snapshot names it by id alone."""
    return not event.issue.key


def derived_id_parts(event: WebhookEvent) -> list[str]:
    """The link's or worklog's id, to tell two such events of one issue apart without a delivery id."""
    model = BODIES.get(event.webhookEvent)
    if model is None:
        return []
    return [entity_id_of(model.model_validate(event.model_dump(mode='json', by_alias=True, exclude_unset=True)))]
