"""FORGE.md section 9 case 31: a Forge tenant's 429 is handled by the same policy as Connect's.

Jira answers the comment with 429, ``Retry-After: 7`` and the points-based quota's beta headers;
the execution comes back no sooner than Jira asked, with the system token again, and comments
once. (The near-limit header does not yet slow the tenant down: see the README.)
"""

from __future__ import annotations

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from tests.e2e.test_forge_e2e import assert_forge_calls, audit_rows, forge_add_rule
from tests.harness import install_forge, running_system

RULE = {
    'name': 'Welcome',
    'trigger': {'type': 'issue_created'},
    'actions': [{'type': 'comment', 'body': 'Welcome {{issue.key}}'}],
}


async def test_a_429_with_retry_after_is_waited_out_then_retried_with_the_system_token(
    schema: str, redis: aioredis.Redis
) -> None:
    async with running_system(schema, install=False, forge=True) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, RULE)
        sim.fail_next(429, retry_after=7, method='POST')
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='busy', reporter=ALICE)
        await system.drain()

        posts = [c for c in sim.calls if c.method == 'POST']
        assert [c.status for c in posts] == [429, 201]
        # Retry-After is a floor: coming back sooner only earns another 429.
        assert posts[1].at - posts[0].at >= 7
        assert [c['body'] for c in sim.comments[issue['key']]] == [f'Welcome {issue["key"]}']
        assert [r['status'] for r in await audit_rows(system)] == ['SUCCESS']
        assert_forge_calls(system, sim.calls)
