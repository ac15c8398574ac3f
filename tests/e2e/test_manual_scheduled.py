"""Manual and scheduled triggers end to end (issue #3): a rule run by hand on one issue, and a
rule run on a cron schedule for each issue its JQL search finds, with A4J's limits (one run of
a scheduled rule at a time, 1,000 issues per search)."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import Any

import httpx
import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from tests.harness import System, running_system
from worker.deps import WorkerDeps, borrowed_deps
from worker.issue_search import search_issues
from worker.scheduled import TickOutcome, run_due

SEARCH = '/rest/api/3/search/jql'
# Ticks only on 29 February (2028 is a leap year), so no real-time cron fires it during a drain.
LEAP_DAY = '0-2 9 29 2 *'
NINE = datetime(2028, 2, 29, 9, 0, 25, tzinfo=UTC)


def _manual(name: str, **extra: Any) -> dict[str, Any]:
    body = 'Run by hand on {{issue.key}} ({{issue.fields.summary}}) by {{initiator.accountId}}'
    return {'name': name, 'trigger': {'type': 'manual'}, 'actions': [{'type': 'comment', 'body': body}], **extra}


def _scheduled(name: str, jql: str = 'project = OPS AND labels = stale', cron: str = LEAP_DAY) -> dict[str, Any]:
    return {
        'name': name,
        'trigger': {'type': 'scheduled', 'cron': cron, 'jql': jql},
        'actions': [{'type': 'comment', 'body': 'Still stale: {{issue.key}}'}],
    }


async def _run(system: System, rule_id: str, issue: str, *, as_user: str | None = ALICE['accountId']) -> httpx.Response:
    """POST /api/rules/{id}/run as the user's app page would (a token with ``sub``)."""
    request = system.http.build_request('POST', f'{system.url}/api/rules/{rule_id}/run', json={'issue': issue})
    request.headers['Authorization'] = 'JWT ' + system.sim.sign_request('POST', str(request.url), account_id=as_user)
    return await system.http.send(request)


def _comments(system: System, key: str) -> list[str]:
    return [c['body'] for c in system.sim.comments.get(key, [])]


def _deps(system: System) -> contextlib.AbstractAsyncContextManager[WorkerDeps]:
    return borrowed_deps(system.settings, system.pool)


async def _issues(system: System, project: str, count: int, labels: tuple[str, ...] = ()) -> list[str]:
    keys = []
    for n in range(count):
        issue, _ = await system.sim.create_issue(project=project, issuetype='Task', summary=f'task {n}', labels=labels)
        keys.append(str(issue['key']))
    return keys


# -- manual ---------------------------------------------------------------------------------------


async def test_a_manual_run_runs_only_that_rule_on_that_issue_once(system: System) -> None:
    issue, _ = await system.sim.create_issue(project='OPS', issuetype='Task', summary='check me')
    await system.drain()  # the creation, before any rule exists
    chosen = await system.add_rule(_manual('Check by hand'))
    other = await system.add_rule(_manual('Another manual rule'))

    answer = await _run(system, chosen['id'], issue['key'])
    assert answer.status_code == 202, answer.text
    accepted = answer.json()
    assert accepted['status'] == 'accepted'
    assert accepted['issue'] == {'id': issue['id'], 'key': issue['key']}
    await system.drain()

    # The worker read the issue itself: the summary came from Jira, the initiator from the token.
    assert _comments(system, issue['key']) == [f'Run by hand on {issue["key"]} (check me) by {ALICE["accountId"]}']
    [entry] = await system.audit()
    assert (entry['rule_id'], entry['status'], entry['event_type']) == (chosen['id'], 'SUCCESS', 'rulequeue:manual')
    assert entry['delivery_id'] == accepted['delivery_id']
    explained = (await system.api('GET', f'/api/events/{accepted["delivery_id"]}')).json()
    reasons = {r['rule_id']: r['reason'] for r in explained['rules']}
    assert reasons == {chosen['id']: 'ran', other['id']: 'not_requested'}

    # By id as well; every request is a run of its own.
    again = await _run(system, chosen['id'], issue['id'])
    assert again.status_code == 202, again.text
    assert again.json()['delivery_id'] != accepted['delivery_id']
    await system.drain()
    assert len(_comments(system, issue['key'])) == 2
    assert len(await system.audit(rule=chosen['id'])) == 2
    assert await system.audit(rule=other['id']) == []


