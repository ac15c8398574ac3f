"""Rule triggers: which events start a rule, optionally narrowed by a JQL filter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from rulequeue.errors import JqlError
from rulequeue.jql import parse
from schemas.strict import Strict


def parsed_jql(value: str) -> str:
    """The query unchanged if it parses; a ValueError naming the fault's position otherwise."""
    try:
        parse(value)
    except JqlError as exc:
        raise ValueError(f'invalid JQL: {exc}') from None
    return value


class _Filtered(Strict):
    """A trigger, optionally narrowed by a JQL filter: an event whose issue does not match it
    does not run the rule, as if the trigger had not fired (worker/jql_checks.py)."""

    jql: str | None = Field(default=None, min_length=1)

    @field_validator('jql')
    @classmethod
    def _valid_jql(cls, value: str | None) -> str | None:
        return None if value is None else parsed_jql(value)


class IssueCreated(_Filtered):
    type: Literal['issue_created']


class IssueUpdated(_Filtered):
    type: Literal['issue_updated']


class FieldValueChanged(_Filtered):
    type: Literal['field_value_changed']
    fields: list[str] = Field(min_length=1, max_length=50)


class IssueTransitioned(_Filtered):
    type: Literal['issue_transitioned']
    from_: str | None = Field(default=None, alias='from')
    to: str | None = None


class IssueCommented(_Filtered):
    type: Literal['issue_commented']


class IssueAssigned(_Filtered):
    type: Literal['issue_assigned']


class IssueDeleted(_Filtered):
    type: Literal['issue_deleted']


Trigger = Annotated[
    IssueCreated | IssueUpdated | FieldValueChanged | IssueTransitioned | IssueCommented | IssueAssigned | IssueDeleted,
    Field(discriminator='type'),
]
