"""The ``issue_linked`` and ``worklog_added`` triggers: matching and describing them.

Like every trigger description, these come from the rule's configuration only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.events import ISSUE_LINK_CREATED, WORKLOG_CREATED, WebhookEvent
from schemas.triggers import IssueLinked, Trigger, WorklogAdded


def link_type_names(event: WebhookEvent) -> list[str]:
    """The link type's name and its outward and inward descriptions, as the event sent them."""
    link = (event.model_extra or {}).get('issueLink')
    kind = link.get('issueLinkType') if isinstance(link, Mapping) else None
    if not isinstance(kind, Mapping):
        return []
    names: list[Any] = [kind.get('name'), kind.get('outwardName'), kind.get('inwardName')]
    return [name for name in names if isinstance(name, str) and name]


def matches(trigger: Trigger, event: WebhookEvent) -> bool | None:
    """Whether a link or worklog trigger fires on the event; None for any other trigger."""
    if isinstance(trigger, IssueLinked):
        if event.webhookEvent != ISSUE_LINK_CREATED:
            return False
        wanted = trigger.link_type
        return wanted is None or wanted.casefold() in {name.casefold() for name in link_type_names(event)}
    if isinstance(trigger, WorklogAdded):
        return event.webhookEvent == WORKLOG_CREATED
    return None


def describe(trigger: Trigger) -> str | None:
    """What a link or worklog trigger fires on; None for any other trigger."""
    if isinstance(trigger, IssueLinked):
        return ISSUE_LINK_CREATED + (f' of type {trigger.link_type!r}' if trigger.link_type else '')
    if isinstance(trigger, WorklogAdded):
        return WORKLOG_CREATED
    return None
