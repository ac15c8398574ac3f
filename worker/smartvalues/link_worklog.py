"""Smart values of link and worklog events, named as in Automation for Jira.

``issuelink_created`` gives ``{{issueLink}}`` (the link as Jira sent it), ``{{linkType}}``
(``name``, ``inward``, ``outward``, ``id``: ``{{linkType}}`` alone reads as its name,
``{{linkType.outward}}`` as "blocks") and ``{{destinationIssue}}`` (the linked issue as the
source issue's ``issuelinks`` embed it: ``id``, ``key``, ``self`` and a few fields; only
``id`` if the link is gone by the time the issue was read). ``worklog_created`` gives
``{{worklog}}`` (``timeSpent``, ``timeSpentSeconds``, ``author``, ``started``, ``comment`` …).
Other events get none of these names, so a template using them reports an unknown path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from schemas.events import ISSUE_LINK_CREATED, WORKLOG_CREATED


def _linked_issue(issue: Mapping[str, Any], link_id: str, destination_id: str) -> dict[str, Any]:
    """The destination as the source issue's link list embeds it; ``{id}`` if it is not there."""
    fields = issue.get('fields')
    links = fields.get('issuelinks') if isinstance(fields, Mapping) else None
    for entry in links if isinstance(links, list) else []:
        if not isinstance(entry, Mapping) or str(entry.get('id')) != link_id:
            continue
        for side in ('outwardIssue', 'inwardIssue'):
            other = entry.get(side)
            if isinstance(other, Mapping) and str(other.get('id')) == destination_id:
                return dict(other)
    return {'id': destination_id}


def link_worklog_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """The event's extra smart values (see the module docstring); none for other events.

    Args:
        data: The event as JSON (``WebhookEvent.model_dump``), its issue already read from Jira.
    """
    kind = data.get('webhookEvent')
    if kind == WORKLOG_CREATED and isinstance(data.get('worklog'), Mapping):
        return {'worklog': dict(data['worklog'])}
    link = data.get('issueLink')
    if kind != ISSUE_LINK_CREATED or not isinstance(link, Mapping):
        return {}
    kind_of_link = link.get('issueLinkType')
    kind_of_link = kind_of_link if isinstance(kind_of_link, Mapping) else {}
    link_type = {
        'id': None if kind_of_link.get('id') is None else str(kind_of_link['id']),
        'name': kind_of_link.get('name'),
        'inward': kind_of_link.get('inwardName'),
        'outward': kind_of_link.get('outwardName'),
    }
    issue = data.get('issue')
    destination = _linked_issue(
        issue if isinstance(issue, Mapping) else {}, str(link.get('id')), str(link.get('destinationIssueId'))
    )
    return {'issueLink': dict(link), 'linkType': link_type, 'destinationIssue': destination}
