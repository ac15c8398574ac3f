"""What the demo does to the simulated Jira site, and what each example rule must then record.

Each scenario is a short story on one fresh issue ("a bug is filed", "work starts with nobody
assigned") with the audit outcome every example rule should produce for it. The expectations
are written by hand from the rule files in ``examples/rules/``: they are the demo's check,
not a second implementation of the engine.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import httpx

from rulequeue.simulator import ALICE, BOB, JiraSimulator
from rulequeue.simulator.relations import attach_subtask

Responses = list[httpx.Response]
Story = Callable[[JiraSimulator], Awaitable[Responses]]

TRIAGE = 'Triage new bugs'
ASSIGN_WIP = 'Assign work in progress'
URGENT = 'Escalate urgent comments'
PRIORITY = 'Announce priority raise'
DONE = 'Clean up when done'
DELETIONS = 'Log deletions'
OPS = 'Welcome ops stories'
ASSIGNEE = 'Notify assignee'
REVIEW = 'Review checklist'
REOPENED = 'Reopened work goes back to triage'
CUSTOMER = 'Customer label raises priority'
DUE = 'Note due dates'
BY_HAND = 'Check an issue by hand'
STALE = 'Nudge stale issues'
STALE_CRON = '0 9 * * 1-5'  # examples/rules/nudge-stale-issues.json: the demo runs its next tick
BLOCKING = 'Note blocking links'
WORK_LOGGED = 'Log work done'
KICKOFF = 'Kick off sub-tasks'
FOLLOW_UP = 'Follow up after a pause'
BLOCKER = 'Escalate blockers'
FEATURE = 'Plan a feature'
RELEASE = 'Only release leads close releases'
RELEASE_LEADS = 'release-leads'  # examples/rules/only-leads-close-releases.json: Alice is one, Bob is not
OK, SKIP = 'SUCCESS', 'NO_ACTIONS_PERFORMED'


@dataclass(frozen=True)
class Scenario:
    name: str
    story: Story
    expect: tuple[tuple[str, str], ...]  # (rule name, audit status), once per execution


async def _create(sim: JiraSimulator, project: str, issuetype: str, **fields: Any) -> tuple[str, Responses]:
    issue, responses = await sim.create_issue(
        project=project, issuetype=issuetype, summary=f'{issuetype} filed by the demo', reporter=ALICE, **fields
    )
    return str(issue['key']), responses


async def _bug_in_proj(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'PROJ', 'Bug'))[1]


async def _task_in_proj(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'PROJ', 'Task'))[1]


async def _story_in_ops(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'OPS', 'Story'))[1]


async def _bug_in_ops(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'OPS', 'Bug'))[1]


async def _start_work(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'PROJ', 'Task')
    return responses + await sim.transition_issue(key, 'In Progress', user=ALICE)


async def _urgent_comment(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'PROJ', 'Task')
    return responses + await sim.add_comment(key, 'URGENT: the customer cannot log in', user=BOB)


async def _routine_comment(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    return responses + await sim.add_comment(key, 'Looks good to me', user=BOB)


async def _raise_priority(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'PROJ', 'Task')
    return responses + await sim.update_issue(key, {'priority': 'Highest'}, user=BOB)


async def _lower_priority(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    return responses + await sim.update_issue(key, {'priority': 'Low'}, user=BOB)


async def _finish_bug(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'PROJ', 'Bug')
    return responses + await sim.transition_issue(key, 'Done', user=BOB)


async def _delete_task(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    return responses + await sim.delete_issue(key, user=ALICE)


async def _assign_and_unassign(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    responses += await sim.assign_issue(key, ALICE['accountId'], user=BOB)
    return responses + await sim.assign_issue(key, None, user=BOB)


async def _send_for_review(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'PROJ', 'Task')
    return responses + await sim.transition_issue(key, 'In Review', user=BOB)


async def _reopen(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    responses += await sim.transition_issue(key, 'Done', user=ALICE)
    return responses + await sim.transition_issue(key, 'To Do', user=BOB)


async def _label_customer(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    responses += await sim.update_issue(key, {'labels': {'add': ['billing']}}, user=BOB)
    return responses + await sim.update_issue(key, {'labels': {'add': ['customer']}}, user=BOB)


async def _set_due_dates(sim: JiraSimulator) -> Responses:
    proj, responses = await _create(sim, 'PROJ', 'Task')
    ops, more = await _create(sim, 'OPS', 'Task')
    responses += more + await sim.update_issue(proj, {'duedate': '2026-12-24'}, user=ALICE)
    return responses + await sim.update_issue(ops, {'duedate': '2026-12-24'}, user=ALICE)


async def _check_by_hand(sim: JiraSimulator) -> Responses:
    from rulequeue.demo_triggers import run_by_hand

    key, responses = await _create(sim, 'OPS', 'Task')
    return [*responses, await run_by_hand(sim, BY_HAND, key, ALICE)]


async def _mark_stale(sim: JiraSimulator) -> Responses:
    # The scheduled rule finds it at the tick the demo runs once the stories are played.
    return (await _create(sim, 'PROJ', 'Task', labels=['stale']))[1]


async def _link_blocker(sim: JiraSimulator) -> Responses:
    blocker, responses = await _create(sim, 'OPS', 'Task')
    blocked, more = await _create(sim, 'OPS', 'Task')
    return responses + more + await sim.link_issues(blocker, blocked, 'Blocks', user=BOB)


async def _log_work(sim: JiraSimulator) -> Responses:
    key, responses = await _create(sim, 'OPS', 'Task')
    return responses + await sim.add_worklog(key, 2 * 3600, user=ALICE)


async def _plan_with_subtasks(sim: JiraSimulator) -> Responses:
    # Made without webhooks (as if long ago); then an edit of the parent branches over its sub-tasks.
    def quiet(issuetype: str) -> str:
        change = sim.state.create(project='PLAN', issuetype=issuetype, summary='planned', reporter=ALICE, changes={})
        return str(change.issue['key'])

    parent = quiet('Story')
    for _ in range(2):
        attach_subtask(sim.state, parent, quiet('Sub-task'))
    return await sim.update_issue(parent, {'summary': 'Plan the launch'}, user=ALICE)


async def _plan_an_issue(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'PLAN', 'Task'))[1]


async def _blocker_filed(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'SUP', 'Bug', priority='Highest'))[1]


async def _support_question(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'SUP', 'Task'))[1]


async def _feature_filed(sim: JiraSimulator) -> Responses:
    return (await _create(sim, 'FEAT', 'Story'))[1]


async def _close_release(sim: JiraSimulator, by: dict[str, Any]) -> Responses:
    sim.state.groups[ALICE['accountId']] = [RELEASE_LEADS]
    key, responses = await _create(sim, 'REL', 'Task')
    return responses + await sim.transition_issue(key, 'Done', user=by)


async def _lead_closes_release(sim: JiraSimulator) -> Responses:
    return await _close_release(sim, ALICE)


async def _other_closes_release(sim: JiraSimulator) -> Responses:
    return await _close_release(sim, BOB)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario('a bug is filed in PROJ', _bug_in_proj, ((TRIAGE, OK),)),
    Scenario('a task is filed in PROJ', _task_in_proj, ((TRIAGE, SKIP),)),
    Scenario('a story is filed in OPS', _story_in_ops, ((OPS, OK),)),
    Scenario('a bug is filed in OPS', _bug_in_ops, ((OPS, SKIP),)),
    Scenario('work starts with nobody assigned', _start_work, ((TRIAGE, SKIP), (ASSIGN_WIP, OK))),
    Scenario('someone comments "urgent"', _urgent_comment, ((TRIAGE, SKIP), (URGENT, OK))),
    Scenario('a routine comment', _routine_comment, ((OPS, SKIP), (URGENT, SKIP))),
    Scenario('priority raised to Highest', _raise_priority, ((TRIAGE, SKIP), (PRIORITY, OK))),
    Scenario('priority lowered', _lower_priority, ((OPS, SKIP), (PRIORITY, SKIP))),
    Scenario('a bug is finished', _finish_bug, ((TRIAGE, OK), (DONE, OK))),
    Scenario('a task is deleted', _delete_task, ((OPS, SKIP), (DELETIONS, OK))),
    Scenario('assigned, then unassigned', _assign_and_unassign, ((OPS, SKIP), (ASSIGNEE, OK), (ASSIGNEE, SKIP))),
    Scenario('a task is sent for review', _send_for_review, ((TRIAGE, SKIP), (REVIEW, OK))),
    Scenario('done work is reopened', _reopen, ((OPS, SKIP), (DONE, OK), (REOPENED, OK))),
    Scenario('labelled billing, then customer', _label_customer, ((OPS, SKIP), (CUSTOMER, SKIP), (CUSTOMER, OK))),
    Scenario('due dates set in PROJ and OPS', _set_due_dates, ((TRIAGE, SKIP), (OPS, SKIP), (DUE, OK))),
    Scenario('a blocking link is made', _link_blocker, ((OPS, SKIP), (OPS, SKIP), (BLOCKING, OK))),
    Scenario('work is logged', _log_work, ((OPS, SKIP), (WORK_LOGGED, OK))),
    Scenario('checked by hand', _check_by_hand, ((OPS, SKIP), (BY_HAND, OK))),
    Scenario('an issue is marked stale', _mark_stale, ((TRIAGE, SKIP), (STALE, OK))),
    # The edit's execution, then one execution per sub-task, in order.
    Scenario('a plan with two sub-tasks is edited', _plan_with_subtasks, ((KICKOFF, OK),) * 3),
    # One audit row, written by the continuation after the delay.
    Scenario('an issue is planned', _plan_an_issue, ((FOLLOW_UP, OK),)),
    # Either way one audit row: then creates, links and watches; else logs.
    Scenario('a blocker is filed in SUP', _blocker_filed, ((BLOCKER, OK),)),
    Scenario('a question is filed in SUP', _support_question, ((BLOCKER, OK),)),
    Scenario('a feature is filed', _feature_filed, ((FEATURE, OK),)),
    # Every move to Done is also cleaned up; the rule moving it back sends no webhook (app's own change).
    Scenario('a release lead closes a release', _lead_closes_release, ((DONE, OK), (RELEASE, OK))),
    Scenario('someone else closes a release', _other_closes_release, ((DONE, OK), (RELEASE, OK))),
)


def expected_outcomes(ran: list[Scenario]) -> Counter[tuple[str, str]]:
    total: Counter[tuple[str, str]] = Counter()
    for scenario in ran:
        total.update(scenario.expect)
    return total


# Writes into Jira each successful action makes (reads, such as the transition list or the
# checks a retry makes before repeating a change, are reported but not expected exactly).
WRITES_PER_ACTION = {
    'comment': (('POST', 'comment'),),
    'edit': (('PUT', 'issue'),),
    'transition': (('POST', 'transitions'),),
    'assign': (('PUT', 'assignee'),),
    'log': (),
    'branch': (),  # each item's actions are in the item's own audit row
    'delay': (),
    'if': (),  # the branch taken; its actions have entries of their own
    'create_issue': (('POST', 'issue'),),
    'create_subtasks': (('POST', 'issue'),),  # per sub-task: demo_report multiplies by the created count
    'link_issues': (('POST', 'issueLink'),),
    'add_watcher': (('POST', 'watchers'),),
    'refetch': (),
    'web_request': (),  # a call to the rule's URL, not to Jira
}


def endpoint_of(path: str) -> str:
    """Group a REST path by what it touches: /rest/api/2/issue/P-1/comment -> 'comment'."""
    parts = path.strip('/').split('/')
    if parts[:2] == ['ex', 'jira']:  # a Forge call: {apiBaseUrl}/rest/... with apiBaseUrl .../ex/jira/<cloudId>
        parts = parts[3:]
    if parts[:4] == ['rest', 'api', '2', 'issue'] and len(parts) >= 5:
        return parts[5] if len(parts) > 5 else 'issue'
    return '/'.join(parts[3:]) or path
