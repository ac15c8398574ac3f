"""The example rules that create, link, watch, split and check who acted, run on the demo's own
stories: what Jira holds afterwards, beyond the audit statuses the demo checks."""

from __future__ import annotations

import json
from typing import Any

from rulequeue.demo import EXAMPLES
from rulequeue.demo_scenarios import SCENARIOS
from rulequeue.simulator import ALICE, BOB
from tests.harness import System


def _example(name: str) -> dict[str, Any]:
    rule: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return rule


async def _play(system: System, scenario: str) -> None:
    [story] = [s.story for s in SCENARIOS if s.name == scenario]
    await story(system.sim)
    await system.drain()


def _keys(system: System, project: str) -> list[str]:
    return [k for k in system.sim.issues if k.startswith(project + '-')]


def _comments(system: System, key: str) -> list[str]:
    return [c['body'] for c in system.sim.comments.get(key, [])]


async def test_a_blocker_gets_a_linked_escalation_and_a_watcher(system: System) -> None:
    await system.add_rule(_example('escalate-blockers.json'))
    await _play(system, 'a blocker is filed in SUP')
    [blocker] = _keys(system, 'SUP')
    [escalation] = _keys(system, 'ESC')
    created = system.sim.issues[escalation]['fields']
    assert created['summary'].startswith(f'Escalation: {blocker} ')
    assert created['labels'] == ['escalation']
    [link] = system.sim.issues[blocker]['fields']['issuelinks']
    assert (link['type']['name'], link['outwardIssue']['key']) == ('Relates', escalation)
    assert BOB['accountId'] in system.sim.state.watchers[blocker]

    await _play(system, 'a question is filed in SUP')
    assert len(_keys(system, 'ESC')) == 1, 'only a Highest issue is escalated'
    logs = [a['changes'].get('log') for e in await system.audit() for a in e['actions']]
    assert any(log and log.endswith('filed at Medium: no escalation') for log in logs)


async def test_a_feature_is_split_and_the_comment_counts_the_subtasks(system: System) -> None:
    await system.add_rule(_example('plan-a-feature.json'))
    await _play(system, 'a feature is filed')
    [feature] = [k for k in _keys(system, 'FEAT') if not system.sim.issues[k]['fields'].get('parent')]
    subtasks = system.sim.issues[feature]['fields']['subtasks']
    assert [s['fields']['summary'] for s in subtasks] == [f'Design {feature}', f'Build {feature}', f'Verify {feature}']
    # The count is read after refetch: the webhook's issue had no sub-tasks yet.
    assert _comments(system, feature) == [f'{feature} is planned: 3 sub-tasks.']


async def test_only_a_release_lead_closes_a_release(system: System) -> None:
    await system.add_rule(_example('only-leads-close-releases.json'))
    await _play(system, 'a release lead closes a release')
    [by_lead] = _keys(system, 'REL')
    assert system.sim.issues[by_lead]['fields']['status']['name'] == 'Done'
    assert _comments(system, by_lead) == [f'Release {by_lead} closed by {ALICE["displayName"]}.']

    await _play(system, 'someone else closes a release')
    [by_other] = [k for k in _keys(system, 'REL') if k != by_lead]
    assert system.sim.issues[by_other]['fields']['status']['name'] == 'To Do'
    [note] = _comments(system, by_other)
    assert note.startswith(f'Only a release lead closes {by_other}; ')
