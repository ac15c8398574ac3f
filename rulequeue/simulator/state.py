"""The simulated site's data: issues, comments and users, and every change made to them.

Both sides change the same state: people "in Jira" (the simulator's issue operations) and the
app (through the REST API). Each change returns a :class:`Change` from which the webhooks Jira
would send are built, so the two paths cannot drift apart.
"""

from __future__ import annotations

import copy
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rulequeue.errors import RulequeueError
from rulequeue.simulator import catalog
from rulequeue.simulator.catalog import ALICE, BOB, JsonObject, Status
from rulequeue.simulator.edits import FieldErrors, apply_edit, item, plan_edit

ISSUE_EXPAND = 'renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations'


class SimulatorError(RulequeueError):
    """The simulator was asked for something Jira would not do, or the app refused a call."""


@dataclass(frozen=True)
class Change:
    """One change to one issue: what the webhooks for it are built from.

    Attributes:
        kind: 'created', 'updated', 'assigned', 'transitioned', 'commented' or 'deleted'.
        issue: A copy of the issue right after the change (right before it, for deletions).
        items: Changelog items; empty for creations, comments and deletions.
        changelog_id: The changelog's id when there are items.
        comment: The comment, for 'commented'.
        at: When the change happened (epoch seconds).
        related: The webhook's link or worklog, for 'linked' and 'worklogged'
            (rulequeue/simulator/link_worklog.py).
    """

    kind: str
    issue: JsonObject
    at: float
    items: tuple[JsonObject, ...] = ()
    changelog_id: str | None = None
    comment: JsonObject | None = None
    related: JsonObject | None = None


