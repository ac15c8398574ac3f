"""issue_linked and worklog_added over Forge only, end to end: a person links issues or logs work
on the simulated site, Forge sends ``avi:jira:created:issuelink`` / ``avi:jira:created:worklog``
to the producer's /forge/events, the job is admitted by issue id, and a burst worker reads the
issue and runs the rule with Bearer calls (the app system token), never a Connect JWT."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE, BOB
from rulequeue.store import rules
from schemas.rules import Rule
from tests.harness import System, install_forge, running_system, snapshot_keys


@contextlib.asynccontextmanager
async def forge_only_site(schema: str) -> AsyncIterator[System]:
    """Producer + simulator, the site on Forge only (no Connect app), the Forge app installed."""
    async with running_system(schema, install=False, forge=True) as system:
        await install_forge(system)
        yield system


async def _add_rule(system: System, trigger: dict[str, Any], *actions: dict[str, Any]) -> None:
    rule = {'name': f'On {trigger["type"]}', 'projects': ['PROJ'], 'trigger': trigger, 'actions': list(actions)}
    await rules.create_rule(system.pool, 'forge:' + system.sim.forge.cloud_id, Rule.model_validate(rule))


def _assert_all_calls_were_forge(system: System) -> None:
    assert system.sim.calls
    for call in system.sim.calls:
        assert call.auth == 'forge', call
        assert call.jwt_valid
        assert call.path.startswith(f'/ex/jira/{system.sim.forge.cloud_id}/rest/')


async def test_a_forge_link_runs_the_issue_linked_rule_on_its_source(schema: str, redis: aioredis.Redis) -> None:
    async with forge_only_site(schema) as system:
        sim = system.sim
        body = '{{issue.key}} {{linkType.outward}} {{destinationIssue.key}}'
        await _add_rule(system, {'type': 'issue_linked', 'link_type': 'blocks'}, {'type': 'comment', 'body': body})
        source, _ = await sim.create_issue(summary='Database migration')
        destination, _ = await sim.create_issue(summary='Release')
        answers = await sim.link_issues(source['key'], destination['key'], 'Blocks', user=BOB)
        assert [a.status_code for a in answers] == [204]
        sent = sim.forge_events.deliveries[-1].event
        assert sent['eventType'] == 'avi:jira:created:issuelink'
        assert 'issue' not in sent
        await system.drain()

        [comment] = sim.comments[source['key']]
        assert comment['body'] == f'{source["key"]} blocks {destination["key"]}'
        assert sim.comments[destination['key']] == []
        [entry] = await system.pool.fetch('SELECT status, issue_key, issue_id, event_type FROM audit_log')
        assert dict(entry) == {
            'status': 'SUCCESS',
            'issue_key': source['key'],
            'issue_id': source['id'],
            'event_type': 'issuelink_created',
        }
        reads = [c for c in sim.calls if c.method == 'GET' and c.path.endswith(f'/rest/api/2/issue/{source["id"]}')]
        assert reads  # the destination's key above came from this read: the event names it by id only
        _assert_all_calls_were_forge(system)
        # The delivery record got the key with the worker's read.
        row = await system.pool.fetchrow(
            'SELECT issue_key, state FROM deliveries WHERE delivery_id = (SELECT delivery_id FROM audit_log)'
        )
        assert dict(row) == {'issue_key': source['key'], 'state': 'done'}
        assert await snapshot_keys(system.settings) == []


async def test_a_forge_worklog_runs_the_worklog_added_rule(schema: str, redis: aioredis.Redis) -> None:
    async with forge_only_site(schema) as system:
        sim = system.sim
        log = {'type': 'log', 'message': '{{worklog.timeSpentSeconds}} s by {{worklog.author.accountId}}'}
        comment = {'type': 'comment', 'body': '{{initiator.accountId}} logged {{worklog.timeSpentSeconds}} s'}
        await _add_rule(system, {'type': 'worklog_added'}, log, comment)
        await _add_rule(system, {'type': 'issue_linked'}, {'type': 'comment', 'body': 'linked'})  # not this event
        issue, _ = await sim.create_issue()
        answers = await sim.add_worklog(issue['key'], 5400, user=ALICE)
        assert [a.status_code for a in answers] == [204]
        await system.drain()

        [entry] = await system.pool.fetch('SELECT rule_name, issue_key, actions FROM audit_log')
        assert (entry['rule_name'], entry['issue_key']) == ('On worklog_added', issue['key'])
        assert entry['actions'][0]['changes']['log'] == f'5400 s by {ALICE["accountId"]}'
        [posted] = sim.comments[issue['key']]
        assert posted['body'] == f'{ALICE["accountId"]} logged 5400 s'
        _assert_all_calls_were_forge(system)
