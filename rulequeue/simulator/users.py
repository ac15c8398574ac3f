"""Users on the simulated site: ``GET /rest/api/2/user?accountId=…`` (the user as Jira embeds it)
and their groups, ``GET /rest/api/2/user/groups?accountId=…``.

Tests set memberships in ``SiteState.groups`` (account id -> group names); the answer has
Jira's shape, a list of ``{"name", "groupId", "self"}``.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import quote

from rulequeue.simulator.rest import Answer, Host, errors


def user(host: Host, params: dict[str, str], body: Any) -> Answer:
    account_id = params.get('accountId')
    if not account_id:
        return 400, errors('The accountId query parameter is required.')
    found = host.state.find_user(account_id)
    if found is None:
        return 404, errors(f"The user with account ID '{account_id}' does not exist.")
    return 200, found


def user_groups(host: Host, params: dict[str, str], body: Any) -> Answer:
    account_id = params.get('accountId')
    if not account_id:
        return 400, errors('The accountId query parameter is required.')
    if host.state.find_user(account_id) is None:
        return 404, errors(f"The user with account ID '{account_id}' does not exist.")
    return 200, [
        {
            'name': name,
            'groupId': str(uuid.uuid5(uuid.NAMESPACE_URL, name)),
            'self': f'{host.state.base_url}/rest/api/2/group?groupId={quote(name)}',
        }
        for name in host.state.groups.get(account_id, [])
    ]
