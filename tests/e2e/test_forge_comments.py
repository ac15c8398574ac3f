"""An edited comment over Forge (FORGE.md 4, 9 case 26): Forge sends ``avi:jira:commented:issue``
for a comment's creation *and* each edit (same comment id, a later ``updated`` and
``timestamp``). An edit fires no ``issue_commented`` rule, as Connect's ``comment_updated`` fires
none; and it is acknowledged as an edit, not taken for the original: Forge delivers unordered,
so an edit arriving first must not use up the original's place (its idempotency key).
"""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import redis.asyncio as aioredis

from rulequeue.simulator import ALICE
from rulequeue.simulator.forge_events import EVENTS_PATH, ForgeDelivery
from tests.e2e.test_forge_e2e import audit_rows, forge_add_rule, forge_site, install_forge
from tests.e2e.test_metrics import scrape

ANSWER = {
    'name': 'Answer every comment',
    'trigger': {'type': 'issue_commented'},
    'actions': [{'type': 'comment', 'body': 'Noted on {{issue.key}}'}],
}
RECEIVED = 'rulequeue_webhooks_received_total'


def edited(original: dict[str, Any], body: str, seconds_later: int) -> dict[str, Any]:
    """The event Forge sends when the comment of ``original`` is edited ``seconds_later``."""
    event = copy.deepcopy(original)
    event['timestamp'] = str(int(original['timestamp']) + seconds_later * 1000)
    event['comment']['body'] = body
    event['comment']['updated'] = f'{original["comment"]["created"]}+{seconds_later}s'
    return event


async def test_an_edited_comment_fires_no_rule_and_does_not_displace_the_original(
    schema: str, redis: aioredis.Redis
) -> None:
    async with forge_site(schema) as system:
        sim = system.sim
        await install_forge(system)
        await forge_add_rule(system, ANSWER)
        issue, _ = await sim.create_issue(project='PROJ', issuetype='Task', summary='chatty', reporter=ALICE)
        await system.drain()

        # Forge queues the comment's event; the edit's event overtakes it.
        sim.forge_events.hold = True
        await sim.add_comment(issue['key'], 'Any news?', user=ALICE)
        [held] = sim.forge_events.held
        original = held.event
        assert original['eventType'] == 'avi:jira:commented:issue'
        first_edit = ForgeDelivery(EVENTS_PATH, edited(original, 'Any news, please?', 30))
        assert (await sim.forge_events.deliver(first_edit)).status_code == 204  # type: ignore[union-attr]
        await system.drain()
        assert await audit_rows(system) == []  # the edit ran nothing
        assert [a.status_code for a in await sim.forge_events.release()] == [204]
        await system.drain()

        # The original ran the rule once; a later edit and a re-delivery of the original run nothing.
        later_edit = ForgeDelivery(EVENTS_PATH, edited(original, 'Any news at all?', 90))
        assert (await sim.forge_events.deliver(later_edit)).status_code == 204  # type: ignore[union-attr]
        assert (await sim.forge_events.redeliver(held)).status_code == 204
        await system.drain()
        rows = await audit_rows(system)
        assert Counter((r['rule_name'], r['status']) for r in rows) == {(ANSWER['name'], 'SUCCESS'): 1}
        assert [c['body'] for c in sim.comments[issue['key']]] == ['Any news?', f'Noted on {issue["key"]}']

        samples = await scrape(system.http, system.url + '/metrics')
        forge_events = {
            dict(labels)['outcome']: v
            for (name, labels), v in samples.items()
            if name == RECEIVED and dict(labels)['event'] == 'forge_events'
        }
        # Accepted: the issue's creation and the comment; ignored: both edits; duplicate: the re-delivery.
        assert forge_events == {'accepted': 2.0, 'ignored': 2.0, 'duplicate': 1.0}
