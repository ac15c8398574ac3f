"""Forge's issue link and worklog events, and the Connect webhook body each stands for.

Forge sends ``avi:jira:created:issuelink`` and ``avi:jira:created:worklog`` (Forge's Jira events
reference, "Issue link" and "Issue worklog" events); like Connect's ``issuelink_created`` and
``worklog_created`` they carry no issue, only ids::

    {"eventType": "avi:jira:created:issuelink", "atlassianId": "…",
     "issueLink": {"id": "10100", "sourceIssueId": "10000", "destinationIssueId": "10001",
                   "issueLinkType": {"id": "10000", "name": "Blocks", "inward": "is blocked by",
                                     "outward": "blocks", …}, …}}
    {"eventType": "avi:jira:created:worklog", "atlassianId": "…",
     "worklog": {"id": "10200", "issueId": "10000", "author": {"accountId": "…"},
                 "timeSpentSeconds": 5400, …}}

Forge names the link type's descriptions ``inward``/``outward``, Connect ``inwardName``/
``outwardName``; the converted body has both. A ``timestamp`` is used when sent (Forge's docs
do not promise one for these events). Only the ids rulequeue relies on are checked; the rest
is kept as sent. The converted body is validated with the Connect path's own models
(schemas/link_worklog.py) and named by issue id the same way, so both transports store the
same snapshot shape and the worker cannot tell them apart.
"""

from __future__ import annotations

import copy
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from rulequeue.errors import ForgeEventRejected
from schemas.events import ISSUE_LINK_CREATED, WORKLOG_CREATED
from schemas.link_worklog import JiraId, named_by_issue

LINKED = 'avi:jira:created:issuelink'
WORKLOGGED = 'avi:jira:created:worklog'


class _Open(BaseModel):
    model_config = ConfigDict(extra='allow')


class ForgeLinkType(_Open):
    id: JiraId | None = None
    name: str = Field(min_length=1, max_length=255)
    inward: str | None = Field(None, max_length=255)
    outward: str | None = Field(None, max_length=255)


class ForgeIssueLink(_Open):
    id: JiraId
    sourceIssueId: JiraId
    destinationIssueId: JiraId
    issueLinkType: ForgeLinkType


class ForgeWorklog(_Open):
    id: JiraId
    issueId: JiraId


class _RelationEvent(_Open):
    """What link and worklog events share with issue events (rulequeue.forge.events.ProductEvent)."""

    timestamp: int | None = Field(None, ge=0)
    selfGenerated: bool = False
    atlassianId: str | None = None
    webhookTraceValue: str | None = None


class IssueLinkEvent(_RelationEvent):
    eventType: Literal['avi:jira:created:issuelink']
    issueLink: ForgeIssueLink


class WorklogEvent(_RelationEvent):
    eventType: Literal['avi:jira:created:worklog']
    worklog: ForgeWorklog


RelationEvent = IssueLinkEvent | WorklogEvent
MODELS: dict[str, type[IssueLinkEvent] | type[WorklogEvent]] = {LINKED: IssueLinkEvent, WORKLOGGED: WorklogEvent}
# Forge event -> (Connect webhookEvent, the rule triggers it fires): merged into
# rulequeue.forge.events.TRIGGERS.
TRIGGERS: dict[str, tuple[str, tuple[str, ...]]] = {
    LINKED: (ISSUE_LINK_CREATED, ('issue_linked',)),
    WORKLOGGED: (WORKLOG_CREATED, ('worklog_added',)),
}


def issue_id_of(event: RelationEvent) -> str:
    """The issue the event is about, as Connect's path picks it: a link's source, a worklog's issue."""
    return event.issueLink.sourceIssueId if isinstance(event, IssueLinkEvent) else event.worklog.issueId


def entity_id_of(event: RelationEvent) -> str:
    """The link's or worklog's own id: each is created once, so it names the change."""
    return event.issueLink.id if isinstance(event, IssueLinkEvent) else event.worklog.id


def connect_body(event: RelationEvent) -> dict[str, Any]:
    """The body Connect's producer stores for the same change: the webhook plus ``issue: {id}``
    (key unknown until the worker reads the issue).

    Raises:
        ForgeEventRejected: The converted body is not one the Connect path accepts.
    """
    webhook: dict[str, Any] = {'webhookEvent': TRIGGERS[event.eventType][0]}
    if event.timestamp is not None:
        webhook['timestamp'] = event.timestamp
    data = event.model_dump(mode='json', exclude_none=True)
    if isinstance(event, IssueLinkEvent):
        link = copy.deepcopy(data['issueLink'])
        kind = link['issueLinkType']
        for forge_name, connect_name in (('inward', 'inwardName'), ('outward', 'outwardName')):
            if forge_name in kind:
                kind.setdefault(connect_name, kind[forge_name])
        webhook['issueLink'] = link
    else:
        webhook['worklog'] = copy.deepcopy(data['worklog'])
    try:
        return named_by_issue(webhook)
    except ValidationError as exc:
        fields = ', '.join('.'.join(str(p) for p in e['loc']) + ' ' + e['type'] for e in exc.errors())
        raise ForgeEventRejected(f'{event.eventType} is not a usable {webhook["webhookEvent"]}: {fields}') from None