async def test_a_manual_run_is_refused_for_other_rules_and_unknown_issues(system: System) -> None:
    issue, _ = await system.sim.create_issue(project='OPS', issuetype='Task')
    await system.drain()
    on_create = await system.add_rule({**_manual('On create'), 'trigger': {'type': 'issue_created'}})
    disabled = await system.add_rule(_manual('Switched off', enabled=False))
    proj_only = await system.add_rule(_manual('PROJ only', projects=['PROJ']))
    manual = await system.add_rule(_manual('By hand'))

    refused = await _run(system, on_create['id'], issue['key'])
    assert refused.status_code == 409
    assert 'issue_created trigger; only rules with a manual trigger' in refused.json()['error']
    assert (await _run(system, disabled['id'], issue['key'])).status_code == 409
    out_of_scope = await _run(system, proj_only['id'], issue['key'])
    assert out_of_scope.status_code == 409
    assert "not in the rule's projects" in out_of_scope.json()['error']
    assert (await _run(system, '00000000-0000-4000-8000-000000000000', issue['key'])).status_code == 404
    unknown_issue = await _run(system, manual['id'], 'OPS-9999')
    assert unknown_issue.status_code == 404
    assert 'no issue OPS-9999' in unknown_issue.json()['error']
    assert (await _run(system, manual['id'], 'not a key')).status_code == 422
    await system.drain()
    assert await system.audit() == []
    assert _comments(system, issue['key']) == []


# -- scheduled ------------------------------------------------------------------------------------


async def test_a_due_tick_runs_the_rule_once_per_issue_found(system: System) -> None:
    stale = await _issues(system, 'OPS', 3, labels=('stale',))
    await _issues(system, 'OPS', 1)
    await _issues(system, 'PROJ', 1, labels=('stale',))
    await system.drain()
    rule = await system.add_rule(_scheduled('Nudge stale issues'))

    async with _deps(system) as deps:
        assert await run_due(deps, datetime(2028, 2, 28, 9, 0, tzinfo=UTC)) == []  # not a tick of the rule
        [run] = await run_due(deps, NINE)
        assert (run.outcome, run.tick, len(run.delivery_ids), run.over_limit) == (
            TickOutcome.RAN,
            '202802290900',
            3,
            False,
        )
        [again] = await run_due(deps, NINE)  # another worker's cron, or a repeat: nothing more
        assert (again.outcome, again.delivery_ids) == (TickOutcome.TAKEN, [])
    await system.drain()

    entries = await system.audit(rule=rule['id'])
    assert sorted((e['issue_key'], e['status'], e['event_type']) for e in entries) == [
        (key, 'SUCCESS', 'rulequeue:scheduled') for key in sorted(stale)
    ]
    assert {e['delivery_id'] for e in entries} == set(run.delivery_ids)
    for key in stale:
        assert _comments(system, key) == [f'Still stale: {key}']
    [search] = [c for c in system.sim.calls if c.path == SEARCH]
    assert (search.method, search.status, search.jwt_valid) == ('POST', 200, True)
    assert search.json['jql'] == 'project = OPS AND labels = stale'


