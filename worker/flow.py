"""Branches and delays from the execution's side: what a job runs, and what it may spawn.

A rule's ``branch`` admits one execution per related issue (worker/branches.py) and a
``delay`` admits the rule's continuation, due later (worker/delays.py). Both are ordinary
executions through rulequeue.intake.admit, with deterministic delivery ids: a retried parent
admits nothing twice. Their jobs name what to run (schemas.jobs ``branch`` / ``resume``), and
:func:`plan` turns that into the conditions and steps of this execution.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from arq.connections import ArqRedis

from rulequeue.crypto import Cipher
from rulequeue.settings import Settings
from rulequeue.store.db import Pool
from rulequeue.store.tenants import Tenant
from schemas.audit import ActionResult
from schemas.events import WebhookEvent
from schemas.flow import BranchBlock
from schemas.job_options import TRIGGER_ISSUE
from schemas.jobs import ExecutionJob
from schemas.rules import Condition, IfBlock, Step, StoredRule
from worker.jira import JiraClient

if TYPE_CHECKING:
    from worker.explain import Explainer


class Suspended(Exception):
    """The rule reached a delay: its continuation is admitted; this execution stops the rule here."""

    def __init__(self, result: ActionResult) -> None:
        super().__init__('rule continues after a delay')
        self.result = result


@dataclass(frozen=True)
class Flow:
    """What a branch or a delay needs to admit executions: the running job and its resources."""

    redis: ArqRedis
    pool: Pool
    cipher: Cipher
    settings: Settings
    jira: JiraClient
    tenant: Tenant
    job: ExecutionJob
    event: WebhookEvent


@dataclass(frozen=True)
class Plan:
    """The part of a rule this execution runs.

    The whole rule; a branch's conditions and actions for one item (``path`` is where those
    actions sit, "2.actions"); or a rule continued after a delay, whose trigger and conditions
    held when it started and are not asked again (their answer may have changed since).
    """

    conditions: Sequence[Condition]
    steps: Sequence[Step]
    path: str = ''
    check_trigger: bool = True
    note: str | None = None
    # Why nothing runs: the rule changed since the branch or the delay began.
    refused: str | None = None


def is_derived(job: ExecutionJob) -> bool:
    """Whether the job is a branch item or a continuation (spawned by an execution, not an event)."""
    return job.branch is not None or job.resume is not None


def derived_candidates(explainer: Explainer, job: ExecutionJob) -> list[StoredRule] | None:
    """A branch item's or a continuation's rule, if still enabled; None for any other job.

    Its trigger and scope were checked by the execution that spawned it (a branch item's issue
    may be of another project than the rule's, or another event type than its trigger's).
    """
    if not is_derived(job):
        return None
    wanted = set(job.rule_ids or ())
    return [s for s in explainer.rules if s.id in wanted and s.id in explainer.enabled]


def find_step(steps: Sequence[Any], path: str) -> Any:
    """The step at ``path`` ("2", "1.then.0", "1.else.3"), or None."""
    parts = path.split('.')
    found: Any = None
    current: Sequence[Any] = steps
    while parts:
        head = parts.pop(0)
        if not head.isdigit() or int(head) >= len(current):
            return None
        found = current[int(head)]
        if parts:
            branch = parts.pop(0)
            if not isinstance(found, IfBlock) or branch not in ('then', 'else'):
                return None
            current = found.then if branch == 'then' else found.else_
    return found


def plan(stored: StoredRule, job: ExecutionJob | None, event: WebhookEvent) -> Plan:
    rule = stored.rule
    whole = Plan(rule.conditions, rule.actions)
    if job is None or not is_derived(job):
        return whole
    ref = job.branch or job.resume
    assert ref is not None
    if ref.rule_version != stored.version:
        started = 'branch' if job.branch else 'delay'
        return Plan(
            [],
            [],
            refused=f'the rule changed (version {ref.rule_version} to {stored.version}) since its {started} '
            f'began; not run',
        )
    if job.resume is not None:
        note = f'continued after a delay of {job.resume.seconds} s (the delay at {job.resume.path})'
        return Plan([], rule.actions, check_trigger=False, note=note)
    branch = job.branch
    assert branch is not None
    block = find_step(rule.actions, branch.path)
    if not isinstance(block, BranchBlock):
        return Plan([], [], refused=f'no branch at {branch.path} in the rule; not run')
    trigger = (event.model_extra or {}).get(TRIGGER_ISSUE) or {}
    note = (
        f'branch {branch.path} over {block.over} of {trigger.get("key")}: item {branch.item + 1} of '
        f'{branch.items} (execution {branch.parent_execution})'
    )
    return Plan(block.conditions, block.actions, f'{branch.path}.actions', check_trigger=False, note=note)
