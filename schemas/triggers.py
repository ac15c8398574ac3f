"""Rule triggers: which events start a rule, optionally narrowed by a JQL filter."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from rulequeue import schedule
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


class IssueLinked(_Filtered):
    """A link from this issue to another was created (Jira's ``issuelink_created``; the rule runs
    on the link's source issue, ``{{destinationIssue}}`` is the other one).

    ``link_type`` narrows it to one link type, compared case-insensitively with the type's name
    (``Blocks``) and its outward and inward descriptions (``blocks``, ``is blocked by``).
    """

    type: Literal['issue_linked']
    link_type: str | None = Field(default=None, min_length=1, max_length=255)


class WorklogAdded(_Filtered):
    """Work was logged on the issue (Jira's ``worklog_created``; ``{{worklog}}`` is the entry)."""

    type: Literal['worklog_added']


class Manual(_Filtered):
    """Run by a person on one issue through ``POST /api/rules/{id}/run`` (producer/manual_api.py)."""

    type: Literal['manual']


class Scheduled(Strict):
    """Run on a cron schedule for each issue its JQL finds (worker/scheduled.py, rulequeue/schedule.py).

    ``jql`` is the search, not a filter: it is required, and not checked again per issue.
    """

    type: Literal['scheduled']
    cron: str = Field(min_length=1, max_length=schedule.MAX_CRON_CHARS)
    timezone: str = Field(default=schedule.DEFAULT_TIMEZONE, max_length=64)
    jql: str = Field(min_length=1)

    @field_validator('cron')
    @classmethod
    def _valid_cron(cls, value: str) -> str:
        return schedule.check_cron(value)

    @field_validator('timezone')
    @classmethod
    def _valid_timezone(cls, value: str) -> str:
        return schedule.check_timezone(value)

    @field_validator('jql')
    @classmethod
    def _valid_jql(cls, value: str) -> str:
        return parsed_jql(value)


Trigger = Annotated[
    IssueCreated
    | IssueUpdated
    | FieldValueChanged
    | IssueTransitioned
    | IssueCommented
    | IssueAssigned
    | IssueDeleted
    | IssueLinked
    | WorklogAdded
    | Manual
    | Scheduled,
    Field(discriminator='type'),
]