async def test_a_run_in_progress_makes_the_next_tick_skip_visibly(system: System) -> None:
    await _issues(system, 'OPS', 2, labels=('stale',))
    await system.drain()
    rule = await system.add_rule(_scheduled('Nudge stale issues'))

    async with _deps(system) as deps:
        [first] = await run_due(deps, NINE)
        assert first.outcome is TickOutcome.RAN
        # Its two executions are queued, not run: the 09:01 tick must not start a second run.
        [second] = await run_due(deps, NINE.replace(minute=1))
        assert (second.outcome, second.delivery_ids) == (TickOutcome.BUSY, [])
        [skipped] = await system.audit(rule=rule['id'], status='THROTTLED')
        assert skipped['messages'] == [
            'scheduled run of 202802290901 skipped: the run of 202802290900 is still in progress '
            '(one run of a scheduled rule at a time)'
        ]
        await system.drain()
        # Every execution of the first run finished: the 09:02 tick runs.
        [third] = await run_due(deps, NINE.replace(minute=2))
        assert (third.outcome, len(third.delivery_ids)) == (TickOutcome.RAN, 2)
    await system.drain()
    statuses = sorted(e['status'] for e in await system.audit(rule=rule['id']))
    assert statuses == ['SUCCESS'] * 4 + ['THROTTLED']


async def test_a_search_over_the_limit_runs_the_first_issues_and_is_throttled(
    schema: str, redis: aioredis.Redis
) -> None:
    async with running_system(schema, max_issues_per_search=3) as system:
        keys = await _issues(system, 'OPS', 5, labels=('stale',))
        await system.drain()
        rule = await system.add_rule(_scheduled('Nudge stale issues'))
        async with _deps(system) as deps:
            [run] = await run_due(deps, NINE)
            assert (run.outcome, len(run.delivery_ids), run.over_limit) == (TickOutcome.RAN, 3, True)
            # The search itself pages with nextPageToken, and asks only one issue past the limit.
            tenant = await _tenant(system, deps)
            paged = await search_issues(deps.jira, tenant, 'labels = stale', limit=10, page_size=2)
            assert (sorted(i.key for i in paged.issues), paged.over_limit) == (sorted(keys), False)
        await system.drain()

        entries = await system.audit(rule=rule['id'])
        [throttled] = [e for e in entries if e['status'] == 'THROTTLED']
        assert throttled['messages'] == ['search found more than 3 issues; the first 3 ran, the rest did not']
        ran = [e for e in entries if e['status'] == 'SUCCESS']
        assert len(ran) == 3
        assert sum(len(_comments(system, key)) for key in keys) == 3
        searches = [c.json for c in system.sim.calls if c.path == SEARCH]
        assert searches[0]['maxResults'] == 4
        assert [s.get('nextPageToken') is not None for s in searches[1:]] == [False, True, True]


async def _tenant(system: System, deps: WorkerDeps) -> Any:
    from rulequeue.store import tenants

    tenant = await tenants.get_tenant(deps.pool, deps.cipher, system.sim.client_key)
    assert tenant is not None
    return tenant


async def test_schedules_and_their_jql_are_checked_when_the_rule_is_saved(system: System) -> None:
    bad_minute = await system.api('POST', '/api/rules', json=_scheduled('Bad', cron='61 * * * *'))
    assert bad_minute.status_code == 422
    assert 'invalid cron expression: Bad minute' in bad_minute.text
    four_fields = await system.api('POST', '/api/rules', json=_scheduled('Bad', cron='0 9 * *'))
    assert four_fields.status_code == 422
    assert 'needs 5 fields' in four_fields.text
    no_jql = _scheduled('Bad')
    del no_jql['trigger']['jql']
    assert (await system.api('POST', '/api/rules', json=no_jql)).status_code == 422
    assert (await system.api('POST', '/api/rules', json=_scheduled('Bad', jql='project = ('))).status_code == 422
    zone = _scheduled('Bad')
    zone['trigger']['timezone'] = 'Mars/Olympus'
    assert 'unknown time zone' in (await system.api('POST', '/api/rules', json=zone)).text
    good = _scheduled('Good', cron='0 9 * * 1-5')
    good['trigger']['timezone'] = 'Europe/Berlin'
    saved = await system.add_rule(good)
    assert saved['trigger'] == {
        'type': 'scheduled',
        'cron': '0 9 * * 1-5',
        'timezone': 'Europe/Berlin',
        'jql': good['trigger']['jql'],
    }
