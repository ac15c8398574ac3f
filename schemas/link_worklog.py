"""Jira's ``issuelink_created`` and ``worklog_created`` webhook bodies.

Neither carries an ``issue``: a link names its two issues by id, a worklog its issue.

``issuelink_created``::

    {"timestamp": …, "webhookEvent": "issuelink_created",
     "issueLink": {"id": 10100, "sourceIssueId": 10000, "destinationIssueId": 10001,
                   "issueLinkType": {"id": 10000, "name": "Blocks", "outwardName": "blocks",
                                     "inwardName": "is blocked by", "isSubTaskLinkType": false,
                                     "isSystemLinkType": false}, …}}

The source issue is the one the outward description reads from ("source blocks destination").

``worklog_created``::

    {"timestamp": …, "webhookEvent": "worklog_created",
     "worklog": {"id": "10200", "issueId": "10000", "author": {…}, "updateAuthor": {…},
                 "timeSpent": "1h 30m", "timeSpentSeconds": 5400, "started": …, "comment": …,
                 "created": …, "updated": …, "self": …}}

Jira writes the link's ids as JSON numbers and the worklog's as strings; both are accepted and
read as digit strings. Only what rulequeue relies on is checked; the rest is kept as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError

from schemas.events import ISSUE_LINK_CREATED, WORKLOG_CREATED, User, WebhookEvent


def _id_text(value: Any) -> Any:
    # A number becomes its digits; bool is an int in Python but never a Jira id.
    return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


JiraId = Annotated[str, BeforeValidator(_id_text), Field(min_length=1, max_length=64, pattern=r'^[0-9]+$')]


class _Open(BaseModel):
    model_config = ConfigDict(extra='allow')


class IssueLinkType(_Open):
    id: JiraId | None = None
    name: str = Field(min_length=1, max_length=255)
    outwardName: str | None = Field(default=None, max_length=255)
    inwardName: str | None = Field(default=None, max_length=255)


class IssueLink(_Open):
    id: JiraId
    sourceIssueId: JiraId
    destinationIssueId: JiraId
    issueLinkType: IssueLinkType


class IssueLinkBody(_Open):
    timestamp: int | None = None
    webhookEvent: Literal['issuelink_created']
    issueLink: IssueLink


class Worklog(_Open):
    id: JiraId
    issueId: JiraId
    author: User | None = None
    updateAuthor: User | None = None
    timeSpent: str | None = Field(default=None, max_length=100)
    timeSpentSeconds: int | None = Field(default=None, ge=0)


class WorklogBody(_Open):
    timestamp: int | None = None
    webhookEvent: Literal['worklog_created']
    worklog: Worklog


BODIES: dict[str, type[IssueLinkBody] | type[WorklogBody]] = {
    ISSUE_LINK_CREATED: IssueLinkBody,
    WORKLOG_CREATED: WorklogBody,
}


def issue_id_of(body: IssueLinkBody | WorklogBody) -> str:
    """The id of the issue the event is about: a link's source, a worklog's issue."""
    if isinstance(body, IssueLinkBody):
        return body.issueLink.sourceIssueId
    return body.worklog.issueId


def entity_id_of(body: IssueLinkBody | WorklogBody) -> str:
    """The link's or worklog's own id: tells two such events on one issue apart."""
    return body.issueLink.id if isinstance(body, IssueLinkBody) else body.worklog.id


def named_by_issue(data: Mapping[str, Any]) -> dict[str, Any]:
    """A link or worklog webhook body as its snapshot is stored: as sent, plus ``issue: {"id": …}``
    (its key is unknown until the worker reads the issue). Both transports store this shape
    (producer/link_worklog.py, rulequeue/forge/link_worklog.py).

    Raises:
        pydantic.ValidationError: Not a body of its ``webhookEvent`` with the ids rulequeue needs.
        KeyError: ``webhookEvent`` is not a link or worklog event.
    """
    parsed = BODIES[str(data.get('webhookEvent'))].model_validate(data)
    return {**data, 'issue': {'id': issue_id_of(parsed)}}


def change_id_of(event: WebhookEvent) -> str | None:
    """``issuelink_created:<link id>`` or ``worklog_created:<worklog id>``: the change a link or
    worklog event reports, the same from Connect and Forge (rulequeue/transport.py); None for
    other events."""
    model = BODIES.get(event.webhookEvent)
    if model is None:
        return None
    try:
        parsed = model.model_validate(event.model_dump(mode='json', by_alias=True, exclude_unset=True))
    except ValidationError:
        return None
    return f'{event.webhookEvent}:{entity_id_of(parsed)}'
