"""Jira webhook events, as much of their shape as rulequeue relies on.

Everything else in the body is kept as-is (``extra='allow'``): the snapshot is the full issue
as Jira sent it, and templates may read any field of it.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

ISSUE_EVENTS = frozenset({'jira:issue_created', 'jira:issue_updated', 'jira:issue_deleted'})
COMMENT_EVENTS = frozenset({'comment_created', 'comment_updated', 'comment_deleted'})
# Events that name their issue by id only (no ``issue`` in the body): the producer puts
# ``issue: {id}`` in the snapshot and the worker reads the issue before matching
# (producer/link_worklog.py, worker/current_issue.py).
ISSUE_LINK_CREATED = 'issuelink_created'
WORKLOG_CREATED = 'worklog_created'
ID_ONLY_EVENTS = frozenset({ISSUE_LINK_CREATED, WORKLOG_CREATED})
SUPPORTED_EVENTS = ISSUE_EVENTS | COMMENT_EVENTS | ID_ONLY_EVENTS


class _Open(BaseModel):
    model_config = ConfigDict(extra='allow')


class User(_Open):
    accountId: str | None = None
    displayName: str | None = None
    accountType: str | None = None


# Jira issue keys: a project key (a letter, then letters, digits or underscores) and a number.
# Anything else is refused at the door: the key ends up in REST paths and audit rows.
ISSUE_KEY_PATTERN = r'^[A-Za-z][A-Za-z0-9_]{0,254}-[0-9]{1,18}$'
# The same, or empty: the key of an ID_ONLY_EVENTS issue is unknown until the worker reads it.
_KEY_OR_UNKNOWN = r'^(?:[A-Za-z][A-Za-z0-9_]{0,254}-[0-9]{1,18})?$'


class Issue(_Open):
    id: str = Field(min_length=1, max_length=64, pattern=r'^[0-9]+$')
    # '' only for ID_ONLY_EVENTS (WebhookEvent._keyed): their worker reads the issue first.
    key: str = Field(default='', max_length=275, pattern=_KEY_OR_UNKNOWN)
    fields: dict[str, Any] = Field(default_factory=dict)


class ChangeItem(_Open):
    field: str
    fieldId: str | None = None
    fieldtype: str | None = None
    # Jira sends ids as strings, but older payloads carry numbers.
    from_: str | int | None = Field(default=None, alias='from')
    fromString: str | None = None
    to: str | int | None = None
    toString: str | None = None


class Changelog(_Open):
    id: str | int | None = None
    items: list[ChangeItem] = Field(default_factory=list)


class Comment(_Open):
    id: str | None = None
    body: Any = None


class WebhookEvent(_Open):
    """One webhook body. ``issue`` is required: Jira's issue and comment events carry one, and the
    producer names the issue of link and worklog events by id (producer/link_worklog.py)."""

    timestamp: int | None = None
    webhookEvent: str = Field(min_length=1, max_length=100)
    issue_event_type_name: str | None = None
    user: User | None = None
    issue: Issue
    changelog: Changelog | None = None
    comment: Comment | None = None

    @model_validator(mode='after')
    def _keyed(self) -> WebhookEvent:
        if not self.issue.key and self.webhookEvent not in ID_ONLY_EVENTS:
            raise ValueError('issue.key: Field required')
        return self

    def actor(self) -> dict[str, Any]:
        """Who caused the event, as Jira sent it: ``user``, or for comment events (which carry
        no ``user``) the comment's author (``updateAuthor`` for an edited comment)."""
        data = self.model_dump(mode='json', by_alias=True, exclude_unset=True)
        comment = data.get('comment') or {}
        edited = comment.get('updateAuthor') if self.webhookEvent == 'comment_updated' else None
        worklog = data.get('worklog') if self.webhookEvent == WORKLOG_CREATED else None
        logged_by = worklog.get('author') if isinstance(worklog, dict) else None
        actor = data.get('user') or edited or comment.get('author') or logged_by or {}
        return actor if isinstance(actor, dict) else {}
