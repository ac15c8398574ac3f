"""worker.limits against the real Redis: a retried execution keeps its place and its chain depth."""

from __future__ import annotations

import redis.asyncio as aioredis

from rulequeue import constants
from schemas.audit import AuditStatus
from schemas.jobs import ExecutionJob
from tests.conftest import make_settings
from worker import limits

CLIENT = 'jira:tenant-1'


def _job(delivery: str) -> ExecutionJob:
    execution = constants.execution_id(CLIENT, delivery)
    return ExecutionJob(
        execution_id=execution,
        client_key=CLIENT,
        delivery_id=delivery,
        snapshot_key=constants.snapshot_key(CLIENT, execution),
        received_at=0.0,
    )


async def test_a_retried_execution_is_not_counted_twice(redis: aioredis.Redis) -> None:
    settings = make_settings('public', rule_executions_per_hour=2)
    first, second, third = _job('d-1'), _job('d-2'), _job('d-3')
    assert await limits.limit_reached(redis, settings, first, 'rule-a', 0) is None
    assert await limits.limit_reached(redis, settings, second, 'rule-a', 0) is None
    assert await limits.limit_reached(redis, settings, first, 'rule-a', 0) is None  # a retry keeps place 1
    held = await limits.limit_reached(redis, settings, third, 'rule-a', 0)
    assert held is not None
    assert held[0] is AuditStatus.THROTTLED
    assert 'execution 3 of this rule' in held[1]
    assert await limits.limit_reached(redis, settings, third, 'rule-b', 0) is None  # counted per rule
    loop = await limits.limit_reached(redis, settings, _job('d-4'), 'rule-c', settings.loop_max_depth + 1)
    assert loop is not None
    assert loop[0] is AuditStatus.LOOP


async def test_chain_depth_follows_our_changes_and_is_fixed_per_execution(redis: aioredis.Redis) -> None:
    person = _job('p-1')
    assert await limits.chain_depth(redis, person, '10001', caused_by_app=False) == 0
    await limits.acting_at(redis, CLIENT, '10001', 0)
    ours = _job('a-1')
    assert await limits.chain_depth(redis, ours, '10001', caused_by_app=True) == 1
    await limits.acting_at(redis, CLIENT, '10001', 1)
    # Retried after its own action raised the issue's depth: still 1, not 2.
    assert await limits.chain_depth(redis, ours, '10001', caused_by_app=True) == 1
    assert await limits.chain_depth(redis, _job('a-2'), '10001', caused_by_app=True) == 2
    assert await limits.chain_depth(redis, _job('a-3'), '10002', caused_by_app=True) == 1  # another issue
    assert 0 < await redis.ttl(constants.chain_issue_key(CLIENT, '10001')) <= constants.CHAIN_TTL_SECONDS
