"""A rule's action list, ``if`` blocks included, run effectively once.

Each action has its own progress field, named by its place: ``"3"`` at the top level (as
before ``if`` existed, so executions in flight across an upgrade keep their progress), and
``"3.then.0"`` inside a branch. An action's idempotency key (the comment property, for one)
is made from the same place, so two actions never share one.

The branch an ``if`` took is recorded in progress before the branch runs, and a retry follows
the record instead of evaluating the conditions again: they are not deterministic across
attempts (``{{now}}``, a Jira search, group membership, an issue re-read by ``refetch``), and a
retry that switched branches would run actions of both.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from rulequeue.errors import PermanentJiraError, TemplateError
from schemas.audit import ActionResult, ActionStatus
from schemas.flow import BranchBlock, DelayAction
from schemas.rules import Condition, IfBlock, Step, StoredRule
from worker import branches, delays
from worker.actions import Target, run_action, succeeded
from worker.flow import Flow, Suspended
from worker.issue_actions import remember_created
from worker.matching import ConditionOutcome
from worker.state import progress_field

SaveProgress = Callable[[str, ActionResult], Awaitable[None]]
# Evaluates conditions in order, stopping at the first that fails (worker.jql_checks.evaluate_all).
Evaluate = Callable[[Sequence[Condition]], Awaitable[list[ConditionOutcome]]]
THEN, ELSE, NEITHER = 'then', 'else', 'none'
# Actions that change nothing in Jira: run again on a retry rather than recorded.
UNRECORDED = frozenset({'log', 'refetch'})


@dataclass
class ActionList:
    """Runs a rule's steps in order; ``results`` gets each executed action and ``if``, in order."""

    stored: StoredRule
    target: Target
    context: Mapping[str, Any]
    progress: Mapping[str, ActionResult]
    save_progress: SaveProgress
    evaluate: Evaluate
    results: list[ActionResult] = field(default_factory=list)
    # Actions of the branches taken: they count toward what a SUCCESS needs besides the top level.
    branch_actions: int = 0
    # Admits branch items and continuations (worker/flow.py); None in a dry run, where they do not run.
    flow: Flow | None = None

    async def run(self, steps: Sequence[Step], path: str = '') -> None:
        """Run ``steps``; ``path`` is where they sit ('' for the rule's own list, '2.then' in a branch)."""
        for index, step in enumerate(steps):
            where = f'{path}.{index}' if path else str(index)
            top = int(where.split('.', 1)[0])
            if isinstance(step, IfBlock):
                await self._if(step, where, top)
                continue
            if isinstance(step, BranchBlock | DelayAction):
                await self._flow_step(step, where, top)
                continue
            key = progress_field(self.stored.id, self.stored.version, where)
            done = self.progress.get(key)
            if done is None:
                # A branch's actions get an actor naming their branch, so their keys are unique.
                target = replace(self.target, actor=f'{self.target.actor}\0{path}') if path else self.target
                done = await run_action(target, index, step, self.context)
                if path:
                    done = done.model_copy(update={'index': top, 'path': where})
                if succeeded(done) and step.type not in UNRECORDED:
                    # Recorded right after Jira accepted the change, so a retry does not repeat it.
                    await self.save_progress(key, done)
            else:
                # Issues an earlier attempt created stay {{createdIssue}} for the actions after them.
                remember_created(self.context, done.changes.get('created') or [])
            self.results.append(done)

    async def _if(self, block: IfBlock, where: str, top: int) -> None:
        key = progress_field(self.stored.id, self.stored.version, where)
        chosen = self.progress.get(key)
        if chosen is None:
            chosen = await self._choose(block, where, top)
            if chosen.status is ActionStatus.FAILED:
                self.results.append(chosen)
                return
            await self.save_progress(key, chosen)
        self.results.append(chosen)
        branch = chosen.changes.get('branch')
        steps = block.then if branch == THEN else block.else_ if branch == ELSE else []
        self.branch_actions += len(steps)
        await self.run(steps, f'{where}.{branch}')

    async def _flow_step(self, step: BranchBlock | DelayAction, where: str, top: int) -> None:
        """A branch admits its items; a delay admits the continuation and stops the rule (Suspended).

        A delay recorded as ``continued`` is the one this execution continues after: passed.
        """
        key = progress_field(self.stored.id, self.stored.version, where)
        done = self.progress.get(key)
        if done is None or (isinstance(step, DelayAction) and not done.changes.get('continued')):
            if self.flow is None:
                message = f'a {step.type} does not run in a dry run'
                path = where if '.' in where else None
                done = ActionResult(index=top, type=step.type, path=path, status=ActionStatus.SUCCESS, message=message)
            elif isinstance(step, DelayAction):
                done = await delays.schedule(self.flow, self.stored, step, where, top)
                if succeeded(done):
                    await self.save_progress(key, done)
                    self.results.append(done)
                    raise Suspended(done)
            else:
                done = await branches.start(self.flow, self.stored, step, where, top, self.context)
                if succeeded(done):
                    await self.save_progress(key, done)
        self.results.append(done)

    async def _choose(self, block: IfBlock, where: str, top: int) -> ActionResult:
        """The ``if``'s result: the branch taken, and the condition that sent it to ``else``."""
        path = where if '.' in where else None
        try:
            outcomes = await self.evaluate(block.conditions)
        except (TemplateError, PermanentJiraError) as exc:
            message = f'condition template error: {exc.report()}' if isinstance(exc, TemplateError) else str(exc)
            return ActionResult(index=top, type='if', path=path, status=ActionStatus.FAILED, message=message)
        held = not outcomes or outcomes[-1].passed
        branch = THEN if held else ELSE if block.else_ else NEITHER
        return ActionResult(
            index=top,
            type='if',
            path=path,
            status=ActionStatus.SUCCESS,
            changes={'branch': branch},
            message=None if held else outcomes[-1].description,
        )
