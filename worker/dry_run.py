"""A rule tried on one issue without changing anything: what it would decide and which calls it would make.

The rule runs through the same code as a real execution (worker.rule_run.run_rule), with a
:class:`RecordingJira` in place of the Jira client. Reads are sent to Jira for real: an action
such as ``transition`` must read the issue's available transitions to know which one it would
use, and a ``jql`` check may need a search; simulating those would report calls a real run
would not make. Every write is recorded and answered as Jira would, but never sent. The
response lists the reads that were made, so nothing is hidden. Nothing is stored: no audit row,
no progress, no Redis key.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from rulequeue import constants
from rulequeue.store.tenants import Tenant
from schemas.audit import ActionResult, ActionStatus
from schemas.events import WebhookEvent
from schemas.rules import Rule, StoredRule
from worker.actions import Target
from worker.jira import JiraClient
from worker.jql_checks import SEARCH_PATH, evaluate_all, jira_search, jql_context
from worker.matching import in_scope, trigger_matches
from worker.rule_run import RuleRun, run_rule
from worker.templates import build_context

DRY_RUN_ACTOR = 'dry-run'
# Short names for the events a dry run can simulate, to Jira's webhookEvent names.
EVENT_TYPES = {
    'issue_created': 'jira:issue_created',
    'issue_updated': 'jira:issue_updated',
    'issue_deleted': 'jira:issue_deleted',
    'comment_created': 'comment_created',
    'manual': constants.MANUAL_EVENT,
    'scheduled': constants.SCHEDULED_EVENT,
}


class JiraCall(BaseModel):
    model_config = ConfigDict(frozen=True)

    method: str
    path: str
    params: dict[str, str] = Field(default_factory=dict)
    json_body: Any = Field(default=None, serialization_alias='json')


class ConditionReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    index: int
    passed: bool
    description: str


class DryRunReport(BaseModel):
    """What the rule would do on this issue; ``calls`` are the writes, ``reads`` were really sent."""

    model_config = ConfigDict(frozen=True)

    in_scope: bool
    trigger_matched: bool
    trigger_reason: str
    conditions: list[ConditionReport] = Field(default_factory=list)
    would_run_actions: bool = False
    actions: list[ActionResult] = Field(default_factory=list)
    messages: list[str] = Field(default_factory=list)
    calls: list[JiraCall] = Field(default_factory=list)
    reads: list[JiraCall] = Field(default_factory=list)


class RecordingJira(JiraClient):
    """A JiraClient that sends reads and records writes, answering them without sending them."""

    def __init__(self, jira: JiraClient) -> None:
        self._jira = jira
        self.writes: list[JiraCall] = []
        self.reads: list[JiraCall] = []

    async def request(
        self,
        tenant: Tenant,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        json: Any = None,
    ) -> Any:
        call = JiraCall(method=method, path=path, params=params or {}, json_body=json)
        if method == 'GET' or (method == 'POST' and path == SEARCH_PATH):  # a search changes nothing
            self.reads.append(call)
            return await self._jira.request(tenant, method, path, params=params, json=json)
        self.writes.append(call)
        # Jira answers a created comment with its id; the other writes we make answer 204.
        return {'id': 'dry-run'} if method == 'POST' and path.endswith('/comment') else None


def dry_run_event(issue: dict[str, Any], event_type: str, extra: dict[str, Any] | None = None) -> WebhookEvent:
    """The webhook event a dry run pretends to have received (``extra``: changelog, comment, user)."""
    body = {
        'webhookEvent': EVENT_TYPES[event_type],
        'timestamp': int(datetime.now(UTC).timestamp() * 1000),
        'issue': issue,
        **(extra or {}),
    }
    return WebhookEvent.model_validate(body)


def _trigger_reason(rule: Rule, event: WebhookEvent, scoped: bool, matched: bool) -> str:
    if not scoped:
        return f"the issue is not in the rule's projects ({', '.join(rule.projects)})"
    if not matched:
        return f'a {rule.trigger.type} trigger does not fire on {event.webhookEvent}'
    return f'{rule.trigger.type} fires on {event.webhookEvent}'


def _not_sent(result: ActionResult) -> ActionResult:
    """A web request is an outbound write too: a dry run never sends it (nor has its answer)."""
    if result.type != 'web_request':
        return result
    return result.model_copy(
        update={'status': ActionStatus.SKIPPED, 'message': 'web requests are not sent in a dry run'}
    )


async def dry_run(jira: JiraClient, tenant: Tenant, rule: Rule, event: WebhookEvent) -> DryRunReport:
    """Evaluate ``rule`` against ``event`` and list the Jira writes its actions would make.

    Raises:
        TransientJiraError, PermanentJiraError: When a read (a transition list, a search) fails.
    """
    scoped = in_scope(rule, event)
    matched = scoped and trigger_matches(rule.trigger, event)
    reason = _trigger_reason(rule, event, scoped, matched)
    if not matched:
        return DryRunReport(in_scope=scoped, trigger_matched=False, trigger_reason=reason)
    recorder = RecordingJira(jira)
    now = datetime.now(UTC)
    context = build_context(event, rule_name=rule.name, now=now)
    search = jira_search(recorder, tenant, event.issue.id, event.issue.key)
    outcomes = await evaluate_all(rule.conditions, event, context, jql_context(tenant, now), search)
    run = RuleRun(StoredRule(id=DRY_RUN_ACTOR, version=0, rule=rule))
    target = Target(recorder, tenant, event.issue.key, actor=DRY_RUN_ACTOR)

    async def keep_nothing(_field: str, _result: ActionResult) -> None:
        return None

    await run_rule(run, event, target, {}, keep_nothing)
    return DryRunReport(
        in_scope=True,
        trigger_matched=run.triggered,
        trigger_reason=reason if run.triggered else "the trigger's jql filter does not match the issue",
        conditions=[ConditionReport(index=o.index, passed=o.passed, description=o.description) for o in outcomes],
        would_run_actions=run.triggered and any(r.status is not ActionStatus.SKIPPED for r in run.results),
        actions=[_not_sent(r) for r in run.results],
        messages=run.messages,
        calls=recorder.writes,
        reads=recorder.reads,
    )
