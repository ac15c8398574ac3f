"""A realistic ~10 KB Jira ``jira:issue_created`` body, and the rule every benchmark runs.

The simulator's issue is ~3.7 KB; real Jira Cloud payloads carry a description, links,
attachments, comments, versions and custom fields, typically 5-20 KB. We add those (seeded, so
every run sends the same bytes) to reach ~10 KB. The description is generated prose from a
mixed vocabulary: its zlib ratio (~2.5-3x) is close to real issue text, which matters for the
footprint benchmark.

Bodies are rendered from a template with ``@ID@`` and ``@KEY@`` placeholders, so a load
generator can make thousands of distinct issues without building JSON in the timed loop.
"""

from __future__ import annotations

import copy
import json
import random
from typing import Any

from rulequeue.simulator import ALICE, BOB, JiraSimulator, events

FIRST_ISSUE_ID = 10000
PROJECT = 'PROJ'
ID_MARK = '@ID@'
KEY_MARK = '@KEY@'

RULE: dict[str, Any] = {
    'name': 'Benchmark: comment on new bugs',
    'projects': [PROJECT],
    'trigger': {'type': 'issue_created'},
    'conditions': [],
    'actions': [{'type': 'comment', 'body': 'Thanks {{initiator.displayName}}, {{issue.key}} is in triage.'}],
}

_VOCABULARY = (
    'the a to of and in is it for on that with this when after before we user users page login error errors '
    'server request response timeout database query cache session token api endpoint service deploy release '
    'build pipeline staging production customer report crash stack trace null pointer exception thread pool '
    'memory leak latency spike dashboard chart export import csv file upload download retry fails failed '
    'intermittently sometimes always never expected actual steps reproduce browser chrome firefox safari mobile '
    'android ios version config flag feature toggle rollout rollback hotfix patch regression test tests '
    'unit integration flaky slow fast high low medium priority severity blocker critical major minor trivial '
    'team backend frontend infra platform network dns certificate tls proxy gateway load balancer queue worker '
    'job scheduler cron email notification webhook payload json field value missing invalid empty duplicate '
    'account permission role admin project board sprint epic story bug task subtask comment attachment link'
)
_WORDS = _VOCABULARY.split()


def _prose(rng: random.Random, words: int) -> str:
    out: list[str] = []
    sentence = 0
    for _ in range(words):
        word = rng.choice(_WORDS)
        if sentence == 0:
            word = word.capitalize()
        if rng.random() < 0.04:
            word = f'{word}-{rng.randint(100, 99999)}'
        out.append(word)
        sentence += 1
        if sentence > rng.randint(8, 18):
            out[-1] += rng.choice(['.', '.', '.', '?', ':'])
            sentence = 0
            if rng.random() < 0.2:
                out[-1] += '\n\n'
    return ' '.join(out).replace('\n\n ', '\n\n') + '.'


def _user(base_url: str, account_id: str, name: str) -> dict[str, Any]:
    avatars = {size: f'https://avatar-management.example.com/{account_id}/{size}' for size in ('48x48', '24x24')}
    return {
        'self': f'{base_url}/rest/api/2/user?accountId={account_id}',
        'accountId': account_id,
        'avatarUrls': avatars,
        'displayName': name,
        'active': True,
        'timeZone': 'Europe/Berlin',
        'accountType': 'atlassian',
    }


