"""JQL evaluated locally and through the simulated Jira's search, over signed calls: same answers.

The simulator answers searches with rulequeue.jql too (see rulequeue/simulator/search.py), so
this checks the search path: the query's text as rendered and sent, the signing of a query
string full of quotes and parentheses, the ``key = X AND (…)`` wrapping the worker will use,
and both search endpoints. The table's semantics are checked in tests/unit/test_jql.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from rulequeue.errors import PermanentJiraError
from rulequeue.jql import JqlContext, evaluate_locally, parse, restrict_to_issue, to_jql
from rulequeue.simulator import BOB, catalog
from rulequeue.store.tenants import Tenant
from tests.integration.test_simulator import Site, _installed, _site  # noqa: F401
from worker.jira import JiraClient

SAMPLE = [
    'project = PROJ',
    'project in (OPS, PROJ) AND issuetype = Bug',
    'project = ops',
    'issuetype != Bug',
    'status = "To Do"',
    'status = Done',
    'statusCategory = Done',
    'status NOT IN (Done, "In Review")',
    'priority = High OR priority = Highest',
    'priority in (Low, Medium)',
    'labels = customer',
    'labels != customer',
    'labels IS EMPTY',
    'labels in (incident, frontend) AND NOT labels = customer',
    'assignee IS EMPTY',
    'assignee = currentUser()',
    'assignee != currentUser()',
    f'assignee = "{BOB["displayName"]}"',
    'reporter = alice@example.com',
    'component = API',
    'components in (Frontend, Backend)',
    'summary ~ "safari"',
    'summary ~ "disk*"',
    'summary !~ docs',
    'text ~ "certificates"',
    'summary ~ "\\"full on\\""',
    'Team = Platform',
    'cf[10010] IS NOT EMPTY',
    '"Story point estimate" >= 3',
    'cf[10016] < 3 OR cf[10016] IS EMPTY',
    'duedate IS EMPTY',
    'duedate < 2026-12-02',
    'due >= "2026/12/01"',
    'created > -1d AND created <= now()',
    'created < -1d',
    'updated >= startOfDay()',
    'key > PROJ-1',
    'key in (PROJ-2, OPS-1) OR (project = OPS AND (labels = incident OR priority = Medium))',
    'NOT (project = PROJ OR status = Done) ORDER BY created DESC',
    'project = PROJ AND (labels = frontend OR labels = "customer") AND priority != Low',
]


async def _site_with_issues(site: Site) -> None:
    sim = site.sim
    await sim.create_issue(
        summary='Login fails on Safari',
        priority='High',
        labels=['frontend', 'customer'],
        assignee=sim.app_user['accountId'],
        components=['Frontend'],
        customfield_10010='Platform',
        customfield_10016=5,
        duedate='2026-12-01',
    )
    await sim.create_issue(issuetype='Task', summary='Update docs', priority='Low', customfield_10016=2)
    await sim.create_issue(
        project='OPS',
        issuetype='Story',
        summary='Rotate certificates',
        labels=['customer'],
        assignee=BOB['accountId'],
        components=['Backend', 'API'],
        customfield_10010='Ops',
    )
    await sim.create_issue(project='OPS', summary='Disk full on db-2', priority='Highest', labels=['incident'])
    await sim.transition_issue('OPS-2', 'Done')


def _search(jira: JiraClient, tenant: Tenant) -> Any:
    async def search(jql: str) -> set[str]:
        found = await jira.request(tenant, 'GET', '/rest/api/2/search', params={'jql': jql, 'maxResults': '100'})
        assert found['total'] == len(found['issues'])
        return {issue['key'] for issue in found['issues']}

    return search


@pytest.mark.timeout(30)
async def test_local_evaluation_and_jira_search_agree(installed: Site) -> None:
    site = installed
    await _site_with_issues(site)
    assert site.sim.shared_secret is not None
    tenant = Tenant('sim', site.sim.base_url, 'installed', SecretStr(site.sim.shared_secret))
    context = JqlContext(
        now=datetime.now(UTC), current_user=site.sim.app_user['accountId'], field_names=catalog.CUSTOM_FIELDS
    )
    async with httpx.AsyncClient() as http:
        jira = JiraClient(http, app_key='rulequeue', timeout=10)
        search = _search(jira, tenant)
        answers = []
        keys = sorted(site.sim.issues)
        for index, jql in enumerate(SAMPLE):
            query = parse(jql)
            local = {key for key, issue in site.sim.issues.items() if evaluate_locally(query, issue, context)}
            assert await search(to_jql(query)) == local, jql
            # The worker's per-issue check, on each issue in turn (a call per case keeps this quick).
            key = keys[index % len(keys)]
            body = {'jql': restrict_to_issue(query, key), 'fields': ['summary']}
            found = await jira.request(tenant, 'POST', '/rest/api/3/search/jql', json=body)
            assert [i['key'] for i in found['issues']] == ([key] if key in local else []), (jql, key)
            answers.append(local)
    # The sample discriminates: no query matched everything or nothing throughout.
    assert len(SAMPLE) >= 30
    assert {frozenset(a) for a in answers} >= {frozenset(), frozenset(site.sim.issues)}
    assert len({frozenset(a) for a in answers}) >= 12
    # Every call was signed and verified, the query string included.
    searches = [c for c in site.sim.calls if '/search' in c.path]
    assert len(searches) == 2 * len(SAMPLE)
    assert all(c.status == 200 and c.jwt_valid for c in searches)


async def test_search_answers_400_with_the_position_of_a_jql_error(installed: Site) -> None:
    site = installed
    assert site.sim.shared_secret is not None
    tenant = Tenant('sim', site.sim.base_url, 'installed', SecretStr(site.sim.shared_secret))
    async with httpx.AsyncClient() as http:
        jira = JiraClient(http, app_key='rulequeue', timeout=10)
        with pytest.raises(PermanentJiraError, match='at position 14') as caught:
            await jira.request(tenant, 'GET', '/rest/api/2/search', params={'jql': 'project = PROJ)'})
    assert caught.value.status == 400
