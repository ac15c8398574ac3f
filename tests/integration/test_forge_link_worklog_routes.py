"""Forge's link and worklog events through /forge/events over HTTP (no worker: jobs are read from
the queue): one job per link or worklog, admitted by issue id with ``fetch_issue`` and the
Connect path's snapshot shape; unusable ones parked; one link reported by both transports
queued once."""

from __future__ import annotations

import copy
from typing import Any

import redis.asyncio as aioredis

from rulequeue.store import rules
from schemas.rules import Rule
from tests.harness import System
from tests.integration.test_forge_admin_api import install
from tests.integration.test_forge_routes import EVENTS, forge_key, forge_system, jobs, post, rejected, snapshot
from tests.unit.test_forge_link_worklog import LINK, WORKLOG

COMMENT = {'type': 'comment', 'body': '{{destinationIssue.key}}'}


async def _rules(system: System) -> tuple[str, str]:
    """An issue_linked and a worklog_added rule of the Forge tenant: (linked id, worklog id)."""
    await install(system)
    made = []
    for trigger in ('issue_linked', 'worklog_added'):
        rule = Rule.model_validate({'name': trigger, 'trigger': {'type': trigger}, 'actions': [COMMENT]})
        made.append((await rules.create_rule(system.pool, forge_key(system), rule)).id)
    return made[0], made[1]


async def test_a_link_event_queues_one_job_named_by_its_source_issue(schema: str, redis: aioredis.Redis) -> None:
    async with forge_system(schema) as system:
        linked_rule, _ = await _rules(system)
        assert (await post(system, EVENTS, LINK)).status_code == 204
        retry = {'retryCount': 1, 'retryReason': 'TIMEOUT_ERROR', 'retryData': None}
        assert (await post(system, EVENTS, {'payload': {**LINK, 'retryContext': retry}})).status_code == 204
        [job] = await jobs(system)
        assert job['client_key'] == forge_key(system)
        assert job['fetch_issue'] is True
        assert job['rule_ids'] == [linked_rule]
        body = await snapshot(system, job)
        assert body['webhookEvent'] == 'issuelink_created'
        assert body['issue'] == {'id': '10000'}  # the key comes with the worker's read
        assert body['issueLink']['issueLinkType']['outwardName'] == 'blocks'
        assert body['user'] == {'accountId': '557058:bob'}
        assert body['forge']['eventType'] == 'avi:jira:created:issuelink'
        row = await system.pool.fetchrow('SELECT issue_id, issue_key FROM deliveries')
        assert (row['issue_id'], row['issue_key']) == ('10000', '')


async def test_a_worklog_event_queues_its_worklog_rules_only(schema: str, redis: aioredis.Redis) -> None:
    async with forge_system(schema) as system:
        _, worklog_rule = await _rules(system)
        assert (await post(system, EVENTS, {'payload': WORKLOG})).status_code == 204
        [job] = await jobs(system)
        assert (job['fetch_issue'], job['rule_ids']) == (True, [worklog_rule])
        body = await snapshot(system, job)
        assert (body['webhookEvent'], body['issue'], body['timestamp']) == (
            'worklog_created',
            {'id': '10000'},
            1755860000123,
        )
        assert body['worklog']['id'] == '10200'


async def test_links_and_worklogs_without_their_ids_are_parked(schema: str, redis: aioredis.Redis) -> None:
    async with forge_system(schema) as system:
        no_destination = copy.deepcopy(LINK)
        del no_destination['issueLink']['destinationIssueId']
        no_issue = copy.deepcopy(WORKLOG)
        del no_issue['worklog']['issueId']
        for body in (no_destination, no_issue):
            assert (await post(system, EVENTS, body)).status_code == 204
        assert await jobs(system) == []
        reasons = await rejected(system)
        assert len(reasons) == 2
        assert 'issueLink.destinationIssueId missing' in reasons[0]
        assert 'worklog.issueId missing' in reasons[1]


async def test_one_link_reported_by_both_transports_is_queued_once(schema: str, redis: aioredis.Redis) -> None:
    async with forge_system(schema, connect=True) as system:
        sim = system.sim
        source, _ = await sim.create_issue(summary='Migration')
        destination, _ = await sim.create_issue(summary='Release')
        await sim.link_issues(source['key'], destination['key'], 'Blocks')  # Connect only: no Forge remote
        sent: dict[str, Any] = sim.deliveries[-1].body
        assert sent['webhookEvent'] == 'issuelink_created'
        assert len(await jobs(system)) == 3
        # Forge reports the same link late (its first event switches the tenant): not run again.
        link = sent['issueLink']
        same = copy.deepcopy(LINK)
        same['issueLink'] |= {k: str(link[k]) for k in ('id', 'sourceIssueId', 'destinationIssueId')}
        assert (await post(system, EVENTS, same)).status_code == 204
        assert len(await jobs(system)) == 3
        # Another link, over Forge only: queued.
        other = copy.deepcopy(same)
        other['issueLink']['id'] = str(int(link['id']) + 1)
        assert (await post(system, EVENTS, other)).status_code == 204
        queued = await jobs(system)
        assert len(queued) == 4
        assert sum(j['delivery_id'].startswith('forge:') for j in queued) == 1
