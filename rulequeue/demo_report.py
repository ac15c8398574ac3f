"""The demo's event stream and its closing report."""

from __future__ import annotations

import random
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.demo_scenarios import SCENARIOS, WRITES_PER_ACTION, Scenario, endpoint_of, expected_outcomes
from rulequeue.settings import Settings
from rulequeue.simulator import JiraSimulator
from rulequeue.simulator.forge_events import EVENTS_PATH
from rulequeue.store.db import Pool

STATUSES = ('SUCCESS', 'NO_ACTIONS_PERFORMED', 'SOME_ERRORS', 'FAILURE')


@dataclass
class Played:
    scenarios: list[Scenario] = field(default_factory=list)
    delivery_ids: list[str] = field(default_factory=list)
    acknowledged: int = 0  # Forge deliveries answered 204
    events: int = 0
    duplicates: int = 0
    other: Counter[int] = field(default_factory=Counter)


def _progress(done: int, total: int, out: Any) -> None:
    width = 40
    filled = width * done // max(total, 1)
    bar = '#' * filled + '-' * (width - filled)
    line = f'\r  [{bar}] {done}/{total} events sent'
    if out.isatty():
        out.write(line)
        out.flush()
    elif done == total or done % max(total // 4, 1) == 0:
        out.write(line.lstrip('\r') + '\n')


async def play(sim: JiraSimulator, events: int, seed: int, out: Any) -> Played:
    """Play random stories until ``events`` webhooks were sent, with Jira's own hiccups mixed in.

    Halfway through, Jira answers a few calls with 429 + Retry-After (the worker backs off and
    retries), and one delivery is sent again as Jira does on a timeout (de-duplicated).
    """
    rng = random.Random(seed)
    played = Played()
    throttled = redelivered = False
    while played.events < events:
        scenario = rng.choice(SCENARIOS)
        responses = await scenario.story(sim)
        played.scenarios.append(scenario)
        for response in responses:
            played.events += 1
            if response.status_code == 202 and response.json().get('status') == 'accepted':
                played.delivery_ids.append(response.json()['delivery_id'])
            elif response.status_code == 204:  # a Forge delivery, acknowledged (its id is ours alone)
                played.acknowledged += 1
            else:
                played.other[response.status_code] += 1
        if not throttled and played.events >= events // 2:
            sim.fail_next(status=429, times=3, retry_after=1)
            throttled = True
        if not redelivered and played.events >= events // 3:
            redelivered = await _redeliver(sim, played)
        _progress(min(played.events, events), events, out)
    if out.isatty():
        out.write('\n')
    accepted = len(played.delivery_ids) + played.acknowledged
    print(
        f'  {accepted} deliveries accepted, {played.duplicates} re-delivery '
        f'answered as a duplicate, other answers: {dict(played.other) or "none"}',
        file=out,
    )
    return played


async def _redeliver(sim: JiraSimulator, played: Played) -> bool:
    """Send the last delivery again, as Jira does after a timeout (Forge: with its retryContext)."""
    if sim.last_webhook_body is not None:
        again = await sim.send_webhook(sim.last_webhook_body, delivery_id=sim.last_delivery_id, retry=1)
        played.duplicates += int(again.status_code == 200 and again.json().get('status') == 'duplicate')
        return True
    sent = [d for d in sim.forge_events.deliveries if d.accepted and d.path == EVENTS_PATH]
    if not sent:
        return False
    retry = {'retryCount': 1, 'retryReason': 'TIMEOUT_ERROR', 'retryData': None}
    answer = await sim.forge_events.post(EVENTS_PATH, sim.forge_events.wrap(sent[-1].event, retry))
    # Forge's answer is 204 either way; the report's per-rule counts show it did not run twice.
    played.duplicates += int(answer.status_code == 204)
    return True


AUTH_NAMES = {'connect': 'Connect JWT + qsh', 'forge': 'Forge Bearer system token'}


async def report(
    settings: Settings, pool: Pool, redis: aioredis.Redis, sim: JiraSimulator, played: Played, out: Any = sys.stdout
) -> int:
    rows = await pool.fetch('SELECT rule_name, status, actions FROM audit_log')
    actual: Counter[tuple[str, str]] = Counter((r['rule_name'], r['status']) for r in rows)
    expected = expected_outcomes(played.scenarios)
    ok = True
    print('\nAudit outcomes per rule (actual / expected)', file=out)
    names = sorted({name for name, _ in expected} | {name for name, _ in actual})
    width = max(len('rule'), *(len(n) for n in names))
    print(f'  {"rule":<{width}}' + ''.join(f'{s:>22}' for s in STATUSES) + '    check', file=out)
    for rule in names:
        cells = [f'{actual[(rule, s)]} / {expected[(rule, s)]}' for s in STATUSES]
        good = all(actual[(rule, s)] == expected[(rule, s)] for s in STATUSES)
        ok &= good
        verdict = 'ok' if good else 'MISMATCH'
        print(f'  {rule:<{width}}' + ''.join(f'{c:>22}' for c in cells) + f'    {verdict}', file=out)

    wanted: Counter[tuple[str, str]] = Counter()
    for row in rows:
        for action in row['actions']:
            if action['status'] == 'SUCCESS':
                # One write per issue created (create_subtasks makes several); others write once.
                times = len((action.get('changes') or {}).get('created') or [None])
                for _ in range(times):
                    wanted.update(WRITES_PER_ACTION[action['type']])
    received = Counter((c.method, endpoint_of(c.path)) for c in sim.calls if 200 <= c.status < 300)
    # A search is a read too, though it is a POST (the scheduled rule's search).
    writes = Counter({call: n for call, n in received.items() if call[0] != 'GET' and call[1] != 'search/jql'})
    refused = Counter(c.status for c in sim.calls if not 200 <= c.status < 300)
    unsigned = sum(1 for c in sim.calls if not c.jwt_valid)
    by_auth = Counter(c.auth for c in sim.calls)
    how = ', '.join(f'{AUTH_NAMES.get(a, a)}: {n}' for a, n in sorted(by_auth.items())) or 'none'
    print(f'\nCalls Jira received: {len(sim.calls)}, every one verified ({how}): {unsigned == 0}', file=out)
    for (method, endpoint), count in sorted(received.items()):
        print(
            f'  {method:<6} {endpoint:<14} {count:>5}   expected from audit rows: {wanted[(method, endpoint)]}',
            file=out,
        )
    if refused:
        print(f'  answered with errors on purpose (then retried): {dict(refused)}', file=out)
    calls_ok = writes == wanted and unsigned == 0
    ok &= calls_ok

    snapshot_keys = [k async for k in redis.scan_iter(match=constants.snapshot_pattern())]
    result_keys = [k async for k in redis.scan_iter(match='arq:result:*')]
    print('\nPrivacy check', file=out)
    print(f'  snapshot keys left in Redis: {len(snapshot_keys)}', file=out)
    print(f'  arq result keys (copies of job arguments): {len(result_keys)}', file=out)
    stored = await pool.fetchval('SELECT count(*) FROM tenants WHERE shared_secret_enc IS NOT NULL')
    print(f'  tenants with an encrypted shared secret: {stored}', file=out)
    tokens = await pool.fetchval('SELECT count(*) FROM forge_installations WHERE system_token_enc IS NOT NULL')
    print(f'  Forge installations with an encrypted app system token: {tokens}', file=out)
    ok &= not snapshot_keys and not result_keys
    print(f'\nResult: {"OK" if ok else "FAILED"}', file=out)
    return 0 if ok else 1