def _padding(base_url: str, rng: random.Random) -> dict[str, Any]:
    bob = _user(base_url, str(BOB['accountId']), str(BOB['displayName']))

    def linked(number: int) -> dict[str, Any]:
        return {
            'id': str(20000 + number),
            'self': f'{base_url}/rest/api/2/issueLink/{20000 + number}',
            'type': {'id': '10000', 'name': 'Blocks', 'inward': 'is blocked by', 'outward': 'blocks'},
            'outwardIssue': {
                'id': str(30000 + number),
                'key': f'OPS-{number}',
                'self': f'{base_url}/rest/api/2/issue/{30000 + number}',
                'fields': {
                    'summary': _prose(rng, 8),
                    'status': {'name': 'In Progress', 'id': '3', 'statusCategory': {'key': 'indeterminate'}},
                    'priority': {'name': 'High', 'id': '2'},
                    'issuetype': {'name': 'Task', 'id': '10002', 'subtask': False},
                },
            },
        }

    return {
        'description': _prose(rng, 290),
        'environment': 'Chrome 131 on macOS 15.2; staging cluster eu-west-1; build 2025.06.3-rc2',
        'customfield_10010': {'id': '42', 'name': 'Payments Platform', 'title': 'Payments Platform'},
        'customfield_10016': 5.0,
        'components': [
            {'self': f'{base_url}/rest/api/2/component/10001', 'id': '10001', 'name': 'Backend'},
            {'self': f'{base_url}/rest/api/2/component/10002', 'id': '10002', 'name': 'API'},
        ],
        'fixVersions': [
            {'self': f'{base_url}/rest/api/2/version/10100', 'id': '10100', 'name': '2025.07', 'released': False}
        ],
        'issuelinks': [linked(n) for n in (101, 202)],
        'attachment': [
            {
                'self': f'{base_url}/rest/api/2/attachment/{40000 + n}',
                'id': str(40000 + n),
                'filename': name,
                'author': bob,
                'created': '2025-06-03T10:1{n}:00.000+0000',
                'size': 10_000 * (n + 1),
                'mimeType': mime,
                'content': f'{base_url}/secure/attachment/{40000 + n}/{name}',
            }
            for n, (name, mime) in enumerate([('trace.log', 'text/plain'), ('screenshot.png', 'image/png')])
        ],
        'comment': {
            'comments': [
                {
                    'self': f'{base_url}/rest/api/2/issue/{ID_MARK}/comment/50001',
                    'id': '50001',
                    'author': bob,
                    'body': _prose(rng, 60),
                    'created': '2025-06-03T10:20:00.000+0000',
                    'updated': '2025-06-03T10:20:00.000+0000',
                }
            ],
            'maxResults': 1,
            'total': 1,
            'startAt': 0,
        },
        'votes': {'self': f'{base_url}/rest/api/2/issue/{KEY_MARK}/votes', 'votes': 0, 'hasVoted': False},
        'timetracking': {'originalEstimate': '1d', 'remainingEstimate': '1d', 'originalEstimateSeconds': 28800},
        'worklog': {'startAt': 0, 'maxResults': 20, 'total': 0, 'worklogs': []},
    }


def create_issues(sim: JiraSimulator, count: int) -> None:
    """Create ``count`` issues PROJ-1.. (ids 10000..) in the simulator, without sending webhooks."""
    for _ in range(count):
        sim.state.create(project=PROJECT, issuetype='Bug', summary='Checkout fails', reporter=ALICE, changes={})
    first = sim.issues.get(f'{PROJECT}-1')
    if count and (first is None or first['id'] != str(FIRST_ISSUE_ID)):
        raise RuntimeError('the simulator did not number issues from PROJ-1 / 10000')


def body_template(base_url: str, seed: int = 7) -> str:
    """The JSON text of one ``jira:issue_created`` delivery, with ``@ID@``/``@KEY@`` marks."""
    sim = JiraSimulator()
    sim.state.base_url = base_url
    change = sim.state.create(project=PROJECT, issuetype='Bug', summary='Checkout fails', reporter=ALICE, changes={})
    body = events.issue_created(change, sim.state.actor(ALICE))
    issue = copy.deepcopy(body['issue'])
    issue['id'] = ID_MARK
    issue['key'] = KEY_MARK
    issue['self'] = f'{base_url}/rest/api/2/issue/{ID_MARK}'
    issue['fields']['watches']['self'] = f'{base_url}/rest/api/2/issue/{ID_MARK}/watchers'
    issue['fields'].update(_padding(base_url, random.Random(seed)))
    body['issue'] = issue
    return json.dumps(body, separators=(',', ':'))


def render(template: str, index: int) -> bytes:
    """The body of issue number ``index`` (0-based): PROJ-<index+1>, id 10000+index."""
    return template.replace(ID_MARK, str(FIRST_ISSUE_ID + index)).replace(KEY_MARK, f'{PROJECT}-{index + 1}').encode()
