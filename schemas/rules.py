"""The public rule document (see README "Rule format").

Validation errors surface as 422 with the path of each error. Unknown keys are refused so a
typo (``"condtions"``) never silently disables a check.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.conditions import CompareCondition as CompareCondition
from schemas.conditions import Condition as Condition
from schemas.conditions import FieldCondition as FieldCondition
from schemas.conditions import JqlCondition as JqlCondition
from schemas.flow import BranchBlock, DelayAction, check_flow
from schemas.issue_actions import (
    MAX_TEMPLATE_LENGTH,
    AddWatcherAction,
    CreateIssueAction,
    CreateSubtasksAction,
    LinkIssuesAction,
    RefetchAction,
)
from schemas.strict import Strict

# Triggers live in schemas/triggers.py; re-exported because rules are read as one document.
from schemas.triggers import FieldValueChanged as FieldValueChanged
from schemas.triggers import IssueAssigned as IssueAssigned
from schemas.triggers import IssueCommented as IssueCommented
from schemas.triggers import IssueCreated as IssueCreated
from schemas.triggers import IssueDeleted as IssueDeleted
from schemas.triggers import IssueLinked as IssueLinked
from schemas.triggers import IssueTransitioned as IssueTransitioned
from schemas.triggers import IssueUpdated as IssueUpdated
from schemas.triggers import Manual as Manual
from schemas.triggers import Scheduled as Scheduled
from schemas.triggers import Trigger as Trigger
from schemas.triggers import WorklogAdded as WorklogAdded

# An ``if`` inside an ``if`` inside an ``if``, no deeper: deeper logic reads better as two rules.
MAX_IF_DEPTH = 3


def unstorable_text(value: Any, path: str = '') -> str | None:
    """The path of the first string Postgres cannot store (NUL, lone surrogates), or None."""
    if isinstance(value, str):
        if '\x00' in value or any('\ud800' <= ch <= '\udfff' for ch in value):
            return path or '/'
        return None
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = unstorable_text(key, path) if isinstance(key, str) else None
        found = found or unstorable_text(item, f'{path}/{key}' if path else str(key))
        if found:
            return found
    return None


class Owner(Strict):
    account_id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320, pattern=r'^[^@\s]+@[^@\s]+$')


# Actions ----------------------------------------------------------------------------------


class CommentAction(Strict):
    type: Literal['comment']
    body: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class ListChange(Strict):
    add: list[Any] = Field(default_factory=list)
    remove: list[Any] = Field(default_factory=list)


class EditAction(Strict):
    type: Literal['edit']
    fields: dict[str, Any] = Field(min_length=1, max_length=50)

    @field_validator('fields')
    @classmethod
    def _list_changes(cls, value: dict[str, Any]) -> dict[str, Any]:
        for name, change in value.items():
            if isinstance(change, dict) and set(change) & {'add', 'remove'}:
                if set(change) - {'add', 'remove'}:
                    raise ValueError(f'{name}: a list change has only "add" and "remove"')
                ListChange.model_validate(change)
        return value


class TransitionAction(Strict):
    type: Literal['transition']
    to: str = Field(min_length=1, max_length=255)


class AssignAction(Strict):
    type: Literal['assign']
    account_id: str | None = Field(max_length=128)


class LogAction(Strict):
    type: Literal['log']
    message: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class WebRequestAction(Strict):
    """An outbound HTTP call (worker/web_request.py); URL, header values and body are templates."""

    type: Literal['web_request']
    url: str = Field(min_length=1, max_length=2000)
    method: Literal['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] = 'POST'
    headers: dict[str, str] = Field(default_factory=dict, max_length=20)
    body: str | None = Field(default=None, max_length=MAX_TEMPLATE_LENGTH)
    timeout_seconds: float = Field(10.0, gt=0, le=30)

    @field_validator('headers')
    @classmethod
    def _plain_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not re.fullmatch(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}", name):
                raise ValueError(f'{name!r} is not a header name')
            if name.lower() in ('host', 'content-length', 'transfer-encoding', 'connection'):
                raise ValueError(f'the {name} header is set by rulequeue')
        return value


Action = Annotated[
    CommentAction
    | EditAction
    | TransitionAction
    | AssignAction
    | LogAction
    | WebRequestAction
    | CreateIssueAction
    | CreateSubtasksAction
    | LinkIssuesAction
    | AddWatcherAction
    | RefetchAction,
    Field(discriminator='type'),
]


class IfBlock(Strict):
    """``{"type": "if", "conditions": [...], "then": [...], "else": [...]}`` in an action list: runs
    ``then`` when every condition holds, else ``else`` (worker/action_list.py)."""

    model_config = ConfigDict(populate_by_name=True)

    type: Literal['if']
    conditions: list[Condition] = Field(min_length=1)
    then: list[Step] = Field(default_factory=list)
    else_: list[Step] = Field(default_factory=list, alias='else')

    def model_post_init(self, __context: Any) -> None:
        if not self.then and not self.else_:
            raise ValueError('an "if" needs a "then" or an "else" action')


# An action, an ``if`` block of actions, a branch over related issues or a delay (schemas/flow.py).
Step = Annotated[Action | IfBlock | BranchBlock | DelayAction, Field(discriminator='type')]
IfBlock.model_rebuild()
BranchBlock.model_rebuild(_types_namespace={'Condition': Condition, 'Step': Step})


def count_components(steps: list[Step]) -> int:
    """Components in an action list: each action, each ``if`` with its conditions and branches,
    each ``branch`` with its conditions and actions."""
    return sum(
        1 + len(s.conditions) + count_components(s.then) + count_components(s.else_)
        if isinstance(s, IfBlock)
        else 1 + len(s.conditions) + count_components(s.actions)
        if isinstance(s, BranchBlock)
        else 1
        for s in steps
    )


def if_depth(steps: list[Step]) -> int:
    """How deeply ``if`` blocks nest in an action list (0: none)."""
    return max(
        (
            1 + max(if_depth(s.then), if_depth(s.else_)) if isinstance(s, IfBlock) else if_depth(s.actions)
            for s in steps
            if isinstance(s, IfBlock | BranchBlock)
        ),
        default=0,
    )


# The rule ---------------------------------------------------------------------------------


class Rule(Strict):
    """A rule as stored and as sent over the API (without the server-assigned fields)."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool = True
    projects: list[str] = Field(default_factory=list, max_length=100)
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Step] = Field(min_length=1)
    allow_rule_trigger: bool = False
    owner: Owner | None = None

    @model_validator(mode='before')
    @classmethod
    def _storable(cls, data: Any) -> Any:
        bad = unstorable_text(data)
        if bad is not None:
            raise ValueError(f'{bad}: text may not contain NUL characters or unpaired surrogates')
        return data

    def model_post_init(self, __context: Any) -> None:
        components = 1 + len(self.conditions) + count_components(self.actions)
        if if_depth(self.actions) > MAX_IF_DEPTH:
            raise ValueError(f'"if" blocks nest at most {MAX_IF_DEPTH} deep')
        check_flow(self.actions, __context)
        # The limit is the deployment's (MAX_RULE_COMPONENTS), passed by the API as validation
        # context; a stored rule loads without one, as it was checked when it was saved.
        limit = __context.get('max_components') if isinstance(__context, dict) else None
        if limit is not None and components > limit:
            raise ValueError(f'a rule has at most {limit} components, this one has {components}')


class StoredRule(BaseModel):
    """A rule as the worker and the API see it: the document plus server-assigned fields."""

    model_config = ConfigDict(frozen=True)

    id: str
    version: int
    rule: Rule


class RuleResponse(Rule):
    """A rule as the API returns it: the document plus its server-assigned id and version."""

    id: str
    version: int
