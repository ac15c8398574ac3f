"""Flow components of a rule's action list: ``branch`` (run actions on related issues) and ``delay``.

``{"type": "branch", "over": "subtasks", "conditions": [...], "actions": [...]}`` runs its
conditions and actions once per related issue, each as an execution of its own, one after
another (worker/branches.py). ``{"type": "delay", "seconds": 60}`` continues the rest of the
rule later in a deferred job (worker/delays.py).

The models sit apart from schemas/rules.py to keep that module small; their ``conditions`` and
``actions`` refer to its ``Condition`` and ``Step``, resolved there by ``model_rebuild``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, field_validator

from schemas.strict import Strict
from schemas.triggers import parsed_jql

if TYPE_CHECKING:
    from schemas.rules import Condition, Step

# The schema's own bound on a delay; a deployment allows at most MAX_DELAY_SECONDS (a setting,
# 15 minutes by default as Automation for Jira Cloud's Delay action). Both stay well under the
# snapshot TTL (7 h), which a delay extends.
DELAY_LIMIT_SECONDS = 3600
BranchOver = Literal['subtasks', 'parent', 'linked', 'jql']


class DelayAction(Strict):
    """Wait ``seconds``, then run the rest of the rule with the same data."""

    type: Literal['delay']
    seconds: int = Field(ge=1, le=DELAY_LIMIT_SECONDS)


class BranchBlock(Strict):
    """Run ``conditions`` and ``actions`` for each related issue, ``{{issue}}`` bound to it.

    ``over``: ``subtasks`` (Jira's order), ``parent``, ``linked`` (Jira's order of the links,
    only those of ``link_type`` if given: a link type name such as "Blocks", or how the link
    reads from the rule's issue: "blocks", "is blocked by"), or ``jql`` (Jira's order of the
    search; the query is a template, so ``parent = {{issue.key}}`` works).
    """

    type: Literal['branch']
    over: BranchOver
    jql: str | None = Field(default=None, min_length=1, max_length=10_000)
    link_type: str | None = Field(default=None, min_length=1, max_length=255)
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Step] = Field(min_length=1)

    @field_validator('jql')
    @classmethod
    def _valid_jql(cls, value: str | None) -> str | None:
        # A query with smart values is checked once rendered, at run time.
        return value if value is None or '{{' in value else parsed_jql(value)

    def model_post_init(self, __context: Any) -> None:
        if (self.over == 'jql') != (self.jql is not None):
            raise ValueError('"jql" is given exactly when a branch is "over": "jql"')
        if self.link_type is not None and self.over != 'linked':
            raise ValueError('"link_type" is for a branch "over": "linked"')


def check_flow(steps: Sequence[Any], context: Any, *, in_branch: bool = False) -> None:
    """Refuse a branch or a delay inside a branch, and a delay above the deployment's bound.

    ``context`` is the validation context (the API passes ``max_delay_seconds``); a stored rule
    loads without one.
    """
    limit = context.get('max_delay_seconds') if isinstance(context, Mapping) else None
    for step in steps:
        if isinstance(step, BranchBlock | DelayAction) and in_branch:
            raise ValueError(f'a "{step.type}" cannot sit inside a branch: each branch item runs as one execution')
        if isinstance(step, DelayAction) and limit is not None and step.seconds > limit:
            raise ValueError(f'a delay is at most {limit} seconds on this deployment')
        if isinstance(step, BranchBlock):
            check_flow(step.actions, context, in_branch=True)
        for nested in ('then', 'else_'):
            check_flow(getattr(step, nested, None) or [], context, in_branch=in_branch)
