"""Forge's reconciling sweep end to end (FORGE.md 9 case 28): a Forge-only site whose Forge
drops an event (held and never released, as Forge drops one over 200 kB) still runs the rule
once, found by the sweep through the site's search and changelog; an event that did come is
not run again, a change newer than Forge's delay allowance is left for its event, and a late
event of a swept change is acknowledged and not run.

The sweep is called directly with an injected "now" a few minutes ahead of the changes, as
the cron would call it then; what is counted is what reached Jira (the comments) and the
audit rows, so a change run twice or not at all fails.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE, changelog
from rulequeue.simulator.catalog import jira_time
from tests.e2e.test_forge_e2e import PRIORITY, audit_rows, forge_add_rule, forge_site
from tests.harness import System, install_forge
from worker.deps import borrowed_deps
from worker.forge_sweep import SweepOutcome, TenantSweep, run_sweep

WELCOME = {
    'name': 'Welcome new issues',
    'trigger': {'type': 'issue_created'},
    'actions': [{'type': 'comment', 'body': 'Welcome {{issue.key}}'}],
}


async def sweep(system: System, minutes_ahead: float) -> TenantSweep:
    """One sweep as the cron would run it ``minutes_ahead`` from now; the site's one tenant."""
    async with borrowed_deps(system.settings, system.pool) as deps:
        [result] = await run_sweep(deps, now=datetime.now(UTC) + timedelta(minutes=minutes_ahead))
    assert result.outcome is SweepOutcome.RAN
    return result


def comments(system: System, key: str) -> list[str]:
    return [str(c['body']) for c in system.sim.comments[key]]


async def rows_of(system: System, rule: dict[str, Any]) -> list[dict[str, Any]]:
    return [r for r in await audit_rows(system) if r['rule_name'] == rule['name']]


async def test_a_dropped_update_is_swept_and_runs_once(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema, forge_sweep_minutes=5) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, PRIORITY)
        issue, _ = await sim.create_issue(summary='Its update is dropped')
        sim.forge_events.hold = True
        await sim.update_issue(issue['key'], {'priority': 'High'})
        [dropped] = sim.forge_events.held
        await system.drain()
        assert comments(system, issue['key']) == []  # no event: nothing ran

        changelog_id = dropped.event['changelog']['id']
        first = await sweep(system, minutes_ahead=4)
        assert (first.found, first.delivery_ids) == (1, [f'sweep:{issue["id"]}:changelog:{changelog_id}'])
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']

        # A later sweep (its window still holds the change) and the late event itself run nothing.
        again = await sweep(system, minutes_ahead=9)
        assert (again.found, again.delivery_ids) == (0, [])
        [late] = await sim.forge_events.release()
        assert late.status_code == 204
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']
        [row] = await rows_of(system, PRIORITY)
        assert (row['status'], row['delivery_id']) == ('SUCCESS', first.delivery_ids[0])


async def test_an_update_whose_event_came_is_not_swept(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema, forge_sweep_minutes=5) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, PRIORITY)
        issue, _ = await sim.create_issue(summary='Its update arrives')
        await sim.update_issue(issue['key'], {'priority': 'High'})
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']

        swept = await sweep(system, minutes_ahead=4)
        assert (swept.found, swept.delivery_ids) == (0, [])
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']
        [row] = await rows_of(system, PRIORITY)
        assert row['delivery_id'].startswith('forge:')


async def test_a_change_newer_than_the_delay_allowance_is_left_for_its_event(
    schema: str, redis: aioredis.Redis
) -> None:
    async with forge_site(schema, forge_sweep_minutes=5) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, PRIORITY)
        issue, _ = await sim.create_issue(summary='Its event is late')
        sim.forge_events.hold = True
        await sim.update_issue(issue['key'], {'priority': 'High'})

        early = await sweep(system, minutes_ahead=1)  # the change is a minute old: Forge may still send it
        assert (early.found, early.delivery_ids) == (0, [])
        [answer] = await sim.forge_events.release()
        assert answer.status_code == 204
        await system.drain()
        later = await sweep(system, minutes_ahead=4)
        assert (later.found, later.delivery_ids) == (0, [])
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']
        [row] = await rows_of(system, PRIORITY)
        assert row['delivery_id'].startswith('forge:')


async def test_a_created_issue_whose_event_was_dropped_runs_its_rule(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema, forge_sweep_minutes=5) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, WELCOME)
        sim.forge_events.hold = True
        issue, _ = await sim.create_issue(summary='Its creation is dropped')
        assert len(sim.forge_events.held) == 1

        swept = await sweep(system, minutes_ahead=4)
        assert swept.delivery_ids == [f'sweep:{issue["id"]}:created']
        await system.drain()
        again = await sweep(system, minutes_ahead=8)
        assert again.delivery_ids == []
        await system.drain()
        assert comments(system, issue['key']) == [f'Welcome {issue["key"]}']
        [row] = await rows_of(system, WELCOME)
        assert (row['status'], row['delivery_id']) == ('SUCCESS', swept.delivery_ids[0])


async def test_the_sweep_reads_a_long_changelog_from_its_end(schema: str, redis: aioredis.Redis) -> None:
    async with forge_site(schema, forge_sweep_minutes=5) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, PRIORITY)
        issue, _ = await sim.create_issue(summary='Edited often')
        # 150 edits whose events all got lost (made in the site's state: no event at all), the
        # first 140 an hour ago, the priority change last.
        for number in range(150):
            edit = {'priority': {'name': 'High'}} if number == 149 else {'summary': f'Edit {number}'}
            change = sim.state.edit(issue['key'], edit, {})
            assert change is not None
            changelog.record(sim.state, change, ALICE)
        history = sim.state.changelogs[issue['id']]
        for entry in history[:140]:
            entry['created'] = jira_time(time.time() - 3600)

        swept = await sweep(system, minutes_ahead=4)
        assert (swept.found, len(swept.delivery_ids)) == (10, 10)
        assert swept.delivery_ids[-1] == f'sweep:{issue["id"]}:changelog:{history[-1]["id"]}'
        await system.drain()
        assert comments(system, issue['key']) == ['Priority is now High']
        # The first page, then the last one, which starts before the window: no further page.
        pages = [c.query for c in sim.calls if c.path.endswith(f'/issue/{issue["id"]}/changelog')]
        assert pages == ['startAt=0&maxResults=100', 'startAt=50&maxResults=100']
