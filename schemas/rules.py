"""The public rule document (see README "Rule format").

Validation errors surface as 422 with the path of each error. Unknown keys are refused so a
typo (``"condtions"``) never silently disables a check.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

import regex
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

MAX_TEMPLATE_LENGTH = 10_000
MAX_COMPONENTS = 65
MAX_PATTERN_LENGTH = 1000


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra='forbid', frozen=True)


class Owner(_Strict):
    account_id: str = Field(min_length=1, max_length=128)
    name: str | None = Field(default=None, max_length=255)
    email: str | None = Field(default=None, max_length=320, pattern=r'^[^@\s]+@[^@\s]+$')


# Triggers ---------------------------------------------------------------------------------


class IssueCreated(_Strict):
    type: Literal['issue_created']


class IssueUpdated(_Strict):
    type: Literal['issue_updated']


class FieldValueChanged(_Strict):
    type: Literal['field_value_changed']
    fields: list[str] = Field(min_length=1, max_length=50)


class IssueTransitioned(_Strict):
    type: Literal['issue_transitioned']
    from_: str | None = Field(default=None, alias='from')
    to: str | None = None


class IssueCommented(_Strict):
    type: Literal['issue_commented']


class IssueAssigned(_Strict):
    type: Literal['issue_assigned']


class IssueDeleted(_Strict):
    type: Literal['issue_deleted']


Trigger = Annotated[
    IssueCreated | IssueUpdated | FieldValueChanged | IssueTransitioned | IssueCommented | IssueAssigned | IssueDeleted,
    Field(discriminator='type'),
]

# Conditions -------------------------------------------------------------------------------

Op = Literal['equals', 'not_equals', 'in', 'not_in', 'contains', 'is_empty', 'is_not_empty', 'matches']
VALUELESS_OPS = frozenset({'is_empty', 'is_not_empty'})
LIST_OPS = frozenset({'in', 'not_in'})


# A template placeholder inside a compare pattern; the rendered value is escaped at run time.
_PLACEHOLDER = regex.compile(r'\{\{.*?\}\}', flags=regex.DOTALL)


def _check_value(op: str, value: Any, *, templated: bool = False) -> None:
    if op in VALUELESS_OPS:
        return
    if value is None:
        raise ValueError(f'op {op!r} needs a value')
    if op in LIST_OPS and not isinstance(value, list):
        raise ValueError(f'op {op!r} needs a list value')
    if op == 'matches':
        if not isinstance(value, str) or len(value) > MAX_PATTERN_LENGTH:
            raise ValueError(f'op "matches" needs a regular expression of at most {MAX_PATTERN_LENGTH} characters')
        try:
            # {{...}} would read as regex's fuzzy-matching syntax; compile with a literal instead.
            regex.compile(_PLACEHOLDER.sub('x', value) if templated else value)
        except regex.error as exc:
            raise ValueError(f'invalid regular expression: {exc}') from None


class FieldCondition(_Strict):
    type: Literal['field']
    field: str = Field(min_length=1, max_length=255)
    op: Op
    value: str | int | float | bool | list[str | int | float] | None = None

    def model_post_init(self, __context: Any) -> None:
        _check_value(self.op, self.value)


class CompareCondition(_Strict):
    type: Literal['compare']
    left: str = Field(max_length=MAX_TEMPLATE_LENGTH)
    op: Op
    right: str | list[str] | None = None

    def model_post_init(self, __context: Any) -> None:
        _check_value(self.op, self.right, templated=True)


Condition = Annotated[FieldCondition | CompareCondition, Field(discriminator='type')]

# Actions ----------------------------------------------------------------------------------


class CommentAction(_Strict):
    type: Literal['comment']
    body: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class ListChange(_Strict):
    add: list[Any] = Field(default_factory=list)
    remove: list[Any] = Field(default_factory=list)


class EditAction(_Strict):
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


class TransitionAction(_Strict):
    type: Literal['transition']
    to: str = Field(min_length=1, max_length=255)


class AssignAction(_Strict):
    type: Literal['assign']
    account_id: str | None = Field(max_length=128)


class LogAction(_Strict):
    type: Literal['log']
    message: str = Field(min_length=1, max_length=MAX_TEMPLATE_LENGTH)


class WebRequestAction(_Strict):
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
    CommentAction | EditAction | TransitionAction | AssignAction | LogAction | WebRequestAction,
    Field(discriminator='type'),
]

# The rule ---------------------------------------------------------------------------------


class Rule(_Strict):
    """A rule as stored and as sent over the API (without the server-assigned fields)."""

    name: str = Field(min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=2000)
    enabled: bool = True
    projects: list[str] = Field(default_factory=list, max_length=100)
    trigger: Trigger
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1)
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
        components = 1 + len(self.conditions) + len(self.actions)
        if components > MAX_COMPONENTS:
            raise ValueError(f'a rule has at most {MAX_COMPONENTS} components, this one has {components}')


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
