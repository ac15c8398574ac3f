"""Why each rule did or did not run, read through the API after real webhooks (issue #3, done-when 4)."""

from __future__ import annotations

from typing import Any

from rulequeue.simulator import ALICE
from tests.harness import System

LOG = [{'type': 'log', 'message': 'ran on {{issue.key}}'}]
RULES: dict[str, dict[str, Any]] = {
    'elsewhere': {
        'name': 'Other project',
        'projects': ['OPS'],
        'trigger': {'type': 'issue_updated'},
        'allow_rule_trigger': True,
        'actions': LOG,
    },
    'on done': {'name': 'On done', 'trigger': {'type': 'issue_transitioned', 'to': 'Done'}, 'actions': LOG},
    'titled': {
        'name': 'Titled bugs',
        'trigger': {'type': 'field_value_changed', 'fields': ['Summary']},
        'allow_rule_trigger': True,
        'conditions': [
            {'type': 'field', 'field': 'Issue Type', 'op': 'equals', 'value': 'Bug'},
            {'type': 'field', 'field': 'summary', 'op': 'equals', 'value': 'Expected title'},
        ],
        'actions': LOG,
    },
    'off': {'name': 'Switched off', 'enabled': False, 'trigger': {'type': 'issue_updated'}, 'actions': LOG},
    'people only': {'name': 'People only', 'trigger': {'type': 'issue_updated'}, 'actions': LOG},
}
LONG_SUMMARY = 'Confidential customer escalation ' + 'x' * 100 + ' tail'


async def _evaluation(system: System, delivery_id: str) -> dict[str, Any]:
    response = await system.api('GET', f'/api/events/{delivery_id}')
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _update_summary(system: System, key: str, summary: str, user: dict[str, Any]) -> str:
    answers = await system.sim.update_issue(key, {'summary': summary}, user=user)
    assert [a.status_code for a in answers] == [202]
    await system.drain()
    return system.sim.deliveries[-1].delivery_id


async def test_an_event_that_matches_nothing_explains_every_rule(system: System) -> None:
    ids = {label: (await system.add_rule(rule))['id'] for label, rule in RULES.items()}
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='First title')
    await system.drain()
    key = issue['key']

    # Our app user changes the summary: no rule acts (the one whose trigger fired stops at a condition).
    delivery = await _update_summary(system, key, LONG_SUMMARY, system.sim.app_user)
    audited = [(e['rule_id'], e['status']) for e in await system.audit(issue=key)]
    assert audited == [(ids['titled'], 'NO_ACTIONS_PERFORMED')]
    evaluation = await _evaluation(system, delivery)
    assert (evaluation['delivery_id'], evaluation['issue_key'], evaluation['issue_id']) == (delivery, key, issue['id'])
    assert evaluation['event_type'] == 'jira:issue_updated'
    assert evaluation['values_kept'] is False
    by_rule = {r['rule_id']: r for r in evaluation['rules']}
    assert [r['rule_id'] for r in evaluation['rules']] == list(ids.values())  # every rule, in creation order
    assert {label: by_rule[rule_id]['reason'] for label, rule_id in ids.items()} == {
        'elsewhere': 'out_of_scope',
        'on done': 'trigger_mismatch',
        'titled': 'condition_failed',
        'off': 'disabled',
        'people only': 'rule_triggered_event',
    }
    assert by_rule[ids['elsewhere']]['detail'] == "the issue is not in the rule's projects (OPS)"
    mismatch = by_rule[ids['on done']]
    assert mismatch['trigger_wanted'] == "jira:issue_updated changing status to 'Done'"
    assert mismatch['event'] == 'jira:issue_updated changing summary'
    assert by_rule[ids['off']]['detail'] == 'the rule is disabled'
    assert by_rule[ids['people only']]['detail'] == (
        'the event was caused by this app and the rule does not allow rule-triggered events'
    )
    failed = by_rule[ids['titled']]
    assert failed['status'] == 'NO_ACTIONS_PERFORMED'
    assert failed['condition'] == {
        'index': 2,
        'type': 'field',
        'description': "condition 2: summary equals 'Expected title' -> not met",
        'field': 'summary',
        'op': 'equals',
        'expected': 'Expected title',
    }
    # No field value without the opt-in: not in the answer, not in the table.
    row = await system.pool.fetchval('SELECT rules::text FROM evaluations WHERE delivery_id = $1', delivery)
    for text in ((await system.api('GET', f'/api/events/{delivery}')).text, row):
        assert 'Confidential' not in text
        assert 'First title' not in text

    # With the opt-in, the value the failing condition read is kept, cut to 80 characters.
    assert (await system.api('GET', '/api/settings/explain-values')).json() == {'enabled': False}
    answer = await system.api('PUT', '/api/settings/explain-values', json={'enabled': True})
    assert answer.status_code == 200, answer.text
    assert (await system.api('GET', '/api/settings/explain-values')).json() == {'enabled': True}
    opted = await _update_summary(system, key, LONG_SUMMARY + ' again', system.sim.app_user)
    evaluation = await _evaluation(system, opted)
    assert evaluation['values_kept'] is True
    condition = next(r for r in evaluation['rules'] if r['rule_id'] == ids['titled'])['condition']
    assert condition['actual'] == LONG_SUMMARY[:80]
    assert len(condition['actual']) == 80
    assert ' tail' not in (await system.api('GET', f'/api/events/{opted}')).text


