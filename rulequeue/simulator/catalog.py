"""The fixed parts of the simulated Jira site: workflow, priorities, issue types, fields, people.

Ids follow a fresh Jira Cloud site (``In Progress`` is status ``3``, priorities ``1``..``5``),
so payloads look like the ones rules will meet in production. Every JSON builder takes the
site's base URL because Jira puts a ``self`` link on every object it returns.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

JsonObject = dict[str, Any]


@dataclass(frozen=True)
class Status:
    id: str
    name: str
    category: str  # 'new', 'indeterminate' or 'done'
    transition_id: str  # the id of the (global) transition *into* this status
    transition_name: str


# Every status can move to every other one through a global transition into the target, which
# is what a team-managed project's default "any to any" workflow gives.
STATUSES: tuple[Status, ...] = (
    Status('10000', 'To Do', 'new', '11', 'Back to To Do'),
    Status('10001', 'Triage', 'new', '21', 'Move to Triage'),
    Status('3', 'In Progress', 'indeterminate', '31', 'Start Progress'),
    Status('10002', 'In Review', 'indeterminate', '41', 'Submit for Review'),
    Status('10003', 'Done', 'done', '51', 'Done'),
)
INITIAL_STATUS = STATUSES[0]
_CATEGORIES = {
    'new': (2, 'To Do', 'blue-gray'),
    'indeterminate': (4, 'In Progress', 'yellow'),
    'done': (3, 'Done', 'green'),
}

PRIORITIES: tuple[tuple[str, str], ...] = (
    ('1', 'Highest'),
    ('2', 'High'),
    ('3', 'Medium'),
    ('4', 'Low'),
    ('5', 'Lowest'),
)
ISSUE_TYPES: dict[str, str] = {'Bug': '10004', 'Task': '10002', 'Story': '10001', 'Sub-task': '10003'}
COMPONENTS: tuple[tuple[str, str], ...] = (('10000', 'Backend'), ('10001', 'Frontend'), ('10002', 'API'))
# Custom fields present (empty) on every issue; any other customfield_* is accepted on edit.
CUSTOM_FIELDS: dict[str, str] = {'customfield_10010': 'Team', 'customfield_10016': 'Story point estimate'}
RESOLUTION_DONE: JsonObject = {
    'id': '10000',
    'name': 'Done',
    'description': 'Work has been completed on this issue.',
}
PROJECT_NAMES = {'PROJ': 'Project', 'OPS': 'Operations'}

ALICE: JsonObject = {
    'accountId': '712020:2a6c3c2e-5f0d-4c8e-9a59-0c1f8e4b1a01',
    'displayName': 'Alice Adams',
    'emailAddress': 'alice@example.com',
    'accountType': 'atlassian',
    'active': True,
    'timeZone': 'Europe/Berlin',
}
BOB: JsonObject = {
    'accountId': '712020:9d1e7f60-3b2a-4e11-8f6d-5a7c2b9e0b02',
    'displayName': 'Bob Brown',
    'emailAddress': 'bob@example.com',
    'accountType': 'atlassian',
    'active': True,
    'timeZone': 'America/New_York',
}


def status_named(name: str) -> Status | None:
    return next((s for s in STATUSES if s.name == name), None)


def status_by_transition(transition_id: str) -> Status | None:
    return next((s for s in STATUSES if s.transition_id == transition_id), None)


def jira_time(when: float | None = None) -> str:
    """A timestamp as Jira writes it: ``2026-11-26T19:42:00.000+0000``."""
    moment = datetime.fromtimestamp(time.time() if when is None else when, UTC)
    return moment.strftime('%Y-%m-%dT%H:%M:%S.') + f'{moment.microsecond // 1000:03d}+0000'


def user_json(base_url: str, user: Mapping[str, Any]) -> JsonObject:
    """A user as Jira embeds it in issues and events (``self`` and avatars added)."""
    account_id = str(user['accountId'])
    avatar = f'https://avatar-management.example.com/{account_id}'
    rendered: JsonObject = {
        'self': f'{base_url}/rest/api/2/user?accountId={account_id}',
        'accountId': account_id,
        'avatarUrls': {size: f'{avatar}/{size}' for size in ('48x48', '24x24', '16x16', '32x32')},
        'displayName': user.get('displayName', account_id),
        'active': user.get('active', True),
        'timeZone': user.get('timeZone', 'UTC'),
        'accountType': user.get('accountType', 'atlassian'),
    }
    if user.get('emailAddress'):
        rendered['emailAddress'] = user['emailAddress']
    return rendered


def status_json(base_url: str, status: Status) -> JsonObject:
    category_id, category_name, colour = _CATEGORIES[status.category]
    return {
        'self': f'{base_url}/rest/api/2/status/{status.id}',
        'description': '',
        'iconUrl': f'{base_url}/images/icons/statuses/generic.png',
        'name': status.name,
        'id': status.id,
        'statusCategory': {
            'self': f'{base_url}/rest/api/2/statuscategory/{category_id}',
            'id': category_id,
            'key': status.category,
            'colorName': colour,
            'name': category_name,
        },
    }


def transition_json(base_url: str, status: Status) -> JsonObject:
    return {
        'id': status.transition_id,
        'name': status.transition_name,
        'to': status_json(base_url, status),
        'hasScreen': False,
        'isGlobal': True,
        'isInitial': False,
        'isAvailable': True,
        'isConditional': False,
        'isLooped': False,
    }


def priority_json(base_url: str, priority_id: str, name: str) -> JsonObject:
    return {
        'self': f'{base_url}/rest/api/2/priority/{priority_id}',
        'iconUrl': f'{base_url}/images/icons/priorities/{name.lower()}.svg',
        'name': name,
        'id': priority_id,
    }


def find_priority(base_url: str, *, name: object = None, priority_id: object = None) -> JsonObject | None:
    for pid, pname in PRIORITIES:
        if (name is not None and name == pname) or (priority_id is not None and priority_id == pid):
            return priority_json(base_url, pid, pname)
    return None


def issuetype_json(base_url: str, name: str) -> JsonObject:
    type_id = ISSUE_TYPES[name]
    return {
        'self': f'{base_url}/rest/api/2/issuetype/{type_id}',
        'id': type_id,
        'description': f'A {name.lower()}.',
        'iconUrl': f'{base_url}/images/icons/issuetypes/{name.lower()}.svg',
        'name': name,
        'subtask': name == 'Sub-task',
        'hierarchyLevel': -1 if name == 'Sub-task' else 0,
    }


def component_json(base_url: str, *, name: object = None, component_id: object = None) -> JsonObject | None:
    for cid, cname in COMPONENTS:
        if (name is not None and name == cname) or (component_id is not None and component_id == cid):
            return {'self': f'{base_url}/rest/api/2/component/{cid}', 'id': cid, 'name': cname}
    return None


def resolution_json(base_url: str) -> JsonObject:
    return {'self': f'{base_url}/rest/api/2/resolution/{RESOLUTION_DONE["id"]}', **RESOLUTION_DONE}
