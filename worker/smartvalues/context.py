"""The data a rule's smart values read: the issue, who acted, what changed, and when.

Everything here is plain JSON (dates as ISO-8601 strings, which the date functions parse), so
the context can be logged, compared and rendered without any Python object in it.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from schemas.events import WebhookEvent
from worker.smartvalues.dates import iso
from worker.smartvalues.link_worklog import link_worklog_values


def base_url_of(issue: Mapping[str, Any]) -> str:
    """The site's base URL, from the issue's ``self`` link (``…/rest/api/2/issue/1``)."""
    link = issue.get('self')
    if isinstance(link, str) and '/rest/' in link:
        return link.split('/rest/', 1)[0]
    return ''


def changes(event: WebhookEvent) -> list[dict[str, Any]]:
    """The changelog items, as Jira sent them (``field``, ``fieldId``, ``from``, ``fromString`` …)."""
    if event.changelog is None:
        return []
    return [item.model_dump(mode='json', by_alias=True, exclude_unset=True) for item in event.changelog.items]


def build_context(
    event: WebhookEvent,
    *,
    rule_name: str,
    now: datetime,
    base_url: str | None = None,
    field_names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Build the data a template may read.

    Args:
        event: The webhook event.
        rule_name: The name of the rule being run (``{{rule.name}}``).
        now: The current time (``{{now}}``); a naive datetime is taken as UTC.
        base_url: The tenant's site URL (``{{baseUrl}}``); by default taken from the issue's
            ``self`` link.
        field_names: Field id to display name (Jira's ``names``), to read custom fields by name
            when the issue carries no ``names`` of its own.

    Returns:
        ``issue`` and ``triggerIssue`` (the same issue; branches will rebind ``issue`` only),
        ``initiator`` (the webhook's ``user``, or a comment's author), ``comment``, ``rule``,
        ``now``, ``baseUrl``, ``eventType``, ``changelog`` (each changed field's item by field
        name and by field id, and ``items``), ``fieldChange`` (the first changed field) and
        ``fieldNames``. Fields absent from the webhook are absent here too.
    """
    # exclude_unset: the context is what Jira sent, not our models' defaults.
    data = event.model_dump(mode='json', by_alias=True, exclude_unset=True)
    comment = data.get('comment') or {}
    moment = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    items = changes(event)
    changelog: dict[str, Any] = {}
    for item in reversed(items):  # the first item of a field wins
        changelog[str(item.get('fieldId') or item['field'])] = item
        changelog[str(item['field'])] = item
    changelog['items'] = items
    return {
        'issue': data['issue'],
        'triggerIssue': data['issue'],
        'initiator': event.actor(),
        'comment': comment,
        'rule': {'name': rule_name},
        'now': iso(moment),
        'baseUrl': base_url if base_url is not None else base_url_of(data['issue']),
        'eventType': event.webhookEvent,
        'changelog': changelog if items else {},
        'fieldChange': items[0] if items else {},
        'fieldNames': dict(field_names or {}),
        # issuelink_created: issueLink, linkType, destinationIssue; worklog_created: worklog.
        **link_worklog_values(data),
    }