async def test_an_event_where_rules_ran_and_the_issue_history(system: System) -> None:
    ids = {label: (await system.add_rule(rule))['id'] for label, rule in RULES.items()}
    issue, _ = await system.sim.create_issue(project='PROJ', issuetype='Bug', summary='First title')
    await system.drain()
    created = system.sim.deliveries[-1].delivery_id
    key = issue['key']

    # A person sets the expected title: the condition holds and both updated-rules run.
    delivery = await _update_summary(system, key, 'Expected title', ALICE)
    evaluation = await _evaluation(system, delivery)
    reasons = {r['rule_id']: (r['reason'], r.get('status')) for r in evaluation['rules']}
    assert reasons == {
        ids['elsewhere']: ('out_of_scope', None),
        ids['on done']: ('trigger_mismatch', None),
        ids['titled']: ('ran', 'SUCCESS'),
        ids['off']: ('disabled', None),
        ids['people only']: ('ran', 'SUCCESS'),
    }
    audited = {e['rule_id']: e['status'] for e in await system.audit(issue=key)}
    assert audited == {ids['titled']: 'SUCCESS', ids['people only']: 'SUCCESS'}

    # The creation event: every trigger wanted something else (or the rule is off / elsewhere).
    first = await _evaluation(system, created)
    assert {r['rule_id']: r['reason'] for r in first['rules']} == {
        ids['elsewhere']: 'out_of_scope',
        ids['on done']: 'trigger_mismatch',
        ids['titled']: 'trigger_mismatch',
        ids['off']: 'disabled',
        ids['people only']: 'trigger_mismatch',
    }
    assert next(r for r in first['rules'] if r['rule_id'] == ids['titled'])['event'] == 'jira:issue_created'

    # Per issue, newest first, bounded by limit.
    history = await system.api('GET', f'/api/issues/{key}/events')
    assert history.status_code == 200, history.text
    assert [e['delivery_id'] for e in history.json()['events']] == [delivery, created]
    latest = await system.api('GET', f'/api/issues/{key}/events', params={'limit': '1'})
    assert [e['delivery_id'] for e in latest.json()['events']] == [delivery]
    assert (await system.api('GET', '/api/issues/NOPE-1/events')).json() == {'events': []}
    missing = await system.api('GET', '/api/events/no-such-delivery')
    assert missing.status_code == 404
    assert (await system.http.get(system.url + f'/api/events/{delivery}')).status_code == 401
