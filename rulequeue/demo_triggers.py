"""The demo's manual and scheduled runs: what a person clicking "Run" and the scheduler's cron do.

A manual run is what the app's issue panel would send: ``POST /api/rules/{id}/run`` with a token
of the person (``sub``), answered 202 with the run's delivery id like an accepted webhook. The
scheduled rule's tick is the worker cron's function called for the rule's next tick, once the
stories are played, so it finds every issue the stories marked stale.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx

from rulequeue import schedule
from rulequeue.settings import Settings
from rulequeue.simulator import JiraSimulator
from rulequeue.simulator.catalog import JsonObject
from rulequeue.store.db import Pool

CLICKS = 5
ADMIN_ACCOUNT = '557058:demo-admin'
FAULT_POLLS = 100  # 0.2 s each


def app_url(sim: JiraSimulator) -> str:
    """Where the site reaches the app: the Connect app's base URL, else the Forge remote's."""
    if sim.app is not None:
        return sim.app.base_url.rstrip('/')
    if sim.forge_events.app_url is not None:
        return sim.forge_events.app_url.rstrip('/')
    raise RuntimeError('the app is not installed')


def admin_authorization(sim: JiraSimulator, method: str, url: str, account_id: str = ADMIN_ACCOUNT) -> str:
    """The Authorization header the app's admin page gets for a call of ``account_id``: a Connect
    context token, or on a site with only the Forge app, the FIT of a UI invocation."""
    if sim.app is None:
        return 'Bearer ' + sim.forge.mint_invocation_token(claims={'principal': account_id})
    return 'JWT ' + sim.sign_request(method, url, account_id=account_id)


async def run_by_hand(sim: JiraSimulator, rule_name: str, issue_key: str, user: JsonObject) -> httpx.Response:
    """Run the rule named ``rule_name`` on the issue, as ``user`` in the app's issue panel."""
    base = app_url(sim)
    async with httpx.AsyncClient(timeout=10) as http:
        listed = http.build_request('GET', base + '/api/rules')
        listed.headers['Authorization'] = admin_authorization(sim, 'GET', str(listed.url))
        rules = (await http.send(listed)).raise_for_status().json()['rules']
        rule_id = next(r['id'] for r in rules if r['name'] == rule_name)
        url = f'{base}/api/rules/{rule_id}/run'
        for _ in range(CLICKS):
            run = http.build_request('POST', url, json={'issue': issue_key})
            run.headers['Authorization'] = admin_authorization(sim, 'POST', url, str(user['accountId']))
            answer = await http.send(run)
            # 503: the producer could not read the issue (the demo's 429s from Jira); click again.
            if answer.status_code != 503:
                break
            await asyncio.sleep(1.0)
        return answer


async def scheduled_tick(sim: JiraSimulator, settings: Settings, pool: Pool, cron: str, out: Any) -> list[str]:
    """Run the scheduler for the next tick of ``cron`` (UTC); the delivery ids it admitted.

    The 429s the demo asked of Jira are let run out first (the worker's retries consume them):
    a search that meets one fails the tick, recorded as such, as it would in production.
    """
    from worker.deps import borrowed_deps
    from worker.scheduled import run_due

    for _ in range(FAULT_POLLS):
        if not sim.faults.pending:
            break
        await asyncio.sleep(0.2)
    sim.faults.clear()

    tick = schedule.next_fire(cron, 'UTC', datetime.now(UTC))
    if tick is None:
        return []
    async with borrowed_deps(settings, pool) as deps:
        runs = await run_due(deps, tick)
    delivery_ids = [d for run in runs for d in run.delivery_ids]
    print(
        f'  scheduler tick {tick:%Y-%m-%d %H:%M} UTC: {len(runs)} scheduled rule(s), '
        f'{len(delivery_ids)} issue execution(s) queued',
        file=out,
    )
    return delivery_ids
