"""What the chaos run checks at the end, from what Jira (the simulator) and our stores hold.

Every accepted delivery is an obligation. For each issue the run expects, in this order:
the creation's comment, then one comment per summary change naming that change; one label
edit and one transition from the creation rule; and one audit row per (delivery, matching rule)
with a final status. Anything missing is *lost*, anything extra *duplicated*, anything present
but in another order *out of order*.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import asyncpg
import redis.asyncio as aioredis

from rulequeue import constants
from rulequeue.simulator import JiraSimulator
from rulequeue.simulator.redelivery import Delivery
from schemas.audit import AuditStatus

CREATED_COMMENT = 'created {key}'
SEEN_COMMENT = 'seen {summary}'
FINAL_STATUSES = frozenset(AuditStatus)


@dataclass
class Verdict:
    deliveries_sent: int = 0
    deliveries_accepted: int = 0
    deliveries_refused: int = 0  # every attempt answered non-2xx: Jira gave up, we never owned it
    duplicate_sends: int = 0
    expected_actions: int = 0
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    audit_rows: int = 0
    audit_missing: int = 0
    audit_duplicated: int = 0
    audit_not_final: int = 0
    audit_statuses: dict[str, int] = field(default_factory=dict)
    audit_attempts: dict[int, int] = field(default_factory=dict)  # attempts -> executions
    dead_letters: list[dict[str, Any]] = field(default_factory=list)
    still_accepted: int = 0
    snapshots_left: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        unexplained = [d for d in self.dead_letters if not d.get('error')]
        return not self.problems and not unexplained and self.lost == self.duplicated == self.out_of_order == 0


def expected_comments(deliveries: list[Delivery]) -> dict[str, list[str]]:
    """Per issue key, the comments the rules must leave, in event order."""
    expected: dict[str, list[str]] = {}
    for delivery in deliveries:
        key = delivery.issue_key
        if not delivery.accepted or key is None:
            continue
        if delivery.event == 'jira:issue_created':
            expected.setdefault(key, []).append(CREATED_COMMENT.format(key=key))
        elif delivery.event == 'jira:issue_updated':
            summary = delivery.body['issue']['fields']['summary']
            expected.setdefault(key, []).append(SEEN_COMMENT.format(summary=summary))
    return expected


def compare_comments(verdict: Verdict, expected: dict[str, list[str]], actual: dict[str, list[str]]) -> None:
    for key in sorted(set(expected) | set(actual)):
        want, got = expected.get(key, []), actual.get(key, [])
        verdict.expected_actions += len(want)
        missing = Counter(want) - Counter(got)
        extra = Counter(got) - Counter(want)
        verdict.lost += sum(missing.values())
        verdict.duplicated += sum(extra.values())
        first_seen = list(dict.fromkeys(c for c in got if c in want))
        if first_seen != [c for c in want if c in first_seen]:
            verdict.out_of_order += 1
            verdict.problems.append(f'{key}: comments out of order: {got}')
        if missing or extra:
            verdict.problems.append(f'{key}: missing {dict(missing)}, extra {dict(extra)}')


def _successful_writes(sim: JiraSimulator, method: str, suffix: str) -> Counter[str]:
    """Issue key -> how many ``method`` calls to ``/rest/api/2/issue/<key><suffix>`` Jira served."""
    prefix = '/rest/api/2/issue/'
    counts: Counter[str] = Counter()
    for call in sim.calls:
        if call.method != method or not 200 <= call.status < 300 or not call.path.startswith(prefix):
            continue
        rest = call.path.removeprefix(prefix)
        if suffix and not rest.endswith(suffix):
            continue
        key = unquote(rest.removesuffix(suffix))
        if '/' not in key:
            counts[key] += 1
    return counts


def compare_writes(verdict: Verdict, sim: JiraSimulator, created: set[str]) -> None:
    """The creation rule's edit and transition: exactly once per created issue."""
    for method, suffix, what in (('PUT', '', 'edit'), ('POST', '/transitions', 'transition')):
        done = _successful_writes(sim, method, suffix)
        for key in sorted(created):
            verdict.expected_actions += 1
            count = done.get(key, 0)
            if count == 0:
                verdict.lost += 1
                verdict.problems.append(f'{key}: no {what}')
            elif count > 1:
                verdict.duplicated += count - 1
                verdict.problems.append(f'{key}: {what} done {count} times')


async def compare_audit(
    verdict: Verdict, conn: asyncpg.Connection, client_key: str, accepted: list[Delivery], rules: dict[str, str]
) -> None:
    """One audit row per (accepted delivery, matching rule), each with a final status."""
    rows = await conn.fetch(
        'SELECT delivery_id, rule_id::text AS rule_id, status, attempts FROM audit_log WHERE client_key = $1',
        client_key,
    )
    verdict.audit_rows = len(rows)
    verdict.audit_statuses = dict(Counter(r['status'] for r in rows))
    verdict.audit_attempts = dict(sorted(Counter(r['attempts'] for r in rows).items()))
    verdict.audit_not_final = sum(r['status'] not in FINAL_STATUSES for r in rows)
    seen = Counter((r['delivery_id'], r['rule_id']) for r in rows)
    wanted = set()
    for delivery in {d.delivery_id: d for d in accepted}.values():
        rule = rules['created'] if delivery.event == 'jira:issue_created' else rules['seen']
        wanted.add((delivery.delivery_id, rule))
    verdict.audit_missing = len(wanted - set(seen))
    verdict.audit_duplicated = sum(n - 1 for n in seen.values() if n > 1) + len(set(seen) - wanted)
    if verdict.audit_missing or verdict.audit_duplicated or verdict.audit_not_final:
        verdict.problems.append(
            f'audit: {verdict.audit_missing} missing, {verdict.audit_duplicated} extra, '
            f'{verdict.audit_not_final} without a final status'
        )


async def check(
    sim: JiraSimulator, database_url: str, schema: str, redis_url: str, rules: dict[str, str], duplicate_sends: int
) -> Verdict:
    verdict = Verdict(deliveries_sent=len(sim.deliveries), duplicate_sends=duplicate_sends)
    accepted = [d for d in sim.deliveries if d.accepted]
    verdict.deliveries_accepted = len(accepted)
    verdict.deliveries_refused = len(sim.deliveries) - len(accepted)
    actual = {key: [c['body'] for c in comments] for key, comments in sim.comments.items()}
    compare_comments(verdict, expected_comments(sim.deliveries), actual)
    created = {d.issue_key for d in accepted if d.event == 'jira:issue_created' and d.issue_key}
    compare_writes(verdict, sim, created)
    conn = await asyncpg.connect(database_url, server_settings={'search_path': schema})
    try:
        await compare_audit(verdict, conn, sim.client_key, accepted, rules)
        letters = await conn.fetch('SELECT delivery_id, issue_key, error, attempts FROM dead_letters')
        verdict.dead_letters = [dict(r) for r in letters]
        verdict.still_accepted = await conn.fetchval("SELECT count(*) FROM deliveries WHERE state = 'accepted'")
    finally:
        await conn.close()
    redis = aioredis.Redis.from_url(redis_url)
    try:
        verdict.snapshots_left = len([k async for k in redis.scan_iter(match=constants.snapshot_pattern())])
    finally:
        await redis.aclose()
    if verdict.snapshots_left:
        verdict.problems.append(f'{verdict.snapshots_left} snapshots left in Redis')
    if verdict.still_accepted:
        verdict.problems.append(f'{verdict.still_accepted} deliveries still not finished')
    return verdict
