"""Right after ``installed`` (FORGE.md 8.12, 9 case 32): Jira may answer a new Forge
installation's first calls with 401/403 while its permissions propagate. Within the warm-up
window (constants.FORGE_WARMUP_SECONDS after the installation's first call) those are retried
like a 429, so the rule succeeds; after it they are final at once, as before (here: the issue
cannot be read, so the execution ends without running a rule). The
``installed`` event names the app by a bare UUID (as Forge's example does), not an ARI.
"""

from __future__ import annotations

from collections import Counter

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from rulequeue.simulator.forge_events import LIFECYCLE_PATH
from tests.e2e.test_forge_e2e import assert_forge_calls, audit_rows, forge_add_rule, forge_site, install_forge
from tests.harness import System

GREET = {
    'name': 'Greet new issues',
    'trigger': {'type': 'issue_created'},
    'actions': [{'type': 'comment', 'body': 'Welcome {{issue.key}}'}],
}


async def _installed(system: System) -> None:
    await install_forge(system)
    [lifecycle] = [d for d in system.sim.forge_events.deliveries if d.path == LIFECYCLE_PATH]
    app_id = lifecycle.event['app']['id']
    assert not app_id.startswith('ari:')
    assert len(app_id) == 36
    assert await system.pool.fetchval('SELECT state FROM tenants') == 'installed'
    await forge_add_rule(system, GREET)


async def test_a_new_installations_401_and_403_are_retried_until_permissions_arrive(
    schema: str, redis: aioredis.Redis
) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await _installed(system)
        sim.fail_next(403, times=1)
        sim.fail_next(401, times=1)
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='first', reporter=ALICE)
        await system.drain()

        assert [r['status'] for r in await audit_rows(system)] == ['SUCCESS']
        assert [c['body'] for c in sim.comments[issue['key']]] == [f'Welcome {issue["key"]}']
        statuses = [c.status for c in sim.calls]
        assert statuses[:2] == [403, 401]  # the first reads of the issue, refused, then retried
        # Then the read, the actor's user, the check for the comment an earlier attempt may have
        # made, the comment.
        assert Counter(statuses) == {403: 1, 401: 1, 200: 3, 201: 1}
        assert [c.method for c in sim.calls if c.method != 'GET'] == ['POST']
        assert_forge_calls(system, sim.calls)
        assert await system.pool.fetchval('SELECT count(*) FROM dead_letters') == 0


async def test_after_the_warm_up_a_403_fails_the_rule_without_retries(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await _installed(system)
        await system.pool.execute("UPDATE forge_installations SET created_at = now() - interval '1 hour'")
        sim.fail_next(403, times=1)
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='later', reporter=ALICE)
        await system.drain()

        assert [c.status for c in sim.calls] == [403]  # no retry
        assert sim.comments.get(issue['key'], []) == []
        # The issue could not be read, so no rule ran (worker.current_issue): finished, not retried.
        assert await audit_rows(system) == []
        assert await system.pool.fetchval('SELECT state FROM deliveries') == 'issue-unavailable'