def friendly_edit(changes: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Turn the simulator's short forms into a REST edit: ``(fields, update)``.

    ``priority='High'``, ``assignee='<accountId>'`` or a user dict, ``components=['API']`` and
    ``labels={'add': [...], 'remove': [...]}`` are accepted besides the REST shapes.
    """
    fields: dict[str, Any] = {}
    update: dict[str, Any] = {}
    for name, value in changes.items():
        if name == 'priority' and isinstance(value, str):
            fields[name] = {'name': value}
        elif name == 'assignee' and isinstance(value, str):
            fields[name] = {'accountId': value}
        elif name == 'components' and isinstance(value, list):
            fields[name] = [{'name': c} if isinstance(c, str) else c for c in value]
        elif name == 'labels' and isinstance(value, dict):
            update[name] = [{'add': v} for v in value.get('add', [])] + [{'remove': v} for v in value.get('remove', [])]
        else:
            fields[name] = value
    return fields, update


class SiteState:
    """Issues, comments and users of one simulated Jira site."""

    def __init__(self, app_user: JsonObject) -> None:
        self.base_url = ''
        self.issues: dict[str, JsonObject] = {}
        self.comments: dict[str, list[JsonObject]] = {}
        # Entity properties (issue key -> property key -> value) and watchers' account ids, by issue.
        self.properties: dict[str, dict[str, Any]] = {}
        self.watchers: dict[str, list[str]] = {}
        # Issue id -> its changelog entries, oldest first (rulequeue/simulator/changelog.py).
        self.changelogs: dict[str, list[JsonObject]] = {}
        self.users: dict[str, JsonObject] = {u['accountId']: u for u in (ALICE, BOB, app_user)}
        # Account id -> the names of its Jira groups (GET /rest/api/2/user/groups), set by tests.
        self.groups: dict[str, list[str]] = {}
        self._projects: dict[str, JsonObject] = {}
        self._issue_numbers: dict[str, int] = {}
        self._next_issue_id = 10000
        self._next_comment_id = 10000
        self._next_changelog_id = 10000

    def find_user(self, account_id: str) -> JsonObject | None:
        """The user as Jira embeds it, or None if the site has no such account."""
        user = self.users.get(account_id)
        return None if user is None else catalog.user_json(self.base_url, user)

    def add_user(self, display_name: str, *, account_id: str | None, email_address: str | None) -> JsonObject:
        user: JsonObject = {
            'accountId': account_id or f'712020:{uuid.uuid4()}',
            'displayName': display_name,
            'accountType': 'atlassian',
            'active': True,
            'timeZone': 'UTC',
        }
        if email_address:
            user['emailAddress'] = email_address
        self.users[user['accountId']] = user
        return dict(user)

    def actor(self, user: Mapping[str, Any]) -> JsonObject:
        """The acting user as Jira embeds it; people named by the caller join the site."""
        account_id = str(user['accountId'])
        self.users.setdefault(account_id, dict(user))
        return catalog.user_json(self.base_url, self.users[account_id])

    def key_for(self, id_or_key: str) -> str:
        """The key of the issue with that id, or the argument itself (a key, or an unknown id)."""
        if not id_or_key.isdigit():
            return id_or_key
        return next((key for key, issue in self.issues.items() if issue['id'] == id_or_key), id_or_key)

    def require(self, key: str) -> JsonObject:
        issue = self.issues.get(key)
        if issue is None:
            raise SimulatorError(f'no issue {key}')
        return issue

    def _project(self, key: str) -> JsonObject:
        if key not in self._projects:
            project_id = str(10000 + len(self._projects))
            self._projects[key] = {
                'self': f'{self.base_url}/rest/api/2/project/{project_id}',
                'id': project_id,
                'key': key,
                'name': catalog.PROJECT_NAMES.get(key, key.title()),
                'projectTypeKey': 'software',
                'simplified': False,
            }
        return self._projects[key]

    def _changelog_id(self) -> str:
        self._next_changelog_id += 1
        return str(self._next_changelog_id - 1)

    def create(
        self,
        *,
        project: str,
        issuetype: str,
        summary: str,
        reporter: Mapping[str, Any],
        changes: Mapping[str, Any],
    ) -> Change:
        """Create an issue; ``changes`` are further fields in :func:`friendly_edit` form."""
        if issuetype not in catalog.ISSUE_TYPES:
            raise SimulatorError(f'unknown issue type {issuetype!r}; known: {", ".join(catalog.ISSUE_TYPES)}')
        author = self.actor(reporter)
        now = time.time()
        fields_in, update_in = friendly_edit({'summary': summary, **changes})
        try:
            values = plan_edit({}, fields_in, update_in, base_url=self.base_url, find_user=self.find_user)
        except FieldErrors as exc:
            raise SimulatorError(f'invalid issue: {exc}') from None
        number = self._issue_numbers.get(project, 0) + 1
        issue_id = str(self._next_issue_id)
        stamp = catalog.jira_time(now)
        fields: JsonObject = {
            'summary': summary,
            'description': None,
            'environment': None,
            'issuetype': catalog.issuetype_json(self.base_url, issuetype),
            'project': self._project(project),
            'status': catalog.status_json(self.base_url, catalog.INITIAL_STATUS),
            'priority': catalog.find_priority(self.base_url, name='Medium'),
            'labels': [],
            'assignee': None,
            'reporter': author,
            'creator': author,
            'components': [],
            'resolution': None,
            'resolutiondate': None,
            'created': stamp,
            'updated': stamp,
            'statuscategorychangedate': stamp,
            'duedate': None,
            'fixVersions': [],
            'versions': [],
            'issuelinks': [],
            'subtasks': [],
            'lastViewed': None,
            'watches': {'self': f'{self.base_url}/rest/api/2/issue/{issue_id}/watchers', 'watchCount': 1},
            **dict.fromkeys(catalog.CUSTOM_FIELDS),
        }
        apply_edit(fields, values)
        key = f'{project}-{number}'
        self._issue_numbers[project] = number
        self._next_issue_id += 1
        issue = {
            'expand': ISSUE_EXPAND,
            'id': issue_id,
            'self': f'{self.base_url}/rest/api/2/issue/{issue_id}',
            'key': key,
            'fields': fields,
        }
        self.issues[key] = issue
        self.comments[key] = []
        return Change('created', copy.deepcopy(issue), now)

    def edit(self, key: str, fields: Mapping[str, Any], update: Mapping[str, Any]) -> Change | None:
        """Apply a REST edit (FieldErrors if any field is bad); None if nothing changed."""
        issue = self.require(key)
        current = issue['fields']
        values = plan_edit(current, fields, update, base_url=self.base_url, find_user=self.find_user)
        items = apply_edit(current, values)
        if not items:
            return None
        # Jira fires "issue assigned" when only the assignee changed, "issue updated" otherwise.
        kind = 'assigned' if all(i['fieldId'] == 'assignee' for i in items) else 'updated'
        return self._changed(kind, issue, items)

    def transitions(self, key: str) -> list[JsonObject]:
        """Transitions available on the issue: into every status but its current one."""
        current = self.require(key)['fields']['status']['id']
        return [catalog.transition_json(self.base_url, s) for s in catalog.STATUSES if s.id != current]

    def transition(
        self,
        key: str,
        target: Status,
        fields_in: Mapping[str, Any] | None = None,
        update_in: Mapping[str, Any] | None = None,
    ) -> Change:
        """Move the issue to ``target``, applying the transition's own edit first (FieldErrors if bad)."""
        issue = self.require(key)
        fields = issue['fields']
        old = fields['status']
        if old['id'] == target.id:
            raise SimulatorError(f'{key} is already in {target.name}')
        values = plan_edit(fields, fields_in or {}, update_in or {}, base_url=self.base_url, find_user=self.find_user)
        now = time.time()
        # One changelog for the whole transition, as Jira writes it: field edits, then status.
        items = apply_edit(fields, values)
        items.append(
            item('status', 'status', from_=old['id'], from_string=old['name'], to=target.id, to_string=target.name)
        )
        fields['status'] = catalog.status_json(self.base_url, target)
        if old['statusCategory']['key'] != target.category:
            fields['statuscategorychangedate'] = catalog.jira_time(now)
        # Moving into Done resolves the issue and moving out of it unresolves it, as the
        # default workflow's post functions do.
        done = catalog.RESOLUTION_DONE
        if target.category == 'done' and fields['resolution'] is None:
            fields['resolution'] = catalog.resolution_json(self.base_url)
            fields['resolutiondate'] = catalog.jira_time(now)
            items.append(item('resolution', 'resolution', to=done['id'], to_string=done['name']))
        elif target.category != 'done' and fields['resolution'] is not None:
            fields['resolution'] = None
            fields['resolutiondate'] = None
            items.append(item('resolution', 'resolution', from_=done['id'], from_string=done['name']))
        return self._changed('transitioned', issue, items)

    def assign(self, key: str, account_id: str | None) -> Change | None:
        """Set the assignee (FieldErrors for an unknown account); None if it was already so."""
        return self.edit(key, {'assignee': None if account_id is None else {'accountId': account_id}}, {})

    def comment(
        self, key: str, body: str, author: Mapping[str, Any], properties: Sequence[Any] = ()
    ) -> tuple[JsonObject, Change]:
        """Add a comment; returns it (as the REST API answers) and the change."""
        issue = self.require(key)
        user = self.actor(author)
        now = time.time()
        comment_id = str(self._next_comment_id)
        self._next_comment_id += 1
        stamp = catalog.jira_time(now)
        comment: JsonObject = {
            'self': f'{self.base_url}/rest/api/2/issue/{issue["id"]}/comment/{comment_id}',
            'id': comment_id,
            'author': user,
            'body': body,
            'updateAuthor': user,
            'created': stamp,
            'updated': stamp,
            'jsdPublic': True,
        }
        # Entity properties are not part of the comment's JSON unless expanded; keep them beside it.
        self.comments.setdefault(key, []).append({**copy.deepcopy(comment), 'properties': list(properties)})
        issue['fields']['updated'] = stamp
        return comment, Change('commented', copy.deepcopy(issue), now, comment=copy.deepcopy(comment))

    def delete(self, key: str) -> Change:
        issue = self.require(key)
        del self.issues[key]
        self.comments.pop(key, None)
        return Change('deleted', issue, time.time())

    def _changed(self, kind: str, issue: JsonObject, items: list[JsonObject]) -> Change:
        now = time.time()
        issue['fields']['updated'] = catalog.jira_time(now)
        return Change(kind, copy.deepcopy(issue), now, tuple(items), self._changelog_id())
